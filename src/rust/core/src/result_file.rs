//! Results: the part of a simulation one run computed, the file each host
//! of a job writes, and the merge of parts into whole simulations. The only
//! place these are written, read or combined: R hands over numbers and gets
//! numbers back.
//!
//! JSON via serde_json: f64 values are printed with the shortest
//! representation that reads back to the same bits (and the float_roundtrip
//! feature parses them exactly), so values round-trip bit for bit; the seed
//! and the u128 sums are decimal strings so that no JSON reader (R's
//! included) rounds them to doubles.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::SimError;
use crate::integrity::Key;
use crate::run::{RunOutput, RunSpec};
use crate::share::Share;
use crate::spec::SimulationSpec;
use crate::stats::{iteration_value, PairCounts};

/// Format tag written in every result file; bump when the layout changes.
pub const FORMAT: &str = "sagesim-result/3";

/// The format before `complete`, still read: its files were written once,
/// at the end, so each is complete.
const FORMAT_WHOLE_FILES: &str = "sagesim-result/2";

/// Iterations `first_iteration .. first_iteration + iterations` of `spec`.
///
/// `elapsed_seconds` is seconds of computation and `threads` the threads a
/// run used; a merged part adds its parts' seconds and keeps the largest
/// thread count, whether the parts ran one after another or on several hosts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Part {
    pub spec: SimulationSpec,
    pub first_iteration: u64,
    pub iterations: u64,
    pub counts: PairCounts,
    /// Per-iteration values in iteration order, when kept.
    pub values: Option<Vec<f64>>,
    pub elapsed_seconds: f64,
    pub threads: usize,
}

impl Part {
    /// The part `output` computed, running `run` of `spec`.
    pub fn from_run(spec: &SimulationSpec, run: &RunSpec, output: &RunOutput) -> Part {
        Part {
            spec: spec.clone(),
            first_iteration: run.first_iteration,
            iterations: run.iterations,
            counts: output.counts,
            values: output.values.clone(),
            elapsed_seconds: output.elapsed_seconds,
            threads: output.threads_used,
        }
    }

    /// Last iteration covered (`first_iteration - 1` when empty).
    pub fn last_iteration(&self) -> u64 {
        (self.first_iteration + self.iterations).saturating_sub(1)
    }

