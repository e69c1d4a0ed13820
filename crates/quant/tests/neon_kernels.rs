//! The aarch64 NEON level through the public API: on aarch64 it must be detected and used, and
//! every type's kernels at `Isa::Neon` must agree with the scalar level (quant's reference decode)
//! on seeded random rows of odd block counts, for exactly 1..=8 activation rows (every kernel
//! width, one call each) plus 17 (several calls), with one- and two-plane activations.
//! Elsewhere the test only checks that Neon is refused. Both the `sdot` and the plain-NEON builds
//! are reached by running under CPUs with and without the dot-product extension (e.g. qemu
//! `-cpu max` and `-cpu cortex-a53`); the crate's unit tests also run both builds directly.

mod common;

use quant::fast::{act_planes, detected, quantize_acts_planes, ActFormat, Isa, RowKernel};
use quant::{GgmlType, SUPPORTED};
use testkit::TestRng;

#[test]
fn neon_is_detected_exactly_on_aarch64() {
    assert_eq!(Isa::Neon.is_supported(), cfg!(target_arch = "aarch64"));
    if cfg!(target_arch = "aarch64") {
        assert_eq!(detected(), Isa::Neon);
        let k = RowKernel::with_isa(Isa::Neon, GgmlType::Q4_K, 256).unwrap();
        assert_eq!(k.max_rows(), 8, "the Neon level has SIMD kernels (the scalar path takes 1 row)");
        assert_eq!(RowKernel::with_isa(Isa::Neon, GgmlType::F16, 7).unwrap().max_rows(), 4);
    } else {
        assert!(RowKernel::with_isa(Isa::Neon, GgmlType::Q8_0, 32).is_err());
    }
}

fn weight_rows(ty: GgmlType, k: usize, rows: usize, rng: &mut TestRng) -> Vec<u8> {
    let mut out = Vec::new();
    for r in 0..rows {
        if r % 2 == 0 {
            out.extend(common::random_row(ty, k / ty.block_size(), rng));
        } else {
            let mut row = vec![0u8; quant::row_bytes(ty, k).unwrap()];
            quant::quantize_row(ty, &rng.vec(k, -1.5, 1.0), &mut row).unwrap();
            out.extend(row);
        }
    }
    out
}

/// Neon against scalar on `toks` input rows (× planes activation rows); returns cases checked.
fn check(ty: GgmlType, k: usize, toks: usize, planes: usize, rng: &mut TestRng) -> usize {
    let rows = 5;
    let w = weight_rows(ty, k, rows, rng);
    let neon = RowKernel::with_isa(Isa::Neon, ty, k).unwrap();
    let scalar = RowKernel::with_isa(Isa::Scalar, ty, k).unwrap();
    let x: Vec<f32> = (0..toks * k).map(|i| if i % 7 == 2 { 0.0 } else { rng.uniform(-2.5, 2.5) }).collect();
    let n = toks * act_planes(ty, planes);
    let ab = neon.act_row_bytes();
    let mut acts = vec![0u8; n * ab];
    quantize_acts_planes(ty, &x, k, planes, &mut acts).unwrap();
    let (mut got, mut want) = (vec![f32::NAN; rows * n], vec![0f32; rows * n]);
    neon.dot(&w, &acts, &mut got).unwrap();
    scalar.dot(&w, &acts, &mut want).unwrap();
    let fmt = ActFormat::for_weight(ty).unwrap();
    for r in 0..rows {
        let wrow = &w[r * neon.row_bytes()..(r + 1) * neon.row_bytes()];
        let mut wy = vec![0f32; k];
        quant::dequantize_row(ty, wrow, &mut wy).unwrap();
        for t in 0..n {
            let mut ay = vec![0f32; k];
            fmt.dequantize_row(&acts[t * ab..(t + 1) * ab], &mut ay);
            // Both levels round differently (summation order; Q4_1/Q5_1's f16 `d·Σq` min term).
            let magnitude: f32 = wy.iter().zip(&ay).map(|(p, q)| (p * q).abs()).sum();
            let amin: f32 = match ty {
                GgmlType::Q4_1 | GgmlType::Q5_1 => wrow
                    .chunks_exact(ty.type_size())
                    .zip(ay.chunks_exact(32))
                    .map(|(b, a)| half::f16::from_le_bytes([b[2], b[3]]).to_f32().abs() * a.iter().map(|v| v.abs()).sum::<f32>())
                    .sum(),
                _ => 0.0,
            };
            let tol = 4e-6 * magnitude + 2e-3 * amin + 1e-6;
            let (g, s) = (got[r * n + t], want[r * n + t]);
            assert!((g - s).abs() <= tol, "{ty:?} k={k} toks={toks} planes={planes} row {r} act {t}: neon {g}, scalar {s}, tol {tol:.3e}");
        }
    }
    rows * n
}

#[test]
fn every_neon_kernel_matches_the_scalar_level() {
    if !Isa::Neon.is_supported() {
        eprintln!("not aarch64: Neon kernels not run");
        return;
    }
    let mut rng = TestRng::new(0xA64_5EED);
    let mut cases = 0;
    for ty in SUPPORTED {
        let sizes: Vec<usize> = if ty.block_size() == 1 { vec![1, 7, 33, 65, 255] } else { [1, 3, 7].iter().map(|b| b * ty.block_size()).collect() };
        for k in sizes {
            for toks in (1..=8).chain([17]) {
                cases += check(ty, k, toks, 1 + toks % 2, &mut rng);
            }
        }
    }
    eprintln!("Neon (dotprod: {}): {cases} cases", std::env::consts::ARCH == "aarch64" && dotprod());
    assert!(cases > 2000, "only {cases} cases");
}

#[cfg(target_arch = "aarch64")]
fn dotprod() -> bool {
    std::arch::is_aarch64_feature_detected!("dotprod")
}

#[cfg(not(target_arch = "aarch64"))]
fn dotprod() -> bool {
    false
}
