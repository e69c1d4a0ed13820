//! `WebGpuBackend`: `model::Ops` as WGSL dispatches recorded per step and submitted once.
//!
//! Ops record; nothing runs until `end_step`, `read` or `write` flushes the recording. Ops outside
//! a begin/end bracket (tests) work the same way.

mod matvec;
mod rwkv456;
mod settings;
mod wkv7_fusion;

use gguf::GgmlType;
use model::{Architecture, LoraKind, ModelError, Ops, TensorSource, Wkv6Decay};

use crate::buffers::{GpuAct, GpuWeight, MatrixPart, Tracked};
use crate::context::{Gpu, WebGpuOptions};
use crate::kernels::{argmax_threads, matvec_lanes, matvec_type, tiled_pays, tiled_rows, Kernel, MvKernel, MATMUL_TILE, TILED_BLOCK, TILED_MIN_TOKENS};
use crate::layout::TypeLayout;
use crate::matvec_gen::{MAX_MV_JOBS, MV_JOB_BINDINGS};
use crate::recorder::Recorder;
use crate::WebGpuError;
use matvec::MvJob;

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Epilogue codes of matmul (shaders/lora.wgsl).
mod epi {
    pub const NONE: u32 = 0;
    pub const TANH: u32 = 1;
    pub const SIGMOID: u32 = 2;
    pub const DECAY: u32 = 3;
    /// RWKV-6's decay `exp(−exp(v))`.
    pub const EXP_NEG_EXP: u32 = 4;
    pub const ADD_BIAS: u32 = 8;
    pub const RELU_SQUARE: u32 = 16;
    pub const ADD_TO_RESID: u32 = 32;
    pub const VALUE_RESIDUAL: u32 = 64;
    /// `resid ⊙= σ(z)`: a following sigmoid_mul gated by this matmul's output.
    pub const SIGMOID_GATE_RESID: u32 = 128;
    /// `resid ⊙= z·σ(z)`: a following silu_mul gated by this matmul's output.
    pub const SILU_GATE_RESID: u32 = 256;
    /// Bits that use the resid binding (at most one of them per matmul).
    pub const USES_RESID: u32 = ADD_TO_RESID | VALUE_RESIDUAL | SIGMOID_GATE_RESID | SILU_GATE_RESID;
}

/// The last layer_norm recorded, while a token_shift_lerp of its output may still fold into it.
struct FusableNorm {
    generation: u64,
    index: usize,
    /// x, w, b, out.
    bufs: [(u64, wgpu::Buffer); 4],
    cols: u32,
    eps: u32,
}

/// Storage buffers layer_norm_lerp binds.
const NORM_LERP_BINDINGS: u32 = 12;

/// The last matmul recorded, while the next op may still fold into it (relu_square, add).
struct FusableMatmul {
    /// Recorder generation and pending index of its dispatch.
    generation: u64,
    index: usize,
    kernel: Kernel,
    params: Vec<u32>,
    /// Position of the epilogue code in `params`.
    epi_at: usize,
    /// w, x, bias, out, resid, aux.
    bufs: [(u64, wgpu::Buffer); 6],
    groups: [u32; 3],
    shape: [u32; 3],
}

/// Host-side counts and times of a backend (see `WebGpuBackend::counters`).
#[derive(Clone, Copy, Debug, Default)]
pub struct HostCounters {
    pub bind_groups_created: u64,
    pub dispatches: u64,
    pub submits: u64,
    /// Encoding the pass and submitting it.
    pub encode_ns: u64,
    /// Waiting for results to come back (`read`, `argmax`).
    pub wait_ns: u64,
}

/// The wgpu backend.
pub struct WebGpuBackend {
    gpu: Gpu,
    rec: Recorder,
    next_id: u64,
    /// Token ids of the step being recorded, uploaded at flush; `embed` reads them at an offset.
    step_tokens: Vec<u32>,
    tokens: Tracked,
    /// Bound where a kernel has an optional or unused input/output (distinct, so never aliased).
    dummies: Vec<Tracked>,
    staging: Option<wgpu::Buffer>,
    /// A lower cap on weight part size than the adapter's (tests).
    part_cap: Option<u64>,
    /// Result buffers of `argmax_rows`, one per row count seen.
    argmax_ids: Vec<Tracked>,
    opts: WebGpuOptions,
    last_matmul: Option<FusableMatmul>,
    last_norm: Option<FusableNorm>,
    last_wkv: Option<wkv7_fusion::FusableWkv>,
    wait_ns: u64,
    /// One-token matvecs held back to share dispatches (backend/matvec.rs).
    mv_pending: Vec<MvJob>,
    /// The one-token plan of a many-token step's matmuls (`shadow_matvec`).
    mv_shadow: Vec<MvJob>,
    /// Most jobs per matvec dispatch: `WebGpuOptions::fold_matvecs`, capped by the adapter's
    /// storage bindings per stage.
    mv_max_jobs: usize,
}

fn grid_rows(rows: usize, max: u32) -> (u32, u32) {
    let gx = (rows as u32).min(max).max(1);
    (gx, (rows as u32).div_ceil(gx))
}

