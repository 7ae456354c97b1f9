//! Which host runs which iterations of a job, and running one host's share.
//!
//! A job's plan is a list of specs (one for a simulation, one per cell for a
//! sweep). Its iterations, spec after spec, are laid end to end, each as long
//! as its cost (people per iteration; at least 1), and the line is cut into
//! `hosts` contiguous pieces of equal cost, larger ones first when the cost
//! does not divide evenly. Iteration `i`'s random numbers depend only on
//! `(seed, i)`, so any cut gives the same values.

use crate::error::SimError;
use crate::result_file::Part;
use crate::run::{run, Control};
use crate::spec::SimulationSpec;

/// Iterations `first_iteration .. first_iteration + iterations` of
/// `plan[spec]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    pub spec: usize,
    pub first_iteration: u64,
    pub iterations: u64,
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The contiguous pieces of work of host `index` (0-based) of a job of
/// `instance_count` hosts: every iteration of every spec goes to exactly one
/// host, and hosts' costs differ by at most one iteration's cost. Empty when
/// `index >= instance_count`, or when there are more hosts than iterations.
pub fn host_share(plan: &[SimulationSpec], instance_count: u64, index: u64) -> Vec<Share> {
    if index >= instance_count {
        return Vec::new();
    }
    // Costs in their smallest units, so that equal costs cut exactly like
    // equal counts (one spec: sizes differ by at most one iteration).
    let raw_cost = |s: &SimulationSpec| u128::from(s.num_people.max(1));
    let unit = plan.iter().map(raw_cost).fold(0, gcd).max(1);
    let total: u128 = plan
        .iter()
        .map(|s| raw_cost(s) / unit * u128::from(s.max_iterations))
        .sum();
    let (hosts, index) = (u128::from(instance_count), u128::from(index));
    let boundary = |k: u128| k * (total / hosts) + k.min(total % hosts);
    let (from, to) = (boundary(index), boundary(index + 1));
    // An iteration belongs to the host whose piece holds its start.
    let mut shares = Vec::new();
    let mut offset = 0u128;
    for (k, spec) in plan.iter().enumerate() {
        let cost = raw_cost(spec) / unit;
        let count = u128::from(spec.max_iterations);
        let first_at = |position: u128| position.saturating_sub(offset).div_ceil(cost).min(count);
        let (first, end) = (first_at(from), first_at(to));
        if end > first {
            shares.push(Share {
                spec: k,
                // Both below max_iterations + 1 <= u64::MAX + 1.
                first_iteration: (first as u64) + 1,
                iterations: (end - first) as u64,
            });
        }
        offset += cost * count;
    }
    shares
}

/// The first iteration and count of host `index` of `instance_count` for a single
/// simulation of `max_iterations` iterations: sizes differ by at most one,
/// larger ones first; `count == 0` (and `first` just past the end) for
/// hosts beyond the iterations.
pub fn split_iterations(max_iterations: u64, instance_count: u64, index: u64) -> (u64, u64) {
    let spec = SimulationSpec {
        x_length: 1.0,
        y_length: 1.0,
        num_people: 0,
        distance: 1.0,
        seed: 0,
        max_iterations,
    };
    match host_share(std::slice::from_ref(&spec), instance_count, index).first() {
        Some(share) => (share.first_iteration, share.iterations),
        None => (max_iterations.saturating_add(1), 0),
    }
}

