//! The job record: the one description of a job that sagesim reads back.
//!
//! Written once, when a job is submitted: a local job keeps it in its
//! folder (`job.json`), a SageMaker job uploads it beside its inputs
//! (`s3://{bucket}/{job}/input/sagesim-job.json`, encrypted like every other
//! upload). Attaching, listing, printing, collecting and resubmitting read it
//! for both backends; nothing is learnt from a job's command line or logs.
//! It holds the [`JobPlan`] the request is rendered from (every setting,
//! given or defaulted), what the job computes ([`Work`]), how a local job's
//! hosts run ([`HostRunner`]) and the sagesim version that made it.

use std::path::Path;

use sagesim_core::SimulationSpec;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::JobError;
use crate::plan::{JobPlan, TrainingPlan};

/// The format of this version of the record; readers refuse any other.
pub const RECORD_FORMAT: &str = "sagesim-job/1";

/// Where a cloud job's record lives, relative to its bucket.
pub fn record_key(job_name: &str) -> String {
    format!("{job_name}/input/sagesim-job.json")
}

/// A job, as submitted.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JobRecord {
    pub format: String,
    pub sagesim_version: String,
    /// Seconds since the epoch.
    pub created: f64,
    pub work: Work,
    /// Every setting of the request, with inputs and outputs where they
    /// really are (uploaded inputs at their S3 location).
    pub plan: JobPlan,
    /// The KMS key sagesim's own uploads were encrypted with.
    #[serde(default)]
    pub upload_kms_key: Option<String>,
    /// Outputs whose destination sagesim chose after the job's name: a
    /// resubmission chooses them anew rather than writing over these.
    #[serde(default)]
    pub default_destinations: Vec<String>,
    /// How a local job's hosts run; `None` for SageMaker jobs.
    #[serde(default)]
    pub hosts: Option<HostRunner>,
    /// The job this one reran (`job_resubmit()`), if any.
    #[serde(default)]
    pub resubmission_of: Option<String>,
    /// How many times sagesim runs the job again when the infrastructure
    /// fails it (no capacity, an internal error, a host lost).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// The attempts before this one, oldest first: a retry's record carries
    /// its predecessors', so the last attempt knows them all.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
}

fn default_retries() -> u32 {
    2
}

/// An earlier attempt at a job, and how it ended.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Attempt {
    pub name: String,
    pub status: String,
    #[serde(default)]
    pub failure_reason: Option<String>,
    pub instance_count: u32,
    /// What the next attempt ran: "all" of the work again, or the "missing"
    /// share (the results this attempt left are kept).
    pub rerun: String,
    /// Where this attempt's results went (an `s3://` prefix or a folder).
    #[serde(default)]
    pub results: Option<String>,
}

/// What a job computes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Work {
    /// An R script (`code`: where it was given, a local path or `s3://`).
    Script { code: String },
    /// The built-in simulation.
    Simulation { spec: SimulationSpec },
    /// A sweep: every combination of the axes' values.
    Sweep { grid: Grid },
    /// `submit_map()`: `elements` elements, their payload at `payload`
    /// (an `s3://` URI, or a local job's file), streams from `seed`.
    Map {
        elements: u64,
        seed: i64,
        payload: String,
    },
}

impl Work {
    pub fn kind(&self) -> &'static str {
        match self {
            Work::Script { .. } => "script",
            Work::Simulation { .. } => "simulation",
            Work::Sweep { .. } => "sweep",
            Work::Map { .. } => "map",
        }
    }
}

/// `simulation_grid()`: the values of each axis, and the sweep's seed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    pub x_length: Vec<f64>,
    pub y_length: Vec<f64>,
    pub num_people: Vec<u64>,
    pub max_iterations: Vec<u64>,
    pub distance: Vec<f64>,
    #[serde(with = "sagesim_core::serde_int::u64_string")]
    pub seed: u64,
}

