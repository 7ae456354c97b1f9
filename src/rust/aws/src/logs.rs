//! CloudWatch Logs: find a job's streams and read them from the head.
//!
//! Timestamps are converted from the service's epoch milliseconds to epoch
//! seconds, like every other timestamp handed to R.

use aws_sdk_cloudwatchlogs::types::OrderBy;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::AwsError;
use crate::json::{millis_to_secs, params, Obj};
use crate::session::AwsSession;

const SVC: &str = "logs";
/// Guard against a service that keeps handing out new tokens for empty pages.
const MAX_EVENT_PAGES: usize = 10_000;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct StreamsArgs {
    log_group_name: String,
    log_stream_name_prefix: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct EventsArgs {
    log_group_name: String,
    log_stream_name: String,
    next_token: Option<String>,
    start_from_head: Option<bool>,
}

/// `logs:DescribeLogStreams`: all pages, each page counted against the
/// 5 requests/second limit. A missing log group (a job that has not logged
/// yet) is an empty list.
pub(crate) async fn describe_log_streams(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "DescribeLogStreams";
    let a: StreamsArgs = params(SVC, OP, p)?;
    let mut streams = Vec::new();
    let mut token: Option<String> = None;
    loop {
        s.describe_log_streams_limit.acquire().await;
        let mut req = s
            .logs
            .describe_log_streams()
            .log_group_name(&a.log_group_name)
            .set_next_token(token.take());
        // The API forbids a prefix together with orderBy=LastEventTime; name order is the default.
        if let Some(prefix) = a
            .log_stream_name_prefix
            .as_deref()
            .filter(|p| !p.is_empty())
        {
            req = req
                .log_stream_name_prefix(prefix)
                .order_by(OrderBy::LogStreamName);
        }
        let page = match req.send().await {
            Ok(page) => page,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_not_found_exception()) =>
            {
                break
            }
            Err(e) => return Err(AwsError::from_sdk(SVC, OP, &e)),
        };
        streams.extend(page.log_streams().iter().map(|ls| {
            Obj::new()
                .opt("LogStreamName", ls.log_stream_name())
                .opt(
                    "LastEventTimestamp",
                    ls.last_event_timestamp().map(millis_to_secs),
                )
                .build()
        }));
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => break,
        }
    }
    Ok(json!({"LogStreams": streams}))
}

/// `logs:GetLogEvents`: forward from NextToken (or the head) until the
/// forward token stops changing, which is how the service signals the end.
/// Each page counts against the 25 requests/second limit.
pub(crate) async fn get_log_events(s: &AwsSession, p: Value) -> Result<Value, AwsError> {
    const OP: &str = "GetLogEvents";
    let a: EventsArgs = params(SVC, OP, p)?;
    let mut events = Vec::new();
    let mut token = a.next_token.filter(|t| !t.is_empty());
    for _ in 0..MAX_EVENT_PAGES {
        s.get_log_events_limit.acquire().await;
        let page = s
            .logs
            .get_log_events()
            .log_group_name(&a.log_group_name)
            .log_stream_name(&a.log_stream_name)
            .start_from_head(a.start_from_head.unwrap_or(true))
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SVC, OP, &e))?;
        events.extend(page.events().iter().map(|ev| {
            Obj::new()
                .opt("Timestamp", ev.timestamp().map(millis_to_secs))
                .opt("Message", ev.message())
                .build()
        }));
        let next = page.next_forward_token().map(str::to_owned);
        let done = next.is_none() || next == token;
        if next.is_some() {
            token = next;
        }
        if done {
            break;
        }
    }
    Ok(Obj::new()
        .set("Events", events)
        .opt("NextForwardToken", token)
        .build())
}
