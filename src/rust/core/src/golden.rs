//! Pinned results. The pair counts below were computed by the engine when
//! each row was written, and every code path it can take must reproduce
//! them: each pass-1 variant the CPU has, the automatic choice, one thread
//! and two. They are what makes a run repeat exactly on a laptop, in CI and
//! on a SageMaker host, and from one version to the next: a change here is
//! a change of the results users get, to be named in NEWS.

use crate::linked::Pass1;
use crate::pairs::{Method, Scratch};
use crate::test_util::never;
use crate::{iteration_value, run, Control, PairCounts, Room, RunSpec};

/// Iterations per row, from `first_iteration`.
const ITERATIONS: u64 = 20;

struct Golden {
    case: &'static str,
    /// `x_length, y_length, num_people, distance`.
    room: (f64, f64, u64, f64),
    seed: u64,
    first_iteration: u64,
    /// Pair counts of the first five iterations.
    first_pairs: [u64; 5],
    sum_pairs: u128,
    sum_pairs_squared: u128,
    /// `summary(num_people).mean` as bits.
    mean_bits: u64,
}

const TABLE: &[Golden] = &[
    Golden {
        case: "reference workload",
        room: (1000.0, 1000.0, 1000, 6.0),
        seed: 1,
        first_iteration: 1,
        first_pairs: [57, 49, 67, 58, 46],
        sum_pairs: 1107,
        sum_pairs_squared: 62089,
        mean_bits: 0x3fbc56d5cfaacd9f,
    },
    Golden {
        case: "seed 2^53, the largest R passes exactly",
        room: (1000.0, 1000.0, 1000, 6.0),
        seed: 9007199254740992,
        first_iteration: 1,
        first_pairs: [52, 53, 60, 56, 53],
        sum_pairs: 1127,
        sum_pairs_squared: 64031,
        mean_bits: 0x3fbcd9e83e425aee,
    },
    Golden {
        case: "seed 2^31 - 1",
        room: (1000.0, 1000.0, 1000, 6.0),
        seed: 2147483647,
        first_iteration: 1,
        first_pairs: [61, 50, 58, 71, 56],
        sum_pairs: 1175,
        sum_pairs_squared: 70023,
        mean_bits: 0x3fbe147ae147ae14,
    },
    Golden {
        case: "late iterations",
        room: (1000.0, 1000.0, 1000, 6.0),
        seed: 42,
        first_iteration: 999999999981,
        first_pairs: [75, 68, 62, 51, 60],
        sum_pairs: 1209,
        sum_pairs_squared: 74397,
        mean_bits: 0x3fbef34d6a161e4f,
    },
    Golden {
        case: "one person",
        room: (10.0, 10.0, 1, 1.0),
        seed: 1,
        first_iteration: 1,
        first_pairs: [0, 0, 0, 0, 0],
        sum_pairs: 0,
        sum_pairs_squared: 0,
        mean_bits: 0x0000000000000000,
    },
    Golden {
        case: "nobody",
        room: (10.0, 10.0, 0, 1.0),
        seed: 1,
        first_iteration: 1,
        first_pairs: [0, 0, 0, 0, 0],
        sum_pairs: 0,
        sum_pairs_squared: 0,
        mean_bits: 0x0000000000000000,
    },
    Golden {
        case: "dense: sorted cells",
        room: (10.0, 10.0, 2000, 1.0),
        seed: 3,
        first_iteration: 1,
        first_pairs: [58716, 57362, 57403, 57158, 58119],
        sum_pairs: 1152033,
        sum_pairs_squared: 66363560369,
        mean_bits: 0x404ccd02de00d1b7,
    },
    Golden {
        case: "thin, d wider than the room",
        room: (1000000.0, 0.001, 2000, 600.0),
        seed: 4,
        first_iteration: 1,
        first_pairs: [2329, 2364, 2372, 2351, 2330],
        sum_pairs: 47496,
        sum_pairs_squared: 112827128,
        mean_bits: 0x4002ff972474538f,
    },
    Golden {
        case: "thin, transposed, d narrower than the room",
        room: (0.001, 1000000.0, 2000, 0.0001),
        seed: 5,
        first_iteration: 1,
        first_pairs: [0, 0, 0, 0, 0],
        sum_pairs: 0,
        sum_pairs_squared: 0,
        mean_bits: 0x0000000000000000,
    },
    Golden {
        case: "another distance",
        room: (1000.0, 1000.0, 1000, 2.5),
        seed: 6,
        first_iteration: 1,
        first_pairs: [12, 8, 10, 6, 15],
        sum_pairs: 226,
        sum_pairs_squared: 2724,
        mean_bits: 0x3f972474538ef34d,
    },
    Golden {
        case: "fractional sides",
        room: (123.456, 78.9, 500, 1.7),
        seed: 7,
        first_iteration: 1,
        first_pairs: [104, 110, 128, 125, 116],
        sum_pairs: 2340,
        sum_pairs_squared: 275992,
        mean_bits: 0x3fddf3b645a1cac1,
    },
    Golden {
        case: "the largest rooms of one linked grid",
        room: (6324.555320336759, 6324.555320336759, 40000, 6.0),
        seed: 8,
        first_iteration: 1,
        first_pairs: [2231, 2312, 2242, 2247, 2279],
        sum_pairs: 44865,
        sum_pairs_squared: 100709425,
        mean_bits: 0x3fbcb6ae7d566cf4,
    },
    Golden {
        case: "large: drawn and counted in regions",
        room: (14142.13562373095, 14142.13562373095, 200000, 6.0),
        seed: 9,
        first_iteration: 1,
        first_pairs: [11202, 10946, 11264, 11262, 11158],
        sum_pairs: 225170,
        sum_pairs_squared: 2535392784,
        mean_bits: 0x3fbcd25edd052935,
    },
    Golden {
        case: "wide, in regions cut along x",
        room: (40000.0, 5000.0, 200000, 6.0),
        seed: 10,
        first_iteration: 1,
        first_pairs: [11197, 11297, 11437, 11334, 11314],
        sum_pairs: 225913,
        sum_pairs_squared: 2552054359,
        mean_bits: 0x3fbceab7995ee137,
    },
    Golden {
        case: "thin, in regions one cell wide",
        room: (10000000.0, 1.0, 100000, 6.0),
        seed: 11,
        first_iteration: 1,
        first_pairs: [5949, 5999, 5950, 5992, 6080],
        sum_pairs: 119177,
        sum_pairs_squared: 710246877,
        mean_bits: 0x3fbe8262456f75da,
    },
    Golden {
        case: "crowded, drawn in regions, sorted cells",
        room: (100.0, 100.0, 70000, 1.0),
        seed: 12,
        first_iteration: 1,
        first_pairs: [764424, 764489, 763863, 762794, 763019],
        sum_pairs: 15266241,
        sum_pairs_squared: 11652928559031,
        mean_bits: 0x4035cf1519aa13df,
    },
    Golden {
        case: "a million people",
        room: (31622.776601683792, 31622.776601683792, 1000000, 6.0),
        seed: 13,
        first_iteration: 1000001,
        first_pairs: [56829, 56758, 56605, 56538, 56932],
        sum_pairs: 1132984,
        sum_pairs_squared: 64183406640,
        mean_bits: 0x3fbd011fbab06a96,
    },
];

