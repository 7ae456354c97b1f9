//! CloudWatch Logs against moto: stream discovery, paging, tailing, and the
//! DescribeLogStreams and GetLogEvents rate limits.

mod common;

use std::time::Instant;

use common::{call, ok};
use serde_json::{json, Value};

const GROUP: &str = "/aws/sagemaker/ProcessingJobs";

#[test]
fn missing_group_is_an_empty_list() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let r = ok(
        &s,
        "logs:DescribeLogStreams",
        json!({"LogGroupName": GROUP, "LogStreamNamePrefix": "job/"}),
    );
    assert_eq!(r, json!({"LogStreams": []}));
    // GetLogEvents on a missing stream is a real error.
    let e = call(
        &s,
        "logs:GetLogEvents",
        json!({"LogGroupName": GROUP, "LogStreamName": "job/x"}),
    )
    .unwrap_err();
    assert_eq!(e.kind, "service");
    assert_eq!(e.code.as_deref(), Some("ResourceNotFoundException"));
}

#[test]
fn describe_log_streams_follows_pages_and_filters_by_prefix() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    // moto pages DescribeLogStreams at 50.
    for i in 0..120 {
        let msgs: Vec<String> = if i % 10 == 0 {
            vec![format!("hello from {i}")]
        } else {
            vec![]
        };
        f.moto.control("/log-events", json!({"LogGroupName": GROUP, "LogStreamName": format!("job-a/algo-{i}-1700000000"), "Messages": msgs}));
    }
    f.moto.control("/log-events", json!({"LogGroupName": GROUP, "LogStreamName": "job-b/algo-1-1700000000", "Messages": ["other"]}));

    let r = ok(
        &s,
        "logs:DescribeLogStreams",
        json!({"LogGroupName": GROUP, "LogStreamNamePrefix": "job-a/"}),
    );
    let streams = r["LogStreams"].as_array().unwrap();
    assert_eq!(streams.len(), 120);
    assert!(streams
        .iter()
        .all(|st| st["LogStreamName"].as_str().unwrap().starts_with("job-a/")));
    let with_events: Vec<&Value> = streams
        .iter()
        .filter(|st| st.get("LastEventTimestamp").is_some())
        .collect();
    assert_eq!(with_events.len(), 12);
    let ts = with_events[0]["LastEventTimestamp"].as_f64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - ts).abs() < 600.0, "seconds, not milliseconds: {ts}");

    let all = ok(
        &s,
        "logs:DescribeLogStreams",
        json!({"LogGroupName": GROUP}),
    );
    assert_eq!(all["LogStreams"].as_array().unwrap().len(), 121);
}

#[test]
fn get_log_events_pages_to_the_end_and_resumes_from_the_token() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    let stream = "job/algo-1-1700000000";
    // moto pages GetLogEvents at 10,000 events.
    let first: Vec<String> = (0..23_456).map(|i| format!("line {i}")).collect();
    f.moto.control(
        "/log-events",
        json!({"LogGroupName": GROUP, "LogStreamName": stream, "Messages": first}),
    );

    let r = ok(
        &s,
        "logs:GetLogEvents",
        json!({"LogGroupName": GROUP, "LogStreamName": stream, "StartFromHead": true}),
    );
    let events = r["Events"].as_array().unwrap();
    assert_eq!(events.len(), 23_456);
    assert_eq!(events[0]["Message"], "line 0");
    assert_eq!(events[23_455]["Message"], "line 23455");
    assert!(events[0]["Timestamp"].as_f64().unwrap() > 1.6e9);
    let token = r["NextForwardToken"].as_str().unwrap().to_owned();

    // Nothing new: same token, no events.
    let again = ok(
        &s,
        "logs:GetLogEvents",
        json!({"LogGroupName": GROUP, "LogStreamName": stream, "NextToken": token}),
    );
    assert_eq!(again["Events"], json!([]));
    assert_eq!(again["NextForwardToken"], json!(token));

    // Tail: only what was added since the token.
    f.moto.control(
        "/log-events",
        json!({"LogGroupName": GROUP, "LogStreamName": stream, "Messages": ["late 1", "late 2"]}),
    );
    let tail = ok(
        &s,
        "logs:GetLogEvents",
        json!({"LogGroupName": GROUP, "LogStreamName": stream, "NextToken": token, "StartFromHead": true}),
    );
    let msgs: Vec<&str> = tail["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Message"].as_str().unwrap())
        .collect();
    assert_eq!(msgs, vec!["late 1", "late 2"]);
    assert_ne!(tail["NextForwardToken"], json!(token));

    // An empty stream ends at once.
    f.moto.control(
        "/log-events",
        json!({"LogGroupName": GROUP, "LogStreamName": "job/empty", "Messages": []}),
    );
    let empty = ok(
        &s,
        "logs:GetLogEvents",
        json!({"LogGroupName": GROUP, "LogStreamName": "job/empty"}),
    );
    assert_eq!(empty["Events"], json!([]));
    assert!(empty["NextForwardToken"].is_string());
}

#[test]
fn describe_log_streams_is_limited_to_five_per_second() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    f.moto.control(
        "/log-events",
        json!({"LogGroupName": GROUP, "LogStreamName": "job/algo-1", "Messages": ["x"]}),
    );
    let t0 = Instant::now();
    for _ in 0..9 {
        let r = ok(
            &s,
            "logs:DescribeLogStreams",
            json!({"LogGroupName": GROUP, "LogStreamNamePrefix": "job/"}),
        );
        assert_eq!(r["LogStreams"].as_array().unwrap().len(), 1);
    }
    let took = t0.elapsed();
    assert!(
        took.as_secs_f64() >= 0.8,
        "9 calls took {took:?}: the limiter did not wait"
    );

    // Concurrent callers (threads blocking on the shared runtime) share the limit too.
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| {
                ok(
                    &s,
                    "logs:DescribeLogStreams",
                    json!({"LogGroupName": GROUP}),
                )
            });
        }
    });
    assert!(
        t0.elapsed().as_secs_f64() >= 0.8,
        "6 concurrent calls right after 9 others must wait"
    );
}

#[test]
fn get_log_events_is_limited_to_twenty_five_per_second() {
    let f = moto_or_skip!();
    let s = f.moto.session();
    f.moto.control(
        "/log-events",
        json!({"LogGroupName": GROUP, "LogStreamName": "job/algo-1", "Messages": ["x"]}),
    );
    // 30 hosts' streams read at once: the 26th request must wait until a
    // second after the first, however fast the server answers.
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..30 {
            scope.spawn(|| {
                let r = ok(
                    &s,
                    "logs:GetLogEvents",
                    json!({"LogGroupName": GROUP, "LogStreamName": "job/algo-1"}),
                );
                assert_eq!(r["Events"].as_array().unwrap().len(), 1);
            });
        }
    });
    let took = t0.elapsed();
    assert!(
        took.as_secs_f64() >= 0.95,
        "30 concurrent calls took {took:?}: the limiter did not wait"
    );
}
