//! Counting close pairs with linked cells, one region of the room at a time.
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
//! Regions. A large room's cells do not fit in cache, and placing people in
//! them at random would miss the cache for nearly every person. Such a room
//! is counted in `2^bits` equal strips across the cut of its draw regions
//! (`draws.rs`), each a run of consecutive draw regions with a grid that
//! fits in cache, one after the other. A close pair across the boundary of
//! regions `r` and `r + 1` is counted with `r + 1`: the people of `r` in the
//! upper half of its top row, the only ones within `distance` of `r + 1`,
//! stay on as "ghosts" in the bottom border row of `r + 1`'s grid, where the
//! people of `r + 1` in the lower half of its bottom row meet them (ghosts
//! never meet each other). A region is at least one row high, so no close
//! pair spans two boundaries; and a region's people can be drawn without
//! the others', so any thread can count any run of regions, starting from
//! the ghosts of the region before it, drawn again.
//!
//! Cells are sparse (about one person per `CELLS_PER_PERSON` cells) so that
//! the people compared are few; a border of empty cells spares the walls
//! any special case. The count is exact: the same number of close pairs the
//! sorted grid (or a comparison of all pairs) finds for the same people, so
//! results do not depend on which method ran, how the room was cut for
//! counting, nor on which thread counted which regions.

use std::collections::TryReserveError;
use std::ops::Range;

use crate::cells::{cells_along, index, shrink_until, CELL_MARGIN, CHECK_EVERY};
use crate::draws::Draws;
use crate::rng::{top53, SplitMix64, TWO_POW_M53};
use crate::room::Room;

/// Sparse cells: an empty block costs nothing much, a person in one a
/// distance computation and often a mispredicted branch. (With `distance`
/// 6 in the reference room, cells are 12 wide anyway: the floor wins.)
const CELLS_PER_PERSON: f64 = 8.0;

/// A room of one region uses this method while its cells (2 or 4 bytes
/// each) fit in a core's L2 cache; larger sparse rooms are cut into regions.
pub(crate) const MAX_CELLS: usize = 1 << 18;

/// People per region, roughly (a power of two of regions is the nearest):
/// a region's cells (2 bytes each) and people (about 40 bytes each) then
/// stay within a core's L2 cache.
const PEOPLE_PER_REGION: u64 = 1 << 14;

/// Cells of one region at most (in very wide rooms cells grow instead).
const MAX_REGION_CELLS: u64 = 1 << 22;

/// Rows of all regions together at most, so that the rounding argument of
/// `CELL_MARGIN` holds along the cut as across it.
const MAX_ROWS: u64 = 1 << 29;

/// The layout: `2^bits` regions, each `2^(draws.bits - bits)` consecutive
/// draw regions, each with `cols` x `rows` real cells inside a one-cell
/// border. Columns run across the cut, rows along it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LinkedShape {
    draws: Draws,
    cols: usize,
    rows: usize,
    bits: u32,
    /// `2 * cols / across_length`: an across coordinate to its half-column.
    k_across: f64,
    /// `2 * rows / 2^(53 - bits)`: an offset in the region (the 53-bit
    /// integer along the cut, less the region's start) to its half-row.
    k_along: f64,
    /// The first of a region's draw regions (counted from its first) that
    /// reaches the upper half of its top row: the next region's ghosts are
    /// in it or after it, as people are drawn in order along the cut.
    first_ghost_draw: usize,
}

/// The room's sides across and along the cut of its draw regions.
fn across_along(room: &Room, draws: &Draws) -> (f64, f64) {
    if draws.along_x {
        (room.y_length, room.x_length)
    } else {
        (room.x_length, room.y_length)
    }
}

impl LinkedShape {
    /// The room in one region: cells at least `2 * distance` (plus margin)
    /// on each side, and about `CELLS_PER_PERSON` of them per person when the
    /// room allows. (Along a side shorter than that there is a single row
    /// or column, and the neighbours on that side are border cells.)
    pub fn for_room(room: &Room, draws: Draws) -> LinkedShape {
        let (across, along) = across_along(room, &draws);
        let side = cell_side(room);
        let cap = MAX_CELLS as u64;
        let cols = cells_along(across, side, cap);
        let rows = cells_along(along, side, (cap / cols).max(1));
        // Fewer, larger cells until the border fits too.
        let (cols, rows) = shrink_until(cols, rows, |c, r| (c + 2) * (r + 2) <= cap);
        LinkedShape::new(draws, across, (cols, rows), 0)
    }

    /// The room in regions of about `PEOPLE_PER_REGION` people, or `None`
    /// if it cannot be cut in two (draw regions too few, or regions less
    /// than a row high).
    pub fn for_regions(room: &Room, draws: Draws) -> Option<LinkedShape> {
        // log2(num_people / PEOPLE_PER_REGION), rounded (up from 1.5 * 2^k).
        let ratio = (room.num_people / PEOPLE_PER_REGION).max(1);
        let floor_log2 = 63 - ratio.leading_zeros();
        let nearest = floor_log2 + u32::from(2 * ratio >= 3 << floor_log2);
        (1..=nearest.min(draws.bits))
            .rev()
            .find_map(|bits| LinkedShape::with_regions(room, draws, bits))
    }

