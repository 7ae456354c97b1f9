//! Exact sufficient statistics and the summary computed from them.
//!
//! Each iteration contributes its close-pair count `c` (an integer). Keeping
//! the exact integer sums of `c` and `c^2` makes results independent of the
//! order in which iterations, threads and hosts are combined: merging is
//! integer addition, and the summary is a deterministic function of the sums.

use serde::{Deserialize, Serialize};

use crate::error::SimError;

/// `qnorm(0.975)`: the 95% normal quantile used for confidence intervals.
pub const Z_95: f64 = 1.959963984540054;

/// The value of one iteration: violations per person, `2 * pairs / num_people`
/// (each close pair is a violation for both people). 0 when nobody is there.
pub fn iteration_value(pairs: u64, num_people: u64) -> f64 {
    if num_people == 0 {
        return 0.0;
    }
    (2 * pairs as u128) as f64 / num_people as f64
}

/// Exact sums over iterations of the close-pair count `c_i` and of `c_i^2`.
/// In JSON the u128 sums are decimal strings, so no reader loses precision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairCounts {
    pub iterations: u64,
    #[serde(with = "crate::serde_int::u128_string")]
    pub sum_pairs: u128,
    #[serde(with = "crate::serde_int::u128_string")]
    pub sum_pairs_squared: u128,
}

/// Summary of the per-iteration values (violations per person).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    pub mean: f64,
    /// Sample standard deviation (divisor n - 1); NaN for fewer than 2 iterations.
    pub sd: f64,
    /// Standard error of the mean, `sd / sqrt(iterations)`.
    pub se: f64,
    /// 95% normal confidence interval `mean -/+ qnorm(0.975) * se`.
    pub ci_low: f64,
    pub ci_high: f64,
}

impl PairCounts {
    /// Counts of a single iteration with `pairs` close pairs.
    pub fn single(pairs: u64) -> PairCounts {
        PairCounts {
            iterations: 1,
            sum_pairs: pairs as u128,
            sum_pairs_squared: pairs as u128 * pairs as u128,
        }
    }

    /// Adds one iteration; `Overflow` if a sum no longer fits.
    pub fn add(&mut self, pairs: u64) -> Result<(), SimError> {
        *self = self.merge(PairCounts::single(pairs))?;
        Ok(())
    }

    /// Combines the counts of two disjoint sets of iterations. Exact, so the
    /// result does not depend on the order of merging.
    pub fn merge(self, other: PairCounts) -> Result<PairCounts, SimError> {
        let overflow = |what: &str| {
            SimError::Overflow(format!("the {what} no longer fits when merging results"))
        };
        Ok(PairCounts {
            iterations: self
                .iterations
                .checked_add(other.iterations)
                .ok_or_else(|| overflow("iteration count"))?,
            sum_pairs: self
                .sum_pairs
                .checked_add(other.sum_pairs)
                .ok_or_else(|| overflow("sum of pair counts"))?,
            sum_pairs_squared: self
                .sum_pairs_squared
                .checked_add(other.sum_pairs_squared)
                .ok_or_else(|| overflow("sum of squared pair counts"))?,
        })
    }

    /// Mean, standard deviation, standard error and 95% CI of the values
    /// `2 c_i / num_people`. The variance numerator `m*S2 - S1^2` is computed
    /// exactly in 256-bit integers (so it never overflows and never suffers
    /// cancellation), then rounded once to f64.
    pub fn summary(&self, num_people: u64) -> Summary {
        let m = self.iterations;
        if m == 0 {
            return Summary {
                mean: f64::NAN,
                sd: f64::NAN,
                se: f64::NAN,
                ci_low: f64::NAN,
                ci_high: f64::NAN,
            };
        }
        let (mean, sd) = if num_people == 0 {
            (0.0, if m >= 2 { 0.0 } else { f64::NAN })
        } else {
            let n = num_people as f64;
            // 2 * S1 / (n * m): each integer rounded once, then one division.
            let mean =
                2.0 * u256_to_f64(0, self.sum_pairs) / (num_people as u128 * m as u128) as f64;
            let sd = if m < 2 {
                f64::NAN
            } else {
                let (h1, l1) = mul_wide(m as u128, self.sum_pairs_squared);
                let (h2, l2) = mul_wide(self.sum_pairs, self.sum_pairs);
                match sub_wide((h1, l1), (h2, l2)) {
                    // Var(c) = (m*S2 - S1^2) / (m (m - 1)); values are 2c/n.
                    Some((h, l)) => {
                        let var_c = u256_to_f64(h, l) / (m as u128 * (m as u128 - 1)) as f64;
                        2.0 * var_c.sqrt() / n
                    }
                    // Impossible for counts of real iterations (Cauchy-Schwarz);
                    // only hand-edited sums get here.
                    None => f64::NAN,
                }
            };
            (mean, sd)
        };
        let se = sd / (m as f64).sqrt();
        Summary {
            mean,
            sd,
            se,
            ci_low: mean - Z_95 * se,
            ci_high: mean + Z_95 * se,
        }
    }
}

