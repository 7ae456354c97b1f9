//! A host that starts again on the files it wrote before (a Spot instance
//! reclaimed and its checkpoints restored): what its own verified result
//! files hold is done, the rest of its share is still to run, and its next
//! file takes the number after theirs. Other hosts' files in the same folder
//! (restored checkpoints hold every host's) are never read or touched.

use std::path::{Path, PathBuf};

use crate::error::SimError;
use crate::integrity::Key;
use crate::result_file::{self, HostResult, Part};
use crate::share::Share;
use crate::spec::SimulationSpec;

/// What a host's own files in its output folder say about its share.
#[derive(Clone, Debug, PartialEq)]
pub struct Resume {
    /// The pieces of the share no verified file covers, in share order.
    pub remaining: Vec<Share>,
    /// The verified files' parts.
    pub done: Vec<Part>,
    /// How many verified files there are.
    pub files: usize,
    /// The number the host's next file takes (1 with no files).
    pub next_file: u32,
    /// A verified file says the host finished its share.
    pub complete: bool,
    /// Its files that are not verified (a checkpoint restored without the
    /// signature, or cut short): they count for nothing.
    pub unverified: Vec<PathBuf>,
}

/// The host's own result files in `dir` (`sagesim-result-<host>-<k>.json`,
/// exactly its name: algo-1's are not algo-10's), with their numbers.
pub fn own_result_files(dir: &Path, host: &str) -> Result<Vec<(u32, PathBuf)>, SimError> {
    let prefix = format!("sagesim-result-{host}-");
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(SimError::Io(format!(
                "could not read {}: {e}",
                dir.display()
            )))
        }
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let number = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".json"))
            .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|k| k.parse::<u32>().ok());
        if let Some(k) = number {
            files.push((k, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// Host `host`'s resume of `shares` (its share of `plan` in a job of
/// `hosts`) from its own files in `dir`, each read only once its signature
/// matches `key` (None: read as they are). A verified file of another plan
/// or set of hosts is an error: the folder holds another job's results.
pub fn resume(
    plan: &[SimulationSpec],
    shares: &[Share],
    host: &str,
    hosts: &[String],
    dir: &Path,
    key: Option<&Key>,
) -> Result<Resume, SimError> {
    let mut done = Vec::new();
    let (mut files, mut last, mut complete) = (0usize, 0u32, false);
    let mut unverified = Vec::new();
    for (k, path) in own_result_files(dir, host)? {
        let Ok(result) = result_file::read(&path, key) else {
            unverified.push(path);
            continue;
        };
        if result.plan != plan || result.host != host || result.hosts != hosts {
            return Err(SimError::Format(format!(
                "{} holds results of another job (its plan or hosts differ from this one's)",
                path.display()
            )));
        }
        files += 1;
        last = last.max(k);
        complete |= result.complete;
        done.extend(result.parts);
    }
    let remaining = if complete {
        Vec::new()
    } else {
        subtract(plan, shares, &done)
    };
    Ok(Resume {
        remaining,
        done,
        files,
        next_file: last + 1,
        complete,
        unverified,
    })
}

/// The iterations of `shares` that no part of `done` covers.
pub fn subtract(plan: &[SimulationSpec], shares: &[Share], done: &[Part]) -> Vec<Share> {
    let mut remaining = Vec::new();
    for share in shares {
        let Some(spec) = plan.get(share.spec) else {
            continue;
        };
        let mut covered: Vec<(u64, u64)> = done
            .iter()
            .filter(|p| p.spec == *spec && p.iterations > 0)
            .map(|p| (p.first_iteration, p.last_iteration()))
            .collect();
        covered.sort();
        let end = share.first_iteration + share.iterations; // one past the last
        let mut next = share.first_iteration;
        for (first, last) in covered {
            if last < next || first >= end {
                continue;
            }
            if first > next {
                remaining.push(Share {
                    spec: share.spec,
                    first_iteration: next,
                    iterations: first - next,
                });
            }
            next = next.max(last + 1);
        }
        if next < end {
            remaining.push(Share {
                spec: share.spec,
                first_iteration: next,
                iterations: end - next,
            });
        }
    }
    remaining
}

/// `parts` (of `plan`, from several starts of one host) as few parts as
/// they allow: those of a spec that follow one another merged into one, in
/// plan and iteration order, as one uninterrupted run would have them.
pub fn joined(plan: &[SimulationSpec], parts: Vec<Part>) -> Result<Vec<Part>, SimError> {
    let mut parts: Vec<(usize, Part)> = parts
        .into_iter()
        .filter(|p| p.iterations > 0)
        .map(|p| {
            (
                plan.iter().position(|s| *s == p.spec).unwrap_or(usize::MAX),
                p,
            )
        })
        .collect();
    parts.sort_by_key(|(k, p)| (*k, p.first_iteration));
    let mut runs: Vec<Vec<(String, Part)>> = Vec::new();
    for (k, part) in parts {
        let follows = runs
            .last()
            .and_then(|run| run.last())
            .is_some_and(|(_, last)| {
                last.spec == part.spec && last.last_iteration() + 1 == part.first_iteration
            });
        let named = (format!("part {k}:{}", part.first_iteration), part);
        match runs.last_mut() {
            Some(run) if follows => run.push(named),
            _ => runs.push(vec![named]),
        }
    }
    runs.into_iter().map(result_file::merge).collect()
}

/// The file name of the host's `k`th result file (for callers that number
/// files from a resume's `next_file`).
pub fn file_name(host: &str, k: u32) -> String {
    HostResult::file_name(host, k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::{host_share, run_shares};
    use crate::Control;

    fn spec(max_iterations: u64) -> SimulationSpec {
        SimulationSpec {
            x_length: 50.0,
            y_length: 30.0,
            num_people: 40,
            distance: 2.0,
            seed: 7,
            max_iterations,
        }
    }

    fn piece(first: u64, iterations: u64) -> Share {
        Share {
            spec: 0,
            first_iteration: first,
            iterations,
        }
    }

    fn run_piece(plan: &[SimulationSpec], share: Share) -> Part {
        run_shares(plan, &[share], 1, &Control::new())
            .unwrap()
            .remove(0)
    }

    fn hosts() -> Vec<String> {
        vec!["algo-1".to_string(), "algo-10".to_string()]
    }

    fn write(dir: &Path, host: &str, k: u32, parts: Vec<Part>, complete: bool, key: Option<&Key>) {
        let plan = vec![spec(100)];
        let mut result = HostResult::new(host, &hosts(), &plan, parts, "0.1.0");
        result.complete = complete;
        result_file::write_atomic(&dir.join(file_name(host, k)), &result, key).unwrap();
    }

    #[test]
    fn subtract_leaves_what_no_part_covers() {
        let plan = vec![spec(100)];
        let done = vec![
            run_piece(&plan, piece(11, 5)),
            run_piece(&plan, piece(20, 3)),
        ];
        assert_eq!(
            subtract(&plan, &[piece(1, 30)], &done),
            vec![piece(1, 10), piece(16, 4), piece(23, 8)]
        );
        assert_eq!(subtract(&plan, &[piece(11, 5)], &done), vec![]);
        assert_eq!(subtract(&plan, &[piece(40, 2)], &done), vec![piece(40, 2)]);
    }

    #[test]
    fn a_resumed_host_runs_the_rest_and_its_parts_join_into_one_runs() {
        let dir =
            std::env::temp_dir().join(format!("sagesim-core-test-{}-resume", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = Key::from_hex(&"ab".repeat(32)).unwrap();
        let plan = vec![spec(100)];
        let share = host_share(&plan, 2, 0);
        let whole = run_shares(&plan, &share, 1, &Control::new()).unwrap();
        // Two files of its own saved before the interruption, one whose
        // signature did not make it, and another host's (never read).
        write(
            &dir,
            "algo-1",
            1,
            vec![run_piece(&plan, piece(1, 10))],
            false,
            Some(&key),
        );
        write(
            &dir,
            "algo-1",
            2,
            vec![run_piece(&plan, piece(11, 7))],
            false,
            Some(&key),
        );
        write(
            &dir,
            "algo-1",
            3,
            vec![run_piece(&plan, piece(18, 5))],
            false,
            Some(&key),
        );
        std::fs::remove_file(crate::integrity::signature_path(
            &dir.join(file_name("algo-1", 3)),
        ))
        .unwrap();
        write(
            &dir,
            "algo-10",
            1,
            vec![run_piece(&plan, piece(51, 50))],
            true,
            Some(&key),
        );
        let resumed = resume(&plan, &share, "algo-1", &hosts(), &dir, Some(&key)).unwrap();
        assert_eq!(resumed.files, 2);
        assert_eq!(resumed.next_file, 3);
        assert!(!resumed.complete);
        assert_eq!(resumed.remaining, vec![piece(18, 33)]);
        assert_eq!(resumed.unverified, vec![dir.join(file_name("algo-1", 3))]);
        let rest = run_shares(&plan, &resumed.remaining, 1, &Control::new()).unwrap();
        let mut all = resumed.done.clone();
        all.extend(rest);
        let joined = joined(&plan, all).unwrap();
        assert_eq!(joined.len(), 1);
        assert_eq!(
            (
                &joined[0].counts,
                &joined[0].values,
                joined[0].first_iteration
            ),
            (&whole[0].counts, &whole[0].values, whole[0].first_iteration)
        );
        // A complete file: nothing left.
        write(&dir, "algo-1", 3, vec![], true, Some(&key));
        let finished = resume(&plan, &share, "algo-1", &hosts(), &dir, Some(&key)).unwrap();
        assert!(finished.complete && finished.remaining.is_empty());
        assert_eq!(finished.next_file, 4);
        // No files at all, or no folder: the whole share.
        let empty = resume(&plan, &share, "algo-1", &hosts(), &dir.join("none"), None).unwrap();
        assert_eq!((empty.remaining, empty.next_file), (share.clone(), 1));
        // Another job's file is an error, not silently skipped.
        let other = vec![spec(99)];
        let result = HostResult::new("algo-1", &hosts(), &other, vec![], "0.1.0");
        result_file::write_atomic(&dir.join(file_name("algo-1", 9)), &result, Some(&key)).unwrap();
        assert!(resume(&plan, &share, "algo-1", &hosts(), &dir, Some(&key)).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
