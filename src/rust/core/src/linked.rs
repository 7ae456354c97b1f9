//! Counting close pairs with linked cells, for rooms whose grid fits in
//! cache (the reference workload and anything like it).
//!
//! Cells are at least twice `distance` on each side, so everyone within
//! `distance` of a person lies in its own cell or in the neighbours on the
//! side of the cell's half (left or right, lower or upper) the person is in:
//! a 2 x 2 block of cells.
//!
//! Pass 1 draws everyone's position and block. Each person is a pure
//! function of its index (see `rng.rs`) and the pass has no branch on the
//! data, so it is vectorised, with AVX-512 or AVX2 when the CPU has them.
//! Pass 2 places people one at a time: each newcomer notes the lists of
//! its block as they stand (the people placed before it), then joins its
//! cell's list (`head` holds the last person placed in a cell, `next` the
//! one placed before). Per person: four cache-resident loads, almost always
//! "empty", and a few stores, with no branch on the data; no sort, no
//! running sum over the cells. Then each noted list is walked and its
//! people compared with the newcomer: each pair is examined once, when its
//! second person arrives.
//!
//! Cells are sparse (about one person per `CELLS_PER_PERSON` cells) so that
//! the people compared are few; a ghost border of empty cells spares the
//! walls any special case. The count is exact: the same number of close
//! pairs the sorted grid (or a comparison of all pairs) finds for the same
//! people, so results do not depend on which method ran.

use crate::cells::{cells_along, index, shrink_until, CELL_MARGIN, CHECK_EVERY};
use crate::rng::{top53, SplitMix64, TWO_POW_M53};
use crate::room::Room;

/// Sparse cells: an empty block costs nothing much, a person in one a
/// distance computation and often a mispredicted branch. (With `distance`
/// 6 in the reference room, cells are 12 wide anyway: the floor wins.)
const CELLS_PER_PERSON: f64 = 8.0;

/// This method is used while its cells (2 or 4 bytes each) fit in a core's
/// L2 cache; larger rooms sort by cell instead (`sorted.rs`).
pub(crate) const MAX_CELLS: usize = 1 << 18;

/// The layout: `cols` x `rows` real cells inside a one-cell ghost border.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LinkedShape {
    cols: usize,
    rows: usize,
    /// `2 * cols / x_length` and `2 * rows / y_length`: coordinate to
    /// half-cell index.
    kx2: f64,
    ky2: f64,
}

impl LinkedShape {
    /// Cells at least `2 * distance` (plus margin) on each side, and about
    /// `CELLS_PER_PERSON` of them per person when the room allows. (Along a
    /// side shorter than that there is a single row or column, and the
    /// neighbours on that side are ghosts.)
    pub fn for_room(room: &Room) -> LinkedShape {
        let (l, w) = (room.x_length, room.y_length);
        let min_side = 2.0 * room.distance * (1.0 + CELL_MARGIN);
        let target = ((room.num_people as f64 * CELLS_PER_PERSON) as u64).max(1);
        let side = (l.sqrt() * w.sqrt() / (target as f64).sqrt()).max(min_side);
        let cap = MAX_CELLS as u64;
        let cols = cells_along(l, side, cap);
        let rows = cells_along(w, side, (cap / cols).max(1));
        // Fewer, larger cells until the ghost border fits too.
        let (cols, rows) = shrink_until(cols, rows, |c, r| (c + 2) * (r + 2) <= cap);
        LinkedShape {
            cols: cols as usize,
            rows: rows as usize,
            kx2: 2.0 * cols as f64 / l,
            ky2: 2.0 * rows as f64 / w,
        }
    }

    fn width(&self) -> usize {
        self.cols + 2
    }

    /// Stored cells, the ghost border included.
    pub fn stored_cells(&self) -> usize {
        self.width() * (self.rows + 2)
    }

    /// People per real cell on average.
    pub fn occupancy(&self, num_people: u64) -> f64 {
        num_people as f64 / (self.cols * self.rows) as f64
    }

