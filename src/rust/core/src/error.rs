//! The one error type of the core. Messages are written for the person who
//! called the simulation from R: they name the argument and say what to do.

use std::fmt;

/// Everything that can go wrong in the core. Nothing in this crate panics on
/// bad input; it returns one of these instead.
#[derive(Debug, Clone, PartialEq)]
pub enum SimError {
    /// An argument is outside its allowed range (NaN, infinite, zero, ...).
    InvalidArgument {
        argument: &'static str,
        reason: String,
    },
    /// The run would need more memory than the machine has available.
    TooLarge {
        argument: &'static str,
        bytes_needed: u64,
        bytes_available: u64,
    },
    /// The run was stopped through [`crate::Control::cancel`].
    Cancelled,
    /// An exact integer sum no longer fits its type.
    Overflow(String),
    /// A file could not be read or written.
    Io(String),
    /// A result file is malformed or inconsistent, or parts do not fit together.
    Format(String),
    /// A file that travelled through S3 is not what was sent: a payload
    /// whose SHA-256 is not the job's, a results file whose signature is
    /// missing or does not match (src/integrity.rs). `file` is its path.
    Integrity { file: String, reason: String },
    /// Some hosts of a job wrote no result file.
    MissingHosts {
        missing: Vec<String>,
        hosts: Vec<String>,
    },
}

impl SimError {
    pub(crate) fn invalid(argument: &'static str, reason: impl Into<String>) -> Self {
        SimError::InvalidArgument {
            argument,
            reason: reason.into(),
        }
    }

    /// `argument` asks for `bytes_needed` (saturated to u64), more than the
    /// memory available now (reported as 0 where unknown).
    pub(crate) fn too_large(argument: &'static str, bytes_needed: u128) -> Self {
        SimError::TooLarge {
            argument,
            bytes_needed: u64::try_from(bytes_needed).unwrap_or(u64::MAX),
            bytes_available: crate::sys::available_memory_bytes().unwrap_or(0),
        }
    }
}

/// Human-readable byte count (binary units), used in error messages.
/// (Messages say "1.5 GiB", not "1610612736 bytes".)
pub(crate) fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::InvalidArgument { argument, reason } => {
                write!(f, "invalid `{argument}`: {reason}")
            }
            SimError::TooLarge {
                argument,
                bytes_needed,
                bytes_available,
            } => {
                let hint = if *argument == "num_people" {
                    " or the number of threads"
                } else {
                    ""
                };
                if *bytes_available == 0 {
                    // Unknown (not Linux) or the allocation itself failed.
                    write!(
                        f,
                        "`{argument}` is too large: the simulation would need {} of memory, more than \
                         can be allocated; reduce `{argument}`{hint}",
                        format_bytes(*bytes_needed)
                    )
                } else {
                    write!(
                        f,
                        "`{argument}` is too large: the simulation would need {} of memory but only {} \
                         is available; reduce `{argument}`{hint}",
                        format_bytes(*bytes_needed),
                        format_bytes(*bytes_available)
                    )
                }
            }
            SimError::Cancelled => write!(f, "the simulation was cancelled"),
            SimError::Overflow(what) => write!(f, "arithmetic overflow: {what}"),
            SimError::Io(what) => write!(f, "input/output error: {what}"),
            SimError::Format(what) => write!(f, "{what}"),
            SimError::Integrity { file, reason } => write!(f, "{file} is refused: {reason}"),
            SimError::MissingHosts { missing, hosts } => write!(
                f,
                "no result file from host{} {} (of {})",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", "),
                hosts.join(", ")
            ),
        }
    }
}

impl std::error::Error for SimError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_argument() {
        let e = SimError::invalid("distance", "must be positive, not -1");
        assert_eq!(
            e.to_string(),
            "invalid `distance`: must be positive, not -1"
        );
        let e = SimError::TooLarge {
            argument: "num_people",
            bytes_needed: 3 << 30,
            bytes_available: 1 << 30,
        };
        assert_eq!(
            e.to_string(),
            "`num_people` is too large: the simulation would need 3.0 GiB of memory but only 1.0 GiB is \
             available; reduce `num_people` or the number of threads"
        );
        let e = SimError::TooLarge {
            argument: "max_iterations",
            bytes_needed: 1 << 40,
            bytes_available: 0,
        };
        assert!(
            e.to_string().contains("1.0 TiB") && e.to_string().contains("reduce `max_iterations`")
        );
        assert_eq!(format_bytes(512), "512 bytes");
        assert_eq!(format_bytes(u64::MAX), "16.0 EiB");
    }
}
