//! F32, F16 and BF16: one element per "block", little-endian.
//!
//! Conversions round to nearest, ties to even (half's `from_f32`, as ggml's FP32_TO_FP16 and FP32_TO_BF16).

use half::{bf16, f16};

pub fn dequantize_f32(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(4).zip(dst.iter_mut()) {
        *y = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

pub fn dequantize_f16(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(2).zip(dst.iter_mut()) {
        *y = f16::from_le_bytes([b[0], b[1]]).to_f32();
    }
}

/// BF16 is the upper half of an f32's bit pattern.
pub fn dequantize_bf16(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(2).zip(dst.iter_mut()) {
        *y = bf16::from_le_bytes([b[0], b[1]]).to_f32();
    }
}

pub fn dot_f32(row: &[u8], x: &[f32]) -> f32 {
    row.chunks_exact(4)
        .zip(x)
        .map(|(b, &xi)| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * xi)
        .sum()
}

pub fn dot_f16(row: &[u8], x: &[f32]) -> f32 {
    row.chunks_exact(2)
        .zip(x)
        .map(|(b, &xi)| f16::from_le_bytes([b[0], b[1]]).to_f32() * xi)
        .sum()
}

pub fn dot_bf16(row: &[u8], x: &[f32]) -> f32 {
    row.chunks_exact(2)
        .zip(x)
        .map(|(b, &xi)| bf16::from_le_bytes([b[0], b[1]]).to_f32() * xi)
        .sum()
}

pub fn quantize_f32(src: &[f32], dst: &mut [u8]) {
    for (x, b) in src.iter().zip(dst.chunks_exact_mut(4)) {
        b.copy_from_slice(&x.to_le_bytes());
    }
}

pub fn quantize_f16(src: &[f32], dst: &mut [u8]) {
    for (&x, b) in src.iter().zip(dst.chunks_exact_mut(2)) {
        b.copy_from_slice(&f16::from_f32(x).to_le_bytes());
    }
}

pub fn quantize_bf16(src: &[f32], dst: &mut [u8]) {
    for (&x, b) in src.iter().zip(dst.chunks_exact_mut(2)) {
        b.copy_from_slice(&bf16::from_f32(x).to_le_bytes());
    }
}
