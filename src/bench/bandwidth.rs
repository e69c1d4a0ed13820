//! Host memory read bandwidth: the bound that token-by-token generation on the CPU runs against.

use std::hint::black_box;
use std::time::Instant;

/// Buffer size the benchmark reads by default: far larger than any cache.
pub const DEFAULT_BW_BYTES: usize = 512 << 20;

/// Best of `passes` sums over a `bytes`-sized `Vec<u64>` split across `threads` threads, in GB/s
/// (1e9 bytes per second).
pub fn memory_bandwidth_gb_s(bytes: usize, threads: usize, passes: usize) -> f64 {
    let n = (bytes / 8).max(1);
    // Non-zero fill, so every page is really allocated (a zeroed allocation can map one shared page).
    let data: Vec<u64> = (0..n as u64).collect();
    let threads = threads.max(1).min(n);
    let chunk = n.div_ceil(threads);
    let mut best = 0.0f64;
    for _ in 0..passes.max(1) {
        let t = Instant::now();
        let total = std::thread::scope(|s| {
            let handles: Vec<_> = data
                .chunks(chunk)
                .map(|c| s.spawn(move || c.iter().fold(0u64, |a, &x| a.wrapping_add(x))))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).fold(0u64, u64::wrapping_add)
        });
        let secs = t.elapsed().as_secs_f64();
        black_box(total);
        if secs > 0.0 {
            best = best.max((n * 8) as f64 / secs / 1e9);
        }
    }
    best
}
