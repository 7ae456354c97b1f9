//! The per-host result file ("shard") that SageMaker workers write and R
//! reads back, and the merge of all hosts' shards into one result.
//!
//! JSON via serde_json: f64 values are printed with the shortest
//! representation that reads back to the same bits, so values round-trip
//! exactly; the seed and the u128 sums are decimal strings so that no JSON
//! reader (R's included) rounds them to doubles.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::SimError;
use crate::stats::{iteration_value, PairCounts};
use crate::{Room, RunOutput, RunSpec};

/// Format tag written in every shard; bump when the layout changes.
pub const FORMAT: &str = "sagesim-shard/1";

/// Host name given to the result of [`merge`].
pub const MERGED_HOST: &str = "merged";

/// The result of iterations `first_iteration .. first_iteration + iterations`
/// of a run of `max_iterations` iterations, computed on one host.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ShardResult {
    pub format: String,
    pub x_length: f64,
    pub y_length: f64,
    pub num_people: u64,
    pub distance: f64,
    #[serde(with = "crate::serde_int::u64_string")]
    pub seed: u64,
    pub max_iterations: u64,
    pub first_iteration: u64,
    pub iterations: u64,
    pub counts: PairCounts,
    pub values: Option<Vec<f64>>,
    pub elapsed_seconds: f64,
    pub threads: usize,
    pub host: String,
    pub sagesim_version: String,
}

impl ShardResult {
    /// The shard describing `output`, the result of running `spec` as part
    /// of a run of `max_iterations` iterations.
    pub fn from_run(
        spec: &RunSpec,
        max_iterations: u64,
        output: &RunOutput,
        host: &str,
        sagesim_version: &str,
    ) -> ShardResult {
        ShardResult {
            format: FORMAT.to_string(),
            x_length: spec.room.x_length,
            y_length: spec.room.y_length,
            num_people: spec.room.num_people,
            distance: spec.room.distance,
            seed: spec.seed,
            max_iterations,
            first_iteration: spec.first_iteration,
            iterations: spec.iterations,
            counts: output.counts,
            values: output.values.clone(),
            elapsed_seconds: output.elapsed_seconds,
            threads: output.threads_used,
            host: host.to_string(),
            sagesim_version: sagesim_version.to_string(),
        }
    }

    pub fn room(&self) -> Room {
        Room {
            x_length: self.x_length,
            y_length: self.y_length,
            num_people: self.num_people,
            distance: self.distance,
        }
    }

    /// Last iteration covered (`first_iteration - 1` for an empty shard).
    fn last_iteration(&self) -> u64 {
        (self.first_iteration + self.iterations).saturating_sub(1)
    }

