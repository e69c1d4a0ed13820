//! quant: tensor block formats — scalar reference dequantize, dot product and quantize for every ggml type aviary computes on.
//!
//! Supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (layouts in spec §2).
//! Each format has a module with public per-block functions (`q4_k::dequantize_block`, `dot_block`,
//! `quantize_block`) that fast kernels are tested against; the row functions here check lengths and
//! dispatch on the type. Q8_1 and Q8_K (ggml's activation formats) have block functions only.
//!
//! `fast` holds the SIMD kernels (activation quantization, integer dot products, dispatch by CPU
//! features), each tested against these references.
//!
//! Out of scope: multi-threaded kernels (the backends own threads), reading files, the IQ*,
//! TQ*, MXFP4/NVFP4 and integer formats, and importance-matrix (imatrix) quantization.

mod error;
mod fields;
mod row;

pub mod fast;
pub mod float;
pub mod k_quants;
pub mod q4_0;
pub mod q4_1;
pub mod q5_0;
pub mod q5_1;
pub mod q8_0;
pub mod q8_1;

pub use error::QuantError;
pub use gguf::GgmlType;
pub use k_quants::{q2_k, q3_k, q4_k, q5_k, q6_k, q8_k};
pub use row::dot_block;

/// The types aviary computes on, in ggml id order.
pub const SUPPORTED: [GgmlType; 13] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::BF16,
];

/// Whether aviary can compute on tensors of this type.
pub fn is_supported(ty: GgmlType) -> bool {
    SUPPORTED.contains(&ty)
}

/// Bytes of a row of `n` elements of `ty`. Works for every known type (it is only geometry);
/// errors when `n` is not a whole number of blocks.
pub fn row_bytes(ty: GgmlType, n: usize) -> Result<usize, QuantError> {
    let block_size = ty.block_size();
    if n % block_size != 0 {
        return Err(QuantError::PartialBlock {
            ty,
            elements: n,
            block_size,
        });
    }
    (n / block_size)
        .checked_mul(ty.type_size())
        .ok_or(QuantError::TooLarge { ty, elements: n })
}

/// Checks that `ty` is supported, that `elements` is whole blocks and that `bytes` is the row's size.
fn check_row(
    ty: GgmlType,
    elements: usize,
    what: &'static str,
    bytes: usize,
) -> Result<(), QuantError> {
    if !is_supported(ty) {
        return Err(QuantError::Unsupported { ty });
    }
    let expected = row_bytes(ty, elements)?;
    if bytes != expected {
        return Err(QuantError::Length {
            ty,
            elements,
            what,
            expected,
            found: bytes,
        });
    }
    Ok(())
}

/// Decode one row: `src` holds exactly `row_bytes(ty, dst.len())` bytes of type `ty`.
pub fn dequantize_row(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), QuantError> {
    use row::dequantize_blocks as blocks;
    check_row(ty, dst.len(), "source byte slice", src.len())?;
    match ty {
        GgmlType::F32 => float::dequantize_f32(src, dst),
        GgmlType::F16 => float::dequantize_f16(src, dst),
        GgmlType::BF16 => float::dequantize_bf16(src, dst),
        GgmlType::Q4_0 => blocks(q4_0::dequantize_block, src, dst),
        GgmlType::Q4_1 => blocks(q4_1::dequantize_block, src, dst),
        GgmlType::Q5_0 => blocks(q5_0::dequantize_block, src, dst),
        GgmlType::Q5_1 => blocks(q5_1::dequantize_block, src, dst),
        GgmlType::Q8_0 => blocks(q8_0::dequantize_block, src, dst),
        GgmlType::Q2_K => blocks(q2_k::dequantize_block, src, dst),
        GgmlType::Q3_K => blocks(q3_k::dequantize_block, src, dst),
        GgmlType::Q4_K => blocks(q4_k::dequantize_block, src, dst),
        GgmlType::Q5_K => blocks(q5_k::dequantize_block, src, dst),
        GgmlType::Q6_K => blocks(q6_k::dequantize_block, src, dst),
        _ => return Err(QuantError::Unsupported { ty }),
    }
    Ok(())
}

/// Dot product of one stored row with f32 activations `x` (`x.len()` = elements of the row).
/// Decodes block by block and accumulates in f32; never materialises the whole row.
pub fn dot_row(ty: GgmlType, row: &[u8], x: &[f32]) -> Result<f32, QuantError> {
    use row::dot_blocks as blocks;
    check_row(ty, x.len(), "row byte slice", row.len())?;
    Ok(match ty {
        GgmlType::F32 => float::dot_f32(row, x),
        GgmlType::F16 => float::dot_f16(row, x),
        GgmlType::BF16 => float::dot_bf16(row, x),
        GgmlType::Q4_0 => blocks(q4_0::dequantize_block, row, x),
        GgmlType::Q4_1 => blocks(q4_1::dequantize_block, row, x),
        GgmlType::Q5_0 => blocks(q5_0::dequantize_block, row, x),
        GgmlType::Q5_1 => blocks(q5_1::dequantize_block, row, x),
        GgmlType::Q8_0 => blocks(q8_0::dequantize_block, row, x),
        GgmlType::Q2_K => blocks(q2_k::dequantize_block, row, x),
        GgmlType::Q3_K => blocks(q3_k::dequantize_block, row, x),
        GgmlType::Q4_K => blocks(q4_k::dequantize_block, row, x),
        GgmlType::Q5_K => blocks(q5_k::dequantize_block, row, x),
        GgmlType::Q6_K => blocks(q6_k::dequantize_block, row, x),
        _ => return Err(QuantError::Unsupported { ty }),
    })
}

/// Encode one row of f32 values into `dst` (exactly `row_bytes(ty, src.len())` bytes), with ggml's
/// reference quantizers (`quantize_row_*_ref`, no importance weights).
pub fn quantize_row(ty: GgmlType, src: &[f32], dst: &mut [u8]) -> Result<(), QuantError> {
    use row::quantize_blocks as blocks;
    check_row(ty, src.len(), "destination byte slice", dst.len())?;
    match ty {
        GgmlType::F32 => float::quantize_f32(src, dst),
        GgmlType::F16 => float::quantize_f16(src, dst),
        GgmlType::BF16 => float::quantize_bf16(src, dst),
        GgmlType::Q4_0 => blocks(q4_0::quantize_block, src, dst),
        GgmlType::Q4_1 => blocks(q4_1::quantize_block, src, dst),
        GgmlType::Q5_0 => blocks(q5_0::quantize_block, src, dst),
        GgmlType::Q5_1 => blocks(q5_1::quantize_block, src, dst),
        GgmlType::Q8_0 => blocks(q8_0::quantize_block, src, dst),
        GgmlType::Q2_K => blocks(q2_k::quantize_block, src, dst),
        GgmlType::Q3_K => blocks(q3_k::quantize_block, src, dst),
        GgmlType::Q4_K => blocks(q4_k::quantize_block, src, dst),
        GgmlType::Q5_K => blocks(q5_k::quantize_block, src, dst),
        GgmlType::Q6_K => blocks(q6_k::quantize_block, src, dst),
        _ => return Err(QuantError::Unsupported { ty }),
    }
    Ok(())
}
