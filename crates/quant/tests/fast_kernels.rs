//! Every fast kernel against the scalar reference — quant's dequantize of the weight row and of the
//! *same quantized* activation row, dotted in f64 — on seeded random rows of odd block counts, for
//! 1..9 activation rows (so every multi-row kernel width and remainder runs), at every SIMD level
//! this CPU supports (each forced explicitly), including the scalar level.
//! `AVIARY_SIMD=scalar cargo test -p quant` additionally runs everything else on the scalar level.

mod common;

use quant::fast::{available, quantize_acts, ActFormat, Isa, RowKernel};
use quant::{GgmlType, SUPPORTED};
use testkit::TestRng;

const TOKENS: &[usize] = &[1, 2, 3, 4, 5, 7, 8, 9, 13, 17];

/// Weight rows of `ty`: random bytes with sane scales (every bit pattern of the levels), and rows
/// quantized from random floats (realistic scales and mins).
fn weight_rows(ty: GgmlType, k: usize, rows: usize, rng: &mut TestRng) -> Vec<u8> {
    let blocks = k / ty.block_size();
    let mut out = Vec::new();
    for r in 0..rows {
        if r % 2 == 0 {
            out.extend(common::random_row(ty, blocks, rng));
        } else {
            let x = rng.vec(k, -1.5, 1.0);
            let mut row = vec![0u8; quant::row_bytes(ty, k).unwrap()];
            quant::quantize_row(ty, &x, &mut row).unwrap();
            out.extend(row);
        }
    }
    out
}

/// The f16 min of each Q4_1/Q5_1 block (whose product with Q8_1's f16 `s` is rounded, as in ggml).
fn block_mins(ty: GgmlType, row: &[u8]) -> Vec<f32> {
    match ty {
        GgmlType::Q4_1 | GgmlType::Q5_1 => row
            .chunks_exact(ty.type_size())
            .map(|b| half::f16::from_le_bytes([b[2], b[3]]).to_f32())
            .collect(),
        _ => Vec::new(),
    }
}

fn check(isa: Isa, ty: GgmlType, k: usize, rng: &mut TestRng) -> usize {
    let rows = 3;
    let w = weight_rows(ty, k, rows, rng);
    let kern = RowKernel::with_isa(isa, ty, k).unwrap();
    let fmt = ActFormat::for_weight(ty).unwrap();
    let mut cases = 0;
    for &toks in TOKENS {
        let x: Vec<f32> = (0..toks * k).map(|i| if i % 11 == 3 { 0.0 } else { rng.uniform(-3.0, 3.0) }).collect();
        let mut acts = vec![0u8; toks * kern.act_row_bytes()];
        quantize_acts(ty, &x, k, &mut acts).unwrap();
        let mut got = vec![0f32; rows * toks];
        kern.dot(&w, &acts, &mut got).unwrap();
        for r in 0..rows {
            let wrow = &w[r * kern.row_bytes()..(r + 1) * kern.row_bytes()];
            let mut wy = vec![0f32; k];
            quant::dequantize_row(ty, wrow, &mut wy).unwrap();
            let mins = block_mins(ty, wrow);
            for t in 0..toks {
                let mut ay = vec![0f32; k];
                fmt.dequantize_row(&acts[t * kern.act_row_bytes()..(t + 1) * kern.act_row_bytes()], &mut ay);
                let exact: f64 = wy.iter().zip(&ay).map(|(&p, &q)| p as f64 * q as f64).sum();
                let magnitude: f64 = wy.iter().zip(&ay).map(|(&p, &q)| (p as f64 * q as f64).abs()).sum();
                let min_term: f64 = mins
                    .iter()
                    .zip(ay.chunks_exact(32))
                    .map(|(&m, a)| (m as f64).abs() * a.iter().map(|&v| (v as f64).abs()).sum::<f64>())
                    .sum();
                let tol = 2e-6 * magnitude + 1e-3 * min_term + 1e-6;
                let g = got[r * toks + t] as f64;
                assert!(
                    (g - exact).abs() <= tol,
                    "{isa} {ty:?} k={k} tokens={toks} row {r} token {t}: got {g}, reference {exact}, tolerance {tol:.3e}"
                );
                cases += 1;
            }
        }
    }
    cases
}

