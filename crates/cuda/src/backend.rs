//! `CudaBackend`: the op set of `model::Ops` as CUDA kernels on one device and one stream.
//!
//! Ops never launch anything themselves: each builds a [`Launch`] (kernel, grid, arguments by value)
//! and hands it to the [`Recorder`], which issues it at once outside a step and, inside a step, as
//! one CUDA graph at `end_step` (captured on first sight of that exact launch list, replayed after).
//! Ops return nothing, so the first error of a step is kept and returned by `end_step` (or by the next
//! `read`/`write`).

use std::collections::HashMap;
use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaSlice, CudaStream, DevicePtr};
use gguf::GgmlType;
use model::{LoraKind, ModelError, Ops, TensorSource};

use crate::buffers::{CudaAct, CudaWeight};
use crate::device::{self, Kernel};
use crate::formats::{self, Format};
use crate::recorder::{Arg, GraphStats, Launch, Recorder};
use crate::CudaError;

/// Epilogues of `matmul.cu` (see its header).
const EPI_NONE: i32 = 0;
const EPI_TANH: i32 = 1;
const EPI_SIGMOID: i32 = 2;
const EPI_BIAS_DECAY: i32 = 3;
const EPI_BIAS_SIGMOID: i32 = 4;

/// Rows per block of the matmul kernels (one warp each) and tokens per tile of the prefill variant.
const MATMUL_ROWS_PER_BLOCK: usize = 8;
const MATMUL_TILE_TOKENS: usize = 8;

/// The CUDA backend.
pub struct CudaBackend {
    /// Kept for the backend's lifetime (the stream and buffers hold it too).
    _ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    kernels: HashMap<&'static str, Kernel>,
    rec: Recorder,
    /// Device buffers for token ids, by (chunk length, embed call within the step): fixed addresses,
    /// so that steps repeat their launch lists exactly.
    token_bufs: HashMap<(usize, usize), (CudaSlice<u32>, u64)>,
    embeds_in_step: usize,
    error: Option<CudaError>,
    device: String,
    arch: String,
    shared_limit: usize,
}

impl CudaBackend {
    /// Opens device `ordinal`, compiles every kernel for it with NVRTC (once per process and
    /// architecture) and loads them.
    pub fn new(ordinal: usize) -> Result<Self, CudaError> {
        let ctx = device::open_context(ordinal)?;
        let stream = ctx.new_stream().map_err(|e| CudaError::driver("creating a stream", e))?;
        let arch = device::arch(&ctx)?;
        let kernels = device::load_kernels(&ctx, &arch)?;
        let shared_limit = device::shared_memory_limit(&ctx)?;
        let name = ctx.name().map_err(|e| CudaError::driver("device name", e))?;
        Ok(CudaBackend {
            rec: Recorder::new(stream.clone()),
            _ctx: ctx,
            stream,
            kernels,
            token_bufs: HashMap::new(),
            embeds_in_step: 0,
            error: None,
            device: format!("{name} ({arch})"),
            arch,
            shared_limit,
        })
    }

    /// The NVRTC target this backend compiled for (`sm_90` on an H200).
    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// Turns CUDA graph capture of steps on (the default) or off (every launch issued directly).
    pub fn set_use_graphs(&mut self, on: bool) {
        self.rec.use_graphs = on;
    }

    /// How steps were issued so far.
    pub fn graph_stats(&self) -> GraphStats {
        self.rec.stats
    }

    /// Graphs held now.
    pub fn graph_count(&self) -> usize {
        self.rec.graph_count()
    }

    /// Waits until the device has finished all work issued so far.
    pub fn synchronize(&mut self) -> Result<(), CudaError> {
        self.rec.flush()?;
        self.stream.synchronize().map_err(|e| CudaError::driver("stream synchronize", e))
    }

    /// Uploads a matrix of `rows` × `cols` in its stored type from raw GGUF bytes (`name` is for
    /// messages). `upload_matrix` calls this; tests use it directly.
    pub fn upload_raw(&mut self, name: &str, ty: GgmlType, rows: usize, cols: usize, bytes: &[u8]) -> Result<CudaWeight, CudaError> {
        let format = formats::for_type(ty, cols).ok_or_else(|| CudaError::UnsupportedType { ty, tensor: name.into() })?;
        let row_bytes = quant::row_bytes(ty, cols).map_err(|e| CudaError::driver(format!("tensor '{name}'"), e))?;
        let needed = rows * row_bytes;
        if bytes.len() != needed {
            return Err(CudaError::TensorBytes { tensor: name.into(), ty, rows, cols, needed, found: bytes.len() });
        }
        let buf = self.upload_bytes(name, bytes)?;
        let ptr = buf.device_ptr(&self.stream).0;
        Ok(CudaWeight { ty, rows, cols, row_bytes, ptr, _buf: buf, format: Some(format) })
    }