fn room_of(g: &Golden) -> Room {
    let (x_length, y_length, num_people, distance) = g.room;
    Room {
        x_length,
        y_length,
        num_people,
        distance,
    }
}

fn spec(g: &Golden, threads: usize) -> RunSpec {
    RunSpec {
        room: room_of(g),
        seed: g.seed,
        first_iteration: g.first_iteration,
        iterations: ITERATIONS,
        threads,
        keep_values: true,
    }
}

/// Pair counts of the row's iterations with a given pass-1 variant.
fn pairs_with(g: &Golden, pass1: Pass1) -> Vec<u64> {
    let room = room_of(g);
    let method = Method::for_room(&room).with_pass1(pass1);
    let mut scratch = Scratch::with_method(&room, method, &never)
        .unwrap()
        .unwrap();
    (0..ITERATIONS)
        .map(|k| {
            scratch
                .count_pairs(g.seed, g.first_iteration + k, &never)
                .unwrap()
        })
        .collect()
}

fn counts_of(pairs: &[u64]) -> PairCounts {
    let mut counts = PairCounts::default();
    for &p in pairs {
        counts.add(p).unwrap();
    }
    counts
}

fn check(g: &Golden, pairs: &[u64], what: &str) {
    let counts = counts_of(pairs);
    assert_eq!(pairs[..5], g.first_pairs, "{} {what}", g.case);
    assert_eq!(
        (counts.sum_pairs, counts.sum_pairs_squared),
        (g.sum_pairs, g.sum_pairs_squared),
        "{} {what}",
        g.case
    );
    assert_eq!(
        counts.summary(g.room.2).mean.to_bits(),
        g.mean_bits,
        "{} {what}",
        g.case
    );
}