    /// Checks the format tag, the parameters and internal consistency:
    /// the range lies within `1..=max_iterations`, the counts cover exactly
    /// `iterations` iterations, values (if any) number `iterations`, are
    /// possible values and, where they determine the pair counts exactly,
    /// reproduce the sums.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |what: String| {
            Err(SimError::Format(format!(
                "result from host {:?}: {what}",
                self.host
            )))
        };
        if self.format != FORMAT {
            return bad(format!(
                "unknown format {:?} (expected {FORMAT:?})",
                self.format
            ));
        }
        if let Err(e) = self.room().validate() {
            return bad(e.to_string());
        }
        if self.max_iterations == 0 {
            return bad("max_iterations is 0".into());
        }
        if self.first_iteration == 0 {
            return bad("first_iteration is 0 (iterations are numbered from 1)".into());
        }
        let end = self.first_iteration.checked_add(self.iterations);
        if end.map_or(true, |e| e - 1 > self.max_iterations) {
            return bad(format!(
                "iterations {}..{} lie beyond max_iterations = {}",
                self.first_iteration,
                self.first_iteration as u128 + self.iterations as u128 - 1,
                self.max_iterations
            ));
        }
        if self.counts.iterations != self.iterations {
            return bad(format!(
                "the counts cover {} iterations but the shard claims {}",
                self.counts.iterations, self.iterations
            ));
        }
        if !(self.elapsed_seconds.is_finite() && self.elapsed_seconds >= 0.0) {
            return bad(format!("elapsed_seconds is {}", self.elapsed_seconds));
        }
        let n = self.num_people as u128;
        let max_pairs = n * n.saturating_sub(1) / 2;
        let m = self.iterations as u128;
        let c = &self.counts;
        if max_pairs
            .checked_mul(m)
            .is_some_and(|limit| c.sum_pairs > limit)
        {
            return bad("the sum of pair counts exceeds the number of pairs".into());
        }
        if !crate::stats::sums_are_consistent(c) {
            return bad("the sums of pair counts and of their squares are inconsistent".into());
        }
        if let Some(values) = &self.values {
            if values.len() as u128 != m {
                return bad(format!(
                    "{} values for {} iterations",
                    values.len(),
                    self.iterations
                ));
            }
            let max_value = self.num_people.saturating_sub(1) as f64;
            if let Some(v) = values
                .iter()
                .find(|v| !(v.is_finite() && **v >= 0.0 && **v <= max_value))
            {
                return bad(format!(
                    "impossible value {v} for {} people",
                    self.num_people
                ));
            }
            // With fewer than 2^26 people, 2c/n determines c exactly
            // (c < 2^51), so the values must reproduce the sums.
            if self.num_people > 0 && self.num_people < 1 << 26 {
                let mut recomputed = PairCounts::default();
                for &v in values {
                    let pairs = (v * self.num_people as f64 / 2.0).round() as u64;
                    if iteration_value(pairs, self.num_people) != v {
                        return bad(format!(
                            "value {v} is not a possible result for {} people",
                            self.num_people
                        ));
                    }
                    recomputed
                        .add(pairs)
                        .map_err(|e| SimError::Format(e.to_string()))?;
                }
                if recomputed != *c {
                    return bad("the values do not match the counts".into());
                }
            }
        }
        Ok(())
    }
}

fn io_error(action: &str, path: &Path, e: std::io::Error) -> SimError {
    SimError::Io(format!("could not {action} {}: {e}", path.display()))
}

/// Writes `shard` to `path` atomically: the JSON goes to a temporary file in
/// the same directory, is flushed to disk, then renamed over `path`. Readers
/// therefore see either no file or a complete one, never a partial file.
pub fn write_atomic(path: &Path, shard: &ShardResult) -> Result<(), SimError> {
    shard.validate()?;
    // Compact: a shard may hold millions of values.
    let json = serde_json::to_vec(shard)
        .map_err(|e| SimError::Format(format!("could not encode result: {e}")))?;
    let file_name = path
        .file_name()
        .ok_or_else(|| SimError::Io(format!("{} is not a file name", path.display())))?
        .to_string_lossy();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Unique per process and call, so concurrent writers never share a
    // temporary file (and `create_new` refuses to reuse a stale one).
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let k = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{file_name}.tmp-{}-{k}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error("write", &tmp, e));
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error("rename a temporary file to", path, e));
    }
    // Make the rename itself durable (directories can be fsynced on Unix).
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads and validates a shard.
pub fn read(path: &Path) -> Result<ShardResult, SimError> {
    let bytes = std::fs::read(path).map_err(|e| io_error("read", path, e))?;
    let shard: ShardResult = serde_json::from_slice(&bytes).map_err(|e| {
        SimError::Format(format!(
            "{} is not a valid result file: {e}",
            path.display()
        ))
    })?;
    shard
        .validate()
        .map_err(|e| SimError::Format(format!("{}: {e}", path.display())))?;
    Ok(shard)
}

