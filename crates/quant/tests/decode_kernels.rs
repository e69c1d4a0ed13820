//! The decode shapes of every fast kernel against the scalar reference: one token with one or two
//! activation planes over many weight rows, with rows both short and longer than any stack buffer
//! a kernel packs activations into (so the packed and in-place paths of each kernel both run), at
//! every SIMD level this CPU supports. `fast_kernels.rs` covers the tile widths; this covers the
//! row counts and row lengths of a decode step.

mod common;

use quant::fast::{available, quantize_acts_planes, ActFormat, RowKernel};
use quant::{GgmlType, SUPPORTED};
use testkit::TestRng;

/// Blocks per row: odd, and up to past 8192 elements of 32-element blocks (the Q8_0 packed limit).
const BLOCKS: &[usize] = &[1, 3, 17, 255, 257, 259];

#[test]
fn decode_rows_match_the_reference_at_every_level() {
    let mut rng = TestRng::new(0xDEC0_DE01);
    let mut cases = 0;
    for isa in available() {
        for ty in SUPPORTED {
            let fmt = ActFormat::for_weight(ty).unwrap();
            let unit = if ty.block_size() == 1 { 32 } else { ty.block_size() };
            for &blocks in BLOCKS {
                let k = blocks * unit + if ty.block_size() == 1 { 1 } else { 0 };
                if ty.block_size() == 256 && blocks > 17 {
                    continue; // long K-quant rows add nothing but time
                }
                let rows = 1 + (rng.next_u64() % 9) as usize;
                let mut w = Vec::new();
                for _ in 0..rows {
                    w.extend(common::random_row(ty, k / ty.block_size(), &mut rng));
                }
                let kern = RowKernel::with_isa(isa, ty, k).unwrap();
                for planes in [1, 2] {
                    let p = quant::fast::act_planes(ty, planes);
                    let x = rng.vec(k, -3.0, 3.0);
                    let mut acts = vec![0u8; p * kern.act_row_bytes()];
                    quantize_acts_planes(ty, &x, k, planes, &mut acts).unwrap();
                    let mut got = vec![0f32; rows * p];
                    kern.dot(&w, &acts, &mut got).unwrap();
                    let mut wy = vec![0f32; k];
                    let mut ay = vec![0f32; k];
                    for r in 0..rows {
                        quant::dequantize_row(ty, &w[r * kern.row_bytes()..(r + 1) * kern.row_bytes()], &mut wy).unwrap();
                        for t in 0..p {
                            fmt.dequantize_row(&acts[t * kern.act_row_bytes()..(t + 1) * kern.act_row_bytes()], &mut ay);
                            let exact: f64 = wy.iter().zip(&ay).map(|(&a, &b)| a as f64 * b as f64).sum();
                            let magnitude: f64 = wy.iter().zip(&ay).map(|(&a, &b)| (a as f64 * b as f64).abs()).sum();
                            // Q4_1/Q5_1 round Q8_1's d·Σq to f16, as ggml does; a looser bound there.
                            let tol = if matches!(ty, GgmlType::Q4_1 | GgmlType::Q5_1) { 2e-3 } else { 2e-6 } * magnitude + 1e-6;
                            let g = got[r * p + t] as f64;
                            assert!((g - exact).abs() <= tol, "{isa} {ty:?} k={k} rows={rows} row {r} plane {t}: got {g}, reference {exact}, tol {tol:.3e}");
                            cases += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(cases > 500, "only {cases} cases ran");
}
