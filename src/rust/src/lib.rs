//! The extendr glue: the only Rust that knows about R. Each function converts
//! arguments, calls `sagesim_core` or `sagesim_aws`, and converts back.
//! Failures are returned as values of class `sagesim_rust_error` and raised as
//! classed conditions by R (R/ffi.R), never as Rust-side R errors, so that
//! R code decides how each one reads.

mod convert;
mod task;

use std::path::Path;
use std::time::Duration;

use extendr_api::prelude::*;
use sagesim_core::integrity::{self, Key};
use sagesim_core::result_file::{self, HostResult, Part};
use sagesim_core::resume;
use sagesim_core::{Room, Share};

use convert::{
    expect_whole, outcome_to_robj, part_from_r, part_to_r, parts_to_r, plan_from_r, rust_error,
    sim_error, spec_from_r, RResult,
};
use task::{Outcome, Task};

/// A loaded AWS session (credentials, region, clients), shared with tasks.
pub struct SessionHandle(std::sync::Arc<sagesim_aws::AwsSession>);

/// Starts iterations `first_iteration ..` of `spec` on a background thread;
/// R polls the returned task, which resolves to a part.
#[extendr]
fn sim_start(
    spec: Robj,
    first_iteration: f64,
    iterations: f64,
    threads: f64,
    keep_values: bool,
) -> Robj {
    let start = || -> RResult<Robj> {
        let spec = spec_from_r(&spec)?;
        let run_spec = spec.run_spec(
            expect_whole("first_iteration", first_iteration)?,
            expect_whole("iterations", iterations)?,
            expect_whole("threads", threads)? as usize,
            keep_values,
        );
        spawn(move |control| {
            Outcome::Part(
                sagesim_core::run(&run_spec, control)
                    .map(|output| Part::from_run(&spec, &run_spec, &output)),
            )
        })
    };
    start().unwrap_or_else(|error| error)
}

/// The seeds of a sweep's cells (rooms given column by column), from the
/// sweep's seed.
#[extendr]
fn sweep_seeds(
    seed: f64,
    x_length: &[f64],
    y_length: &[f64],
    num_people: &[f64],
    distance: &[f64],
) -> Robj {
    let seeds = || -> RResult<Robj> {
        let seed = expect_whole("seed", seed)?;
        let mut out = Vec::with_capacity(x_length.len());
        for k in 0..x_length.len() {
            let room = Room {
                x_length: x_length[k],
                y_length: y_length[k],
                num_people: expect_whole("num_people", num_people[k])?,
                distance: distance[k],
            };
            out.push(sagesim_core::sweep_cell_seed(seed, &room) as f64);
        }
        Ok(out.into())
    };
    seeds().unwrap_or_else(|error| error)
}

/// `NULL`, or the error naming what is wrong with `spec` (its limits are
/// the core's).
#[extendr]
fn spec_check(spec: Robj) -> Robj {
    match spec_from_r(&spec).map(|spec| spec.validate()) {
        Ok(Ok(())) => ().into(),
        Ok(Err(e)) => sim_error(&e),
        Err(error) => error,
    }
}

/// The share of `plan` (or of `todo`, its pieces still to run, as
/// `shares_to_r()` gives them; NULL for the whole plan) of host `index`
/// (0-based) of `instance_count`: `list(spec, first_iteration, iterations)`,
/// `spec` 1-based.
#[extendr]
fn host_share(plan: Robj, todo: Robj, instance_count: f64, index: f64) -> Robj {
    let share = || -> RResult<Robj> {
        let plan = plan_from_r(&plan)?;
        let todo = todo_from_r(&plan, &todo)?;
        let shares = sagesim_core::todo_share(
            &plan,
            &todo,
            expect_whole("instance_count", instance_count)?,
            expect_whole("index", index)?,
        );
        shares_to_r(&shares)
    };
    share().unwrap_or_else(|error| error)
}

/// Pieces of a plan as R sees them: `list(spec, first_iteration,
/// iterations)`, `spec` 1-based.
fn shares_to_r(shares: &[Share]) -> RResult<Robj> {
    let column = |f: fn(&Share) -> f64| shares.iter().map(f).collect::<Vec<f64>>();
    List::from_names_and_values(
        ["spec", "first_iteration", "iterations"],
        [
            column(|s| s.spec as f64 + 1.0),
            column(|s| s.first_iteration as f64),
            column(|s| s.iterations as f64),
        ],
    )
    .map(Robj::from)
    .map_err(|e| rust_error("internal", &e.to_string(), None))
}

