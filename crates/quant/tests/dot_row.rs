//! dot_row must equal dequantize_row followed by a plain dot product, for every supported type, on
//! random block contents and odd numbers of blocks.

mod common;

use quant::{GgmlType, SUPPORTED};
use testkit::{TestRng, ODD_SIZES};

#[test]
fn dot_row_equals_dequantize_then_dot() {
    let seed = 0x05ee_dd07;
    println!("seed {seed:#x}");
    let mut rng = TestRng::new(seed);
    let mut cases = 0;
    for ty in SUPPORTED {
        for &n_blocks in ODD_SIZES {
            let n = n_blocks * ty.block_size();
            let row = common::random_row(ty, n_blocks, &mut rng);
            let x = rng.vec(n, -1.0, 1.0);
            let mut y = vec![0.0f32; n];
            quant::dequantize_row(ty, &row, &mut y).unwrap();
            assert!(y.iter().all(|v| v.is_finite()), "{ty}: non-finite decode");
            let expected = common::dot(&y, &x);
            let got = quant::dot_row(ty, &row, &x).unwrap();
            // Only summation order differs, so the error is bounded by a few ulps of Σ|y·x| per term.
            let magnitude: f32 = y.iter().zip(&x).map(|(a, b)| (a * b).abs()).sum();
            let tol = 1e-6 * magnitude * (n as f32).sqrt() + 1e-30;
            assert!(
                (got - expected).abs() <= tol,
                "{ty} with {n_blocks} blocks: dot_row {got} vs dequantize+dot {expected} (tol {tol})"
            );
            cases += 1;
        }
    }
    assert_eq!(cases, SUPPORTED.len() * ODD_SIZES.len());
}

/// One format's public per-block functions against the row functions, on three random blocks.
fn check_block_functions<const E: usize, const B: usize>(
    ty: GgmlType,
    dequantize_block: fn(&[u8; B], &mut [f32; E]),
    dot_block: fn(&[u8; B], &[f32; E]) -> f32,
    rng: &mut TestRng,
) {
    assert_eq!(
        (B, E),
        (ty.type_size(), ty.block_size()),
        "{ty}: block constants"
    );
    let row = common::random_row(ty, 3, rng);
    let x = rng.vec(3 * E, -1.0, 1.0);
    let mut y_row = vec![0.0f32; x.len()];
    quant::dequantize_row(ty, &row, &mut y_row).unwrap();
    for (i, (block, xs)) in row.chunks_exact(B).zip(x.chunks_exact(E)).enumerate() {
        let block: &[u8; B] = block.try_into().unwrap();
        let xs: &[f32; E] = xs.try_into().unwrap();
        let mut y = [0.0f32; E];
        dequantize_block(block, &mut y);
        assert_eq!(&y[..], &y_row[i * E..(i + 1) * E], "{ty} block {i}");
        let d = dot_block(block, xs);
        assert!(
            (d - common::dot(&y, xs)).abs() <= 1e-5 * (1.0 + d.abs()),
            "{ty} block {i}: dot_block {d}"
        );
    }
}

/// The public per-block functions agree with the row functions (fast kernels test against them).
#[test]
fn block_functions_agree_with_rows() {
    let rng = &mut TestRng::new(17);
    check_block_functions(
        GgmlType::Q4_0,
        quant::q4_0::dequantize_block,
        quant::q4_0::dot_block,
        rng,
    );
    check_block_functions(
        GgmlType::Q4_1,
        quant::q4_1::dequantize_block,
        quant::q4_1::dot_block,
        rng,
    );
    check_block_functions(
        GgmlType::Q5_0,
        quant::q5_0::dequantize_block,
        quant::q5_0::dot_block,
        rng,
    );
    check_block_functions(
        GgmlType::Q5_1,
        quant::q5_1::dequantize_block,
        quant::q5_1::dot_block,
        rng,
    );
    check_block_functions(
        GgmlType::Q8_0,
        quant::q8_0::dequantize_block,
        quant::q8_0::dot_block,
        rng,
    );
    check_block_functions(
        GgmlType::Q2_K,
        quant::q2_k::dequantize_block,
        quant::q2_k::dot_block,
        rng,
    );
    check_block_functions(
        GgmlType::Q3_K,
        quant::q3_k::dequantize_block,
        quant::q3_k::dot_block,
        rng,
    );
    check_block_functions(
        GgmlType::Q4_K,
        quant::q4_k::dequantize_block,
        quant::q4_k::dot_block,
        rng,
    );
    check_block_functions(
        GgmlType::Q5_K,
        quant::q5_k::dequantize_block,
        quant::q5_k::dot_block,
        rng,
    );
    check_block_functions(
        GgmlType::Q6_K,
        quant::q6_k::dequantize_block,
        quant::q6_k::dot_block,
        rng,
    );
}
