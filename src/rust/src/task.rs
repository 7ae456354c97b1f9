//! Work that runs off R's main thread. R polls `wait()` with a short timeout,
//! so Ctrl-C is handled by R between polls and turned into `cancel()`; no R
//! API is ever touched from another thread. Nothing here knows about R.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use sagesim_aws::{AwsError, AwsSession};
use sagesim_core::result_file::Part;
use sagesim_core::{Control, SimError};

/// What a finished task hands back to R.
pub enum Outcome {
    /// A run of iterations of one simulation.
    Part(Result<Part, SimError>),
    /// A host's share of a job, written to a result file (its path).
    Host(Result<(String, Vec<Part>), SimError>),
    Aws(Result<serde_json::Value, AwsError>),
    Session(Result<AwsSession, AwsError>),
    /// A panic or an aborted future: a bug or a cancellation, never silent.
    Failed(String),
}

#[derive(Default)]
struct Slot {
    outcome: Mutex<Option<Outcome>>,
    finished: Condvar,
}

impl Slot {
    fn finish(&self, outcome: Outcome) {
        let mut guard = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
        *guard = Some(outcome);
        self.finished.notify_all();
    }
}

pub struct Task {
    slot: Arc<Slot>,
    control: Arc<Control>,
    /// Bytes an AWS operation has sent, its progress (`on_runtime_counting`).
    bytes: Option<Arc<AtomicU64>>,
    abort: Option<tokio::task::AbortHandle>,
    taken: bool,
}

impl Task {
    /// Runs CPU work on a plain OS thread (not rayon::spawn: a panic there
    /// would abort R). The closure sees the shared control for cancellation
    /// and progress.
    pub fn on_thread<F>(work: F) -> std::io::Result<Task>
    where
        F: FnOnce(&Control) -> Outcome + Send + 'static,
    {
        let slot = Arc::new(Slot::default());
        let control = Arc::new(Control::new());
        let (thread_slot, thread_control) = (Arc::clone(&slot), Arc::clone(&control));
        std::thread::Builder::new()
            .name("sagesim-task".into())
            .spawn(move || {
                let outcome = catch_unwind(AssertUnwindSafe(|| work(&thread_control)))
                    .unwrap_or_else(|panic| Outcome::Failed(panic_message(panic)));
                thread_slot.finish(outcome);
            })?;
        Ok(Task {
            slot,
            control,
            bytes: None,
            abort: None,
            taken: false,
        })
    }

    /// Runs a future on the shared tokio runtime; cancelling aborts it.
    pub fn on_runtime<F>(future: F) -> Task
    where
        F: std::future::Future<Output = Outcome> + Send + 'static,
    {
        let slot = Arc::new(Slot::default());
        let runtime = sagesim_aws::runtime();
        let handle = runtime.spawn(future);
        let abort = handle.abort_handle();
        let waiter_slot = Arc::clone(&slot);
        runtime.spawn(async move {
            let outcome = match handle.await {
                Ok(outcome) => outcome,
                Err(e) if e.is_cancelled() => Outcome::Failed("the request was cancelled".into()),
                Err(e) => Outcome::Failed(panic_message(e.into_panic())),
            };
            waiter_slot.finish(outcome);
        });
        Task {
            slot,
            control: Arc::new(Control::new()),
            bytes: None,
            abort: Some(abort),
            taken: false,
        }
    }

    /// As [`Task::on_runtime`], its progress the bytes the operation sends
    /// (counted by the aws crate into `bytes`).
    pub fn on_runtime_counting<F>(future: F, bytes: Arc<AtomicU64>) -> Task
    where
        F: std::future::Future<Output = Outcome> + Send + 'static,
    {
        let mut task = Task::on_runtime(sagesim_aws::counting_bytes(Arc::clone(&bytes), future));
        task.bytes = Some(bytes);
        task
    }

    /// True once the outcome is ready; waits at most `timeout`.
    pub fn wait(&self, timeout: Duration) -> bool {
        if self.taken {
            return true;
        }
        let guard = self.slot.outcome.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = self
            .slot
            .finished
            .wait_timeout_while(guard, timeout, |outcome| outcome.is_none())
            .unwrap_or_else(|e| e.into_inner());
        guard.is_some()
    }

    pub fn completed(&self) -> u64 {
        match &self.bytes {
            Some(bytes) => bytes.load(Ordering::Relaxed),
            None => self.control.completed(),
        }
    }

    pub fn cancel(&self) {
        self.control.cancel();
        if let Some(abort) = &self.abort {
            abort.abort();
        }
    }

    /// The outcome, exactly once; None while running or after it was taken.
    pub fn take(&mut self) -> Option<Outcome> {
        let outcome = self
            .slot
            .outcome
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if outcome.is_some() {
            self.taken = true;
        }
        outcome
    }

    pub fn was_taken(&self) -> bool {
        self.taken
    }
}

impl Drop for Task {
    // An R object that is garbage collected mid-run must not leave work behind.
    fn drop(&mut self) {
        self.cancel();
    }
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("internal error in sagesim's Rust code (please report it): {text}")
}