    /// The room in `2^bits` regions (at most as many as draw regions), or
    /// `None` if a region would be less than a row high.
    pub fn with_regions(room: &Room, draws: Draws, bits: u32) -> Option<LinkedShape> {
        assert!(bits <= draws.bits);
        let (across, along) = across_along(room, &draws);
        let min_side = 2.0 * room.distance * (1.0 + CELL_MARGIN);
        if bits > 29 {
            return None;
        }
        // Exact: a power of two, and lengths are far from the subnormals.
        let height = along * f64::from_bits((1023 - bits as u64) << 52);
        if height < min_side {
            return None;
        }
        let side = cell_side(room);
        let cols = cells_along(across, side, MAX_REGION_CELLS);
        // Cells as tall as their share of the area makes them (taller than
        // wide when the room is too narrow for a second column).
        let target = (room.num_people as f64 * CELLS_PER_PERSON).max(1.0);
        let tall = (cols as f64 * (along / target)).max(side);
        let rows = cells_along(height, tall, MAX_ROWS >> bits);
        let (cols, rows) = shrink_until(cols, rows, |c, r| (c + 2) * (r + 2) <= MAX_REGION_CELLS);
        Some(LinkedShape::new(draws, across, (cols, rows), bits))
    }

    fn new(draws: Draws, across: f64, (cols, rows): (u64, u64), bits: u32) -> LinkedShape {
        let mut shape = LinkedShape {
            draws,
            cols: cols as usize,
            rows: rows as usize,
            bits,
            k_across: 2.0 * cols as f64 / across,
            // Exact: 2 rows times a power of two.
            k_along: 2.0 * rows as f64 * f64::from_bits((1023 + bits as u64 - 53) << 52),
            first_ghost_draw: 0,
        };
        // The half-row of an offset grows with it: the first draw region
        // whose last offset is in the top half-row.
        let top = (2 * rows - 1) as f64;
        let last_offset = |i: usize| ((i as u64 + 1) << (53 - draws.bits)) - 1;
        let in_top =
            |i: usize| index((last_offset(i) as i64) as f64 * shape.k_along, top) == top as usize;
        // The last draw region is in it: search below, by halves.
        let (mut lo, mut hi) = (0, shape.draw_regions(0).len() - 1);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if in_top(mid) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        shape.first_ghost_draw = lo;
        shape
    }

    pub fn regions(&self) -> usize {
        1 << self.bits
    }

    pub fn draws(&self) -> Draws {
        self.draws
    }

    /// The draw regions of region `r`.
    fn draw_regions(&self, r: usize) -> Range<usize> {
        let per = 1 << (self.draws.bits - self.bits);
        r * per..(r + 1) * per
    }

    fn width(&self) -> usize {
        self.cols + 2
    }

    /// Stored cells of a region, the border included.
    pub fn stored_cells(&self) -> usize {
        self.width() * (self.rows + 2)
    }

    /// People per real cell on average.
    pub fn occupancy(&self, num_people: u64) -> f64 {
        num_people as f64 / (self.cols * self.rows) as f64 / self.regions() as f64
    }

    /// The stored indices of a point's cell and of the three other cells of
    /// its block: the neighbours on the side of the half (left or right,
    /// lower or upper) of its cell the point is in. Computed from the
    /// point's half-cell coordinates (along the cut, from its offset in the
    /// region: the 53-bit integer less the region's start, exactly), clamped like `SortedShape::cell_of`
    /// (`u * x_length` may round up to `x_length`). The margin on the cell
    /// size makes rounding harmless: a point taken for the left half is at
    /// most a hair right of the middle, still more than `distance` from the
    /// right neighbour.
    #[inline(always)]
    fn block_of(&self, across: f64, offset: f64) -> u32 {
        let hx = index(across * self.k_across, (2 * self.cols - 1) as f64);
        let hy = index(offset * self.k_along, (2 * self.rows - 1) as f64);
        // Below MAX_REGION_CELLS (< 2^30) with the border: u32 arithmetic is exact.
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

    /// Whether a person with this block is in the upper half of its
    /// region's top row: a ghost in the next region.
    #[inline(always)]
    fn is_ghost(&self, block: u32) -> bool {
        (block >> UPPER_BIT) == 1 && (block & CELL_MASK) as usize >= self.rows * self.width()
    }

    /// A ghost's cell in the next region: the same column, in the bottom
    /// border row.
    #[inline(always)]
    fn ghost_cell(&self, block: u32) -> u32 {
        (block & CELL_MASK) - (self.rows * self.width()) as u32
    }
}

/// Side of the cells: `sqrt(area / (num_people * CELLS_PER_PERSON))`, or
/// `2 * distance` plus margin if larger.
fn cell_side(room: &Room) -> f64 {
    let min_side = 2.0 * room.distance * (1.0 + CELL_MARGIN);
    let target = ((room.num_people as f64 * CELLS_PER_PERSON) as u64).max(1);
    // sqrt of each factor separately, so that the area never overflows.
    (room.x_length.sqrt() * room.y_length.sqrt() / (target as f64).sqrt()).max(min_side)
}

/// A block packs its cell's index with the halves the point is in.
const RIGHT_BIT: u32 = 30;
const UPPER_BIT: u32 = 31;
const CELL_MASK: u32 = (1 << RIGHT_BIT) - 1;
const _: () = assert!(MAX_CELLS < 1 << RIGHT_BIT && MAX_REGION_CELLS < 1 << RIGHT_BIT);

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

/// The cell lists of one region with one index width.
struct Lists<I> {
    /// `head[cell]`: the last person placed in the cell (`EMPTY` if none);
    /// `next[j]`: the person placed in j's cell before j.
    head: Vec<I>,
    next: Vec<I>,
    /// The lists to read: `[j, list]`, person j meets the people on the
    /// list starting at `list`. Room for four per person of a chunk.
    noted: Vec<[I; 2]>,
}

impl<I: PersonIndex> Lists<I> {
    fn new(cells: usize, people: usize) -> Result<Lists<I>, TryReserveError> {
        Ok(Lists {
            head: filled(cells, I::EMPTY)?,
            next: filled(people, I::EMPTY)?,
            noted: filled(4 * people.min(CHECK_EVERY), [I::EMPTY; 2])?,
        })
    }

