//! The extendr glue: the only Rust that knows about R. Each function converts
//! arguments, calls `sagesim_core` or `sagesim_aws`, and converts back.
//! Failures are returned as values of class `sagesim_rust_error` and raised as
//! classed conditions by R (R/rust.R), never as Rust-side R errors, so that
//! R code decides how each one reads.

mod convert;
mod task;

use std::path::Path;
use std::time::Duration;

use extendr_api::prelude::*;
use sagesim_core::{result_file, PairCounts, Room, RunSpec};

use convert::{expect_whole, outcome_to_robj, rust_error, shard_to_robj, sim_error};
use task::{Outcome, Task};

/// A loaded AWS session (credentials, region, clients), shared with tasks.
pub struct SessionHandle(std::sync::Arc<sagesim_aws::AwsSession>);

/// Starts `iterations` iterations from `first_iteration` on a background
/// thread; R polls the returned task. Arguments arrive validated by R, and
/// are checked again here so no input can panic.
#[extendr]
#[allow(clippy::too_many_arguments)]
fn sim_start(
    x_length: f64,
    y_length: f64,
    num_people: f64,
    distance: f64,
    seed: f64,
    first_iteration: f64,
    iterations: f64,
    threads: f64,
    keep_values: bool,
) -> Robj {
    let spec = (|| {
        Ok::<_, Robj>(RunSpec {
            room: Room {
                x_length,
                y_length,
                num_people: expect_whole("num_people", num_people)?,
                distance,
            },
            seed: expect_whole("seed", seed)?,
            first_iteration: expect_whole("first_iteration", first_iteration)?,
            iterations: expect_whole("iterations", iterations)?,
            threads: expect_whole("threads", threads)? as usize,
            keep_values,
        })
    })();
    let spec = match spec {
        Ok(spec) => spec,
        Err(error) => return error,
    };
    let num_people = spec.room.num_people;
    match Task::on_thread(move |control| Outcome::Simulation {
        result: sagesim_core::run(&spec, control),
        num_people,
    }) {
        Ok(task) => ExternalPtr::new(task).into(),
        Err(e) => rust_error(
            "system",
            &format!("could not start a worker thread: {e}"),
            None,
        ),
    }
}

/// TRUE once the task has finished; waits at most `timeout_ms`.
#[extendr]
fn task_wait(task: ExternalPtr<Task>, timeout_ms: f64) -> bool {
    let timeout = Duration::from_secs_f64((timeout_ms.max(0.0) / 1000.0).min(60.0));
    task.wait(timeout)
}

/// Iterations finished so far (simulation tasks).
#[extendr]
fn task_progress(task: ExternalPtr<Task>) -> f64 {
    task.completed() as f64
}

#[extendr]
fn task_cancel(task: ExternalPtr<Task>) {
    task.cancel();
}

/// The finished task's value, or a `sagesim_rust_error`.
#[extendr]
fn task_result(mut task: ExternalPtr<Task>) -> Robj {
    if task.was_taken() {
        return rust_error("internal", "this task's result was already collected", None);
    }
    match task.take() {
        Some(outcome) => outcome_to_robj(outcome),
        None => rust_error("internal", "the task has not finished yet", None),
    }
}

/// Merges exact pair-count sums (decimal strings, as u128 does not fit in a
/// double) and summarises them: how shards combine without losing exactness.
#[extendr]
fn sim_combine_counts(
    num_people: f64,
    iterations: &[f64],
    sum_pairs: Vec<String>,
    sum_pairs_squared: Vec<String>,
) -> Robj {
    let combine = || -> std::result::Result<Robj, Robj> {
        let num_people = expect_whole("num_people", num_people)?;
        let mut total = PairCounts {
            iterations: 0,
            sum_pairs: 0,
            sum_pairs_squared: 0,
        };
        for ((&n, s1), s2) in iterations.iter().zip(&sum_pairs).zip(&sum_pairs_squared) {
            let part = PairCounts {
                iterations: expect_whole("iterations", n)?,
                sum_pairs: convert::parse_u128("sum_pairs", s1)?,
                sum_pairs_squared: convert::parse_u128("sum_pairs_squared", s2)?,
            };
            total = total.merge(part).map_err(|e| sim_error(&e))?;
        }
        Ok(convert::counts_to_robj(&total, num_people))
    };
    combine().unwrap_or_else(|error| error)
}

/// (num_people - 1) * P(two uniform points in the room are closer than distance).
#[extendr]
fn sim_expected_violations(x_length: f64, y_length: f64, num_people: f64, distance: f64) -> Robj {
    let room = match expect_whole("num_people", num_people) {
        Ok(num_people) => Room {
            x_length,
            y_length,
            num_people,
            distance,
        },
        Err(error) => return error,
    };
    match room.validate() {
        Ok(()) => sagesim_core::expected_violations(&room).into(),
        Err(e) => sim_error(&e),
    }
}

