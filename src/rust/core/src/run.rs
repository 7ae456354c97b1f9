//! Running iterations: validation, memory checks, threads, cancellation.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::error::SimError;
use crate::pairs::{Method, Scratch, MAX_PEOPLE};
use crate::room::Room;
use crate::stats::{iteration_value, PairCounts};
use crate::sys::{available_cores, available_memory_bytes};

/// More threads than this is certainly a mistake (and would waste memory).
pub const MAX_THREADS: usize = 1024;

/// One run: iterations `first_iteration ..= first_iteration + iterations - 1`.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSpec {
    pub room: Room,
    pub seed: u64,
    /// 1-based number of the first iteration; iteration `i`'s random numbers
    /// depend only on `(seed, i)`.
    pub first_iteration: u64,
    /// How many iterations (at least 1).
    pub iterations: u64,
    /// Worker threads; 0 means all available cores.
    pub threads: usize,
    /// Return every iteration's value (8 bytes per iteration) or only the sums.
    pub keep_values: bool,
}

impl RunSpec {
    /// Checks everything but memory; the error names the offending argument.
    pub fn validate(&self) -> Result<(), SimError> {
        self.room.validate()?;
        if self.first_iteration == 0 {
            return Err(SimError::invalid(
                "first_iteration",
                "must be at least 1 (iterations are numbered from 1)",
            ));
        }
        if self.iterations == 0 {
            return Err(SimError::invalid("iterations", "must be at least 1"));
        }
        if self
            .first_iteration
            .checked_add(self.iterations - 1)
            .is_none()
        {
            return Err(SimError::invalid(
                "iterations",
                format!(
                    "first_iteration + iterations - 1 must not exceed {} (got {} + {} - 1)",
                    u64::MAX,
                    self.first_iteration,
                    self.iterations
                ),
            ));
        }
        if self.threads > MAX_THREADS {
            return Err(SimError::invalid(
                "threads",
                format!(
                    "must be at most {MAX_THREADS} (0 means all cores), not {}",
                    self.threads
                ),
            ));
        }
        Ok(())
    }

    /// The last iteration number (valid after `validate`).
    pub fn last_iteration(&self) -> u64 {
        self.first_iteration
            .saturating_add(self.iterations.saturating_sub(1))
    }
}

/// Shared between the thread that controls a run (e.g. the one polling R for
/// interrupts) and the workers; wrap it in an `Arc`.
#[derive(Debug, Default)]
pub struct Control {
    cancelled: AtomicBool,
    completed: AtomicU64,
}

impl Control {
    pub fn new() -> Control {
        Control::default()
    }

    /// Asks the run to stop; it returns `Err(SimError::Cancelled)` soon
    /// (between iterations, or within about 0.1 ms of work inside one).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Iterations finished so far (for progress reports).
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }

    fn finish_one(&self) {
        self.completed.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a run produces.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOutput {
    /// Per-iteration values in iteration order, when `keep_values`.
    pub values: Option<Vec<f64>>,
    pub counts: PairCounts,
    pub elapsed_seconds: f64,
    pub threads_used: usize,
}

/// How the threads of a run share its work. Either way each iteration's
/// count is the same integer, so results do not depend on the choice.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sharing {
    /// Each thread counts whole iterations.
    Iterations,
    /// The threads count each iteration together, each a contiguous run of
    /// its regions (rooms cut into regions, see `linked.rs`).
    Regions,
}

/// Rooms cut into regions share out regions rather than iterations when
/// there are fewer iterations than this per thread: whole iterations would
/// leave threads idle at the end for up to an iteration, while a run of
/// regions costs only one extra region drawn (for its ghosts) per thread.
const ITERATIONS_PER_THREAD: u64 = 4;

/// ... and when an iteration has at least this many regions (about two
/// million people, 8 ms of work): on this project's VM, smaller iterations
/// took no less time on two threads than on one (starting a thread, waking
/// an idle core and warming the thread's buffers cost milliseconds).
const MIN_REGIONS_TO_SHARE: usize = 128;

/// What `set_up` decides for a run.
#[derive(Clone, Copy, Debug, PartialEq)]
struct RunSetup {
    threads: usize,
    sharing: Sharing,
    /// Regions of an iteration (1 unless the room is cut into regions).
    regions: usize,
    /// How every worker counts close pairs.
    method: Method,
}