#[test]
fn every_pass1_variant_reproduces_the_pinned_counts() {
    let variants = [Pass1::Portable, Pass1::Avx2, Pass1::Avx512];
    for g in TABLE {
        check(g, &pairs_with(g, Pass1::fastest()), "fastest");
        for v in variants.into_iter().filter(|v| v.is_available()) {
            check(g, &pairs_with(g, v), &format!("{v:?}"));
        }
    }
}

#[test]
fn runs_on_one_and_two_threads_reproduce_the_pinned_counts() {
    for g in TABLE {
        for threads in [1, 2] {
            let out = run(&spec(g, threads), &Control::new()).unwrap();
            let values = out.values.unwrap();
            let counts = out.counts;
            let what = format!("threads {threads}");
            assert_eq!(
                (
                    counts.iterations,
                    counts.sum_pairs,
                    counts.sum_pairs_squared
                ),
                (ITERATIONS, g.sum_pairs, g.sum_pairs_squared),
                "{} {what}",
                g.case
            );
            assert_eq!(
                counts.summary(g.room.2).mean.to_bits(),
                g.mean_bits,
                "{} {what}",
                g.case
            );
            for (v, &p) in values.iter().zip(&g.first_pairs) {
                assert_eq!(
                    v.to_bits(),
                    iteration_value(p, g.room.2).to_bits(),
                    "{} {what}",
                    g.case
                );
            }
        }
    }
}

#[test]
fn runs_of_a_few_iterations_reproduce_the_pinned_counts() {
    // Fewer iterations than 4 per thread: threads share out each
    // iteration's regions instead of iterations (rooms cut into 128
    // regions or more), else iterations; the values are the same.
    for g in TABLE {
        for threads in [2, 3] {
            let mut s = spec(g, threads);
            s.iterations = 5;
            let out = run(&s, &Control::new()).unwrap();
            let values = out.values.unwrap();
            assert_eq!(values.len(), 5);
            for (v, &p) in values.iter().zip(&g.first_pairs) {
                assert_eq!(
                    v.to_bits(),
                    iteration_value(p, g.room.2).to_bits(),
                    "{} threads {threads}",
                    g.case
                );
            }
        }
    }
}

/// Prints the table's rows as computed now: `cargo test --release -p
/// sagesim-core print_golden_rows -- --ignored --nocapture`. For a change
/// of results made on purpose, and named in NEWS.
#[test]
#[ignore]
fn print_golden_rows() {
    for g in TABLE {
        let pairs = pairs_with(g, Pass1::Portable);
        let counts = counts_of(&pairs);
        let (room, seed, first_iteration) = (g.room, g.seed, g.first_iteration);
        println!(
            "    Golden {{\n        case: {:?},\n        room: {room:?},\n        seed: {seed},\n        first_iteration: {first_iteration},\n        first_pairs: {:?},\n        sum_pairs: {},\n        sum_pairs_squared: {},\n        mean_bits: {:#018x},\n    }},",
            g.case,
            &pairs[..5],
            counts.sum_pairs,
            counts.sum_pairs_squared,
            counts.summary(room.2).mean.to_bits()
        );
    }
}
