//! Both builds of every NEON kernel (plain, and `sdot` where the CPU has it) against the f64 dot
//! of the dequantized weight row and the dequantized *quantized* activation row, on seeded random
//! rows of odd block counts, for every table entry (N = 1..8 activation rows), with activation
//! rows from both planes of `quantize_acts_planes`; and each row's result is bit-identical
//! whether it is computed alone or in a group. The public-API test of the Neon level is
//! tests/neon_kernels.rs; this one reaches the plain build on CPUs that have `sdot`.

use gguf::GgmlType;
use testkit::TestRng;

use super::{has_dotprod, kernels_with};
use crate::fast::{quantize_acts_planes, ActFormat, Kern};

/// Weight rows: random bytes with moderate f16 scales (every level pattern), alternating with rows
/// quantized from random floats (realistic scales and mins).
fn weight_rows(ty: GgmlType, k: usize, rows: usize, rng: &mut TestRng) -> Vec<u8> {
    let rb = crate::row_bytes(ty, k).unwrap();
    let mut out = Vec::new();
    for r in 0..rows {
        let mut row = vec![0u8; rb];
        if r % 2 == 1 || ty.block_size() == 1 {
            let x = rng.vec(k, -1.5, 1.0);
            crate::quantize_row(ty, &x, &mut row).unwrap();
        } else {
            row = rng.bytes(rb);
            let f16s: &[usize] = match ty {
                GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => &[0],
                GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
                GgmlType::Q2_K => &[80, 82],
                GgmlType::Q3_K => &[108],
                _ => &[208],
            };
            for blk in row.chunks_exact_mut(ty.type_size()) {
                for &off in f16s {
                    blk[off..off + 2].copy_from_slice(&half::f16::from_f32(rng.uniform(-0.05, 0.05)).to_le_bytes());
                }
            }
        }
        out.extend(row);
    }
    out
}

fn check(table: &[Kern; 8], ty: GgmlType, k: usize, rng: &mut TestRng) -> usize {
    let rows = 3;
    let w = weight_rows(ty, k, rows, rng);
    let rb = crate::row_bytes(ty, k).unwrap();
    let fmt = ActFormat::for_weight(ty).unwrap();
    let ab = fmt.row_bytes(k);
    let units = k / ty.block_size();
    let mut cases = 0;
    for n in 1..=8 {
        // n/2 rows quantized with two planes (a residual plane has small scales), the rest with one.
        let x: Vec<f32> = (0..n * k).map(|i| if i % 13 == 5 { 0.0 } else { rng.uniform(-3.0, 3.0) }).collect();
        let mut acts = vec![0u8; 2 * n * ab];
        let (pairs, planes) = (n / 2, crate::fast::act_planes(ty, 2));
        let ones = planes * pairs * ab;
        quantize_acts_planes(ty, &x[..pairs * k], k, 2, &mut acts[..ones]).unwrap();
        quantize_acts_planes(ty, &x[pairs * k..], k, 1, &mut acts[ones..ones + (n - pairs) * ab]).unwrap();
        let act_rows = planes * pairs + n - pairs;
        // Every act row, in groups of up to n, through table[n − 1].
        let mut start = 0;
        while start < act_rows {
            let m = (act_rows - start).min(n);
            let ptrs: Vec<*const u8> = (0..m).map(|i| acts[(start + i) * ab..].as_ptr()).collect();
            let mut got = vec![f32::NAN; rows * m];
            // SAFETY: rows whole weight rows, m whole activation rows, outputs r·m + j < rows·m.
            unsafe { table[m - 1](w.as_ptr(), rb, rows, units, &ptrs, got.as_mut_ptr(), m) };
            // A row's result must not depend on its group (serial decode = chunked prefill).
            for (j, &p) in ptrs.iter().enumerate() {
                let mut alone = vec![f32::NAN; rows];
                // SAFETY: as above, one activation row.
                unsafe { table[0](w.as_ptr(), rb, rows, units, &[p], alone.as_mut_ptr(), 1) };
                for r in 0..rows {
                    assert_eq!(alone[r].to_bits(), got[r * m + j].to_bits(), "{ty:?} k={k}: row {r} act {} alone vs in a group of {m}", start + j);
                }
            }
            for r in 0..rows {
                let wrow = &w[r * rb..(r + 1) * rb];
                let mut wy = vec![0f32; k];
                crate::dequantize_row(ty, wrow, &mut wy).unwrap();
                for j in 0..m {
                    let mut ay = vec![0f32; k];
                    fmt.dequantize_row(&acts[(start + j) * ab..(start + j + 1) * ab], &mut ay);
                    let exact: f64 = wy.iter().zip(&ay).map(|(&p, &q)| p as f64 * q as f64).sum();
                    let magnitude: f64 = wy.iter().zip(&ay).map(|(&p, &q)| (p as f64 * q as f64).abs()).sum();
                    // Q4_1/Q5_1: the min term uses Q8_1's f16-rounded d·Σq (as ggml does).
                    let min_term: f64 = match ty {
                        GgmlType::Q4_1 | GgmlType::Q5_1 => wrow
                            .chunks_exact(ty.type_size())
                            .zip(ay.chunks_exact(32))
                            .map(|(b, a)| {
                                let m = half::f16::from_le_bytes([b[2], b[3]]).to_f32() as f64;
                                m.abs() * a.iter().map(|&v| (v as f64).abs()).sum::<f64>()
                            })
                            .sum(),
                        _ => 0.0,
                    };
                    let tol = 2e-6 * magnitude + 1e-3 * min_term + 1e-6;
                    let g = got[r * m + j] as f64;
                    assert!((g - exact).abs() <= tol, "{ty:?} k={k} n={n} row {r} act {}: got {g}, reference {exact}, tol {tol:.3e}", start + j);
                    cases += 1;
                }
            }
            start += m;
        }
    }
    cases
}

fn check_all<const DOT: bool>(seed: u64) {
    let mut rng = TestRng::new(seed);
    let mut cases = 0;
    for ty in crate::SUPPORTED {
        let table = kernels_with::<DOT>(ty).expect("every supported type has NEON kernels");
        let sizes: Vec<usize> = if ty.block_size() == 1 { testkit::ODD_SIZES.to_vec() } else { [1, 3, 5].iter().map(|b| b * ty.block_size()).collect() };
        for k in sizes {
            cases += check(&table, ty, k, &mut rng);
        }
    }
    assert!(cases > 1000, "only {cases} cases");
}

#[test]
fn plain_neon_kernels_match_the_reference() {
    check_all::<false>(0xA64_0001);
}

#[test]
fn sdot_kernels_match_the_reference() {
    if !has_dotprod() {
        eprintln!("no dotprod on this CPU: sdot kernels not run");
        return;
    }
    check_all::<true>(0xA64_0002);
}
