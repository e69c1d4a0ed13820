//! `CudaBackend`: the op set of `model::Ops` as CUDA kernels on one device and one stream.
//!
//! Ops never launch anything themselves: each builds a [`Launch`] (kernel, grid, arguments by value)
//! and hands it to the [`Recorder`], which issues it at once outside a step and, inside a step, as
//! one CUDA graph at `end_step` (captured on first sight of that exact launch list, replayed after).
//! Multi-token steps (prefill) are issued directly instead. Ops return nothing, so the first error of
//! a step is kept and returned by `end_step` (or by the next `read`/`write`).
//!
//! One-token work is held back a little before it becomes launches (see `pending.rs`): independent
//! matrix-vector products share a launch, and a layer_norm followed by the token-shift lerp, or the
//! WKV-7 recurrence followed by its output stage, become one kernel. Every op that is not folded
//! into held-back work first turns all of it into launches, so the launch order always respects
//! the ops' order. The op implementations are in `ops.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaSlice, CudaStream, DevicePtr};
use gguf::GgmlType;
use model::ModelError;

use crate::buffers::{CudaAct, CudaWeight};
use crate::device::{self, Kernel};
use crate::formats::{self, Format};
use crate::pending::{self, MvJob, MvQueue, Span};
use crate::recorder::{Arg, GraphStats, Launch, Profiler, Recorder};
use crate::tuning::Tuning;
use crate::CudaError;

/// Rows per block of matmul.cu (one warp each) and tokens per tile of its prefill variant.
const MATMUL_ROWS_PER_BLOCK: usize = 8;
const MATMUL_TILE_TOKENS: usize = 8;
/// layer_norm_lerp's block, and the widest row it takes (8 columns per thread).
pub(crate) const LN_LERP_THREADS: u32 = 256;
pub(crate) const LN_LERP_MAX_C: usize = 8 * 1024;
/// Shared memory matvec.cu's kernels declare statically, rounded up.
const MV_STATIC_SHARED: usize = 1024;
/// Tile of mma.cu: rows and tokens per block.
const MMA_ROWS: usize = 128;
const MMA_TOKENS: usize = 64;
/// Blocks of mma.cu that fill the GPU once (one 256-thread block per SM on an H200's 132 SMs).
const MMA_TARGET_BLOCKS: usize = 132;

/// A layer_norm of one token, held back in case the token-shift lerp follows.
pub(crate) struct LnJob {
    pub x: u64,
    pub w: u64,
    pub b: u64,
    pub eps: f32,
    pub out: Span,
    pub c: usize,
}

/// A wkv7_h64 launch, held back in case wkv7_output follows: the arguments up to `fuse`.
pub(crate) struct WkvJob {
    pub args: Vec<Arg>,
    pub heads: usize,
    /// Sequences of a batched decode step (grid rows; 1 otherwise) and their state address table
    /// (0 for one sequence).
    pub rows: usize,
    pub rows_table: u64,
    /// (y, r, k, v) of the recurrence, to recognise the matching output stage.
    pub y: u64,
    pub r: u64,
    pub k: u64,
    pub v: u64,
}

/// f16 copies of an activation for mma.cu (see x_split there), per (padded tokens, width).
struct SplitBufs {
    _hi: CudaSlice<u16>,
    _lo: CudaSlice<u16>,
    _sums: CudaSlice<f32>,
    hi: u64,
    lo: u64,
    sums: u64,
}

/// The CUDA backend.
pub struct CudaBackend {
    /// Kept for the backend's lifetime (the stream and buffers hold it too).
    _ctx: Arc<CudaContext>,
    pub(crate) stream: Arc<CudaStream>,
    kernels: HashMap<&'static str, Kernel>,
    pub(crate) rec: Recorder,
    /// Device buffers for token ids, by (chunk length, embed call within the step): fixed addresses,
    /// so that steps repeat their launch lists exactly.
    token_bufs: HashMap<(usize, usize), (CudaSlice<u32>, u64)>,
    pub(crate) embeds_in_step: usize,
    error: Option<CudaError>,
    device: String,
    arch: String,
    pub(crate) shared_limit: usize,
    pub(crate) tuning: Tuning,
    pub(crate) queue: MvQueue,
    pub(crate) pending_ln: Option<LnJob>,
    pub(crate) pending_wkv: Option<WkvJob>,
    pub(crate) row_tables: crate::ops_rows::RowTables,
    /// The step in progress is a batched decode step (`Ops::begin_batch_step`).
    pub(crate) batch_step: bool,
    /// matvec.cu descriptor tables by content: uploaded once, so replayed graphs find them intact.
    desc_tables: HashMap<Vec<u64>, (CudaSlice<u64>, u64)>,
    split_bufs: HashMap<(usize, usize), SplitBufs>,
    /// Split-K workspace: buffer, its length in f32, its address.
    ws: Option<(CudaSlice<f32>, usize, u64)>,
    retired: Vec<CudaSlice<f32>>,
    /// The cuBLAS path for multi-token matmuls (gemm.rs).
    pub(crate) gemm: crate::gemm::GemmState,
}

