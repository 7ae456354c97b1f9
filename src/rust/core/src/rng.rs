//! Random numbers: one independent, reproducible stream per iteration.
//!
//! The stream of iteration `i` depends only on `(seed, i)`, never on which
//! thread or host runs it, so any split of the iteration range reproduces the
//! same values bit for bit. Design:
//!
//! * `key = mix64(seed ^ SEED_SALT)` whitens the user's seed (seeds 1, 2, 3
//!   are far apart after this);
//! * `h = mix64(key + i * GOLDEN)` is the `i`-th output of a SplitMix64
//!   stream keyed by the seed: distinct for distinct `i` (mix64 is a
//!   bijection) and statistically unrelated between neighbouring `i`;
//! * four SplitMix64 outputs seeded with `h` fill the 256-bit state of
//!   xoshiro256++ (the seeding its authors recommend; never all zero),
//!   which then generates the coordinates.

/// 2^-53, the spacing of the uniforms.
pub const TWO_POW_M53: f64 = 1.0 / (1u64 << 53) as f64;
/// Weyl increment of SplitMix64 (2^64 / golden ratio, odd).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
/// Separates the seed-whitening use of `mix64` from the per-iteration use.
const SEED_SALT: u64 = 0x5A6E_5349_4D00_0001;

/// The SplitMix64 output function (Stafford's "Mix13"): a bijection on u64
/// with full avalanche.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// SplitMix64 (Steele, Lea & Flood), used only to seed xoshiro.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix64(self.state)
    }
}

/// xoshiro256++ 1.0 (Blackman & Vigna): 256-bit state, period 2^256 - 1,
/// passes BigCrush and PractRand, about 1 ns per output.
#[derive(Clone, Debug)]
pub struct Xoshiro256PlusPlus {
    s: [u64; 4],
}

impl Xoshiro256PlusPlus {
    /// Uses the state as given. The all-zero state is a fixed point; the
    /// seeding functions below never produce it.
    pub fn from_state(s: [u64; 4]) -> Self {
        Xoshiro256PlusPlus { s }
    }

    /// Seeds the 256-bit state with four SplitMix64 outputs. Four consecutive
    /// outputs of a bijection on distinct inputs are never all zero.
    pub fn from_splitmix(seed: u64) -> Self {
        let mut sm = SplitMix64::new(seed);
        Xoshiro256PlusPlus {
            s: [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()],
        }
    }

    /// The generator for iteration `iteration` (1-based) of a run with `seed`.
    pub fn for_iteration(seed: u64, iteration: u64) -> Self {
        let key = mix64(seed ^ SEED_SALT);
        Self::from_splitmix(mix64(key.wrapping_add(iteration.wrapping_mul(GOLDEN))))
    }

    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform on [0, 1): the top 53 bits scaled by 2^-53, so every value is
    /// an exact multiple of 2^-53 and 1.0 is never returned.
    #[inline(always)]
    pub fn next_f64(&mut self) -> f64 {
        self.next_top53() * TWO_POW_M53
    }

    /// `next_f64() * length`, bit for bit, with one multiplication less:
    /// `length_scaled` must be `length * 2^-53`, which is exact (a power of
    /// two) for every `length >= 2^-969`, so both expressions round the same
    /// real number `k * length * 2^-53` once.
    #[inline(always)]
    pub fn next_f64_times(&mut self, length_scaled: f64) -> f64 {
        self.next_top53() * length_scaled
    }

    /// The top 53 bits as an f64 (exact). Converted through i64: the value
    /// is below 2^53, and x86-64 converts i64 (not u64) in one instruction.
    #[inline(always)]
    fn next_top53(&mut self) -> f64 {
        ((self.next_u64() >> 11) as i64) as f64
    }
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
    fn xoshiro256plusplus_known_answers() {
        // Reference outputs of xoshiro256plusplus.c from the state {1, 2, 3, 4}.
        let mut rng = Xoshiro256PlusPlus::from_state([1, 2, 3, 4]);
        let expected = [
            41943041u64,
            58720359,
            3588806011781223,
            3591011842654386,
            9228616714210784205,
            9973669472204895162,
            14011001112246962877,
            12406186145184390807,
            15849039046786891736,
            10450023813501588000,
        ];
        for e in expected {
            assert_eq!(rng.next_u64(), e);
        }
        // And from {0, 0, 0, 1}.
        let mut rng = Xoshiro256PlusPlus::from_state([0, 0, 0, 1]);
        let expected = [
            0x0000_0000_0080_0000u64,
            0x0000_0000_0080_0011,
            0x0002_2000_0080_0011,
        ];
        for e in expected {
            assert_eq!(rng.next_u64(), e);
        }
    }

    #[test]
    fn uniforms_are_in_the_unit_interval_and_exact_multiples() {
        let mut rng = Xoshiro256PlusPlus::for_iteration(42, 1);
        for _ in 0..10_000 {
            let u = rng.next_f64();
            assert!((0.0..1.0).contains(&u));
            let scaled = u * (1u64 << 53) as f64;
            assert_eq!(scaled, scaled.floor());
        }
        // The extreme values of the 53-bit conversion.
        assert_eq!(
            (u64::MAX >> 11) as f64 * (1.0 / (1u64 << 53) as f64),
            1.0 - f64::EPSILON / 2.0
        );
    }

    #[test]
    fn scaled_uniforms_are_bit_identical() {
        let mut a = Xoshiro256PlusPlus::for_iteration(3, 9);
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
            let mut r = Xoshiro256PlusPlus::for_iteration(7, 3);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Xoshiro256PlusPlus::for_iteration(7, 3);
            (0..8).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        // Neighbouring seeds and iterations give unrelated streams.
        let mut firsts = std::collections::HashSet::new();
        for seed in 0..50u64 {
            for it in 0..50u64 {
                let mut r = Xoshiro256PlusPlus::for_iteration(seed, it);
                assert!(
                    firsts.insert(r.next_u64()),
                    "collision at seed {seed}, iteration {it}"
                );
            }
        }
    }

    #[test]
    fn uniform_mean_and_variance_are_plausible() {
        // 1e6 draws: mean 1/2 with sd 0.000289, variance 1/12 with sd ~0.000075.
        let mut rng = Xoshiro256PlusPlus::for_iteration(1, 1);
        let n = 1_000_000;
        let (mut s, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let u = rng.next_f64();
            s += u;
            s2 += u * u;
        }
        let mean = s / n as f64;
        let var = s2 / n as f64 - mean * mean;
        assert!((mean - 0.5).abs() < 5.0 * 0.000289, "mean {mean}");
        assert!((var - 1.0 / 12.0).abs() < 5.0 * 0.000075, "variance {var}");
    }
}