/// Whether the sums can come from real iterations: `m * S2 >= S1^2`
/// (Cauchy-Schwarz), with `S2 = S1 = 0` when `m = 0`. Used to reject
/// corrupted result files.
pub(crate) fn sums_are_consistent(c: &PairCounts) -> bool {
    if c.iterations == 0 {
        return c.sum_pairs == 0 && c.sum_pairs_squared == 0;
    }
    let (h1, l1) = mul_wide(c.iterations as u128, c.sum_pairs_squared);
    let (h2, l2) = mul_wide(c.sum_pairs, c.sum_pairs);
    // Also S2 >= S1 (c^2 >= c for integers).
    sub_wide((h1, l1), (h2, l2)).is_some() && c.sum_pairs_squared >= c.sum_pairs
}

/// Full 256-bit product of two u128, as (high, low) halves.
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    let (a0, a1) = (a as u64 as u128, a >> 64);
    let (b0, b1) = (b as u64 as u128, b >> 64);
    let p00 = a0 * b0;
    let (mid, c1) = (a0 * b1).overflowing_add(a1 * b0);
    let (mid, c2) = mid.overflowing_add(p00 >> 64);
    let lo = (mid << 64) | (p00 as u64 as u128);
    let carries = (u128::from(c1) + u128::from(c2)) << 64;
    let hi = a1 * b1 + (mid >> 64) + carries;
    (hi, lo)
}

/// `a - b` for 256-bit (high, low) pairs; `None` if negative.
fn sub_wide(a: (u128, u128), b: (u128, u128)) -> Option<(u128, u128)> {
    let (lo, borrow) = a.1.overflowing_sub(b.1);
    let hi = a.0.checked_sub(b.0)?.checked_sub(u128::from(borrow))?;
    Some((hi, lo))
}

