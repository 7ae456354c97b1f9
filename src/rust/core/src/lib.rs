//! sagesim-core: the social-distancing Monte Carlo simulation, free of R and
//! AWS.
//!
//! `num_people` people stand uniformly at random in an `x_length` by
//! `y_length` room; every pair closer than `distance` is two violations. An
//! iteration's value is violations per person, `2 * close_pairs /
//! num_people`. [`run`] repeats this for a range of iterations, reproducibly
//! (iteration `i` depends only on `(seed, i)`), in parallel and cancellably;
//! [`close_pair_probability`] gives the exact expectation to compare with;
//! [`result_file`] is the per-host result file of distributed runs.

mod binomial;
mod cells;
mod draws;
mod error;
mod expected;
#[cfg(test)]
mod golden;
mod linked;
mod pairs;
pub mod result_file;
pub mod rng;
mod room;
mod run;
mod serde_int;
mod sorted;
mod stats;
mod sys;
#[cfg(test)]
mod test_util;

pub use error::SimError;
pub use expected::{close_pair_probability, expected_violations};
pub use pairs::scratch_bytes;
pub use room::{Room, MAX_LENGTH, MIN_LENGTH};
pub use run::{run, split_iterations, Control, RunOutput, RunSpec, MAX_THREADS};
pub use stats::{iteration_value, PairCounts, Summary, Z_95};
pub use sys::{available_cores, available_memory_bytes};