    fn fit(&mut self, people: usize) {
        if self.next.len() < people {
            self.next.resize(people, I::EMPTY);
            self.noted
                .resize(4 * people.min(CHECK_EVERY), [I::EMPTY; 2]);
        }
    }
}

fn filled<T: Clone>(len: usize, value: T) -> Result<Vec<T>, TryReserveError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)?;
    v.resize(len, value);
    Ok(v)
}

/// The region being counted: its people after the ghosts of the one
/// before, in the frame of the cut (`across`, `along`: x and y, or y and x).
struct Region<'a> {
    shape: LinkedShape,
    d2: f64,
    across: &'a [f64],
    along: &'a [f64],
    block: &'a [u32],
    ghosts: usize,
}

/// One worker's buffers for this method, allocated once (people buffers
/// grow if a region ever holds more people than planned for).
pub(crate) struct LinkedCells {
    shape: LinkedShape,
    num_people: u64,
    /// `length * 2^-53` of the sides across and along the cut.
    across_scaled: f64,
    along_scaled: f64,
    d2: f64,
    /// Ghosts (`ghosts` of them, their blocks replaced by their cells in
    /// the border row), then the region's people. Positions and blocks are
    /// drawn in pass 1: the second pass then only loads them, so its rare
    /// data-dependent branch is resolved (and, when mispredicted, repaired)
    /// quickly.
    across: Vec<f64>,
    along: Vec<f64>,
    block: Vec<u32>,
    ghosts: usize,
    /// Ghosts and people now in the buffers.
    len: usize,
    /// Where the draw regions that may hold ghosts of the next region start.
    ghost_scan_from: usize,
    /// The next region's ghosts, found after pass 1.
    next_ghosts: Vec<u32>,
    narrow: Lists<u16>,
    /// For a region (with its ghosts) of `u16::MAX` people or more; made
    /// when first needed (never for a room of one region, which holds
    /// fewer: see `pairs::Method::for_room`).
    wide: Option<Lists<u32>>,
    /// Regions of at least this many people (ghosts included) use `wide`.
    wide_from: usize,
    /// People per draw region of the iteration being counted.
    counts: Vec<u64>,
    draw: DrawFn,
}

impl LinkedCells {
    /// `room` must be valid, with at least two people.
    pub fn new(room: &Room, shape: LinkedShape, pass1: Pass1) -> Result<Self, TryReserveError> {
        let people = planned_people(room, &shape);
        let (across, along) = across_along(room, &shape.draws);
        Ok(LinkedCells {
            shape,
            num_people: room.num_people,
            across_scaled: across * TWO_POW_M53,
            along_scaled: along * TWO_POW_M53,
            d2: room.distance * room.distance,
            across: filled(people, 0.0)?,
            along: filled(people, 0.0)?,
            block: filled(people, 0)?,
            ghosts: 0,
            len: 0,
            ghost_scan_from: 0,
            next_ghosts: filled(if shape.bits == 0 { 0 } else { people }, 0)?,
            narrow: Lists::new(shape.stored_cells(), people.min(u16::MAX as usize))?,
            wide: None,
            wide_from: u16::MAX as usize,
            counts: filled(shape.draws.regions(), 0)?,
            draw: pass1.draw_fn(shape.draws.along_x),
        })
    }

    /// Bytes `new` allocates (saturating).
    pub fn bytes(room: &Room, shape: &LinkedShape) -> u64 {
        let people = planned_people(room, shape) as u128;
        // across, along, block, next and four noted per person; and where
        // there are regions, the next region's ghosts.
        let per_person = 8 + 8 + 4 + 2 + 4 * 4 + if shape.bits == 0 { 0 } else { 4 };
        let bytes = people * per_person
            + shape.stored_cells() as u128 * 2
            + shape.draws.regions() as u128 * 8;
        u64::try_from(bytes).unwrap_or(u64::MAX)
    }