    /// The stored indices of a point's cell and of the three other cells of
    /// its block: the neighbours on the side of the half (left or right,
    /// lower or upper) of its cell the point is in. Computed from the
    /// point's half-cell coordinates, clamped like `GridShape::cell_of`
    /// (`u * x_length` may round up to `x_length`). The margin on the cell
    /// size makes rounding harmless: a point taken for the left half is at
    /// most a hair right of the middle, still more than `distance` from the
    /// right neighbour.
    #[inline(always)]
    fn block_of(&self, x: f64, y: f64) -> u32 {
        let hx = index(x * self.kx2, (2 * self.cols - 1) as f64);
        let hy = index(y * self.ky2, (2 * self.rows - 1) as f64);
        // Below MAX_CELLS (< 2^30) with the border: u32 arithmetic is exact.
        let c = (((hy >> 1) + 1) * self.width() + (hx >> 1) + 1) as u32;
        c | ((hx as u32 & 1) << RIGHT_BIT) | ((hy as u32 & 1) << UPPER_BIT)
    }

    /// The four cells of a block from `block_of`, its own cell first.
    #[inline(always)]
    fn cells(&self, block: u32) -> [usize; 4] {
        let c = (block & CELL_MASK) as usize;
        // Arithmetic, not branches: the halves are a coin toss, which a
        // branch predictor would get wrong half the time.
        let side = (2 * ((block >> RIGHT_BIT) & 1) as usize).wrapping_sub(1);
        let row = (2 * ((block >> UPPER_BIT) & 1) as usize)
            .wrapping_sub(1)
            .wrapping_mul(self.width());
        [
            c,
            c.wrapping_add(side),
            c.wrapping_add(row),
            c.wrapping_add(side).wrapping_add(row),
        ]
    }
}

/// A block packs its cell's index with the halves the point is in.
const RIGHT_BIT: u32 = 30;
const UPPER_BIT: u32 = 31;
const CELL_MASK: u32 = (1 << RIGHT_BIT) - 1;
const _: () = assert!(MAX_CELLS < 1 << RIGHT_BIT);

/// One worker's buffers for this method, allocated once.
pub(crate) struct LinkedCells<I: PersonIndex> {
    shape: LinkedShape,
    x_scaled: f64,
    y_scaled: f64,
    d2: f64,
    /// Positions of everyone, drawn in a first pass.
    xs: Vec<f64>,
    ys: Vec<f64>,
    /// Each person's block (its cell first), also from the first pass: the
    /// second pass then only loads them, so its rare data-dependent branch
    /// is resolved (and, when mispredicted, repaired) quickly.
    block: Vec<u32>,
    /// `head[cell]`: the last person placed in the cell (`I::EMPTY` if
    /// none); `next[j]`: the person placed in j's cell before j.
    head: Vec<I>,
    next: Vec<I>,
    /// The lists to read in pass 2: `[j, list]`, person j meets the people
    /// on the list starting at `list`. Room for four per person of a chunk.
    noted: Vec<[I; 2]>,
    draw: DrawFn,
}

/// A person's index in the cell lists: u16 when everyone fits, which halves
/// the memory the second pass touches at random (measurably faster), else
/// u32. The all-ones value means "nobody".
pub(crate) trait PersonIndex: Copy + Eq {
    const EMPTY: Self;
    /// `j` must be below `EMPTY`.
    fn from_person(j: usize) -> Self;
    fn person(self) -> usize;
}

impl PersonIndex for u16 {
    const EMPTY: u16 = u16::MAX;
    #[inline(always)]
    fn from_person(j: usize) -> u16 {
        j as u16
    }
    #[inline(always)]
    fn person(self) -> usize {
        self as usize
    }
}

impl PersonIndex for u32 {
    const EMPTY: u32 = u32::MAX;
    #[inline(always)]
    fn from_person(j: usize) -> u32 {
        j as u32
    }
    #[inline(always)]
    fn person(self) -> usize {
        self as usize
    }
}

impl<I: PersonIndex> LinkedCells<I> {
    /// `room` must be valid, with at least two people and fewer than
    /// `I::EMPTY`.
    pub fn new(
        room: &Room,
        shape: LinkedShape,
        pass1: Pass1,
    ) -> Result<Self, std::collections::TryReserveError> {
        fn filled<T: Clone>(
            len: usize,
            value: T,
        ) -> Result<Vec<T>, std::collections::TryReserveError> {
            let mut v = Vec::new();
            v.try_reserve_exact(len)?;
            v.resize(len, value);
            Ok(v)
        }
        let n = room.num_people as usize;
        Ok(LinkedCells {
            shape,
            x_scaled: room.x_length * TWO_POW_M53,
            y_scaled: room.y_length * TWO_POW_M53,
            d2: room.distance * room.distance,
            xs: filled(n, 0.0)?,
            ys: filled(n, 0.0)?,
            block: filled(n, 0)?,
            head: filled(shape.stored_cells(), I::EMPTY)?,
            next: filled(n, I::EMPTY)?,
            noted: filled(4 * n.min(CHECK_EVERY), [I::EMPTY; 2])?,
            draw: pass1.draw_fn(),
        })
    }

