//! Counting close pairs in one iteration by sorting people by cell: for
//! rooms where linked cells do not suit (crowded cells, large rooms).
//!
//! The room is cut into cells at least `distance` wide and high, so a close
//! pair always lies in one cell or in two adjacent cells. People are
//! counting-sorted by cell. Cells are stored row by row with an empty ghost
//! column on each side and an empty ghost row on top, so a person in cell
//! `c` is compared with two contiguous ranges of the sorted people, with no
//! special cases at the walls: the later people of its own cell plus the
//! cell to its right (`c`, `c + 1`), and the three cells of the row above
//! (`c + w - 1 ..= c + w + 1`, `w` the stored row length). Every pair is
//! examined exactly once.
//!
//! Cells hold a quarter of a person on average (or more when `distance`
//! forces larger cells), so those ranges are very short. The code is shaped
//! for that: the first one or two candidates of each range are always
//! evaluated and masked when out of range (padding after the sorted people
//! keeps the loads in bounds), and a loop runs only in the rarer case of
//! more candidates. This avoids the unpredictable branches and dependency
//! chains that would otherwise dominate the cost.
//!
//! The number of cells is O(num_people) whatever the room's shape, so the
//! cost per iteration grows linearly with the number of people at fixed
//! density, and nothing is allocated per iteration.

use crate::cells::{cells_along, index, shrink_until, CELL_MARGIN, CHECK_EVERY};
use crate::draws::Draws;
use crate::error::SimError;
use crate::rng::{SplitMix64, TWO_POW_M53};
use crate::room::Room;

/// Target mean number of people per cell: at most
/// `num_people / PEOPLE_PER_CELL + 1` cells. Smaller cells mean fewer
/// candidates per person but more cell counters to clear and sum; 0.25 was
/// fastest on the reference workload (see `examples/throughput.rs`).
const PEOPLE_PER_CELL: f64 = 0.25;

/// Candidates always evaluated per person: in the own-and-right range and
/// in the row-above range. With PEOPLE_PER_CELL = 0.25 the ranges hold
/// 0.375 and 0.75 people on average, so longer ranges (handled by a loop)
/// are rare.
const SAME_FIXED: usize = 1;
const UP_FIXED: usize = 2;
/// Padding entries after the sorted people, so the fixed loads stay in bounds.
const PADDING: usize = 2;
const _: () = assert!(PADDING >= SAME_FIXED && PADDING >= UP_FIXED);

/// Upper bound on the number of cells, so that cell indices fit in u32 and
/// the rounding argument of `CELL_MARGIN` holds.
const MAX_CELLS: u64 = 1 << 29;

/// Largest number of people per iteration: positions within the sorted
/// array are stored as u32.
pub(crate) const MAX_PEOPLE: u64 = u32::MAX as u64;

/// The cell layout of a room: `cols` x `rows` cells stored row by row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SortedShape {
    pub cols: usize,
    pub rows: usize,
    /// `cols / x_length` and `rows / y_length`: coordinate to cell index.
    kx: f64,
    ky: f64,
}

impl SortedShape {
    /// The cell rule: cells are at least `distance` (plus margin) on each
    /// side and, when the room is roomy, about `sqrt(area / target)` on each
    /// side where `target = num_people / PEOPLE_PER_CELL`; along a side
    /// shorter than two such cells there is a single row (or column) and
    /// the other side is cut into at most `target` cells. Hence at most
    /// `target` cells in every geometry.
    pub fn for_room(room: &Room) -> SortedShape {
        let (l, w) = (room.x_length, room.y_length);
        let min_side = room.distance * (1.0 + CELL_MARGIN);
        let target =
            ((room.num_people as f64 / PEOPLE_PER_CELL).floor() as u64).clamp(1, MAX_CELLS);
        // sqrt of each factor separately, so that the area never overflows.
        let side = (l.sqrt() * w.sqrt() / (target as f64).sqrt()).max(min_side);
        let mut cols = cells_along(l, side, target);
        let mut rows = cells_along(w, side, target);
        if rows == 1 {
            cols = cells_along(l, min_side, target);
        } else if cols == 1 {
            rows = cells_along(w, min_side, target);
        }
        // Square cells of side >= sqrt(area / target) give cols * rows <= target;
        // guard against rounding anyway.
        let (cols, rows) = shrink_until(cols, rows, |c, r| c * r <= target);
        SortedShape {
            cols: cols as usize,
            rows: rows as usize,
            kx: cols as f64 / l,
            ky: rows as f64 / w,
        }
    }