    /// Draws the people of `iteration` and counts the close pairs. `None`
    /// if `stop()` became true meanwhile.
    pub fn count_pairs(
        &mut self,
        seed: u64,
        iteration: u64,
        stop: &impl Fn() -> bool,
    ) -> Option<u64> {
        let mut counts = std::mem::take(&mut self.counts);
        self.shape
            .draws
            .counts(seed, iteration, self.num_people, &mut counts);
        let regions = 0..self.shape.regions();
        let pairs = self.count_regions(seed, iteration, &counts, regions, stop);
        self.counts = counts;
        pairs
    }

    /// Counts the close pairs of regions `regions` of `iteration`, whose
    /// draw regions hold `counts` people (`Draws::counts`): the pairs
    /// within them and those across the boundary below each (the first's
    /// too, from the ghosts of the region before it, drawn again here).
    pub fn count_regions(
        &mut self,
        seed: u64,
        iteration: u64,
        counts: &[u64],
        regions: Range<usize>,
        stop: &impl Fn() -> bool,
    ) -> Option<u64> {
        let stream = SplitMix64::for_iteration(seed, iteration);
        self.ghosts = 0;
        if regions.start > 0 {
            self.draw(&stream, regions.start - 1, counts, stop)?;
            let found = self.find_ghosts();
            self.keep_ghosts(found);
        }
        let mut pairs = 0u64;
        for r in regions.clone() {
            if stop() {
                return None;
            }
            self.draw(&stream, r, counts, stop)?;
            pairs += self.pair_up(stop)?;
            if r + 1 < regions.end {
                let found = self.find_ghosts();
                self.keep_ghosts(found);
            }
        }
        Some(pairs)
    }

    /// Pass 1: draws the people of region `r`, after the ghosts: those of
    /// each of its draw regions in turn, from the draw region's stream.
    fn draw(
        &mut self,
        stream: &SplitMix64,
        r: usize,
        counts: &[u64],
        stop: &impl Fn() -> bool,
    ) -> Option<()> {
        let shape = self.shape;
        let draw_regions = shape.draw_regions(r);
        let people: u64 = counts[draw_regions.clone()].iter().sum();
        self.len = self.ghosts + people as usize;
        if self.across.len() < self.len {
            // More people than planned for: astronomically rare.
            self.across.resize(self.len, 0.0);
            self.along.resize(self.len, 0.0);
            self.block.resize(self.len, 0);
            self.next_ghosts.resize(self.len, 0);
        }
        let region_base = shape.draws.base(draw_regions.start);
        let first_ghost_draw = draw_regions.start + shape.first_ghost_draw;
        let mut at = self.ghosts;
        for d in draw_regions {
            if d == first_ghost_draw {
                self.ghost_scan_from = at;
            }
            let frame = Frame {
                shape,
                across_scaled: self.across_scaled,
                along_scaled: self.along_scaled,
                base: shape.draws.base(d),
                region_start: region_base as f64,
                shift: shape.draws.shift(),
            };
            let draw_stream = shape.draws.stream(stream, d);
            let count = counts[d] as usize;
            for first in (0..count).step_by(CHECK_EVERY) {
                if at >= CHECK_EVERY && stop() {
                    return None;
                }
                let end = (first + CHECK_EVERY).min(count);
                let (from, to) = (at, at + end - first);
                let people = People {
                    across: &mut self.across[from..to],
                    along: &mut self.along[from..to],
                    block: &mut self.block[from..to],
                };
                (self.draw)(&draw_stream, first as u64, people, &frame);
                at = to;
            }
        }
        Some(())
    }

    /// Notes in `next_ghosts` which people of the region just drawn are
    /// ghosts in the next one; returns how many. Only the draw regions that
    /// reach the top half-row can hold any (`LinkedShape::first_ghost_draw`).
    fn find_ghosts(&mut self) -> usize {
        let shape = self.shape;
        let mut found = 0;
        let blocks = &self.block[self.ghost_scan_from..self.len];
        let noted = &mut self.next_ghosts[..blocks.len()];
        for (j, &block) in (self.ghost_scan_from..).zip(blocks) {
            // No branch on the data: write always, advance when a ghost.
            noted[found] = j as u32;
            found += usize::from(shape.is_ghost(block));
        }
        found
    }

    /// Moves the `found` people noted in `next_ghosts` to the front of the
    /// buffers, in order, with their cells in the next region.
    fn keep_ghosts(&mut self, found: usize) {
        let shape = self.shape;
        // Ghosts come after their new places (j >= g): moving them forward
        // overwrites nothing still needed.
        for g in 0..found {
            let j = self.next_ghosts[g] as usize;
            self.across[g] = self.across[j];
            self.along[g] = self.along[j];
            self.block[g] = shape.ghost_cell(self.block[j]);
        }
        self.ghosts = found;
        self.len = found;
    }