impl WebGpuBackend {
    /// Opens the adapter chosen by `opts` and compiles the model-independent kernels.
    pub fn new(opts: &WebGpuOptions) -> Result<Self, WebGpuError> {
        let gpu = Gpu::open(opts)?;
        let mut rec = Recorder::new(opts.profile);
        rec.pipelines.zero_workgroup_memory = opts.zero_workgroup_memory;
        let graveyard = rec.graveyard.clone();
        let mut next_id = 0;
        let mut tracked = |label: &str, size: u64| -> Result<Tracked, WebGpuError> {
            next_id += 1;
            Ok(Tracked::new(next_id, gpu.buffer(label, size, STORAGE, None)?, graveyard.clone()))
        };
        let tokens = tracked("step tokens", 4 * crate::context::MAX_STEP_TOKENS as u64)?;
        let dummies = (0..6).map(|_| tracked("dummy", 16)).collect::<Result<Vec<_>, _>>()?;
        let mut opts = opts.clone();
        opts.matvec_rows = match opts.matvec_rows {
            0 | 1 => 1,
            2 | 3 => 2,
            _ => 4,
        };
        let mut backend = WebGpuBackend {
            gpu,
            rec,
            next_id,
            step_tokens: Vec::new(),
            tokens,
            dummies,
            staging: None,
            part_cap: None,
            argmax_ids: Vec::new(),
            opts,
            last_matmul: None,
            last_norm: None,
            last_wkv: None,
            wait_ns: 0,
            mv_pending: Vec::new(),
            mv_shadow: Vec::new(),
            mv_max_jobs: 1,
        };
        let by_limit = (backend.gpu.limits.max_storage_buffers_per_shader_stage / MV_JOB_BINDINGS) as usize;
        backend.mv_max_jobs = backend.opts.fold_matvecs.min(by_limit).clamp(1, MAX_MV_JOBS);
        use Kernel as K;
        for k in [K::LayerNorm, K::TokenShiftLerp, K::Wkv7Output, K::Add, K::ReluSquare, K::ValueResidual, K::CopyRows, K::Argmax(argmax_threads(&backend.gpu.limits))] {
            backend.rec.pipelines.get(&backend.gpu, k)?;
        }
        Ok(backend)
    }

    /// Uploads a matrix given as raw GGUF bytes (`rows` × `cols` of `ty`), re-packed for the GPU.
    pub fn upload_raw(&mut self, name: &str, ty: GgmlType, rows: usize, cols: usize, bytes: &[u8]) -> Result<GpuWeight, WebGpuError> {
        let layout = TypeLayout::of(ty).ok_or_else(|| WebGpuError::UnsupportedType { tensor: name.into(), ty })?;
        let row_bytes = layout.file_row_bytes(cols).ok_or_else(|| WebGpuError::BadTensor {
            tensor: name.into(),
            detail: format!("{cols} columns is not a whole number of {ty} blocks of {}", layout.block_elems),
        })?;
        if bytes.len() != rows * row_bytes {
            return Err(WebGpuError::BadTensor {
                tensor: name.into(),
                detail: format!("{rows} rows of {row_bytes} bytes need {} bytes, found {}", rows * row_bytes, bytes.len()),
            });
        }
        let row_words = layout.row_words(cols);
        let gpu_row_bytes = row_words as u64 * 4;
        let max_binding = self.gpu.max_binding().min(self.part_cap.unwrap_or(u64::MAX));
        let rows_per_part = (max_binding / gpu_row_bytes.max(1)) as usize;
        if rows_per_part == 0 {
            return Err(WebGpuError::RowTooLarge {
                adapter: self.gpu.name.clone(),
                ty,
                tensor: name.into(),
                row_bytes: gpu_row_bytes,
                max_binding,
            });
        }
        for tile in [1, MATMUL_TILE] {
            self.rec.pipelines.get(&self.gpu, Kernel::Matmul(ty, tile))?;
        }
        self.rec.pipelines.get(&self.gpu, Kernel::Embed(ty))?;
        if self.opts.fast_kernels {
            for bm in [64, 128] {
                self.rec.pipelines.get(&self.gpu, Kernel::MatmulTiled(ty, bm))?;
            }
            if let Some(items) = matvec_type(ty, cols) {
                self.rec.pipelines.get(&self.gpu, Kernel::Matvec(MvKernel::single(ty, self.opts.matvec_rows, matvec_lanes(items))))?;
            }
        }
        let mut parts = Vec::new();
        let mut first = 0;
        let mut packed = Vec::new();
        while first < rows || (rows == 0 && parts.is_empty()) {
            let n = rows_per_part.min(rows - first);
            packed.clear();
            layout.repack_rows(&bytes[first * row_bytes..(first + n) * row_bytes], cols, &mut packed);
            let label = format!("{name} rows {first}..{}", first + n);
            let buf = self.gpu.buffer(&label, packed.len() as u64, STORAGE, Some(&packed))?;
            parts.push(MatrixPart { first_row: first, rows: n, buf: self.track(buf) });
            first += n;
            if rows == 0 {
                break;
            }
        }
        Ok(GpuWeight::Matrix { name: name.into(), ty, rows, cols, row_words, parts })
    }