    /// Real cells.
    #[cfg(test)]
    pub fn cells(&self) -> usize {
        self.cols * self.rows
    }

    /// Length of a stored row: the real columns and two ghosts.
    fn width(&self) -> usize {
        self.cols + 2
    }

    /// Stored cells, ghosts included: `(cols + 2) * (rows + 1)`, at most
    /// `4 * target + 2` (`2 * target + 4` for a single row).
    pub fn stored_cells(&self) -> usize {
        self.width() * (self.rows + 1)
    }

    /// The stored index of a point's cell. Clamped: `u * x_length` may round
    /// up to `x_length` itself, which belongs to the last column.
    #[inline(always)]
    fn cell_of(&self, p: [f64; 2]) -> usize {
        let cx = index(p[0] * self.kx, (self.cols - 1) as f64);
        let cy = index(p[1] * self.ky, (self.rows - 1) as f64);
        cy * self.width() + cx + 1
    }
}

/// Cells per band in the two-level sort of large rooms (see `SortedCells`):
/// a band holds about 2^16 * PEOPLE_PER_CELL = 16,384 people, whose points
/// and counters fit in a core's L2 cache.
const BAND_SHIFT: u32 = 16;

/// Number of bands for `cells` cells (1: single-level sort).
fn bands_for(cells: usize) -> usize {
    ((cells - 1) >> BAND_SHIFT) + 1
}

/// Bytes of scratch memory one worker needs: the coordinates and cell of each
/// person in two buffers, one counter per stored cell and per band.
/// Saturates at u64::MAX.
pub(crate) fn scratch_bytes(room: &Room) -> u64 {
    let n = room.num_people as u128;
    let (cells, bands) = if room.num_people <= MAX_PEOPLE {
        let cells = SortedShape::for_room(room).stored_cells();
        (cells as u128, bands_for(cells) as u128)
    } else {
        (4 * n, n)
    };
    let draw_counts = Draws::for_room(room).regions() as u128 * 8;
    let bytes = (n + PADDING as u128) * 2 * 16
        + n * 2 * 4
        + (cells + 2) * 4
        + (bands + 2) * 4
        + draw_counts;
    u64::try_from(bytes).unwrap_or(u64::MAX)
}

/// Makes `v` hold `len` copies of `value`; `TooLarge` naming `num_people` if
/// the allocation fails. Filled in blocks so that `stop` can interrupt the
/// setup of a huge room (`Ok(false)`).
fn fill<T: Clone>(
    v: &mut Vec<T>,
    len: usize,
    value: T,
    bytes_needed: u64,
    stop: &impl Fn() -> bool,
) -> Result<bool, SimError> {
    v.try_reserve_exact(len)
        .map_err(|_| SimError::too_large("num_people", bytes_needed.into()))?;
    while v.len() < len {
        if stop() {
            return Ok(false);
        }
        let next = (v.len() + (1 << 20)).min(len);
        v.resize(next, value.clone());
    }
    Ok(true)
}

/// One worker's reusable buffers: allocated once, reused for every iteration.
///
/// Sorting: with at most 2^16 cells, one counting sort `raw -> mid`. With
/// more cells (large rooms), a counting sort over all cells would touch
/// its counters and output at random over hundreds of megabytes, one cache
/// miss per person per pass; so people are first partitioned into bands of
/// 2^16 consecutive cells (`raw -> mid`, few counters, sequential output
/// streams), then each band is counting-sorted by cell on its own, in cache
/// (`mid -> raw`).
pub(crate) struct SortedCells {
    shape: SortedShape,
    draws: Draws,
    /// People per draw region of the iteration being counted.
    draw_counts: Vec<u64>,
    bands: usize,
    /// `x_length * 2^-53`, `y_length * 2^-53`: see `next_f64_times`.
    x_scaled: f64,
    y_scaled: f64,
    d2: f64,
    /// Number of people (`raw` and `mid` have PADDING more entries).
    n: usize,
    /// Coordinates and cell of each person: in generation order after
    /// pass 1, sorted by cell at the end when `bands > 1`.
    raw: Vec<[f64; 2]>,
    raw_cell: Vec<u32>,
    /// Sorted by cell when `bands == 1`, by band otherwise.
    mid: Vec<[f64; 2]>,
    mid_cell: Vec<u32>,
    /// Band counts, then band boundaries.
    band_starts: Vec<u32>,
    /// After sorting, stored cell `c` holds `sorted[starts[c]..starts[c + 1]]`
    /// (`sorted` being `mid` or `raw`, see above).
    starts: Vec<u32>,
}

