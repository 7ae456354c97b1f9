//! One simulation's parameters, as R's `simulation_spec()` holds them: the
//! room, the seed and the number of iterations. Everything downstream (a
//! run, a host's share, a result file) refers to a spec by value.

use serde::{Deserialize, Serialize};

use crate::error::SimError;
use crate::rng::mix64;
use crate::room::Room;
use crate::run::RunSpec;

/// `simulation_spec()` in Rust. The seed is written as a decimal string in
/// JSON, so no reader rounds it to a double.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimulationSpec {
    pub x_length: f64,
    pub y_length: f64,
    pub num_people: u64,
    pub distance: f64,
    #[serde(with = "crate::serde_int::u64_string")]
    pub seed: u64,
    pub max_iterations: u64,
}

impl SimulationSpec {
    pub fn room(&self) -> Room {
        Room {
            x_length: self.x_length,
            y_length: self.y_length,
            num_people: self.num_people,
            distance: self.distance,
        }
    }

    /// Checks everything but memory; the error names the argument.
    pub fn validate(&self) -> Result<(), SimError> {
        self.room().validate()?;
        if self.max_iterations == 0 {
            return Err(SimError::invalid("max_iterations", "must be at least 1"));
        }
        Ok(())
    }

    /// The run of iterations `first_iteration ..` of this spec.
    pub fn run_spec(
        &self,
        first_iteration: u64,
        iterations: u64,
        threads: usize,
        keep_values: bool,
    ) -> RunSpec {
        RunSpec {
            room: self.room(),
            seed: self.seed,
            first_iteration,
            iterations,
            threads,
            keep_values,
        }
    }
}

/// Separates sweep cells' seeds from every other use of `mix64`.
const SWEEP_SALT: u64 = 0x5357_4545_5043_454C;

/// The seed of the cell of a sweep (`simulation_grid()`) whose room is
/// `room`: a function of the sweep's seed and of the cell's own parameters
/// only (not of the other cells, nor of `max_iterations`), so adding cells
/// or iterations never changes a cell's values. Below 2^53, so that R holds
/// it exactly.
pub fn sweep_cell_seed(seed: u64, room: &Room) -> u64 {
    let words = [
        room.x_length.to_bits(),
        room.y_length.to_bits(),
        room.num_people,
        room.distance.to_bits(),
    ];
    let mixed = words
        .iter()
        .fold(mix64(seed ^ SWEEP_SALT), |h, &word| mix64(h ^ mix64(word)));
    mixed & ((1 << 53) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_cells_get_their_own_seeds() {
        let room = |x: f64, n: u64| Room {
            x_length: x,
            y_length: 100.0,
            num_people: n,
            distance: 6.0,
        };
        let a = sweep_cell_seed(42, &room(100.0, 50));
        assert_eq!(
            a,
            sweep_cell_seed(42, &room(100.0, 50)),
            "a function of seed and room"
        );
        assert!(a < 1 << 53);
        let others = [
            sweep_cell_seed(43, &room(100.0, 50)),
            sweep_cell_seed(42, &room(100.0, 51)),
            sweep_cell_seed(42, &room(100.5, 50)),
            sweep_cell_seed(42, &room(200.0, 50)),
        ];
        assert!(others.iter().all(|&s| s != a && s < 1 << 53), "{others:?}");
        // Pinned: changing this changes every sweep's values (a breaking change).
        assert_eq!(
            sweep_cell_seed(0, &room(1000.0, 1000)),
            6_327_087_614_842_413
        );
    }

    #[test]
    fn the_seed_survives_json_exactly() {
        let spec = SimulationSpec {
            x_length: 0.1,
            y_length: 1e150,
            num_people: 1000,
            distance: 6.0,
            seed: u64::MAX,
            max_iterations: 10,
        };
        let text = serde_json::to_string(&spec).unwrap();
        assert!(
            text.contains(&format!("\"seed\":\"{}\"", u64::MAX)),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<SimulationSpec>(&text).unwrap(), spec);
        assert!(spec.validate().is_ok());
        let zero = SimulationSpec {
            max_iterations: 0,
            ..spec
        };
        assert!(
            matches!(zero.validate(), Err(SimError::InvalidArgument { argument, .. }) if argument == "max_iterations")
        );
    }
}
