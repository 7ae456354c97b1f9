//! Helpers shared by the tests of several modules.

use crate::rng::SplitMix64;
use crate::room::Room;

/// Test-only reference: the points of an iteration, drawn exactly as the
/// engine draws them, compared all against all.
pub(crate) fn brute_force_pairs(room: &Room, seed: u64, iteration: u64) -> u64 {
    let mut rng = SplitMix64::for_iteration(seed, iteration);
    let pts: Vec<(f64, f64)> = (0..room.num_people)
        .map(|_| {
            let x = rng.next_f64() * room.x_length;
            let y = rng.next_f64() * room.y_length;
            (x, y)
        })
        .collect();
    let d2 = room.distance * room.distance;
    let mut count = 0;
    for i in 0..pts.len() {
        for j in i + 1..pts.len() {
            let dx = pts[i].0 - pts[j].0;
            let dy = pts[i].1 - pts[j].1;
            if dx * dx + dy * dy < d2 {
                count += 1;
            }
        }
    }
    count
}

pub(crate) fn room(x: f64, y: f64, n: u64, d: f64) -> Room {
    Room {
        x_length: x,
        y_length: y,
        num_people: n,
        distance: d,
    }
}

pub(crate) fn never() -> bool {
    false
}

/// Tiny deterministic generator for test parameters (not the model's RNG).
pub(crate) struct Params(pub SplitMix64);

impl Params {
    pub fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Log-uniform in [lo, hi].
    pub fn log_uniform(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + self.unit() * (hi.ln() - lo.ln())).exp()
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n
    }
}