impl SortedCells {
    /// Allocates the buffers for `room` (valid, with 2 to MAX_PEOPLE
    /// people) laid out as `shape`; failure is `TooLarge`, never an abort.
    /// Returns `Ok(None)` if `stop()` became true meanwhile.
    pub fn new(
        room: &Room,
        shape: SortedShape,
        draws: Draws,
        stop: &impl Fn() -> bool,
    ) -> Result<Option<SortedCells>, SimError> {
        let bytes = scratch_bytes(room);
        let n = room.num_people as usize;
        let padded = n + PADDING;
        let cells = shape.stored_cells() + 2;
        let bands = bands_for(shape.stored_cells());
        let mut scratch = SortedCells {
            shape,
            draws,
            draw_counts: Vec::new(),
            bands,
            x_scaled: room.x_length * TWO_POW_M53,
            y_scaled: room.y_length * TWO_POW_M53,
            d2: room.distance * room.distance,
            n,
            raw: Vec::new(),
            raw_cell: Vec::new(),
            mid: Vec::new(),
            mid_cell: Vec::new(),
            band_starts: Vec::new(),
            starts: Vec::new(),
        };
        let filled = (|| {
            Ok(fill(&mut scratch.raw, padded, [0.0; 2], bytes, stop)?
                && fill(&mut scratch.raw_cell, n, 0, bytes, stop)?
                && fill(&mut scratch.mid, padded, [0.0; 2], bytes, stop)?
                && fill(&mut scratch.mid_cell, n, 0, bytes, stop)?
                && fill(&mut scratch.band_starts, bands + 2, 0, bytes, stop)?
                && fill(&mut scratch.starts, cells, 0, bytes, stop)?
                && fill(&mut scratch.draw_counts, draws.regions(), 0, bytes, stop)?)
        })();
        match filled {
            Ok(true) => Ok(Some(scratch)),
            other => {
                // Stopped or out of memory: return at once (see below).
                scratch.release_in_background();
                other.map(|_| None)
            }
        }
    }

    /// Frees the buffers of a cancelled (or failed) run. Unmapping gigabytes
    /// takes a few hundred milliseconds, which should not delay the return
    /// of a cancelled run, so large buffers are freed on a short-lived
    /// background thread (or here, if no thread can be started). Finished
    /// runs just drop their scratch, so that the memory is available again
    /// when they return.
    pub fn release_in_background(self) {
        let bytes =
            self.raw.capacity() * 16 + self.mid.capacity() * 16 + self.starts.capacity() * 4;
        if bytes >= 256 << 20 {
            let _ = std::thread::Builder::new()
                .name("sagesim-free".into())
                .spawn(move || drop(self));
        }
    }

    /// Draws the people of iteration `iteration` and counts the pairs closer
    /// than `distance`. Returns `None` if `stop()` became true meanwhile.
    pub fn count_pairs(
        &mut self,
        seed: u64,
        iteration: u64,
        stop: &impl Fn() -> bool,
    ) -> Option<u64> {
        let sorted_in_raw = if self.bands == 1 {
            self.generate::<false>(seed, iteration, stop)?;
            let cells = (0, self.shape.stored_cells());
            let (src, dst) = (
                (&self.raw[..], &self.raw_cell[..]),
                (&mut self.mid[..], &mut self.mid_cell[..]),
            );
            sort_cells(src, dst, &mut self.starts, cells, (0, self.n), stop)?;
            false
        } else {
            self.generate::<true>(seed, iteration, stop)?;
            self.partition_bands(stop)?;
            for band in 0..self.bands {
                if stop() {
                    return None;
                }
                let first_cell = band << BAND_SHIFT;
                let cells = (
                    first_cell,
                    (first_cell + (1 << BAND_SHIFT)).min(self.shape.stored_cells()),
                );
                let people = (
                    self.band_starts[band] as usize,
                    self.band_starts[band + 1] as usize,
                );
                let (src, dst) = (
                    (&self.mid[..], &self.mid_cell[..]),
                    (&mut self.raw[..], &mut self.raw_cell[..]),
                );
                sort_cells(src, dst, &mut self.starts, cells, people, stop)?;
            }
            true
        };
        let (pts, cells) = if sorted_in_raw {
            (&self.raw, &self.raw_cell)
        } else {
            (&self.mid, &self.mid_cell)
        };
        count_sorted(self.shape, pts, cells, &self.starts, self.n, self.d2, stop)
    }

