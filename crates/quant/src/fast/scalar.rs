//! The scalar level: decode each weight block and activation block with quant's reference
//! functions and multiply in f32. Slow, exact to the references, and what the SIMD levels are
//! tested against.

use gguf::GgmlType;

use crate::{float, q2_k, q3_k, q4_0, q4_1, q4_k, q5_0, q5_1, q5_k, q6_k, q8_0, q8_1, q8_k};

fn blocks<const E: usize, const B: usize, const AB: usize>(
    wdeq: fn(&[u8; B], &mut [f32; E]),
    adeq: fn(&[u8; AB], &mut [f32; E]),
    w: &[u8],
    a: &[u8],
) -> f32 {
    let (mut wy, mut ay) = ([0f32; E], [0f32; E]);
    let mut sum = 0f32;
    for (wb, ab) in w.chunks_exact(B).zip(a.chunks_exact(AB)) {
        wdeq(wb.try_into().expect("B"), &mut wy);
        adeq(ab.try_into().expect("AB"), &mut ay);
        sum += wy.iter().zip(&ay).map(|(x, y)| x * y).sum::<f32>();
    }
    sum
}

fn floats(wdeq: fn(&[u8], &mut [f32]), elem: usize, w: &[u8], a: &[u8]) -> f32 {
    const CHUNK: usize = 64;
    let (mut wy, mut ay) = ([0f32; CHUNK], [0f32; CHUNK]);
    let mut sum = 0f32;
    for (wc, ac) in w.chunks(CHUNK * elem).zip(a.chunks(CHUNK * 4)) {
        let n = wc.len() / elem;
        wdeq(wc, &mut wy[..n]);
        float::dequantize_f32(ac, &mut ay[..n]);
        sum += wy[..n].iter().zip(&ay[..n]).map(|(x, y)| x * y).sum::<f32>();
    }
    sum
}

/// One weight row · one activation row (in `ActFormat::for_weight(ty)`); lengths checked by the caller.
pub(crate) fn dot(ty: GgmlType, w: &[u8], a: &[u8]) -> f32 {
    match ty {
        GgmlType::F32 => floats(float::dequantize_f32, 4, w, a),
        GgmlType::F16 => floats(float::dequantize_f16, 2, w, a),
        GgmlType::BF16 => floats(float::dequantize_bf16, 2, w, a),
        GgmlType::Q8_0 => blocks(q8_0::dequantize_block, q8_0::dequantize_block, w, a),
        GgmlType::Q4_0 => blocks(q4_0::dequantize_block, q8_0::dequantize_block, w, a),
        GgmlType::Q5_0 => blocks(q5_0::dequantize_block, q8_0::dequantize_block, w, a),
        GgmlType::Q4_1 => blocks(q4_1::dequantize_block, q8_1::dequantize_block, w, a),
        GgmlType::Q5_1 => blocks(q5_1::dequantize_block, q8_1::dequantize_block, w, a),
        GgmlType::Q2_K => blocks(q2_k::dequantize_block, q8_k::dequantize_block, w, a),
        GgmlType::Q3_K => blocks(q3_k::dequantize_block, q8_k::dequantize_block, w, a),
        GgmlType::Q4_K => blocks(q4_k::dequantize_block, q8_k::dequantize_block, w, a),
        GgmlType::Q5_K => blocks(q5_k::dequantize_block, q8_k::dequantize_block, w, a),
        GgmlType::Q6_K => blocks(q6_k::dequantize_block, q8_k::dequantize_block, w, a),
        _ => unreachable!("RowKernel::new accepts only supported types"),
    }
}
