//! Where an iteration's people stand: how their positions are drawn from the
//! iteration's random stream (`rng.rs`). Every counting method draws the
//! same people; this is what fixes a run's results.
//!
//! A coordinate is `k * length * 2^-53` for an integer `k < 2^53`, the top
//! 53 bits of a 64-bit output.
//!
//! Fewer than `MIN_PEOPLE_IN_REGIONS` people: person `j` takes outputs
//! `2j + 1` (x) and `2j + 2` (y) of the iteration's stream.
//!
//! More: the room is drawn in `2^bits` "draw regions", equal strips across
//! its longer side (cut along y when square), `bits = floor(log2(people)) -
//! 10`, so about 1,024 to 2,048 people each, which lets each part of the room
//! be drawn, and counted while its cells are in cache, on its own:
//! * how many people each region holds is drawn first, exactly as the
//!   uniform model has it (`binomial::split_in_halves`, from the iteration's
//!   stream);
//! * region `r`'s people come from the iteration's sub-stream `r`, person
//!   `j` of the region from its outputs `2j + 1` (x) and `2j + 2` (y);
//! * along the cut, the top `bits` bits of `k` are `r` and the other
//!   `53 - bits` come from the output, so positions are as fine as in a room
//!   of one piece.
//!
//! The draw depends on the number of people and on which side is longer,
//! never on `distance`, the counting method, the threads or the machine: the
//! same seed puts the same people in the same places whatever the distance.

use crate::binomial::split_in_halves;
use crate::rng::SplitMix64;
use crate::room::Room;

/// Rooms with this many people or more are drawn in regions. (Rooms with
/// fewer are drawn in one piece, as before regions existed; their cells
/// fit in cache anyway.)
pub(crate) const MIN_PEOPLE_IN_REGIONS: u64 = 1 << 16;

/// `bits = floor(log2(people)) - PEOPLE_PER_REGION_LOG2`.
const PEOPLE_PER_REGION_LOG2: u32 = 10;

/// Draw regions at most `2^MAX_BITS`, so that a region's number and some
/// bits of its own fill the 53 bits of a coordinate.
const MAX_BITS: u32 = 40;

/// How a room's people are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Draws {
    /// `2^bits` draw regions (0: one piece).
    pub bits: u32,
    /// The regions are strips along x (the room is wider than high);
    /// else along y.
    pub along_x: bool,
}

impl Draws {
    /// How `room`'s people are drawn (see the module's documentation).
    pub fn for_room(room: &Room) -> Draws {
        let bits = if room.num_people < MIN_PEOPLE_IN_REGIONS {
            0
        } else {
            // At most 21 for the numbers of people a run takes (MAX_PEOPLE);
            // bounded for the memory estimates of larger ones.
            (63 - room.num_people.leading_zeros() - PEOPLE_PER_REGION_LOG2).min(MAX_BITS)
        };
        Draws::with_bits(room, bits)
    }

    /// `2^bits` draw regions whatever the number of people (tests draw
    /// small rooms in many regions), at most `2^MAX_BITS`.
    pub fn with_bits(room: &Room, bits: u32) -> Draws {
        assert!(bits <= MAX_BITS);
        Draws {
            bits,
            along_x: room.x_length > room.y_length,
        }
    }

    pub fn regions(&self) -> usize {
        1 << self.bits
    }

    /// How many of `num_people` each draw region holds in iteration
    /// `iteration` (for one piece, everyone).
    pub fn counts(&self, seed: u64, iteration: u64, num_people: u64, counts: &mut Vec<u64>) {
        let mut rng = SplitMix64::for_iteration(seed, iteration);
        split_in_halves(&mut rng, num_people, self.bits, counts);
    }

    /// The stream of draw region `r` of the iteration whose stream is
    /// `iteration`.
    pub fn stream(&self, iteration: &SplitMix64, r: usize) -> SplitMix64 {
        if self.bits == 0 {
            iteration.clone()
        } else {
            iteration.substream(r as u64)
        }
    }

    /// The top `bits` of `k` along the cut, for region `r`; an output's
    /// other bits go below them, after `>> self.shift()`.
    #[inline(always)]
    pub fn base(&self, r: usize) -> u64 {
        (r as u64) << (53 - self.bits)
    }

