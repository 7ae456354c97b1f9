//! Throughput, scaling, memory and cancel latency of the core.
//!
//! cargo run --release -p sagesim-core --example throughput            # everything
//! cargo run --release -p sagesim-core --example throughput -- reference [ITERATIONS]
//! cargo run --release -p sagesim-core --example throughput -- scale [REPEATS]
//! cargo run --release -p sagesim-core --example throughput -- iteration [PEOPLE] [REPEATS]
//! cargo run --release -p sagesim-core --example throughput -- big PEOPLE SIDE
//! cargo run --release -p sagesim-core --example throughput -- cancel PEOPLE SIDE AFTER_MS
//!
//! Peak RSS (VmHWM) is per process, so each large case runs in a child
//! process of its own.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sagesim_core::{expected_violations, run, scratch_bytes, Control, Room, RunSpec};

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU time of the calling thread in seconds (Linux), unaffected by other
/// processes competing for the cores.
fn thread_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-9)
}

fn spec(room: Room, iterations: u64, threads: usize) -> RunSpec {
    RunSpec {
        room,
        seed: 1,
        first_iteration: 1,
        iterations,
        threads,
        keep_values: false,
    }
}

/// How fast this machine is right now: ns per random number (SplitMix64 output) (about 1
/// ns on an idle modern x86 core), to put the other numbers in context on a
/// shared machine.
fn calibrate() -> f64 {
    let mut rng = sagesim_core::rng::SplitMix64::for_iteration(1, 1);
    let n = 50_000_000u64;
    let cpu = thread_cpu_seconds().unwrap_or(0.0);
    let mut acc = 0u64;
    for _ in 0..n {
        acc ^= rng.next_u64();
    }
    std::hint::black_box(acc);
    (thread_cpu_seconds().unwrap_or(f64::NAN) - cpu) * 1e9 / n as f64
}

fn reference(iterations: u64) {
    println!(
        "calibration: {:.2} ns (thread CPU time) per random number (SplitMix64 output)",
        calibrate()
    );
    let room = Room {
        x_length: 1000.0,
        y_length: 1000.0,
        num_people: 1000,
        distance: 6.0,
    };
    println!(
        "reference workload: 1000 x 1000 room, 1000 people, distance 6, {iterations} iterations"
    );
    // Warm up (page faults, CPU frequency).
    run(&spec(room.clone(), iterations / 10 + 1, 1), &Control::new()).unwrap();
    let mut single = f64::NAN;
    for threads in [1usize, 2] {
        // Best of 5 to reduce noise from other processes.
        let mut best = f64::INFINITY;
        let mut best_cpu = f64::INFINITY;
        let mut last = None;
        for _ in 0..5 {
            let cpu = thread_cpu_seconds();
            let out = run(&spec(room.clone(), iterations, threads), &Control::new()).unwrap();
            if let (Some(a), Some(b)) = (cpu, thread_cpu_seconds()) {
                best_cpu = best_cpu.min(b - a);
            }
            best = best.min(out.elapsed_seconds);
            last = Some(out);
        }
        if threads == 1 {
            println!(
                "  threads 1: CPU time of the calling thread {:.3} s, {:.2} ns/person-iteration",
                best_cpu,
                best_cpu * 1e9 / (iterations as f64 * 1000.0)
            );
        }
        let out = last.unwrap();
        let ns = best * 1e9 / (iterations as f64 * 1000.0);
        if threads == 1 {
            single = best;
        }
        let s = out.counts.summary(1000);
        println!(
            "  threads {} (used {}): {:.3} s, {:.2} ns/person-iteration, speedup {:.2}x, mean {:.5} (expected {:.5}, se {:.5})",
            threads,
            out.threads_used,
            best,
            ns,
            single / best,
            s.mean,
            expected_violations(&room),
            s.se
        );
    }
}

