//! Random numbers: one independent, reproducible stream per iteration.
//!
//! The stream of iteration `i` depends only on `(seed, i)`, never on which
//! thread or host runs it, so any split of the iteration range reproduces the
//! same values bit for bit. Design (SplitMix64, as in Java's
//! `SplittableRandom`):
//!
//! * `key = mix64(seed ^ SEED_SALT)` whitens the user's seed (seeds 1, 2, 3
//!   are far apart after this);
//! * iteration `i` gets its own SplitMix64 stream: a start `base =
//!   mix64(key + i * GOLDEN)` and an increment `gamma` derived the same way
//!   from `i` (odd, and with enough bit transitions to mix well, as in
//!   `SplittableRandom.mixGamma`). Distinct increments put different
//!   iterations on different Weyl sequences, so their streams are not
//!   shifted copies of one another;
//! * output `k` (from 1) of the stream is `mix64(base + k * gamma)`. It is a
//!   pure function of `k`: person `j` takes outputs `2j + 1` (x) and `2j + 2`
//!   (y), which lets a pass compute many people at once (SIMD) and still
//!   match the one-at-a-time sequence exactly;
//! * a room cut into regions (`linked.rs`) draws how many people each region
//!   holds from the iteration's stream, and region `r`'s people from the
//!   iteration's sub-stream `r`, derived from the iteration's stream the way
//!   an iteration's is from the seed.

/// 2^-53, the spacing of the uniforms.
pub const TWO_POW_M53: f64 = 1.0 / (1u64 << 53) as f64;
/// Weyl increment of the seed-level SplitMix64 (2^64 / golden ratio, odd).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
/// Separates the seed-whitening use of `mix64` from the per-iteration use.
const SEED_SALT: u64 = 0x5A6E_5349_4D00_0001;
/// Separates an iteration's increment from its start.
const GAMMA_SALT: u64 = 0x2545_F491_4F6C_DD1D;
/// Separates the sub-streams of an iteration from the iteration's stream.
const SUBSTREAM_SALT: u64 = 0x7265_6769_6F6E_0001;

/// The SplitMix64 output function (Stafford's "Mix13"): a bijection on u64
/// with full avalanche.
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A SplitMix64 increment from any 64 bits: odd, and with at least 24 bit
/// transitions (`SplittableRandom.mixGamma`), since sparse increments make
/// weak Weyl sequences.
fn gamma_from(z: u64) -> u64 {
    let g = mix64(z) | 1;
    if (g ^ (g >> 1)).count_ones() < 24 {
        g ^ 0xAAAA_AAAA_AAAA_AAAA
    } else {
        g
    }
}

/// SplitMix64: `state += gamma; mix64(state)`.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
    gamma: u64,
}

impl SplitMix64 {
    /// The classic generator (increment `GOLDEN`), as in splitmix64.c.
    pub fn new(seed: u64) -> Self {
        SplitMix64 {
            state: seed,
            gamma: GOLDEN,
        }
    }

    /// The stream of iteration `iteration` (1-based) of a run with `seed`.
    pub fn for_iteration(seed: u64, iteration: u64) -> Self {
        let key = mix64(seed ^ SEED_SALT);
        let point = key.wrapping_add(iteration.wrapping_mul(GOLDEN));
        SplitMix64 {
            state: mix64(point),
            gamma: gamma_from(point ^ GAMMA_SALT),
        }
    }

    /// Sub-stream `index` of this stream (e.g. region `index` of an
    /// iteration): a stream of its own, like an iteration's from a seed, and
    /// a pure function of this stream's start and `index`.
    pub fn substream(&self, index: u64) -> Self {
        let key = mix64(self.state ^ SUBSTREAM_SALT) ^ self.gamma;
        let point = key.wrapping_add(index.wrapping_mul(GOLDEN));
        SplitMix64 {
            state: mix64(point),
            gamma: gamma_from(point ^ GAMMA_SALT),
        }
    }

    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(self.gamma);
        mix64(self.state)
    }

    /// Output `k` (from 1) of the stream, without stepping: the `k`-th call
    /// of `next_u64` on a fresh copy returns the same.
    #[inline(always)]
    pub fn output(&self, k: u64) -> u64 {
        mix64(self.state.wrapping_add(k.wrapping_mul(self.gamma)))
    }

    /// Uniform on [0, 1): the top 53 bits scaled by 2^-53, so every value is
    /// an exact multiple of 2^-53 and 1.0 is never returned.
    #[inline(always)]
    pub fn next_f64(&mut self) -> f64 {
        top53(self.next_u64()) * TWO_POW_M53
    }

    /// `next_f64() * length`, bit for bit, with one multiplication less:
    /// `length_scaled` must be `length * 2^-53`, which is exact (a power of
    /// two) for every `length >= 2^-969`, so both expressions round the same
    /// real number `k * length * 2^-53` once.
    #[inline(always)]
    pub fn next_f64_times(&mut self, length_scaled: f64) -> f64 {
        top53(self.next_u64()) * length_scaled
    }
}

