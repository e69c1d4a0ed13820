//! Counters, gauges and latency histograms the engine keeps, readable from any thread.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use crate::state_cache::CacheStats;

/// Upper bounds (seconds) of the latency histogram buckets; a last `+Inf` bucket is implied.
pub const LATENCY_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

#[derive(Default)]
pub struct Histogram {
    /// One count per bucket of `LATENCY_BUCKETS` plus `+Inf`; not cumulative.
    counts: [AtomicU64; 14],
    sum_micros: AtomicU64,
}

/// A histogram read out: cumulative counts per bucket (as Prometheus wants), the sum and the count.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramSnapshot {
    pub cumulative: Vec<u64>,
    pub sum_seconds: f64,
    pub count: u64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = LATENCY_BUCKETS.iter().position(|&b| s <= b).unwrap_or(LATENCY_BUCKETS.len());
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(d.as_micros() as u64, Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let cumulative = self
            .counts
            .iter()
            .map(|c| {
                total += c.load(Relaxed);
                total
            })
            .collect();
        HistogramSnapshot { cumulative, sum_seconds: self.sum_micros.load(Relaxed) as f64 / 1e6, count: total }
    }
}

/// Live engine metrics. Counters only grow; gauges are set by the engine thread after every step.
#[derive(Default)]
pub struct Metrics {
    pub requests_submitted: AtomicU64,
    pub requests_rejected: AtomicU64,
    pub requests_completed: AtomicU64,
    pub requests_cancelled: AtomicU64,
    pub requests_failed: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub cached_prompt_tokens: AtomicU64,
    pub generated_tokens: AtomicU64,
    pub steps: AtomicU64,
    /// Sum over steps of the sequences each step advanced (divide by `steps` for the mean batch).
    pub batch_sequences: AtomicU64,
    pub active: AtomicU64,
    pub queued: AtomicU64,
    pub request_latency: Histogram,
    pub time_to_first_token: Histogram,
    pub(crate) cache: Mutex<Option<CacheStats>>,
}

/// Everything in [`Metrics`] read at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsSnapshot {
    pub requests_submitted: u64,
    pub requests_rejected: u64,
    pub requests_completed: u64,
    pub requests_cancelled: u64,
    pub requests_failed: u64,
    pub prompt_tokens: u64,
    pub cached_prompt_tokens: u64,
    pub generated_tokens: u64,
    pub steps: u64,
    pub batch_sequences: u64,
    pub active: u64,
    pub queued: u64,
    pub request_latency: HistogramSnapshot,
    pub time_to_first_token: HistogramSnapshot,
    /// `None` when the engine runs without a prefix-state cache.
    pub cache: Option<CacheStats>,
}

impl Metrics {
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            requests_submitted: self.requests_submitted.load(Relaxed),
            requests_rejected: self.requests_rejected.load(Relaxed),
            requests_completed: self.requests_completed.load(Relaxed),
            requests_cancelled: self.requests_cancelled.load(Relaxed),
            requests_failed: self.requests_failed.load(Relaxed),
            prompt_tokens: self.prompt_tokens.load(Relaxed),
            cached_prompt_tokens: self.cached_prompt_tokens.load(Relaxed),
            generated_tokens: self.generated_tokens.load(Relaxed),
            steps: self.steps.load(Relaxed),
            batch_sequences: self.batch_sequences.load(Relaxed),
            active: self.active.load(Relaxed),
            queued: self.queued.load(Relaxed),
            request_latency: self.request_latency.snapshot(),
            time_to_first_token: self.time_to_first_token.snapshot(),
            cache: *self.cache.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Relaxed);
    }

    pub(crate) fn set(gauge: &AtomicU64, n: usize) {
        gauge.store(n as u64, Relaxed);
    }
}
