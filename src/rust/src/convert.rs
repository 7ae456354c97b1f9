//! Conversions between R values and the core/aws types, and the error value
//! R turns into a classed condition (see R/ffi.R).

use extendr_api::prelude::*;
use sagesim_aws::AwsError;
use sagesim_core::result_file::Part;
use sagesim_core::{PairCounts, SimError, SimulationSpec};

use crate::task::Outcome;
use crate::SessionHandle;

/// An R value the glue hands back, or the error value it hands back instead.
pub type RResult<T> = std::result::Result<T, Robj>;

/// `list(kind, message, argument, details)` with class `sagesim_rust_error`.
pub fn rust_error(kind: &str, message: &str, argument: Option<&str>) -> Robj {
    error_value(kind, message, argument, None)
}

fn error_value(kind: &str, message: &str, argument: Option<&str>, details: Option<Robj>) -> Robj {
    let argument: Robj = argument.map(Robj::from).unwrap_or_else(|| ().into());
    let details: Robj = details.unwrap_or_else(|| ().into());
    let mut value: Robj = List::from_names_and_values(
        ["kind", "message", "argument", "details"],
        [kind.into(), message.into(), argument, details],
    )
    .map(Robj::from)
    .unwrap_or_else(|_| message.into());
    // Setting a class on a fresh list cannot fail; if it ever did, R would
    // still see a list, which R/ffi.R treats as a malformed reply.
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
        SimError::Integrity { file, reason } => {
            let details = named_list(
                &["file", "reason"],
                vec![file.as_str().into(), reason.as_str().into()],
            );
            return error_value("integrity", &error.to_string(), None, Some(details));
        }
        SimError::MissingHosts { missing, hosts } => {
            let details = named_list(
                &["missing", "hosts"],
                vec![missing.clone().into(), hosts.clone().into()],
            );
            return error_value("missing_hosts", &error.to_string(), None, Some(details));
        }
    };
    rust_error(kind, &error.to_string(), argument)
}

pub fn aws_error(error: &AwsError) -> Robj {
    let details = serde_json::to_string(error).ok().map(Robj::from);
    error_value("aws", &error.to_string(), None, details)
}

/// Whole numbers arrive from R as doubles (R integers stop at 2^31), and
/// doubles are exact up to 2^53.
pub fn expect_whole(argument: &'static str, value: f64) -> RResult<u64> {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= MAX_WHOLE {
        Ok(value as u64)
    } else {
        Err(rust_error(
            "invalid_argument",
            &format!("`{argument}` must be a whole number between 0 and 2^53, not {value}"),
            Some(argument),
        ))
    }
}

const MAX_WHOLE: f64 = 9_007_199_254_740_992.0;

/// A whole number for R: exact as a double up to 2^53, refused beyond.
fn whole_to_r(argument: &str, value: u64) -> RResult<f64> {
    if value as f64 <= MAX_WHOLE {
        Ok(value as f64)
    } else {
        Err(rust_error(
            "format",
            &format!("`{argument}` is {value}, beyond 2^53: R cannot hold it exactly"),
            None,
        ))
    }
}