/// `shares_to_r()`'s inverse; NULL is the whole plan.
fn todo_from_r(plan: &[sagesim_core::SimulationSpec], todo: &Robj) -> RResult<Vec<Share>> {
    if todo.is_null() {
        return Ok(sagesim_core::whole_plan(plan));
    }
    let column = |name: &str| -> RResult<Vec<f64>> {
        let list = todo
            .as_list()
            .ok_or_else(|| rust_error("invalid_argument", "`todo` must be a list", Some("todo")))?;
        list.iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.as_real_vector())
            .ok_or_else(|| {
                rust_error(
                    "invalid_argument",
                    &format!("`todo` has no `{name}`"),
                    Some("todo"),
                )
            })
    };
    let (specs, firsts, counts) = (
        column("spec")?,
        column("first_iteration")?,
        column("iterations")?,
    );
    specs
        .iter()
        .zip(&firsts)
        .zip(&counts)
        .map(|((&spec, &first), &count)| {
            let spec = expect_whole("todo$spec", spec)?;
            let share = Share {
                spec: (spec as usize).wrapping_sub(1),
                first_iteration: expect_whole("todo$first_iteration", first)?,
                iterations: expect_whole("todo$iterations", count)?,
            };
            let within = plan.get(share.spec).is_some_and(|s| {
                share.first_iteration >= 1
                    && share
                        .first_iteration
                        .checked_add(share.iterations)
                        .is_some_and(|end| end - 1 <= s.max_iterations)
            });
            if !within {
                return Err(rust_error(
                    "invalid_argument",
                    &format!(
                        "`todo` piece (spec {spec}, iterations {first} + {count}) lies outside the plan"
                    ),
                    Some("todo"),
                ));
            }
            Ok(share)
        })
        .collect()
}

/// The elements `c(first, count)` of `1..n` that host `index` (0-based) of
/// `instance_count` takes: the same split as a simulation's iterations.
#[extendr]
fn split_range(n: f64, instance_count: f64, index: f64) -> Robj {
    let split = || -> RResult<Robj> {
        let (first, count) = sagesim_core::split_range(
            expect_whole("n", n)?,
            expect_whole("instance_count", instance_count)?,
            expect_whole("index", index)?,
        );
        Ok([first as f64, count as f64].into())
    };
    split().unwrap_or_else(|error| error)
}

/// Where `host` is among the job's `hosts`.
fn host_index(host: &str, hosts: &[String]) -> RResult<usize> {
    hosts.iter().position(|h| h == host).ok_or_else(|| {
        rust_error(
            "invalid_argument",
            &format!("host {host:?} is not one of the job's hosts"),
            Some("host"),
        )
    })
}

