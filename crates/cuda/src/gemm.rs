//! Multi-token matmuls through cuBLAS (`cublasGemmEx`, f16 or bf16 operands, f32 accumulation), the
//! way llama.cpp's CUDA backend runs large batches: the tensor cores at cuBLAS's speed instead of
//! mma.cu's hand-written tiles.
//!
//! For `out[T, M] = epi(x[T, K] · W[M, K]ᵀ + bias)`:
//! - W in a block format is dequantized, a row panel at a time, into transient f16 scratch of at
//!   most [`PANEL_BYTES`] (gemm.cu's `dequant_f16_<fmt>`): hi = f16(w), and only with `gemm_exact`
//!   also lo = f16(w − hi) (hi + lo carry ~22 bits of w). Each panel's GEMMs write its columns of
//!   `out`. Weights at rest stay quantized; the scratch is reused by every matmul (stream order
//!   keeps them apart).
//! - F16 and BF16 weights are read in place (no panel); F32 weights too, as an f32 GEMM (exact, and
//!   F32 matrices are rare and small).
//! - x is rounded to f16 by `gemm_split_x` (bf16: hi only as well); `gemm_x_parts=2` adds its lo part
//!   (bf16: lo + lo2) so that x enters at f32-level accuracy.
//! - By default a block-format matmul is therefore one f16 GEMM with f32 accumulation: f16-rounded
//!   weights (2^-11 relative) and activations. That is finer than llama.cpp's CUDA path (8-bit
//!   activations), whose distance from the float64 reference is the accuracy standard for
//!   non-F32 files (tests/accuracy). F16/BF16 weights keep x in two parts by default
//!   (`gemm_float_x_parts`): with f16 x alone they met that bound by under 1% (llama.cpp rounds x
//!   the same way). `gemm=exact` (`gemm_exact=1`, both x-part switches 2) computes the three
//!   products W_hi·x_hi, W_hi·x_lo, W_lo·x_hi (W_lo·x_lo is below f32's rounding) for f32-level
//!   results; `gemm=fast` the one GEMM for float weights too.
//! - Panel and x rows are laid out as K-element slots ([`Plan`]) so that one GEMM over slots
//!   concatenated along K sums several products: in exact mode the panel row is [hi | hi | lo] and
//!   the x row [hi | lo | hi], one GEMM of depth 3K per panel (`gemm_calls` 2 or 3: the same
//!   products in more, shorter GEMMs); in fast mode both rows are [hi].
//! - `gemm_split_k=S` (off by default) runs such a GEMM as S pieces of its depth in one strided-
//!   batched launch, each into an f32 partial output that `gemm_epilogue` sums: S times the
//!   output tiles for a short, wide output.
//! - The epilogue (activation, bias) runs as `gemm_epilogue` when there is one.
//!
//! Every GEMM is recorded as a [`GemmCall`] next to the kernel launches, so steps captured as CUDA
//! graphs capture it too; cuBLAS gets a workspace of its own (`cublasSetWorkspace`) so that it
//! never allocates during a capture. Without libcublas the backend says so once and keeps using
//! mma.cu / matmul.cu.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cudarc::cublas::{result as blas, sys as bsys};
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr};
use gguf::GgmlType;

use crate::backend::CudaBackend;
use crate::buffers::{CudaAct, CudaWeight};
use crate::recorder::Arg;
use crate::CudaError;

/// The dequantized-weight scratch panel: at most this many bytes (whole rows; a single row wider
/// than this still gets one row).
pub(crate) const PANEL_BYTES: usize = 64 << 20;
/// cuBLAS's own workspace (NVIDIA suggests 32 MiB on Hopper).
const WORKSPACE_BYTES: usize = 32 << 20;
/// The epilogue kernel's "none" (see matmul.cu).
const EPI_NONE: i32 = 0;

/// Operand types of one GEMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum GemmType {
    F16,
    Bf16,
    F32,
}