/// How the hosts of a local job run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostRunner {
    /// "process", "namespace" or "container".
    pub mode: String,
    /// The namespace tool ("bwrap", "unshare") and its path.
    #[serde(default)]
    pub tool: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub user_namespace: Option<bool>,
    /// The container engine ("docker", "podman", "buildah"), its path, the
    /// image and (buildah) the isolation.
    #[serde(default)]
    pub engine: Option<String>,
    #[serde(default)]
    pub engine_path: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub isolation: Option<String>,
    /// Namespace tools that were tried and failed (mode "process").
    #[serde(default)]
    pub tried: Vec<String>,
}

const RUNNER_MODES: &[&str] = &["process", "namespace", "container"];

/// The longest warm pool sagesim asks for, seconds: the lower of the two
/// limits AWS has published (the API model allows 21,600; older docs 3,600).
pub const MAX_KEEP_ALIVE: i32 = 3600;

/// What SageMaker refuses of a Training job's Spot and warm-pool settings,
/// refused here first with sagesim's words.
fn check_training(training: &TrainingPlan, max_runtime: i32) -> Result<(), JobError> {
    let refuse = |message: String| Err(format_error("ReadJobRecord", message));
    if training.spot && training.keep_alive.is_some() {
        return refuse(
            "a Spot training job cannot keep a warm pool (keep_alive is not allowed with spot)"
                .into(),
        );
    }
    if let Some(max_wait) = training.max_wait {
        if !training.spot {
            return refuse(format!(
                "max_wait ({max_wait} s) is only for Spot training jobs (spot is false)"
            ));
        }
        if max_wait < max_runtime {
            return refuse(format!(
                "max_wait ({max_wait} s) is shorter than max_runtime ({max_runtime} s): \
                 it counts the wait for Spot capacity plus the run"
            ));
        }
    }
    if let Some(keep_alive) = training.keep_alive {
        if !(1..=MAX_KEEP_ALIVE).contains(&keep_alive) {
            return refuse(format!(
                "keep_alive ({keep_alive} s) must be within 1 and {MAX_KEEP_ALIVE} seconds"
            ));
        }
    }
    Ok(())
}

fn format_error(operation: &str, message: impl Into<String>) -> JobError {
    JobError::new(operation, message)
}

