//! Conversions between R values and the core/aws types, and the error value
//! R turns into a classed condition (see R/rust.R).

use extendr_api::prelude::*;
use sagesim_aws::AwsError;
use sagesim_core::{result_file::ShardResult, PairCounts, RunOutput, SimError};

use crate::task::Outcome;
use crate::SessionHandle;

/// `list(kind, message, argument, details)` with class `sagesim_rust_error`.
pub fn rust_error(kind: &str, message: &str, argument: Option<&str>) -> Robj {
    error_value(kind, message, argument, None)
}

fn error_value(
    kind: &str,
    message: &str,
    argument: Option<&str>,
    details_json: Option<String>,
) -> Robj {
    let argument: Robj = argument.map(Robj::from).unwrap_or_else(|| ().into());
    let details: Robj = details_json.map(Robj::from).unwrap_or_else(|| ().into());
    let mut value: Robj = List::from_names_and_values(
        ["kind", "message", "argument", "details"],
        [kind.into(), message.into(), argument, details],
    )
    .map(Robj::from)
    .unwrap_or_else(|_| message.into());
    // Setting a class on a fresh list cannot fail; if it ever did, R would
    // still see a list, which R/rust.R treats as a malformed reply.
    let _ = value.set_class(["sagesim_rust_error"]);
    value
}

pub fn sim_error(error: &SimError) -> Robj {
    let (kind, argument) = match error {
        SimError::InvalidArgument { argument, .. } => ("invalid_argument", Some(*argument)),
        SimError::TooLarge { argument, .. } => ("too_large", Some(*argument)),
        SimError::Cancelled => ("cancelled", None),
        SimError::Overflow(_) => ("overflow", None),
        SimError::Io(_) => ("io", None),
        SimError::Format(_) => ("format", None),
    };
    rust_error(kind, &error.to_string(), argument)
}

pub fn aws_error(error: &AwsError) -> Robj {
    let details = serde_json::to_string(error).ok();
    error_value("aws", &error.to_string(), None, details)
}

/// Whole numbers arrive from R as doubles (R integers stop at 2^31).
pub fn expect_whole(argument: &'static str, value: f64) -> std::result::Result<u64, Robj> {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= 9_007_199_254_740_992.0
    {
        Ok(value as u64)
    } else {
        Err(rust_error(
            "invalid_argument",
            &format!("`{argument}` must be a whole number between 0 and 2^53, not {value}"),
            Some(argument),
        ))
    }
}

pub fn parse_u128(argument: &'static str, text: &str) -> std::result::Result<u128, Robj> {
    text.parse::<u128>().map_err(|_| {
        rust_error(
            "invalid_argument",
            &format!("`{argument}` is not a whole number: {text:?}"),
            Some(argument),
        )
    })
}

fn named_list(names: &[&str], values: Vec<Robj>) -> Robj {
    List::from_names_and_values(names, values)
        .map(Robj::from)
        .unwrap_or_else(|e| rust_error("internal", &e.to_string(), None))
}

/// Exact sums plus the summary statistics they imply.
pub fn counts_to_robj(counts: &PairCounts, num_people: u64) -> Robj {
    let summary = counts.summary(num_people);
    named_list(
        &[
            "iterations",
            "sum_pairs",
            "sum_pairs_squared",
            "mean",
            "sd",
            "se",
            "ci_low",
            "ci_high",
        ],
        vec![
            (counts.iterations as f64).into(),
            counts.sum_pairs.to_string().into(),
            counts.sum_pairs_squared.to_string().into(),
            summary.mean.into(),
            summary.sd.into(),
            summary.se.into(),
            summary.ci_low.into(),
            summary.ci_high.into(),
        ],
    )
}

fn values_robj(values: &Option<Vec<f64>>) -> Robj {
    match values {
        Some(values) => values.as_slice().into(),
        None => ().into(),
    }
}

fn run_to_robj(output: &RunOutput, num_people: u64) -> Robj {
    named_list(
        &["values", "counts", "elapsed_seconds", "threads"],
        vec![
            values_robj(&output.values),
            counts_to_robj(&output.counts, num_people),
            output.elapsed_seconds.into(),
            (output.threads_used as f64).into(),
        ],
    )
}

/// A merged shard: its values and counts, and its metadata as JSON for R.
pub fn shard_to_robj(shard: &ShardResult) -> Robj {
    let mut meta = shard.clone();
    meta.values = None;
    let meta_json = match serde_json::to_string(&meta) {
        Ok(json) => json,
        Err(e) => return rust_error("internal", &e.to_string(), None),
    };
    named_list(
        &["values", "counts", "meta_json"],
        vec![
            values_robj(&shard.values),
            counts_to_robj(&shard.counts, shard.num_people),
            meta_json.into(),
        ],
    )
}

pub fn outcome_to_robj(outcome: Outcome) -> Robj {
    match outcome {
        Outcome::Simulation {
            result: Ok(output),
            num_people,
        } => run_to_robj(&output, num_people),
        Outcome::Simulation { result: Err(e), .. } => sim_error(&e),
        Outcome::Aws(Ok(value)) => match serde_json::to_string(&value) {
            Ok(json) => json.into(),
            Err(e) => rust_error("internal", &e.to_string(), None),
        },
        Outcome::Aws(Err(e)) | Outcome::Session(Err(e)) => aws_error(&e),
        Outcome::Session(Ok(session)) => {
            ExternalPtr::new(SessionHandle(std::sync::Arc::new(session))).into()
        }
        Outcome::Failed(message) => rust_error("internal", &message, None),
    }
}