/// One `cublasGemmEx` call, recorded by value like a kernel launch: C[m, n] (column-major, f32)
/// = Aᵀ · B (+ C when `accumulate`), A [k, m] and B [k, n] column-major of `ty`. With our row-major
/// buffers: A is W's rows (lda = K), B is x's rows (ldb = K), C is out's rows (ldc = M).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct GemmCall {
    /// The cuBLAS handle, by address (owned by the backend's [`GemmState`], which outlives steps).
    pub handle: usize,
    pub ty: GemmType,
    pub m: i32,
    pub n: i32,
    pub k: i32,
    pub a: u64,
    pub lda: i32,
    pub b: u64,
    pub ldb: i32,
    pub c: u64,
    pub ldc: i32,
    pub accumulate: bool,
    /// Independent GEMMs of this shape in one launch (`cublasGemmStridedBatchedEx`; 1: plain
    /// `cublasGemmEx`), the i-th at a + i·stride_a, b + i·stride_b, c + i·stride_c (elements).
    pub batch: i32,
    pub stride_a: i64,
    pub stride_b: i64,
    pub stride_c: i64,
}

impl GemmCall {
    /// Issues the call on the handle's stream (the caller has made the context current).
    pub fn issue(&self) -> Result<(), CudaError> {
        let dt = match self.ty {
            GemmType::F16 => bsys::cudaDataType::CUDA_R_16F,
            GemmType::Bf16 => bsys::cudaDataType::CUDA_R_16BF,
            GemmType::F32 => bsys::cudaDataType::CUDA_R_32F,
        };
        let (alpha, beta) = (1.0f32, if self.accumulate { 1.0f32 } else { 0.0f32 });
        use bsys::cublasOperation_t::{CUBLAS_OP_N, CUBLAS_OP_T};
        let algo = bsys::cublasGemmAlgo_t::CUBLAS_GEMM_DFALT;
        let compute = bsys::cublasComputeType_t::CUBLAS_COMPUTE_32F;
        let (alpha, beta) = (&alpha as *const f32 as *const _, &beta as *const f32 as *const _);
        let (a, b, c) = (self.a as *const _, self.b as *const _, self.c as *mut _);
        let c_ty = bsys::cudaDataType::CUDA_R_32F;
        let (m, n, k, h) = (self.m, self.n, self.k, self.handle as bsys::cublasHandle_t);
        // SAFETY: the handle is live (GemmState owns it for the backend's lifetime); a, b and c
        // point into live device buffers of at least the sizes the shapes, leading dimensions,
        // strides and batch imply (checked by gemm_matmul); alpha and beta are host f32 read during
        // the call.
        unsafe {
            if self.batch > 1 {
                blas::gemm_strided_batched_ex(
                    h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, alpha, a, dt, self.lda, self.stride_a, b, dt, self.ldb, self.stride_b,
                    beta, c, c_ty, self.ldc, self.stride_c, self.batch, compute, algo,
                )
            } else {
                blas::gemm_ex(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, alpha, a, dt, self.lda, b, dt, self.ldb, beta, c, c_ty, self.ldc, compute, algo)
            }
        }
        .map_err(|e| {
            CudaError::driver(format!("cublasGemmEx ({:?}, m {} n {} k {}, batch {})", self.ty, self.m, self.n, self.k, self.batch), e)
        })
    }
}

/// A cuBLAS handle bound to the backend's stream, with its workspace.
struct Blas {
    handle: bsys::cublasHandle_t,
    _workspace: CudaSlice<u8>,
    /// Keeps the context alive until the handle is destroyed.
    _stream: Arc<CudaStream>,
}

impl Blas {
    fn open(stream: &Arc<CudaStream>) -> Result<Blas, String> {
        // SAFETY: only probes for the library with dlopen; without it every cuBLAS call would panic.
        if !unsafe { bsys::is_culib_present() } {
            return Err("libcublas.so.13 is not on the library search path".into());
        }
        stream.context().bind_to_thread().map_err(|e| format!("bind context: {e}"))?;
        let handle = blas::create_handle().map_err(|e| format!("cublasCreate: {e}"))?;
        let workspace = stream.alloc_zeros::<u8>(WORKSPACE_BYTES).map_err(|e| format!("workspace: {e}"));
        let set = workspace.and_then(|ws| {
            let ptr = ws.device_ptr(stream).0;
            // SAFETY: the handle is live; the stream and workspace outlive it (both kept in Blas).
            unsafe { blas::set_stream(handle, stream.cu_stream() as _) }.map_err(|e| format!("cublasSetStream: {e}"))?;
            // SAFETY: as above; the workspace holds WORKSPACE_BYTES.
            unsafe { bsys::cublasSetWorkspace_v2(handle, ptr as *mut _, WORKSPACE_BYTES) }
                .result()
                .map_err(|e| format!("cublasSetWorkspace: {e}"))?;
            Ok(ws)
        });
        match set {
            Ok(ws) => Ok(Blas { handle, _workspace: ws, _stream: stream.clone() }),
            Err(e) => {
                // SAFETY: created above and not used elsewhere.
                let _ = unsafe { blas::destroy_handle(handle) };
                Err(e)
            }
        }
    }
}

