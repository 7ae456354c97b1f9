# Thin wrappers over the Rust entry points registered by extendr_module! in
# src/rust/src/lib.rs. Internal: the user API lives in the other R files.
# Every function returns either its value or a `sagesim_rust_error` (R/rust.R).

sim_start <- function(x_length, y_length, num_people, distance, seed, first_iteration,
                      iterations, threads, keep_values) {
  .Call(wrap__sim_start, x_length, y_length, num_people, distance, seed, first_iteration,
        iterations, threads, keep_values)
}

task_wait <- function(task, timeout_ms) .Call(wrap__task_wait, task, timeout_ms)

task_progress <- function(task) .Call(wrap__task_progress, task)

task_cancel <- function(task) invisible(.Call(wrap__task_cancel, task))

task_result <- function(task) .Call(wrap__task_result, task)

sim_combine_counts <- function(num_people, iterations, sum_pairs, sum_pairs_squared) {
  .Call(wrap__sim_combine_counts, num_people, iterations, sum_pairs, sum_pairs_squared)
}

sim_expected_violations <- function(x_length, y_length, num_people, distance) {
  .Call(wrap__sim_expected_violations, x_length, y_length, num_people, distance)
}

sim_split_iterations <- function(max_iterations, parts, index) {
  .Call(wrap__sim_split_iterations, max_iterations, parts, index)
}

sim_available_cores <- function() .Call(wrap__sim_available_cores)

shard_write <- function(path, meta_json, values) .Call(wrap__shard_write, path, meta_json, values)

shard_read_merged <- function(paths) .Call(wrap__shard_read_merged, paths)

aws_session_start <- function(config_json) .Call(wrap__aws_session_start, config_json)

aws_session_info <- function(session) .Call(wrap__aws_session_info, session)

aws_call_start <- function(session, operation, params_json) {
  .Call(wrap__aws_call_start, session, operation, params_json)
}