/// Runs host `host`'s share of `plan` (of `todo`, the pieces still to run;
/// NULL for all of it; the job's hosts are `hosts`) on a background thread,
/// writing its result file into `dir` about every `every` seconds as it
/// goes and once more, complete, at the end, each signed with the job's
/// results `key` (hex; "" for none); the task resolves to `list(path, parts)`.
/// With `resume`, what the host's own verified files in `dir` hold is not
/// run again (its unverified ones are removed), its files are numbered
/// after theirs and `parts` is its whole share, theirs included. With
/// `interrupt_after` > 0 (a rehearsal of a Spot interruption) the run is
/// cancelled once that many files are saved before the last.
#[extendr]
#[allow(clippy::too_many_arguments)]
fn host_start(
    plan: Robj,
    todo: Robj,
    host: &str,
    hosts: Vec<String>,
    threads: f64,
    dir: &str,
    version: &str,
    every: f64,
    key: &str,
    resume: bool,
    interrupt_after: f64,
) -> Robj {
    let start = || -> RResult<Robj> {
        let plan = plan_from_r(&plan)?;
        let key = optional_key(key)?;
        let todo = todo_from_r(&plan, &todo)?;
        let threads = expect_whole("threads", threads)? as usize;
        let interrupt_after = expect_whole("interrupt_after", interrupt_after)?;
        let index = host_index(host, &hosts)?;
        if every.is_nan() || every < 0.0 {
            return Err(rust_error(
                "invalid_argument",
                "`every` must be 0 or more seconds",
                Some("every"),
            ));
        }
        let (host, version) = (host.to_string(), version.to_string());
        let dir = Path::new(dir).to_path_buf();
        spawn(move |control| {
            let shares = sagesim_core::todo_share(&plan, &todo, hosts.len() as u64, index as u64);
            let run = || -> Result<(String, Vec<Part>), sagesim_core::SimError> {
                let (shares, done, first_file) = if resume {
                    let found = resume::resume(&plan, &shares, &host, &hosts, &dir, key.as_ref())?;
                    for path in &found.unverified {
                        let _ = std::fs::remove_file(path);
                        let _ = std::fs::remove_file(integrity::signature_path(path));
                    }
                    if found.complete {
                        let parts = resume::joined(&plan, found.done)?;
                        return Ok((dir.display().to_string(), parts));
                    }
                    (found.remaining, found.done, found.next_file)
                } else {
                    (shares, Vec::new(), 1)
                };
                let mut saves = 0u32;
                let mut save = |parts: &[Part], complete: bool| {
                    let mut result =
                        HostResult::new(&host, &hosts, &plan, parts.to_vec(), &version);
                    result.complete = complete;
                    let path = dir.join(HostResult::file_name(&host, first_file + saves));
                    saves += 1;
                    result_file::write_atomic(&path, &result, key.as_ref())?;
                    if interrupt_after > 0 && !complete && u64::from(saves) >= interrupt_after {
                        control.cancel();
                    }
                    Ok(())
                };
                let mut parts = sagesim_core::run_shares_saving(
                    &plan, &shares, threads, control, every, &mut save,
                )?;
                if resume {
                    parts.extend(done);
                    parts = resume::joined(&plan, parts)?;
                }
                Ok((dir.display().to_string(), parts))
            };
            Outcome::Host(run())
        })
    };
    start().unwrap_or_else(|error| error)
}

/// What host `host`'s own files in `dir` hold of its share (see
/// `host_start()`'s `resume`), for its log: `list(files, next_file,
/// complete, remaining, unverified)`, `remaining` as `shares_to_r()` gives
/// pieces.
#[extendr]
fn host_resume(
    plan: Robj,
    todo: Robj,
    host: &str,
    hosts: Vec<String>,
    dir: &str,
    key: &str,
) -> Robj {
    let found = || -> RResult<Robj> {
        let plan = plan_from_r(&plan)?;
        let key = optional_key(key)?;
        let todo = todo_from_r(&plan, &todo)?;
        let index = host_index(host, &hosts)?;
        let shares = sagesim_core::todo_share(&plan, &todo, hosts.len() as u64, index as u64);
        let found = resume::resume(&plan, &shares, host, &hosts, Path::new(dir), key.as_ref())
            .map_err(|e| sim_error(&e))?;
        let unverified: Vec<String> = found
            .unverified
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        Ok(list!(
            files = found.files as f64,
            next_file = found.next_file as f64,
            complete = found.complete,
            remaining = shares_to_r(&found.remaining)?,
            unverified = unverified
        )
        .into())
    };
    found().unwrap_or_else(|error| error)
}