/// Decides the number of threads and how they share the work, and checks
/// that the run fits in memory before anything is allocated.
fn set_up(spec: &RunSpec) -> Result<RunSetup, SimError> {
    let requested = if spec.threads == 0 {
        available_cores()
    } else {
        spec.threads
    }
    .max(1);
    // The counting method, chosen here once for the whole run.
    let method = Method::for_room(&spec.room);
    let regions = method.regions();
    let (sharing, units) = if regions >= MIN_REGIONS_TO_SHARE
        && spec.iterations < ITERATIONS_PER_THREAD * requested as u64
    {
        (Sharing::Regions, regions as u64)
    } else {
        (Sharing::Iterations, spec.iterations)
    };
    let mut threads = requested.min(usize::try_from(units).unwrap_or(usize::MAX));
    let scratch = method.scratch_bytes(&spec.room) as u128;
    let values = if spec.keep_values {
        spec.iterations as u128 * 8
    } else {
        0
    };
    let available = available_memory_bytes();
    let too_large = SimError::too_large;
    if spec.room.num_people > MAX_PEOPLE {
        // A limit of the method (people are indexed by u32), not of memory.
        return Err(SimError::invalid(
            "num_people",
            format!(
                "a room holds at most {MAX_PEOPLE} people (2^32 - 1), not {}",
                spec.room.num_people
            ),
        ));
    }
    if values > usize::MAX as u128 / 2 {
        return Err(too_large("max_iterations", values));
    }
    if let Some(avail) = available.map(u128::from) {
        if values > avail {
            return Err(too_large("max_iterations", values));
        }
        if scratch + values > avail {
            return Err(too_large("num_people", scratch + values));
        }
        if threads as u128 * scratch + values > avail {
            if spec.threads == 0 {
                // "All cores" means as many as fit in memory.
                threads = ((avail - values) / scratch.max(1)).max(1) as usize;
            } else {
                return Err(too_large("num_people", threads as u128 * scratch + values));
            }
        }
    }
    Ok(RunSetup {
        threads,
        sharing,
        regions,
        method,
    })
}

/// Runs the simulation. Never panics on bad input: every problem is an error
/// naming the argument. Results are bit-identical for any number of threads
/// and any split of the iteration range.
pub fn run(spec: &RunSpec, control: &Control) -> Result<RunOutput, SimError> {
    let start = Instant::now();
    spec.validate()?;
    let setup = set_up(spec)?;
    if control.is_cancelled() {
        return Err(SimError::Cancelled);
    }
    let mut values = Vec::new();
    if spec.keep_values {
        let n = spec.iterations as usize; // fits: checked by set_up
        values
            .try_reserve_exact(n)
            .map_err(|_| SimError::too_large("max_iterations", spec.iterations as u128 * 8))?;
        values.resize(n, 0.0);
    }
    let (counts, threads_used) = match setup.sharing {
        _ if setup.threads == 1 => {
            let stop = || control.is_cancelled();
            let mut scratch = Scratch::with_method(&spec.room, setup.method, &stop)?
                .ok_or(SimError::Cancelled)?;
            let range = (spec.first_iteration, spec.iterations);
            let counts = run_range(spec, &mut scratch, range, &mut values, control, &stop);
            if counts.is_err() {
                scratch.release_in_background();
            }
            (counts?, 1)
        }
        Sharing::Iterations => run_parallel(spec, &setup, &mut values, control)?,
        Sharing::Regions => run_regions(spec, &setup, &mut values, control)?,
    };
    Ok(RunOutput {
        values: spec.keep_values.then_some(values),
        counts,
        elapsed_seconds: start.elapsed().as_secs_f64(),
        threads_used,
    })
}

/// Runs iterations `first .. first + count` with `scratch`, writing their
/// values into `values` (empty when values are not kept).
fn run_range(
    spec: &RunSpec,
    scratch: &mut Scratch,
    (first, count): (u64, u64),
    values: &mut [f64],
    control: &Control,
    stop: &impl Fn() -> bool,
) -> Result<PairCounts, SimError> {
    let n = spec.room.num_people;
    let mut counts = PairCounts::default();
    for k in 0..count {
        if stop() {
            return Err(SimError::Cancelled);
        }
        let pairs = scratch
            .count_pairs(spec.seed, first + k, stop)
            .ok_or(SimError::Cancelled)?;
        counts.add(pairs)?;
        if let Some(slot) = values.get_mut(k as usize) {
            *slot = iteration_value(pairs, n);
        }
        control.finish_one();
    }
    Ok(counts)
}