/// Checks that two shards belong to the same run.
fn check_same_run(a: &ShardResult, b: &ShardResult) -> Result<(), SimError> {
    let differ = |what: &str, x: String, y: String| {
        Err(SimError::Format(format!(
            "the results do not belong to the same run: `{what}` is {x} on host {:?} but {y} on host {:?}",
            a.host, b.host
        )))
    };
    if a.x_length.to_bits() != b.x_length.to_bits() {
        return differ("x_length", a.x_length.to_string(), b.x_length.to_string());
    }
    if a.y_length.to_bits() != b.y_length.to_bits() {
        return differ("y_length", a.y_length.to_string(), b.y_length.to_string());
    }
    if a.num_people != b.num_people {
        return differ(
            "num_people",
            a.num_people.to_string(),
            b.num_people.to_string(),
        );
    }
    if a.distance.to_bits() != b.distance.to_bits() {
        return differ("distance", a.distance.to_string(), b.distance.to_string());
    }
    if a.seed != b.seed {
        return differ("seed", a.seed.to_string(), b.seed.to_string());
    }
    if a.max_iterations != b.max_iterations {
        return differ(
            "max_iterations",
            a.max_iterations.to_string(),
            b.max_iterations.to_string(),
        );
    }
    if a.sagesim_version != b.sagesim_version {
        return differ(
            "sagesim_version",
            a.sagesim_version.clone(),
            b.sagesim_version.clone(),
        );
    }
    Ok(())
}

