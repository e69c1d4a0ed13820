//! The backend's settings, counters and profile: what tests, benches and the CLI read or switch.

use super::{HostCounters, WebGpuBackend};
use crate::context::WebGpuOptions;
use crate::recorder::ProfileRow;

impl WebGpuBackend {
    /// The adapter in use.
    pub fn adapter_name(&self) -> &str {
        &self.gpu.name
    }

    /// Whether kernels use subgroup operations.
    pub fn uses_subgroups(&self) -> bool {
        self.gpu.subgroups
    }

    /// The adapter's largest storage binding; weights larger than this are split by rows.
    pub fn max_binding(&self) -> u64 {
        self.gpu.max_binding()
    }

    /// The options the backend runs with (after clamping).
    pub fn options(&self) -> &WebGpuOptions {
        &self.opts
    }

    /// Switches between the fast matmul kernels and the generic one (for comparisons and tests);
    /// takes effect for matmuls recorded from now on.
    pub fn set_fast_kernels(&mut self, on: bool) {
        self.emit_matvecs();
        self.opts.fast_kernels = on;
    }

    /// Sets the weight rows per matmul_tiled tile (64 or 128; anything else picks per matmul) and
    /// whether every matmul of 16 tokens or more takes the tiled kernel (tests).
    pub fn set_tiled(&mut self, rows: u32, always: bool) {
        self.opts.tile_rows = rows;
        self.opts.always_tiled = always;
    }

    /// Sets the weight rows per matvec thread group (1, 2 or 4; others are rounded down).
    pub fn set_matvec_rows(&mut self, nr: u32) {
        self.emit_matvecs();
        self.opts.matvec_rows = match nr {
            0 | 1 => 1,
            2 | 3 => 2,
            _ => 4,
        };
    }

    /// Host-side counters since the backend opened (in a steady decode loop no bind groups are
    /// created).
    pub fn counters(&self) -> HostCounters {
        HostCounters {
            bind_groups_created: self.rec.created,
            dispatches: self.rec.recorded,
            submits: self.rec.generation,
            encode_ns: self.rec.encode_ns,
            wait_ns: self.wait_ns,
        }
    }

    /// Per-kernel GPU times recorded so far (empty unless profiling), most expensive first.
    pub fn profile_rows(&self) -> Vec<ProfileRow> {
        self.rec.profile_rows()
    }

    /// Clears the profile (e.g. after warm-up).
    pub fn reset_profile(&mut self) {
        self.rec.reset_profile();
    }

    /// The profile as a table: per (kernel, shape) calls, total and mean time, share of the total.
    pub fn profile_report(&self) -> String {
        let rows = self.rec.profile_rows();
        let (flushes, span) = self.rec.profile_span();
        let total: f64 = rows.iter().map(|r| r.total_ns).sum();
        let mut s = format!(
            "wgpu profile on {}: {flushes} profiled submits, GPU span {:.3} ms total ({:.1} us per submit), dispatches sum {:.3} ms\n",
            self.gpu.name,
            span / 1e6,
            span / 1e3 / flushes.max(1) as f64,
            total / 1e6
        );
        s += &format!("{:<28} {:>22} {:>8} {:>12} {:>10} {:>6}\n", "kernel", "shape", "calls", "total ms", "mean us", "share");
        for r in rows {
            s += &format!(
                "{:<28} {:>22} {:>8} {:>12.3} {:>10.2} {:>5.1}%\n",
                r.kernel,
                format!("{:?}", r.shape),
                r.calls,
                r.total_ns / 1e6,
                r.total_ns / 1e3 / r.calls.max(1) as f64,
                100.0 * r.total_ns / total.max(1e-9)
            );
        }
        s
    }

    /// Caps the size of one weight part (to exercise splitting in tests); never raises the limit.
    pub fn set_max_part_bytes(&mut self, bytes: u64) {
        self.part_cap = Some(bytes.max(4));
    }
}