    fn track(&mut self, buffer: wgpu::Buffer) -> Tracked {
        self.next_id += 1;
        Tracked::new(self.next_id, buffer, self.rec.graveyard.clone())
    }

    fn dispatch(&mut self, kernel: Kernel, params: &[u32], buffers: &[&Tracked], groups: [u32; 3], shape: [u32; 3]) {
        self.before_op();
        let bufs: Vec<(u64, &wgpu::Buffer)> = buffers.iter().map(|t| (t.id, &t.buffer)).collect();
        self.rec.dispatch(&self.gpu, kernel, params, &bufs, groups, shape);
    }

    /// Called before recording any op: records the held matvecs (backend/matvec.rs), ends a
    /// shadow plan, and submits what is recorded so far when `submit_every` dispatches have piled
    /// up, so the GPU works while the host encodes the rest of the step.
    fn before_op(&mut self) {
        self.emit_matvecs();
        self.emit_shadow();
        self.submit_if_due();
    }

    /// Submits the recording once `submit_every` dispatches have piled up (see `before_op`).
    fn submit_if_due(&mut self) {
        let every = self.opts.submit_every;
        if every > 0 && self.rec.pending_len() >= every {
            if let Err(e) = self.flush(|_| {}) {
                self.rec.deferred.get_or_insert(e);
            }
        }
    }

    /// The last matmul, if it was the last dispatch recorded and wrote buffer `out_id`.
    fn fusable(&self, out_id: u64) -> Option<&FusableMatmul> {
        self.last_matmul
            .as_ref()
            .filter(|f| self.mv_pending.is_empty() && f.generation == self.rec.generation && f.index + 1 == self.rec.pending_len() && f.bufs[3].0 == out_id)
    }

    /// Replaces the layer_norm just recorded by layer_norm_lerp when this one-token
    /// token_shift_lerp reads its output and touches none of its other buffers.
    fn fuse_norm_lerp(&mut self, x: &GpuAct, shift: &GpuAct, mu: &GpuWeight, outs: &[&mut GpuAct]) -> bool {
        let Some(n) = self.last_norm.take() else { return false };
        let current = self.mv_pending.is_empty() && n.generation == self.rec.generation && n.index + 1 == self.rec.pending_len();
        let mut ids: Vec<u64> = vec![shift.buf.id, mu.vectors().id];
        ids.extend(outs.iter().map(|o| o.buf.id));
        let distinct = ids.iter().all(|id| n.bufs.iter().all(|b| b.0 != *id)) && {
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            sorted.windows(2).all(|w| w[0] != w[1])
        };
        if !current || x.buf.id != n.bufs[3].0 || x.rows != 1 || !distinct {
            return false;
        }
        let mut bufs: Vec<(u64, &wgpu::Buffer)> = n.bufs.iter().map(|(id, b)| (*id, b)).collect();
        bufs.push((shift.buf.id, &shift.buf.buffer));
        bufs.push((mu.vectors().id, &mu.vectors().buffer));
        for i in 0..6 {
            let t = outs.get(i).map_or(&self.dummies[i], |o| &o.buf);
            bufs.push((t.id, &t.buffer));
        }
        let params = [n.cols, outs.len() as u32, n.eps, 0];
        let groups = n.cols.div_ceil(256).min(self.gpu.limits.max_compute_workgroups_per_dimension);
        self.rec.replace_last(&self.gpu, Kernel::LayerNormLerp, &params, &bufs, [groups, 1, 1], [n.cols, 1, outs.len() as u32]);
        true
    }

    /// Re-records the last matmul with `bits` added to its epilogue (and `resid`, `aux` bound).
    fn refuse_last(&mut self, bits: u32, resid: Option<&Tracked>, aux: Option<&Tracked>) {
        let Some(mut f) = self.last_matmul.take() else { return };
        f.params[f.epi_at] |= bits;
        if let Some(r) = resid {
            f.bufs[4] = (r.id, r.buffer.clone());
        }
        if let Some(a) = aux {
            f.bufs[5] = (a.id, a.buffer.clone());
        }
        let bufs: Vec<(u64, &wgpu::Buffer)> = f.bufs.iter().map(|(id, b)| (*id, b)).collect();
        self.rec.replace_last(&self.gpu, f.kernel, &f.params, &bufs, f.groups, f.shape);
        if self.rec.pending_len() == f.index + 1 {
            self.last_matmul = Some(f);
        }
    }

    /// A 1-D grid of 256-thread workgroups over `n` elements: (groups, row stride in elements).
    fn grid_1d(&self, n: usize) -> ([u32; 3], u32) {
        let max = self.gpu.limits.max_compute_workgroups_per_dimension;
        let (gx, gy) = grid_rows(n.div_ceil(256), max);
        ([gx, gy, 1], gx * 256)
    }