/// The contiguous share of iterations host `index` (0-based) of `parts` runs:
/// `c(first = , count = )`, balanced, tiling 1..=max_iterations exactly.
#[extendr]
fn sim_split_iterations(max_iterations: f64, parts: f64, index: f64) -> Robj {
    let split = || -> std::result::Result<Robj, Robj> {
        let (max, parts, index) = (
            expect_whole("max_iterations", max_iterations)?,
            expect_whole("parts", parts)?,
            expect_whole("index", index)?,
        );
        if parts == 0 || index >= parts {
            return Err(convert::rust_error(
                "invalid_argument",
                "host index out of range",
                Some("index"),
            ));
        }
        let (first, count) = sagesim_core::split_iterations(max, parts, index);
        let mut value: Robj = [first as f64, count as f64].into();
        value
            .set_names(["first", "count"])
            .map_err(|e| convert::rust_error("internal", &e.to_string(), None))?;
        Ok(value)
    };
    split().unwrap_or_else(|error| error)
}

#[extendr]
fn sim_available_cores() -> i32 {
    sagesim_core::available_cores().min(i32::MAX as usize) as i32
}

/// Writes one host's shard atomically. `meta_json` carries every field of
/// `ShardResult` except `values`, which come as a double vector (or NULL).
#[extendr]
fn shard_write(path: &str, meta_json: &str, values: Robj) -> Robj {
    let mut shard: result_file::ShardResult = match serde_json::from_str(meta_json) {
        Ok(shard) => shard,
        Err(e) => return rust_error("internal", &format!("bad shard metadata: {e}"), None),
    };
    shard.values = if values.is_null() {
        None
    } else {
        match values.as_real_slice() {
            Some(v) => Some(v.to_vec()),
            None => return rust_error("internal", "shard values must be doubles", None),
        }
    };
    match result_file::write_atomic(Path::new(path), &shard) {
        Ok(()) => path.into(),
        Err(e) => sim_error(&e),
    }
}

/// Reads shard files and merges them into one result covering every iteration.
#[extendr]
fn shard_read_merged(paths: Vec<String>) -> Robj {
    let mut shards = Vec::with_capacity(paths.len());
    for path in &paths {
        match result_file::read(Path::new(path)) {
            Ok(shard) => shards.push(shard),
            Err(e) => return sim_error(&e),
        }
    }
    match result_file::merge(shards) {
        Ok(merged) => shard_to_robj(&merged),
        Err(e) => sim_error(&e),
    }
}

/// Loads credentials and region in the background (the chain may query
/// instance metadata); the task resolves to a session handle.
#[extendr]
fn aws_session_start(config_json: &str) -> Robj {
    let config: sagesim_aws::SessionConfig = match serde_json::from_str(config_json) {
        Ok(config) => config,
        Err(e) => return rust_error("internal", &format!("bad session config: {e}"), None),
    };
    let task =
        Task::on_runtime(
            async move { Outcome::Session(sagesim_aws::AwsSession::load(config).await) },
        );
    ExternalPtr::new(task).into()
}

/// Region and endpoint of a loaded session (never credentials).
#[extendr]
fn aws_session_info(session: ExternalPtr<SessionHandle>) -> Robj {
    let endpoint: Robj = match session.0.endpoint_url() {
        Some(url) => url.into(),
        None => ().into(),
    };
    List::from_names_and_values(
        ["region", "endpoint_url"],
        [session.0.region().into(), endpoint],
    )
    .map(Robj::from)
    .unwrap_or_else(|e| rust_error("internal", &e.to_string(), None))
}

/// Starts one AWS operation (`service:Operation`, AWS-shaped JSON params).
#[extendr]
fn aws_call_start(session: ExternalPtr<SessionHandle>, operation: &str, params_json: &str) -> Robj {
    let params: serde_json::Value = match serde_json::from_str(params_json) {
        Ok(params) => params,
        Err(e) => return rust_error("internal", &format!("bad request JSON: {e}"), None),
    };
    let (session, operation) = (std::sync::Arc::clone(&session.0), operation.to_string());
    let task =
        Task::on_runtime(async move { Outcome::Aws(session.call(&operation, params).await) });
    ExternalPtr::new(task).into()
}

extendr_module! {
    mod sagesim;
    fn sim_start;
    fn task_wait;
    fn task_progress;
    fn task_cancel;
    fn task_result;
    fn sim_combine_counts;
    fn sim_expected_violations;
    fn sim_split_iterations;
    fn sim_available_cores;
    fn shard_write;
    fn shard_read_merged;
    fn aws_session_start;
    fn aws_session_info;
    fn aws_call_start;
}