    /// Pass 1: positions, their cells and (if BANDED) the band counts.
    #[inline(never)]
    fn generate<const BANDED: bool>(
        &mut self,
        seed: u64,
        iteration: u64,
        stop: &impl Fn() -> bool,
    ) -> Option<()> {
        let stream = SplitMix64::for_iteration(seed, iteration);
        let draws = self.draws;
        draws.counts(seed, iteration, self.n as u64, &mut self.draw_counts);
        let scaled = (self.x_scaled, self.y_scaled);
        let shape = self.shape;
        self.band_starts.fill(0);
        let band_counts = &mut self.band_starts[1..];
        let mut at = 0;
        for (r, &count) in self.draw_counts.iter().enumerate() {
            let rng = draws.stream(&stream, r);
            for first in (0..count as usize).step_by(CHECK_EVERY) {
                if stop() {
                    return None;
                }
                let end = (first + CHECK_EVERY).min(count as usize);
                let points = self.raw[at..].iter_mut().zip(&mut self.raw_cell[at..]);
                for (j, (p, cell)) in (first..end).zip(points) {
                    // Person j of the draw region takes outputs 2j + 1 and 2j + 2.
                    let k = 2 * j as u64;
                    let (x, y) = draws.position(r, (rng.output(k + 1), rng.output(k + 2)), scaled);
                    let c = shape.cell_of([x, y]);
                    *p = [x, y];
                    *cell = c as u32;
                    if BANDED {
                        band_counts[c >> BAND_SHIFT] += 1;
                    }
                }
                at += end - first;
            }
        }
        Some(())
    }

    /// Pass 2 of the banded sort: `raw -> mid` by band; afterwards band `b`
    /// occupies `mid[band_starts[b]..band_starts[b + 1]]`.
    #[inline(never)]
    fn partition_bands(&mut self, stop: &impl Fn() -> bool) -> Option<()> {
        // band_starts[b + 1] holds the count of band b; shifted running sums
        // as in `sort_cells`, with band_starts[b] as the write cursor.
        let mut total = 0u32;
        for s in &mut self.band_starts[1..] {
            let count = *s;
            *s = total;
            total += count;
        }
        let cursor = &mut self.band_starts[1..];
        let points = &self.raw[..self.n];
        for (block, (pts, cells)) in points
            .chunks(CHECK_EVERY)
            .zip(self.raw_cell.chunks(CHECK_EVERY))
            .enumerate()
        {
            if block > 0 && stop() {
                return None;
            }
            for (p, &c) in pts.iter().zip(cells) {
                let slot = &mut cursor[(c >> BAND_SHIFT) as usize];
                let at = *slot as usize;
                self.mid[at] = *p;
                self.mid_cell[at] = c;
                *slot += 1;
            }
        }
        // Now band_starts[b + 1] is the end of band b, band_starts[0] = 0.
        Some(())
    }
}