    fn upload_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<CudaSlice<u8>, CudaError> {
        // Never a zero-sized allocation: every buffer has a valid address.
        let result = if bytes.is_empty() { self.stream.alloc_zeros::<u8>(16) } else { self.stream.clone_htod(bytes) };
        result.map_err(|e| CudaError::driver(format!("upload of '{name}' ({} bytes)", bytes.len()), e))
    }

    /// Keeps the first error of a step for `end_step`.
    fn note(&mut self, r: Result<(), CudaError>) {
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }

    fn take_error(&mut self) -> Result<(), ModelError> {
        match self.error.take() {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    fn kernel(&self, name: &str) -> Result<(usize, &'static str), CudaError> {
        self.kernels.get(name).map(|k| (k.addr(), k.name)).ok_or_else(|| CudaError::MissingKernel { name: name.into() })
    }

    fn launch(&mut self, name: &str, grid: (u32, u32, u32), block: u32, shared_bytes: u32, args: Vec<Arg>) {
        let r = self.kernel(name).and_then(|(func, name)| {
            self.rec.push(Launch { func, name, grid, block: (block, 1, 1), shared_bytes, args })
        });
        self.note(r);
    }

    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) -> bool {
        if !ok {
            self.note(Err(CudaError::Driver { what: "shape check".into(), reason: what() }));
        }
        ok
    }

    /// `out = epi(W · x + bias)` (see matmul.cu).
    fn matmul_epi(&mut self, w: &CudaWeight, x: &CudaAct, out: &CudaAct, epi: i32, bias: Option<&CudaWeight>) {
        let Some(format) = w.format else {
            self.note(Err(CudaError::driver("matmul", "the weight is a vector parameter, not a matrix")));
            return;
        };
        let (m, k, t) = (w.rows, w.cols, x.rows);
        if !self.check(x.cols == k && out.cols == m && out.rows == t, || {
            format!("matmul of W [{m}, {k}] with x [{}, {}] into out [{}, {}]", x.rows, x.cols, out.rows, out.cols)
        }) {
            return;
        }
        let tile = if t == 1 { 1 } else { MATMUL_TILE_TOKENS };
        let name = format!("matmul_{}_t{tile}", format.name);
        let grid = (m.div_ceil(MATMUL_ROWS_PER_BLOCK) as u32, t.div_ceil(tile) as u32, 1);
        let args = vec![
            Arg::Ptr(w.ptr),
            Arg::U64(w.row_bytes as u64),
            Arg::Ptr(x.ptr),
            Arg::Ptr(out.ptr),
            Arg::I32(m as i32),
            Arg::I32(k as i32),
            Arg::I32(t as i32),
            Arg::I32(epi),
            Arg::Ptr(bias.map_or(0, |b| b.ptr)),
        ];
        self.launch(&name, grid, (32 * MATMUL_ROWS_PER_BLOCK) as u32, 0, args);
    }

    fn elementwise(&mut self, name: &str, ptrs: &[u64], n: usize) {
        let blocks = n.div_ceil(256).clamp(1, 65535) as u32;
        let mut args: Vec<Arg> = ptrs.iter().map(|&p| Arg::Ptr(p)).collect();
        args.push(Arg::U64(n as u64));
        self.launch(name, (blocks, 1, 1), 256, 0, args);
    }

    fn token_buffer(&mut self, tokens: &[u32]) -> Result<u64, CudaError> {
        let key = (tokens.len(), self.embeds_in_step);
        if !self.token_bufs.contains_key(&key) {
            let buf = self.stream.alloc_zeros::<u32>(tokens.len().max(1)).map_err(|e| CudaError::driver("token buffer", e))?;
            let ptr = buf.device_ptr(&self.stream).0;
            self.token_bufs.insert(key, (buf, ptr));
        }
        let (buf, ptr) = self.token_bufs.get_mut(&key).expect("inserted above");
        // Stream-ordered: earlier steps that read this buffer finish first, this step's launches
        // (queued, not yet issued) come after.
        let mut view = buf.slice_mut(..tokens.len());
        self.stream.memcpy_htod(tokens, &mut view).map_err(|e| CudaError::driver("token upload", e))?;
        Ok(*ptr)
    }
}

/// Threads for a block that gives one thread to each of `n` items, in whole warps.
fn warp_round(n: usize) -> u32 {
    (n.div_ceil(32) * 32) as u32
}

impl Ops for CudaBackend {
    type Weight = CudaWeight;
    type Act = CudaAct;

    fn backend_name(&self) -> &'static str {
        "cuda"
    }

    fn device_name(&self) -> String {
        self.device.clone()
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
        self.take_error()?;
        self.rec.flush()?;
        let out = self.stream.clone_dtoh(&x.buf.slice(..x.len())).map_err(|e| CudaError::driver("device-to-host copy", e))?;
        self.stream.synchronize().map_err(|e| CudaError::driver("stream synchronize", e))?;
        Ok(out)
    }

