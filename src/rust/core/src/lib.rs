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

mod error;
mod expected;
#[cfg(test)]
mod golden;
mod grid;
mod linked;
pub mod result_file;
pub mod rng;
mod run;
mod serde_int;
mod stats;
mod sys;

pub use error::SimError;
pub use expected::{close_pair_probability, expected_violations};
pub use grid::scratch_bytes;
pub use run::{
    run, split_iterations, Control, Room, RunOutput, RunSpec, MAX_LENGTH, MAX_THREADS, MIN_LENGTH,
};
pub use stats::{iteration_value, PairCounts, Summary, Z_95};
pub use sys::{available_cores, available_memory_bytes};
