//! The exact expectation of the simulated quantity.
//!
//! For two independent uniform points in an `L x W` rectangle, the absolute
//! coordinate differences `U`, `V` are independent with densities
//! `2 (L - u) / L^2` on `[0, L]` and `2 (W - v) / W^2` on `[0, W]`, so
//!
//! `P(U^2 + V^2 < d^2) = 4 / (L^2 W^2) * int_0^min(d, L) (L - u) g(u) du`,
//! `g(u) = W h - h^2 / 2`, `h = min(W, sqrt(d^2 - u^2))`.
//!
//! With `n` people there are `n (n - 1) / 2` pairs and each close pair is 2
//! violations, so the expected violations per person are `(n - 1) P`.

use crate::room::Room;

/// P(two independent uniform points in an `x_length` x `y_length` rectangle
/// are closer than `distance`). Closed form when the disc fits in the room
/// (`distance <= min side`), numerical integration otherwise, 1 beyond the
/// diagonal. NaN for non-positive or non-finite arguments.
pub fn close_pair_probability(x_length: f64, y_length: f64, distance: f64) -> f64 {
    let ok = |v: f64| v.is_finite() && v > 0.0;
    if !(ok(x_length) && ok(y_length) && ok(distance)) {
        return f64::NAN;
    }
    // P is symmetric in the sides; fixing the order makes it exactly so.
    let (l, w) = if x_length >= y_length {
        (x_length, y_length)
    } else {
        (y_length, x_length)
    };
    if distance <= w {
        closed_form(l, w, distance)
    } else {
        numeric(l, w, distance)
    }
}

/// Expected violations per person, `(num_people - 1) * P`; 0 for fewer than
/// two people.
pub fn expected_violations(room: &Room) -> f64 {
    if room.num_people <= 1 {
        return 0.0;
    }
    (room.num_people - 1) as f64
        * close_pair_probability(room.x_length, room.y_length, room.distance)
}

/// `(pi d^2 L W - 4/3 d^3 (L + W) + d^4 / 2) / (L W)^2`, valid for
/// `d <= min(L, W)`. Written in ratios `d/L`, `d/W` so huge or tiny rooms do
/// not overflow.
pub(crate) fn closed_form(l: f64, w: f64, d: f64) -> f64 {
    let (a, b) = (d / l, d / w);
    a * b * (std::f64::consts::PI - 4.0 / 3.0 * (a + b) + 0.5 * a * b)
}

/// Numerical integration, valid for every `d > 0`.
///
/// With `u = d sin(t)` the integrand becomes smooth in `t` (the square root's
/// infinite slope at `u = d` disappears). The only other non-smooth point is
/// the kink where `sqrt(d^2 - u^2) = W`, i.e. `t_k = acos(W / d)` when
/// `d > W`; we integrate each side of it separately with adaptive
/// Gauss-Kronrod. Everything is scaled by `d` (`l = L/d`, `w = W/d`), so the
/// integrand is O(1) whatever the room's magnitude, and it is positive, so
/// there is no cancellation.
pub(crate) fn numeric(l: f64, w: f64, d: f64) -> f64 {
    // Beyond the diagonal every pair is close. (Compare squares of the
    // ratios to stay in range for huge or tiny rooms.)
    let (lr, wr) = (l / d, w / d);
    if lr * lr + wr * wr <= 1.0 {
        return 1.0;
    }
    let t_max = if lr >= 1.0 {
        std::f64::consts::FRAC_PI_2
    } else {
        lr.asin()
    };
    let t_kink = if wr < 1.0 { wr.acos().min(t_max) } else { 0.0 };
    // In units of d: u = sin t, du = cos t dt, h = min(w, cos t).
    let f = |t: f64| {
        let (s, c) = t.sin_cos();
        let h = c.min(wr);
        (lr - s) * (wr * h - 0.5 * h * h) * c
    };
    let integral = integrate(&f, &[0.0, t_kink, t_max]);
    (4.0 * integral / (lr * lr * wr * wr)).clamp(0.0, 1.0)
}