    /// Checks the parameters and internal consistency: the range lies within
    /// `1..=max_iterations`, the counts cover exactly `iterations`
    /// iterations, values (if any) number `iterations`, are possible values
    /// and, where they determine the pair counts exactly, reproduce the
    /// sums. `whose` names the part in messages.
    pub fn validate(&self, whose: &str) -> Result<(), SimError> {
        let bad = |what: String| Err(SimError::Format(format!("result from {whose}: {what}")));
        if let Err(e) = self.spec.validate() {
            return bad(e.to_string());
        }
        if self.first_iteration == 0 {
            return bad("first_iteration is 0 (iterations are numbered from 1)".into());
        }
        let max = self.spec.max_iterations;
        let end = self.first_iteration.checked_add(self.iterations);
        if end.map_or(true, |e| e - 1 > max) {
            return bad(format!(
                "iterations {}..{} lie beyond max_iterations = {max}",
                self.first_iteration,
                self.first_iteration as u128 + self.iterations as u128 - 1,
            ));
        }
        if self.counts.iterations != self.iterations {
            return bad(format!(
                "the counts cover {} iterations but the result claims {}",
                self.counts.iterations, self.iterations
            ));
        }
        if !(self.elapsed_seconds.is_finite() && self.elapsed_seconds >= 0.0) {
            return bad(format!("elapsed_seconds is {}", self.elapsed_seconds));
        }
        let people = self.spec.num_people;
        let n = people as u128;
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
            let max_value = people.saturating_sub(1) as f64;
            if let Some(v) = values
                .iter()
                .find(|v| !(v.is_finite() && **v >= 0.0 && **v <= max_value))
            {
                return bad(format!("impossible value {v} for {people} people"));
            }
            // With fewer than 2^26 people, 2c/n determines c exactly
            // (c < 2^51), so the values must reproduce the sums.
            if people > 0 && people < 1 << 26 {
                let mut recomputed = PairCounts::default();
                for &v in values {
                    let pairs = (v * people as f64 / 2.0).round() as u64;
                    if iteration_value(pairs, people) != v {
                        return bad(format!(
                            "value {v} is not a possible result for {people} people"
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

/// Checks that two parts are parts of the same simulation.
fn check_same_spec(a: (&str, &Part), b: (&str, &Part)) -> Result<(), SimError> {
    let (x, y) = (&a.1.spec, &b.1.spec);
    let differ = |what: &str, u: String, v: String| {
        Err(SimError::Format(format!(
            "the results are not parts of the same simulation: `{what}` is {u} in {} but {v} in {}",
            a.0, b.0
        )))
    };
    let same_bits = |u: f64, v: f64| u.to_bits() == v.to_bits();
    if !same_bits(x.x_length, y.x_length) {
        return differ("x_length", x.x_length.to_string(), y.x_length.to_string());
    }
    if !same_bits(x.y_length, y.y_length) {
        return differ("y_length", x.y_length.to_string(), y.y_length.to_string());
    }
    if x.num_people != y.num_people {
        return differ(
            "num_people",
            x.num_people.to_string(),
            y.num_people.to_string(),
        );
    }
    if !same_bits(x.distance, y.distance) {
        return differ("distance", x.distance.to_string(), y.distance.to_string());
    }
    if x.seed != y.seed {
        return differ("seed", x.seed.to_string(), y.seed.to_string());
    }
    if x.max_iterations != y.max_iterations {
        return differ(
            "max_iterations",
            x.max_iterations.to_string(),
            y.max_iterations.to_string(),
        );
    }
    Ok(())
}

/// Merges parts of one simulation, given in any order and each named for
/// messages, into the part covering all their iterations. Their ranges must
/// follow one another with no gap and no overlap; the error names the
/// missing or doubly covered iterations. Values are concatenated in
/// iteration order when every part has them. This is the one merge: of a
/// job's hosts and of `combine_simulations()` alike.
pub fn merge(mut parts: Vec<(String, Part)>) -> Result<Part, SimError> {
    for (who, part) in &parts {
        part.validate(who)?;
    }
    let Some(reference) = parts.first() else {
        return Err(SimError::Format("there are no results to merge".into()));
    };
    for other in &parts {
        check_same_spec((&reference.0, &reference.1), (&other.0, &other.1))?;
    }
    let spec = reference.1.spec.clone();
    parts.retain(|(_, p)| p.iterations > 0);
    parts.sort_by_key(|(_, p)| (p.first_iteration, p.iterations));
    let Some(first) = parts.first().map(|(_, p)| p.first_iteration) else {
        return Err(SimError::Format("the results contain no iterations".into()));
    };
    let mut merged = Part {
        spec,
        first_iteration: first,
        iterations: 0,
        counts: PairCounts::default(),
        values: Some(Vec::new()),
        elapsed_seconds: 0.0,
        threads: 0,
    };
    let mut previous: Option<&str> = None;
    for (who, p) in &parts {
        let next = merged.last_iteration() + 1;
        if p.first_iteration > next {
            return Err(SimError::Format(format!(
                "iterations {}..{} are missing: no result covers them",
                next,
                p.first_iteration - 1
            )));
        }
        if p.first_iteration < next {
            return Err(SimError::Format(format!(
                "iterations {}..{} are covered twice ({} and {})",
                p.first_iteration,
                (next - 1).min(p.last_iteration()),
                previous.unwrap_or("?"),
                who
            )));
        }
        previous = Some(who);
        merged.iterations += p.iterations;
        merged.counts = merged.counts.merge(p.counts)?;
        merged.elapsed_seconds += p.elapsed_seconds;
        merged.threads = merged.threads.max(p.threads);
        merged.values = match (merged.values.take(), &p.values) {
            (Some(mut all), Some(v)) => {
                all.extend_from_slice(v);
                Some(all)
            }
            _ => None,
        };
    }
    merged.validate("the merged result")?;
    Ok(merged)
}

/// What one host of a job writes: its share of the job's plan, and enough
/// about the job (every host, the whole plan) to tell, from any one file,
/// what the others should have written.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostResult {
    pub format: String,
    pub host: String,
    pub hosts: Vec<String>,
    pub plan: Vec<SimulationSpec>,
    pub sagesim_version: String,
    pub parts: Vec<Part>,
    /// False while the host is still running its share: the file then holds
    /// what it finished so far, rewritten as it goes.
    #[serde(default = "whole_file")]
    pub complete: bool,
}

fn whole_file() -> bool {
    true
}

impl HostResult {
    pub fn new(
        host: &str,
        hosts: &[String],
        plan: &[SimulationSpec],
        parts: Vec<Part>,
        sagesim_version: &str,
    ) -> HostResult {
        HostResult {
            format: FORMAT.to_string(),
            host: host.to_string(),
            hosts: hosts.to_vec(),
            plan: plan.to_vec(),
            sagesim_version: sagesim_version.to_string(),
            parts,
            complete: true,
        }
    }

    /// The file name of a host's `k`th result file (a host writes what it
    /// finished as it goes, a file at a time).
    pub fn file_name(host: &str, k: u32) -> String {
        format!("sagesim-result-{host}-{k:05}.json")
    }

    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |what: String| {
            Err(SimError::Format(format!(
                "result from host {:?}: {what}",
                self.host
            )))
        };
        if self.format != FORMAT && self.format != FORMAT_WHOLE_FILES {
            return bad(format!(
                "unknown format {:?} (expected {FORMAT:?})",
                self.format
            ));
        }
        if !self.hosts.contains(&self.host) {
            return bad(format!("the host is not one of {:?}", self.hosts));
        }
        if self.plan.is_empty() {
            return bad("the plan is empty".into());
        }
        let whose = format!("host {:?}", self.host);
        for part in &self.parts {
            part.validate(&whose)?;
            if !self.plan.contains(&part.spec) {
                return bad("a result is not part of the job's plan".into());
            }
        }
        Ok(())
    }
}

fn io_error(action: &str, path: &Path, e: std::io::Error) -> SimError {
    SimError::Io(format!("could not {action} {}: {e}", path.display()))
}

/// Writes `result` to `path` atomically (see [`write_bytes_atomic`]). With
/// the job's results `key`, its signature goes to `<path>.hmac` first, so
/// the file is never there without it.
pub fn write_atomic(path: &Path, result: &HostResult, key: Option<&Key>) -> Result<(), SimError> {
    result.validate()?;
    // Compact: a result may hold millions of values.
    let mut json = serde_json::to_vec(result)
        .map_err(|e| SimError::Format(format!("could not encode result: {e}")))?;
    json.push(b'\n');
    if let Some(key) = key {
        crate::integrity::write_signature(key, path, &json)?;
    }
    write_bytes_atomic(path, &json)
}

/// Writes `bytes` to `path` atomically: they go to a temporary file in the
/// same directory, are flushed to disk, then renamed over `path`. Readers
/// therefore see either no file or a complete one, never a partial file.
pub(crate) fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<(), SimError> {
    let file_name = path
        .file_name()
        .ok_or_else(|| SimError::Io(format!("{} is not a file name", path.display())))?
        .to_string_lossy();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
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
        f.write_all(bytes)?;
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

/// Reads and validates a host's result file. With the job's results `key`,
/// only once its signature says a host of the job wrote it (nothing of a
/// file that fails is parsed).
pub fn read(path: &Path, key: Option<&Key>) -> Result<HostResult, SimError> {
    let bytes = match key {
        Some(key) => crate::integrity::read_signed(key, path)?,
        None => std::fs::read(path).map_err(|e| io_error("read", path, e))?,
    };
    let result: HostResult = serde_json::from_slice(&bytes).map_err(|e| {
        SimError::Format(format!(
            "{} is not a valid result file: {e}",
            path.display()
        ))
    })?;
    result
        .validate()
        .map_err(|e| SimError::Format(format!("{}: {e}", path.display())))?;
    Ok(result)
}

/// What a job's result files hold together (its hosts' files, and those of
/// earlier attempts whose unfinished work it ran): for each spec of the
/// plan, the iterations covered, as contiguous parts in order; the pieces no
/// file covers; and the hosts named by the files that wrote no complete file.
#[derive(Clone, Debug, PartialEq)]
pub struct Coverage {
    pub plan: Vec<SimulationSpec>,
    pub covered: Vec<Vec<Part>>,
    pub missing: Vec<Share>,
    pub unfinished_hosts: Vec<String>,
    pub hosts: Vec<String>,
}

impl Coverage {
    /// Every spec's covered iterations as one part (counts and values added
    /// up in iteration order), though they may have gaps: a partial result.
    pub fn partial_parts(&self) -> Result<Vec<Part>, SimError> {
        self.plan
            .iter()
            .zip(&self.covered)
            .map(|(spec, segments)| {
                let mut whole = Part {
                    spec: spec.clone(),
                    first_iteration: segments.first().map_or(1, |p| p.first_iteration),
                    iterations: 0,
                    counts: PairCounts::default(),
                    values: Some(Vec::new()),
                    elapsed_seconds: 0.0,
                    threads: 0,
                };
                for p in segments {
                    whole.iterations += p.iterations;
                    whole.counts = whole.counts.merge(p.counts)?;
                    whole.elapsed_seconds += p.elapsed_seconds;
                    whole.threads = whole.threads.max(p.threads);
                    whole.values = match (whole.values.take(), &p.values) {
                        (Some(mut all), Some(v)) => {
                            all.extend_from_slice(v);
                            Some(all)
                        }
                        _ => None,
                    };
                }
                Ok(whole)
            })
            .collect()
    }
}

/// Reads the files' parts into a [`Coverage`]. The files must come from one
/// job (same plan and sagesim version); no iteration may be covered twice.
pub fn coverage(results: Vec<HostResult>) -> Result<Coverage, SimError> {
    let Some(reference) = results.first() else {
        return Err(SimError::Format("there are no results to merge".into()));
    };
    for r in &results {
        r.validate()?;
        let differs = if r.plan != reference.plan {
            Some("plan")
        } else if r.sagesim_version != reference.sagesim_version {
            Some("sagesim version")
        } else {
            None
        };
        if let Some(what) = differs {
            return Err(SimError::Format(format!(
                "the results of hosts {:?} and {:?} do not belong to the same job: their {what} differ",
                reference.host, r.host
            )));
        }
    }
    let plan = reference.plan.clone();
    let mut hosts: Vec<String> = Vec::new();
    for r in &results {
        for h in &r.hosts {
            if !hosts.contains(h) {
                hosts.push(h.clone());
            }
        }
    }
    let unfinished_hosts = hosts
        .iter()
        .filter(|h| !results.iter().any(|r| r.complete && &r.host == *h))
        .cloned()
        .collect();
    let mut by_spec: Vec<Vec<(String, Part)>> = vec![Vec::new(); plan.len()];
    for r in results {
        let who = format!("host {:?}", r.host);
        for part in r.parts {
            // validate() made sure the part's spec is in the plan.
            if let Some(k) = plan.iter().position(|s| *s == part.spec) {
                if part.iterations > 0 {
                    by_spec[k].push((who.clone(), part));
                }
            }
        }
    }
    let mut covered = Vec::with_capacity(plan.len());
    let mut missing = Vec::new();
    for (k, (spec, mut parts)) in plan.iter().zip(by_spec).enumerate() {
        parts.sort_by_key(|(_, p)| p.first_iteration);
        let mut segments: Vec<Vec<(String, Part)>> = Vec::new();
        let mut next = 1u64;
        for (who, part) in parts {
            if part.first_iteration < next {
                return Err(SimError::Format(format!(
                    "iterations {}..{} are covered twice ({who} and another)",
                    part.first_iteration,
                    (next - 1).min(part.last_iteration())
                )));
            }
            if part.first_iteration > next {
                missing.push(Share {
                    spec: k,
                    first_iteration: next,
                    iterations: part.first_iteration - next,
                });
                segments.push(Vec::new());
            }
            next = part.last_iteration() + 1;
            match segments.last_mut() {
                Some(segment) => segment.push((who, part)),
                None => segments.push(vec![(who, part)]),
            }
        }
        if next <= spec.max_iterations {
            missing.push(Share {
                spec: k,
                first_iteration: next,
                iterations: spec.max_iterations - next + 1,
            });
        }
        covered.push(
            segments
                .into_iter()
                .filter(|s| !s.is_empty())
                .map(merge)
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    Ok(Coverage {
        plan,
        covered,
        missing,
        unfinished_hosts,
        hosts,
    })
}

/// A job's results from its hosts' files (and earlier attempts'): every spec
/// of the plan, complete, in plan order. `MissingHosts` names the hosts
/// that wrote no complete file when iterations are missing.
pub fn collect(results: Vec<HostResult>) -> Result<Vec<Part>, SimError> {
    let coverage = coverage(results)?;
    if let Some(gap) = coverage.missing.first() {
        if !coverage.unfinished_hosts.is_empty() {
            return Err(SimError::MissingHosts {
                missing: coverage.unfinished_hosts,
                hosts: coverage.hosts,
            });
        }
        return Err(SimError::Format(format!(
            "iterations {}..{} are missing: no result covers them",
            gap.first_iteration,
            gap.first_iteration + gap.iterations - 1
        )));
    }
    Ok(coverage
        .covered
        .into_iter()
        .map(|mut segments| segments.remove(0))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::{host_share, run_shares, split_range};
    use crate::{run, Control};

    fn spec(max_iterations: u64) -> SimulationSpec {
        SimulationSpec {
            x_length: 50.0,
            y_length: 30.0,
            num_people: 200,
            distance: 2.0,
            seed: u64::MAX - 1, // beyond 2^53: must survive JSON exactly
            max_iterations,
        }
    }

    fn part(first: u64, iterations: u64, max: u64) -> Part {
        let sp = spec(max);
        let run_spec = sp.run_spec(first, iterations, 1, true);
        let out = run(&run_spec, &Control::new()).unwrap();
        Part::from_run(&sp, &run_spec, &out)
    }

    fn named(parts: Vec<Part>) -> Vec<(String, Part)> {
        parts
            .into_iter()
            .enumerate()
            .map(|(k, p)| (format!("part {}", k + 1), p))
            .collect()
    }

    fn hosts(n: usize) -> Vec<String> {
        (1..=n).map(|k| format!("algo-{k}")).collect()
    }

    /// Every host's result for `plan`, as the hosts of a job write them.
    fn host_results(plan: &[SimulationSpec], n: usize) -> Vec<HostResult> {
        let names = hosts(n);
        (0..n)
            .map(|k| {
                let shares = host_share(plan, n as u64, k as u64);
                let parts = run_shares(plan, &shares, 1, &Control::new()).unwrap();
                HostResult::new(&names[k], &names, plan, parts, "0.1.0")
            })
            .collect()
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
        let mut p = part(11, 40, 100);
        p.elapsed_seconds = 0.1 + 0.2; // not representable in few digits
        let names = hosts(2);
        let result = HostResult::new("algo-2", &names, &[spec(100)], vec![p], "0.1.0");
        let path = dir.join(HostResult::file_name("algo-2", 1));
        write_atomic(&path, &result, None).unwrap();
        let back = read(&path, None).unwrap();
        assert_eq!(back, result);
        for (a, b) in back.parts[0]
            .values
            .as_ref()
            .unwrap()
            .iter()
            .zip(result.parts[0].values.as_ref().unwrap())
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
        let names_on_disk: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names_on_disk.len(), 1, "{names_on_disk:?}");
        // Overwriting is atomic too; a host with nothing to do writes no parts.
        let empty = HostResult::new("algo-2", &names, &[spec(100)], vec![], "0.1.0");
        write_atomic(&path, &empty, None).unwrap();
        assert_eq!(read(&path, None).unwrap(), empty);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_signed_result_reads_back_only_with_its_key_and_unchanged() {
        let dir = tmpdir("signed");
        let key = Key::generate().unwrap();
        let names = hosts(1);
        let result = HostResult::new("algo-1", &names, &[spec(5)], vec![part(1, 5, 5)], "0.1.0");
        let path = dir.join(HostResult::file_name("algo-1", 1));
        write_atomic(&path, &result, Some(&key)).unwrap();
        assert_eq!(read(&path, Some(&key)).unwrap(), result);
        // The file and its signature, and no temporary file.
        let mut on_disk: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        on_disk.sort();
        assert_eq!(
            on_disk,
            [
                "sagesim-result-algo-1-00001.json",
                "sagesim-result-algo-1-00001.json.hmac"
            ]
        );
        let other = Key::generate().unwrap();
        assert!(matches!(
            read(&path, Some(&other)),
            Err(SimError::Integrity { .. })
        ));
        // A value changed in place (still valid JSON) is refused, not read.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replacen("\"iterations\":5", "\"iterations\":4", 1),
        )
        .unwrap();
        assert!(matches!(
            read(&path, Some(&key)),
            Err(SimError::Integrity { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn read_rejects_bad_files() {
        let dir = tmpdir("bad");
        let good = HostResult::new("h", &["h".into()], &[spec(5)], vec![part(1, 5, 5)], "0.1.0");
        let write = |name: &str, r: &HostResult| {
            let p = dir.join(name);
            std::fs::write(&p, serde_json::to_vec(r).unwrap()).unwrap();
            p
        };
        assert!(matches!(
            read(&dir.join("missing.json"), None),
            Err(SimError::Io(_))
        ));
        let p = dir.join("truncated.json");
        let json = serde_json::to_vec(&good).unwrap();
        std::fs::write(&p, &json[..json.len() / 2]).unwrap();
        assert!(matches!(read(&p, None), Err(SimError::Format(_))));

        let broken = |change: &dyn Fn(&mut HostResult)| {
            let mut r = good.clone();
            change(&mut r);
            r
        };
        let cases: Vec<(&str, HostResult, &str)> = vec![
            (
                "fmt",
                broken(&|r| r.format = "sagesim-shard/1".into()),
                "unknown format",
            ),
            (
                "len",
                broken(&|r| {
                    r.parts[0].values.as_mut().unwrap().pop();
                }),
                "4 values for 5",
            ),
            (
                "cnt",
                broken(&|r| r.parts[0].counts.iterations = 4),
                "counts cover 4",
            ),
            ("sum", broken(&|r| r.parts[0].counts.sum_pairs += 1), ""),
            (
                "val",
                broken(&|r| r.parts[0].values.as_mut().unwrap()[0] += 0.01),
                "",
            ),
            (
                "range",
                broken(&|r| r.parts[0].first_iteration = 2),
                "beyond",
            ),
            (
                "dist",
                broken(&|r| {
                    r.parts[0].spec.distance = -1.0;
                    r.plan[0].distance = -1.0;
                }),
                "distance",
            ),
            ("host", broken(&|r| r.host = "other".into()), "not one of"),
            (
                "plan",
                broken(&|r| r.plan[0].seed = 1),
                "not part of the job's plan",
            ),
        ];
        for (name, r, message) in cases {
            match read(&write(&format!("{name}.json"), &r), None) {
                Err(SimError::Format(m)) => assert!(m.contains(message), "{name}: {m}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        // A seed written as a number is accepted; a negative one is not.
        let text = String::from_utf8(serde_json::to_vec(&good).unwrap()).unwrap();
        let seed = format!("\"seed\":\"{}\"", good.plan[0].seed);
        std::fs::write(dir.join("num.json"), text.replace(&seed, "\"seed\":42")).unwrap();
        assert_eq!(read(&dir.join("num.json"), None).unwrap().plan[0].seed, 42);
        std::fs::write(dir.join("neg.json"), text.replace(&seed, "\"seed\":\"-1\"")).unwrap();
        assert!(matches!(
            read(&dir.join("neg.json"), None),
            Err(SimError::Format(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn merge_reassembles_the_single_run() {
        let max = 97;
        let whole = run(&spec(max).run_spec(1, max, 1, true), &Control::new()).unwrap();
        for parts in [1u64, 2, 3, 7, 97, 120] {
            let mut pieces: Vec<Part> = (0..parts)
                .filter_map(|k| {
                    let (first, count) = split_range(max, parts, k);
                    (count > 0).then(|| part(first, count, max))
                })
                .collect();
            pieces.reverse(); // order of arrival must not matter
            let elapsed: f64 = pieces.iter().map(|p| p.elapsed_seconds).sum();
            let merged = merge(named(pieces)).unwrap();
            assert_eq!(merged.counts, whole.counts);
            assert_eq!(merged.values, whole.values);
            assert_eq!((merged.first_iteration, merged.iterations), (1, max));
            assert_eq!(merged.threads, 1);
            assert!((merged.elapsed_seconds - elapsed).abs() <= 1e-9 * elapsed.max(1.0));
        }
        // Without values in one part, the merge keeps only the counts.
        let mut a = part(1, 50, max);
        a.values = None;
        let merged = merge(named(vec![a, part(51, 47, max)])).unwrap();
        assert_eq!(merged.values, None);
        assert_eq!(merged.counts, whole.counts);
        // Consecutive parts need not start at 1.
        let middle = merge(named(vec![part(40, 5, max), part(30, 10, max)])).unwrap();
        assert_eq!((middle.first_iteration, middle.iterations), (30, 15));
    }

    #[test]
    fn merge_reports_gaps_overlaps_and_mismatches() {
        let max = 30;
        let err = |parts| match merge(named(parts)) {
            Err(SimError::Format(m)) => m,
            other => panic!("expected an error, got {other:?}"),
        };
        let m = err(vec![part(1, 10, max), part(21, 10, max)]);
        assert!(m.contains("iterations 11..20 are missing"), "{m}");
        let m = err(vec![part(1, 12, max), part(11, 20, max)]);
        assert!(m.contains("iterations 11..12 are covered twice"), "{m}");
        let m = err(vec![part(1, 30, max), part(1, 30, max)]);
        assert!(
            m.contains("iterations 1..30 are covered twice (part 1 and part 2)"),
            "{m}"
        );
        let mut other = part(11, 20, max);
        other.spec.seed = 1;
        assert!(err(vec![part(1, 10, max), other]).contains("`seed`"));
        let mut other = part(11, 20, max);
        other.spec.max_iterations = 31;
        assert!(err(vec![part(1, 10, max), other]).contains("`max_iterations`"));
        let mut other = part(11, 20, max);
        other.spec.distance = 2.5;
        assert!(err(vec![part(1, 10, max), other]).contains("`distance`"));
        assert!(err(vec![]).contains("no results"));
    }

    #[test]
    fn collect_gives_every_spec_complete_in_plan_order() {
        let plan = vec![
            spec(40),
            SimulationSpec {
                num_people: 50,
                seed: 3,
                ..spec(9)
            },
        ];
        let alone: Vec<Part> = plan
            .iter()
            .map(|s| {
                let r = s.run_spec(1, s.max_iterations, 1, true);
                Part::from_run(s, &r, &run(&r, &Control::new()).unwrap())
            })
            .collect();
        for n in [1usize, 2, 3, 60] {
            let mut results = host_results(&plan, n);
            results.reverse();
            let merged = collect(results).unwrap();
            assert_eq!(merged.len(), 2);
            for (m, a) in merged.iter().zip(&alone) {
                assert_eq!(
                    (&m.spec, &m.counts, &m.values),
                    (&a.spec, &a.counts, &a.values)
                );
            }
        }
    }

    #[test]
    fn collect_names_missing_hosts_and_refuses_foreign_files() {
        let plan = vec![spec(40)];
        let mut results = host_results(&plan, 3);
        results.remove(1);
        match collect(results.clone()) {
            Err(SimError::MissingHosts {
                missing,
                hosts: all,
            }) => {
                assert_eq!(missing, vec!["algo-2".to_string()]);
                assert_eq!(all, hosts(3));
            }
            other => panic!("{other:?}"),
        }
        let mut doubled = results.clone();
        doubled.push(results[0].clone());
        assert!(
            matches!(collect(doubled), Err(SimError::Format(m)) if m.contains("covered twice"))
        );
        let mut foreign = host_results(
            &[SimulationSpec {
                seed: 5,
                ..spec(40)
            }],
            3,
        );
        foreign[0] = results[0].clone();
        assert!(matches!(collect(foreign), Err(SimError::Format(m)) if m.contains("same job")));
        // A host that lost part of its share.
        let mut partial = host_results(&plan, 2);
        partial[1].parts.clear();
        assert!(
            matches!(collect(partial), Err(SimError::Format(m)) if m.contains("iterations 21..40 are missing"))
        );
        assert!(matches!(collect(vec![]), Err(SimError::Format(_))));
    }

    #[test]
    fn coverage_of_unfinished_hosts_and_the_rest_run_later_is_one_run() {
        let plan = vec![spec(40), spec(25)];
        let clean = collect(host_results(&plan, 1)).unwrap();
        // Two hosts stopped part way: each kept a prefix of its share.
        let mut stopped = host_results(&plan, 2);
        for r in stopped.iter_mut() {
            r.complete = false;
            let first = r.parts[0].clone();
            r.parts = vec![part(first.first_iteration, 7, first.spec.max_iterations)];
            r.parts[0].spec = first.spec.clone();
        }
        let cover = coverage(stopped.clone()).unwrap();
        assert_eq!(cover.unfinished_hosts, hosts(2));
        assert!(matches!(
            collect(stopped.clone()),
            Err(SimError::MissingHosts { .. })
        ));
        // The partial result's values are the clean run's at those iterations.
        let partial = cover.partial_parts().unwrap();
        let covered: Vec<u64> = cover.covered[0]
            .iter()
            .flat_map(|p| p.first_iteration..=p.last_iteration())
            .collect();
        let want: Vec<f64> = covered
            .iter()
            .map(|&i| clean[0].values.as_ref().unwrap()[i as usize - 1])
            .collect();
        assert_eq!(partial[0].values.as_ref().unwrap(), &want);
        // The rest, run by a later attempt of 3 hosts, completes it exactly.
        let names: Vec<String> = vec!["algo-1".into(), "algo-2".into(), "algo-3".into()];
        let mut all = stopped;
        for k in 0..3 {
            let shares = crate::share::todo_share(&plan, &cover.missing, 3, k);
            let parts = run_shares(&plan, &shares, 1, &Control::new()).unwrap();
            all.push(HostResult::new(
                &names[k as usize],
                &names,
                &plan,
                parts,
                "0.1.0",
            ));
        }
        let whole = collect(all).unwrap();
        for (m, c) in whole.iter().zip(&clean) {
            assert_eq!(
                (
                    &m.spec,
                    m.first_iteration,
                    m.iterations,
                    &m.counts,
                    &m.values
                ),
                (
                    &c.spec,
                    c.first_iteration,
                    c.iterations,
                    &c.counts,
                    &c.values
                )
            );
        }
    }
}
