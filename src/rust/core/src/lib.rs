//! sagesim-core: the social-distancing Monte Carlo simulation, free of R and
//! AWS.
//!
//! `num_people` people stand uniformly at random in an `x_length` by
//! `y_length` room; every pair closer than `distance` is two violations. An
//! iteration's value is violations per person, `2 * close_pairs /
//! num_people`. [`run`] repeats this for a range of iterations, reproducibly
//! (iteration `i` depends only on `(seed, i)`), in parallel and cancellably;
//! [`close_pair_probability`] gives the exact expectation to compare with;
//! [`share`] divides a job's iterations between its hosts, and
//! [`result_file`] holds the parts of results, their files and their merge;
//! [`resume`] finds what a restarted host already did;
//! [`integrity`] checks what travels between a session and its hosts.

mod binomial;
mod cells;
mod draws;
mod error;
mod expected;
#[cfg(test)]
mod golden;
pub mod integrity;
mod linked;
mod pairs;
pub mod result_file;
pub mod resume;
pub mod rng;
mod room;
mod run;
pub mod serde_int;
pub mod share;
mod sorted;
mod spec;
mod stats;
mod sys;
#[cfg(test)]
mod test_util;

pub use error::SimError;
pub use expected::{close_pair_probability, expected_violations};
pub use pairs::scratch_bytes;
pub use room::{Room, MAX_LENGTH, MIN_LENGTH};
pub use run::{run, Control, RunOutput, RunSpec, MAX_THREADS};
pub use share::{
    host_share, run_shares, run_shares_saving, split_range, todo_share, whole_plan, Share,
};
pub use spec::{sweep_cell_seed, SimulationSpec};
pub use stats::{iteration_value, PairCounts, Summary, Z_95};
pub use sys::{available_cores, available_memory_bytes};
