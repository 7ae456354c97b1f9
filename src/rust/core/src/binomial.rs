//! Binomial variates, and how many of an iteration's people fall in each
//! region of the room.
//!
//! Results must be bit-identical on every machine, so everything here is
//! built from IEEE basic operations (`+ - * /`, `sqrt`, and the exact
//! `floor` and `ceil`) in a fixed order: the platform's `ln` and `exp` may
//! differ between libm versions, and Rust never fuses a multiply and an add
//! unless asked. The logarithm is computed here for that reason.

use crate::rng::SplitMix64;

/// `ln(2)` split as in fdlibm so that `e * LN2_HI` is exact for every
/// exponent `e` (bits 0x3FE62E42FEE00000: the low 32 are zero), and
/// `LN2_LO` (0x3DEA39EF35793C76) the rest.
const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// Natural logarithm of `x > 0` (`-inf` for 0, NaN for negative or NaN
/// arguments), within a few ulps, from basic operations only.
pub(crate) fn ln(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x == f64::INFINITY {
        return x;
    }
    // Subnormals: scale into the normal range first (exact).
    let (x, extra) = if x < f64::MIN_POSITIVE {
        (x * (1u64 << 54) as f64, -54)
    } else {
        (x, 0)
    };
    // x = 2^e * m with m in [sqrt(1/2), sqrt(2)).
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023 + extra;
    let mut m = f64::from_bits((bits & ((1 << 52) - 1)) | (1023 << 52));
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    // ln(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716; m - 1 is
    // exact (Sterbenz). The series' terms fall below 2^-56 of s by s^23.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut series = 1.0 / 23.0;
    for k in (1..=10).rev() {
        series = series * s2 + 1.0 / (2 * k + 1) as f64;
    }
    let ln_m = 2.0 * s + 2.0 * s * (s2 * series);
    let e = e as f64;
    e * LN2_HI + (ln_m + e * LN2_LO)
}

/// `ln(1 + x)` for `x > -1`, accurate also for tiny `x` (Goldberg's
/// correction: the rounding of `1 + x` is undone by `x / (u - 1)`).
pub(crate) fn ln_1p(x: f64) -> f64 {
    let u = 1.0 + x;
    if u == 1.0 {
        x
    } else {
        ln(u) * x / (u - 1.0)
    }
}

/// `ln(a / b)` for positive `a`, `b`, accurate when the ratio is near 1
/// (where the factors multiplying it in BTRS are large) and `a - b` exact,
/// as it is for the integers below 2^53 this module passes.
fn ln_ratio(a: f64, b: f64) -> f64 {
    ln_1p((a - b) / b)
}

/// Uniform on (0, 1), never 0 or 1: a 52-bit integer plus a half, scaled.
fn open_unit(rng: &mut SplitMix64) -> f64 {
    ((rng.next_u64() >> 12) as f64 + 0.5) * (1.0 / (1u64 << 52) as f64)
}

/// Binomial(`n`, `p`): the number of successes in `n` independent trials of
/// probability `p` (`n` up to 2^53; `p` outside [0, 1] is clamped).
/// Deterministic given `rng`'s state.
pub(crate) fn binomial(rng: &mut SplitMix64, n: u64, p: f64) -> u64 {
    debug_assert!(n <= 1 << 53);
    if n == 0 || p.is_nan() || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    if p > 0.5 {
        // 1 - p is exact for p in (1/2, 1) (Sterbenz).
        return n - binomial(rng, n, 1.0 - p);
    }
    if n as f64 * p < 10.0 {
        by_waiting_times(rng, n, p)
    } else {
        btrs(rng, n, p)
    }
}

/// Small means: successes are where the running sum of geometric waiting
/// times (`ceil(ln(u) / ln(1 - p))`, at least 1) stays within `n` trials.
/// About `n p + 1` uniforms.
fn by_waiting_times(rng: &mut SplitMix64, n: u64, p: f64) -> u64 {
    let ln_q = ln_1p(-p);
    let mut trials = 0u64;
    let mut successes = 0u64;
    loop {
        let wait = (ln(open_unit(rng)) / ln_q).ceil();
        // Compared as doubles: `wait` may be huge; n - trials <= 2^53 is exact.
        if wait > (n - trials) as f64 {
            return successes;
        }
        trials += wait as u64;
        successes += 1;
    }
}

