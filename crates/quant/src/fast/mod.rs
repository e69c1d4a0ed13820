//! Fast kernels beside the references: activation quantization and integer (or widened-float)
//! dot products of weight rows with activation rows, for every supported type, chosen at run time
//! by CPU features ([`Isa`]). `AVIARY_SIMD=scalar` (or [`set_active`]) forces the scalar level,
//! which decodes with the reference functions.
//!
//! Use: quantize the activation rows once per matmul ([`quantize_acts`]), build a [`RowKernel`]
//! for the weight's type and row length, then call [`RowKernel::dot`] on tiles of weight rows and
//! activation rows; each weight block is decoded once per group of up to four activation rows.
//!
//! [`amx`] is the prefill matmul on AMX BF16 tiles (x86-64 with AMX-BF16 on Linux), used for chunks
//! of 16+ tokens by the cpu backend.
//!
//! Results match "dequantize the weight row and the *quantized* activation row, dot in f32" up to
//! summation order (and, for Q4_1/Q5_1, the f16 rounding of Q8_1's stored `d·Σq`, as in ggml).

mod act;
pub mod amx;
mod act_blocks;
mod isa;
// Block offsets and scale unpacking used by the SIMD kernels (x86-64 and aarch64).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
mod layout;
mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;
#[cfg(target_arch = "aarch64")]
mod neon;

pub use act::{act_planes, quantize_acts, quantize_acts_planes, ActFormat};
pub use isa::{active, available, detected, set_active, Isa};

use gguf::GgmlType;

use crate::QuantError;

/// How far ahead (bytes) the decode kernels prefetch weights.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) const PREFETCH_AHEAD: usize = 2048;

/// A kernel for N activation rows (N = its index in the table + 1, up to 8): first weight row, bytes
/// per weight row, weight rows, blocks per row (elements for float types), N activation row
/// pointers, output pointer and output stride per weight row (`out[r·stride + t]`).
pub(crate) type Kern = unsafe fn(*const u8, usize, usize, usize, &[*const u8], *mut f32, usize);

/// Dot products of rows of one weight type and row length with quantized activation rows.
#[derive(Clone, Copy)]
pub struct RowKernel {
    ty: GgmlType,
    isa: Isa,
    /// Elements per row.
    k: usize,
    row_bytes: usize,
    act_bytes: usize,
    /// Blocks per row (elements for float types).
    units: usize,
    simd: Option<[Kern; 8]>,
    /// Activation rows per kernel call.
    max_rows: usize,
}

impl std::fmt::Debug for RowKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RowKernel({:?} × {}, {})", self.ty, self.k, self.isa)
    }
}

impl RowKernel {
    /// At the active level.
    pub fn new(ty: GgmlType, k: usize) -> Result<RowKernel, QuantError> {
        RowKernel::with_isa(active(), ty, k)
    }

    /// At a given level (an unsupported one is an error).
    pub fn with_isa(isa: Isa, ty: GgmlType, k: usize) -> Result<RowKernel, QuantError> {
        if !crate::is_supported(ty) {
            return Err(QuantError::Unsupported { ty });
        }
        if !isa.is_supported() {
            return Err(QuantError::IsaUnsupported { isa: isa.name(), best: detected().name() });
        }
        let row_bytes = crate::row_bytes(ty, k)?;
        let act_bytes = ActFormat::for_weight(ty)?.row_bytes(k);
        let (simd, max_rows) = match isa {
            Isa::Scalar => (None, 1),
            #[cfg(target_arch = "x86_64")]
            _ => (x86::kernels(isa, ty), x86::max_rows(isa)),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => (neon::kernels(ty), neon::max_rows(ty)),
            #[cfg(not(target_arch = "x86_64"))]
            _ => (None, 1),
        };
        Ok(RowKernel { ty, isa, k, row_bytes, act_bytes, units: k / ty.block_size(), simd, max_rows })
    }

    pub fn ty(&self) -> GgmlType {
        self.ty
    }
    pub fn isa(&self) -> Isa {
        self.isa
    }
    /// Bytes of one weight row.
    pub fn row_bytes(&self) -> usize {
        self.row_bytes
    }
    /// Activation rows a kernel call handles at once (the best tile height over tokens).
    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    /// Bytes of one quantized activation row.
    pub fn act_row_bytes(&self) -> usize {
        self.act_bytes
    }

    /// `out[r·T + t] = w[r] · a[t]` for the weight rows in `w` and the T activation rows in `acts`
    /// (quantized by [`quantize_acts`] for this type); `out` holds rows × T values.
    pub fn dot(&self, w: &[u8], acts: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
        let ty = self.ty;
        if !w.len().is_multiple_of(self.row_bytes) {
            return Err(QuantError::TileLength { ty, what: "weight tile", expected: w.len() / self.row_bytes * self.row_bytes, found: w.len() });
        }
        if !acts.len().is_multiple_of(self.act_bytes) {
            return Err(QuantError::TileLength { ty, what: "activation tile", expected: acts.len() / self.act_bytes * self.act_bytes, found: acts.len() });
        }
        let (rows, toks) = (w.len() / self.row_bytes, acts.len() / self.act_bytes);
        if out.len() != rows * toks {
            return Err(QuantError::TileLength { ty, what: "output tile (f32 values)", expected: rows * toks, found: out.len() });
        }
        match &self.simd {
            None => {
                for (wr, or) in w.chunks_exact(self.row_bytes).zip(out.chunks_exact_mut(toks.max(1))) {
                    for (o, a) in or.iter_mut().zip(acts.chunks_exact(self.act_bytes)) {
                        *o = scalar::dot(ty, wr, a);
                    }
                }
            }
            Some(table) => {
                let mut t = 0;
                while t < toks {
                    let n = (toks - t).min(self.max_rows);
                    let mut ptrs = [std::ptr::null::<u8>(); 8];
                    for (i, p) in ptrs[..n].iter_mut().enumerate() {
                        *p = acts[(t + i) * self.act_bytes..].as_ptr();
                    }
                    // SAFETY: every pointer addresses whole rows of this kernel's geometry (lengths
                    // checked above: `rows` weight rows, n activation rows, outputs r·toks + t + j
                    // inside `out`), and the table holds kernels of a level the CPU supports.
                    unsafe {
                        table[n - 1](w.as_ptr(), self.row_bytes, rows, self.units, &ptrs[..n], out.as_mut_ptr().add(t), toks)
                    };
                    t += n;
                }
            }
        }
        Ok(())
    }
}