impl Drop for Blas {
    fn drop(&mut self) {
        // SAFETY: created by Blas::open and destroyed only here; the backend synchronizes its stream
        // before its fields drop. Errors have nowhere to go.
        let _ = unsafe { blas::destroy_handle(self.handle) };
    }
}

// SAFETY: the handle is only used through the backend's `&mut self` methods, one thread at a time.
unsafe impl Send for Blas {}

#[derive(Default)]
enum Availability {
    #[default]
    Untried,
    Ready(Blas),
    Missing,
}

/// Scratch slots: the weight panel (rows of hi / lo slots), then x's parts (rows of slots).
const PANEL: usize = 0;
const X_PARTS: usize = 1;
/// Split K's partial outputs (f32, as pairs of u16).
const PARTIALS: usize = 2;
/// wkv_split.rs's per-token vectors (f32, as pairs of u16): not a GEMM's, but the same kind of
/// grown, reused scratch.
const WKV: usize = 3;

/// A device buffer that only grows, at a fixed address between growths (graphs refer to it).
#[derive(Default)]
struct Grown {
    buf: Option<CudaSlice<u16>>,
    elems: usize,
    ptr: u64,
}

/// The cuBLAS path's state: the handle (opened on first use) and its scratch buffers.
#[derive(Default)]
pub(crate) struct GemmState {
    blas: Availability,
    /// See PANEL, X_PARTS, PARTIALS, WKV.
    slots: [Grown; 4],
    /// Outgrown buffers, which queued or captured work may still use: kept until the backend drops.
    retired: Vec<CudaSlice<u16>>,
    /// GEMM calls recorded so far (tests check that the path ran).
    pub calls: u64,
}

/// Whether the "cuBLAS unavailable" note was printed (once per process).
static NOTED: AtomicBool = AtomicBool::new(false);

impl GemmState {
    /// The handle, opening it on first use; `None` (after a one-time note) without cuBLAS.
    fn handle(&mut self, stream: &Arc<CudaStream>) -> Option<usize> {
        if let Availability::Untried = self.blas {
            self.blas = match Blas::open(stream) {
                Ok(b) => Availability::Ready(b),
                Err(why) => {
                    if !NOTED.swap(true, Ordering::Relaxed) {
                        eprintln!("note: cuda: cuBLAS unavailable ({why}); multi-token matmuls use the built-in kernels");
                    }
                    Availability::Missing
                }
            };
        }
        match &self.blas {
            Availability::Ready(b) => Some(b.handle as usize),
            _ => None,
        }
    }

    /// The address of scratch `slot` with room for `elems` u16.
    fn buffer(&mut self, stream: &Arc<CudaStream>, slot: usize, elems: usize) -> Result<u64, CudaError> {
        let g = &mut self.slots[slot];
        if g.elems < elems {
            let buf = stream.alloc_zeros::<u16>(elems).map_err(|e| CudaError::driver(format!("cuBLAS scratch of {elems} halves"), e))?;
            g.ptr = buf.device_ptr(stream).0;
            g.elems = elems;
            if let Some(old) = g.buf.replace(buf) {
                self.retired.push(old);
            }
        }
        Ok(g.ptr)
    }
}

impl GemmState {
    /// The address of the partial-output scratch with room for `floats` f32.
    fn partials(&mut self, stream: &Arc<CudaStream>, floats: usize) -> Result<u64, CudaError> {
        self.buffer(stream, PARTIALS, 2 * floats)
    }

    /// The address of wkv_split.rs's scratch with room for `floats` f32.
    pub(crate) fn wkv_scratch(&mut self, stream: &Arc<CudaStream>, floats: usize) -> Result<u64, CudaError> {
        self.buffer(stream, WKV, 2 * floats)
    }
}

impl CudaBackend {
    /// Whether libcublas loaded (opening the handle if not tried yet).
    pub fn cublas_available(&mut self) -> bool {
        self.gemm.handle(&self.stream).is_some()
    }

    /// GEMM calls the cuBLAS path has recorded so far.
    pub fn cublas_calls(&self) -> u64 {
        self.gemm.calls
    }