/// Globally adaptive Gauss-Kronrod quadrature (QUADPACK's QAG strategy):
/// start from the given breakpoints, repeatedly bisect the interval with the
/// largest error estimate until the total estimate is below 1e-13 of the
/// integral (the estimates are floored at roundoff level, about 1e-14 of
/// the integral, so a tighter target could never be met), with a hard cap
/// on the number of intervals so that it always terminates quickly.
fn integrate(f: &impl Fn(f64) -> f64, breakpoints: &[f64]) -> f64 {
    const MAX_INTERVALS: usize = 500;
    let mut parts: Vec<(f64, f64, f64, f64)> = breakpoints
        .windows(2)
        .filter(|w| w[1] > w[0])
        .map(|w| {
            let (k, e) = gk15(f, w[0], w[1]);
            (w[0], w[1], k, e)
        })
        .collect();
    loop {
        let total: f64 = parts.iter().map(|p| p.2).sum();
        let error: f64 = parts.iter().map(|p| p.3).sum();
        if error <= 1e-13 * total.abs() || parts.len() >= MAX_INTERVALS {
            return total;
        }
        let worst = (0..parts.len()).fold(0, |w, i| if parts[i].3 > parts[w].3 { i } else { w });
        let (a, b, _, _) = parts[worst];
        let m = 0.5 * (a + b);
        if m <= a || m >= b {
            return total; // the interval cannot be split further
        }
        let (k1, e1) = gk15(f, a, m);
        let (k2, e2) = gk15(f, m, b);
        parts[worst] = (a, m, k1, e1);
        parts.push((m, b, k2, e2));
    }
}

#[cfg(test)]
fn gauss_kronrod(f: &impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    integrate(f, &[a, b])
}