impl CudaBackend {
    /// Opens device `ordinal`, compiles every kernel for it with NVRTC (once per process and
    /// architecture) and loads them. Kernel variants follow [`Tuning::from_env`].
    pub fn new(ordinal: usize) -> Result<Self, CudaError> {
        let tuning = Tuning::from_env()?;
        let ctx = device::open_context(ordinal)?;
        let stream = ctx.new_stream().map_err(|e| CudaError::driver("creating a stream", e))?;
        let arch = device::arch(&ctx)?;
        let kernels = device::load_kernels(&ctx, &arch)?;
        let shared_limit = device::shared_memory_limit(&ctx)?;
        let name = ctx.name().map_err(|e| CudaError::driver("device name", e))?;
        let mut rec = Recorder::new(stream.clone());
        rec.pdl = device::pdl_enabled(&tuning, &arch);
        Ok(CudaBackend {
            rec,
            _ctx: ctx,
            stream,
            kernels,
            token_bufs: HashMap::new(),
            embeds_in_step: 0,
            error: None,
            device: format!("{name} ({arch})"),
            arch,
            shared_limit,
            tuning,
            queue: MvQueue::default(),
            pending_ln: None,
            pending_wkv: None,
            row_tables: Default::default(),
            batch_step: false,
            desc_tables: HashMap::new(),
            split_bufs: HashMap::new(),
            ws: None,
            retired: Vec::new(),
            gemm: Default::default(),
        })
    }

    /// The NVRTC target this backend compiled for (`sm_90` on an H200).
    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// The kernel variants in use.
    pub fn tuning(&self) -> &Tuning {
        &self.tuning
    }

    /// Switches kernel variants (after finishing the work queued under the old ones).
    pub fn set_tuning(&mut self, tuning: Tuning) {
        self.flush_pending();
        self.rec.pdl = device::pdl_enabled(&tuning, &self.arch);
        self.tuning = tuning;
    }

    /// Turns CUDA graph capture of steps on (the default) or off (every launch issued directly).
    pub fn set_use_graphs(&mut self, on: bool) {
        self.rec.use_graphs = on;
    }

    /// Starts timing every launch by kernel (steps then run without graphs) and returns the handle
    /// that reads the times; it stays valid after the backend moves into a model.
    pub fn start_profiling(&mut self) -> Profiler {
        self.rec.profiler.get_or_insert_with(Profiler::default).clone()
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
        self.flush_pending();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
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
        let device_row_bytes = format.device_row_bytes(cols, row_bytes);
        let buf = if format.is_repacked() && row_bytes > 0 {
            let mut packed = Vec::with_capacity(rows * device_row_bytes);
            for row in bytes.chunks_exact(row_bytes) {
                format.repack_row(row, &mut packed);
            }
            self.upload_bytes(name, &packed)?
        } else {
            self.upload_bytes(name, bytes)?
        };
        let ptr = buf.device_ptr(&self.stream).0;
        Ok(CudaWeight { ty, rows, cols, row_bytes: device_row_bytes, ptr, _buf: buf, format: Some(format) })
    }

    pub(crate) fn upload_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<CudaSlice<u8>, CudaError> {
        // Never a zero-sized allocation: every buffer has a valid address.
        let result = if bytes.is_empty() { self.stream.alloc_zeros::<u8>(16) } else { self.stream.clone_htod(bytes) };
        result.map_err(|e| CudaError::driver(format!("upload of '{name}' ({} bytes)", bytes.len()), e))
    }

    /// Keeps the first error of a step for `end_step`.
    pub(crate) fn note(&mut self, r: Result<(), CudaError>) {
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }

    pub(crate) fn take_error(&mut self) -> Result<(), ModelError> {
        match self.error.take() {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    pub(crate) fn has_error(&self) -> bool {
        self.error.is_some()
    }

    fn kernel(&self, name: &str) -> Result<(usize, &'static str), CudaError> {
        self.kernels.get(name).map(|k| (k.addr(), k.name)).ok_or_else(|| CudaError::MissingKernel { name: name.into() })
    }

    pub(crate) fn launch(&mut self, name: &str, grid: (u32, u32, u32), block: u32, shared_bytes: u32, args: Vec<Arg>) {
        let r = self.kernel(name).and_then(|(func, name)| {
            self.rec.push(Launch { func, name, grid, block: (block, 1, 1), shared_bytes, args })
        });
        self.note(r);
    }

    pub(crate) fn check(&mut self, ok: bool, what: impl FnOnce() -> String) -> bool {
        if !ok {
            self.note(Err(CudaError::Driver { what: "shape check".into(), reason: what() }));
        }
        ok
    }

    /// Turns every held-back piece of one-token work into launches, in order.
    pub(crate) fn flush_pending(&mut self) {
        self.flush_matvecs();
        if let Some(ln) = self.pending_ln.take() {
            // layer_norm_lerp with no lerp outputs: the one-token layer_norm.
            let mut args = vec![Arg::Ptr(ln.x), Arg::Ptr(ln.w), Arg::Ptr(ln.b), Arg::f32(ln.eps), Arg::Ptr(ln.out.ptr), Arg::I32(ln.c as i32)];
            args.extend([Arg::Ptr(0), Arg::Ptr(0)]);
            args.extend((0..6).map(|_| Arg::Ptr(0)));
            args.push(Arg::I32(0));
            self.launch("layer_norm_lerp", (ln.c.div_ceil(LN_LERP_THREADS as usize) as u32, 1, 1), LN_LERP_THREADS, 0, args);
        }
        if let Some(wkv) = self.pending_wkv.take() {
            let mut args = wkv.args;
            args.extend([Arg::I32(0), Arg::Ptr(0), Arg::Ptr(0), Arg::Ptr(0), Arg::Ptr(0), Arg::f32(0.0), Arg::Ptr(wkv.rows_table)]);
            self.launch("wkv7_h64", (wkv.heads as u32, wkv.rows as u32, 1), 256, 0, args);
        }
    }

    fn flush_matvecs(&mut self) {
        if self.queue.is_empty() {
            return;
        }
        let (stage1, stage2) = self.queue.take();
        for stage in [stage1, stage2] {
            // Leave room for matvec.cu's static shared memory (a few dozen bytes).
            for l in pending::plan_launches(&stage, &self.tuning, self.shared_limit.saturating_sub(MV_STATIC_SHARED)) {
                let table = match self.desc_table(&l.words) {
                    Ok(p) => p,
                    Err(e) => return self.note(Err(e)),
                };
                let n = (l.words.len() / pending::MV_DESC_WORDS) as i32;
                let args = vec![Arg::Ptr(table), Arg::I32(n), Arg::I32(l.mode)];
                self.launch(&l.kernel, (l.blocks, 1, 1), l.threads, l.shared_bytes, args);
            }
        }
    }

    /// The device copy of a descriptor table, uploaded on first use.
    fn desc_table(&mut self, words: &[u64]) -> Result<u64, CudaError> {
        if let Some((_, ptr)) = self.desc_tables.get(words) {
            return Ok(*ptr);
        }
        let buf = self.stream.clone_htod(words).map_err(|e| CudaError::driver("matvec descriptor upload", e))?;
        let ptr = buf.device_ptr(&self.stream).0;
        self.desc_tables.insert(words.to_vec(), (buf, ptr));
        Ok(ptr)
    }

    /// The format of a matrix weight, or an error for vector parameters.
    pub(crate) fn matrix_format(&mut self, w: &CudaWeight, op: &str) -> Option<&'static Format> {
        if w.format.is_none() {
            self.note(Err(CudaError::driver(op, "the weight is a vector parameter, not a matrix")));
        }
        w.format
    }

    /// `out = epi(W · x + bias)` for one token, held back (see the module doc).
    pub(crate) fn matvec_job(&mut self, w: &CudaWeight, x: &CudaAct, out: &CudaAct, epi: i32, bias: Option<&CudaWeight>) -> Option<MvJob> {
        let format = self.matrix_format(w, "matmul")?;
        let (m, k) = (w.rows, w.cols);
        if !self.check(x.cols == k && out.cols == m && out.rows == 1 && x.rows == 1, || {
            format!("matmul of W [{m}, {k}] with x [{}, {}] into out [{}, {}]", x.rows, x.cols, out.rows, out.cols)
        }) {
            return None;
        }
        Some(MvJob {
            format,
            w: w.ptr,
            row_bytes: w.row_bytes as u64,
            m,
            k,
            x: Span::f32s(x.ptr, x.len()),
            out: Span::f32s(out.ptr, out.len()),
            bias: bias.map_or(0, |b| b.ptr),
            epi,
            add_to: None,
            vr: None,
        })
    }

    /// Queues a one-token job in stage 1 (or issues it alone when fusion is off).
    pub(crate) fn queue_stage1(&mut self, job: MvJob) {
        self.flush_other_pending();
        if !self.queue.fits_stage1(&job) {
            self.flush_matvecs();
        }
        self.queue.stage1.push(job);
        if !self.tuning.fuse {
            self.flush_matvecs();
        }
    }

    /// Queues a LoRA's two one-token jobs: `down` in stage 1, `up` (reading its output) in stage 2.
    pub(crate) fn queue_lora(&mut self, down: MvJob, up: MvJob) {
        self.flush_other_pending();
        if !self.queue.fits_stage1(&down) || !self.queue.fits_stage2(&up) {
            self.flush_matvecs();
        }
        self.queue.stage1.push(down);
        self.queue.stage2.push(up);
        if !self.tuning.fuse {
            self.flush_matvecs();
        }
    }

    /// Held-back layer_norm and WKV-7 work becomes launches (matvecs stay queued).
    pub(crate) fn flush_other_pending(&mut self) {
        if self.pending_ln.is_some() || self.pending_wkv.is_some() {
            let queued = std::mem::take(&mut self.queue);
            self.flush_pending();
            self.queue = queued;
        }
    }

    /// `out = epi(W · x + bias)` for any number of tokens, launched now (matmul.cu or mma.cu).
    pub(crate) fn matmul_now(&mut self, w: &CudaWeight, x: &CudaAct, out: &CudaAct, epi: i32, bias: Option<&CudaWeight>) {
        self.flush_pending();
        let Some(format) = self.matrix_format(w, "matmul") else { return };
        let (m, k, t) = (w.rows, w.cols, x.rows);
        if !self.check(x.cols == k && out.cols == m && out.rows == t, || {
            format!("matmul of W [{m}, {k}] with x [{}, {}] into out [{}, {}]", x.rows, x.cols, out.rows, out.cols)
        }) {
            return;
        }
        // cuBLAS from `gemm_min_tokens` tokens on (gemm.rs); it declines without libcublas.
        if t >= self.tuning.gemm_min_tokens && self.gemm_matmul(w, x, out, epi, bias) {
            return;
        }
        let mma_kernel = match format.name {
            "q4_k" => Some(("mm_q4_k", 256)),
            "q6_kr" => Some(("mm_q6_kr", 256)),
            "f16v" if k % 32 == 0 => Some(("mm_f16v", 32)),
            _ => None,
        };
        if let (Some((kernel, kb)), true, true) = (mma_kernel, self.tuning.mma, t > 1) {
            let tp = t.div_ceil(MMA_TOKENS) * MMA_TOKENS;
            let (hi, lo, sums) = match self.split_buffers(tp, k) {
                Ok(b) => b,
                Err(e) => return self.note(Err(e)),
            };
            let split_args = vec![
                Arg::Ptr(x.ptr),
                Arg::Ptr(hi),
                Arg::Ptr(lo),
                Arg::Ptr(sums),
                Arg::I32(t as i32),
                Arg::I32(tp as i32),
                Arg::I32(k as i32),
            ];
            self.launch("x_split", ((k / 16).div_ceil(64) as u32, tp as u32, 1), 64, 0, split_args);
            let args = vec![
                Arg::Ptr(w.ptr),
                Arg::U64(w.row_bytes as u64),
                Arg::Ptr(hi),
                Arg::Ptr(lo),
                Arg::Ptr(sums),
                Arg::Ptr(out.ptr),
                Arg::I32(m as i32),
                Arg::I32(k as i32),
                Arg::I32(t as i32),
                Arg::I32(tp as i32),
                Arg::I32(epi),
                Arg::Ptr(bias.map_or(0, |b| b.ptr)),
                Arg::I32(self.tuning.mma_split),
            ];
            // Split K until the grid has about two blocks per SM (one block fits an SM), keeping
            // at least two K blocks per split.
            let tiles = m.div_ceil(MMA_ROWS) * (tp / MMA_TOKENS);
            let splits = (2 * MMA_TARGET_BLOCKS).div_ceil(tiles).min(k / kb / 2).clamp(1, self.tuning.mma_split_k_max.max(1));
            let ws = if splits > 1 {
                match self.workspace(splits * t * m) {
                    Ok(p) => p,
                    Err(e) => return self.note(Err(e)),
                }
            } else {
                0
            };
            let mut args = args;
            args.push(Arg::Ptr(ws));
            self.launch(kernel, (m.div_ceil(MMA_ROWS) as u32, (tp / MMA_TOKENS) as u32, splits as u32), 256, 0, args);
            if splits > 1 {
                let args = vec![
                    Arg::Ptr(ws),
                    Arg::Ptr(out.ptr),
                    Arg::I32(m as i32),
                    Arg::I32(t as i32),
                    Arg::I32(splits as i32),
                    Arg::I32(epi),
                    Arg::Ptr(bias.map_or(0, |b| b.ptr)),
                ];
                self.launch("mm_reduce", ((m * t).div_ceil(256) as u32, 1, 1), 256, 0, args);
            }
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

    /// Scratch of at least `floats` f32 for split-K partial sums (grown, never shrunk; a step's
    /// matmuls run in stream order, so one buffer serves them all).
    fn workspace(&mut self, floats: usize) -> Result<u64, CudaError> {
        if self.ws.as_ref().map_or(true, |(_, n, _)| *n < floats) {
            let buf = self.stream.alloc_zeros::<f32>(floats).map_err(|e| CudaError::driver("split-K workspace", e))?;
            let ptr = buf.device_ptr(&self.stream).0;
            // The old buffer may still be read by queued work: keep it until the backend drops.
            if let Some(old) = self.ws.take() {
                self.retired.push(old.0);
            }
            self.ws = Some((buf, floats, ptr));
        }
        Ok(self.ws.as_ref().expect("allocated above").2)
    }

    /// x_split's outputs for `tp` tokens of width `k`, allocated on first use.
    fn split_buffers(&mut self, tp: usize, k: usize) -> Result<(u64, u64, u64), CudaError> {
        if !self.split_bufs.contains_key(&(tp, k)) {
            let alloc16 = |s: &Arc<CudaStream>| s.alloc_zeros::<u16>(tp * k);
            let hi = alloc16(&self.stream).map_err(|e| CudaError::driver("mma activation buffer", e))?;
            let lo = alloc16(&self.stream).map_err(|e| CudaError::driver("mma activation buffer", e))?;
            let sums = self.stream.alloc_zeros::<f32>(tp * k / 16).map_err(|e| CudaError::driver("mma activation sums", e))?;
            let (h, l, s) = (hi.device_ptr(&self.stream).0, lo.device_ptr(&self.stream).0, sums.device_ptr(&self.stream).0);
            self.split_bufs.insert((tp, k), SplitBufs { _hi: hi, _lo: lo, _sums: sums, hi: h, lo: l, sums: s });
        }
        let b = &self.split_bufs[&(tp, k)];
        Ok((b.hi, b.lo, b.sums))
    }

    pub(crate) fn elementwise(&mut self, name: &str, ptrs: &[u64], n: usize) {
        let blocks = n.div_ceil(256).clamp(1, 65535) as u32;
        let mut args: Vec<Arg> = ptrs.iter().map(|&p| Arg::Ptr(p)).collect();
        args.push(Arg::U64(n as u64));
        self.launch(name, (blocks, 1, 1), 256, 0, args);
    }

    pub(crate) fn token_buffer(&mut self, tokens: &[u32]) -> Result<u64, CudaError> {
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

    pub(crate) fn device_label(&self) -> String {
        self.device.clone()
    }
}

impl Drop for CudaBackend {
    fn drop(&mut self) {
        // Let queued work finish before buffers go away; errors here have nowhere to go.
        self.flush_pending();
        let _ = self.rec.flush();
        let _ = self.stream.synchronize();
    }
}

/// The weight's block format, for tests and diagnostics.
pub fn weight_format(w: &CudaWeight) -> Option<&'static Format> {
    w.format
}
