//! The RWKV-4, 5 and 6 ops of `model::Ops` (decay6, token_shift_lora6, wkv6, wkv4, group_norm,
//! sigmoid_mul, silu_mul, scale) as launches: shape checks, then kernels of `rwkv_v456.cu` and
//! `token_shift_lora6.cu`, with the matmuls on the shared matmul paths (held-back matvecs for one
//! token, matmul.cu / mma.cu otherwise). `ops.rs` forwards the trait methods here.
//!
//! None of these ops is folded into held-back work: each first turns it into launches, so the
//! launch order is the ops' order (see backend.rs).

use model::Wkv6Decay;

use crate::backend::CudaBackend;
use crate::buffers::{CudaAct, CudaWeight};
use crate::pending::EPI_NONE;
use crate::recorder::Arg;

/// matmul.cu's (and matvec.cu's, mma.cu's) tanh epilogue.
const EPI_TANH: i32 = 1;
/// Outputs `token_shift_lora6.cu` takes at most (RWKV-6 uses 5: w, k, v, r, g).
const MAX_TS6_OUTS: usize = 6;
/// Rows (warps) per block and tokens per tile of `token_shift_lora6.cu`.
const TS6_ROWS_PER_BLOCK: usize = 8;
const TS6_TILE: usize = 8;

/// Threads for a block that gives one thread to each of `n` items, in whole warps.
fn warp_round(n: usize) -> u32 {
    (n.div_ceil(32) * 32) as u32
}

/// The head size of a WKV state of `[n_head, N·N]`, if `cols` is a square.
fn head_size_of(cols: usize) -> Option<usize> {
    let n = (cols as f64).sqrt().round() as usize;
    (n > 0 && n * n == cols).then_some(n)
}

impl CudaBackend {
    /// `out = W · x` with `epi`, as one held-back matvec for one token or a matmul launch otherwise.
    fn v456_matmul(&mut self, w: &CudaWeight, x: &CudaAct, out: &CudaAct, epi: i32, bias: Option<&CudaWeight>) {
        if x.rows == 1 && out.rows == 1 && self.tuning.fast_matvec {
            if let Some(job) = self.matvec_job(w, x, out, epi, bias) {
                self.queue_stage1(job);
            }
        } else {
            self.matmul_now(w, x, out, epi, bias);
        }
    }

    /// `out = exp(−exp(bias + B·tanh(A·x)))`: the LoRA on the matmul paths (bias added in the up
    /// projection's epilogue), then `exp_neg_exp`.
    pub(crate) fn v456_decay6(&mut self, x: &CudaAct, a: &CudaWeight, b: &CudaWeight, bias: &CudaWeight, mid: &mut CudaAct, out: &mut CudaAct) {
        let (t, c, rank) = (x.rows, x.cols, a.rows);
        let ok = a.cols == c
            && b.rows == c
            && b.cols == rank
            && bias.rows * bias.cols == c
            && mid.rows == t
            && mid.cols == rank
            && out.rows == t
            && out.cols == c;
        if !self.check(ok, || {
            format!(
                "decay6 of x [{t}, {c}] with A [{}, {}], B [{}, {}], bias of {} values into mid [{}, {}], out [{}, {}]; \
                 expected A [R, {c}], B [{c}, R], bias of {c}, mid [{t}, R], out [{t}, {c}]",
                a.rows,
                a.cols,
                b.rows,
                b.cols,
                bias.rows * bias.cols,
                mid.rows,
                mid.cols,
                out.rows,
                out.cols
            )
        }) {
            return;
        }
        if t == 1 && self.tuning.fast_matvec {
            let down = self.matvec_job(a, x, mid, EPI_TANH, None);
            let up = self.matvec_job(b, mid, out, EPI_NONE, Some(bias));
            if let (Some(down), Some(up)) = (down, up) {
                self.queue_lora(down, up);
            }
        } else {
            self.matmul_now(a, x, mid, EPI_TANH, None);
            self.matmul_now(b, mid, out, EPI_NONE, Some(bias));
        }
        self.flush_pending();
        self.elementwise("exp_neg_exp", &[out.ptr], out.len());
    }