    /// Draws the people of `iteration` exactly as the sorted grid does and
    /// counts the close pairs. `None` if `stop()` became true meanwhile.
    pub fn count_pairs(
        &mut self,
        seed: u64,
        iteration: u64,
        stop: &impl Fn() -> bool,
    ) -> Option<u64> {
        let rng = SplitMix64::for_iteration(seed, iteration);
        let n = self.xs.len();
        for first in (0..n).step_by(CHECK_EVERY) {
            if stop() {
                return None;
            }
            let end = (first + CHECK_EVERY).min(n);
            let people = People {
                xs: &mut self.xs[first..end],
                ys: &mut self.ys[first..end],
                block: &mut self.block[first..end],
            };
            (self.draw)(
                &rng,
                first as u64,
                people,
                &self.shape,
                self.x_scaled,
                self.y_scaled,
            );
        }
        self.pair_up(stop)
    }

    /// Pass 2, in chunks of people. Placement: each person, in order,
    /// notes the lists of its block as they stand (people placed before it),
    /// then joins its cell's list. Meeting: the distances to the people on
    /// those lists.
    #[inline(never)]
    fn pair_up(&mut self, stop: &impl Fn() -> bool) -> Option<u64> {
        self.head.fill(I::EMPTY);
        let n = self.xs.len();
        let mut count = 0u64;
        for first in (0..n).step_by(CHECK_EVERY) {
            if stop() {
                return None;
            }
            let end = (first + CHECK_EVERY).min(n);
            let noted = self.place(first, end);
            count += self.meet(noted, stop)?;
        }
        Some(count)
    }

    /// Places people `first..end` and notes, for each, the non-empty lists
    /// of its block in `noted`; returns how many it noted. No branch on the
    /// data: three blocks in four are empty and a branch on that would be
    /// mispredicted for about a person in four; instead every list is
    /// written down and the next write lands on the same place unless the
    /// list had someone on it. (Noting a whole block per person instead,
    /// walking its four lists later, measured slower.)
    fn place(&mut self, first: usize, end: usize) -> usize {
        let shape = self.shape;
        let (head, next) = (&mut self.head[..], &mut self.next[..end]);
        let blocks = &self.block[first..end];
        // Room for four lists per person of the chunk.
        let noted = &mut self.noted[..];
        assert!(noted.len() >= 4 * blocks.len());
        let mut m = 0usize;
        for (j, &block) in (first..end).zip(blocks) {
            let cells = shape.cells(block);
            // In bounds: the ghost border surrounds every real cell; and
            // m <= 4 * (j - first) by the count above.
            debug_assert!(cells.iter().all(|&cell| cell < head.len()));
            // SAFETY: as above, for every unchecked access below.
            unsafe {
                let lists = cells.map(|cell| *head.get_unchecked(cell));
                for list in lists {
                    *noted.get_unchecked_mut(m) = [I::from_person(j), list];
                    m += usize::from(list != I::EMPTY);
                }
                *next.get_unchecked_mut(j) = lists[0];
                *head.get_unchecked_mut(cells[0]) = I::from_person(j);
            }
        }
        m
    }

    /// Counts the close pairs between each noted person and the people on
    /// its noted list: those placed before it in that cell, since `next`
    /// never changes once written.
    fn meet(&self, noted_count: usize, stop: &impl Fn() -> bool) -> Option<u64> {
        let d2 = self.d2;
        let (xs, ys, next) = (&self.xs[..], &self.ys[..], &self.next[..]);
        let mut count = 0u64;
        // List steps since the last look at the stop flag (crowded cells).
        let mut steps = 0usize;
        for &[j, list] in &self.noted[..noted_count] {
            let (x, y) = (xs[j.person()], ys[j.person()]);
            let mut k = list;
            // Each list noted has someone on it, and lists hold people
            // placed before j: the indices below are in bounds.
            loop {
                let q = k.person();
                debug_assert!(q < j.person());
                // SAFETY: as above.
                let (qx, qy) = unsafe { (*xs.get_unchecked(q), *ys.get_unchecked(q)) };
                let (ex, ey) = (x - qx, y - qy);
                count += u64::from(ex * ex + ey * ey < d2);
                steps += 1;
                k = unsafe { *next.get_unchecked(q) };
                if k == I::EMPTY {
                    break;
                }
            }
            if steps >= CHECK_EVERY {
                // Only crowded neighbourhoods get here.
                steps = 0;
                if stop() {
                    return None;
                }
            }
        }
        Some(count)
    }
}

