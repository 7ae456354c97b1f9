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

/// The whole of `plan` as pieces of work: every iteration of every spec.
pub fn whole_plan(plan: &[SimulationSpec]) -> Vec<Share> {
    plan.iter()
        .enumerate()
        .map(|(k, spec)| Share {
            spec: k,
            first_iteration: 1,
            iterations: spec.max_iterations,
        })
        .collect()
}

/// The contiguous pieces of work of host `index` (0-based) of a job of
/// `instance_count` hosts: every iteration of every spec goes to exactly one
/// host, and hosts' costs differ by at most one iteration's cost. Empty when
/// `index >= instance_count`, or when there are more hosts than iterations.
pub fn host_share(plan: &[SimulationSpec], instance_count: u64, index: u64) -> Vec<Share> {
    todo_share(plan, &whole_plan(plan), instance_count, index)
}

/// Host `index`'s pieces of `todo` (pieces of `plan`, e.g. what an earlier
/// attempt left unfinished), cut as [`host_share`] cuts a whole plan: the
/// pieces laid end to end by cost, the line cut into equal lengths.
pub fn todo_share(
    plan: &[SimulationSpec],
    todo: &[Share],
    instance_count: u64,
    index: u64,
) -> Vec<Share> {
    if index >= instance_count {
        return Vec::new();
    }
    let todo: Vec<(&Share, &SimulationSpec)> = todo
        .iter()
        .filter_map(|t| plan.get(t.spec).map(|s| (t, s)))
        .collect();
    // Costs in their smallest units, so that equal costs cut exactly like
    // equal counts (one spec: sizes differ by at most one iteration).
    let raw_cost = |s: &SimulationSpec| u128::from(s.num_people.max(1));
    let unit = todo.iter().map(|(_, s)| raw_cost(s)).fold(0, gcd).max(1);
    let total: u128 = todo
        .iter()
        .map(|(t, s)| raw_cost(s) / unit * u128::from(t.iterations))
        .sum();
    let (hosts, index) = (u128::from(instance_count), u128::from(index));
    let boundary = |k: u128| k * (total / hosts) + k.min(total % hosts);
    let (from, to) = (boundary(index), boundary(index + 1));
    // An iteration belongs to the host whose piece holds its start.
    let mut shares = Vec::new();
    let mut offset = 0u128;
    for (piece, spec) in todo {
        let cost = raw_cost(spec) / unit;
        let count = u128::from(piece.iterations);
        let first_at = |position: u128| position.saturating_sub(offset).div_ceil(cost).min(count);
        let (first, end) = (first_at(from), first_at(to));
        if end > first {
            shares.push(Share {
                spec: piece.spec,
                // Both below max_iterations + 1 <= u64::MAX + 1.
                first_iteration: piece.first_iteration + first as u64,
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
pub fn split_range(max_iterations: u64, instance_count: u64, index: u64) -> (u64, u64) {
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
    run_shares_saving(
        plan,
        shares,
        threads,
        control,
        f64::INFINITY,
        &mut |_, _| Ok(()),
    )
}

/// [`run_shares`], handing `save` the parts finished since its last call
/// (each a contiguous run of iterations) from time to time, and the last of
/// them at the end (`complete`): a host that is stopped or lost keeps what
/// it finished. `every` seconds is the shortest time between saves (0: after
/// every chunk of work); the time grows with the run, to a twentieth of the
/// time run so far (at most a minute), so a long run is saved a few hundred
/// times at most. The work goes in chunks sized to end every `every / 4`
/// seconds or so; iteration `i` depends only on `(seed, i)`, so the values
/// are those of one run over each share.
pub fn run_shares_saving(
    plan: &[SimulationSpec],
    shares: &[Share],
    threads: usize,
    control: &Control,
    every: f64,
    save: &mut dyn FnMut(&[Part], bool) -> Result<(), SimError>,
) -> Result<Vec<Part>, SimError> {
    let mut done: Vec<Part> = Vec::new();
    let mut unsaved: Vec<Part> = Vec::new();
    let started = std::time::Instant::now();
    let mut last_save = started;
    let target = (every / 4.0).clamp(0.05, 15.0);
    let due = |last_save: std::time::Instant| {
        let since_start = started.elapsed().as_secs_f64();
        let interval = if every <= 0.0 {
            0.0
        } else {
            every.max((since_start / 20.0).min(60.0))
        };
        last_save.elapsed().as_secs_f64() >= interval
    };
    for share in shares {
        let spec = plan.get(share.spec).ok_or_else(|| {
            SimError::invalid("share", format!("no spec {} in the plan", share.spec))
        })?;
        spec.validate()?;
        if !every.is_finite() || share.iterations == 0 {
            let run_spec = spec.run_spec(share.first_iteration, share.iterations, threads, true);
            let output = run(&run_spec, control)?;
            let part = Part::from_run(spec, &run_spec, &output);
            done.push(part.clone());
            unsaved.push(part);
            continue;
        }
        let mut chunk = 16u64;
        let mut next = share.first_iteration;
        let end = share.first_iteration + share.iterations;
        while next < end {
            let count = chunk.min(end - next);
            let run_spec = spec.run_spec(next, count, threads, true);
            let chunk_started = std::time::Instant::now();
            let output = run(&run_spec, control)?;
            let seconds = chunk_started.elapsed().as_secs_f64();
            let part = Part::from_run(spec, &run_spec, &output);
            match done.last_mut() {
                Some(last) if next > share.first_iteration => append(last, part.clone())?,
                _ => done.push(part.clone()),
            }
            match unsaved.last_mut() {
                Some(last) if last.spec == part.spec && last.last_iteration() + 1 == next => {
                    append(last, part)?
                }
                _ => unsaved.push(part),
            }
            next += count;
            // Chunks grow while they end sooner than the target, shrink after.
            if seconds < target / 2.0 {
                chunk = chunk.saturating_mul(2);
            } else if seconds > target * 2.0 {
                chunk = (chunk / 2).max(1);
            }
            if next < end && due(last_save) {
                save(&unsaved, false)?;
                unsaved.clear();
                last_save = std::time::Instant::now();
            }
        }
    }
    save(&unsaved, true)?;
    Ok(done)
}

/// `next`, the iterations that follow `part`'s, added to it.
fn append(part: &mut Part, next: Part) -> Result<(), SimError> {
    part.iterations += next.iterations;
    part.counts = part.counts.merge(next.counts)?;
    part.elapsed_seconds += next.elapsed_seconds;
    part.threads = part.threads.max(next.threads);
    if let (Some(values), Some(more)) = (part.values.as_mut(), next.values) {
        values.extend(more);
    }
    Ok(())
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
                let sizes: Vec<u64> = (0..hosts).map(|k| split_range(max, hosts, k).1).collect();
                let (big, small) = (max / hosts + 1, max / hosts);
                let extra = (max % hosts) as usize;
                assert!(sizes[..extra].iter().all(|&s| s == big), "{sizes:?}");
                assert!(sizes[extra..].iter().all(|&s| s == small), "{sizes:?}");
            }
        }
        assert_eq!(split_range(10, 3, 0), (1, 4));
        assert_eq!(split_range(10, 3, 1), (5, 3));
        assert_eq!(split_range(10, 3, 2), (8, 3));
        assert_eq!(split_range(101, 3, 1), (35, 34));
        assert_eq!(split_range(2, 5, 4), (3, 0));
        assert_eq!(split_range(10, 0, 0).1, 0);
        assert_eq!(split_range(10, 3, 3).1, 0);
        // The largest counts do not overflow.
        assert_eq!(split_range(u64::MAX, 1, 0), (1, u64::MAX));
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

    #[test]
    fn a_todo_of_the_whole_plan_is_cut_as_host_share_cuts_it() {
        let plan = vec![spec(7, 10), spec(3, 4), spec(0, 5)];
        for hosts in 1..6u64 {
            for k in 0..hosts {
                assert_eq!(
                    todo_share(&plan, &whole_plan(&plan), hosts, k),
                    host_share(&plan, hosts, k)
                );
            }
        }
        // Pieces of a todo go to the hosts whole or cut, each iteration once.
        let todo = vec![
            Share {
                spec: 0,
                first_iteration: 3,
                iterations: 4,
            },
            Share {
                spec: 1,
                first_iteration: 2,
                iterations: 3,
            },
        ];
        let mut seen: Vec<(usize, u64)> = Vec::new();
        for k in 0..3 {
            for s in todo_share(&plan, &todo, 3, k) {
                seen.extend(
                    (s.first_iteration..s.first_iteration + s.iterations).map(|i| (s.spec, i)),
                );
            }
        }
        seen.sort();
        assert_eq!(
            seen,
            vec![(0, 3), (0, 4), (0, 5), (0, 6), (1, 2), (1, 3), (1, 4)]
        );
    }

    #[test]
    fn saving_as_it_goes_gives_one_runs_values_and_saves_prefixes() {
        let plan = vec![spec(40, 3000)];
        let shares = host_share(&plan, 2, 1);
        let once = run_shares(&plan, &shares, 1, &Control::new()).unwrap();
        let mut saved: Vec<(Vec<Part>, bool)> = Vec::new();
        let mut save = |parts: &[Part], complete: bool| {
            saved.push((parts.to_vec(), complete));
            Ok(())
        };
        let chunked =
            run_shares_saving(&plan, &shares, 1, &Control::new(), 0.0, &mut save).unwrap();
        assert_eq!(
            (
                &chunked[0].counts,
                &chunked[0].values,
                chunked[0].iterations
            ),
            (&once[0].counts, &once[0].values, once[0].iterations)
        );
        // Saved after every chunk (every = 0), each save what followed the
        // last, the last complete; together one run's.
        assert!(saved.len() > 2, "{}", saved.len());
        assert!(saved[..saved.len() - 1].iter().all(|s| !s.1) && saved.last().unwrap().1);
        let pieces: Vec<(String, Part)> = saved
            .into_iter()
            .flat_map(|(parts, _)| parts)
            .enumerate()
            .map(|(k, p)| (format!("save {k}"), p))
            .collect();
        assert_eq!(pieces[0].1.first_iteration, shares[0].first_iteration);
        let merged = crate::result_file::merge(pieces).unwrap();
        assert_eq!(
            (&merged.counts, &merged.values),
            (&once[0].counts, &once[0].values)
        );
    }
}
