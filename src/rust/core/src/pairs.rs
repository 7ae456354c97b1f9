//! Counting one iteration's close pairs: which method suits a room (chosen
//! here, and only here), and one worker's buffers for it.

use std::ops::Range;

use crate::draws::Draws;
use crate::error::SimError;
use crate::linked::{self, LinkedCells, LinkedShape, Pass1};
use crate::room::Room;
use crate::sorted::{self, SortedCells, SortedShape};

/// Largest number of people per iteration: the sorted method stores
/// positions as u32, and with fewer than 2^32 people no iteration can have
/// 2^64 close pairs.
pub(crate) const MAX_PEOPLE: u64 = sorted::MAX_PEOPLE;

/// How an iteration's close pairs are counted. Every method draws the same
/// people (`draws.rs`) and counts exactly the pairs a comparison of all
/// pairs finds, so the choice changes speed and memory, never results.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Method {
    /// Linked cells (`linked.rs`), in one region or several, with the given
    /// pass-1 variant.
    Linked(LinkedShape, Pass1),
    /// People counting-sorted by cell (`sorted.rs`).
    Sorted(SortedShape, Draws),
}

impl Method {
    /// The method for `room`: linked cells when they are sparse (not forced
    /// coarse by `distance`), in one region when its grid fits in cache,
    /// else in regions that do; sorting for crowded rooms.
    pub fn for_room(room: &Room) -> Method {
        let draws = Draws::for_room(room);
        let sparse = |shape: &LinkedShape| shape.occupancy(room.num_people) <= 0.25;
        let whole = LinkedShape::for_room(room, draws);
        if whole.stored_cells() <= linked::MAX_CELLS && sparse(&whole) {
            return Method::Linked(whole, Pass1::fastest());
        }
        match LinkedShape::for_regions(room, draws) {
            Some(regions) if sparse(&regions) => Method::Linked(regions, Pass1::fastest()),
            _ => Method::Sorted(SortedShape::for_room(room), draws),
        }
    }

    fn draws(&self) -> Draws {
        match self {
            Method::Linked(shape, _) => shape.draws(),
            Method::Sorted(_, draws) => *draws,
        }
    }

    /// Regions an iteration is counted in (1 unless cut into regions).
    pub fn regions(&self) -> usize {
        match self {
            Method::Linked(shape, _) => shape.regions(),
            Method::Sorted(..) => 1,
        }
    }

    /// The same method with linked cells' pass 1 run by `pass1` (all
    /// variants give the same bits; tests run each).
    #[cfg(test)]
    pub fn with_pass1(self, pass1: Pass1) -> Method {
        match self {
            Method::Linked(shape, _) => Method::Linked(shape, pass1),
            other => other,
        }
    }
}

impl Method {
    /// Bytes of scratch memory one worker of this method needs for `room`
    /// (beyond `MAX_PEOPLE`, what sorting them would take). Saturates at
    /// u64::MAX.
    pub fn scratch_bytes(&self, room: &Room) -> u64 {
        if room.num_people > MAX_PEOPLE {
            return sorted::scratch_bytes(room);
        }
        match self {
            _ if room.num_people < 2 => 0,
            Method::Linked(shape, _) => LinkedCells::bytes(room, shape),
            Method::Sorted(..) => sorted::scratch_bytes(room),
        }
    }
}

/// Bytes of scratch memory one worker needs for `room`, by the method a run
/// would choose (estimates ask this; a run asks its chosen method).
pub fn scratch_bytes(room: &Room) -> u64 {
    Method::for_room(room).scratch_bytes(room)
}

/// One worker's buffers for one method: allocated once, reused for every
/// iteration.
pub(crate) struct Scratch {
    counter: Counter,
    draws: Draws,
    num_people: u64,
}

enum Counter {
    /// Fewer than two people: nobody to pair, no buffers.
    Nobody,
    Linked(LinkedCells),
    Sorted(SortedCells),
}

impl Scratch {
    /// `with_method` with the method a run would choose (tests).
    #[cfg(test)]
    pub fn new(room: &Room, stop: &impl Fn() -> bool) -> Result<Option<Scratch>, SimError> {
        Scratch::with_method(room, Method::for_room(room), stop)
    }

    /// Allocates the buffers of `method`, chosen once per run (failure is
    /// `TooLarge`, never an abort). Returns `Ok(None)` if `stop()` became
    /// true meanwhile.
    pub fn with_method(
        room: &Room,
        method: Method,
        stop: &impl Fn() -> bool,
    ) -> Result<Option<Scratch>, SimError> {
        // The hot loops rely on finite, positive lengths.
        room.validate()?;
        let too_large = || SimError::too_large("num_people", method.scratch_bytes(room).into());
        if room.num_people > MAX_PEOPLE || usize::try_from(room.num_people).is_err() {
            return Err(too_large());
        }
        let counter = match method {
            _ if room.num_people < 2 => Counter::Nobody,
            Method::Linked(shape, pass1) => {
                Counter::Linked(LinkedCells::new(room, shape, pass1).map_err(|_| too_large())?)
            }
            Method::Sorted(shape, draws) => match SortedCells::new(room, shape, draws, stop)? {
                Some(cells) => Counter::Sorted(cells),
                None => return Ok(None),
            },
        };
        Ok(Some(Scratch {
            counter,
            draws: method.draws(),
            num_people: room.num_people,
        }))
    }

