//! Cell arithmetic shared by the counting methods (`sorted.rs`,
//! `linked.rs`): how many cells fit along a side, shrinking a layout to a
//! budget, a coordinate's cell, and how often long loops look at the stop
//! flag.

/// Cells are at least `distance * (1 + CELL_MARGIN)` on each side (twice
/// that for linked cells). The margin absorbs the rounding of
/// `x * (cols / x_length)` and of `dx = x1 - x2`, so two points whose
/// computed distance is below `distance` never land two columns (or rows)
/// apart: with at most 2^29 columns the rounding shifts a cell coordinate by
/// less than 2^-23 of a cell, far below the margin.
pub(crate) const CELL_MARGIN: f64 = 1e-5;

/// How often (in people generated, pairs examined or list steps) a long
/// iteration checks whether it should stop: about every 0.1 ms of work.
pub(crate) const CHECK_EVERY: usize = 1 << 16;

/// Largest count `k >= 1` with `k * side <= length` (`side > 0`), bounded by `cap`.
pub(crate) fn cells_along(length: f64, side: f64, cap: u64) -> u64 {
    // `as` saturates (and maps NaN to 0), so huge ratios are safe.
    let mut k = ((length / side) as u64).clamp(1, cap.max(1));
    // Undo a rounding-up of the division: make sure the cells really are
    // at least `side` long.
    while k > 1 && (k as f64) * side > length {
        k -= 1;
    }
    k
}

/// Removes a column or a row at a time, from the longer side, until
/// `fits(cols, rows)`; never below one of each.
pub(crate) fn shrink_until(
    mut cols: u64,
    mut rows: u64,
    fits: impl Fn(u64, u64) -> bool,
) -> (u64, u64) {
    while !fits(cols, rows) && (cols > 1 || rows > 1) {
        if cols >= rows {
            cols -= 1;
        } else {
            rows -= 1;
        }
    }
    (cols, rows)
}

/// `min(floor(t), last)` for a cell coordinate `t >= 0` (finite, as
/// coordinates and scale factors are) and `last < 2^29`.
#[inline(always)]
pub(crate) fn index(t: f64, last: f64) -> usize {
    // Not `f64::min`, whose NaN handling costs instructions; t is never NaN.
    let t = if t < last { t } else { last };
    debug_assert!((0.0..=last).contains(&t));
    // SAFETY: 0 <= t <= last < 2^29, so t truncates to a representable i32.
    // (The checked `as` conversion costs several instructions per
    // coordinate in the hottest loops.)
    unsafe { t.to_int_unchecked::<i32>() as usize }
}