/// Reads the result files of a job's hosts (and of earlier attempts whose
/// unfinished work it ran), each only once its signature matches its key in
/// `keys` (hex, one per path; NULL reads them unchecked): `list(complete,
/// parts, missing, unfinished_hosts, hosts)`. Complete, `parts` are every spec of the plan, whole, in plan
/// order. Otherwise, with `partial`, each spec's covered iterations as one
/// part with its `ranges` (first and last of each run) and `missing` the
/// pieces no file covers; without, the error names the hosts that did not
/// finish.
#[extendr]
fn results_collect(paths: Vec<String>, partial: bool, keys: Robj) -> Robj {
    let collect = || -> RResult<Robj> {
        let keys = if keys.is_null() {
            vec![None; paths.len()]
        } else {
            let keys = Vec::<String>::try_from(&keys)
                .ok()
                .filter(|k| k.len() == paths.len())
                .ok_or_else(|| rust_error("invalid_argument", "one key per path", Some("keys")))?;
            keys.iter()
                .map(|k| optional_key(k))
                .collect::<RResult<Vec<_>>>()?
        };
        let results = paths
            .iter()
            .zip(&keys)
            .map(|(p, key)| result_file::read(Path::new(p), key.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| sim_error(&e))?;
        if !partial {
            let parts = result_file::collect(results).map_err(|e| sim_error(&e))?;
            return Ok(list!(complete = true, parts = parts_to_r(&parts)?).into());
        }
        let coverage = result_file::coverage(results).map_err(|e| sim_error(&e))?;
        let parts = coverage.partial_parts().map_err(|e| sim_error(&e))?;
        let parts = parts
            .iter()
            .zip(&coverage.covered)
            .map(|(part, segments)| {
                let mut robj = part_to_r(part)?;
                let ranges: Vec<f64> = segments
                    .iter()
                    .flat_map(|s| [s.first_iteration as f64, s.last_iteration() as f64])
                    .collect();
                robj.set_attrib("ranges", ranges)
                    .map_err(|e| rust_error("internal", &e.to_string(), None))?;
                Ok(robj)
            })
            .collect::<RResult<Vec<_>>>()?;
        Ok(list!(
            complete = coverage.missing.is_empty(),
            parts = List::from_values(parts),
            missing = shares_to_r(&coverage.missing)?,
            unfinished_hosts = coverage.unfinished_hosts,
            hosts = coverage.hosts
        )
        .into())
    };
    collect().unwrap_or_else(|error| error)
}

/// Merges parts of one simulation (`names(parts)` label them in messages).
#[extendr]
fn parts_merge(parts: List) -> Robj {
    let merge = || -> RResult<Robj> {
        let parts = parts
            .iter()
            .map(|(name, part)| Ok((name.to_string(), part_from_r(&part)?)))
            .collect::<RResult<Vec<_>>>()?;
        part_to_r(&result_file::merge(parts).map_err(|e| sim_error(&e))?)
    };
    merge().unwrap_or_else(|error| error)
}

/// A results key given as hex ("" for none).
fn optional_key(key: &str) -> RResult<Option<Key>> {
    if key.is_empty() {
        return Ok(None);
    }
    Key::from_hex(key).map(Some).map_err(|e| sim_error(&e))
}

/// A new results key (hex) from the operating system's random generator.
#[extendr]
fn integrity_key() -> Robj {
    match Key::generate() {
        Ok(key) => key.to_hex().into(),
        Err(e) => sim_error(&e),
    }
}

/// The SHA-256 (hex) of the file at `path`.
#[extendr]
fn integrity_sha256(path: &str) -> Robj {
    match integrity::sha256_file(Path::new(path)) {
        Ok(hash) => hash.into(),
        Err(e) => sim_error(&e),
    }
}

/// NULL when the file at `path` has the SHA-256 `expected`, else the error.
#[extendr]
fn integrity_check_sha256(path: &str, expected: &str) -> Robj {
    match integrity::check_sha256(Path::new(path), expected) {
        Ok(()) => ().into(),
        Err(e) => sim_error(&e),
    }
}

/// Signs the file at `source` with `key` as the file `path` it is renamed
/// to, writing `<path>.hmac`.
#[extendr]
fn integrity_sign(source: &str, path: &str, key: &str) -> Robj {
    let sign = || -> RResult<Robj> {
        let key = Key::from_hex(key).map_err(|e| sim_error(&e))?;
        integrity::sign_file(&key, Path::new(source), Path::new(path))
            .map_err(|e| sim_error(&e))?;
        Ok(().into())
    };
    sign().unwrap_or_else(|error| error)
}

/// NULL when the signature beside the file at `path` says a host with `key`
/// wrote it, else the error naming it.
#[extendr]
fn integrity_verify(path: &str, key: &str) -> Robj {
    let verify = || -> RResult<Robj> {
        let key = Key::from_hex(key).map_err(|e| sim_error(&e))?;
        integrity::read_signed(&key, Path::new(path)).map_err(|e| sim_error(&e))?;
        Ok(().into())
    };
    verify().unwrap_or_else(|error| error)
}

/// A task running CPU work off R's main thread, or the error of starting one.
fn spawn<F>(work: F) -> RResult<Robj>
where
    F: FnOnce(&sagesim_core::Control) -> Outcome + Send + 'static,
{
    Task::on_thread(work)
        .map(|task| ExternalPtr::new(task).into())
        .map_err(|e| {
            rust_error(
                "system",
                &format!("could not start a worker thread: {e}"),
                None,
            )
        })
}

/// TRUE once the task has finished; waits at most `timeout_ms`.
#[extendr]
fn task_wait(task: ExternalPtr<Task>, timeout_ms: f64) -> bool {
    let timeout = Duration::from_secs_f64((timeout_ms.max(0.0) / 1000.0).min(60.0));
    task.wait(timeout)
}

/// Iterations finished so far (simulation tasks).
#[extendr]
fn task_progress(task: ExternalPtr<Task>) -> f64 {
    task.completed() as f64
}

#[extendr]
fn task_cancel(task: ExternalPtr<Task>) {
    task.cancel();
}

/// The finished task's value, or a `sagesim_rust_error`.
#[extendr]
fn task_result(mut task: ExternalPtr<Task>) -> Robj {
    if task.was_taken() {
        return rust_error("internal", "this task's result was already collected", None);
    }
    match task.take() {
        Some(outcome) => outcome_to_robj(outcome),
        None => rust_error("internal", "the task has not finished yet", None),
    }
}

/// (num_people - 1) * P(two uniform points in the room are closer than distance).
#[extendr]
fn sim_expected_violations(x_length: f64, y_length: f64, num_people: f64, distance: f64) -> Robj {
    let room = match expect_whole("num_people", num_people) {
        Ok(num_people) => Room {
            x_length,
            y_length,
            num_people,
            distance,
        },
        Err(error) => return error,
    };
    match room.validate() {
        Ok(()) => sagesim_core::expected_violations(&room).into(),
        Err(e) => sim_error(&e),
    }
}

/// Loads credentials and region in the background (the chain may query
/// instance metadata); the task resolves to a session handle.
#[extendr]
fn aws_session_start(config_json: &str) -> Robj {
    let config: sagesim_aws::SessionConfig = match serde_json::from_str(config_json) {
        Ok(config) => config,
        Err(e) => return rust_error("internal", &format!("bad session config: {e}"), None),
    };
    let task =
        Task::on_runtime(
            async move { Outcome::Session(sagesim_aws::AwsSession::load(config).await) },
        );
    ExternalPtr::new(task).into()
}

/// Region and endpoint of a loaded session (never credentials).
#[extendr]
fn aws_session_info(session: ExternalPtr<SessionHandle>) -> Robj {
    let endpoint: Robj = match session.0.endpoint_url() {
        Some(url) => url.into(),
        None => ().into(),
    };
    List::from_names_and_values(
        ["region", "endpoint_url"],
        [session.0.region().into(), endpoint],
    )
    .map(Robj::from)
    .unwrap_or_else(|e| rust_error("internal", &e.to_string(), None))
}

/// The request a job record's plan makes (JSON, without Tags): the
/// CreateTrainingJob request when the plan has `training`, else the
/// Processing request as the job's container sees it in
/// `/opt/ml/config/processingjobconfig.json`.
#[extendr]
fn job_config(record_json: &str) -> Robj {
    match sagesim_job::JobRecord::from_json(record_json) {
        Ok(record) => sagesim_aws::job_config(&record).to_string().into(),
        Err(e) => record_error(&e),
    }
}

/// A job record (JSON) checked and written out in its one canonical form.
#[extendr]
fn job_record_check(record_json: &str) -> Robj {
    match sagesim_job::JobRecord::from_json(record_json) {
        Ok(record) => record.to_json().into(),
        Err(e) => record_error(&e),
    }
}

/// The job record in the file `path` (JSON), checked.
#[extendr]
fn job_record_read(path: &str) -> Robj {
    match sagesim_job::JobRecord::read(Path::new(path)) {
        Ok(record) => record.to_json().into(),
        Err(e) => record_error(&e),
    }
}

/// Writes a job record (JSON) to `path`, whole.
#[extendr]
fn job_record_write(path: &str, record_json: &str) -> Robj {
    match sagesim_job::JobRecord::from_json(record_json).and_then(|r| r.write(Path::new(path))) {
        Ok(()) => ().into(),
        Err(e) => record_error(&e),
    }
}

/// A record that cannot be read or written: its own kind of error for R.
fn record_error(error: &sagesim_job::JobError) -> Robj {
    rust_error("record", &error.message, None)
}

/// The key of a cloud job's record in its bucket.
#[extendr]
fn job_record_key(job_name: &str) -> String {
    sagesim_job::record_key(job_name)
}

/// The log line that reports a host's progress.
#[extendr]
fn progress_line(host: &str, unit: &str, done: f64, total: f64, failed: f64) -> Robj {
    let line = || -> RResult<Robj> {
        let progress = sagesim_job::Progress {
            host: host.to_string(),
            unit: unit.to_string(),
            done: expect_whole("done", done)?,
            total: expect_whole("total", total)?,
            failed: expect_whole("failed", failed)?,
        };
        Ok(sagesim_job::progress_line(&progress).into())
    };
    line().unwrap_or_else(|error| error)
}

/// The progress lines among `lines`: `list(line, host, unit, done, total,
/// failed)`, `line` the 1-based position of each.
#[extendr]
fn progress_parse(lines: Vec<String>) -> Robj {
    let found: Vec<(usize, sagesim_job::Progress)> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| sagesim_job::parse_progress_line(line).map(|p| (i + 1, p)))
        .collect();
    let column = |f: fn(&sagesim_job::Progress) -> f64| {
        Robj::from(found.iter().map(|(_, p)| f(p)).collect::<Vec<f64>>())
    };
    List::from_names_and_values(
        ["line", "host", "unit", "done", "total", "failed"],
        [
            Robj::from(found.iter().map(|(i, _)| *i as f64).collect::<Vec<f64>>()),
            Robj::from(
                found
                    .iter()
                    .map(|(_, p)| p.host.clone())
                    .collect::<Vec<String>>(),
            ),
            Robj::from(
                found
                    .iter()
                    .map(|(_, p)| p.unit.clone())
                    .collect::<Vec<String>>(),
            ),
            column(|p| p.done as f64),
            column(|p| p.total as f64),
            column(|p| p.failed as f64),
        ],
    )
    .map(Robj::from)
    .unwrap_or_else(|e| rust_error("internal", &e.to_string(), None))
}