    /// Pass 2 over the region in the buffers, with the narrowest index that
    /// fits.
    fn pair_up(&mut self, stop: &impl Fn() -> bool) -> Option<u64> {
        let region = Region {
            shape: self.shape,
            d2: self.d2,
            across: &self.across[..self.len],
            along: &self.along[..self.len],
            block: &self.block[..self.len],
            ghosts: self.ghosts,
        };
        if self.len < self.wide_from {
            self.narrow.fit(self.len);
            region.pair_up(&mut self.narrow, stop)
        } else {
            // Index and EMPTY must stay apart (num_people <= MAX_PEOPLE).
            assert!(self.len < u32::MAX as usize, "a region of 2^32 people");
            let cells = self.shape.stored_cells();
            let wide = self.wide.get_or_insert_with(|| Lists {
                head: vec![u32::EMPTY; cells],
                next: Vec::new(),
                noted: Vec::new(),
            });
            wide.fit(self.len);
            region.pair_up(wide, stop)
        }
    }

    /// Tests force the wide index on every region.
    #[cfg(test)]
    fn use_wide_indices(&mut self) {
        self.wide_from = 0;
    }
}

/// People slots to allocate: everyone for one region; for several, a
/// region's mean plus a wide margin (twelve standard deviations) plus the
/// ghosts of a full row.
fn planned_people(room: &Room, shape: &LinkedShape) -> usize {
    let n = room.num_people as f64;
    if shape.bits == 0 {
        return room.num_people as usize;
    }
    let mean = n / shape.regions() as f64;
    let with_margin = mean + 12.0 * mean.sqrt() + 64.0;
    (with_margin * (1.0 + 1.0 / shape.rows as f64)).ceil() as usize
}

