//! Row loops shared by all block formats: a row is a run of whole blocks. Callers check lengths first.

/// Dot product of one block with `x`, by decoding the block into a stack buffer (the reference way).
pub fn dot_block<const E: usize, const B: usize>(
    dequantize: fn(&[u8; B], &mut [f32; E]),
    block: &[u8; B],
    x: &[f32; E],
) -> f32 {
    let mut y = [0.0f32; E];
    dequantize(block, &mut y);
    y.iter().zip(x).map(|(a, b)| a * b).sum()
}

pub(crate) fn dequantize_blocks<const E: usize, const B: usize>(
    dequantize: fn(&[u8; B], &mut [f32; E]),
    src: &[u8],
    dst: &mut [f32],
) {
    for (block, out) in src.chunks_exact(B).zip(dst.chunks_exact_mut(E)) {
        dequantize(
            block.try_into().expect("chunks_exact(B)"),
            out.try_into().expect("chunks_exact_mut(E)"),
        );
    }
}

pub(crate) fn dot_blocks<const E: usize, const B: usize>(
    dequantize: fn(&[u8; B], &mut [f32; E]),
    row: &[u8],
    x: &[f32],
) -> f32 {
    let mut sum = 0.0f32;
    for (block, xs) in row.chunks_exact(B).zip(x.chunks_exact(E)) {
        sum += dot_block(
            dequantize,
            block.try_into().expect("chunks_exact(B)"),
            xs.try_into().expect("chunks_exact(E)"),
        );
    }
    sum
}

pub(crate) fn quantize_blocks<const E: usize, const B: usize>(
    quantize: fn(&[f32; E], &mut [u8; B]),
    src: &[f32],
    dst: &mut [u8],
) {
    for (xs, block) in src.chunks_exact(E).zip(dst.chunks_exact_mut(B)) {
        quantize(
            xs.try_into().expect("chunks_exact(E)"),
            block.try_into().expect("chunks_exact_mut(B)"),
        );
    }
}