    fn write(&mut self, x: &mut CudaAct, data: &[f32]) -> Result<(), ModelError> {
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
        self.take_error()?;
        self.embeds_in_step = 0;
        Ok(self.rec.begin_step()?)
    }

    fn end_step(&mut self) -> Result<(), ModelError> {
        if let Some(e) = self.error.take() {
            // Drop the step's queued launches: they may refer to a failed setup.
            let _ = self.rec.end_step_discard();
            return Err(e.into());
        }
        Ok(self.rec.end_step()?)
    }

    fn embed(&mut self, table: &CudaWeight, tokens: &[u32], out: &mut CudaAct) {
        let Some(format) = table.format else {
            self.note(Err(CudaError::driver("embed", "the table is a vector parameter, not a matrix")));
            return;
        };
        let (t, c) = (tokens.len(), table.cols);
        if !self.check(out.rows == t && out.cols == c, || format!("embed of {t} tokens of width {c} into [{}, {}]", out.rows, out.cols)) {
            return;
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
        let c = x.cols;
        if !self.check(w.cols == c && b.cols == c && out.cols == c && out.rows == x.rows, || format!("layer_norm of [{}, {c}]", x.rows)) {
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
        if !self.check(ok, || format!("token_shift_lerp of [{t}, {c}] into {} outputs (at most 6)", outs.len())) {
            return;
        }
        let mut args = vec![Arg::Ptr(x.ptr), Arg::Ptr(shift.ptr), Arg::Ptr(mu.ptr)];
        args.extend((0..6).map(|i| Arg::Ptr(outs.get(i).map_or(0, |o| o.ptr))));
        args.extend([Arg::I32(outs.len() as i32), Arg::I32(t as i32), Arg::I32(c as i32)]);
        self.launch("token_shift_lerp", (c.div_ceil(256) as u32, 1, 1), 256, 0, args);
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
        self.matmul_epi(a, x, mid, mid_epi, None);
        self.matmul_epi(b, mid, out, out_epi, bias);
    }

    fn value_residual(&mut self, v: &mut CudaAct, v_first: &CudaAct, mix: &CudaAct) {
        let n = v.len();
        if self.check(v_first.len() == n && mix.len() == n, || format!("value_residual over {n} values")) {
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
        let n = (state.cols as f64).sqrt().round() as usize;
        let (t, c, h) = (k.rows, k.cols, state.rows);
        let shared = (n * (n + 1) + 5 * n + 32) * 4;
        let ok = n * n == state.cols
            && h * n == c
            && n <= 1024
            && [r, decay, v, a, &*y].iter().all(|b| b.rows == t && b.cols == c)
            && k_k.cols == c
            && k_a.cols == c
            && shared <= self.shared_limit;
        if !self.check(ok, || format!("wkv7 over [{t}, {c}] with state [{h}, {}] ({shared} bytes of shared memory)", state.cols)) {
            return;
        }
        let args = vec![
            Arg::Ptr(r.ptr),
            Arg::Ptr(decay.ptr),
            Arg::Ptr(k.ptr),
            Arg::Ptr(v.ptr),
            Arg::Ptr(a.ptr),
            Arg::Ptr(k_k.ptr),
            Arg::Ptr(k_a.ptr),
            Arg::Ptr(state.ptr),
            Arg::Ptr(y.ptr),
            Arg::I32(t as i32),
            Arg::I32(c as i32),
            Arg::I32(n as i32),
        ];
        self.launch("wkv7", (h as u32, 1, 1), warp_round(n), shared as u32, args);
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
        if self.check(y.len() == n, || format!("add of {} values to {n}", y.len())) {
            self.elementwise("add", &[x.ptr, y.ptr], n);
        }
    }

    fn relu_square(&mut self, x: &mut CudaAct) {
        self.elementwise("relu_square", &[x.ptr], x.len());
    }

    fn copy_rows(&mut self, x: &CudaAct, first: usize, out: &mut CudaAct) {
        let start = first * x.cols;
        let n = out.len();
        if self.check(out.cols == x.cols && start + n <= x.len(), || {
            format!("copy_rows of {} rows from row {first} of [{}, {}]", out.rows, x.rows, x.cols)
        }) {
            self.elementwise("copy_rows", &[x.ptr + 4 * start as u64, out.ptr], n);
        }
    }
}

impl Drop for CudaBackend {
    fn drop(&mut self) {
        // Let queued work finish before buffers go away; errors here have nowhere to go.
        let _ = self.rec.flush();
        let _ = self.stream.synchronize();
    }
}

/// The weight's block format, for tests and diagnostics.
pub fn weight_format(w: &CudaWeight) -> Option<&'static Format> {
    w.format
}
