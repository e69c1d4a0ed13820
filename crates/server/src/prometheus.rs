//! `GET /metrics`: the engine's and the HTTP layer's numbers in Prometheus' text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use engine::scheduler::{HistogramSnapshot, LATENCY_BUCKETS};
use engine::MetricsSnapshot;

/// Responses by status code, counted by a middleware.
#[derive(Default)]
pub struct HttpCounters {
    by_status: Mutex<BTreeMap<u16, u64>>,
}

impl HttpCounters {
    pub fn record(&self, status: u16) {
        *self.by_status.lock().unwrap_or_else(|e| e.into_inner()).entry(status).or_insert(0) += 1;
    }

    fn snapshot(&self) -> BTreeMap<u16, u64> {
        self.by_status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
}

fn histogram(out: &mut String, name: &str, help: &str, h: &HistogramSnapshot) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (bound, count) in LATENCY_BUCKETS.iter().zip(&h.cumulative) {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
    let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", h.sum_seconds, h.count);
}

pub fn render(m: &MetricsSnapshot, http: &HttpCounters) -> String {
    let mut o = String::new();
    let c = "counter";
    metric(&mut o, "aviary_requests_submitted_total", c, "Generation requests accepted into the queue.", m.requests_submitted);
    metric(&mut o, "aviary_requests_rejected_total", c, "Requests refused because the queue was full.", m.requests_rejected);
    metric(&mut o, "aviary_requests_completed_total", c, "Requests that finished normally.", m.requests_completed);
    metric(&mut o, "aviary_requests_cancelled_total", c, "Requests whose client went away.", m.requests_cancelled);
    metric(&mut o, "aviary_requests_failed_total", c, "Requests that ended in an error.", m.requests_failed);
    metric(&mut o, "aviary_prompt_tokens_total", c, "Prompt tokens of admitted requests.", m.prompt_tokens);
    metric(&mut o, "aviary_cached_prompt_tokens_total", c, "Prompt tokens restored from the prefix-state cache.", m.cached_prompt_tokens);
    metric(&mut o, "aviary_generated_tokens_total", c, "Tokens sampled.", m.generated_tokens);
    metric(&mut o, "aviary_steps_total", c, "Engine steps run.", m.steps);
    metric(&mut o, "aviary_step_sequences_total", c, "Sequences advanced, summed over steps (divide by steps for the mean batch).", m.batch_sequences);
    metric(&mut o, "aviary_active_sequences", "gauge", "Sequences in the running batch.", m.active);
    metric(&mut o, "aviary_queued_requests", "gauge", "Requests waiting for a batch slot.", m.queued);
    histogram(&mut o, "aviary_request_duration_seconds", "Time from submission to the last token.", &m.request_latency);
    histogram(&mut o, "aviary_time_to_first_token_seconds", "Time from submission to the first token.", &m.time_to_first_token);
    if let Some(s) = &m.cache {
        metric(&mut o, "aviary_cache_hits_total", c, "Prefix-state cache lookups that restored a state.", s.hits);
        metric(&mut o, "aviary_cache_misses_total", c, "Prefix-state cache lookups that found nothing.", s.misses);
        metric(&mut o, "aviary_cache_hit_tokens_total", c, "Prompt tokens the cache saved.", s.hit_tokens);
        metric(&mut o, "aviary_cache_evictions_total", c, "Entries evicted from memory.", s.evictions);
        metric(&mut o, "aviary_cache_spills_total", c, "Entries written to disk on eviction.", s.spills);
        metric(&mut o, "aviary_cache_entries", "gauge", "States kept in memory.", s.entries);
        metric(&mut o, "aviary_cache_bytes", "gauge", "Bytes of states kept in memory.", s.bytes);
        metric(&mut o, "aviary_cache_disk_entries", "gauge", "States spilled to disk.", s.disk_entries);
        metric(&mut o, "aviary_cache_disk_bytes", "gauge", "Bytes of states spilled to disk.", s.disk_bytes);
    }
    let _ = writeln!(o, "# HELP aviary_http_responses_total HTTP responses by status code.\n# TYPE aviary_http_responses_total counter");
    for (code, n) in http.snapshot() {
        let _ = writeln!(o, "aviary_http_responses_total{{code=\"{code}\"}} {n}");
    }
    o
}