/// Counting sort of people `people.0..people.1` of `src` (coordinates,
/// cells), all in cells `cells.0..cells.1`, into the same positions of
/// `dst`, by cell. Fills `starts[cells.0 + 1..=cells.1 + 1]`; expects
/// `starts[cells.0 + 1]` (or, for the first cells, `starts[0..2]`) to hold
/// `people.0`, which is what sorting the preceding cells leaves there.
/// Afterwards cell `c` occupies `dst[starts[c]..starts[c + 1]]`.
#[inline(never)]
fn sort_cells(
    (src, src_cell): (&[[f64; 2]], &[u32]),
    (dst, dst_cell): (&mut [[f64; 2]], &mut [u32]),
    starts: &mut [u32],
    (first_cell, end_cell): (usize, usize),
    (first, end): (usize, usize),
    stop: &impl Fn() -> bool,
) -> Option<()> {
    if first_cell == 0 {
        starts[0] = 0;
        starts[1] = 0;
    }
    // starts[c + 2] counts cell c; running sums from starts[first_cell + 1]
    // make starts[c + 1] the first slot of cell c, used as a write cursor
    // that ends at the first slot of cell c + 1.
    let counts = &mut starts[first_cell + 2..end_cell + 2];
    for (block, chunk) in counts.chunks_mut(CHECK_EVERY).enumerate() {
        if block > 0 && stop() {
            return None;
        }
        chunk.fill(0);
    }
    let cells = &src_cell[first..end];
    for (block, chunk) in cells.chunks(CHECK_EVERY).enumerate() {
        if block > 0 && stop() {
            return None;
        }
        for &c in chunk {
            starts[c as usize + 2] += 1;
        }
    }
    let mut total = starts[first_cell + 1];
    for (block, chunk) in starts[first_cell + 2..end_cell + 2]
        .chunks_mut(CHECK_EVERY)
        .enumerate()
    {
        if block > 0 && stop() {
            return None;
        }
        for s in chunk {
            total += *s;
            *s = total;
        }
    }
    let cursor = &mut starts[1..];
    for (block, (pts, cells)) in src[first..end]
        .chunks(CHECK_EVERY)
        .zip(cells.chunks(CHECK_EVERY))
        .enumerate()
    {
        if block > 0 && stop() {
            return None;
        }
        for (p, &c) in pts.iter().zip(cells) {
            let slot = &mut cursor[c as usize];
            let at = *slot as usize;
            dst[at] = *p;
            dst_cell[at] = c;
            *slot += 1;
        }
    }
    Some(())
}

/// Pass 3: every pair in the same or adjacent cells, examined once. `pts`
/// holds the `n` people sorted by cell, then PADDING entries; `cells` their
/// cells.
#[inline(never)]
fn count_sorted(
    shape: SortedShape,
    pts: &[[f64; 2]],
    cells: &[u32],
    starts: &[u32],
    n: usize,
    d2: f64,
    stop: &impl Fn() -> bool,
) -> Option<u64> {
    let width = shape.width();
    let pts = &pts[..n + PADDING];
    let cells = &cells[..n];
    let starts = &starts[..shape.stored_cells() + 2];
    let mut count = 0u64;
    // Comparisons in the (rare) loops since the last check for a stop.
    let mut work = 0usize;
    for (block, first) in (0..n).step_by(CHECK_EVERY).enumerate() {
        if block > 0 && stop() {
            return None;
        }
        for i in first..(first + CHECK_EVERY).min(n) {
            let p = pts[i];
            let c = cells[i] as usize;
            // Later people of this cell and the cell to the right; then the
            // three cells above. Ghost cells keep both ranges in bounds at
            // the walls, and are empty.
            let same_end = starts[c + 2] as usize;
            let (up_b, up_e) = (
                starts[c + width - 1] as usize,
                starts[c + width + 2] as usize,
            );
            count += count_range::<SAME_FIXED>(p, pts, i + 1, same_end, d2, &mut work);
            count += count_range::<UP_FIXED>(p, pts, up_b, up_e, d2, &mut work);
            if work >= CHECK_EVERY {
                // Only dense rooms get here: long ranges.
                work = 0;
                if stop() {
                    return None;
                }
            }
        }
    }
    Some(count)
}

/// The model's predicate: `dx*dx + dy*dy < d*d`, evaluated exactly so in f64
/// (`dx` has the same square whichever point comes first).
#[inline(always)]
fn close(p: [f64; 2], q: [f64; 2], d2: f64) -> bool {
    let dx = p[0] - q[0];
    let dy = p[1] - q[1];
    dx * dx + dy * dy < d2
}

