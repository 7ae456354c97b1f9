//! Helpers shared by the tests of several modules.

use crate::binomial::split_in_halves;
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
    all_pairs(&pts, room.distance)
}

/// Test-only reference for a room drawn in `2^bits` regions along x
/// (`along_x`) or y: everyone drawn as `draws.rs` says, region by region,
/// compared all against all.
pub(crate) fn brute_force_pairs_in_regions(
    room: &Room,
    bits: u32,
    along_x: bool,
    seed: u64,
    iteration: u64,
) -> u64 {
    let mut stream = SplitMix64::for_iteration(seed, iteration);
    let regions = stream.clone();
    let mut counts = Vec::new();
    split_in_halves(&mut stream, room.num_people, bits, &mut counts);
    let unit = |k: u64| k as f64 / (1u64 << 53) as f64;
    let mut pts = Vec::new();
    for (r, &count) in counts.iter().enumerate() {
        // One piece: the iteration's own stream.
        let mut rng = if bits == 0 {
            regions.clone()
        } else {
            regions.substream(r as u64)
        };
        for _ in 0..count {
            let (ox, oy) = (rng.next_u64(), rng.next_u64());
            // Along the cut: the region's number, then its own bits.
            let cut = |o: u64| unit(((r as u64) << (53 - bits)) | (o >> (11 + bits)));
            pts.push(if along_x {
                (cut(ox) * room.x_length, unit(oy >> 11) * room.y_length)
            } else {
                (unit(ox >> 11) * room.x_length, cut(oy) * room.y_length)
            });
        }
    }
    all_pairs(&pts, room.distance)
}

fn all_pairs(pts: &[(f64, f64)], distance: f64) -> u64 {
    let d2 = distance * distance;
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

    /// A room with sides and distance anywhere from 1e-150 to 1e150 and
    /// `people` log-uniform in the given range: for layouts, not for
    /// counting.
    pub fn extreme_room(&mut self, people: (f64, f64)) -> Room {
        let x = self.log_uniform(1e-150, 1e150);
        let y = self.log_uniform(1e-150, 1e150);
        let d = self.log_uniform(1e-150, 1e150);
        room(x, y, self.log_uniform(people.0, people.1) as u64, d)
    }
}