    /// Rows `row0 .. row0 + rows` of a block-format weight as gemm.cu's dequantizer writes them into
    /// the hi and lo slots of a panel (f16 bits, row-major), read back: for tests.
    pub fn dequantize_f16(&mut self, w: &CudaWeight, row0: usize, rows: usize) -> Result<(Vec<u16>, Vec<u16>), CudaError> {
        let format = w.format.ok_or_else(|| CudaError::driver("dequantize_f16", "the weight is a vector parameter, not a matrix"))?;
        if row0 + rows > w.rows || rows == 0 || rows > u16::MAX as usize {
            return Err(CudaError::driver("dequantize_f16", format!("rows {row0}..{} of a [{}, {}] weight", row0 + rows, w.rows, w.cols)));
        }
        self.synchronize()?;
        let k = w.cols;
        let panel = self.stream.alloc_zeros::<u16>(rows * 2 * k).map_err(|e| CudaError::driver("dequantize_f16 buffer", e))?;
        let ptr = panel.device_ptr(&self.stream).0;
        self.gemm_dequant_launch(w, format, ptr, Plan::EXACT_SPLIT.panel, row0, rows);
        self.synchronize()?;
        let all = self.stream.clone_dtoh(&panel).map_err(|e| CudaError::driver("device-to-host copy", e))?;
        let (mut hi, mut lo) = (Vec::with_capacity(rows * k), Vec::with_capacity(rows * k));
        for row in all.chunks_exact(2 * k) {
            hi.extend_from_slice(&row[..k]);
            lo.extend_from_slice(&row[k..]);
        }
        Ok((hi, lo))
    }

    /// Launches dequant_f16_<fmt> for `rows` rows from `row0` into `panel`, each row laid out as
    /// the slots of `layout` (0 hi, 1 lo), K elements each.
    fn gemm_dequant_launch(&mut self, w: &CudaWeight, format: &crate::formats::Format, panel: u64, layout: &[u8], row0: usize, rows: usize) {
        let k = w.cols;
        let slot = |part: u8, nth: usize| {
            layout.iter().enumerate().filter(|&(_, &p)| p == part).nth(nth).map_or(-1, |(i, _)| (i * k) as i32)
        };
        let units = format.units_per_row(k);
        let args = vec![
            Arg::Ptr(w.ptr),
            Arg::U64(w.row_bytes as u64),
            Arg::Ptr(panel),
            Arg::U64((layout.len() * k) as u64),
            Arg::I32(slot(0, 0)),
            Arg::I32(slot(0, 1)),
            Arg::I32(slot(1, 0)),
            Arg::I32(row0 as i32),
            Arg::I32(k as i32),
        ];
        self.launch(&format!("dequant_f16_{}", format.name), (units.div_ceil(128).max(1) as u32, rows as u32, 1), 128, 0, args);
    }

