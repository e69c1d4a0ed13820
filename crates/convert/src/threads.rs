//! Running work on a rayon pool of a chosen size.

use crate::ConvertError;

/// Runs `f` on a pool of `threads` workers, or on the current pool when `threads` is 0.
pub(crate) fn run<T: Send>(
    threads: usize,
    f: impl FnOnce() -> Result<T, ConvertError> + Send,
) -> Result<T, ConvertError> {
    if threads == 0 {
        return f();
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| ConvertError::Threads { threads, reason: e.to_string() })?;
    pool.install(f)
}
