//! The job contract, shared by local and SageMaker jobs: the job record
//! (what a job is, written once and read back by everything that follows
//! it), the plan inside it (every setting of the job's request, in
//! sagesim's terms) and the progress lines hosts log. It knows nothing of
//! AWS or R: the aws crate renders requests from a plan, the glue hands
//! records to R.

mod error;
mod plan;
mod progress;
mod record;

pub use error::JobError;
pub use plan::{JobPlan, PlannedInput, PlannedNetwork, PlannedOutput, PlannedTag, TrainingPlan};
pub use progress::{parse_progress_line, progress_line, Progress, PROGRESS_FORMAT};
pub use record::{
    record_key, Attempt, Grid, HostRunner, JobRecord, Work, MAX_KEEP_ALIVE, RECORD_FORMAT,
};
