//! Optional per-op timing (`AVIARY_PROFILE=1`): wall time per op kind (matmuls by type and shape),
//! printed to stderr when the backend is dropped. Off by default; when off it costs one branch.

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Default)]
pub(crate) struct Profile {
    on: bool,
    totals: HashMap<String, (Duration, u64)>,
}

impl Profile {
    pub fn from_env() -> Profile {
        Profile { on: std::env::var_os("AVIARY_PROFILE").is_some_and(|v| v != "0"), totals: HashMap::new() }
    }

    pub fn start(&self) -> Option<Instant> {
        self.on.then(Instant::now)
    }

    pub fn stop(&mut self, t0: Option<Instant>, key: impl FnOnce() -> String) {
        if let Some(t0) = t0 {
            let e = self.totals.entry(key()).or_default();
            e.0 += t0.elapsed();
            e.1 += 1;
        }
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        if !self.on || self.totals.is_empty() {
            return;
        }
        let total: Duration = self.totals.values().map(|v| v.0).sum();
        let mut rows: Vec<_> = self.totals.iter().collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1 .0));
        eprintln!("aviary cpu profile: {:.3} s in ops", total.as_secs_f64());
        for (k, (d, n)) in rows {
            eprintln!("  {:>6.2}%  {:>10.3} ms  {:>8} calls  {k}", 100.0 * d.as_secs_f64() / total.as_secs_f64(), d.as_secs_f64() * 1e3, n);
        }
    }
}