    /// `out = epi(W · x + bias)` through cuBLAS (see the module doc). Returns false, having done
    /// nothing, when cuBLAS is unavailable; errors are noted for the step. Shapes are checked by
    /// the caller (matmul_now).
    pub(crate) fn gemm_matmul(&mut self, w: &CudaWeight, x: &CudaAct, out: &CudaAct, epi: i32, bias: Option<&CudaWeight>) -> bool {
        let Some(format) = w.format else { return false };
        let Some(handle) = self.gemm.handle(&self.stream) else { return false };
        let (m, k, t) = (w.rows, w.cols, x.rows);
        if m == 0 || t == 0 {
            return true;
        }
        // Concatenated slots make K up to 3× longer; all of it must fit cuBLAS's ints.
        if k == 0 || [m, 3 * k, t].iter().any(|&d| d > i32::MAX as usize) {
            // Nothing cuBLAS can do (an empty K sums to zero; giant dims do not fit its ints).
            return false;
        }
        let split = self.tuning.gemm_x_parts.clamp(1, 2);
        let float_split = self.tuning.gemm_float_x_parts.clamp(1, 2);
        let (ty, plan) = match w.ty {
            GgmlType::F32 => (GemmType::F32, None),
            GgmlType::F16 if float_split == 2 && self.tuning.gemm_f16_panel => (GemmType::F16, Some(Plan::F16_PANEL)),
            GgmlType::F16 => (GemmType::F16, Some(Plan::in_place(float_split))),
            GgmlType::BF16 => (GemmType::Bf16, Some(Plan::in_place(2 * float_split - 1))),
            _ => (GemmType::F16, Some(Plan::quantized(self.tuning.gemm_exact, split, self.tuning.gemm_calls))),
        };
        let call = |rows: usize, a: u64, lda: usize, b: u64, ldb: usize, kk: usize, r0: usize, accumulate| GemmCall {
            handle,
            ty,
            m: rows as i32,
            n: t as i32,
            k: kk as i32,
            a,
            lda: lda as i32,
            b,
            ldb: ldb as i32,
            c: out.ptr + 4 * r0 as u64,
            ldc: m as i32,
            accumulate,
            batch: 1,
            stride_a: 0,
            stride_b: 0,
            stride_c: 0,
        };
        let mut calls = Vec::new();
        // Partial outputs (address, count) that the epilogue sums into out (split K).
        let mut partials: Option<(u64, usize)> = None;
        match plan {
            None => calls.push(call(m, w.ptr, k, x.ptr, k, k, 0, false)),
            Some(plan) => {
                let xp = match self.gemm_split_x(x, ty == GemmType::Bf16, plan.x) {
                    Ok(p) => p,
                    Err(e) => return self.gemm_fail(e),
                };
                let ldb = plan.x.len() * k;
                let split_k = self.tuning.gemm_split_k;
                if plan.panel.is_empty() && split_k > 1 && plan.gemms.len() > 1 {
                    // F16 / BF16 weights in place, one batched launch over the x parts (plan.gemms
                    // is (0, i, 1) for part i), each into its own partial output.
                    let parts_ptr = match self.gemm.partials(&self.stream, plan.gemms.len() * t * m) {
                        Ok(p) => p,
                        Err(e) => return self.gemm_fail(e),
                    };
                    let mut c = call(m, w.ptr, k, xp, ldb, k, 0, false);
                    (c.c, c.batch, c.stride_b, c.stride_c) = (parts_ptr, plan.gemms.len() as i32, k as i64, (t * m) as i64);
                    calls.push(c);
                    partials = Some((parts_ptr, plan.gemms.len()));
                } else if plan.panel.is_empty() {
                    // F16 / BF16 weights in place: one GEMM per x part.
                    for &(_, b, slots) in plan.gemms {
                        calls.push(call(m, w.ptr, k, xp + 2 * (b * k) as u64, ldb, slots * k, 0, !calls.is_empty()));
                    }
                } else {
                    let lda = plan.panel.len() * k;
                    let rows = panel_rows(m, lda);
                    let panel = match self.gemm.buffer(&self.stream, PANEL, rows * lda) {
                        Ok(p) => p,
                        Err(e) => return self.gemm_fail(e),
                    };
                    // Split K: a single GEMM's depth in `split_k` pieces, one batched launch with a
                    // partial output per piece (more output tiles for the GPU), summed by the
                    // epilogue.
                    let depth = plan.gemms[0].2 * k;
                    if split_k > 1 && plan.gemms.len() == 1 && depth % split_k == 0 {
                        match self.gemm.partials(&self.stream, split_k * t * m) {
                            Ok(p) => partials = Some((p, split_k)),
                            Err(e) => return self.gemm_fail(e),
                        }
                    }
                    for r0 in (0..m).step_by(rows) {
                        let n = rows.min(m - r0);
                        self.gemm_dequant_launch(w, format, panel, plan.panel, r0, n);
                        if let Some((parts_ptr, pieces)) = partials {
                            let (a, b, _) = plan.gemms[0];
                            let piece = depth / pieces;
                            let mut c = call(n, panel + 2 * (a * k) as u64, lda, xp + 2 * (b * k) as u64, ldb, piece, r0, false);
                            c.c = parts_ptr + 4 * r0 as u64;
                            (c.batch, c.stride_a, c.stride_b, c.stride_c) = (pieces as i32, piece as i64, piece as i64, (t * m) as i64);
                            self.gemm.calls += 1;
                            let r = self.rec.push_gemm(c);
                            self.note(r);
                            continue;
                        }
                        for (i, &(a, b, slots)) in plan.gemms.iter().enumerate() {
                            let c = call(n, panel + 2 * (a * k) as u64, lda, xp + 2 * (b * k) as u64, ldb, slots * k, r0, i > 0);
                            self.gemm.calls += 1;
                            let r = self.rec.push_gemm(c);
                            self.note(r);
                        }
                    }
                }
            }
        }
        for c in calls {
            self.gemm.calls += 1;
            let r = self.rec.push_gemm(c);
            self.note(r);
        }
        if epi != EPI_NONE || bias.is_some() || partials.is_some() {
            let n = m * t;
            let (parts_ptr, pieces) = partials.unwrap_or((0, 0));
            let args = vec![
                Arg::Ptr(out.ptr),
                Arg::I32(m as i32),
                Arg::U64(n as u64),
                Arg::I32(epi),
                Arg::Ptr(bias.map_or(0, |b| b.ptr)),
                Arg::Ptr(parts_ptr),
                Arg::I32(pieces as i32),
            ];
            self.launch("gemm_epilogue", (n.div_ceil(256) as u32, 1, 1), 256, 0, args);
        }
        true
    }