fn parse_u128(argument: &'static str, text: &str) -> RResult<u128> {
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

/// The element `name` of an R list.
fn field(list: &Robj, name: &'static str) -> RResult<Robj> {
    list.as_list()
        .and_then(|l| l.iter().find(|(n, _)| *n == name).map(|(_, v)| v))
        .ok_or_else(|| rust_error("internal", &format!("no `{name}` in the list"), None))
}

fn number(list: &Robj, name: &'static str) -> RResult<f64> {
    field(list, name)?.as_real().ok_or_else(|| {
        rust_error(
            "invalid_argument",
            &format!("`{name}` must be a single number"),
            Some(name),
        )
    })
}

fn whole(list: &Robj, name: &'static str) -> RResult<u64> {
    expect_whole(name, number(list, name)?)
}

/// A `simulation_spec()` from R.
pub fn spec_from_r(spec: &Robj) -> RResult<SimulationSpec> {
    Ok(SimulationSpec {
        x_length: number(spec, "x_length")?,
        y_length: number(spec, "y_length")?,
        num_people: whole(spec, "num_people")?,
        distance: number(spec, "distance")?,
        seed: whole(spec, "seed")?,
        max_iterations: whole(spec, "max_iterations")?,
    })
}

/// A list of specs from R.
pub fn plan_from_r(plan: &Robj) -> RResult<Vec<SimulationSpec>> {
    let list = plan
        .as_list()
        .ok_or_else(|| rust_error("internal", "the plan must be a list of specs", None))?;
    list.values().map(|spec| spec_from_r(&spec)).collect()
}

fn spec_to_r(spec: &SimulationSpec) -> RResult<Robj> {
    Ok(named_list(
        &[
            "x_length",
            "y_length",
            "num_people",
            "distance",
            "seed",
            "max_iterations",
        ],
        vec![
            spec.x_length.into(),
            spec.y_length.into(),
            whole_to_r("num_people", spec.num_people)?.into(),
            spec.distance.into(),
            whole_to_r("seed", spec.seed)?.into(),
            whole_to_r("max_iterations", spec.max_iterations)?.into(),
        ],
    ))
}

/// Exact sums (decimal strings: u128 does not fit a double) plus the
/// summary statistics they imply.
fn counts_to_r(counts: &PairCounts, num_people: u64) -> Robj {
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

/// A part for R: what `new_simulation()` (R/simulate.R) is made from.
pub fn part_to_r(part: &Part) -> RResult<Robj> {
    let values: Robj = match &part.values {
        Some(values) => values.as_slice().into(),
        None => ().into(),
    };
    Ok(named_list(
        &[
            "spec",
            "first_iteration",
            "iterations",
            "counts",
            "values",
            "elapsed_seconds",
            "threads",
        ],
        vec![
            spec_to_r(&part.spec)?,
            whole_to_r("first_iteration", part.first_iteration)?.into(),
            whole_to_r("iterations", part.iterations)?.into(),
            counts_to_r(&part.counts, part.spec.num_people),
            values,
            part.elapsed_seconds.into(),
            (part.threads as f64).into(),
        ],
    ))
}

pub fn parts_to_r(parts: &[Part]) -> RResult<Robj> {
    let parts = parts.iter().map(part_to_r).collect::<RResult<Vec<_>>>()?;
    Ok(List::from_values(parts).into())
}

/// A part from R, as `part_to_r()` made it (R/simulate.R's `as_part()`).
pub fn part_from_r(part: &Robj) -> RResult<Part> {
    let counts = field(part, "counts")?;
    let text = |name: &'static str| -> RResult<u128> {
        let value = field(&counts, name)?;
        let text = value
            .as_str()
            .ok_or_else(|| rust_error("internal", &format!("`{name}` must be a string"), None))?;
        parse_u128(name, text)
    };
    let values = field(part, "values")?;
    Ok(Part {
        spec: spec_from_r(&field(part, "spec")?)?,
        first_iteration: whole(part, "first_iteration")?,
        iterations: whole(part, "iterations")?,
        counts: PairCounts {
            iterations: whole(&counts, "iterations")?,
            sum_pairs: text("sum_pairs")?,
            sum_pairs_squared: text("sum_pairs_squared")?,
        },
        values: if values.is_null() {
            None
        } else {
            Some(
                values
                    .as_real_slice()
                    .ok_or_else(|| rust_error("internal", "values must be doubles", None))?
                    .to_vec(),
            )
        },
        elapsed_seconds: number(part, "elapsed_seconds")?,
        threads: whole(part, "threads")? as usize,
    })
}

pub fn outcome_to_robj(outcome: Outcome) -> Robj {
    let converted = match outcome {
        Outcome::Part(Ok(part)) => part_to_r(&part),
        Outcome::Host(Ok((path, parts))) => {
            parts_to_r(&parts).map(|parts| named_list(&["path", "parts"], vec![path.into(), parts]))
        }
        Outcome::Part(Err(e)) | Outcome::Host(Err(e)) => Err(sim_error(&e)),
        Outcome::Aws(Ok(value)) => serde_json::to_string(&value)
            .map(Robj::from)
            .map_err(|e| rust_error("internal", &e.to_string(), None)),
        Outcome::Aws(Err(e)) | Outcome::Session(Err(e)) => Err(aws_error(&e)),
        Outcome::Session(Ok(session)) => {
            Ok(ExternalPtr::new(SessionHandle(std::sync::Arc::new(session))).into())
        }
        Outcome::Failed(message) => Err(rust_error("internal", &message, None)),
    };
    converted.unwrap_or_else(|error| error)
}