    /// Frees the buffers of a cancelled (or failed) run without delaying
    /// its return (see `SortedCells::release_in_background`).
    pub fn release_in_background(self) {
        if let Counter::Sorted(cells) = self.counter {
            cells.release_in_background();
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
        match &mut self.counter {
            Counter::Nobody => Some(0),
            Counter::Linked(cells) => cells.count_pairs(seed, iteration, stop),
            Counter::Sorted(cells) => cells.count_pairs(seed, iteration, stop),
        }
    }

    /// How many people each draw region holds in `iteration`.
    pub fn draw_counts(&self, seed: u64, iteration: u64, counts: &mut Vec<u64>) {
        self.draws.counts(seed, iteration, self.num_people, counts)
    }

    /// The close pairs of regions `regions` of `iteration` (given its
    /// `draw_counts`), those across the boundary below each included:
    /// summed over contiguous runs that tile `0..Method::regions()`, the
    /// iteration's count.
    pub fn count_regions(
        &mut self,
        seed: u64,
        iteration: u64,
        counts: &[u64],
        regions: Range<usize>,
        stop: &impl Fn() -> bool,
    ) -> Option<u64> {
        match &mut self.counter {
            Counter::Linked(cells) => cells.count_regions(seed, iteration, counts, regions, stop),
            _ if regions.is_empty() => Some(0),
            _ => self.count_pairs(seed, iteration, stop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{brute_force_pairs, never, room, Params};

    fn counted_pairs(room: &Room, seed: u64, iteration: u64) -> u64 {
        let mut s = Scratch::new(room, &never).unwrap().unwrap();
        s.count_pairs(seed, iteration, &never).unwrap()
    }

    #[test]
    fn counts_match_brute_force_on_edge_cases() {
        let cases = [
            room(1000.0, 1000.0, 1000, 6.0),   // reference workload
            room(10.0, 10.0, 0, 1.0),          // nobody
            room(10.0, 10.0, 1, 1.0),          // one person
            room(10.0, 10.0, 2, 20.0),         // d beyond the diagonal
            room(10.0, 10.0, 300, 12.0),       // d > both sides, < diagonal
            room(10.0, 100.0, 300, 30.0),      // d > one side only
            room(100.0, 10.0, 300, 30.0),      // same, transposed
            room(1e6, 1e-3, 2000, 600.0),      // very thin room
            room(1e-3, 1e6, 2000, 600.0),      // very thin, transposed
            room(1e6, 1e-3, 2000, 1e-4),       // thin, d smaller than the width
            room(10.0, 10.0, 3000, 6.0),       // very dense: one cell
            room(10.0, 10.0, 3000, 0.2),       // very dense, small d
            room(1e100, 1e100, 500, 3e98),     // huge magnitudes
            room(1e-100, 1e-100, 500, 3e-102), // tiny magnitudes
            room(1.0, 1.0, 500, 1.0),          // d equal to the sides
            room(3.0, 3.0, 1000, 1.0),         // sides an exact multiple of d
            room(1.0, 1.0, 2000, 0.01),        // many cells
        ];
        for (k, r) in cases.iter().enumerate() {
            for it in 1..=3 {
                assert_eq!(
                    counted_pairs(r, k as u64, it),
                    brute_force_pairs(r, k as u64, it),
                    "{r:?}, iteration {it}"
                );
            }
        }
    }

    #[test]
    fn counts_match_brute_force_on_random_geometries() {
        let mut p = Params(crate::rng::SplitMix64::new(2024));
        for case in 0..400u64 {
            let x = p.log_uniform(1e-3, 1e4);
            let aspect = p.log_uniform(1e-4, 1e4);
            let y = x * aspect;
            let n = p.below(1200);
            // Distance from far below the spacing to beyond the diagonal.
            let d = p.log_uniform(1e-4, 3.0) * x.max(y);
            let r = room(x, y, n, d);
            r.validate().unwrap();
            let seed = p.0.next_u64();
            assert_eq!(
                counted_pairs(&r, seed, case + 1),
                brute_force_pairs(&r, seed, case + 1),
                "{r:?}"
            );
        }
    }

    #[test]
    fn points_on_cell_boundaries_are_handled() {
        // Room sides that are exact multiples of the distance, with sides and
        // distance that are powers of two: many coordinates land exactly on
        // cell boundaries and on the far wall after rounding.
        for &(x, y, d) in &[
            (8.0, 8.0, 1.0),
            (4.0, 1024.0, 2.0),
            (1.0, 1.0, 0.125),
            (2.0, 2.0, 2.0),
        ] {
            let r = room(x, y, 800, d);
            for it in 1..=5 {
                assert_eq!(counted_pairs(&r, 99, it), brute_force_pairs(&r, 99, it));
            }
        }
    }

    #[test]
    fn stop_interrupts_an_iteration() {
        let r = room(1.0, 1.0, 100_000, 2.0); // one cell: 5e9 comparisons
        let mut s = Scratch::new(&r, &never).unwrap().unwrap();
        let calls = std::cell::Cell::new(0u32);
        // Stop at the fifth check: after generation, during the pair loop.
        let stop = || {
            calls.set(calls.get() + 1);
            calls.get() > 5
        };
        assert_eq!(s.count_pairs(1, 1, &stop), None);
        // Stopping during setup.
        assert!(Scratch::new(&room(10.0, 10.0, 3_000_000, 1.0), &|| true)
            .unwrap()
            .is_none());
    }

    #[test]
    fn scratch_bytes_saturates_and_refuses_absurd_sizes() {
        let r = room(1000.0, 1000.0, 1_000_000_000_000_000, 6.0);
        assert!(scratch_bytes(&r) > 1 << 54);
        assert!(matches!(
            Scratch::new(&r, &never),
            Err(SimError::TooLarge {
                argument: "num_people",
                ..
            })
        ));
        assert_eq!(scratch_bytes(&room(1.0, 1.0, u64::MAX, 1.0)), u64::MAX);
    }
}
