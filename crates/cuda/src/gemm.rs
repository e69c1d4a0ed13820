//! Multi-token matmuls through cuBLAS (`cublasGemmEx`, f16 or bf16 operands, f32 accumulation), the
//! way llama.cpp's CUDA backend runs large batches: the tensor cores at cuBLAS's speed instead of
//! mma.cu's hand-written tiles.
//!
//! For `out[T, M] = epi(x[T, K] · W[M, K]ᵀ + bias)`:
//! - W in a block format is dequantized, a row panel at a time, into transient f16 scratch of at
//!   most [`PANEL_BYTES`] (gemm.cu's `dequant_f16_<fmt>`): hi = f16(w) and, by default
//!   (`gemm_exact`), lo = f16(w − hi), so the GEMMs see each weight to ~22 bits (f16 alone rounds
//!   it by up to 2^-11, which moved tiny-model logits by up to 3e-3). Each panel's GEMMs write its
//!   columns of `out`. Weights at rest stay quantized; the scratch is reused by every matmul
//!   (stream order keeps them apart).
//! - F16 and BF16 weights are read in place (no panel); F32 weights too, as an f32 GEMM (exact, and
//!   F32 matrices are rare and small).
//! - x is split into f16 hi + lo parts (bf16: hi + lo + lo2) by `gemm_split_x`, one GEMM per part,
//!   the later ones accumulating (beta = 1): x then enters at f32-level accuracy. `mma_split=1` in
//!   [`Tuning`](crate::Tuning) uses one part instead. A quantized matmul is then three GEMMs
//!   (W_hi·x_hi, W_hi·x_lo, W_lo·x_hi; W_lo·x_lo is below f32's rounding).
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
        // SAFETY: the handle is live (GemmState owns it for the backend's lifetime); a, b and c
        // point into live device buffers of at least the sizes the shapes and leading dimensions
        // imply (checked by gemm_matmul); alpha and beta are host f32 read during the call.
        unsafe {
            blas::gemm_ex(
                self.handle as bsys::cublasHandle_t,
                bsys::cublasOperation_t::CUBLAS_OP_T,
                bsys::cublasOperation_t::CUBLAS_OP_N,
                self.m,
                self.n,
                self.k,
                &alpha as *const f32 as *const _,
                self.a as *const _,
                dt,
                self.lda,
                self.b as *const _,
                dt,
                self.ldb,
                &beta as *const f32 as *const _,
                self.c as *mut _,
                bsys::cudaDataType::CUDA_R_32F,
                self.ldc,
                bsys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
                bsys::cublasGemmAlgo_t::CUBLAS_GEMM_DFALT,
            )
        }
        .map_err(|e| CudaError::driver(format!("cublasGemmEx ({:?}, m {} n {} k {})", self.ty, self.m, self.n, self.k), e))
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