/// The 15-point Kronrod estimate of the integral over [a, b] and an
/// estimate of its error, from the embedded 7-point Gauss rule (QUADPACK's
/// QK15 nodes, weights and error formula).
#[allow(clippy::excessive_precision)] // the published constants, digit for digit
fn gk15(f: &impl Fn(f64) -> f64, a: f64, b: f64) -> (f64, f64) {
    const XGK: [f64; 8] = [
        0.991455371120812639206854697526329,
        0.949107912342758524526189684047851,
        0.864864423359769072789712788640926,
        0.741531185599394439863864773280788,
        0.586087235467691130294144845693013,
        0.405845151377397166906606412076961,
        0.207784955007898467600689403773245,
        0.000000000000000000000000000000000,
    ];
    const WGK: [f64; 8] = [
        0.022935322010529224963732008058970,
        0.063092092629978553290700663189204,
        0.104790010322250183839876322541518,
        0.140653259715525918745189590510238,
        0.169004726639267902826583426598550,
        0.190350578064785409913256402421014,
        0.204432940075298892414161999234649,
        0.209482141084727828012999174891714,
    ];
    // Gauss weights for the nodes XGK[1], XGK[3], XGK[5], XGK[7].
    const WG: [f64; 4] = [
        0.129484966168869693270611432679082,
        0.279705391489276667901467771423780,
        0.381830050505118944950369775488975,
        0.417959183673469387755102040816327,
    ];
    let c = 0.5 * (a + b);
    let h = 0.5 * (b - a);
    let fc = f(c);
    let pairs: [(f64, f64); 7] = std::array::from_fn(|j| (f(c - h * XGK[j]), f(c + h * XGK[j])));
    let mut k = WGK[7] * fc;
    let mut g = WG[3] * fc;
    for (j, &(f1, f2)) in pairs.iter().enumerate() {
        k += WGK[j] * (f1 + f2);
        if j % 2 == 1 {
            g += WG[j / 2] * (f1 + f2);
        }
    }
    // |K - G| vastly overestimates the Kronrod error for smooth integrands;
    // QUADPACK rescales it, and floors it at roundoff level.
    let mean = 0.5 * k;
    let mut abs = WGK[7] * fc.abs();
    let mut asc = WGK[7] * (fc - mean).abs();
    for (j, &(f1, f2)) in pairs.iter().enumerate() {
        abs += WGK[j] * (f1.abs() + f2.abs());
        asc += WGK[j] * ((f1 - mean).abs() + (f2 - mean).abs());
    }
    let (abs, asc) = (abs * h.abs(), asc * h.abs());
    let mut err = ((k - g) * h).abs();
    if asc != 0.0 && err != 0.0 {
        err = asc * (200.0 * err / asc).powf(1.5).min(1.0);
    }
    if abs > f64::MIN_POSITIVE / (50.0 * f64::EPSILON) {
        err = err.max(50.0 * f64::EPSILON * abs);
    }
    (k * h, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / a.abs().max(b.abs())
    }

    #[test]
    fn quadrature_rule_is_right() {
        // Weights sum to the interval length; polynomials of degree 22
        // (Kronrod) and 13 (Gauss) are integrated exactly.
        assert!((gk15(&|_| 1.0, -1.0, 1.0).0 - 2.0).abs() < 1e-15);
        assert!((gk15(&|x| x.powi(22), 0.0, 1.0).0 - 1.0 / 23.0).abs() < 1e-15);
        // The Gauss weights: the error estimate vanishes (to roundoff) when
        // both rules are exact, i.e. up to degree 13.
        assert!(gk15(&|x| x.powi(13), 0.0, 1.0).1 < 1e-13);
        assert!(gk15(&|x| x.powi(20), 0.0, 1.0).1 > 1e-9);
        assert!(rel(gauss_kronrod(&|x: f64| x.exp(), 0.0, 3.0), 3f64.exp() - 1.0) < 1e-14);
        assert!(
            rel(
                gauss_kronrod(&|x: f64| 1.0 / (1.0 + 100.0 * x * x), -1.0, 1.0),
                0.2 * 10f64.atan()
            ) < 1e-13
        );
    }

    #[test]
    fn numeric_path_agrees_with_closed_form() {
        let mut rng = crate::rng::SplitMix64::new(11);
        let mut unit = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        for _ in 0..2000 {
            let l = 10f64.powf(unit() * 8.0 - 4.0);
            let w = l * 10f64.powf(unit() * 3.0);
            let d = l.min(w) * unit().max(1e-6);
            let (big, small) = (l.max(w), l.min(w));
            let exact = closed_form(big, small, d);
            assert!(rel(numeric(big, small, d), exact) < 1e-12, "{l} {w} {d}");
            // The integral is not symmetric term by term; the answer must be.
            assert!(rel(numeric(small, big, d), exact) < 1e-12, "{l} {w} {d}");
        }
        // Exactly at d = min side both formulas apply.
        assert!(rel(numeric(2.0, 1.0, 1.0), closed_form(2.0, 1.0, 1.0)) < 1e-12);
        assert!(
            rel(
                numeric(1.0, 1.0, 1.0),
                std::f64::consts::PI - 8.0 / 3.0 + 0.5
            ) < 1e-12
        );
    }

    #[test]
    fn known_values_and_limits() {
        // Unit square, d = 1: pi - 8/3 + 1/2.
        assert!(
            rel(
                close_pair_probability(1.0, 1.0, 1.0),
                std::f64::consts::PI - 13.0 / 6.0
            ) < 1e-14
        );
        // Beyond the diagonal.
        assert_eq!(close_pair_probability(3.0, 4.0, 5.0), 1.0);
        assert_eq!(close_pair_probability(3.0, 4.0, 50.0), 1.0);
        assert!(close_pair_probability(3.0, 4.0, 4.999) < 1.0);
        assert!(close_pair_probability(3.0, 4.0, 4.999) > 0.9999);
        // Small d: P ~ pi d^2 / (L W).
        let p = close_pair_probability(1000.0, 1000.0, 6.0);
        assert!(rel(p, std::f64::consts::PI * 36.0 / 1e6) < 0.01);
        // Thin room (W << d << L): essentially a line segment, P ~ 2d/L - d^2/L^2.
        let (l, d) = (1e6, 600.0);
        assert!(
            rel(
                close_pair_probability(l, 1e-3, d),
                2.0 * d / l - d * d / (l * l)
            ) < 1e-8
        );
        // Reference workload: ~0.11 violations per person.
        let e = expected_violations(&Room {
            x_length: 1000.0,
            y_length: 1000.0,
            num_people: 1000,
            distance: 6.0,
        });
        assert!((e - 0.11).abs() < 0.005, "{e}");
        // Huge and tiny magnitudes: scale invariance.
        let base = close_pair_probability(3.0, 2.0, 2.5);
        assert!(rel(close_pair_probability(3e150, 2e150, 2.5e150), base) < 1e-13);
        assert!(rel(close_pair_probability(3e-150, 2e-150, 2.5e-150), base) < 1e-13);
        assert!(close_pair_probability(f64::NAN, 1.0, 1.0).is_nan());
        assert!(close_pair_probability(1.0, 0.0, 1.0).is_nan());
        let nobody = Room {
            x_length: 1.0,
            y_length: 1.0,
            num_people: 1,
            distance: 1.0,
        };
        assert_eq!(expected_violations(&nobody), 0.0);
    }

    #[test]
    fn symmetric_and_monotone() {
        let shapes: [(f64, f64); 4] = [(1.0, 1.0), (3.0, 1.0), (100.0, 0.5), (1e6, 1e-3)];
        for &(l, w) in &shapes {
            let diag = (l * l + w * w).sqrt();
            let mut last = 0.0;
            for k in 1..=400 {
                let d = diag * 1.1 * k as f64 / 400.0;
                let p = close_pair_probability(l, w, d);
                assert_eq!(p, close_pair_probability(w, l, d));
                assert!((0.0..=1.0).contains(&p));
                assert!(p >= last, "not monotone at {l} {w} {d}: {p} < {last}");
                last = p;
            }
            assert_eq!(last, 1.0);
        }
    }
}
