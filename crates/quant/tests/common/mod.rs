//! Helpers shared by the quant integration tests.
#![allow(dead_code)]

use quant::GgmlType;
use testkit::TestRng;

/// Byte offsets of the f16 scale fields inside one block of each block format.
pub fn f16_field_offsets(ty: GgmlType) -> &'static [usize] {
    match ty {
        GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => &[0],
        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
        GgmlType::Q2_K => &[80, 82],
        GgmlType::Q3_K => &[108],
        GgmlType::Q6_K => &[208],
        _ => &[],
    }
}

/// `n_blocks` blocks of random bytes of type `ty`, with every float field replaced by a finite value
/// of moderate size so that sums cannot overflow or turn NaN.
pub fn random_row(ty: GgmlType, n_blocks: usize, rng: &mut TestRng) -> Vec<u8> {
    let block_bytes = ty.type_size();
    let mut bytes = rng.bytes(n_blocks * block_bytes);
    for block in bytes.chunks_exact_mut(block_bytes) {
        match ty {
            GgmlType::F32 => block.copy_from_slice(&rng.uniform(-4.0, 4.0).to_le_bytes()),
            GgmlType::F16 => {
                block.copy_from_slice(&half::f16::from_f32(rng.uniform(-4.0, 4.0)).to_le_bytes())
            }
            GgmlType::BF16 => {
                block.copy_from_slice(&half::bf16::from_f32(rng.uniform(-4.0, 4.0)).to_le_bytes())
            }
            _ => {
                for &off in f16_field_offsets(ty) {
                    let v = half::f16::from_f32(rng.uniform(-0.05, 0.05));
                    block[off..off + 2].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
    }
    bytes
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// sqrt(mean((a − b)²)) / sqrt(mean(b²)).
pub fn relative_rmse(a: &[f32], reference: &[f32]) -> f64 {
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (&x, &r) in a.iter().zip(reference) {
        num += (x as f64 - r as f64).powi(2);
        den += (r as f64).powi(2);
    }
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

pub fn rmse(a: &[f32], reference: &[f32]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(reference)
        .map(|(&x, &r)| (x as f64 - r as f64).powi(2))
        .sum();
    (num / reference.len() as f64).sqrt()
}