    /// x's f16 (or bf16) parts for the GEMMs, each row as the slots of `layout` (0 hi, 1 lo,
    /// 2 lo2), K elements each; returns the buffer's address.
    fn gemm_split_x(&mut self, x: &CudaAct, bf16: bool, layout: &[u8]) -> Result<u64, CudaError> {
        let n = x.len();
        let ptr = self.gemm.buffer(&self.stream, X_PARTS, n * layout.len())?;
        let pattern = layout.iter().enumerate().fold(0i32, |p, (i, &part)| p | (part as i32) << (2 * i));
        let args = vec![
            Arg::Ptr(x.ptr),
            Arg::Ptr(ptr),
            Arg::U64(n as u64),
            Arg::I32(x.cols as i32),
            Arg::U64((layout.len() * x.cols) as u64),
            Arg::I32(layout.len() as i32),
            Arg::I32(pattern),
            Arg::I32(bf16 as i32),
        ];
        // Four elements per thread where rows are whole groups of four (16-byte loads; 8-byte
        // stores stay aligned since every slot starts at a multiple of K).
        if x.cols % 4 == 0 && x.ptr % 16 == 0 && ptr % 8 == 0 {
            self.launch("gemm_split_x4", ((n / 4).div_ceil(256) as u32, 1, 1), 256, 0, args);
        } else {
            self.launch("gemm_split_x", (n.div_ceil(256) as u32, 1, 1), 256, 0, args);
        }
        Ok(ptr)
    }

    /// Notes an error for the step; the matmul counts as handled (the step fails).
    fn gemm_fail(&mut self, e: CudaError) -> bool {
        self.note(Err(e));
        true
    }
}

/// How one matmul maps onto GEMMs: the slots of a weight-panel row (0 hi, 1 lo; empty for weights
/// read in place), the slots of an x row (0 hi, 1 lo, 2 lo2), and the GEMMs as (first panel slot,
/// first x slot, slots of K) each: a GEMM over n slots sums the slot-wise products, so slots
/// concatenated along K fold several products into one taller GEMM.
#[derive(Clone, Copy, Debug)]
struct Plan {
    panel: &'static [u8],
    x: &'static [u8],
    gemms: &'static [(usize, usize, usize)],
}

impl Plan {
    /// Exact mode, x in two parts, three GEMMs (also the test dequantizer's [hi | lo] layout).
    const EXACT_SPLIT: Plan = Plan { panel: &[0, 1], x: &[0, 1], gemms: &[(0, 0, 1), (0, 1, 1), (1, 0, 1)] };

    /// F16 weights copied into a panel (`gemm_f16_panel`): [W | W] · [hi | lo] (W's lo is zero).
    const F16_PANEL: Plan = Plan { panel: &[0, 0], x: &[0, 1], gemms: &[(0, 0, 2)] };

    /// A block-format weight: hi (+ lo when `exact`) panels, x in `split` parts, the exact products
    /// in `calls` GEMMs (see `Tuning::gemm_calls`). W_lo·x_lo is below f32's rounding.
    fn quantized(exact: bool, split: usize, calls: usize) -> Plan {
        match (exact, split, calls) {
            // [hi | hi | lo] · [hi | lo | hi]
            (true, 2, 1) => Plan { panel: &[0, 0, 1], x: &[0, 1, 0], gemms: &[(0, 0, 3)] },
            // hi · hi, then [hi | lo] · [lo | hi]
            (true, 2, 2) => Plan { panel: &[0, 1], x: &[0, 1, 0], gemms: &[(0, 0, 1), (0, 1, 2)] },
            (true, 2, _) => Plan::EXACT_SPLIT,
            // [hi | lo] · [hi | hi]
            (true, _, 1) => Plan { panel: &[0, 1], x: &[0, 0], gemms: &[(0, 0, 2)] },
            (true, _, _) => Plan { panel: &[0, 1], x: &[0], gemms: &[(0, 0, 1), (1, 0, 1)] },
            (false, 2, _) => Plan { panel: &[0], x: &[0, 1], gemms: &[(0, 0, 1), (0, 1, 1)] },
            (false, _, _) => Plan { panel: &[0], x: &[0], gemms: &[(0, 0, 1)] },
        }
    }

