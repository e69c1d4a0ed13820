//! `model::Ops` for [`CudaBackend`]: shape checks, then launches (see backend.rs for when they are
//! held back and folded together).

use cudarc::driver::DevicePtr;
use gguf::GgmlType;
use model::{Architecture, LoraKind, ModelError, Ops, TensorSource, Wkv6Decay};

use crate::backend::{CudaBackend, LnJob, LN_LERP_MAX_C, LN_LERP_THREADS};
use crate::ops_rows::WkvState;
use crate::buffers::{CudaAct, CudaWeight};
use crate::pending::{Span, EPI_NONE};
use crate::recorder::Arg;
use crate::CudaError;

/// Epilogues shared by matmul.cu, matvec.cu and mma.cu (see their headers).
const EPI_TANH: i32 = 1;
const EPI_SIGMOID: i32 = 2;
const EPI_BIAS_DECAY: i32 = 3;
const EPI_BIAS_SIGMOID: i32 = 4;

/// Threads for a block that gives one thread to each of `n` items, in whole warps.
pub(crate) fn warp_round(n: usize) -> u32 {
    (n.div_ceil(32) * 32) as u32
}

/// Tokens per prefill step the runner should use. Multi-token matmuls run on cuBLAS (gemm.rs), which
/// dequantizes every weight into an f16 panel once per step: 512 tokens halve that cost per token
/// against 256 and give each GEMM twice the columns (a 2560-row GEMM of 256 tokens filled the GPU
/// poorly). Activations of a 2.9b model at 512 tokens stay in the tens of MB.
pub const PREFILL_CHUNK: usize = 512;

fn span(a: &CudaAct) -> Span {
    Span::f32s(a.ptr, a.len())
}

impl CudaBackend {
    /// Whether a one-token matmul goes through the held-back matvec path.
    fn use_matvec(&self, tokens: usize) -> bool {
        tokens == 1 && self.tuning.fast_matvec
    }

    /// Big F16 matrices go to matmul.cu's warp-per-row kernel for one token: it keeps four 16-byte
    /// loads per lane in flight, where matvec.cu's float path keeps two (kernel_bench on the H200:
    /// 2560×10240 19.7 µs against 32.5 µs, 10240×2560 16.1 against 19.8).
    fn big_f16(&self, w: &CudaWeight) -> bool {
        self.tuning.mv_f16_warp && w.ty == GgmlType::F16 && w.rows * w.cols >= 1 << 20
    }

    fn matmul_epi(&mut self, w: &CudaWeight, x: &CudaAct, out: &CudaAct, epi: i32, bias: Option<&CudaWeight>) {
        if self.use_matvec(x.rows) && out.rows == 1 && !self.big_f16(w) {
            if let Some(job) = self.matvec_job(w, x, out, epi, bias) {
                self.queue_stage1(job);
            }
        } else {
            self.matmul_now(w, x, out, epi, bias);
        }
    }
}

impl CudaBackend {
    /// The argmax of every row of `logits`, computed on the device (see argmax_rows).
    fn argmax_rows(&mut self, logits: &CudaAct) -> Result<Vec<u32>, ModelError> {
        self.flush_pending();
        self.take_error()?;
        let rows = logits.rows;
        let ids = self.stream.alloc_zeros::<u32>(rows.max(1)).map_err(|e| CudaError::driver("argmax ids", e))?;
        let ptr = ids.device_ptr(&self.stream).0;
        self.launch("argmax_rows", (rows as u32, 1, 1), 1024, 0, vec![Arg::Ptr(logits.ptr), Arg::Ptr(ptr), Arg::I32(logits.cols as i32)]);
        self.take_error()?;
        self.rec.flush()?;
        let out = self.stream.clone_dtoh(&ids.slice(..rows)).map_err(|e| CudaError::driver("device-to-host copy", e))?;
        self.stream.synchronize().map_err(|e| CudaError::driver("stream synchronize", e))?;
        Ok(out)
    }
}