/// Every operation `aws_call_start` understands: R's table of the IAM
/// actions each one needs (R/aws-actions.R) is checked against it.
#[extendr]
fn aws_operations() -> Vec<String> {
    sagesim_aws::OPERATIONS
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Starts one AWS operation (`service:Operation`, AWS-shaped JSON params).
#[extendr]
fn aws_call_start(session: ExternalPtr<SessionHandle>, operation: &str, params_json: &str) -> Robj {
    let params: serde_json::Value = match serde_json::from_str(params_json) {
        Ok(params) => params,
        Err(e) => return rust_error("internal", &format!("bad request JSON: {e}"), None),
    };
    let (session, operation) = (std::sync::Arc::clone(&session.0), operation.to_string());
    // (Its progress, task_progress(), is the bytes it has uploaded.)
    let task = Task::on_runtime_counting(
        async move { Outcome::Aws(session.call(&operation, params).await) },
        std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
    );
    ExternalPtr::new(task).into()
}

extendr_module! {
    mod sagesim;
    fn sim_start;
    fn spec_check;
    fn sweep_seeds;
    fn split_range;
    fn host_share;
    fn host_start;
    fn host_resume;
    fn results_collect;
    fn parts_merge;
    fn integrity_key;
    fn integrity_sha256;
    fn integrity_check_sha256;
    fn integrity_sign;
    fn integrity_verify;
    fn task_wait;
    fn task_progress;
    fn task_cancel;
    fn task_result;
    fn sim_expected_violations;
    fn aws_session_start;
    fn aws_session_info;
    fn aws_call_start;
    fn aws_operations;
    fn job_config;
    fn job_record_check;
    fn job_record_read;
    fn job_record_write;
    fn job_record_key;
    fn progress_line;
    fn progress_parse;
}