    fn elementwise(&mut self, kernel: Kernel, n: usize, extra: u32, buffers: &[&Tracked]) {
        let (groups, stride) = self.grid_1d(n);
        self.dispatch(kernel, &[n as u32, stride, extra, 0], buffers, groups, [n as u32, 0, 0]);
    }

    /// `out = epilogue(W · x)` over every part of `w`: the vectorized matvec for one token where the
    /// type has one, the tiled kernel for many tokens, else the generic kernel.
    fn matmul_epi(&mut self, w: &GpuWeight, x: &GpuAct, out: &GpuAct, epilogue: u32, bias: Option<&GpuWeight>) {
        let GpuWeight::Matrix { ty, rows, cols, row_words, parts, name } = w else {
            panic!("matmul expects a matrix weight, got vectors");
        };
        assert_eq!(x.cols, *cols, "matmul '{name}': x has {} columns, weight has {cols}", x.cols);
        assert_eq!(out.cols, *rows, "matmul '{name}': out has {} columns, weight has {rows} rows", out.cols);
        assert_eq!(out.rows, x.rows, "matmul '{name}': out rows");
        self.last_matmul = None;
        let t = x.rows;
        let fast = self.opts.fast_kernels;
        let matvec = if fast && t == 1 { matvec_type(*ty, *cols) } else { None };
        if let Some(items) = matvec {
            // One token: held back (backend/matvec.rs); a split weight's parts go out at once.
            let single = parts.len() == 1;
            if !single {
                self.before_op();
            }
            for part in parts.iter().filter(|p| p.rows > 0) {
                let job = self.matvec_job(w, items, part, x, out, epilogue, bias);
                if single {
                    self.queue_matvec(job);
                } else {
                    self.record_matvecs(&[&job]);
                }
            }
            return;
        }
        // The decode step would hold this matmul back: plan its grouping (and compile it) now.
        let shadow = fast && self.opts.compile_in_background && parts.len() == 1 && parts[0].rows > 0 && t > 1;
        let shadow_job = match matvec_type(*ty, *cols) {
            Some(items) if shadow => Some(self.matvec_job(w, items, &parts[0], x, out, epilogue, bias)),
            _ => None,
        };
        self.emit_matvecs();
        self.submit_if_due();
        match shadow_job {
            Some(job) => self.shadow_matvec(job),
            // The decode step records this one at once, which ends a grouping.
            None => self.emit_shadow(),
        }
        let bias = bias.map(GpuWeight::vectors).unwrap_or(&self.dummies[0]);
        let (resid, aux) = (&self.dummies[1], &self.dummies[2]);
        let max = self.gpu.limits.max_compute_workgroups_per_dimension;
        for part in parts {
            let shape = [*rows as u32, *cols as u32, t as u32];
            let (kernel, params, groups, epi_at) = if fast && t >= TILED_MIN_TOKENS && (self.opts.always_tiled || tiled_pays(part.rows, t, *cols)) {
                let bm = tiled_rows(self.opts.tile_rows, part.rows, t);
                let gx = (part.rows as u32).div_ceil(bm);
                let params = vec![*cols as u32, *rows as u32, t as u32, part.first_row as u32, part.rows as u32, *row_words as u32, epilogue, gx];
                (Kernel::MatmulTiled(*ty, bm), params, [gx, (t as u32).div_ceil(TILED_BLOCK), 1], 6)
            } else {
                let tile = if t == 1 { 1 } else { MATMUL_TILE };
                let (gx, gy) = grid_rows(part.rows, max);
                let params = vec![*cols as u32, *rows as u32, t as u32, part.first_row as u32, part.rows as u32, *row_words as u32, epilogue, gx];
                (Kernel::Matmul(*ty, tile), params, [gx, gy, (t as u32).div_ceil(tile)], 6)
            };
            let tracked = [&part.buf, &x.buf, bias, &out.buf, resid, aux];
            let bufs: Vec<(u64, &wgpu::Buffer)> = tracked.iter().map(|t| (t.id, &t.buffer)).collect();
            let before = self.rec.pending_len();
            self.rec.dispatch(&self.gpu, kernel, &params, &bufs, groups, shape);
            if parts.len() == 1 && self.rec.pending_len() == before + 1 {
                self.last_matmul = Some(FusableMatmul {
                    generation: self.rec.generation,
                    index: before,
                    kernel,
                    params,
                    epi_at,
                    bufs: tracked.map(|t| (t.id, t.buffer.clone())),
                    groups,
                    shape,
                });
            }
        }
    }

