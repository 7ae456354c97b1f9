//! A job as sagesim plans it: every setting of its request, given or
//! defaulted, in sagesim's own terms (what R's submit functions decided).
//! Unknown members are refused, so a typo on the R side fails loudly
//! instead of being dropped. The aws crate renders the SageMaker request
//! from it; local jobs lay out the same request for their hosts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A processing job as sagesim plans it: every setting of its request.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JobPlan {
    pub name: String,
    pub role: String,
    pub image_uri: String,
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub arguments: Vec<String>,
    pub instance_count: i32,
    pub instance_type: String,
    pub volume_size_gb: i32,
    pub volume_kms_key: Option<String>,
    pub max_runtime: i32,
    #[serde(default)]
    pub inputs: Vec<PlannedInput>,
    #[serde(default)]
    pub outputs: Vec<PlannedOutput>,
    pub output_kms_key: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<PlannedTag>,
    pub network: Option<PlannedNetwork>,
    /// Set for a SageMaker Training job (managed Spot, warm pools); a plan
    /// without it is a Processing job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingPlan>,
}

/// What a Training job adds to the plan. The inputs become channels, the
/// outputs stay where the worker writes them (their container paths reach
/// the job as hyperparameters).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainingPlan {
    /// Managed Spot: `EnableManagedSpotTraining`.
    pub spot: bool,
    /// `StoppingCondition.MaxWaitTimeInSeconds` (Spot only; at least
    /// `max_runtime`): waiting for capacity plus running.
    pub max_wait: Option<i32>,
    /// `ResourceConfig.KeepAlivePeriodInSeconds`: a warm pool (not with Spot).
    pub keep_alive: Option<i32>,
    /// `CheckpointConfig.S3Uri`: where `/opt/ml/checkpoints` is kept.
    pub checkpoint_uri: String,
    /// `OutputDataConfig.S3OutputPath`.
    pub output_uri: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlannedInput {
    pub name: String,
    /// An `s3://` URI (local files are uploaded before the plan is sent).
    pub source: String,
    pub destination: String,
    pub s3_data_type: String,
    pub s3_input_mode: String,
    pub s3_data_distribution_type: String,
    pub s3_compression_type: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlannedOutput {
    pub name: String,
    pub source: String,
    pub destination: String,
    pub s3_upload_mode: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlannedTag {
    pub key: String,
    pub value: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlannedNetwork {
    #[serde(default)]
    pub subnets: Vec<String>,
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    pub enable_network_isolation: bool,
    pub encrypt_inter_container_traffic: bool,
}

impl JobPlan {
    pub fn has_output(&self, name: &str) -> bool {
        self.outputs.iter().any(|o| o.name == name)
    }
}