    /// How far an output is shifted right to fill `k` below the region's
    /// number.
    #[inline(always)]
    pub fn shift(&self) -> u32 {
        11 + self.bits
    }

    /// A person's position from its two outputs, in region `r`: `(x, y)`.
    /// (The vectorised pass of `linked.rs` computes the same, in its frame.)
    #[inline(always)]
    pub fn position(&self, r: usize, (ox, oy): (u64, u64), scaled: (f64, f64)) -> (f64, f64) {
        let cut = |o: u64| (self.base(r) | (o >> self.shift())) as i64 as f64;
        let whole = |o: u64| (o >> 11) as i64 as f64;
        if self.along_x {
            (cut(ox) * scaled.0, whole(oy) * scaled.1)
        } else {
            (whole(ox) * scaled.0, cut(oy) * scaled.1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::room;

    #[test]
    fn regions_follow_the_number_of_people_and_the_longer_side() {
        let bits = |n: u64| Draws::for_room(&room(10.0, 20.0, n, 1.0)).bits;
        assert_eq!(bits(0), 0);
        assert_eq!(bits(65_535), 0);
        assert_eq!(bits(65_536), 6);
        assert_eq!(bits(131_071), 6);
        assert_eq!(bits(131_072), 7);
        assert_eq!(bits(10_000_000), 13);
        assert_eq!(bits(100_000_000), 16);
        assert_eq!(bits(u32::MAX as u64), 21);
        assert!(!Draws::for_room(&room(10.0, 20.0, 1 << 20, 1.0)).along_x);
        assert!(!Draws::for_room(&room(20.0, 20.0, 1 << 20, 1.0)).along_x);
        assert!(Draws::for_room(&room(20.0, 10.0, 1 << 20, 1.0)).along_x);
    }

    #[test]
    fn one_piece_draws_as_before_regions() {
        let r = room(123.4, 56.7, 100, 1.0);
        let draws = Draws::for_room(&r);
        let mut rng = SplitMix64::for_iteration(3, 4);
        let stream = draws.stream(&rng.clone(), 0);
        let scaled = (
            r.x_length * crate::rng::TWO_POW_M53,
            r.y_length * crate::rng::TWO_POW_M53,
        );
        for j in 0..100u64 {
            let (x, y) = draws.position(
                0,
                (stream.output(2 * j + 1), stream.output(2 * j + 2)),
                scaled,
            );
            assert_eq!(x.to_bits(), (rng.next_f64() * r.x_length).to_bits());
            assert_eq!(y.to_bits(), (rng.next_f64() * r.y_length).to_bits());
        }
    }

    #[test]
    fn each_region_is_its_strip() {
        // The cut coordinate of region r lies in [r, r + 1) / 2^bits of the
        // side (up to rounding onto the boundary).
        for (r_len, along_x) in [((5.0, 9.0), false), ((9.0, 5.0), true)] {
            let rm = room(r_len.0, r_len.1, 1000, 1.0);
            let draws = Draws::with_bits(&rm, 6);
            assert_eq!(draws.along_x, along_x);
            let scaled = (
                rm.x_length * crate::rng::TWO_POW_M53,
                rm.y_length * crate::rng::TWO_POW_M53,
            );
            let side = if along_x { rm.x_length } else { rm.y_length };
            let mut rng = SplitMix64::new(1);
            for r in [0usize, 1, 31, 63] {
                for o in [0u64, u64::MAX, rng.next_u64(), rng.next_u64()] {
                    let (x, y) = draws.position(r, (o, o), scaled);
                    let along = if along_x { x } else { y };
                    assert!(
                        along >= side * r as f64 / 64.0 && along <= side * (r + 1) as f64 / 64.0
                    );
                }
            }
        }
        assert_eq!(Draws::with_bits(&room(1.0, 1.0, 5, 1.0), 0).base(0), 0);
        assert_eq!(
            Draws::with_bits(&room(1.0, 1.0, 5, 1.0), 3).base(5),
            5 << 50
        );
    }
}