    /// token_shift_lerp as one dispatch; `keep_shift` leaves `shift` as it was (token_shift_lora6).
    fn record_token_shift_lerp(&mut self, x: &GpuAct, shift: &GpuAct, mu: &GpuWeight, outs: &[&mut GpuAct], keep_shift: bool) {
        assert!(outs.len() <= 6, "token_shift_lerp: at most 6 outputs, got {}", outs.len());
        self.before_op();
        let mut bufs: Vec<(u64, &wgpu::Buffer)> = vec![
            (x.buf.id, &x.buf.buffer),
            (shift.buf.id, &shift.buf.buffer),
            (mu.vectors().id, &mu.vectors().buffer),
        ];
        for i in 0..6 {
            let t = outs.get(i).map_or(&self.dummies[i], |o| &o.buf);
            bufs.push((t.id, &t.buffer));
        }
        let params = [x.cols as u32, x.rows as u32, outs.len() as u32, keep_shift as u32];
        self.rec.dispatch(&self.gpu, Kernel::TokenShiftLerp, &params, &bufs, [(x.cols as u32).div_ceil(64), 1, 1], [x.cols as u32, x.rows as u32, outs.len() as u32]);
    }

    /// `ids[t] = argmax of row t of x` computed on the GPU; one u32 per row comes back.
    pub fn argmax_rows(&mut self, x: &GpuAct) -> Result<Vec<u32>, WebGpuError> {
        let size = 4 * x.rows as u64;
        // One id buffer per row count, kept, so a decode step's argmax reuses its bind group.
        let pos = match self.argmax_ids.iter().position(|b| b.size() == size.max(4)) {
            Some(i) => i,
            None => {
                let buf = self.gpu.buffer("argmax ids", size, STORAGE, None)?;
                let tracked = self.track(buf);
                self.argmax_ids.push(tracked);
                self.argmax_ids.len() - 1
            }
        };
        let ids = self.argmax_ids.swap_remove(pos);
        self.dispatch(Kernel::Argmax(argmax_threads(&self.gpu.limits)), &[x.cols as u32, x.rows as u32, 0, 0], &[&x.buf, &ids], [x.rows as u32, 1, 1], [x.cols as u32, x.rows as u32, 0]);
        let bytes = self.read_bytes(&ids, size);
        self.argmax_ids.push(ids);
        Ok(bytemuck::cast_slice::<u8, u32>(&bytes?)[..x.rows].to_vec())
    }

    fn flush(&mut self, extra: impl FnOnce(&mut wgpu::CommandEncoder)) -> Result<(), WebGpuError> {
        self.emit_matvecs();
        self.last_matmul = None;
        self.last_norm = None;
        if !self.step_tokens.is_empty() {
            self.gpu.queue.write_buffer(&self.tokens.buffer, 0, bytemuck::cast_slice(&self.step_tokens));
            self.step_tokens.clear();
        }
        self.rec.flush(&self.gpu, extra)
    }

    /// Flushes the recording, copies `size` bytes of `src` into a staging buffer and maps it.
    fn read_bytes(&mut self, src: &Tracked, size: u64) -> Result<Vec<u8>, WebGpuError> {
        let size = size.next_multiple_of(4);
        let staging = match &self.staging {
            Some(s) if s.size() >= size => s.clone(),
            _ => {
                let usage = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
                let s = self.gpu.buffer("read staging", size.next_power_of_two(), usage, None)?;
                self.staging = Some(s.clone());
                s
            }
        };
        self.flush(|enc| enc.copy_buffer_to_buffer(&src.buffer, 0, &staging, 0, size))?;
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, 0..size, move |r| {
            let _ = tx.send(r);
        });
        let gpu_err = |context: &str, reason: String| WebGpuError::Gpu { adapter: self.gpu.name.clone(), context: context.into(), reason };
        let start = std::time::Instant::now();
        self.gpu.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| gpu_err("waiting for the GPU", e.to_string()))?;
        self.wait_ns += start.elapsed().as_nanos() as u64;
        rx.recv()
            .map_err(|e| gpu_err("mapping the read buffer", e.to_string()))?
            .map_err(|e| gpu_err("mapping the read buffer", e.to_string()))?;
        let out = {
            let view = staging.get_mapped_range(0..size).map_err(|e| gpu_err("reading the read buffer", e.to_string()))?;
            view.to_vec()
        };
        staging.unmap();
        Ok(out)
    }
}

impl Ops for WebGpuBackend {
    type Weight = GpuWeight;
    type Act = GpuAct;

