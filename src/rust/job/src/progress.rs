//! Hosts' progress, as a line of their log: `sagesim-progress/1 {json}`.
//!
//! A host prints one whenever it has news (elements or iterations done);
//! whoever follows the job (its logs streamed from CloudWatch, or a local
//! host's log file) reads the latest one per host. Written and read here
//! only, so no one parses human text to learn how far a job is.

use serde::{Deserialize, Serialize};

/// The prefix that marks a progress line, format and version in one.
pub const PROGRESS_FORMAT: &str = "sagesim-progress/1";

/// How far one host is.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    pub host: String,
    /// What is counted: "elements" (maps) or "iterations" (simulations).
    pub unit: String,
    pub done: u64,
    pub total: u64,
    #[serde(default)]
    pub failed: u64,
}

/// The log line that reports `progress`.
pub fn progress_line(progress: &Progress) -> String {
    // Serialising plain data cannot fail.
    format!(
        "{PROGRESS_FORMAT} {}",
        serde_json::to_string(progress).unwrap_or_default()
    )
}

/// The progress a log line reports, or `None` for any other line (a line
/// of another version of the format included).
pub fn parse_progress_line(line: &str) -> Option<Progress> {
    let rest = line.trim_end().strip_prefix(PROGRESS_FORMAT)?;
    let json = rest.strip_prefix(' ')?;
    let progress: Progress = serde_json::from_str(json).ok()?;
    (progress.done <= progress.total && progress.failed <= progress.done).then_some(progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_reads_back_as_written() {
        let p = Progress {
            host: "algo-2".into(),
            unit: "elements".into(),
            done: 3,
            total: 10,
            failed: 1,
        };
        let line = progress_line(&p);
        assert!(line.starts_with("sagesim-progress/1 {"), "{line}");
        assert_eq!(parse_progress_line(&line), Some(p.clone()));
        assert_eq!(parse_progress_line(&format!("{line}\r\n")), Some(p));
    }

    #[test]
    fn other_lines_are_not_progress() {
        for line in [
            "",
            "algo-1: 3 of 10 elements done",
            "sagesim-progress/2 {\"host\":\"a\",\"unit\":\"elements\",\"done\":1,\"total\":2}",
            "sagesim-progress/1{\"host\":\"a\",\"unit\":\"elements\",\"done\":1,\"total\":2}",
            "sagesim-progress/1 {\"host\":\"a\",\"unit\":\"elements\",\"done\":3,\"total\":2}",
            "sagesim-progress/1 {\"host\":\"a\",\"unit\":\"elements\",\"done\":1,\"total\":2,\"x\":1}",
            "x sagesim-progress/1 {\"host\":\"a\",\"unit\":\"elements\",\"done\":1,\"total\":2}",
        ] {
            assert_eq!(parse_progress_line(line), None, "{line}");
        }
    }
}
