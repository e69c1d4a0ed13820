//! The ops only RWKV-4, 5 and 6 use (`model::Ops` past `copy_rows`), recorded into the same step as
//! every other op. Most are one dispatch; decay6 is the two matmuls of a LoRA whose second one ends
//! in `exp(−exp(·))` (matmul's epilogue), and token_shift_lora6 is a lerp, a matmul, one dispatch
//! per three outputs (a kernel binds at most 9 storage buffers, so five outputs cannot share one) and
//! the shift update.

use model::Wkv6Decay;

use super::{epi, WebGpuBackend};
use crate::buffers::{GpuAct, GpuWeight, Tracked};
use crate::kernels::Kernel;
use crate::WebGpuError;

/// Tokens per thread of token_shift_lora6.wgsl (its `TT`).
const TSL6_TOKENS: u32 = 8;
/// Outputs per token_shift_lora6.wgsl dispatch (its out bindings).
const TSL6_OUTS: usize = 3;

impl WebGpuBackend {
    /// sigmoid_mul or silu_mul (`kernel`): folded as epilogue bit `fold_bit` into the matmul just
    /// recorded when that matmul wrote `g` (the channel mix's receptance, RWKV-5's gate) and binds
    /// nothing else that `x` is; else one element-wise dispatch.
    pub(super) fn record_gate(&mut self, kernel: Kernel, fold_bit: u32, x: &GpuAct, g: &GpuAct) {
        assert_eq!(x.len(), g.len(), "{kernel:?}: x has {} values, the gate {}", x.len(), g.len());
        if self.fold_matvec(g.buf.id, fold_bit, epi::USES_RESID, Some(&x.buf), None) {
            return;
        }
        if let Some(f) = self.fusable(g.buf.id) {
            let free = f.params[f.epi_at] & epi::USES_RESID == 0 && f.bufs[..4].iter().all(|b| b.0 != x.buf.id);
            if free {
                self.refuse_last(fold_bit, Some(&x.buf), None);
                return;
            }
        }
        self.elementwise(kernel, x.len(), 0, &[&x.buf, &g.buf]);
    }