/// Number of people in `pts[from..to]` close to `p`. The first `FIXED`
/// candidates are evaluated unconditionally and masked (`pts` extends at
/// least `FIXED` entries past `to`), the rest by a loop that usually does
/// not run; its length is added to `work`.
#[inline(always)]
fn count_range<const FIXED: usize>(
    p: [f64; 2],
    pts: &[[f64; 2]],
    from: usize,
    to: usize,
    d2: f64,
    work: &mut usize,
) -> u64 {
    let mut n = 0u64;
    for k in 0..FIXED {
        n += u64::from((from + k < to) & close(p, pts[from + k], d2));
    }
    if from + FIXED < to {
        for &q in &pts[from + FIXED..to] {
            n += u64::from(close(p, q, d2));
        }
        *work += to - from;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{brute_force_pairs, never, room, Params};

    #[test]
    fn banded_sort_matches_brute_force() {
        // Force more than 2^16 cells on rooms small enough for brute force,
        // so that the two-level sort (several bands, some empty) is used.
        let mut p = Params(crate::rng::SplitMix64::new(77));
        let mut tested = 0;
        for case in 0..12u64 {
            let n = 500 + p.below(3000);
            let (x, y) = (p.log_uniform(100.0, 2000.0), p.log_uniform(100.0, 2000.0));
            let r = room(x, y, n, p.log_uniform(0.05, 1.0));
            let cols = (x / (r.distance * 1.001)).floor().min(600.0) as usize;
            let rows = (y / (r.distance * 1.001)).floor().min(600.0) as usize;
            let shape = SortedShape {
                cols,
                rows,
                kx: cols as f64 / x,
                ky: rows as f64 / y,
            };
            if shape.stored_cells() <= 1 << BAND_SHIFT {
                continue;
            }
            let mut s = SortedCells::new(&r, shape, Draws::for_room(&r), &never)
                .unwrap()
                .unwrap();
            assert!(s.bands > 1);
            for it in 1..=2 {
                assert_eq!(
                    s.count_pairs(case, it, &never).unwrap(),
                    brute_force_pairs(&r, case, it),
                    "{r:?} {shape:?}"
                );
            }
            tested += 1;
        }
        assert!(tested >= 4, "only {tested} banded cases");
        // The natural layout of a large room is banded.
        assert!(
            bands_for(SortedShape::for_room(&room(1e5, 1e5, 1_000_000, 6.0)).stored_cells()) > 1
        );
    }

    #[test]
    fn people_drawn_in_regions_are_counted_like_all_pairs() {
        // Small crowded rooms drawn in many regions (forced; rooms of 2^16
        // people or more are), one band and several.
        use crate::test_util::brute_force_pairs_in_regions;
        for (k, (r, bits)) in [
            (room(10.0, 10.0, 3000, 1.0), 6),
            (room(30.0, 7.0, 2000, 2.0), 9),
            (room(1e-3, 1e6, 2000, 600.0), 3),
        ]
        .into_iter()
        .enumerate()
        {
            let draws = Draws::with_bits(&r, bits);
            let mut s = SortedCells::new(&r, SortedShape::for_room(&r), draws, &never)
                .unwrap()
                .unwrap();
            for it in 1..=2 {
                assert_eq!(
                    s.count_pairs(k as u64, it, &never).unwrap(),
                    brute_force_pairs_in_regions(&r, bits, draws.along_x, k as u64, it),
                    "{r:?}"
                );
            }
        }
    }

    #[test]
    fn points_on_the_far_wall_go_in_the_last_cell() {
        // A point exactly on the far wall must go in the last cell.
        let r = room(1000.0, 1000.0, 1000, 6.0);
        let s = SortedShape::for_room(&r);
        assert_eq!(
            s.cell_of([1000.0, 1000.0]),
            (s.rows - 1) * s.width() + s.cols
        );
        assert_eq!(s.cell_of([0.0, 0.0]), 1);
    }

    #[test]
    fn cell_count_is_bounded_for_every_shape() {
        let mut p = Params(crate::rng::SplitMix64::new(7));
        for _ in 0..20_000 {
            let r = p.extreme_room((1.0, 4e9));
            let (x, y, n, d) = (r.x_length, r.y_length, r.num_people, r.distance);
            let s = SortedShape::for_room(&r);
            assert!(s.cols >= 1 && s.rows >= 1);
            assert!(
                (s.cells() as f64) <= n as f64 / PEOPLE_PER_CELL + 1.0,
                "{r:?} -> {s:?}"
            );
            assert!(
                s.stored_cells() as f64 <= 4.0 * (n as f64 / PEOPLE_PER_CELL) + 2.0,
                "{r:?} -> {s:?}"
            );
            // Cells are never smaller than the distance.
            if s.cols > 1 {
                assert!(x / s.cols as f64 >= d, "{r:?} -> {s:?}");
            }
            if s.rows > 1 {
                assert!(y / s.rows as f64 >= d, "{r:?} -> {s:?}");
            }
        }
        // The reference workload does not use a 166 x 166 grid of d-sized cells.
        let s = SortedShape::for_room(&room(1000.0, 1000.0, 1000, 6.0));
        assert!(s.cells() <= 4000, "{s:?}");
    }
}
