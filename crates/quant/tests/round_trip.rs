//! quantize_row then dequantize_row on seeded random data: error bounds for every type, exact cases,
//! and inputs that are easy to get wrong (zeros, constants, outliers, non-finite values).

mod common;

use quant::{GgmlType, SUPPORTED};
use testkit::{TestRng, ODD_SIZES};

fn round_trip(ty: GgmlType, x: &[f32]) -> Vec<f32> {
    let mut bytes = vec![0u8; quant::row_bytes(ty, x.len()).unwrap()];
    quant::quantize_row(ty, x, &mut bytes).unwrap();
    let mut y = vec![0.0f32; x.len()];
    quant::dequantize_row(ty, &bytes, &mut y).unwrap();
    y
}

/// Largest relative RMSE accepted for uniform data in [−1, 1): about 1.3x the worst measured over these
/// cases (Q4_0 0.088, Q4_1 0.063, Q5_0 0.032, Q5_1 0.034, Q8_0 0.0038, Q2_K 0.235, Q3_K 0.126,
/// Q4_K 0.057, Q5_K 0.028, Q6_K 0.0134, F16 0.0002, BF16 0.0017).
fn max_relative_rmse(ty: GgmlType) -> f64 {
    match ty {
        GgmlType::F32 => 0.0,
        GgmlType::F16 => 3e-4,
        GgmlType::BF16 => 2.5e-3,
        GgmlType::Q8_0 => 5e-3,
        GgmlType::Q6_K => 0.018,
        GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Q5_K => 0.045,
        GgmlType::Q4_1 | GgmlType::Q4_K => 0.08,
        GgmlType::Q4_0 => 0.115,
        GgmlType::Q3_K => 0.165,
        GgmlType::Q2_K => 0.31,
        other => panic!("no bound for {other}"),
    }
}

#[test]
fn round_trip_error_is_within_each_formats_bound() {
    let seed = 0xa11_0c8;
    println!("seed {seed:#x}");
    let mut rng = TestRng::new(seed);
    let mut cases = 0;
    for ty in SUPPORTED {
        let mut worst = 0.0f64;
        for &n_blocks in ODD_SIZES {
            let n = n_blocks * ty.block_size();
            let x = rng.vec(n, -1.0, 1.0);
            let err = common::relative_rmse(&round_trip(ty, &x), &x);
            assert!(
                err <= max_relative_rmse(ty),
                "{ty}, {n_blocks} blocks: relative RMSE {err:.5}"
            );
            worst = worst.max(err);
            cases += 1;
        }
        println!(
            "{ty}: worst relative RMSE {worst:.5} (bound {})",
            max_relative_rmse(ty)
        );
    }
    assert_eq!(cases, SUPPORTED.len() * ODD_SIZES.len());
}

/// Values on Q8_0's grid (integers in −127..=127 times an f16 scale, each block containing ±127)
/// come back exactly.
#[test]
fn q8_0_round_trips_representable_values_exactly() {
    let mut rng = TestRng::new(8);
    for &n_blocks in ODD_SIZES {
        let mut x = Vec::new();
        for _ in 0..n_blocks {
            let d = half::f16::from_f32(rng.uniform(1e-3, 1.0)).to_f32();
            let mut q: Vec<i32> = (0..32)
                .map(|_| (rng.next_u64() % 255) as i32 - 127)
                .collect();
            q[(rng.next_u64() % 32) as usize] = if rng.next_u64() % 2 == 0 { 127 } else { -127 };
            x.extend(q.iter().map(|&q| q as f32 * d));
        }
        assert_eq!(round_trip(GgmlType::Q8_0, &x), x, "{n_blocks} blocks");
    }
}

/// F16 and BF16 values survive their own format unchanged; F32 is a copy.
#[test]
fn float_formats_round_trip_their_own_values() {
    let mut rng = TestRng::new(16);
    let x: Vec<f32> = rng.vec(257, -100.0, 100.0);
    assert_eq!(round_trip(GgmlType::F32, &x), x);
    let h: Vec<f32> = x.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect();
    assert_eq!(round_trip(GgmlType::F16, &h), h);
    let b: Vec<f32> = x
        .iter()
        .map(|&v| half::bf16::from_f32(v).to_f32())
        .collect();
    assert_eq!(round_trip(GgmlType::BF16, &b), b);
}

#[test]
fn zero_blocks_decode_to_zero() {
    for ty in SUPPORTED {
        let x = vec![0.0f32; 3 * ty.block_size().max(32)];
        assert!(round_trip(ty, &x).iter().all(|&v| v == 0.0), "{ty}");
    }
}

/// A constant block, a block with one outlier and tiny values must not blow up.
#[test]
fn awkward_blocks_stay_close() {
    let mut rng = TestRng::new(99);
    let mut cases = 0;
    for ty in SUPPORTED {
        let n = 256;
        let constant = vec![0.37f32; n];
        let mut outlier = rng.vec(n, -0.01, 0.01);
        outlier[77] = 5.0;
        let tiny = rng.vec(n, -1e-6, 1e-6);
        let negative = rng.vec(n, -1.0, -0.5);
        for (what, x) in [
            ("constant", constant),
            ("outlier", outlier),
            ("tiny", tiny),
            ("negative", negative),
        ] {
            let y = round_trip(ty, &x);
            let err = common::relative_rmse(&y, &x);
            // Tiny values underflow f16 scales for some formats; they must still decode to something small.
            let bound = if what == "tiny" { 1.0 } else { 0.5 };
            assert!(err <= bound, "{ty} {what}: relative RMSE {err}");
            cases += 1;
        }
    }
    assert_eq!(cases, 4 * SUPPORTED.len());
}

/// Non-finite input gives unspecified bytes, but never a panic.
#[test]
fn non_finite_input_does_not_panic() {
    for ty in SUPPORTED {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX] {
            let mut x = vec![0.5f32; 256];
            x[3] = bad;
            let _ = round_trip(ty, &x);
        }
    }
}