/// Correctly rounded conversion of a 256-bit integer to f64: shift to 128
/// significant bits, keep a sticky bit for what was shifted out, let the
/// u128 conversion round, scale back by an exact power of two.
fn u256_to_f64(hi: u128, lo: u128) -> f64 {
    if hi == 0 {
        return lo as f64;
    }
    let shift = 128 - hi.leading_zeros(); // 1..=128
    let top = if shift == 128 {
        hi
    } else {
        (hi << (128 - shift)) | (lo >> shift)
    };
    let lost = if shift == 128 {
        lo
    } else {
        lo & ((1u128 << shift) - 1)
    };
    let v = top | u128::from(lost != 0);
    v as f64 * f64::from_bits((1023 + shift as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_arithmetic_is_exact() {
        assert_eq!(mul_wide(3, 5), (0, 15));
        assert_eq!(
            mul_wide(u64::MAX as u128, u64::MAX as u128),
            (0, (u64::MAX as u128) * (u64::MAX as u128))
        );
        // (2^128 - 1)^2 = 2^256 - 2^129 + 1
        assert_eq!(mul_wide(u128::MAX, u128::MAX), (u128::MAX - 1, 1));
        // 2^127 * 2 = 2^128
        assert_eq!(mul_wide(1 << 127, 2), (1, 0));
        // (2^64 + 1)(2^64 - 1) = 2^128 - 1
        assert_eq!(mul_wide((1 << 64) + 1, (1 << 64) - 1), (0, u128::MAX));
        assert_eq!(sub_wide((1, 0), (0, 1)), Some((0, u128::MAX)));
        assert_eq!(sub_wide((0, 1), (0, 2)), None);
        assert_eq!(u256_to_f64(0, 12345), 12345.0);
        assert_eq!(u256_to_f64(1, 0), 2f64.powi(128));
        assert_eq!(u256_to_f64(u128::MAX, u128::MAX), 2f64.powi(256));
        // Rounding uses the bits shifted out: 2^128 + 2^75 + 1 rounds up.
        assert_eq!(
            u256_to_f64(1, (1 << 75) + 1),
            2f64.powi(128) + 2f64.powi(76)
        );
        assert_eq!(u256_to_f64(1, 1 << 75), 2f64.powi(128)); // tie to even
    }

    #[test]
    fn summary_matches_a_direct_computation() {
        let mut rng = crate::rng::SplitMix64::new(5);
        for case in 0..200 {
            let m = 2 + (rng.next_u64() % 300) as usize;
            let n = 1 + rng.next_u64() % 5000;
            let pairs: Vec<u64> = (0..m).map(|_| rng.next_u64() % (n * 3)).collect();
            let mut counts = PairCounts::default();
            for &c in &pairs {
                counts.add(c).unwrap();
            }
            let values: Vec<f64> = pairs.iter().map(|&c| iteration_value(c, n)).collect();
            let mean = values.iter().sum::<f64>() / m as f64;
            let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (m - 1) as f64;
            let s = counts.summary(n);
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-300);
            assert!(close(s.mean, mean), "case {case}: {} vs {mean}", s.mean);
            assert!(
                close(s.sd, var.sqrt()) || (var == 0.0 && s.sd == 0.0),
                "case {case}: {} vs {}",
                s.sd,
                var.sqrt()
            );
            assert!(close(s.se, var.sqrt() / (m as f64).sqrt()) || var == 0.0);
            assert_eq!(s.ci_low, s.mean - Z_95 * s.se);
            assert_eq!(s.ci_high, s.mean + Z_95 * s.se);
        }
    }

    #[test]
    fn summary_is_exact_where_floating_point_would_cancel() {
        // Counts 2^55 and 2^55 + 2 alternating: Var(c) = m/(m-1) exactly, while
        // m*S2 ~ 2^130 overflows u128 and the naive f64 formula
        // S2/m - mean^2 loses the variance completely.
        let big = 1u64 << 55;
        let mut counts = PairCounts::default();
        for i in 0..1000u64 {
            counts.add(big + 2 * (i % 2)).unwrap();
        }
        let n = 1u64 << 32;
        let s = counts.summary(n);
        let expected_sd = 2.0 * (1000.0f64 / 999.0).sqrt() / n as f64;
        assert!(
            (s.sd - expected_sd).abs() < 1e-14 * expected_sd,
            "{} vs {expected_sd}",
            s.sd
        );
        assert_eq!(s.mean, 2.0 * (big + 1) as f64 / n as f64);
    }

    #[test]
    fn degenerate_summaries() {
        let one = PairCounts::single(10).summary(100);
        assert_eq!(one.mean, 0.2);
        assert!(one.sd.is_nan() && one.se.is_nan() && one.ci_low.is_nan() && one.ci_high.is_nan());
        let empty = PairCounts::default().summary(100);
        assert!(empty.mean.is_nan());
        let nobody = PairCounts::single(0)
            .merge(PairCounts::single(0))
            .unwrap()
            .summary(0);
        assert_eq!((nobody.mean, nobody.sd, nobody.se), (0.0, 0.0, 0.0));
        let constant = PairCounts::single(7)
            .merge(PairCounts::single(7))
            .unwrap()
            .summary(10);
        assert_eq!((constant.mean, constant.sd), (1.4, 0.0));
    }

    #[test]
    fn merge_is_checked_and_order_independent() {
        let a = PairCounts {
            iterations: 3,
            sum_pairs: 10,
            sum_pairs_squared: 40,
        };
        let b = PairCounts {
            iterations: 2,
            sum_pairs: 5,
            sum_pairs_squared: 13,
        };
        assert_eq!(a.merge(b).unwrap(), b.merge(a).unwrap());
        assert_eq!(
            a.merge(b).unwrap(),
            PairCounts {
                iterations: 5,
                sum_pairs: 15,
                sum_pairs_squared: 53
            }
        );
        let full = PairCounts {
            iterations: 1,
            sum_pairs: u128::MAX,
            sum_pairs_squared: 0,
        };
        assert!(matches!(full.merge(a), Err(SimError::Overflow(_))));
        let full = PairCounts {
            iterations: u64::MAX,
            sum_pairs: 0,
            sum_pairs_squared: 0,
        };
        assert!(matches!(full.merge(a), Err(SimError::Overflow(_))));
    }

    #[test]
    fn iteration_values() {
        assert_eq!(iteration_value(0, 0), 0.0);
        assert_eq!(iteration_value(0, 1), 0.0);
        assert_eq!(iteration_value(55, 1000), 0.11);
        let n = u32::MAX as u64;
        assert_eq!(iteration_value(n * (n - 1) / 2, n), (n - 1) as f64);
    }

    #[test]
    fn counts_serialise_u128_as_strings() {
        let c = PairCounts {
            iterations: 2,
            sum_pairs: u128::MAX,
            sum_pairs_squared: 1,
        };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"iterations":2,"sum_pairs":"340282366920938463463374607431768211455","sum_pairs_squared":"1"}"#
        );
        assert_eq!(serde_json::from_str::<PairCounts>(&json).unwrap(), c);
        // Plain integers are accepted too.
        let c2: PairCounts =
            serde_json::from_str(r#"{"iterations":2,"sum_pairs":5,"sum_pairs_squared":"13"}"#)
                .unwrap();
        assert_eq!(
            c2,
            PairCounts {
                iterations: 2,
                sum_pairs: 5,
                sum_pairs_squared: 13
            }
        );
        assert!(serde_json::from_str::<PairCounts>(
            r#"{"iterations":2,"sum_pairs":"-5","sum_pairs_squared":"1"}"#
        )
        .is_err());
        assert!(serde_json::from_str::<PairCounts>(
            r#"{"iterations":2,"sum_pairs":"1e3","sum_pairs_squared":"1"}"#
        )
        .is_err());
    }
}
