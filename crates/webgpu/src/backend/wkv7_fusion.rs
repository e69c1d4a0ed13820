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
    bufs: Vec<(u64, wgpu::Buffer)>,
    params: [u32; 4],
    groups: [u32; 3],
    shape: [u32; 3],
}

/// Storage buffers wkv7 with its output stage binds.
const WKV7_WITH_OUTPUT_BINDINGS: u32 = 13;

impl WebGpuBackend {
    /// Remembers the wkv7 just recorded, when an output stage may fold into it.
    pub(super) fn note_wkv7(&mut self, head_size: u32, rows: usize, bufs: &[&Tracked], params: [u32; 4], groups: [u32; 3], shape: [u32; 3]) {
        let fusable = rows == 1
            && self.opts.fast_kernels
            && crate::wkv7_unrolled::supports(head_size)
            && self.gpu.limits.max_storage_buffers_per_shader_stage >= WKV7_WITH_OUTPUT_BINDINGS;
        // A dispatch that failed to record (its error deferred) left nothing to fuse into.
        let recorded = self.rec.last_kernel() == Some(Kernel::Wkv7(head_size));
        let index = self.rec.pending_len().checked_sub(1).filter(|_| recorded);
        self.last_wkv = fusable.then_some(()).zip(index).map(|((), index)| FusableWkv {
            generation: self.rec.generation,
            index,
            head_size,
            bufs: bufs.iter().map(|t| (t.id, t.buffer.clone())).collect(),
            params,
            groups,
            shape,
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
        let params = [w.params[0], w.params[1], eps.to_bits(), 0];
        self.rec.replace_last(&self.gpu, Kernel::Wkv7WithOutput(w.head_size), &params, &bufs, w.groups, w.shape);
        true
    }

}