impl Ops for CudaBackend {
    type Weight = CudaWeight;
    type Act = CudaAct;

    fn backend_name(&self) -> &'static str {
        "cuda"
    }

    fn device_name(&self) -> String {
        self.device_label()
    }

    fn upload_matrix(&mut self, src: &TensorSource) -> Result<CudaWeight, ModelError> {
        Ok(self.upload_raw(&src.info.name, src.info.ty, src.rows(), src.cols(), src.bytes())?)
    }

    fn upload_vectors(&mut self, rows: usize, cols: usize, data: Vec<f32>) -> Result<CudaWeight, ModelError> {
        if data.len() != rows * cols {
            return Err(ModelError::StateMismatch { what: "vector parameter length", expected: rows * cols, found: data.len() });
        }
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let buf = self.upload_bytes("vector parameter", &bytes)?;
        let ptr = buf.device_ptr(&self.stream).0;
        Ok(CudaWeight { ty: GgmlType::F32, rows, cols, row_bytes: cols * 4, ptr, _buf: buf, format: None })
    }

    fn alloc(&mut self, rows: usize, cols: usize) -> Result<CudaAct, ModelError> {
        let buf = self
            .stream
            .alloc_zeros::<f32>((rows * cols).max(1))
            .map_err(|e| CudaError::driver(format!("allocating [{rows}, {cols}] f32"), e))?;
        let ptr = buf.device_ptr(&self.stream).0;
        Ok(CudaAct { rows, cols, ptr, buf })
    }

    fn read(&mut self, x: &CudaAct) -> Result<Vec<f32>, ModelError> {
        self.flush_pending();
        self.take_error()?;
        self.rec.flush()?;
        let out = self.stream.clone_dtoh(&x.buf.slice(..x.len())).map_err(|e| CudaError::driver("device-to-host copy", e))?;
        self.stream.synchronize().map_err(|e| CudaError::driver("stream synchronize", e))?;
        Ok(out)
    }

    fn write(&mut self, x: &mut CudaAct, data: &[f32]) -> Result<(), ModelError> {
        self.flush_pending();
        self.take_error()?;
        if data.len() != x.len() {
            return Err(ModelError::StateMismatch { what: "buffer length", expected: x.len(), found: data.len() });
        }
        self.rec.flush()?;
        let len = x.len();
        let mut view = x.buf.slice_mut(..len);
        self.stream.memcpy_htod(data, &mut view).map_err(|e| CudaError::driver("host-to-device copy", e))?;
        Ok(())
    }

    fn begin_step(&mut self) -> Result<(), ModelError> {
        self.flush_pending();
        self.take_error()?;
        self.embeds_in_step = 0;
        self.batch_step = false;
        Ok(self.rec.begin_step()?)
    }

    fn begin_batch_step(&mut self) -> Result<(), ModelError> {
        self.begin_step()?;
        // Batched decode steps repeat their launches like one-token steps: keep them in graphs.
        self.batch_step = true;
        Ok(())
    }

    fn end_step(&mut self) -> Result<(), ModelError> {
        self.flush_pending();
        if self.has_error() {
            // Drop the step's queued launches: they may refer to a failed setup.
            let _ = self.rec.end_step_discard();
            self.take_error()?;
        }
        Ok(self.rec.end_step()?)
    }

    fn embed(&mut self, table: &CudaWeight, tokens: &[u32], out: &mut CudaAct) {
        self.flush_pending();
        let Some(format) = self.matrix_format(table, "embed") else { return };
        let (t, c) = (tokens.len(), table.cols);
        if !self.check(out.rows == t && out.cols == c, || format!("embed of {t} tokens of width {c} into [{}, {}]", out.rows, out.cols)) {
            return;
        }
        if t > 1 && !self.tuning.graphs_for_prefill && !self.batch_step {
            let r = self.rec.issue_step_directly();
            self.note(r);
        }
        let tok = match self.token_buffer(tokens) {
            Ok(p) => p,
            Err(e) => return self.note(Err(e)),
        };
        self.embeds_in_step += 1;
        let units = format.units_per_row(c);
        let args = vec![Arg::Ptr(table.ptr), Arg::U64(table.row_bytes as u64), Arg::Ptr(tok), Arg::Ptr(out.ptr), Arg::I32(c as i32)];
        self.launch(&format!("embed_{}", format.name), (units.div_ceil(128) as u32, t as u32, 1), 128, 0, args);
    }

    fn layer_norm(&mut self, x: &CudaAct, w: &CudaWeight, b: &CudaWeight, eps: f32, out: &mut CudaAct) {
        self.flush_pending();
        let c = x.cols;
        if !self.check(w.cols == c && b.cols == c && out.cols == c && out.rows == x.rows, || format!("layer_norm of [{}, {c}]", x.rows)) {
            return;
        }
        if x.rows == 1 && self.tuning.fuse && c <= LN_LERP_MAX_C {
            self.pending_ln = Some(LnJob { x: x.ptr, w: w.ptr, b: b.ptr, eps, out: span(out), c });
            return;
        }
        let args = vec![Arg::Ptr(x.ptr), Arg::Ptr(w.ptr), Arg::Ptr(b.ptr), Arg::f32(eps), Arg::Ptr(out.ptr), Arg::I32(c as i32)];
        self.launch("layer_norm", (x.rows as u32, 1, 1), 256, 0, args);
    }

    fn token_shift_lerp(&mut self, x: &CudaAct, shift: &mut CudaAct, mu: &CudaWeight, outs: &mut [&mut CudaAct]) {
        let (t, c) = (x.rows, x.cols);
        let ok = outs.len() <= 6
            && mu.rows >= outs.len()
            && mu.cols == c
            && shift.len() == c
            && outs.iter().all(|o| o.rows == t && o.cols == c);
        let fusable = ok && matches!(&self.pending_ln, Some(ln) if ln.out == span(x) && ln.c == c && t == 1);
        if fusable {
            let ln = self.pending_ln.take().expect("checked above");
            let mut args = vec![Arg::Ptr(ln.x), Arg::Ptr(ln.w), Arg::Ptr(ln.b), Arg::f32(ln.eps), Arg::Ptr(ln.out.ptr), Arg::I32(c as i32)];
            args.extend([Arg::Ptr(shift.ptr), Arg::Ptr(mu.ptr)]);
            args.extend((0..6).map(|i| Arg::Ptr(outs.get(i).map_or(0, |o| o.ptr))));
            args.push(Arg::I32(outs.len() as i32));
            self.launch("layer_norm_lerp", (c.div_ceil(LN_LERP_THREADS as usize) as u32, 1, 1), LN_LERP_THREADS, 0, args);
            return;
        }
        self.flush_pending();
        if !self.check(ok, || format!("token_shift_lerp of [{t}, {c}] into {} outputs (at most 6)", outs.len())) {
            return;
        }
        let mut args = vec![Arg::Ptr(x.ptr), Arg::Ptr(shift.ptr), Arg::Ptr(mu.ptr)];
        args.extend((0..6).map(|i| Arg::Ptr(outs.get(i).map_or(0, |o| o.ptr))));
        args.extend([Arg::I32(outs.len() as i32), Arg::I32(t as i32), Arg::I32(c as i32)]);
        self.launch("token_shift_lerp", (c.div_ceil(32) as u32, 1, 1), 256, 0, args);
    }

    fn matmul(&mut self, w: &CudaWeight, x: &CudaAct, out: &mut CudaAct) {
        self.matmul_epi(w, x, out, EPI_NONE, None);
    }

    fn lora(
        &mut self,
        kind: LoraKind,
        x: &CudaAct,
        a: &CudaWeight,
        b: &CudaWeight,
        bias: Option<&CudaWeight>,
        mid: &mut CudaAct,
        out: &mut CudaAct,
    ) {
        let (mid_epi, out_epi) = match kind {
            LoraKind::Decay => (EPI_TANH, EPI_BIAS_DECAY),
            LoraKind::SigmoidOut => (EPI_NONE, EPI_BIAS_SIGMOID),
            LoraKind::Gate => (EPI_SIGMOID, EPI_NONE),
        };
        if self.use_matvec(x.rows) && mid.rows == 1 && out.rows == 1 {
            let down = self.matvec_job(a, x, mid, mid_epi, None);
            let up = self.matvec_job(b, mid, out, out_epi, bias);
            if let (Some(down), Some(up)) = (down, up) {
                self.queue_lora(down, up);
            }
            return;
        }
        self.matmul_now(a, x, mid, mid_epi, None);
        self.matmul_now(b, mid, out, out_epi, bias);
    }

    fn value_residual(&mut self, v: &mut CudaAct, v_first: &CudaAct, mix: &CudaAct) {
        let n = v.len();
        let ok = v_first.len() == n && mix.len() == n;
        if ok && self.tuning.fuse && self.queue.fold_value_residual(span(v), span(v_first), span(mix)) {
            return;
        }
        self.flush_pending();
        if self.check(ok, || format!("value_residual over {n} values")) {
            self.elementwise("value_residual", &[v.ptr, v_first.ptr, mix.ptr], n);
        }
    }

    fn wkv7(
        &mut self,
        r: &CudaAct,
        decay: &CudaAct,
        k: &mut CudaAct,
        v: &CudaAct,
        a: &CudaAct,
        k_k: &CudaWeight,
        k_a: &CudaWeight,
        state: &mut CudaAct,
        y: &mut CudaAct,
    ) {
        let (heads, cols, ptr) = (state.rows, state.cols, state.ptr);
        self.wkv7_launch(r, decay, k, v, a, k_k, k_a, heads, cols, WkvState::Sequence(ptr), y);
    }

    fn batched_decode(&self) -> bool {
        true
    }

    fn token_shift_lerp_rows(&mut self, x: &CudaAct, shifts: &mut [&mut CudaAct], mu: &CudaWeight, outs: &mut [&mut CudaAct]) {
        self.token_shift_lerp_rows_impl(x, shifts, mu, outs)
    }

    fn wkv7_rows(
        &mut self,
        r: &CudaAct,
        decay: &CudaAct,
        k: &mut CudaAct,
        v: &CudaAct,
        a: &CudaAct,
        k_k: &CudaWeight,
        k_a: &CudaWeight,
        states: &mut [&mut CudaAct],
        y: &mut CudaAct,
    ) {
        self.wkv7_rows_impl(r, decay, k, v, a, k_k, k_a, states, y)
    }

    fn wkv7_output(
        &mut self,
        y: &mut CudaAct,
        r: &CudaAct,
        k: &CudaAct,
        v: &CudaAct,
        g: &CudaAct,
        r_k: &CudaWeight,
        ln_w: &CudaWeight,
        ln_b: &CudaWeight,
        head_size: usize,
        eps: f32,
    ) {
        let (t, c, n) = (y.rows, y.cols, head_size);
        let ok = n > 0
            && n <= 1024
            && c % n == 0
            && [r, k, v, g].iter().all(|b| b.rows == t && b.cols == c)
            && [r_k, ln_w, ln_b].iter().all(|w| w.cols == c);
        let fusable = ok
            && n == 64
            && matches!(&self.pending_wkv, Some(p) if p.y == y.ptr && p.r == r.ptr && p.k == k.ptr && p.v == v.ptr);
        if fusable {
            let wkv = self.pending_wkv.take().expect("checked above");
            let mut args = wkv.args;
            args.extend([Arg::I32(1), Arg::Ptr(g.ptr), Arg::Ptr(r_k.ptr), Arg::Ptr(ln_w.ptr), Arg::Ptr(ln_b.ptr), Arg::f32(eps)]);
            args.push(Arg::Ptr(wkv.rows_table));
            self.launch("wkv7_h64", (wkv.heads as u32, wkv.rows as u32, 1), 256, 0, args);
            return;
        }
        self.flush_pending();
        if !self.check(ok, || format!("wkv7_output over [{t}, {c}] with head size {n}")) {
            return;
        }
        let args = vec![
            Arg::Ptr(y.ptr),
            Arg::Ptr(r.ptr),
            Arg::Ptr(k.ptr),
            Arg::Ptr(v.ptr),
            Arg::Ptr(g.ptr),
            Arg::Ptr(r_k.ptr),
            Arg::Ptr(ln_w.ptr),
            Arg::Ptr(ln_b.ptr),
            Arg::f32(eps),
            Arg::I32(c as i32),
            Arg::I32(n as i32),
        ];
        self.launch("wkv7_output", ((c / n) as u32, t as u32, 1), warp_round(n), 0, args);
    }

    fn add(&mut self, x: &mut CudaAct, y: &CudaAct) {
        let n = x.len();
        if y.len() == n && self.tuning.fuse && self.queue.fold_add(span(x), span(y)) {
            return;
        }
        self.flush_pending();
        if self.check(y.len() == n, || format!("add of {} values to {n}", y.len())) {
            self.elementwise("add", &[x.ptr, y.ptr], n);
        }
    }

    fn relu_square(&mut self, x: &mut CudaAct) {
        if self.tuning.fuse && self.queue.fold_relu_square(span(x)) {
            return;
        }
        self.flush_pending();
        self.elementwise("relu_square", &[x.ptr], x.len());
    }

    fn argmax(&mut self, logits: &CudaAct) -> Option<Result<Vec<u32>, ModelError>> {
        Some(self.argmax_rows(logits))
    }

    fn preferred_chunk(&self) -> usize {
        self.tuning.prefill_chunk
    }

    fn copy_rows(&mut self, x: &CudaAct, first: usize, out: &mut CudaAct) {
        self.flush_pending();
        let start = first * x.cols;
        let n = out.len();
        if self.check(out.cols == x.cols && start + n <= x.len(), || {
            format!("copy_rows of {} rows from row {first} of [{}, {}]", out.rows, x.rows, x.cols)
        }) {
            self.elementwise("copy_rows", &[x.ptr + 4 * start as u64, out.ptr], n);
        }
    }

    // ---- RWKV-4, 5 and 6: implemented in ops_v456.rs ----

    fn supports(&self, _arch: Architecture) -> bool {
        true
    }

    fn decay6(&mut self, x: &CudaAct, a: &CudaWeight, b: &CudaWeight, bias: &CudaWeight, mid: &mut CudaAct, out: &mut CudaAct) {
        self.v456_decay6(x, a, b, bias, mid, out);
    }

    fn token_shift_lora6(
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
        self.v456_token_shift_lora6(x, shift, mu_x, mu, w1, w2, mid, outs);
    }

    fn wkv6(&mut self, r: &CudaAct, k: &CudaAct, v: &CudaAct, decay: Wkv6Decay<'_, CudaWeight, CudaAct>, u: &CudaWeight, state: &mut CudaAct, y: &mut CudaAct) {
        self.v456_wkv6(r, k, v, decay, u, state, y);
    }

    fn wkv4(&mut self, k: &CudaAct, v: &CudaAct, w: &CudaWeight, u: &CudaWeight, state: &mut CudaAct, y: &mut CudaAct) {
        self.v456_wkv4(k, v, w, u, state, y);
    }

    fn group_norm(&mut self, y: &mut CudaAct, ln_w: &CudaWeight, ln_b: &CudaWeight, head_size: usize, eps: f32) {
        self.v456_group_norm(y, ln_w, ln_b, head_size, eps);
    }

    fn sigmoid_mul(&mut self, x: &mut CudaAct, g: &CudaAct) {
        self.v456_gate(x, g, false);
    }

    fn silu_mul(&mut self, x: &mut CudaAct, g: &CudaAct) {
        self.v456_gate(x, g, true);
    }

    fn scale(&mut self, x: &mut CudaAct, factor: f32) {
        self.v456_scale(x, factor);
    }
}