/// The top 53 bits as an f64 (exact). Converted through i64: the value is
/// below 2^53, and x86-64 converts i64 (not u64) in one instruction.
#[inline(always)]
pub fn top53(r: u64) -> f64 {
    ((r >> 11) as i64) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_known_answers() {
        // Published first outputs of splitmix64.c for seed 1234567.
        let mut sm = SplitMix64::new(1234567);
        let expected = [
            6457827717110365317u64,
            3203168211198807973,
            9817491932198370423,
            4593380528125082431,
            16408922859458223821,
        ];
        for e in expected {
            assert_eq!(sm.next_u64(), e);
        }
    }

    #[test]
    fn outputs_by_index_match_the_sequence() {
        for (seed, it) in [(0, 1), (42, 7), (u64::MAX, u64::MAX)] {
            let fresh = SplitMix64::for_iteration(seed, it);
            let mut stepping = fresh.clone();
            for k in 1..=1000 {
                assert_eq!(fresh.output(k), stepping.next_u64());
            }
        }
    }

    #[test]
    fn increments_are_odd_and_dense() {
        for it in 0..10_000u64 {
            let g = SplitMix64::for_iteration(3, it).gamma;
            assert_eq!(g & 1, 1);
            assert!((g ^ (g >> 1)).count_ones() >= 24);
        }
        // Sparse inputs are repaired.
        assert!((gamma_from(0) ^ (gamma_from(0) >> 1)).count_ones() >= 24);
    }

    #[test]
    fn uniforms_are_in_the_unit_interval_and_exact_multiples() {
        let mut rng = SplitMix64::for_iteration(42, 1);
        for _ in 0..10_000 {
            let u = rng.next_f64();
            assert!((0.0..1.0).contains(&u));
            let scaled = u * (1u64 << 53) as f64;
            assert_eq!(scaled, scaled.floor());
        }
        // The extreme values of the 53-bit conversion.
        assert_eq!(top53(u64::MAX) * TWO_POW_M53, 1.0 - f64::EPSILON / 2.0);
    }

    #[test]
    fn scaled_uniforms_are_bit_identical() {
        let mut a = SplitMix64::for_iteration(3, 9);
        let mut b = a.clone();
        for &len in &[1.0, 1000.0, 1e-150, 1e150, 0.1, 3.7e-5, 123456.789] {
            for _ in 0..10_000 {
                assert_eq!(
                    (a.next_f64() * len).to_bits(),
                    b.next_f64_times(len * TWO_POW_M53).to_bits()
                );
            }
        }
    }

    #[test]
    fn iteration_streams_depend_on_seed_and_iteration_only() {
        let a: Vec<u64> = {
            let mut r = SplitMix64::for_iteration(7, 3);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = SplitMix64::for_iteration(7, 3);
            (0..8).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        // Neighbouring seeds and iterations give unrelated streams.
        let mut firsts = std::collections::HashSet::new();
        for seed in 0..50u64 {
            for it in 0..50u64 {
                let mut r = SplitMix64::for_iteration(seed, it);
                assert!(
                    firsts.insert(r.next_u64()),
                    "collision at seed {seed}, iteration {it}"
                );
            }
        }
    }

    #[test]
    fn substreams_depend_on_their_stream_and_index_only() {
        let it = SplitMix64::for_iteration(7, 3);
        let first = |r: &SplitMix64| r.output(1);
        assert_eq!(first(&it.substream(5)), first(&it.clone().substream(5)));
        // Distinct from each other, from the iteration's stream and from
        // neighbouring iterations' sub-streams.
        let mut firsts = std::collections::HashSet::new();
        for iteration in 1..=50u64 {
            let stream = SplitMix64::for_iteration(7, iteration);
            assert!(firsts.insert(first(&stream)));
            for index in 0..200u64 {
                let sub = stream.substream(index);
                assert_eq!(sub.gamma & 1, 1);
                assert!(
                    firsts.insert(first(&sub)),
                    "iteration {iteration}, index {index}"
                );
            }
        }
    }

    #[test]
    fn uniform_mean_variance_and_lag_correlation_are_plausible() {
        // 1e6 draws: mean 1/2 (sd 0.000289), variance 1/12 (sd ~0.000075),
        // correlation of x and y of a person 0 (sd 0.001).
        let mut rng = SplitMix64::for_iteration(1, 1);
        let n = 1_000_000;
        let (mut s, mut s2, mut sxy) = (0.0, 0.0, 0.0);
        for _ in 0..n / 2 {
            let (u, v) = (rng.next_f64(), rng.next_f64());
            s += u + v;
            s2 += u * u + v * v;
            sxy += (u - 0.5) * (v - 0.5);
        }
        let mean = s / n as f64;
        let var = s2 / n as f64 - mean * mean;
        let corr = sxy / (n / 2) as f64 * 12.0;
        assert!((mean - 0.5).abs() < 5.0 * 0.000289, "mean {mean}");
        assert!((var - 1.0 / 12.0).abs() < 5.0 * 0.000075, "variance {var}");
        assert!(corr.abs() < 5.0 * 0.0015, "correlation {corr}");
    }
}