/// The reference density: one person per 1,000 square units, distance 6.
fn room_at_reference_density(people: u64) -> Room {
    let side = (people as f64 * 1000.0).sqrt();
    Room {
        x_length: side,
        y_length: side,
        num_people: people,
        distance: 6.0,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Cost per person-iteration at the reference density for growing rooms,
/// on 1 and 2 threads (flat means linear in num_people): medians of
/// `repeats` runs of about 2e7 person-iterations, 1 and 2 threads
/// alternating so that both see the same machine.
fn scale(repeats: usize) {
    println!("ns per person-iteration at the reference density (target <= 10 on 1 thread):");
    println!("     people  iterations  1 thread (CPU)  1 thread  2 threads  speed-up");
    for people in [1_000u64, 10_000, 100_000, 1_000_000, 10_000_000] {
        let room = room_at_reference_density(people);
        let iterations = (20_000_000 / people).max(2);
        let per = |seconds: f64| seconds * 1e9 / (people * iterations) as f64;
        run(&spec(room.clone(), 1, 1), &Control::new()).unwrap(); // warm up
        let (mut cpu, mut one, mut two) = (vec![], vec![], vec![]);
        for _ in 0..repeats {
            let before = thread_cpu_seconds().unwrap_or(f64::NAN);
            let out = run(&spec(room.clone(), iterations, 1), &Control::new()).unwrap();
            cpu.push(per(thread_cpu_seconds().unwrap_or(f64::NAN) - before));
            one.push(per(out.elapsed_seconds));
            let out = run(&spec(room.clone(), iterations, 2), &Control::new()).unwrap();
            two.push(per(out.elapsed_seconds));
        }
        let (cpu, one, two) = (median(cpu), median(one), median(two));
        println!(
            "  {people:>9}  {iterations:>10}  {cpu:>14.2}  {one:>8.2}  {two:>9.2}  {:>7.2}x",
            one / two
        );
    }
}

/// One iteration of `people` at the reference density on 1 and 2 threads
/// (target: 2 threads at least 1.8 times as fast).
fn one_iteration(people: u64, repeats: usize) {
    let room = room_at_reference_density(people);
    let (mut one, mut two, mut used) = (vec![], vec![], 0);
    for _ in 0..repeats {
        one.push(
            run(&spec(room.clone(), 1, 1), &Control::new())
                .unwrap()
                .elapsed_seconds,
        );
        let out = run(&spec(room.clone(), 1, 2), &Control::new()).unwrap();
        used = out.threads_used;
        two.push(out.elapsed_seconds);
    }
    let (one, two) = (median(one), median(two));
    println!(
        "one iteration of {people} people: 1 thread {one:.3} s, 2 threads (used {used}) {two:.3} s, speed-up {:.2}x (target >= 1.8x)",
        one / two
    );
}

fn big(people: u64, side: f64) {
    let room = Room {
        x_length: side,
        y_length: side,
        num_people: people,
        distance: 6.0,
    };
    let out = run(&spec(room.clone(), 1, 1), &Control::new()).unwrap();
    println!(
        "{people} people in a {side} x {side} room, 1 iteration: {:.2} s ({:.1} ns/person), value {:.5} (expected {:.5}), \
         scratch {:.0} MiB, peak RSS {:.0} MiB",
        out.elapsed_seconds,
        out.elapsed_seconds * 1e9 / people as f64,
        out.counts.summary(people).mean,
        expected_violations(&room),
        scratch_bytes(&room) as f64 / 1048576.0,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}

fn cancel(people: u64, side: f64, after_ms: u64) {
    let room = Room {
        x_length: side,
        y_length: side,
        num_people: people,
        distance: 6.0,
    };
    let control = Arc::new(Control::new());
    let c2 = Arc::clone(&control);
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(after_ms));
        c2.cancel();
        Instant::now()
    });
    let result = run(&spec(room, 1, 1), &control);
    let returned = Instant::now();
    let cancelled_at = canceller.join().unwrap();
    println!(
        "{people} people in a {side} x {side} room, cancelled after {:.1} s: {:?}, returned {:.1} ms after cancel(), peak RSS {:.0} MiB",
        after_ms as f64 / 1e3,
        result.map(|_| ()),
        returned.duration_since(cancelled_at).as_secs_f64() * 1e3,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}

fn child(args: &[&str]) {
    let exe = std::env::current_exe().unwrap();
    let status = Command::new(exe).args(args).status().unwrap();
    assert!(status.success());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: f64| args.get(i).map_or(default, |s| s.parse::<f64>().unwrap());
    match args.first().map(String::as_str) {
        Some("reference") => reference(num(1, 10_000.0) as u64),
        Some("scale") => scale(num(1, 5.0) as usize),
        Some("iteration") => one_iteration(num(1, 1e7) as u64, num(2, 3.0) as usize),
        Some("big") => big(num(1, 1e7) as u64, num(2, 1e5)),
        Some("cancel") => cancel(num(1, 1e9) as u64, num(2, 1e6), num(3, 300.0) as u64),
        None => {
            child(&["reference", "10000"]);
            child(&["scale", "5"]);
            child(&["iteration", "10000000", "3"]);
            // Peak memory at the reference density, and in a dense room.
            child(&["big", "10000000", "100000"]);
            child(&["big", "100000000", "316228"]);
            child(&["big", "10000000", "1000"]);
            // Early and late in an iteration of 1e9 people (seconds of
            // work), and in a dense room.
            child(&["cancel", "1000000000", "1000000", "300"]);
            child(&["cancel", "1000000000", "1000000", "2000"]);
            child(&["cancel", "1000000", "1", "1500"]);
        }
        Some(other) => eprintln!("unknown mode {other}"),
    }
}