    /// RWKV-6's token shift: `ts6_mix_x` (xxx, written into `outs[0]`, which is free until the
    /// last stage), `mid = tanh(W1·xxx)`, the up projections with the lerp (`ts6_up_<format>`),
    /// then `shift = x[T−1]`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn v456_token_shift_lora6(
        &mut self,
        x: &CudaAct,
        shift: &mut CudaAct,
        mu_x: &CudaWeight,
        mu: &CudaWeight,
        w1: &CudaWeight,
        w2: &CudaWeight,
        mid: &mut CudaAct,
        outs: &mut [&mut CudaAct],
    ) {
        self.flush_pending();
        let (t, c, k, d) = (x.rows, x.cols, outs.len(), w2.cols);
        let ok = (1..=MAX_TS6_OUTS).contains(&k)
            && shift.len() == c
            && mu_x.rows * mu_x.cols == c
            && mu.rows >= k
            && mu.cols == c
            && w1.rows == k * d
            && w1.cols == c
            && w2.rows == k * c
            && mid.rows == t
            && mid.cols == k * d
            && outs.iter().all(|o| o.rows == t && o.cols == c);
        if !self.check(ok, || {
            let shapes: Vec<String> = outs.iter().map(|o| format!("[{}, {}]", o.rows, o.cols)).collect();
            format!(
                "token_shift_lora6 of x [{t}, {c}] (shift of {} values, mu_x of {}, mu [{}, {}]) with W1 [{}, {}], \
                 W2 [{}, {d}], mid [{}, {}] into {k} outputs {}; expected 1..={MAX_TS6_OUTS} outputs [{t}, {c}], \
                 W1 [{k}·D, {c}], W2 [{k}·{c}, D], mid [{t}, {k}·D]",
                shift.len(),
                mu_x.rows * mu_x.cols,
                mu.rows,
                mu.cols,
                w1.rows,
                w1.cols,
                w2.rows,
                mid.rows,
                mid.cols,
                shapes.join(", ")
            )
        }) {
            return;
        }
        let Some(format) = self.matrix_format(w2, "token_shift_lora6") else { return };
        if t == 0 {
            return;
        }
        let xxx: &CudaAct = outs[0];
        let args = vec![Arg::Ptr(x.ptr), Arg::Ptr(shift.ptr), Arg::Ptr(mu_x.ptr), Arg::Ptr(xxx.ptr), Arg::I32(t as i32), Arg::I32(c as i32)];
        self.launch("ts6_mix_x", (c.div_ceil(32) as u32, 1, 1), 256, 0, args);
        self.v456_matmul(w1, xxx, mid, EPI_TANH, None);
        self.flush_pending();

        let mut args = vec![
            Arg::Ptr(w2.ptr),
            Arg::U64(w2.row_bytes as u64),
            Arg::Ptr(mid.ptr),
            Arg::Ptr(x.ptr),
            Arg::Ptr(shift.ptr),
            Arg::Ptr(mu.ptr),
        ];
        args.extend((0..MAX_TS6_OUTS).map(|i| Arg::Ptr(outs.get(i).map_or(0, |o| o.ptr))));
        args.extend([Arg::I32(k as i32), Arg::I32(d as i32), Arg::I32(c as i32), Arg::I32(t as i32)]);
        let grid = (c.div_ceil(TS6_ROWS_PER_BLOCK) as u32, t.div_ceil(TS6_TILE) as u32, k as u32);
        self.launch(&format!("ts6_up_{}", format.name), grid, (32 * TS6_ROWS_PER_BLOCK) as u32, 0, args);
        // Last: every stage above read the old shift.
        self.elementwise("copy_rows", &[x.ptr + 4 * ((t - 1) * c) as u64, shift.ptr], c);
    }

    /// The WKV of RWKV-6 (decay per token) and RWKV-5 (one decay vector).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn v456_wkv6(
        &mut self,
        r: &CudaAct,
        k: &CudaAct,
        v: &CudaAct,
        decay: Wkv6Decay<'_, CudaWeight, CudaAct>,
        u: &CudaWeight,
        state: &mut CudaAct,
        y: &mut CudaAct,
    ) {
        self.flush_pending();
        let (t, c, h) = (k.rows, k.cols, state.rows);
        let (w_ptr, w_stride, w_ok, w_shape) = match decay {
            Wkv6Decay::PerToken(d) => (d.ptr, c, d.rows == t && d.cols == c, format!("[{}, {}] per token", d.rows, d.cols)),
            Wkv6Decay::Static(w) => (w.ptr, 0, w.rows * w.cols == c, format!("[{}, {}] static", w.rows, w.cols)),
        };
        let n = head_size_of(state.cols).unwrap_or(0);
        let (shared, limit) = ((n * n + 4 * n) * 4, self.shared_limit);
        let ok = n > 0
            && n <= 1024
            && h * n == c
            && w_ok
            && u.rows * u.cols == c
            && [r, v, &*y].iter().all(|b| b.rows == t && b.cols == c)
            && shared <= limit;
        if !self.check(ok, || {
            format!(
                "wkv6 over k [{t}, {c}] with state [{h}, {}], decay {w_shape}, u of {} values, r [{}, {}], v [{}, {}], \
                 y [{}, {}] ({shared} bytes of shared memory, the device allows {limit}); expected state [H, N·N] with H·N = {c}",
                state.cols,
                u.rows * u.cols,
                r.rows,
                r.cols,
                v.rows,
                v.cols,
                y.rows,
                y.cols
            )
        }) {
            return;
        }
        let args = vec![
            Arg::Ptr(r.ptr),
            Arg::Ptr(k.ptr),
            Arg::Ptr(v.ptr),
            Arg::Ptr(w_ptr),
            Arg::I32(w_stride as i32),
            Arg::Ptr(u.ptr),
            Arg::Ptr(state.ptr),
            Arg::Ptr(y.ptr),
            Arg::I32(t as i32),
            Arg::I32(c as i32),
            Arg::I32(n as i32),
        ];
        self.launch("wkv6", (h as u32, 1, 1), warp_round(n), shared as u32, args);
    }

    /// RWKV-4's WKV, one thread per channel.
    pub(crate) fn v456_wkv4(&mut self, k: &CudaAct, v: &CudaAct, w: &CudaWeight, u: &CudaWeight, state: &mut CudaAct, y: &mut CudaAct) {
        self.flush_pending();
        let (t, c) = (k.rows, k.cols);
        let ok = v.rows == t
            && v.cols == c
            && y.rows == t
            && y.cols == c
            && w.rows * w.cols == c
            && u.rows * u.cols == c
            && state.len() == 3 * c;
        if !self.check(ok, || {
            format!(
                "wkv4 over k [{t}, {c}] with v [{}, {}], y [{}, {}], w of {} values, u of {}, state of {} values; \
                 expected [{t}, {c}] buffers, {c} values of w and u, state [3, {c}]",
                v.rows,
                v.cols,
                y.rows,
                y.cols,
                w.rows * w.cols,
                u.rows * u.cols,
                state.len()
            )
        }) {
            return;
        }
        let args = vec![
            Arg::Ptr(k.ptr),
            Arg::Ptr(v.ptr),
            Arg::Ptr(w.ptr),
            Arg::Ptr(u.ptr),
            Arg::Ptr(state.ptr),
            Arg::Ptr(y.ptr),
            Arg::I32(t as i32),
            Arg::I32(c as i32),
        ];
        self.launch("wkv4", (c.div_ceil(128).max(1) as u32, 1, 1), 128, 0, args);
    }

    /// Per-head GroupNorm with its affine, in place.
    pub(crate) fn v456_group_norm(&mut self, y: &mut CudaAct, ln_w: &CudaWeight, ln_b: &CudaWeight, head_size: usize, eps: f32) {
        self.flush_pending();
        let (t, c, n) = (y.rows, y.cols, head_size);
        let ok = n > 0 && n <= 1024 && c % n == 0 && ln_w.rows * ln_w.cols == c && ln_b.rows * ln_b.cols == c;
        if !self.check(ok, || {
            format!(
                "group_norm of y [{t}, {c}] with head size {n}, ln_w of {} values, ln_b of {}; expected a head size \
                 in 1..=1024 dividing {c}, and {c} values each",
                ln_w.rows * ln_w.cols,
                ln_b.rows * ln_b.cols
            )
        }) {
            return;
        }
        if t == 0 {
            return;
        }
        let args = vec![Arg::Ptr(y.ptr), Arg::Ptr(ln_w.ptr), Arg::Ptr(ln_b.ptr), Arg::f32(eps), Arg::I32(c as i32), Arg::I32(n as i32)];
        self.launch("group_norm", ((c / n) as u32, t as u32, 1), warp_round(n), 0, args);
    }

    /// `x ⊙= σ(g)` (`silu = false`) or `x ⊙= g·σ(g)` (`silu = true`).
    pub(crate) fn v456_gate(&mut self, x: &mut CudaAct, g: &CudaAct, silu: bool) {
        self.flush_pending();
        let name = if silu { "silu_mul" } else { "sigmoid_mul" };
        let n = x.len();
        if self.check(g.len() == n, || format!("{name} of {n} values by a gate of {} values", g.len())) {
            self.elementwise(name, &[x.ptr, g.ptr], n);
        }
    }

    /// `x ·= factor`.
    pub(crate) fn v456_scale(&mut self, x: &mut CudaAct, factor: f32) {
        self.flush_pending();
        let n = x.len();
        let blocks = n.div_ceil(256).clamp(1, 65535) as u32;
        self.launch("scale", (blocks, 1, 1), 256, 0, vec![Arg::Ptr(x.ptr), Arg::f32(factor), Arg::U64(n as u64)]);
    }
}