/// The part of the iteration range not yet claimed by a worker, with the
/// matching (disjoint) part of the values vector.
struct Queue<'a> {
    next: u64,
    remaining: u64,
    values: &'a mut [f64],
}

impl<'a> Queue<'a> {
    /// Guided self-scheduling: a quarter of a fair share of what is left, so
    /// chunks are large at first (little locking) and single iterations at
    /// the end (balanced finish).
    fn claim(&mut self, workers: usize) -> Option<(u64, u64, &'a mut [f64])> {
        if self.remaining == 0 {
            return None;
        }
        let count = (self.remaining / (4 * workers as u64)).max(1);
        let first = self.next;
        self.next += count;
        self.remaining -= count;
        let values = std::mem::take(&mut self.values);
        let split = (count as usize).min(values.len());
        let (mine, rest) = values.split_at_mut(split);
        self.values = rest;
        Some((first, count, mine))
    }
}

/// One worker of a parallel run: claims chunks until none are left.
fn work_queue(
    spec: &RunSpec,
    scratch: &mut Scratch,
    queue: &Mutex<Queue<'_>>,
    workers: usize,
    control: &Control,
    stop: &impl Fn() -> bool,
) -> Result<PairCounts, SimError> {
    let mut total = PairCounts::default();
    loop {
        // A poisoned lock means another worker panicked (its panic is
        // re-raised by `run_parallel`); just stop.
        let claimed = queue
            .lock()
            .map_err(|_| SimError::Cancelled)?
            .claim(workers);
        let Some((first, count, values)) = claimed else {
            return Ok(total);
        };
        total = total.merge(run_range(
            spec,
            scratch,
            (first, count),
            values,
            control,
            stop,
        )?)?;
    }
}

fn run_parallel(
    spec: &RunSpec,
    setup: &RunSetup,
    values: &mut [f64],
    control: &Control,
) -> Result<(PairCounts, usize), SimError> {
    let threads = setup.threads;
    // Set when a worker fails, so that the others stop too.
    let abort = AtomicBool::new(false);
    let stop = || control.is_cancelled() || abort.load(Ordering::Relaxed);
    let queue = Mutex::new(Queue {
        next: spec.first_iteration,
        remaining: spec.iterations,
        values,
    });
    let worker = || -> Result<PairCounts, SimError> {
        let result = match Scratch::with_method(&spec.room, setup.method, &stop) {
            Ok(Some(mut scratch)) => {
                let result = work_queue(spec, &mut scratch, &queue, threads, control, &stop);
                if result.is_err() {
                    scratch.release_in_background();
                }
                result
            }
            Ok(None) => Err(SimError::Cancelled),
            Err(e) => Err(e),
        };
        if result.is_err() {
            abort.store(true, Ordering::Relaxed);
        }
        result
    };
    let mut results = Vec::with_capacity(threads);
    std::thread::scope(|s| {
        let mut handles = Vec::with_capacity(threads - 1);
        for k in 1..threads {
            match std::thread::Builder::new()
                .name(format!("sagesim-worker-{k}"))
                .spawn_scoped(s, worker)
            {
                Ok(h) => handles.push(h),
                // Could not create a thread: carry on with those we have.
                Err(_) => break,
            }
        }
        // The calling thread works too.
        results.push(worker());
        for h in handles {
            match h.join() {
                Ok(r) => results.push(r),
                // A bug, not bad input: hand the panic to the caller (the R
                // glue turns panics into R errors).
                Err(payload) => std::panic::resume_unwind(payload),
            }
        }
    });
    if control.is_cancelled() {
        return Err(SimError::Cancelled);
    }
    let workers = results.len();
    let mut total = PairCounts::default();
    let mut cancelled = false;
    for r in results {
        match r {
            Ok(c) => total = total.merge(c)?,
            // Workers stopped because another one failed: report that failure.
            Err(SimError::Cancelled) => cancelled = true,
            Err(e) => return Err(e),
        }
    }
    if cancelled {
        return Err(SimError::Cancelled);
    }
    Ok((total, workers))
}