    pub(super) fn record_decay6(&mut self, x: &GpuAct, a: &GpuWeight, b: &GpuWeight, bias: &GpuWeight, mid: &GpuAct, out: &GpuAct) {
        self.matmul_epi(a, x, mid, epi::TANH, None);
        self.matmul_epi(b, mid, out, epi::ADD_BIAS | epi::EXP_NEG_EXP, Some(bias));
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_token_shift_lora6(
        &mut self,
        x: &GpuAct,
        shift: &GpuAct,
        mu_x: &GpuWeight,
        mu: &GpuWeight,
        w1: &GpuWeight,
        w2: &GpuWeight,
        mid: &GpuAct,
        outs: &[&mut GpuAct],
    ) {
        let (c, t, k) = (x.cols, x.rows, outs.len());
        let GpuWeight::Matrix { name, ty, rows, cols: d, row_words, parts } = w2 else {
            panic!("token_shift_lora6 expects W2 as a matrix weight, got vectors");
        };
        assert_eq!(*rows, k * c, "token_shift_lora6: W2 '{name}' has {rows} rows, expected {k} outputs × {c} channels");
        assert_eq!(mid.cols, k * d, "token_shift_lora6: mid has {} columns, expected {k} × {d}", mid.cols);
        if t == 0 || k == 0 {
            return;
        }
        if parts.len() != 1 {
            self.rec.deferred.get_or_insert(WebGpuError::TooLarge {
                adapter: self.gpu.name.clone(),
                what: format!("token-shift LoRA '{name}' ({rows} × {d}, split into {} parts; token_shift_lora6 binds it whole)", parts.len()),
                size: (*rows * *row_words * 4) as u64,
                max_binding: self.gpu.max_binding(),
            });
            return;
        }
        // xxx = x + (prev − x)·mu_x into outs[0] (free until its own output is written below); the
        // shift stays as it is until every output has read it.
        self.record_token_shift_lerp(x, shift, mu_x, &outs[..1], true);
        self.matmul_epi(w1, outs[0], mid, epi::TANH, None);
        let w2_buf = &parts[0].buf;
        let groups = [(c as u32).div_ceil(64), (t as u32).div_ceil(TSL6_TOKENS), 1];
        for (n, group) in outs.chunks(TSL6_OUTS).enumerate() {
            self.before_op();
            let first = n * TSL6_OUTS;
            let params = [c as u32, t as u32, first as u32, group.len() as u32, *d as u32, (k * d) as u32, *row_words as u32, 0];
            let mut tracked: Vec<&Tracked> = vec![w2_buf, &x.buf, &shift.buf, mu.vectors(), &mid.buf];
            tracked.extend((0..TSL6_OUTS).map(|o| group.get(o).map_or(&self.dummies[o], |out| &out.buf)));
            let bufs: Vec<(u64, &wgpu::Buffer)> = tracked.iter().map(|b| (b.id, &b.buffer)).collect();
            self.rec.dispatch(&self.gpu, Kernel::TokenShiftLora6(*ty), &params, &bufs, groups, [c as u32, t as u32, *d as u32]);
        }
        // shift = x[T − 1].
        self.elementwise(Kernel::CopyRows, c, ((t - 1) * c) as u32, &[&x.buf, &shift.buf]);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_wkv6(
        &mut self,
        r: &GpuAct,
        k: &GpuAct,
        v: &GpuAct,
        decay: Wkv6Decay<'_, GpuWeight, GpuAct>,
        u: &GpuWeight,
        state: &GpuAct,
        y: &GpuAct,
    ) {
        let n = (state.cols as f64).sqrt().round() as usize;
        assert_eq!(n * n, state.cols, "wkv6: state rows of {} values are not N·N", state.cols);
        assert_eq!(state.rows * n, k.cols, "wkv6: {} heads of {n} for {} channels", state.rows, k.cols);
        let max_threads = self.gpu.limits.max_compute_invocations_per_workgroup as usize;
        if n > max_threads || n * 4 * 4 > self.gpu.limits.max_compute_workgroup_storage_size as usize {
            self.rec.deferred.get_or_insert(WebGpuError::MissingCapability {
                adapter: self.gpu.name.clone(),
                what: "workgroup size",
                detail: format!("wkv6 runs one thread per value column: head size {n}, limit {max_threads}"),
            });
            return;
        }
        let (decay_buf, per_token) = match decay {
            Wkv6Decay::PerToken(a) => {
                assert_eq!(a.len(), k.len(), "wkv6: per-token decay of {} values for {} keys", a.len(), k.len());
                (&a.buf, 1)
            }
            Wkv6Decay::Static(w) => (w.vectors(), 0),
        };
        let params = [k.cols as u32, k.rows as u32, per_token, 0];
        let bufs = [&r.buf, &k.buf, &v.buf, decay_buf, u.vectors(), &state.buf, &y.buf];
        self.dispatch(Kernel::Wkv6(n as u32), &params, &bufs, [state.rows as u32, 1, 1], [k.cols as u32, k.rows as u32, n as u32]);
    }

    pub(super) fn record_wkv4(&mut self, k: &GpuAct, v: &GpuAct, w: &GpuWeight, u: &GpuWeight, state: &GpuAct, y: &GpuAct) {
        assert_eq!(state.len(), 3 * k.cols, "wkv4: state of {} values for {} channels (needs 3 rows)", state.len(), k.cols);
        let params = [k.cols as u32, k.rows as u32, 0, 0];
        let bufs = [&k.buf, &v.buf, w.vectors(), u.vectors(), &state.buf, &y.buf];
        self.dispatch(Kernel::Wkv4, &params, &bufs, [(k.cols as u32).div_ceil(64), 1, 1], [k.cols as u32, k.rows as u32, 0]);
    }

    pub(super) fn record_group_norm(&mut self, y: &GpuAct, ln_w: &GpuWeight, ln_b: &GpuWeight, head_size: usize, eps: f32) {
        assert!(head_size > 0 && y.cols.is_multiple_of(head_size), "group_norm: {} columns in heads of {head_size}", y.cols);
        let params = [y.cols as u32, head_size as u32, eps.to_bits(), 0];
        let bufs = [&y.buf, ln_w.vectors(), ln_b.vectors()];
        self.dispatch(Kernel::GroupNorm, &params, &bufs, [(y.cols / head_size) as u32, y.rows as u32, 1], [y.cols as u32, y.rows as u32, 0]);
    }
}