/// `ln(k!) - [(k + 1/2) ln(k + 1) - (k + 1) + ln(2 pi) / 2]`: the error of
/// Stirling's formula, tabulated below 10, else its series (Hormann 1993).
fn stirling_tail(k: f64) -> f64 {
    const TAIL: [f64; 10] = [
        0.081_061_466_795_327_26,
        0.041_340_695_955_409_29,
        0.027_677_925_684_998_34,
        0.020_790_672_103_765_09,
        0.016_644_691_189_821_19,
        0.013_876_128_823_070_75,
        0.011_896_709_945_891_77,
        0.010_411_265_261_972_09,
        0.009_255_462_182_712_733,
        0.008_330_563_433_362_87,
    ];
    if k < 10.0 {
        return TAIL[k as usize];
    }
    let k1 = k + 1.0;
    let k1sq = k1 * k1;
    (1.0 / 12.0 - (1.0 / 360.0 - 1.0 / 1260.0 / k1sq) / k1sq) / k1
}

/// Hormann's BTRS (transformed rejection with squeeze, "The generation of
/// binomial random variates", 1993), for `n p >= 10` and `p <= 1/2`: about
/// 1.2 pairs of uniforms per variate whatever `n`.
fn btrs(rng: &mut SplitMix64, n: u64, p: f64) -> u64 {
    let nf = n as f64;
    let q = 1.0 - p;
    let spq = (nf * p * q).sqrt();
    let b = 1.15 + 2.53 * spq;
    let a = -0.0873 + 0.0248 * b + 0.01 * p;
    let c = nf * p + 0.5;
    let v_r = 0.92 - 4.2 / b;
    let r = p / q;
    let alpha = (2.83 + 5.1 / b) * spq;
    let m = ((nf + 1.0) * p).floor();
    // The part of ln f(k) that does not depend on k.
    let h = (m + 0.5) * (ln_ratio(m + 1.0, nf - m + 1.0) - ln(r))
        + stirling_tail(m)
        + stirling_tail(nf - m);
    loop {
        let u = open_unit(rng) - 0.5;
        let v = open_unit(rng);
        let us = 0.5 - u.abs();
        let k = ((2.0 * a / us + b) * u + c).floor();
        if !(0.0..=nf).contains(&k) {
            continue;
        }
        if us >= 0.07 && v <= v_r {
            return k as u64;
        }
        let v = ln(v * alpha / (a / (us * us) + b));
        let bound = h
            + (nf + 1.0) * ln_ratio(nf - m + 1.0, nf - k + 1.0)
            + (k + 0.5) * (ln_ratio(nf - k + 1.0, k + 1.0) + ln(r))
            - stirling_tail(k)
            - stirling_tail(nf - k);
        if v <= bound {
            return k as u64;
        }
    }
}