impl JobRecord {
    /// Parses and checks a record (JSON text).
    pub fn from_json(text: &str) -> Result<JobRecord, JobError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| format_error("ReadJobRecord", format!("not JSON: {e}")))?;
        Self::from_value(value)
    }

    pub fn from_value(value: Value) -> Result<JobRecord, JobError> {
        let format = value.get("format").and_then(Value::as_str).unwrap_or("");
        if format != RECORD_FORMAT {
            return Err(format_error(
                "ReadJobRecord",
                format!("not a {RECORD_FORMAT} job record (format {format:?})"),
            ));
        }
        let record: JobRecord = serde_json::from_value(value)
            .map_err(|e| format_error("ReadJobRecord", format!("malformed job record: {e}")))?;
        record.check()?;
        Ok(record)
    }

    fn check(&self) -> Result<(), JobError> {
        if let Some(hosts) = &self.hosts {
            if !RUNNER_MODES.contains(&hosts.mode.as_str()) {
                return Err(format_error(
                    "ReadJobRecord",
                    format!("unknown host runner {:?}", hosts.mode),
                ));
            }
        }
        for attempt in &self.attempts {
            if !["all", "missing"].contains(&attempt.rerun.as_str()) {
                return Err(format_error(
                    "ReadJobRecord",
                    format!("attempt {} reran {:?}", attempt.name, attempt.rerun),
                ));
            }
        }
        if let Some(training) = &self.plan.training {
            check_training(training, self.plan.max_runtime)?;
        }
        for name in &self.default_destinations {
            if !self.plan.has_output(name) {
                return Err(format_error(
                    "ReadJobRecord",
                    format!("default destination of an output {name:?} the job does not have"),
                ));
            }
        }
        Ok(())
    }

    /// Whether the job runs as a SageMaker Training job (else Processing).
    pub fn is_training(&self) -> bool {
        self.plan.training.is_some()
    }

    pub fn to_json(&self) -> String {
        // Serialising plain data cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads the record at `path`.
    pub fn read(path: &Path) -> Result<JobRecord, JobError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| JobError::io("ReadJobRecord", &format!("{}", path.display()), &e))?;
        Self::from_json(&text).map_err(|e| {
            format_error(
                "ReadJobRecord",
                format!("{}: {}", path.display(), e.message),
            )
        })
    }

    /// Writes the record to `path` whole (a temporary file renamed into
    /// place), so a reader never sees part of one.
    pub fn write(&self, path: &Path) -> Result<(), JobError> {
        let partial = path.with_extension("json.partial");
        let io =
            |e: std::io::Error| JobError::io("WriteJobRecord", &format!("{}", path.display()), &e);
        std::fs::write(&partial, self.to_json()).map_err(io)?;
        std::fs::rename(&partial, path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record() -> Value {
        json!({
            "format": RECORD_FORMAT,
            "sagesim_version": "0.1.0",
            "created": 1.5e9,
            "work": {"kind": "map", "elements": 7, "seed": -3, "payload": "s3://b/j/input/map"},
            "plan": {
                "name": "j", "role": "arn:aws:iam::1:role/R", "image_uri": "img",
                "entrypoint": ["Rscript"], "instance_count": 2, "instance_type": "ml.m5.xlarge",
                "volume_size_gb": 30, "max_runtime": 60,
                "outputs": [{"name": "map", "source": "/opt/ml/processing/output/map",
                             "destination": "s3://b/j/output/map", "s3_upload_mode": "EndOfJob"}]
            },
            "default_destinations": ["map"]
        })
    }

    #[test]
    fn a_record_round_trips_exactly() {
        let parsed = JobRecord::from_value(record()).unwrap();
        assert_eq!(parsed.work.kind(), "map");
        let again = JobRecord::from_json(&parsed.to_json()).unwrap();
        assert_eq!(again, parsed);
    }

    #[test]
    fn every_kind_of_work_reads_back() {
        let spec = json!({"x_length": 10.0, "y_length": 10.0, "num_people": 5,
                          "distance": 6.0, "seed": "9007199254740993", "max_iterations": 3});
        let grid = json!({"x_length": [1.0, 2.0], "y_length": [3.0], "num_people": [4],
                          "max_iterations": [5], "distance": [6.0], "seed": "18446744073709551615"});
        for (work, kind) in [
            (json!({"kind": "script", "code": "/tmp/a.R"}), "script"),
            (json!({"kind": "simulation", "spec": spec}), "simulation"),
            (json!({"kind": "sweep", "grid": grid}), "sweep"),
        ] {
            let mut value = record();
            value["work"] = work;
            let parsed = JobRecord::from_value(value).unwrap();
            assert_eq!(parsed.work.kind(), kind);
            assert_eq!(JobRecord::from_json(&parsed.to_json()).unwrap(), parsed);
        }
    }

    #[test]
    fn attempts_and_retries_read_back_with_their_defaults() {
        let parsed = JobRecord::from_value(record()).unwrap();
        assert_eq!(parsed.retries, 2);
        assert!(parsed.attempts.is_empty());
        let mut value = record();
        value["retries"] = json!(0);
        value["attempts"] = json!([{"name": "j-1", "status": "Failed",
                                    "failure_reason": "CapacityError: none left",
                                    "instance_count": 4, "rerun": "all"}]);
        let parsed = JobRecord::from_value(value.clone()).unwrap();
        assert_eq!(parsed.retries, 0);
        assert_eq!(parsed.attempts[0].instance_count, 4);
        assert_eq!(JobRecord::from_json(&parsed.to_json()).unwrap(), parsed);
        value["attempts"][0]["rerun"] = json!("some");
        assert!(JobRecord::from_value(value).is_err());
    }

    #[test]
    fn other_formats_and_unknown_members_are_refused() {
        let mut value = record();
        value["format"] = json!("sagesim-job/0");
        let err = JobRecord::from_value(value).unwrap_err();
        assert!(
            err.message.contains("not a sagesim-job/1"),
            "{}",
            err.message
        );

        let mut value = record();
        value["plan"]["instance_cuont"] = json!(3);
        let err = JobRecord::from_value(value).unwrap_err();
        assert!(err.message.contains("instance_cuont"), "{}", err.message);

        let mut value = record();
        value["work"]["kind"] = json!("mystery");
        assert!(JobRecord::from_value(value).is_err());

        let mut value = record();
        value["default_destinations"] = json!(["results"]);
        let err = JobRecord::from_value(value).unwrap_err();
        assert!(err.message.contains("results"), "{}", err.message);

        let mut value = record();
        value["hosts"] = json!({"mode": "teleport"});
        assert!(JobRecord::from_value(value).is_err());
    }

    fn training(spot: bool, max_wait: Option<i32>, keep_alive: Option<i32>) -> Value {
        let mut value = record();
        value["plan"]["training"] = json!({
            "spot": spot, "max_wait": max_wait, "keep_alive": keep_alive,
            "checkpoint_uri": "s3://b/j/checkpoints", "output_uri": "s3://b/j/output/training"
        });
        value
    }

    #[test]
    fn a_record_without_training_is_a_processing_job() {
        let parsed = JobRecord::from_value(record()).unwrap();
        assert!(!parsed.is_training());
        assert!(parsed.plan.training.is_none());
        // Written back, it has no "training" member at all.
        let written: Value = serde_json::from_str(&parsed.to_json()).unwrap();
        assert!(written["plan"].get("training").is_none());
    }

    #[test]
    fn training_settings_round_trip() {
        for value in [
            training(true, Some(120), None),
            training(true, None, None),
            training(false, None, Some(1)),
            training(false, None, Some(MAX_KEEP_ALIVE)),
        ] {
            let parsed = JobRecord::from_value(value.clone()).unwrap();
            assert!(parsed.is_training());
            let again = JobRecord::from_json(&parsed.to_json()).unwrap();
            assert_eq!(again, parsed);
            assert_eq!(
                again.plan.training.as_ref().unwrap().max_wait,
                value["plan"]["training"]["max_wait"]
                    .as_i64()
                    .map(|v| v as i32)
            );
        }
        let parsed = JobRecord::from_value(training(true, Some(90), None)).unwrap();
        let t = parsed.plan.training.unwrap();
        assert!(t.spot);
        assert_eq!(t.max_wait, Some(90));
        assert_eq!(t.checkpoint_uri, "s3://b/j/checkpoints");
        assert_eq!(t.output_uri, "s3://b/j/output/training");
    }

    #[test]
    fn training_settings_sagemaker_refuses_are_refused() {
        let refused = |value: Value, words: &str| {
            let err = JobRecord::from_value(value).unwrap_err();
            assert!(err.message.contains(words), "{}", err.message);
        };
        refused(
            training(true, Some(120), Some(60)),
            "cannot keep a warm pool",
        );
        refused(training(false, Some(120), None), "only for Spot");
        // max_runtime is 60.
        refused(
            training(true, Some(59), None),
            "shorter than max_runtime (60 s)",
        );
        assert!(JobRecord::from_value(training(true, Some(60), None)).is_ok());
        refused(training(false, None, Some(0)), "within 1 and 3600");
        refused(training(false, None, Some(3601)), "within 1 and 3600");
        refused(training(false, None, Some(-5)), "keep_alive (-5 s)");

        let mut value = training(true, None, None);
        value["plan"]["training"]["max_wiat"] = json!(100);
        refused(value, "max_wiat");
        let mut value = training(true, None, None);
        value["plan"]["training"]
            .as_object_mut()
            .unwrap()
            .remove("checkpoint_uri");
        refused(value, "checkpoint_uri");
    }

    #[test]
    fn writing_replaces_the_file_whole() {
        let dir = std::env::temp_dir().join(format!("sagesim-record-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("job.json");
        let parsed = JobRecord::from_value(record()).unwrap();
        parsed.write(&path).unwrap();
        assert_eq!(JobRecord::read(&path).unwrap(), parsed);
        assert!(!dir.join("job.json.partial").exists());
        std::fs::write(&path, "{").unwrap();
        assert!(JobRecord::read(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
