//! Activation quantization: f32 rows into the format a weight type's integer kernel reads
//! (ggml's `vec_dot_type`, spec §2.4): Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for
//! the K-quants. Float weights read f32 activations (stored as little-endian bytes).
//! Values are exactly those of quant's reference quantizers (ggml's `quantize_row_*_ref`).

use gguf::GgmlType;

use super::act_blocks;
use crate::{q8_0, q8_1, q8_k, QuantError};

/// The layout of one activation row for a weight type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)] // named as ggml's types
pub enum ActFormat {
    F32,
    Q8_0,
    Q8_1,
    Q8_K,
}

impl ActFormat {
    /// The activation format the integer kernels of weight type `ty` read.
    pub fn for_weight(ty: GgmlType) -> Result<ActFormat, QuantError> {
        Ok(match ty {
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => ActFormat::F32,
            GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => ActFormat::Q8_0,
            GgmlType::Q4_1 | GgmlType::Q5_1 => ActFormat::Q8_1,
            GgmlType::Q2_K | GgmlType::Q3_K | GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K => ActFormat::Q8_K,
            _ => return Err(QuantError::Unsupported { ty }),
        })
    }

    /// (elements, bytes) of one block.
    pub fn block(self) -> (usize, usize) {
        match self {
            ActFormat::F32 => (1, 4),
            ActFormat::Q8_0 => (q8_0::BLOCK_ELEMS, q8_0::BLOCK_BYTES),
            ActFormat::Q8_1 => (q8_1::BLOCK_ELEMS, q8_1::BLOCK_BYTES),
            ActFormat::Q8_K => (q8_k::BLOCK_ELEMS, q8_k::BLOCK_BYTES),
        }
    }

    /// Bytes of one row of `k` elements (`k` a whole number of blocks).
    pub fn row_bytes(self, k: usize) -> usize {
        let (e, b) = self.block();
        k / e * b
    }

    /// Decodes one activation row back to f32 (what the reference dot products multiply with).
    pub fn dequantize_row(self, src: &[u8], dst: &mut [f32]) {
        fn blocks<const E: usize, const B: usize>(f: fn(&[u8; B], &mut [f32; E]), src: &[u8], dst: &mut [f32]) {
            for (b, y) in src.chunks_exact(B).zip(dst.chunks_exact_mut(E)) {
                f(b.try_into().expect("B bytes"), y.try_into().expect("E values"));
            }
        }
        match self {
            ActFormat::F32 => crate::float::dequantize_f32(src, dst),
            ActFormat::Q8_0 => blocks(q8_0::dequantize_block, src, dst),
            ActFormat::Q8_1 => blocks(q8_1::dequantize_block, src, dst),
            ActFormat::Q8_K => blocks(q8_k::dequantize_block, src, dst),
        }
    }
}

/// Quantizes `x` (rows of `k`) for weights of type `ty` into `out` (rows of
/// `ActFormat::for_weight(ty).row_bytes(k)`).
pub fn quantize_acts(ty: GgmlType, x: &[f32], k: usize, out: &mut [u8]) -> Result<(), QuantError> {
    quantize_acts_planes(ty, x, k, 1, out)
}

/// As [`quantize_acts`] with `planes` (1 or 2) activation rows per input row. With 2, the second
/// row quantizes the residual `x − dequantize(first)` in the same format, so `w·first + w·second`
/// carries about 15 bits of activation precision instead of 8 (at twice the integer work); a
/// kernel treats the planes as ordinary activation rows. Float formats always use one plane.
pub fn quantize_acts_planes(ty: GgmlType, x: &[f32], k: usize, planes: usize, out: &mut [u8]) -> Result<(), QuantError> {
    let fmt = ActFormat::for_weight(ty)?;
    let planes = if fmt == ActFormat::F32 { 1 } else { planes.clamp(1, 2) };
    let (e, _) = fmt.block();
    if k == 0 || !k.is_multiple_of(e) || !x.len().is_multiple_of(k) {
        return Err(QuantError::PartialBlock { ty, elements: k, block_size: e });
    }
    let rb = fmt.row_bytes(k);
    let expected = x.len() / k * rb * planes;
    if out.len() != expected {
        return Err(QuantError::TileLength { ty, what: "activation buffer", expected, found: out.len() });
    }
    if fmt == ActFormat::F32 {
        crate::float::quantize_f32(x, out);
        return Ok(());
    }
    let (elems, bytes) = fmt.block();
    let sum = fmt == ActFormat::Q8_1;
    let isa = super::active();
    for (xr, or) in x.chunks_exact(k).zip(out.chunks_exact_mut(planes * rb)) {
        let (first, second) = or.split_at_mut(rb);
        let second = if planes == 2 { Some(second) } else { None };
        match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the active level is one this CPU supports.
            super::Isa::Avx512 | super::Isa::Avx512Vnni => unsafe { act_blocks::row_avx512(xr, elems, bytes, sum, first, second) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            super::Isa::Avx2 => unsafe { act_blocks::row_avx2(xr, elems, bytes, sum, first, second) },
            _ => act_blocks::row(xr, elems, bytes, sum, first, second),
        }
    }
    Ok(())
}

/// Activation planes a [`quantize_acts_planes`] call with `wanted` planes writes for `ty`.
pub fn act_planes(ty: GgmlType, wanted: usize) -> usize {
    match ActFormat::for_weight(ty) {
        Ok(ActFormat::F32) | Err(_) => 1,
        Ok(_) => wanted.clamp(1, 2),
    }
}
