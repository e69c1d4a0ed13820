//! wkv7 and wkv7_output of one token as one dispatch: the wkv7 just recorded is re-recorded as
//! `Kernel::Wkv7WithOutput` (wkv7_unrolled.rs) when the next op is the wkv7_output of its y. Saves a
//! dispatch per layer and token (~9 us each on the H200 through Vulkan, PERF.md).

use super::{GpuAct, GpuWeight, Tracked, WebGpuBackend};
use crate::kernels::Kernel;

/// The wkv7 dispatch just recorded (one token, generated kernel), while wkv7_output may still fold
/// into it.
pub(super) struct FusableWkv {
    generation: u64,
    index: usize,
    head_size: u32,
    /// r, decay, k, v, a, k_k, k_a, state, y.
    bufs: [(u64, wgpu::Buffer); 9],
}

/// Storage buffers wkv7 with its output stage binds.
const WKV7_WITH_OUTPUT_BINDINGS: u32 = 13;

impl WebGpuBackend {
    /// Remembers the wkv7 of `rows` tokens just recorded with `bufs`, when an output stage may fold
    /// into it.
    pub(super) fn note_wkv7(&mut self, head_size: u32, rows: usize, bufs: &[&Tracked; 9]) {
        let fusable = rows == 1
            && self.opts.fast_kernels
            && crate::wkv7_unrolled::supports(head_size)
            && self.gpu.limits.max_storage_buffers_per_shader_stage >= WKV7_WITH_OUTPUT_BINDINGS
            // A dispatch that failed to record (its error deferred) left nothing to fuse into.
            && self.rec.last_kernel() == Some(Kernel::Wkv7(head_size));
        self.last_wkv = fusable.then(|| FusableWkv {
            generation: self.rec.generation,
            index: self.rec.pending_len() - 1,
            head_size,
            bufs: bufs.map(|t| (t.id, t.buffer.clone())),
        });
    }

    /// Re-records the wkv7 just recorded with its output stage when this wkv7_output reads what it
    /// wrote (y, the new k) and its inputs (r, v) and writes nothing else.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fuse_wkv7_output(&mut self, y: &GpuAct, r: &GpuAct, k: &GpuAct, v: &GpuAct, g: &GpuAct, r_k: &GpuWeight, ln_w: &GpuWeight, ln_b: &GpuWeight, head_size: usize, eps: f32) -> bool {
        let Some(w) = self.last_wkv.take() else { return false };
        let current = self.mv_pending.is_empty() && w.generation == self.rec.generation && w.index + 1 == self.rec.pending_len();
        let same = |slot: usize, t: &Tracked| w.bufs[slot].0 == t.id;
        if !current || head_size as u32 != w.head_size || y.rows != 1 || !same(0, &r.buf) || !same(2, &k.buf) || !same(3, &v.buf) || !same(8, &y.buf) {
            return false;
        }
        let mut bufs: Vec<(u64, &wgpu::Buffer)> = w.bufs.iter().map(|(id, b)| (*id, b)).collect();
        for t in [&g.buf, r_k.vectors(), ln_w.vectors(), ln_b.vectors()] {
            bufs.push((t.id, &t.buffer));
        }
        // One token: a workgroup per head over the row's columns, as wkv7 recorded it.
        let cols = y.cols as u32;
        let params = [cols, 1, eps.to_bits(), 0];
        self.rec.replace_last(&self.gpu, Kernel::Wkv7WithOutput(w.head_size), &params, &bufs, [cols / w.head_size, 1, 1], [cols, 1, 0]);
        true
    }
}