/// Merges the shards of one run into a single result covering
/// `1..=max_iterations` (host `"merged"`). The shards must share all
/// parameters, the seed, `max_iterations` and the sagesim version, and
/// their ranges must tile `1..=max_iterations` exactly; the error names the
/// missing or doubly covered iterations. Values are concatenated in
/// iteration order when every shard has them. `elapsed_seconds` is the
/// longest shard's (hosts run in parallel), `threads` the total.
pub fn merge(mut shards: Vec<ShardResult>) -> Result<ShardResult, SimError> {
    if shards.is_empty() {
        return Err(SimError::Format("there are no results to merge".into()));
    }
    for s in &shards {
        s.validate()?;
        check_same_run(&shards[0], s)?;
    }
    shards.retain(|s| s.iterations > 0);
    shards.sort_by_key(|s| (s.first_iteration, s.iterations));
    let Some(first) = shards.first() else {
        return Err(SimError::Format("the results contain no iterations".into()));
    };
    let max = first.max_iterations;
    let mut merged = ShardResult {
        format: FORMAT.to_string(),
        first_iteration: 1,
        iterations: max,
        counts: PairCounts::default(),
        values: Some(Vec::new()),
        elapsed_seconds: 0.0,
        threads: 0,
        host: MERGED_HOST.to_string(),
        ..first.clone()
    };
    let mut next = 1u64; // first iteration not yet covered
    let mut previous_host: Option<&str> = None;
    for s in &shards {
        if s.first_iteration > next {
            return Err(SimError::Format(format!(
                "iterations {}..{} are missing: no result covers them",
                next,
                s.first_iteration - 1
            )));
        }
        if s.first_iteration < next {
            return Err(SimError::Format(format!(
                "iterations {}..{} are covered twice (hosts {:?} and {:?})",
                s.first_iteration,
                (next - 1).min(s.last_iteration()),
                previous_host.unwrap_or("?"),
                s.host
            )));
        }
        next = s.last_iteration() + 1;
        previous_host = Some(&s.host);
        merged.counts = merged.counts.merge(s.counts)?;
        merged.elapsed_seconds = merged.elapsed_seconds.max(s.elapsed_seconds);
        merged.threads = merged.threads.saturating_add(s.threads);
        merged.values = match (merged.values.take(), &s.values) {
            (Some(mut all), Some(v)) => {
                all.extend_from_slice(v);
                Some(all)
            }
            _ => None,
        };
    }
    if next <= max {
        return Err(SimError::Format(format!(
            "iterations {next}..{max} are missing: no result covers them"
        )));
    }
    merged.validate()?;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{run, split_iterations, Control};

    fn spec(first: u64, iterations: u64, keep_values: bool) -> RunSpec {
        RunSpec {
            room: Room {
                x_length: 50.0,
                y_length: 30.0,
                num_people: 200,
                distance: 2.0,
            },
            seed: u64::MAX - 1, // beyond 2^53: must survive JSON exactly
            first_iteration: first,
            iterations,
            threads: 1,
            keep_values,
        }
    }

    fn shard(first: u64, iterations: u64, max: u64, host: &str) -> ShardResult {
        let sp = spec(first, iterations, true);
        let out = run(&sp, &Control::new()).unwrap();
        ShardResult::from_run(&sp, max, &out, host, "0.1.0")
    }

    fn tmpdir(name: &str) -> std::path::PathBuf {
        let d =
            std::env::temp_dir().join(format!("sagesim-core-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn every_possible_value_parses_back_bit_for_bit() {
        // serde_json's default float parser is not correctly rounded (e.g.
        // 2*7/120 came back one ulp off); the float_roundtrip feature is.
        for num_people in [7u64, 120, 999, 1000] {
            let max_pairs = num_people * (num_people - 1) / 2;
            let values: Vec<f64> = (0..=max_pairs)
                .map(|c| iteration_value(c, num_people))
                .collect();
            let text = serde_json::to_string(&values).unwrap();
            let back: Vec<f64> = serde_json::from_str(&text).unwrap();
            for (a, b) in values.iter().zip(&back) {
                assert_eq!(
                    a.to_bits(),
                    b.to_bits(),
                    "{a} read back as {b} for {num_people} people"
                );
            }
        }
    }

    #[test]
    fn round_trip_is_exact() {
        let dir = tmpdir("roundtrip");
        let mut s = shard(11, 40, 100, "algo-1");
        s.elapsed_seconds = 0.1 + 0.2; // not representable in few digits
        let path = dir.join("shard-1.json");
        write_atomic(&path, &s).unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back, s);
        for (a, b) in back
            .values
            .as_ref()
            .unwrap()
            .iter()
            .zip(s.values.as_ref().unwrap())
        {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(&format!("\"seed\":\"{}\"", u64::MAX - 1)),
            "{text}"
        );
        assert!(text.contains("\"sum_pairs\":\""), "{text}");
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // Overwriting is atomic too.
        let s2 = shard(1, 10, 100, "algo-1");
        write_atomic(&path, &s2).unwrap();
        assert_eq!(read(&path).unwrap(), s2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn read_rejects_bad_files() {
        let dir = tmpdir("bad");
        let good = shard(1, 5, 5, "h");
        let write = |name: &str, s: &ShardResult| {
            let p = dir.join(name);
            std::fs::write(&p, serde_json::to_vec(s).unwrap()).unwrap();
            p
        };
        assert!(matches!(
            read(&dir.join("missing.json")),
            Err(SimError::Io(_))
        ));
        let p = dir.join("truncated.json");
        let json = serde_json::to_vec(&good).unwrap();
        std::fs::write(&p, &json[..json.len() / 2]).unwrap();
        assert!(matches!(read(&p), Err(SimError::Format(_))));

        let mut s = good.clone();
        s.format = "sagesim-shard/2".into();
        assert!(
            matches!(read(&write("fmt.json", &s)), Err(SimError::Format(m)) if m.contains("unknown format"))
        );
        let mut s = good.clone();
        s.values.as_mut().unwrap().pop();
        assert!(
            matches!(read(&write("len.json", &s)), Err(SimError::Format(m)) if m.contains("4 values for 5"))
        );
        let mut s = good.clone();
        s.counts.iterations = 4;
        assert!(matches!(
            read(&write("cnt.json", &s)),
            Err(SimError::Format(_))
        ));
        let mut s = good.clone();
        s.counts.sum_pairs += 1;
        assert!(matches!(
            read(&write("sum.json", &s)),
            Err(SimError::Format(_))
        ));
        let mut s = good.clone();
        s.values.as_mut().unwrap()[0] += 0.01;
        assert!(matches!(
            read(&write("val.json", &s)),
            Err(SimError::Format(_))
        ));
        let mut s = good.clone();
        s.first_iteration = 2; // 2..6 beyond max 5
        assert!(
            matches!(read(&write("range.json", &s)), Err(SimError::Format(m)) if m.contains("beyond"))
        );
        let mut s = good.clone();
        s.distance = -1.0;
        assert!(
            matches!(read(&write("dist.json", &s)), Err(SimError::Format(m)) if m.contains("distance"))
        );
        // A seed written as a number is accepted; a negative one is not.
        let text = String::from_utf8(serde_json::to_vec(&good).unwrap()).unwrap();
        let numeric = text.replace(&format!("\"seed\":\"{}\"", good.seed), "\"seed\":42");
        std::fs::write(dir.join("num.json"), numeric).unwrap();
        assert_eq!(read(&dir.join("num.json")).unwrap().seed, 42);
        let negative = text.replace(&format!("\"seed\":\"{}\"", good.seed), "\"seed\":\"-1\"");
        std::fs::write(dir.join("neg.json"), negative).unwrap();
        assert!(matches!(
            read(&dir.join("neg.json")),
            Err(SimError::Format(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn merge_reassembles_the_single_run() {
        let max = 97;
        let whole = run(&spec(1, max, true), &Control::new()).unwrap();
        for parts in [1u64, 2, 3, 7, 97, 120] {
            let mut shards: Vec<ShardResult> = (0..parts)
                .filter_map(|k| {
                    let (first, count) = split_iterations(max, parts, k);
                    (count > 0).then(|| shard(first, count, max, &format!("algo-{k}")))
                })
                .collect();
            shards.reverse(); // order of arrival must not matter
            let merged = merge(shards).unwrap();
            assert_eq!(merged.counts, whole.counts);
            assert_eq!(
                merged.values.as_ref().unwrap(),
                whole.values.as_ref().unwrap()
            );
            assert_eq!(
                (
                    merged.first_iteration,
                    merged.iterations,
                    merged.host.as_str()
                ),
                (1, max, MERGED_HOST)
            );
        }
        // Without values in one shard, the merge keeps only the counts.
        let mut a = shard(1, 50, max, "a");
        a.values = None;
        let merged = merge(vec![a, shard(51, 47, max, "b")]).unwrap();
        assert_eq!(merged.values, None);
        assert_eq!(merged.counts, whole.counts);
    }

    #[test]
    fn merge_reports_gaps_overlaps_and_mismatches() {
        let max = 30;
        let err = |shards| match merge(shards) {
            Err(SimError::Format(m)) => m,
            other => panic!("expected an error, got {other:?}"),
        };
        let m = err(vec![shard(1, 10, max, "a"), shard(21, 10, max, "c")]);
        assert!(m.contains("iterations 11..20 are missing"), "{m}");
        let m = err(vec![shard(1, 10, max, "a"), shard(11, 10, max, "b")]);
        assert!(m.contains("iterations 21..30 are missing"), "{m}");
        let m = err(vec![shard(5, 26, max, "b")]);
        assert!(m.contains("iterations 1..4 are missing"), "{m}");
        let m = err(vec![shard(1, 12, max, "a"), shard(11, 20, max, "b")]);
        assert!(m.contains("iterations 11..12 are covered twice"), "{m}");
        let m = err(vec![shard(1, 30, max, "a"), shard(1, 30, max, "b")]);
        assert!(m.contains("iterations 1..30 are covered twice"), "{m}");
        let mut other = shard(11, 20, max, "b");
        other.seed = 1;
        let m = err(vec![shard(1, 10, max, "a"), other]);
        assert!(m.contains("`seed`"), "{m}");
        let mut other = shard(11, 20, max, "b");
        other.max_iterations = 31;
        let m = err(vec![shard(1, 10, max, "a"), other]);
        assert!(m.contains("`max_iterations`"), "{m}");
        let mut other = shard(11, 20, max, "b");
        other.distance = 2.5;
        let m = err(vec![shard(1, 10, max, "a"), other]);
        assert!(m.contains("`distance`"), "{m}");
        assert!(err(vec![]).contains("no results"));
    }
}
