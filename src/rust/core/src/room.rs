//! The room and the people in it: what a valid room is.

use crate::error::SimError;

/// Lengths (room sides and distance) must lie in this range. Squares of
/// such numbers and their sums are ordinary doubles (no overflow, no
/// underflow to subnormals), so `dx*dx + dy*dy < d*d` means what it says.
pub const MIN_LENGTH: f64 = 1e-150;
pub const MAX_LENGTH: f64 = 1e150;

/// The room and the people in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Room {
    pub x_length: f64,
    pub y_length: f64,
    pub num_people: u64,
    pub distance: f64,
}

fn check_length(argument: &'static str, v: f64) -> Result<(), SimError> {
    if v.is_nan() {
        return Err(SimError::invalid(argument, "must be a number, not NaN"));
    }
    if v.is_infinite() {
        return Err(SimError::invalid(
            argument,
            format!("must be finite, not {v}"),
        ));
    }
    if v <= 0.0 {
        return Err(SimError::invalid(
            argument,
            format!("must be positive, not {v}"),
        ));
    }
    if !(MIN_LENGTH..=MAX_LENGTH).contains(&v) {
        return Err(SimError::invalid(
            argument,
            format!("must be between 1e-150 and 1e150, not {v:e}"),
        ));
    }
    Ok(())
}

impl Room {
    /// Checks the room; the error names the offending argument. Any number
    /// of people is valid here (0 and 1 give 0 violations); whether they fit
    /// in memory is checked when a run starts.
    pub fn validate(&self) -> Result<(), SimError> {
        check_length("x_length", self.x_length)?;
        check_length("y_length", self.y_length)?;
        check_length("distance", self.distance)?;
        Ok(())
    }
}