impl Region<'_> {
    /// Places the ghosts, then the region's people in chunks: each person,
    /// in order, notes the lists of its block as they stand (people placed
    /// before it), then joins its cell's list. Meeting: the distances to
    /// the people on those lists.
    #[inline(never)]
    fn pair_up<I: PersonIndex>(
        &self,
        lists: &mut Lists<I>,
        stop: &impl Fn() -> bool,
    ) -> Option<u64> {
        lists.head.fill(I::EMPTY);
        for j in 0..self.ghosts {
            let cell = self.block[j] as usize;
            lists.next[j] = lists.head[cell];
            lists.head[cell] = I::from_person(j);
        }
        let mut count = 0u64;
        for first in (self.ghosts..self.across.len()).step_by(CHECK_EVERY) {
            if stop() {
                return None;
            }
            let end = (first + CHECK_EVERY).min(self.across.len());
            let noted = self.place(lists, first, end);
            count += self.meet(lists, noted, stop)?;
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
    fn place<I: PersonIndex>(&self, lists: &mut Lists<I>, first: usize, end: usize) -> usize {
        let shape = self.shape;
        let (head, next) = (&mut lists.head[..], &mut lists.next[..end]);
        let blocks = &self.block[first..end];
        // Room for four lists per person of the chunk.
        let noted = &mut lists.noted[..];
        assert!(noted.len() >= 4 * blocks.len());
        let mut m = 0usize;
        for (j, &block) in (first..end).zip(blocks) {
            let cells = shape.cells(block);
            // In bounds: the border surrounds every real cell; and
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
    fn meet<I: PersonIndex>(
        &self,
        lists: &Lists<I>,
        noted_count: usize,
        stop: &impl Fn() -> bool,
    ) -> Option<u64> {
        let d2 = self.d2;
        let (xs, ys) = (self.across, self.along);
        let next = &lists.next[..xs.len()];
        let mut count = 0u64;
        // List steps since the last look at the stop flag (crowded cells).
        let mut steps = 0usize;
        for &[j, list] in &lists.noted[..noted_count] {
            let (x, y) = (xs[j.person()], ys[j.person()]);
            let mut k = list;
            // Each list noted has someone on it, and lists hold people
            // placed before j: the indices below are in bounds.
            loop {
                let q = k.person();
                debug_assert!(q < j.person());
                // SAFETY: as above.
                let (qx, qy) = unsafe { (*xs.get_unchecked(q), *ys.get_unchecked(q)) };
                // Across and along are x and y in some order: the same sum.
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

/// What pass 1 needs to know of a draw region (see `Draws::position`).
#[derive(Clone, Copy)]
pub(crate) struct Frame {
    shape: LinkedShape,
    across_scaled: f64,
    along_scaled: f64,
    /// The draw region's bits of the 53-bit integer along the cut.
    base: u64,
    /// The integer along the cut where the region it is counted in starts.
    region_start: f64,
    /// What an output is shifted right by to fill the rest.
    shift: u32,
}

/// A slice of consecutive people to draw: positions and blocks.
pub(crate) struct People<'a> {
    across: &'a mut [f64],
    along: &'a mut [f64],
    block: &'a mut [u32],
}

/// Pass 1 over some people: `(stream, first person's index, people, frame)`.
type DrawFn = fn(&SplitMix64, u64, People<'_>, &Frame);

/// Pass 1: positions and blocks. Every person is a pure function of its
/// index (see `rng.rs`) with no branch on the data, so this loop is
/// vectorised; the wide variants only let the compiler use wider registers.
/// All variants compute the same bits: integer arithmetic, exact int-to-float
/// conversions and correctly rounded IEEE multiplications (no fused
/// multiply-add is ever formed) do not depend on the instruction set.
#[inline(always)]
fn draw_people<const ALONG_X: bool>(
    rng: &SplitMix64,
    first: u64,
    people: People<'_>,
    frame: &Frame,
) {
    let People {
        across,
        along,
        block,
    } = people;
    let n = across.len();
    let (along, block) = (&mut along[..n], &mut block[..n]);
    for i in 0..n {
        // Person j takes outputs 2j + 1 (x) and 2j + 2 (y) of the stream.
        let k = 2 * (first + i as u64);
        let (x, y) = (rng.output(k + 1), rng.output(k + 2));
        let (a, b) = if ALONG_X { (y, x) } else { (x, y) };
        let low = b >> frame.shift;
        let across_i = top53(a) * frame.across_scaled;
        // Below 2^53: exact in an i64 and in an f64, and so is the
        // difference of two such integers.
        let lattice = ((frame.base | low) as i64) as f64;
        across[i] = across_i;
        along[i] = lattice * frame.along_scaled;
        block[i] = frame.shape.block_of(across_i, lattice - frame.region_start);
    }
}

fn draw_portable<const ALONG_X: bool>(
    rng: &SplitMix64,
    first: u64,
    people: People<'_>,
    frame: &Frame,
) {
    draw_people::<ALONG_X>(rng, first, people, frame)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn draw_avx2<const ALONG_X: bool>(
    rng: &SplitMix64,
    first: u64,
    people: People<'_>,
    frame: &Frame,
) {
    draw_people::<ALONG_X>(rng, first, people, frame)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl")]
unsafe fn draw_avx512<const ALONG_X: bool>(
    rng: &SplitMix64,
    first: u64,
    people: People<'_>,
    frame: &Frame,
) {
    draw_people::<ALONG_X>(rng, first, people, frame)
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

    /// The variant's function for rooms cut along x or y; `Portable` when
    /// the CPU lacks the variant.
    fn draw_fn(self, along_x: bool) -> DrawFn {
        let variant = if self.is_available() {
            self
        } else {
            Pass1::Portable
        };
        match (variant, along_x) {
            // SAFETY (all unsafe ones): the features were detected by
            // `is_available`.
            #[cfg(target_arch = "x86_64")]
            (Pass1::Avx2, false) => |r, f, p, s| unsafe { draw_avx2::<false>(r, f, p, s) },
            #[cfg(target_arch = "x86_64")]
            (Pass1::Avx2, true) => |r, f, p, s| unsafe { draw_avx2::<true>(r, f, p, s) },
            #[cfg(target_arch = "x86_64")]
            (Pass1::Avx512, false) => |r, f, p, s| unsafe { draw_avx512::<false>(r, f, p, s) },
            #[cfg(target_arch = "x86_64")]
            (Pass1::Avx512, true) => |r, f, p, s| unsafe { draw_avx512::<true>(r, f, p, s) },
            (_, false) => draw_portable::<false>,
            (_, true) => draw_portable::<true>,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{brute_force_pairs, brute_force_pairs_in_regions, never, room, Params};

    fn pairs_with(r: &Room, shape: LinkedShape, wide: bool, seed: u64, iteration: u64) -> u64 {
        let mut cells = LinkedCells::new(r, shape, Pass1::fastest()).unwrap();
        if wide {
            cells.use_wide_indices();
        }
        cells.count_pairs(seed, iteration, &never).unwrap()
    }

    fn brute_force(r: &Room, shape: &LinkedShape, seed: u64, iteration: u64) -> u64 {
        let draws = shape.draws;
        brute_force_pairs_in_regions(r, draws.bits, draws.along_x, seed, iteration)
    }

    /// A room drawn in `2^draw_bits` regions, counted in `2^bits`.
    fn cut(r: &Room, draw_bits: u32, bits: u32) -> Option<LinkedShape> {
        LinkedShape::with_regions(r, Draws::with_bits(r, draw_bits), bits)
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
            let shape = LinkedShape::for_room(r, Draws::for_room(r));
            assert!(
                shape.stored_cells() <= MAX_CELLS && shape.occupancy(r.num_people) <= 0.25,
                "{r:?}"
            );
            for it in 1..=3 {
                let expected = brute_force_pairs(r, k as u64, it);
                for wide in [false, true] {
                    assert_eq!(
                        pairs_with(r, shape, wide, k as u64, it),
                        expected,
                        "{r:?}, iteration {it}, wide {wide}"
                    );
                }
            }
        }
    }

    #[test]
    fn regions_match_brute_force_in_every_geometry() {
        // Small rooms drawn and counted in many regions (forced), so that
        // people across every boundary, ghosts and border rows are compared
        // with all pairs: (room, draw bits, count bits).
        let cases = [
            (room(1000.0, 1000.0, 1000, 6.0), 6, 6), // reference, 64 strips
            (room(1000.0, 1000.0, 1000, 6.0), 8, 5), // several draws a region
            (room(1000.0, 400.0, 1000, 6.0), 4, 4),  // wider than high: cut along x
            (room(400.0, 1000.0, 1000, 6.0), 5, 5),
            (room(1e6, 1e-3, 2000, 1e-4), 9, 8), // thin: one row per region
            (room(1e-3, 1e6, 2000, 1e-4), 8, 8), // thin, transposed
            (room(1e6, 1e-3, 2000, 600.0), 9, 9), // d larger than the width
            (room(50.0, 5000.0, 800, 2.0), 7, 7),
            (room(10.0, 10.0, 300, 1.2), 2, 2),  // crowded regions
            (room(10.0, 10.0, 3000, 0.2), 4, 4), // dense
            (room(3.0, 3.0, 400, 0.025), 5, 5),  // sides a multiple of 2d
            (room(8.0, 8.0, 800, 1.0), 1, 1),    // boundaries exactly on cells
            (room(1024.0, 4.0, 800, 0.5), 8, 8),
            (room(1e100, 1e100, 500, 1e97), 3, 3),
            (room(1e-100, 1e-100, 500, 1e-103), 3, 3),
            (room(1.0, 1.0, 50, 0.2), 1, 1), // regions barely a row high
            (room(2e4, 2e4, 3000, 6.0), 10, 10), // many regions, some empty
            (room(2e4, 2e4, 3000, 6.0), 12, 0), // drawn in regions, counted in one
        ];
        for (k, &(ref r, draw_bits, bits)) in cases.iter().enumerate() {
            let shape = cut(r, draw_bits, bits).unwrap_or_else(|| panic!("{r:?}"));
            assert_eq!(shape.regions(), 1 << bits);
            for it in 1..=3 {
                let expected = brute_force(r, &shape, k as u64, it);
                for wide in [false, true] {
                    assert_eq!(
                        pairs_with(r, shape, wide, k as u64, it),
                        expected,
                        "{r:?}, {draw_bits}/{bits} bits, iteration {it}, wide {wide}"
                    );
                }
            }
        }
        // A region must be a row of cells high.
        assert_eq!(cut(&room(1.0, 1.0, 50, 0.3), 1, 1), None);
    }

    #[test]
    fn regions_match_brute_force_on_random_geometries() {
        let mut p = Params(SplitMix64::new(31));
        let mut tested = 0;
        for case in 0..400u64 {
            let x = p.log_uniform(1e-3, 1e4);
            let y = x * p.log_uniform(1e-3, 1e3);
            let n = p.below(1500);
            let d = p.log_uniform(1e-4, 0.3) * x.max(y);
            let r = room(x, y, n, d);
            let draw_bits = p.below(12) as u32;
            let bits = p.below(draw_bits as u64 + 1) as u32;
            let Some(shape) = cut(&r, draw_bits, bits) else {
                continue;
            };
            let seed = p.0.next_u64();
            assert_eq!(
                pairs_with(&r, shape, false, seed, case + 1),
                brute_force(&r, &shape, seed, case + 1),
                "{r:?} {shape:?}"
            );
            tested += 1;
        }
        assert!(tested > 200, "{tested}");
    }

    #[test]
    fn any_split_of_the_regions_sums_to_the_whole() {
        // Threads count contiguous runs of regions, each starting from the
        // ghosts of the region before: the sum is the same for any split.
        let r = room(3000.0, 2000.0, 6000, 6.0);
        let shape = cut(&r, 7, 5).unwrap();
        let mut cells = LinkedCells::new(&r, shape, Pass1::fastest()).unwrap();
        for it in 1..=3 {
            let whole = cells.count_pairs(4, it, &never).unwrap();
            assert_eq!(whole, brute_force(&r, &shape, 4, it));
            let mut counts = Vec::new();
            shape.draws.counts(4, it, r.num_people, &mut counts);
            for cuts in [
                vec![0, 32],
                vec![0, 1, 32],
                vec![0, 7, 8, 20, 31, 32],
                vec![0, 16, 32],
            ] {
                let sum: u64 = cuts
                    .windows(2)
                    .map(|w| {
                        cells
                            .count_regions(4, it, &counts, w[0]..w[1], &never)
                            .unwrap()
                    })
                    .sum();
                assert_eq!(sum, whole, "{cuts:?}");
            }
        }
    }

    #[test]
    fn region_layouts_are_sound() {
        let mut p = Params(SplitMix64::new(12));
        for _ in 0..20_000 {
            let r = p.extreme_room((2.0, 4.3e9));
            let d = r.distance;
            let draws = Draws::for_room(&r);
            let Some(s) = LinkedShape::for_regions(&r, draws) else {
                continue;
            };
            assert!(
                s.regions() >= 2 && s.bits <= draws.bits.min(29),
                "{r:?} -> {s:?}"
            );
            assert!(s.cols >= 1 && s.rows >= 1);
            assert!(
                (s.stored_cells() as u64) <= MAX_REGION_CELLS,
                "{r:?} -> {s:?}"
            );
            assert!(((s.rows as u64) << s.bits) <= MAX_ROWS, "{r:?} -> {s:?}");
            let (across, along) = across_along(&r, &draws);
            // Cells are never smaller than twice the distance (but for a
            // single column in a room narrower than that).
            if s.cols > 1 {
                assert!(across / s.cols as f64 >= 2.0 * d, "{r:?} -> {s:?}");
            }
            assert!(
                along / s.regions() as f64 / s.rows as f64 >= 2.0 * d,
                "{r:?} -> {s:?}"
            );
        }
        // The reference density: about PEOPLE_PER_REGION people per region.
        for people in [100_000u64, 1_000_000, 10_000_000, 100_000_000] {
            let side = (people as f64 * 1000.0).sqrt();
            let r = room(side, side, people, 6.0);
            let s = LinkedShape::for_regions(&r, Draws::for_room(&r)).unwrap();
            let per_region = people as f64 / s.regions() as f64;
            assert!(
                (PEOPLE_PER_REGION as f64 / 1.5..=PEOPLE_PER_REGION as f64 * 1.5)
                    .contains(&per_region),
                "{people}: {s:?}"
            );
            assert!(s.occupancy(people) <= 0.25);
        }
    }

    #[test]
    fn blocks_hold_every_close_neighbour() {
        // Points on exact half and cell boundaries, and at the walls.
        let r = room(24.0, 24.0, 2, 6.0);
        let shape = LinkedShape::for_room(&r, Draws::for_room(&r));
        assert_eq!((shape.cols, shape.rows), (1, 1));
        let r = room(48.0, 48.0, 2, 6.0);
        let shape = LinkedShape::for_room(&r, Draws::for_room(&r));
        assert_eq!((shape.cols, shape.rows), (3, 3));
        // Along y a point is its offset on the 2^53 lattice of the side
        // (48 * k / 2^53); these coordinates are lattice points.
        let offset = |y: f64| (y / 48.0 * (1u64 << 53) as f64) as u64;
        let coords = [
            0.0, 5.999, 6.0, 8.0, 12.0, 15.9, 16.0, 16.1, 24.0, 31.9, 32.0, 47.99, 48.0,
        ];
        let coords = coords.map(|y| offset(y) as f64 * (48.0 * TWO_POW_M53));
        for &x in &coords {
            for &y in &coords {
                let mine = shape.cells(shape.block_of(x, offset(y) as f64));
                for &qx in &coords {
                    for &qy in &coords {
                        let close = (x - qx) * (x - qx) + (y - qy) * (y - qy) < 36.0;
                        let theirs = shape.cells(shape.block_of(qx, offset(qy) as f64))[0];
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
        let tall = room(678.9, 1234.5, 5000, 3.0);
        let rng = SplitMix64::for_iteration(99, 5);
        for (room, shape, d) in [
            (&r, LinkedShape::for_room(&r, Draws::for_room(&r)), 0),
            (&r, cut(&r, 5, 3).unwrap(), 13), // cut along x
            (&tall, cut(&tall, 6, 6).unwrap(), 41),
        ] {
            let draws = shape.draws;
            let scaled = (room.x_length * TWO_POW_M53, room.y_length * TWO_POW_M53);
            let (across_scaled, along_scaled) = if draws.along_x {
                (scaled.1, scaled.0)
            } else {
                scaled
            };
            let region_start = shape.draw_regions(d >> (draws.bits - shape.bits)).start;
            let frame = Frame {
                shape,
                across_scaled,
                along_scaled,
                base: draws.base(d),
                region_start: draws.base(region_start) as f64,
                shift: draws.shift(),
            };
            let draw_with = |f: DrawFn| {
                let (mut across, mut along, mut block) =
                    (vec![0.0; 5000], vec![0.0; 5000], vec![0u32; 5000]);
                f(
                    &rng,
                    17,
                    People {
                        across: &mut across,
                        along: &mut along,
                        block: &mut block,
                    },
                    &frame,
                );
                (
                    across.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    along.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    block,
                )
            };
            let portable = draw_with(Pass1::Portable.draw_fn(draws.along_x));
            // Person 17 + i is the (17 + i)-th person of the sequential
            // stream, where `Draws` puts it; one piece draws as it always has.
            let mut sequential = rng.clone();
            for _ in 0..17 {
                sequential.next_u64();
                sequential.next_u64();
            }
            let mut one_piece = sequential.clone();
            for i in 0..5000 {
                let (x, y) =
                    draws.position(d, (sequential.next_u64(), sequential.next_u64()), scaled);
                let (across, along) = if draws.along_x { (y, x) } else { (x, y) };
                assert_eq!(portable.0[i], across.to_bits());
                assert_eq!(portable.1[i], along.to_bits());
                if draws.bits == 0 {
                    let (x, y) = (
                        one_piece.next_f64_times(room.x_length * TWO_POW_M53),
                        one_piece.next_f64_times(room.y_length * TWO_POW_M53),
                    );
                    let (across, along) = if draws.along_x { (y, x) } else { (x, y) };
                    assert_eq!(portable.0[i], across.to_bits());
                    assert_eq!(portable.1[i], along.to_bits());
                }
            }
            for variant in [Pass1::fastest(), Pass1::Avx2, Pass1::Avx512] {
                assert_eq!(
                    draw_with(variant.draw_fn(draws.along_x)),
                    portable,
                    "{variant:?}"
                );
            }
        }
    }
}