    fn backend_name(&self) -> &'static str {
        "wgpu"
    }

    /// Every architecture: RWKV-7's ops and those of RWKV-4, 5 and 6 (`backend/rwkv456.rs`).
    fn supports(&self, _arch: Architecture) -> bool {
        true
    }

    fn preferred_chunk(&self) -> usize {
        self.opts.prefill_chunk
    }

    fn device_name(&self) -> String {
        self.gpu.name.clone()
    }

    fn upload_matrix(&mut self, src: &TensorSource) -> Result<GpuWeight, ModelError> {
        Ok(self.upload_raw(&src.info.name, src.info.ty, src.rows(), src.cols(), src.bytes())?)
    }

    fn upload_vectors(&mut self, rows: usize, cols: usize, data: Vec<f32>) -> Result<GpuWeight, ModelError> {
        if data.len() != rows * cols {
            return Err(WebGpuError::Length { expected: rows * cols, found: data.len() }.into());
        }
        let buf = self.gpu.buffer("vectors", 4 * data.len() as u64, STORAGE, Some(bytemuck::cast_slice(&data)))?;
        Ok(GpuWeight::Vectors { rows, cols, buf: self.track(buf) })
    }

    fn alloc(&mut self, rows: usize, cols: usize) -> Result<GpuAct, ModelError> {
        let size = 4 * (rows * cols) as u64;
        if size > self.gpu.max_binding() {
            return Err(WebGpuError::TooLarge {
                adapter: self.gpu.name.clone(),
                what: format!("activation [{rows}, {cols}]"),
                size,
                max_binding: self.gpu.max_binding(),
            }
            .into());
        }
        let buf = self.gpu.buffer(&format!("act [{rows}, {cols}]"), size, STORAGE, None)?;
        Ok(GpuAct { rows, cols, buf: self.track(buf) })
    }

    fn read(&mut self, x: &GpuAct) -> Result<Vec<f32>, ModelError> {
        let bytes = self.read_bytes(&x.buf, 4 * x.len() as u64)?;
        Ok(bytemuck::cast_slice::<u8, f32>(&bytes)[..x.len()].to_vec())
    }

    fn write(&mut self, x: &mut GpuAct, data: &[f32]) -> Result<(), ModelError> {
        if data.len() != x.len() {
            return Err(ModelError::StateMismatch { what: "buffer length", expected: x.len(), found: data.len() });
        }
        // Earlier recorded ops must run before this write lands.
        if self.rec.has_pending() || !self.mv_pending.is_empty() {
            self.flush(|_| {})?;
        }
        self.gpu.queue.write_buffer(&x.buf.buffer, 0, bytemuck::cast_slice(data));
        Ok(())
    }

    fn begin_step(&mut self) -> Result<(), ModelError> {
        self.rec.evict_dead();
        Ok(())
    }

    fn end_step(&mut self) -> Result<(), ModelError> {
        Ok(self.flush(|_| {})?)
    }

    fn embed(&mut self, table: &GpuWeight, tokens: &[u32], out: &mut GpuAct) {
        let GpuWeight::Matrix { ty, cols, row_words, parts, .. } = table else {
            panic!("embed expects a matrix weight");
        };
        assert_eq!(out.rows, tokens.len(), "embed: out rows vs tokens");
        assert_eq!(out.cols, *cols, "embed: out columns");
        let cap = (self.tokens.size() / 4) as usize;
        if self.step_tokens.len() + tokens.len() > cap {
            if let Err(e) = self.flush(|_| {}) {
                self.rec.deferred.get_or_insert(e);
            }
            let size = 4 * (tokens.len().max(cap * 2)) as u64;
            match self.gpu.buffer("step tokens", size, STORAGE, None) {
                Ok(b) => self.tokens = self.track(b),
                Err(e) => {
                    self.rec.deferred.get_or_insert(e);
                    return;
                }
            }
        }
        self.before_op();
        let offset = self.step_tokens.len() as u32;
        self.step_tokens.extend_from_slice(tokens);
        let units = cols.div_ceil(32) as u32;
        for part in parts {
            let params = [*cols as u32, tokens.len() as u32, offset, part.first_row as u32, part.rows as u32, *row_words as u32, units, 0];
            let bufs = [(part.buf.id, &part.buf.buffer), (self.tokens.id, &self.tokens.buffer), (out.buf.id, &out.buf.buffer)];
            self.rec.dispatch(&self.gpu, Kernel::Embed(*ty), &params, &bufs, [units.div_ceil(64), tokens.len() as u32, 1], [*cols as u32, tokens.len() as u32, 0]);
        }
    }

    fn layer_norm(&mut self, x: &GpuAct, w: &GpuWeight, b: &GpuWeight, eps: f32, out: &mut GpuAct) {
        let params = [x.cols as u32, x.rows as u32, eps.to_bits(), 0];
        self.emit_matvecs();
        let before = self.rec.pending_len();
        let tracked = [&x.buf, w.vectors(), b.vectors(), &out.buf];
        self.dispatch(Kernel::LayerNorm, &params, &tracked, [x.rows as u32, 1, 1], [x.cols as u32, x.rows as u32, 0]);
        let fusable = self.opts.fast_kernels
            && x.rows == 1
            && self.gpu.limits.max_storage_buffers_per_shader_stage >= NORM_LERP_BINDINGS
            && self.rec.pending_len() == before + 1;
        self.last_norm = fusable.then(|| FusableNorm {
            generation: self.rec.generation,
            index: before,
            bufs: tracked.map(|t| (t.id, t.buffer.clone())),
            cols: x.cols as u32,
            eps: eps.to_bits(),
        });
    }

    fn token_shift_lerp(&mut self, x: &GpuAct, shift: &mut GpuAct, mu: &GpuWeight, outs: &mut [&mut GpuAct]) {
        assert!(outs.len() <= 6, "token_shift_lerp: at most 6 outputs, got {}", outs.len());
        if self.fuse_norm_lerp(x, shift, mu, outs) {
            return;
        }
        self.record_token_shift_lerp(x, shift, mu, outs, false);
    }

    fn matmul(&mut self, w: &GpuWeight, x: &GpuAct, out: &mut GpuAct) {
        self.matmul_epi(w, x, out, epi::NONE, None);
    }

    fn lora(
        &mut self,
        kind: LoraKind,
        x: &GpuAct,
        a: &GpuWeight,
        b: &GpuWeight,
        bias: Option<&GpuWeight>,
        mid: &mut GpuAct,
        out: &mut GpuAct,
    ) {
        let (mid_epi, out_epi) = match kind {
            LoraKind::Decay => (epi::TANH, epi::DECAY),
            LoraKind::SigmoidOut => (epi::NONE, epi::SIGMOID),
            LoraKind::Gate => (epi::SIGMOID, epi::NONE),
        };
        let out_epi = if bias.is_some() { out_epi | epi::ADD_BIAS } else { out_epi };
        self.matmul_epi(a, x, mid, mid_epi, None);
        self.matmul_epi(b, mid, out, out_epi, bias);
    }

    fn value_residual(&mut self, v: &mut GpuAct, v_first: &GpuAct, mix: &GpuAct) {
        // Right after the matmul (LoRA up projection) that wrote mix: applied as mix is stored.
        let same_shape = v.buf.id != v_first.buf.id && v.len() == mix.len() && v_first.len() == mix.len();
        if same_shape && self.fold_matvec(mix.buf.id, epi::VALUE_RESIDUAL, epi::USES_RESID, Some(&v.buf), Some(&v_first.buf)) {
            return;
        }
        if let Some(f) = self.fusable(mix.buf.id) {
            let ids = [v.buf.id, v_first.buf.id];
            let free = f.params[f.epi_at] & epi::USES_RESID == 0 && f.bufs[..4].iter().all(|b| !ids.contains(&b.0));
            if free && v.buf.id != v_first.buf.id && v.len() == mix.len() && v_first.len() == mix.len() {
                self.refuse_last(epi::VALUE_RESIDUAL, Some(&v.buf), Some(&v_first.buf));
                return;
            }
        }
        self.elementwise(Kernel::ValueResidual, v.len(), 0, &[&v.buf, &v_first.buf, &mix.buf]);
    }

    fn wkv7(
        &mut self,
        r: &GpuAct,
        decay: &GpuAct,
        k: &mut GpuAct,
        v: &GpuAct,
        a: &GpuAct,
        k_k: &GpuWeight,
        k_a: &GpuWeight,
        state: &mut GpuAct,
        y: &mut GpuAct,
    ) {
        let n = (state.cols as f64).sqrt().round() as usize;
        assert_eq!(n * n, state.cols, "wkv7: state rows must be N·N");
        let max_threads = self.gpu.limits.max_compute_invocations_per_workgroup as usize;
        // Workgroup memory: six vectors of N floats and the loop kernel's state tile.
        let shared = 4 * (6 * n + crate::kernels::wkv7_tile_rows(n as u32) as usize * (n + 1));
        if n > max_threads || shared > self.gpu.limits.max_compute_workgroup_storage_size as usize {
            self.rec.deferred.get_or_insert(WebGpuError::MissingCapability {
                adapter: self.gpu.name.clone(),
                what: "workgroup size",
                detail: format!(
                    "wkv7 runs one thread per value row: head size {n} needs {n} threads and {shared} bytes of workgroup memory, limits {max_threads} and {}",
                    self.gpu.limits.max_compute_workgroup_storage_size
                ),
            });
            return;
        }
        let params = [k.cols as u32, k.rows as u32, 0, 0];
        let bufs = [&r.buf, &decay.buf, &k.buf, &v.buf, &a.buf, k_k.vectors(), k_a.vectors(), &state.buf, &y.buf];
        self.dispatch(Kernel::Wkv7(n as u32), &params, &bufs, [state.rows as u32, 1, 1], [k.cols as u32, k.rows as u32, 0]);
        self.note_wkv7(n as u32, k.rows, &bufs);
    }

    fn wkv7_output(
        &mut self,
        y: &mut GpuAct,
        r: &GpuAct,
        k: &GpuAct,
        v: &GpuAct,
        g: &GpuAct,
        r_k: &GpuWeight,
        ln_w: &GpuWeight,
        ln_b: &GpuWeight,
        head_size: usize,
        eps: f32,
    ) {
        if self.fuse_wkv7_output(y, r, k, v, g, r_k, ln_w, ln_b, head_size, eps) {
            return;
        }
        let params = [y.cols as u32, head_size as u32, eps.to_bits(), 0];
        let bufs = [&y.buf, &r.buf, &k.buf, &v.buf, &g.buf, r_k.vectors(), ln_w.vectors(), ln_b.vectors()];
        self.dispatch(Kernel::Wkv7Output, &params, &bufs, [(y.cols / head_size) as u32, y.rows as u32, 1], [y.cols as u32, y.rows as u32, 0]);
    }

    fn add(&mut self, x: &mut GpuAct, y: &GpuAct) {
        // x += y right after the matmul that wrote y: the matmul adds its outputs to x as it stores them.
        if x.len() == y.len() && self.fold_matvec(y.buf.id, epi::ADD_TO_RESID, epi::USES_RESID, Some(&x.buf), None) {
            return;
        }
        if let Some(f) = self.fusable(y.buf.id) {
            let free = f.params[f.epi_at] & epi::USES_RESID == 0 && f.bufs[..4].iter().all(|b| b.0 != x.buf.id);
            if free && x.len() == y.len() {
                self.refuse_last(epi::ADD_TO_RESID, Some(&x.buf), None);
                return;
            }
        }
        self.elementwise(Kernel::Add, x.len(), 0, &[&x.buf, &y.buf]);
    }

    fn relu_square(&mut self, x: &mut GpuAct) {
        // Right after the matmul that wrote x: square its outputs as they are stored.
        if self.fold_matvec(x.buf.id, epi::RELU_SQUARE, epi::RELU_SQUARE | epi::USES_RESID, None, None) {
            return;
        }
        if let Some(f) = self.fusable(x.buf.id) {
            if f.params[f.epi_at] & (epi::RELU_SQUARE | epi::USES_RESID) == 0 {
                self.refuse_last(epi::RELU_SQUARE, None, None);
                return;
            }
        }
        self.elementwise(Kernel::ReluSquare, x.len(), 0, &[&x.buf]);
    }

    fn copy_rows(&mut self, x: &GpuAct, first: usize, out: &mut GpuAct) {
        assert_eq!(x.cols, out.cols, "copy_rows: columns");
        assert!(first + out.rows <= x.rows, "copy_rows: rows {first}..{} of {}", first + out.rows, x.rows);
        self.elementwise(Kernel::CopyRows, out.len(), (first * x.cols) as u32, &[&x.buf, &out.buf]);
    }

    fn argmax(&mut self, logits: &GpuAct) -> Option<Result<Vec<u32>, ModelError>> {
        Some(self.argmax_rows(logits).map_err(ModelError::from))
    }

    // ---- RWKV-4, 5 and 6 (recorded in backend/rwkv456.rs) ----

    fn decay6(&mut self, x: &GpuAct, a: &GpuWeight, b: &GpuWeight, bias: &GpuWeight, mid: &mut GpuAct, out: &mut GpuAct) {
        self.record_decay6(x, a, b, bias, mid, out);
    }

    fn token_shift_lora6(
        &mut self,
        x: &GpuAct,
        shift: &mut GpuAct,
        mu_x: &GpuWeight,
        mu: &GpuWeight,
        w1: &GpuWeight,
        w2: &GpuWeight,
        mid: &mut GpuAct,
        outs: &mut [&mut GpuAct],
    ) {
        self.record_token_shift_lora6(x, shift, mu_x, mu, w1, w2, mid, outs);
    }

    fn wkv6(&mut self, r: &GpuAct, k: &GpuAct, v: &GpuAct, decay: Wkv6Decay<'_, GpuWeight, GpuAct>, u: &GpuWeight, state: &mut GpuAct, y: &mut GpuAct) {
        self.record_wkv6(r, k, v, decay, u, state, y);
    }

    fn wkv4(&mut self, k: &GpuAct, v: &GpuAct, w: &GpuWeight, u: &GpuWeight, state: &mut GpuAct, y: &mut GpuAct) {
        self.record_wkv4(k, v, w, u, state, y);
    }

    fn group_norm(&mut self, y: &mut GpuAct, ln_w: &GpuWeight, ln_b: &GpuWeight, head_size: usize, eps: f32) {
        self.record_group_norm(y, ln_w, ln_b, head_size, eps);
    }

    fn sigmoid_mul(&mut self, x: &mut GpuAct, g: &GpuAct) {
        self.record_gate(Kernel::SigmoidMul, epi::SIGMOID_GATE_RESID, x, g);
    }

    fn silu_mul(&mut self, x: &mut GpuAct, g: &GpuAct) {
        self.record_gate(Kernel::SiluMul, epi::SILU_GATE_RESID, x, g);
    }

    fn scale(&mut self, x: &mut GpuAct, factor: f32) {
        self.elementwise(Kernel::Scale, x.len(), factor.to_bits(), &[&x.buf]);
    }
}

impl Drop for WebGpuBackend {
    fn drop(&mut self) {
        // Let background compiles end before the device goes: a process that exits while a
        // compiler thread is inside the driver can crash there (seen on the H200's NVIDIA driver
        // after a short bench). Their errors no longer matter.
        let _ = self.rec.pipelines.finish(&self.gpu);
        if !self.rec.profile_rows().is_empty() {
            eprint!("{}", self.profile_report());
        }
    }
}

/// `Model` needs the backend and its buffers to be `Send`; this fails to compile if they stop being.
#[allow(dead_code)]
fn assert_send() {
    fn is_send<T: Send>() {}
    is_send::<WebGpuBackend>();
    is_send::<GpuWeight>();
    is_send::<GpuAct>();
}