/// Runs `shares` of `plan` one after the other (each on `threads` threads),
/// keeping every value; `control` sees the iterations of all of them.
pub fn run_shares(
    plan: &[SimulationSpec],
    shares: &[Share],
    threads: usize,
    control: &Control,
) -> Result<Vec<Part>, SimError> {
    shares
        .iter()
        .map(|share| {
            let spec = plan.get(share.spec).ok_or_else(|| {
                SimError::invalid("share", format!("no spec {} in the plan", share.spec))
            })?;
            spec.validate()?;
            let run_spec = spec.run_spec(share.first_iteration, share.iterations, threads, true);
            let output = run(&run_spec, control)?;
            Ok(Part::from_run(spec, &run_spec, &output))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(num_people: u64, max_iterations: u64) -> SimulationSpec {
        SimulationSpec {
            x_length: 100.0,
            y_length: 100.0,
            num_people,
            distance: 6.0,
            seed: 1,
            max_iterations,
        }
    }

    /// Every iteration of every spec exactly once, in order, host by host.
    fn assert_tiles(plan: &[SimulationSpec], hosts: u64) -> Vec<u128> {
        let mut next: Vec<u64> = vec![1; plan.len()];
        let mut costs = Vec::new();
        let mut last_spec = 0;
        for k in 0..hosts {
            let mut cost = 0u128;
            for s in host_share(plan, hosts, k) {
                assert!(s.iterations > 0);
                assert!(s.spec >= last_spec, "hosts take the specs in order");
                last_spec = s.spec;
                assert_eq!(
                    s.first_iteration, next[s.spec],
                    "{plan:?} hosts {hosts} host {k}"
                );
                next[s.spec] += s.iterations;
                cost += u128::from(plan[s.spec].num_people.max(1)) * u128::from(s.iterations);
            }
            costs.push(cost);
        }
        for (s, n) in plan.iter().zip(&next) {
            assert_eq!(*n, s.max_iterations + 1, "{plan:?} hosts {hosts}");
        }
        costs
    }

    #[test]
    fn one_spec_splits_like_equal_counts_larger_first() {
        for max in [1u64, 2, 7, 100, 101, 1001] {
            for hosts in [1u64, 2, 3, 7, 16, 150] {
                let plan = [spec(1000, max)];
                assert_tiles(&plan, hosts);
                let sizes: Vec<u64> = (0..hosts)
                    .map(|k| split_iterations(max, hosts, k).1)
                    .collect();
                let (big, small) = (max / hosts + 1, max / hosts);
                let extra = (max % hosts) as usize;
                assert!(sizes[..extra].iter().all(|&s| s == big), "{sizes:?}");
                assert!(sizes[extra..].iter().all(|&s| s == small), "{sizes:?}");
            }
        }
        assert_eq!(split_iterations(10, 3, 0), (1, 4));
        assert_eq!(split_iterations(10, 3, 1), (5, 3));
        assert_eq!(split_iterations(10, 3, 2), (8, 3));
        assert_eq!(split_iterations(101, 3, 1), (35, 34));
        assert_eq!(split_iterations(2, 5, 4), (3, 0));
        assert_eq!(split_iterations(10, 0, 0).1, 0);
        assert_eq!(split_iterations(10, 3, 3).1, 0);
        // The largest counts do not overflow.
        assert_eq!(split_iterations(u64::MAX, 1, 0), (1, u64::MAX));
    }

    #[test]
    fn sweeps_are_balanced_by_people_times_iterations() {
        let plan = [
            spec(100, 1000),
            spec(1000, 1000),
            spec(10_000, 1000),
            spec(0, 10),
        ];
        for hosts in [1u64, 2, 3, 5, 12] {
            let costs = assert_tiles(&plan, hosts);
            // Within two of the costliest iterations: a piece may gain one at its
            // end and lose one at its start.
            let max_step = 2 * 10_000u128;
            let (lo, hi) = (costs.iter().min().unwrap(), costs.iter().max().unwrap());
            assert!(hi - lo <= max_step, "hosts {hosts}: {costs:?}");
        }
        // Many small cells over a few hosts, and more hosts than iterations.
        let many: Vec<SimulationSpec> = (1..=12).map(|k| spec(k * 50, 7)).collect();
        for hosts in [1u64, 3, 4, 100] {
            assert_tiles(&many, hosts);
        }
        assert!(host_share(&many, 3, 3).is_empty());
    }
}