#[test]
fn every_kernel_matches_the_reference_at_every_level() {
    let mut rng = TestRng::new(0x5EED_FA57);
    let mut cases = 0;
    let levels = available();
    assert!(levels.contains(&Isa::Scalar));
    for &isa in &levels {
        for ty in SUPPORTED {
            let sizes: Vec<usize> = if ty.block_size() == 1 {
                testkit::ODD_SIZES.to_vec()
            } else {
                [1, 3, 5, 7].iter().map(|b| b * ty.block_size()).collect()
            };
            for k in sizes {
                cases += check(isa, ty, k, &mut rng);
            }
        }
        eprintln!("level {isa}: ok");
    }
    assert!(cases > 1000, "only {cases} cases ran");
}

/// The reference quantizer of an activation format, applied to a whole row.
fn reference_quantize(fmt: ActFormat, x: &[f32], out: &mut [u8]) {
    let (e, b) = fmt.block();
    for (xb, ob) in x.chunks_exact(e).zip(out.chunks_exact_mut(b)) {
        match fmt {
            ActFormat::Q8_0 => quant::q8_0::quantize_block(xb.try_into().unwrap(), ob.try_into().unwrap()),
            ActFormat::Q8_1 => quant::q8_1::quantize_block(xb.try_into().unwrap(), ob.try_into().unwrap()),
            ActFormat::Q8_K => quant::q8_k::quantize_block(xb.try_into().unwrap(), ob.try_into().unwrap()),
            ActFormat::F32 => ob.copy_from_slice(&xb[0].to_le_bytes()),
        }
    }
}

/// Both planes are exactly the reference quantizers' bytes: the first of x, the second of the
/// residual x − dequantize(first). Inputs include exact rounding ties, zeros and all-zero blocks.
#[test]
fn quantized_activations_are_the_reference_quantizers_output() {
    let mut rng = TestRng::new(7);
    let mut cases = 0;
    let before = quant::fast::active();
    for ty in [GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q6_K, GgmlType::F16] {
        let fmt = ActFormat::for_weight(ty).unwrap();
        let k = 3 * 256;
        let mut x = rng.vec(2 * k, -2.0, 2.0);
        // Ties: a block whose max is 127 makes d = 1, so halves round exactly at .5.
        for (i, v) in x[..64].iter_mut().enumerate() {
            *v = if i % 32 == 0 { 127.0 } else { (i as f32 - 20.0) + 0.5 };
        }
        x[256..512].fill(0.0);
        x[600] = -5.0;
        x[601] = 5.0;
        let rb = fmt.row_bytes(k);
        for planes in [1, 2] {
            let p = quant::fast::act_planes(ty, planes);
            for isa in available() {
                quant::fast::set_active(isa).unwrap();
                let mut got = vec![0u8; 2 * p * rb];
                quant::fast::quantize_acts_planes(ty, &x, k, planes, &mut got).unwrap();
                for (r, xs) in x.chunks_exact(k).enumerate() {
                    let mut want = vec![0u8; rb];
                    reference_quantize(fmt, xs, &mut want);
                    let row = &got[r * p * rb..(r + 1) * p * rb];
                    assert_eq!(&row[..rb], &want[..], "{isa} {ty:?} plane 1 row {r}");
                    if p == 2 {
                        let mut deq = vec![0f32; k];
                        fmt.dequantize_row(&want, &mut deq);
                        let res: Vec<f32> = xs.iter().zip(&deq).map(|(a, b)| a - b).collect();
                        reference_quantize(fmt, &res, &mut want);
                        assert_eq!(&row[rb..], &want[..], "{isa} {ty:?} plane 2 row {r}");
                    }
                    cases += 1;
                }
            }
        }
    }
    quant::fast::set_active(before).unwrap();
    assert!(cases > 0);
}

#[test]
fn bad_lengths_are_errors_not_panics() {
    let kern = RowKernel::new(GgmlType::Q4_K, 512).unwrap();
    let w = vec![0u8; kern.row_bytes() * 2];
    let acts = vec![0u8; kern.act_row_bytes()];
    let mut out = vec![0f32; 2];
    assert!(kern.dot(&w[1..], &acts, &mut out).is_err());
    assert!(kern.dot(&w, &acts[1..], &mut out).is_err());
    assert!(kern.dot(&w, &acts, &mut out[1..]).is_err());
    assert!(kern.dot(&w, &acts, &mut out).is_ok());
    assert!(RowKernel::new(GgmlType::Q4_K, 100).is_err());
    assert!(quantize_acts(GgmlType::Q8_0, &[0.0; 33], 33, &mut [0u8; 64]).is_err());
}