/// A slice of consecutive people to draw: positions and blocks.
pub(crate) struct People<'a> {
    xs: &'a mut [f64],
    ys: &'a mut [f64],
    block: &'a mut [u32],
}

/// Pass 1 over some people: `(stream, first person's index, people, ...)`.
type DrawFn = fn(&SplitMix64, u64, People<'_>, &LinkedShape, f64, f64);

/// Pass 1: positions and blocks. Every person is a pure function of its
/// index (see `rng.rs`) with no branch on the data, so this loop is
/// vectorised; the wide variants only let the compiler use wider registers.
/// All variants compute the same bits: integer arithmetic, exact int-to-float
/// conversions and correctly rounded IEEE multiplications (no fused
/// multiply-add is ever formed) do not depend on the instruction set.
#[inline(always)]
fn draw_people(
    rng: &SplitMix64,
    first: u64,
    people: People<'_>,
    shape: &LinkedShape,
    x_scaled: f64,
    y_scaled: f64,
) {
    let People { xs, ys, block } = people;
    let n = xs.len();
    let (ys, block) = (&mut ys[..n], &mut block[..n]);
    for i in 0..n {
        // Person j takes outputs 2j + 1 (x) and 2j + 2 (y) of the stream.
        let k = 2 * (first + i as u64);
        let x = top53(rng.output(k + 1)) * x_scaled;
        let y = top53(rng.output(k + 2)) * y_scaled;
        xs[i] = x;
        ys[i] = y;
        block[i] = shape.block_of(x, y);
    }
}

fn draw_portable(
    rng: &SplitMix64,
    first: u64,
    people: People<'_>,
    shape: &LinkedShape,
    xs: f64,
    ys: f64,
) {
    draw_people(rng, first, people, shape, xs, ys)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn draw_avx2(
    rng: &SplitMix64,
    first: u64,
    people: People<'_>,
    shape: &LinkedShape,
    xs: f64,
    ys: f64,
) {
    draw_people(rng, first, people, shape, xs, ys)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl")]
unsafe fn draw_avx512(
    rng: &SplitMix64,
    first: u64,
    people: People<'_>,
    shape: &LinkedShape,
    xs: f64,
    ys: f64,
) {
    draw_people(rng, first, people, shape, xs, ys)
}

/// The instruction set pass 1 runs with. All variants compute the same
/// bits; the constructor takes one explicitly so that tests can run each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pass1 {
    Portable,
    Avx2,
    Avx512,
}

impl Pass1 {
    /// The widest variant this CPU runs.
    pub fn fastest() -> Pass1 {
        [Pass1::Avx512, Pass1::Avx2]
            .into_iter()
            .find(|v| v.is_available())
            .unwrap_or(Pass1::Portable)
    }

    /// Whether this CPU has the instructions the variant needs.
    pub fn is_available(self) -> bool {
        match self {
            Pass1::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Pass1::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Pass1::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                    && std::arch::is_x86_feature_detected!("avx512vl")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The variant's function; `Portable` when the CPU lacks the variant.
    fn draw_fn(self) -> DrawFn {
        if !self.is_available() {
            return draw_portable;
        }
        match self {
            Pass1::Portable => draw_portable,
            // SAFETY (both): the features were detected by `is_available`.
            #[cfg(target_arch = "x86_64")]
            Pass1::Avx2 => |r, f, p, s, x, y| unsafe { draw_avx2(r, f, p, s, x, y) },
            #[cfg(target_arch = "x86_64")]
            Pass1::Avx512 => |r, f, p, s, x, y| unsafe { draw_avx512(r, f, p, s, x, y) },
            #[cfg(not(target_arch = "x86_64"))]
            _ => draw_portable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{brute_force_pairs, never, room};

    fn pairs<I: PersonIndex>(r: &Room, seed: u64, iteration: u64) -> u64 {
        let mut cells =
            LinkedCells::<I>::new(r, LinkedShape::for_room(r), Pass1::fastest()).unwrap();
        cells.count_pairs(seed, iteration, &never).unwrap()
    }

    #[test]
    fn linked_cells_match_brute_force_with_both_index_widths() {
        let cases = [
            room(1000.0, 1000.0, 1000, 6.0), // the reference workload
            room(1000.0, 1000.0, 2, 6.0),
            room(1e6, 1e-3, 2000, 1e-4),  // thin: a single row of cells
            room(1e-3, 1e6, 2000, 1e-4),  // thin, transposed
            room(50.0, 5000.0, 800, 2.0), // a few columns
            room(3.0, 3.0, 400, 0.025),   // sides a multiple of 2d
            room(1e100, 1e100, 500, 1e97),
            room(1e-100, 1e-100, 500, 1e-103),
        ];
        for (k, r) in cases.iter().enumerate() {
            let shape = LinkedShape::for_room(r);
            assert!(
                shape.stored_cells() <= MAX_CELLS && shape.occupancy(r.num_people) <= 0.25,
                "{r:?}"
            );
            for it in 1..=3 {
                let expected = brute_force_pairs(r, k as u64, it);
                assert_eq!(
                    pairs::<u16>(r, k as u64, it),
                    expected,
                    "{r:?}, iteration {it}"
                );
                assert_eq!(
                    pairs::<u32>(r, k as u64, it),
                    expected,
                    "{r:?}, iteration {it}"
                );
            }
        }
    }

    #[test]
    fn blocks_hold_every_close_neighbour() {
        // Points on exact half and cell boundaries, and at the walls.
        let r = room(24.0, 24.0, 2, 6.0);
        let shape = LinkedShape::for_room(&r);
        assert_eq!((shape.cols, shape.rows), (1, 1));
        let r = room(48.0, 48.0, 2, 6.0);
        let shape = LinkedShape::for_room(&r);
        assert_eq!((shape.cols, shape.rows), (3, 3));
        let coords = [
            0.0, 5.999, 6.0, 8.0, 12.0, 15.9, 16.0, 16.1, 24.0, 31.9, 32.0, 47.99, 48.0,
        ];
        for &x in &coords {
            for &y in &coords {
                let mine = shape.cells(shape.block_of(x, y));
                for &qx in &coords {
                    for &qy in &coords {
                        let close = (x - qx) * (x - qx) + (y - qy) * (y - qy) < 36.0;
                        let theirs = shape.cells(shape.block_of(qx, qy))[0];
                        assert!(
                            !close || mine.contains(&theirs),
                            "({x}, {y}) misses ({qx}, {qy})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_draw_variant_computes_the_same_bits() {
        let r = room(1234.5, 678.9, 5000, 3.0);
        let shape = LinkedShape::for_room(&r);
        let rng = SplitMix64::for_iteration(99, 5);
        let draw_with = |f: DrawFn| {
            let (mut xs, mut ys, mut block) = (vec![0.0; 5000], vec![0.0; 5000], vec![0u32; 5000]);
            f(
                &rng,
                17,
                People {
                    xs: &mut xs,
                    ys: &mut ys,
                    block: &mut block,
                },
                &shape,
                r.x_length * TWO_POW_M53,
                r.y_length * TWO_POW_M53,
            );
            (
                xs.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                ys.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                block,
            )
        };
        let portable = draw_with(draw_portable);
        // Person 17 + i is the (17 + i)-th person of the sequential stream.
        let mut sequential = rng.clone();
        for _ in 0..17 {
            sequential.next_u64();
            sequential.next_u64();
        }
        for i in 0..5000 {
            assert_eq!(
                portable.0[i],
                sequential
                    .next_f64_times(r.x_length * TWO_POW_M53)
                    .to_bits()
            );
            assert_eq!(
                portable.1[i],
                sequential
                    .next_f64_times(r.y_length * TWO_POW_M53)
                    .to_bits()
            );
        }
        for variant in [Pass1::fastest(), Pass1::Avx2, Pass1::Avx512] {
            assert_eq!(draw_with(variant.draw_fn()), portable, "{variant:?}");
        }
    }
}