/// Scratch slots: the weight panel's hi and lo parts, then x's parts (hi, lo, lo2).
const PANEL_HI: usize = 0;
const PANEL_LO: usize = 1;
const X_PARTS: usize = 2;

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
    /// See PANEL_HI, PANEL_LO, X_PARTS.
    slots: [Grown; 5],
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
    /// the hi and lo panels (f16 bits, row-major), read back: for tests.
    pub fn dequantize_f16(&mut self, w: &CudaWeight, row0: usize, rows: usize) -> Result<(Vec<u16>, Vec<u16>), CudaError> {
        let format = w.format.ok_or_else(|| CudaError::driver("dequantize_f16", "the weight is a vector parameter, not a matrix"))?;
        if row0 + rows > w.rows || rows == 0 || rows > u16::MAX as usize {
            return Err(CudaError::driver("dequantize_f16", format!("rows {row0}..{} of a [{}, {}] weight", row0 + rows, w.rows, w.cols)));
        }
        self.synchronize()?;
        let alloc = || self.stream.alloc_zeros::<u16>(rows * w.cols).map_err(|e| CudaError::driver("dequantize_f16 buffer", e));
        let (hi, lo) = (alloc()?, alloc()?);
        let (hp, lp) = (hi.device_ptr(&self.stream).0, lo.device_ptr(&self.stream).0);
        self.gemm_dequant_launch(w, format, hp, lp, row0, rows);
        self.synchronize()?;
        let read = |b: &CudaSlice<u16>| self.stream.clone_dtoh(b).map_err(|e| CudaError::driver("device-to-host copy", e));
        Ok((read(&hi)?, read(&lo)?))
    }

    /// Launches dequant_f16_<fmt> for `rows` rows from `row0` into the hi panel (and lo, unless 0).
    fn gemm_dequant_launch(&mut self, w: &CudaWeight, format: &crate::formats::Format, hi: u64, lo: u64, row0: usize, rows: usize) {
        let units = format.units_per_row(w.cols);
        let args =
            vec![Arg::Ptr(w.ptr), Arg::U64(w.row_bytes as u64), Arg::Ptr(hi), Arg::Ptr(lo), Arg::I32(row0 as i32), Arg::I32(w.cols as i32)];
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
        if k == 0 || [m, k, t].iter().any(|&d| d > i32::MAX as usize) {
            // Nothing cuBLAS can do (an empty K sums to zero; giant dims do not fit its ints).
            return false;
        }
        let split = self.tuning.mma_split.clamp(1, 2) as usize;
        let call = |ty, rows: usize, a: u64, b: u64, r0: usize, accumulate| GemmCall {
            handle,
            ty,
            m: rows as i32,
            n: t as i32,
            k: k as i32,
            a,
            lda: k as i32,
            b,
            ldb: k as i32,
            c: out.ptr + 4 * r0 as u64,
            ldc: m as i32,
            accumulate,
        };
        let mut calls = Vec::new();
        match w.ty {
            GgmlType::F32 => calls.push(call(GemmType::F32, m, w.ptr, x.ptr, 0, false)),
            GgmlType::F16 | GgmlType::BF16 => {
                let (ty, parts) = if w.ty == GgmlType::F16 { (GemmType::F16, split) } else { (GemmType::Bf16, 2 * split - 1) };
                let parts = match self.gemm_split_x_parts(x, ty == GemmType::Bf16, parts) {
                    Ok(p) => p,
                    Err(e) => return self.gemm_fail(e),
                };
                for (i, &p) in parts.iter().enumerate() {
                    calls.push(call(ty, m, w.ptr, p, 0, i > 0));
                }
            }
            _ => {
                let parts = match self.gemm_split_x_parts(x, false, split) {
                    Ok(p) => p,
                    Err(e) => return self.gemm_fail(e),
                };
                let exact = self.tuning.gemm_exact;
                let panels = 1 + exact as usize;
                // Whole rows per panel, a multiple of 64 (aligned column offsets into out) when
                // there is room, within the grid's y limit.
                let mut rows = (PANEL_BYTES / (2 * k * panels)).clamp(1, m).min(u16::MAX as usize);
                if rows > 64 && rows < m {
                    rows -= rows % 64;
                }
                let hi = match self.gemm.buffer(&self.stream, PANEL_HI, rows * k) {
                    Ok(p) => p,
                    Err(e) => return self.gemm_fail(e),
                };
                let lo = if exact {
                    match self.gemm.buffer(&self.stream, PANEL_LO, rows * k) {
                        Ok(p) => p,
                        Err(e) => return self.gemm_fail(e),
                    }
                } else {
                    0
                };
                for r0 in (0..m).step_by(rows) {
                    let n = rows.min(m - r0);
                    self.gemm_dequant_launch(w, format, hi, lo, r0, n);
                    let mut pairs: Vec<(u64, u64)> = parts.iter().map(|&p| (hi, p)).collect();
                    if exact {
                        pairs.push((lo, parts[0]));
                    }
                    for (i, (a, b)) in pairs.into_iter().enumerate() {
                        let c = call(GemmType::F16, n, a, b, r0, i > 0);
                        self.gemm.calls += 1;
                        let r = self.rec.push_gemm(c);
                        self.note(r);
                    }
                }
            }
        }
        for c in calls {
            self.gemm.calls += 1;
            let r = self.rec.push_gemm(c);
            self.note(r);
        }
        if epi != EPI_NONE || bias.is_some() {
            let n = m * t;
            let args = vec![Arg::Ptr(out.ptr), Arg::I32(m as i32), Arg::U64(n as u64), Arg::I32(epi), Arg::Ptr(bias.map_or(0, |b| b.ptr))];
            self.launch("gemm_epilogue", (n.div_ceil(256) as u32, 1, 1), 256, 0, args);
        }
        true
    }

    /// x's f16 (or bf16) parts for the GEMMs: `parts` of them (1: hi; 2: hi, lo; 3: hi, lo, lo2).
    fn gemm_split_x_parts(&mut self, x: &CudaAct, bf16: bool, parts: usize) -> Result<Vec<u64>, CudaError> {
        let n = x.len();
        let mut ptrs = Vec::with_capacity(parts);
        for i in 0..parts {
            ptrs.push(self.gemm.buffer(&self.stream, X_PARTS + i, n)?);
        }
        let at = |i: usize| Arg::Ptr(ptrs.get(i).copied().unwrap_or(0));
        let args = vec![Arg::Ptr(x.ptr), at(0), at(1), at(2), Arg::U64(n as u64), Arg::I32(bf16 as i32)];
        self.launch("gemm_split_x", (n.div_ceil(256) as u32, 1, 1), 256, 0, args);
        Ok(ptrs)
    }

    /// Notes an error for the step; the matmul counts as handled (the step fails).
    fn gemm_fail(&mut self, e: CudaError) -> bool {
        self.note(Err(e));
        true
    }
}