    /// F16 (`parts` 1 or 2) or BF16 (1 or 3) weights in place: one GEMM per x part.
    fn in_place(parts: usize) -> Plan {
        match parts {
            1 => Plan { panel: &[], x: &[0], gemms: &[(0, 0, 1)] },
            2 => Plan { panel: &[], x: &[0, 1], gemms: &[(0, 0, 1), (0, 1, 1)] },
            _ => Plan { panel: &[], x: &[0, 1, 2], gemms: &[(0, 0, 1), (0, 1, 1), (0, 2, 1)] },
        }
    }
}

/// Rows per weight panel of `lda` halves a row: as few panels as [`PANEL_BYTES`] allows, of even
/// size (one short tail panel would be a poorly filled GEMM), whole multiples of 64 rows (aligned
/// column offsets into out) when there are several, within the grid's y limit.
fn panel_rows(m: usize, lda: usize) -> usize {
    let most = (PANEL_BYTES / (2 * lda)).clamp(1, u16::MAX as usize);
    if m <= most {
        return m;
    }
    let panels = m.div_ceil(most);
    let even = m.div_ceil(panels).next_multiple_of(64);
    if even <= most {
        even
    } else if most > 64 {
        most - most % 64
    } else {
        most
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every exact plan sums exactly W_hi·x_hi, W_hi·x_lo and W_lo·x_hi (each once); the others
    /// the products they claim. Slots stay inside their rows.
    #[test]
    fn plans_sum_the_intended_products() {
        let products = |p: Plan| {
            let mut v = Vec::new();
            for &(a, b, n) in p.gemms {
                assert!(a + n <= p.panel.len().max(1) && b + n <= p.x.len(), "{p:?}: a GEMM runs past its row");
                for s in 0..n {
                    v.push((p.panel.get(a + s).copied().unwrap_or(0), p.x[b + s]));
                }
            }
            v.sort();
            v
        };
        for calls in 1..=3 {
            assert_eq!(products(Plan::quantized(true, 2, calls)), vec![(0, 0), (0, 1), (1, 0)], "exact, split 2, {calls} calls");
            assert_eq!(products(Plan::quantized(true, 1, calls)), vec![(0, 0), (1, 0)], "exact, split 1, {calls} calls");
            assert_eq!(products(Plan::quantized(false, 2, calls)), vec![(0, 0), (0, 1)]);
            assert_eq!(products(Plan::quantized(false, 1, calls)), vec![(0, 0)]);
        }
        assert_eq!(Plan::quantized(true, 2, 1).gemms.len(), 1);
        assert_eq!(Plan::quantized(true, 2, 2).gemms.len(), 2);
        assert_eq!(products(Plan::in_place(3)), vec![(0, 0), (0, 1), (0, 2)]);
        assert_eq!(products(Plan::F16_PANEL), vec![(0, 0), (0, 1)]);
    }

    #[test]
    fn panels_are_even_and_bounded() {
        for (m, k, slots) in [(2560usize, 2560usize, 3usize), (10240, 2560, 3), (2560, 10240, 3), (65536, 2560, 2), (37, 7, 1), (100_000, 1, 1)] {
            let lda = k * slots;
            let rows = panel_rows(m, lda);
            assert!(rows >= 1 && rows <= u16::MAX as usize, "m {m} lda {lda}: {rows} rows");
            assert!(rows * lda * 2 <= PANEL_BYTES || rows == 1, "m {m} lda {lda}: {rows} rows exceed the panel");
            if rows < m {
                assert_eq!(rows % 64, 0, "m {m} lda {lda}: {rows} rows");
            }
        }
        // 10240 × 7680 halves fit in three panels of 3,456 rows (not 4,352 + 4,352 + 1,536).
        assert_eq!(panel_rows(10240, 7680), 3456);
        assert_eq!(panel_rows(2560, 7680), 2560);
    }
}
