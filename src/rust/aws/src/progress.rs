//! Bytes sent so far by the operation a caller is waiting on, for a
//! progress bar: the caller runs the operation inside [`counting_bytes`]
//! and reads its counter while it runs. Uploads add what each request
//! carried once S3 has taken it (a part of a multipart upload, a whole
//! object); an operation run outside a counter counts nothing.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

tokio::task_local! {
    static BYTES_SENT: Arc<AtomicU64>;
}

/// Runs `operation` with `counter` counting the bytes it uploads.
pub async fn counting_bytes<F: Future>(counter: Arc<AtomicU64>, operation: F) -> F::Output {
    BYTES_SENT.scope(counter, operation).await
}

/// Counts `bytes` sent, when the current task counts them.
pub(crate) fn count_sent(bytes: u64) {
    let _ = BYTES_SENT.try_with(|counter| counter.fetch_add(bytes, Ordering::Relaxed));
}