/// How many of `n` uniform people fall in each of `2^bits` equal regions:
/// `counts[r]` for region `r`, drawn by halving, level by level (each half
/// of a set of regions gets Binomial(people, 1/2) of its people), which is
/// exactly the multinomial distribution of the uniform model. Uses `rng`'s
/// outputs in a fixed order.
pub(crate) fn split_in_halves(rng: &mut SplitMix64, n: u64, bits: u32, counts: &mut Vec<u64>) {
    counts.clear();
    counts.resize(1 << bits, 0);
    counts[0] = n;
    for level in 0..bits {
        // counts[..2^level] holds the sets of this level, left to right;
        // going down from the right, each set's halves go to 2i and 2i + 1
        // without overwriting a set not yet split.
        for i in (0..1usize << level).rev() {
            let people = counts[i];
            let lower = binomial(rng, people, 0.5);
            counts[2 * i] = lower;
            counts[2 * i + 1] = people - lower;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::Params;

    #[test]
    fn ln2_is_split_exactly() {
        assert_eq!(LN2_HI.to_bits(), 0x3FE6_2E42_FEE0_0000);
        assert_eq!(LN2_LO.to_bits(), 0x3DEA_39EF_3579_3C76);
    }

    #[test]
    fn ln_is_within_a_few_ulps_of_the_platform_s() {
        let mut p = Params(SplitMix64::new(3));
        let mut worst = 0.0f64;
        for _ in 0..200_000 {
            let x = p.log_uniform(1e-300, 1e300);
            let (mine, libm) = (ln(x), x.ln());
            let err = (mine - libm).abs() / libm.abs().max(f64::MIN_POSITIVE);
            worst = worst.max(err);
        }
        assert!(worst < 4.0 * f64::EPSILON, "relative error {worst:e}");
        // Near 1, where the absolute error matters.
        for k in 1..2000 {
            let x = 1.0 + (k as f64 - 1000.0) * 1e-6;
            assert!((ln(x) - x.ln()).abs() <= 2.0 * f64::EPSILON * x.ln().abs().max(1e-300));
        }
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(ln(2.0), std::f64::consts::LN_2);
        assert_eq!(ln(0.0), f64::NEG_INFINITY);
        assert!(ln(-1.0).is_nan() && ln(f64::NAN).is_nan());
        assert_eq!(ln(f64::INFINITY), f64::INFINITY);
        let tiny = f64::from_bits(1); // smallest subnormal
        assert!((ln(tiny) - tiny.ln()).abs() < 1e-13);
    }

    #[test]
    fn ln_1p_is_accurate_for_small_arguments() {
        for &x in &[1e-300, 1e-17, 1e-12, -1e-9, 3e-5, -0.25, 0.5, 10.0] {
            let (mine, libm) = (ln_1p(x), f64::ln_1p(x));
            assert!(
                (mine - libm).abs() <= 4.0 * f64::EPSILON * libm.abs(),
                "{x}: {mine} vs {libm}"
            );
        }
    }

    #[test]
    fn stirling_tail_is_continuous_at_ten() {
        // The series at 10 against the exact value, ln(10!) - ... .
        let exact = |k: f64| {
            let ln_fact: f64 = (1..=k as u64).map(|i| (i as f64).ln()).sum();
            ln_fact
                - ((k + 0.5) * (k + 1.0).ln() - (k + 1.0) + 0.5 * (2.0 * std::f64::consts::PI).ln())
        };
        for k in 0..10 {
            assert!(
                (stirling_tail(k as f64) - exact(k as f64)).abs() < 1e-13,
                "{k}"
            );
        }
        for k in [10.0, 11.0, 30.0, 1000.0] {
            assert!((stirling_tail(k) - exact(k)).abs() < 1e-10, "{k}");
        }
    }

    /// Mean and variance of many draws against n p and n p (1 - p), within
    /// 6 standard errors (the variance's standard error from the fourth
    /// moment of the binomial).
    fn check_moments(n: u64, p: f64, draws: usize, seed: u64) {
        let mut rng = SplitMix64::new(seed);
        let (mut sum, mut sum2) = (0.0, 0.0);
        let mean = n as f64 * p;
        for _ in 0..draws {
            let k = binomial(&mut rng, n, p);
            assert!(k <= n);
            let d = k as f64 - mean;
            sum += d;
            sum2 += d * d;
        }
        let m = draws as f64;
        let var = n as f64 * p * (1.0 - p);
        let mean_err = sum / m;
        let var_est = sum2 / m - mean_err * mean_err;
        // The binomial's fourth central moment, n p q (1 + 3 (n - 2) p q).
        let mu4 = var * (1.0 + 3.0 * (n as f64 - 2.0) * p * (1.0 - p));
        let se_mean = (var / m).sqrt();
        let se_var = ((mu4 - var * var).max(var * var) / m).sqrt();
        assert!(
            mean_err.abs() <= 6.0 * se_mean + 1e-12,
            "n {n} p {p}: mean off by {mean_err} (se {se_mean})"
        );
        assert!(
            (var_est - var).abs() <= 6.0 * se_var + 1e-12,
            "n {n} p {p}: variance {var_est} vs {var} (se {se_var})"
        );
    }

    #[test]
    fn binomial_moments_match_theory() {
        for (k, &(n, p)) in [
            (1u64, 0.5),
            (7, 0.3),
            (19, 0.5),    // just below the switch to BTRS (n p < 10)
            (20, 0.5),    // just at it
            (100, 0.02),  // small mean, waiting times
            (1000, 0.01), // n p = 10
            (1000, 0.5),
            (12345, 0.37),
            (1000, 0.9), // p > 1/2: by symmetry
            (1_000_000, 1e-6),
            (1 << 40, 0.5),
            (1 << 53, 0.5), // the most R can pass
            (1 << 53, 1e-15),
        ]
        .iter()
        .enumerate()
        {
            check_moments(n, p, 100_000, 1000 + k as u64);
        }
    }

    #[test]
    fn binomial_probabilities_match_theory() {
        // Frequencies of every outcome of Binomial(30, 0.4) (BTRS) and
        // Binomial(30, 0.1) (waiting times) against the exact probabilities:
        // a chi-square statistic far below its 0.999 quantile.
        for &p in &[0.4, 0.1, 0.5] {
            let n = 30u64;
            let draws = 400_000;
            let mut freq = vec![0u64; n as usize + 1];
            let mut rng = SplitMix64::new(99);
            for _ in 0..draws {
                freq[binomial(&mut rng, n, p) as usize] += 1;
            }
            let mut prob = vec![0.0f64; n as usize + 1];
            for (k, pk) in prob.iter_mut().enumerate() {
                let mut c = 1.0f64;
                for i in 0..k {
                    c = c * (n - i as u64) as f64 / (i + 1) as f64;
                }
                *pk = c * p.powi(k as i32) * (1.0 - p).powi((n - k as u64) as i32);
            }
            let (mut chi2, mut cells) = (0.0, 0);
            for k in 0..=n as usize {
                let expected = prob[k] * draws as f64;
                if expected >= 5.0 {
                    chi2 += (freq[k] as f64 - expected).powi(2) / expected;
                    cells += 1;
                }
            }
            // 0.999 quantile of chi-square with ~25 degrees of freedom is 52.6.
            assert!(chi2 < 60.0, "p {p}: chi2 {chi2} over {cells} cells");
        }
    }

    #[test]
    fn binomial_edge_cases() {
        let mut rng = SplitMix64::new(5);
        for _ in 0..100 {
            assert_eq!(binomial(&mut rng, 0, 0.3), 0);
            assert_eq!(binomial(&mut rng, 1000, 0.0), 0);
            assert_eq!(binomial(&mut rng, 1000, 1.0), 1000);
            assert_eq!(binomial(&mut rng, 1 << 53, 1.0), 1 << 53);
            assert_eq!(binomial(&mut rng, 1 << 53, 0.0), 0);
            assert!(binomial(&mut rng, 1, 0.5) <= 1);
            assert_eq!(binomial(&mut rng, 10, f64::NAN), 0);
            assert_eq!(binomial(&mut rng, 10, -0.5), 0);
            assert_eq!(binomial(&mut rng, 10, 1.5), 10);
        }
        // The smallest positive p with a huge n: almost always 0 or so.
        assert!(binomial(&mut rng, 1 << 53, f64::MIN_POSITIVE) <= 1);
    }

    #[test]
    fn splitting_in_halves_is_exact_and_even() {
        let mut rng = SplitMix64::new(8);
        let mut counts = Vec::new();
        for &(n, bits) in &[
            (0u64, 3u32),
            (1, 4),
            (5, 0),
            (1000, 1),
            (1_000_003, 10),
            (1 << 40, 12),
        ] {
            split_in_halves(&mut rng, n, bits, &mut counts);
            assert_eq!(counts.len(), 1 << bits);
            assert_eq!(counts.iter().sum::<u64>(), n);
        }
        // Each region's count is Binomial(n, 2^-bits): check the moments
        // of region 5 of 16 and the covariance of two regions (-n p^2).
        let (n, bits, draws) = (100_000u64, 4u32, 20_000);
        let p = 1.0 / 16.0;
        let (mut s5, mut s55, mut s56) = (0.0, 0.0, 0.0);
        let mean = n as f64 * p;
        for _ in 0..draws {
            split_in_halves(&mut rng, n, bits, &mut counts);
            let (a, b) = (counts[5] as f64 - mean, counts[6] as f64 - mean);
            s5 += a;
            s55 += a * a;
            s56 += a * b;
        }
        let m = draws as f64;
        let var = n as f64 * p * (1.0 - p);
        assert!((s5 / m).abs() < 6.0 * (var / m).sqrt());
        assert!((s55 / m - var).abs() < 6.0 * var * (2.0 / m).sqrt());
        let cov = -(n as f64) * p * p;
        assert!((s56 / m - cov).abs() < 6.0 * var * (1.0 / m).sqrt());
    }

    #[test]
    fn draws_are_reproducible() {
        let draw = || {
            let mut rng = SplitMix64::for_iteration(7, 3);
            let mut counts = Vec::new();
            split_in_halves(&mut rng, 123_456_789, 9, &mut counts);
            counts
        };
        assert_eq!(draw(), draw());
        // Pinned: a change here changes every multi-region room's results.
        let mut rng = SplitMix64::new(2024);
        let pinned: Vec<u64> = [(10u64, 0.5), (1000, 0.5), (1 << 40, 0.5), (1000, 0.003)]
            .iter()
            .map(|&(n, p)| binomial(&mut rng, n, p))
            .collect();
        assert_eq!(pinned, vec![3, 517, 549_755_157_303, 2]);
    }
}