/// Parts an iteration's regions are cut into for threads to take in turn:
/// about `PARTS_PER_THREAD` per thread, so that a thread that starts late or
/// is held up by another process leaves its share to the others, but at
/// least `REGIONS_PER_PART` regions each, as each part first draws the
/// region before it again (for its ghosts).
const PARTS_PER_THREAD: usize = 8;
const REGIONS_PER_PART: usize = 4;

/// Runs every iteration on all `setup.threads` threads at once, taking
/// contiguous runs of its regions in turn (buffers of a room cut into
/// regions are small, so every thread has its own).
fn run_regions(
    spec: &RunSpec,
    setup: &RunSetup,
    values: &mut [f64],
    control: &Control,
) -> Result<(PairCounts, usize), SimError> {
    // Set when a part fails, so that the others stop too.
    let abort = AtomicBool::new(false);
    let stop = || control.is_cancelled() || abort.load(Ordering::Relaxed);
    let mut scratches = Vec::with_capacity(setup.threads);
    for _ in 0..setup.threads {
        scratches.push(
            Scratch::with_method(&spec.room, setup.method, &stop)?.ok_or(SimError::Cancelled)?,
        );
    }
    let parts = (setup.regions / REGIONS_PER_PART)
        .min(PARTS_PER_THREAD * setup.threads)
        .max(setup.threads);
    let part = |k: usize| k * setup.regions / parts..(k + 1) * setup.regions / parts;
    let (n, seed) = (spec.room.num_people, spec.seed);
    let mut draw_counts = Vec::new();
    let mut counts = PairCounts::default();
    // Threads that really ran (fewer if some could not be started).
    let mut threads_used = 1;
    for k in 0..spec.iterations {
        if stop() {
            return Err(SimError::Cancelled);
        }
        let iteration = spec.first_iteration + k;
        scratches[0].draw_counts(seed, iteration, &mut draw_counts);
        let draw_counts = &draw_counts[..];
        let next_part = AtomicUsize::new(0);
        // Parts in turn until none is left; the sum of their counts, in any
        // order, is the iteration's.
        let work = |scratch: &mut Scratch| -> Option<u64> {
            let mut pairs = 0u64;
            loop {
                let k = next_part.fetch_add(1, Ordering::Relaxed);
                if k >= parts {
                    return Some(pairs);
                }
                match scratch.count_regions(seed, iteration, draw_counts, part(k), &stop) {
                    Some(p) => pairs += p,
                    None => {
                        abort.store(true, Ordering::Relaxed);
                        return None;
                    }
                }
            }
        };
        let mut pairs = Some(0u64);
        std::thread::scope(|s| {
            let (mine, theirs) = scratches.split_at_mut(1);
            // A thread that cannot be started leaves its parts to the others.
            let handles: Vec<_> = theirs
                .iter_mut()
                .map_while(|scratch| {
                    std::thread::Builder::new()
                        .name("sagesim-region".into())
                        .spawn_scoped(s, move || work(scratch))
                        .ok()
                })
                .collect();
            threads_used = threads_used.max(1 + handles.len());
            let mut add = |p: Option<u64>| pairs = pairs.zip(p).map(|(a, b)| a + b);
            add(work(&mut mine[0]));
            for h in handles {
                match h.join() {
                    Ok(p) => add(p),
                    // A bug, not bad input: hand the panic to the caller.
                    Err(payload) => std::panic::resume_unwind(payload),
                }
            }
        });
        let pairs = pairs.ok_or(SimError::Cancelled)?;
        counts.add(pairs)?;
        if let Some(slot) = values.get_mut(k as usize) {
            *slot = iteration_value(pairs, n);
        }
        control.finish_one();
    }
    Ok((counts, threads_used))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{brute_force_pairs, room};
    use crate::{expected_violations, iteration_value};
    use std::sync::Arc;
    use std::time::Duration;

    fn spec(room: Room, first: u64, iterations: u64, threads: usize) -> RunSpec {
        RunSpec {
            room,
            seed: 20240607,
            first_iteration: first,
            iterations,
            threads,
            keep_values: true,
        }
    }

    fn go(s: &RunSpec) -> RunOutput {
        run(s, &Control::new()).unwrap()
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn values_are_the_brute_force_counts() {
        let r = room(40.0, 25.0, 300, 1.5);
        let out = go(&spec(r.clone(), 5, 20, 2));
        let values = out.values.unwrap();
        let mut counts = PairCounts::default();
        for (k, v) in values.iter().enumerate() {
            let pairs = brute_force_pairs(&r, 20240607, 5 + k as u64);
            assert_eq!(*v, iteration_value(pairs, 300));
            counts.add(pairs).unwrap();
        }
        assert_eq!(out.counts, counts);
    }

    #[test]
    fn results_do_not_depend_on_threads_or_splits() {
        let r = room(1000.0, 1000.0, 1000, 6.0);
        let whole = go(&spec(r.clone(), 1, 1000, 1));
        let whole_values = whole.values.clone().unwrap();
        assert_eq!(whole_values.len(), 1000);
        for threads in [2, 3, 8, 0] {
            let out = go(&spec(r.clone(), 1, 1000, threads));
            assert_eq!(
                bits(out.values.as_ref().unwrap()),
                bits(&whole_values),
                "threads = {threads}"
            );
            assert_eq!(out.counts, whole.counts);
            assert!(out.threads_used >= 1);
        }
        // Split 1..400 and 401..1000.
        let a = go(&spec(r.clone(), 1, 400, 2));
        let b = go(&spec(r.clone(), 401, 600, 1));
        let mut joined = a.values.clone().unwrap();
        joined.extend(b.values.clone().unwrap());
        assert_eq!(bits(&joined), bits(&whole_values));
        assert_eq!(a.counts.merge(b.counts).unwrap(), whole.counts);
        assert_eq!(b.counts.merge(a.counts).unwrap(), whole.counts);
        // Without values the counts are the same.
        let mut s = spec(r, 1, 1000, 2);
        s.keep_values = false;
        let out = go(&s);
        assert_eq!(out.values, None);
        assert_eq!(out.counts, whole.counts);
        // A different seed gives different results.
        s.seed += 1;
        assert_ne!(go(&s).counts, whole.counts);
    }

    #[test]
    fn threads_share_the_regions_of_few_iterations() {
        // Two million people: cut into regions. With fewer than 4 iterations
        // per thread, threads count each iteration together; the values are
        // those of one thread, and of threads taking whole iterations.
        let r = room(44721.35954999579, 44721.35954999579, 2_000_000, 6.0);
        let one = go(&spec(r.clone(), 7, 3, 1));
        for threads in [2, 3, 8] {
            let out = go(&spec(r.clone(), 7, 3, threads));
            assert_eq!(out.values, one.values, "threads {threads}");
            assert_eq!(out.counts, one.counts);
            assert_eq!(out.threads_used, threads);
            let setup = set_up(&spec(r.clone(), 7, 3, threads)).unwrap();
            assert_eq!(setup.sharing, Sharing::Regions);
        }
        let many = go(&spec(r.clone(), 7, 16, 2));
        assert_eq!(
            set_up(&spec(r.clone(), 7, 16, 2)).unwrap().sharing,
            Sharing::Iterations
        );
        assert_eq!(many.values.unwrap()[..3], one.values.unwrap()[..]);
        // Rooms of one region, or of few, share iterations, at most one
        // each.
        for small in [
            room(1000.0, 1000.0, 1000, 6.0),
            room(31622.776601683792, 31622.776601683792, 1_000_000, 6.0),
        ] {
            let s = spec(small, 1, 1, 8);
            assert_eq!(set_up(&s).unwrap().sharing, Sharing::Iterations);
            assert_eq!(set_up(&s).unwrap().threads, 1);
        }
    }

    /// Runs `s`, cancelled after 300 ms from another thread: the result,
    /// the iterations completed, and how long `run` took to return after the
    /// cancel.
    fn cancelled_after_300_ms(s: &RunSpec) -> (Result<RunOutput, SimError>, u64, Duration) {
        let control = Arc::new(Control::new());
        let c2 = Arc::clone(&control);
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            c2.cancel();
            Instant::now()
        });
        let result = run(s, &control);
        let returned = Instant::now();
        let cancelled_at = canceller.join().unwrap();
        (
            result,
            control.completed(),
            returned.duration_since(cancelled_at),
        )
    }

    #[test]
    fn cancelling_while_threads_share_an_iteration() {
        let s = spec(room(632_456.0, 632_456.0, 200_000_000, 6.0), 1, 1, 2);
        assert_eq!(set_up(&s).unwrap().sharing, Sharing::Regions);
        let (result, completed, latency) = cancelled_after_300_ms(&s);
        assert_eq!(result, Err(SimError::Cancelled));
        assert_eq!(completed, 0);
        assert!(latency < Duration::from_millis(500));
    }

    #[test]
    fn never_more_threads_than_iterations() {
        let out = go(&spec(room(10.0, 10.0, 50, 1.0), 1, 1, 8));
        assert_eq!(out.threads_used, 1);
        let out = go(&spec(room(10.0, 10.0, 50, 1.0), 1, 3, 8));
        assert!(out.threads_used <= 3);
    }

    #[test]
    fn progress_counts_every_iteration() {
        let control = Control::new();
        let out = run(&spec(room(10.0, 10.0, 50, 1.0), 1, 250, 2), &control).unwrap();
        assert_eq!(control.completed(), 250);
        assert_eq!(out.counts.iterations, 250);
    }

    /// Mean of many iterations within 5 standard errors of the exact
    /// expectation, including distances beyond one or both sides.
    #[test]
    fn mean_agrees_with_the_exact_expectation() {
        let cases = [
            (room(1000.0, 1000.0, 1000, 6.0), 4000),
            (room(10.0, 10.0, 100, 3.0), 4000),
            (room(10.0, 10.0, 60, 12.0), 4000),  // d > both sides
            (room(100.0, 5.0, 200, 20.0), 4000), // d > one side
            (room(1e5, 1e-2, 500, 300.0), 4000), // thin
            (room(7.0, 3.0, 2, 2.0), 20000),     // two people
            (room(1e-3, 2e-3, 400, 1e-5), 4000), // small lengths
        ];
        for (r, iterations) in cases {
            let mut s = spec(r.clone(), 1, iterations, 0);
            s.keep_values = false;
            let sum = go(&s).counts.summary(r.num_people);
            let expected = expected_violations(&r);
            assert!(sum.se > 0.0);
            let z = (sum.mean - expected) / sum.se;
            assert!(
                z.abs() < 5.0,
                "{r:?}: mean {} expected {expected} se {} (z = {z})",
                sum.mean,
                sum.se
            );
        }
        // Beyond the diagonal every pair is close: exactly n - 1 per person.
        let r = room(3.0, 4.0, 30, 5.1);
        let sum = go(&spec(r, 1, 10, 1)).counts.summary(30);
        assert_eq!((sum.mean, sum.sd), (29.0, 0.0));
        // Nobody, or one person: no violations.
        for n in [0, 1] {
            let out = go(&spec(room(3.0, 4.0, n, 5.0), 1, 10, 2));
            assert!(out.values.unwrap().iter().all(|&v| v == 0.0));
            assert_eq!(out.counts.summary(n).mean, 0.0);
        }
    }

    #[test]
    fn invalid_arguments_are_named() {
        let good = spec(room(10.0, 10.0, 10, 1.0), 1, 10, 1);
        let arg_of = |s: &RunSpec| match run(s, &Control::new()) {
            Err(SimError::InvalidArgument { argument, reason }) => {
                assert!(!reason.is_empty());
                argument
            }
            other => panic!("expected InvalidArgument, got {other:?}"),
        };
        for bad in [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -1.0,
            0.0,
            -0.0,
            1e200,
            1e-200,
        ] {
            let mut s = good.clone();
            s.room.x_length = bad;
            assert_eq!(arg_of(&s), "x_length");
            let mut s = good.clone();
            s.room.y_length = bad;
            assert_eq!(arg_of(&s), "y_length");
            let mut s = good.clone();
            s.room.distance = bad;
            assert_eq!(arg_of(&s), "distance");
        }
        let mut s = good.clone();
        s.iterations = 0;
        assert_eq!(arg_of(&s), "iterations");
        let mut s = good.clone();
        s.first_iteration = 0;
        assert_eq!(arg_of(&s), "first_iteration");
        let mut s = good.clone();
        s.first_iteration = u64::MAX;
        s.iterations = 2;
        assert_eq!(arg_of(&s), "iterations");
        let mut s = good.clone();
        s.threads = MAX_THREADS + 1;
        assert_eq!(arg_of(&s), "threads");
        // The last possible iteration number is fine.
        let mut s = good.clone();
        s.first_iteration = u64::MAX;
        s.iterations = 1;
        assert_eq!(go(&s).counts.iterations, 1);
        // Messages name the argument.
        let mut s = good;
        s.room.distance = f64::NAN;
        let msg = run(&s, &Control::new()).unwrap_err().to_string();
        assert!(msg.contains("distance") && msg.contains("NaN"), "{msg}");
    }

    #[test]
    fn absurd_sizes_are_too_large_without_allocating() {
        // Beyond 2^32 - 1 people, the limit is said as such (not as memory).
        let mut s = spec(room(1000.0, 1000.0, MAX_PEOPLE + 1, 6.0), 1, 1, 1);
        for people in [MAX_PEOPLE + 1, 1_000_000_000_000_000, u64::MAX] {
            s.room.num_people = people;
            match run(&s, &Control::new()) {
                Err(
                    e @ SimError::InvalidArgument {
                        argument: "num_people",
                        ..
                    },
                ) => assert!(e.to_string().contains("at most 4294967295 people"), "{e}"),
                other => panic!("{other:?}"),
            }
        }
        // Keeping 2^60 values (8 EiB) cannot fit.
        let mut s = spec(room(10.0, 10.0, 10, 1.0), 1, 1 << 60, 1);
        assert!(matches!(
            run(&s, &Control::new()),
            Err(SimError::TooLarge {
                argument: "max_iterations",
                ..
            })
        ));
        // Without values, memory does not depend on the number of iterations
        // (cancelled straight away so the test is quick).
        s.keep_values = false;
        let control = Control::new();
        control.cancel();
        assert!(matches!(run(&s, &control), Err(SimError::Cancelled)));
        if let Some(avail) = crate::available_memory_bytes() {
            // Room for one worker but not for many: explicit threads are an
            // error, "all cores" uses fewer threads. (A crowded room: rooms
            // cut into regions need little memory per worker.)
            let people = avail / 36 * 2 / 3;
            let mut s = spec(room(1e3, 1e3, people, 1.0), 1, 8, 8);
            s.keep_values = false;
            if crate::scratch_bytes(&s.room) < avail && crate::scratch_bytes(&s.room) * 2 > avail {
                assert!(matches!(
                    set_up(&s),
                    Err(SimError::TooLarge {
                        argument: "num_people",
                        ..
                    })
                ));
                s.threads = 0;
                assert_eq!(set_up(&s).unwrap().threads, 1);
            }
        }
    }

    #[test]
    fn cancelling_between_iterations() {
        let control = Arc::new(Control::new());
        let mut s = spec(room(1000.0, 1000.0, 1000, 6.0), 1, u64::MAX / 2, 2);
        s.keep_values = false;
        let c2 = Arc::clone(&control);
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            c2.cancel();
        });
        let t = Instant::now();
        assert_eq!(run(&s, &control), Err(SimError::Cancelled));
        assert!(t.elapsed() < Duration::from_secs(10));
        assert!(control.completed() > 0);
        canceller.join().unwrap();
    }

    #[test]
    fn cancelling_inside_a_huge_iteration() {
        // One iteration of 200 million people (a few seconds of work) and
        // one dense iteration of 200,000 people in a single cell (2e10
        // comparisons, tens of seconds): both stop soon after the cancel.
        for r in [
            room(632_456.0, 632_456.0, 200_000_000, 6.0),
            room(1.0, 1.0, 200_000, 2.0),
        ] {
            let (result, completed, latency) = cancelled_after_300_ms(&spec(r, 1, 1, 1));
            assert_eq!(result, Err(SimError::Cancelled));
            assert_eq!(completed, 0);
            assert!(latency < Duration::from_secs(2));
        }
    }

    #[test]
    fn control_reports_cancellation() {
        let c = Control::new();
        assert!(!c.is_cancelled());
        c.cancel();
        assert!(c.is_cancelled());
        assert_eq!(
            run(&spec(room(1.0, 1.0, 5, 0.5), 1, 5, 1), &c),
            Err(SimError::Cancelled)
        );
    }
}
