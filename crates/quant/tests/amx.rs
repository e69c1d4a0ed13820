//! The AMX BF16 prefill matmul: the split's precision, the scalar reference against exact f64
//! arithmetic, and the tile kernel against the scalar reference on seeded random odd sizes (M, K
//! and T not multiples of 16/32) for every weight type. The kernel tests need a CPU with AMX-BF16
//! and the OS's permission; elsewhere they say so and check only that the path refuses cleanly.

mod common;

use quant::fast::amx::{self, reference_matmul, split_bf16, AmxMatmul, Terms, BLOCK_ROWS, TOKEN_TILE};

const ALL_TERMS: [Terms; 3] = [Terms::One, Terms::Two, Terms::Three];
use quant::{GgmlType, SUPPORTED};
use testkit::TestRng;

fn bf16(h: u16) -> f64 {
    f32::from_bits((h as u32) << 16) as f64
}

/// Weight rows of `ty`: random blocks with sane scales and rows quantized from random floats.
fn weight_rows(ty: GgmlType, k: usize, rows: usize, rng: &mut TestRng) -> Vec<u8> {
    let mut out = Vec::new();
    for r in 0..rows {
        if r % 2 == 0 {
            out.extend(common::random_row(ty, k / ty.block_size(), rng));
        } else {
            let x = rng.vec(k, -1.5, 1.0);
            let mut row = vec![0u8; quant::row_bytes(ty, k).unwrap()];
            quant::quantize_row(ty, &x, &mut row).unwrap();
            out.extend(row);
        }
    }
    out
}

fn dequantized(ty: GgmlType, w: &[u8], k: usize) -> Vec<Vec<f32>> {
    let rb = quant::row_bytes(ty, k).unwrap();
    w.chunks_exact(rb)
        .map(|r| {
            let mut y = vec![0f32; k];
            quant::dequantize_row(ty, r, &mut y).unwrap();
            y
        })
        .collect()
}

/// Row lengths to try: odd multiples of the block for block formats, odd sizes for float ones.
fn ks(ty: GgmlType) -> Vec<usize> {
    if ty.block_size() == 1 {
        vec![1, 7, 33, 65, 257]
    } else {
        [1, 3, 5].iter().map(|b| b * ty.block_size()).collect()
    }
}

#[test]
fn f16_values_split_exactly_and_f32_values_keep_16_bits() {
    let mut rng = TestRng::new(0xB16);
    let mut n = 0;
    for _ in 0..20_000 {
        let v = rng.uniform(-65_000.0, 65_000.0) * if rng.next_u64().is_multiple_of(2) { 1e-6 } else { 1.0 };
        let h = half::f16::from_f32(v).to_f32();
        let (a, b) = split_bf16(h);
        assert_eq!(bf16(a) + bf16(b), h as f64, "f16 value {h} did not split exactly");
        let (a, b) = split_bf16(v);
        let err = (bf16(a) + bf16(b) - v as f64).abs();
        assert!(err <= (v as f64).abs() * 2f64.powi(-16), "{v}: split error {err}");
        n += 1;
    }
    assert_eq!(split_bf16(0.0), (0, 0));
    assert!(n > 0);
}

/// The reference's arithmetic stays within its precision of the exact product's magnitude: three
/// split products (dropped lo·lo) 2⁻¹⁵, two (weights rounded to bf16) 2⁻⁸, one (both rounded) 2⁻⁷.
#[test]
fn reference_is_close_to_exact_arithmetic() {
    let mut rng = TestRng::new(0xACC);
    let mut cases = 0;
    for (ty, terms) in SUPPORTED.into_iter().flat_map(|ty| ALL_TERMS.map(|t| (ty, t))) {
        let bound = match terms {
            Terms::One => 2f64.powi(-7),
            Terms::Two => 2f64.powi(-8),
            Terms::Three => 2f64.powi(-15),
        };
        for k in ks(ty) {
            let (m, t) = (5, 3);
            let w = weight_rows(ty, k, m, &mut rng);
            let x = rng.vec(t * k, -3.0, 3.0);
            let got = reference_matmul(ty, terms, &w, &x, k).unwrap();
            for (r, wr) in dequantized(ty, &w, k).iter().enumerate() {
                for tok in 0..t {
                    let xr = &x[tok * k..(tok + 1) * k];
                    let exact: f64 = wr.iter().zip(xr).map(|(&a, &b)| a as f64 * b as f64).sum();
                    let mag: f64 = wr.iter().zip(xr).map(|(&a, &b)| (a as f64 * b as f64).abs()).sum();
                    let g = got[tok * m + r] as f64;
                    assert!((g - exact).abs() <= mag * bound + 1e-30, "{ty:?} {terms:?} k={k} row {r} token {tok}: {g} vs exact {exact}");
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 100, "{cases} cases");
}

/// Runs the AMX path the way a backend does: pack the activation tiles once, then per block of 32
/// rows pack and multiply; returns `[T][M]`.
fn amx_matmul(ty: GgmlType, terms: Terms, w: &[u8], x: &[f32], k: usize) -> Vec<f32> {
    let mm = AmxMatmul::new(ty, k).unwrap().with_terms(terms);
    let (m, t) = (w.len() / mm.row_bytes(), x.len() / k);
    let tiles = t.div_ceil(TOKEN_TILE);
    let mut acts = vec![0u32; tiles * mm.act_tile_words()];
    for (i, tile) in acts.chunks_exact_mut(mm.act_tile_words()).enumerate() {
        let rows = &x[i * TOKEN_TILE * k..((i + 1) * TOKEN_TILE).min(t) * k];
        mm.pack_act_tile(rows, tile).unwrap();
    }
    let mut out = vec![f32::NAN; t * m];
    let mut block = vec![0u16; mm.weight_block_len()];
    let mut buf = Vec::new();
    let mut part = vec![0f32; t * BLOCK_ROWS];
    for b0 in (0..m).step_by(BLOCK_ROWS) {
        let rows = (m - b0).min(BLOCK_ROWS);
        mm.pack_weight_block(&w[b0 * mm.row_bytes()..(b0 + rows) * mm.row_bytes()], &mut block, &mut buf).unwrap();
        mm.multiply(&block, &acts, t, &mut part).unwrap();
        // The strided form writes the same values straight into the [T, M] output, and nothing
        // outside its `rows` columns (those stay NaN until their own block writes them).
        // SAFETY: `out` has t rows of m values; columns b0..b0 + rows exist in each.
        unsafe { mm.multiply_strided(&block, &acts, t, rows, out.as_mut_ptr().add(b0), m).unwrap() };
        for tok in 0..t {
            assert_eq!(&out[tok * m + b0..tok * m + b0 + rows], &part[tok * BLOCK_ROWS..tok * BLOCK_ROWS + rows]);
            assert!(out[tok * m + b0 + rows..(tok + 1) * m].iter().all(|v| v.is_nan()));
            // Padding rows of the block multiply zero weights.
            assert!(part[tok * BLOCK_ROWS + rows..(tok + 1) * BLOCK_ROWS].iter().all(|&v| v == 0.0));
        }
    }
    out
}

#[test]
fn tile_kernel_matches_the_reference_on_odd_sizes() {
    if !amx::usable() {
        eprintln!("AMX BF16 not usable here (hardware {}, switches off?): kernel comparison skipped", amx::supported_here());
        assert!(AmxMatmul::new(GgmlType::F16, 64).is_err());
        return;
    }
    let mut rng = TestRng::new(0xA3C5);
    let mut cases = 0;
    let shapes = [(1, 1), (5, 3), (17, 16), (33, 17), (45, 33), (31, 50)];
    for (ty, terms) in SUPPORTED.into_iter().flat_map(|ty| ALL_TERMS.map(|t| (ty, t))) {
        for k in ks(ty) {
            for &(m, t) in &shapes {
                let w = weight_rows(ty, k, m, &mut rng);
                let mut x = rng.vec(t * k, -3.0, 3.0);
                x.iter_mut().step_by(13).for_each(|v| *v = 0.0);
                let got = amx_matmul(ty, terms, &w, &x, k);
                let want = reference_matmul(ty, terms, &w, &x, k).unwrap();
                let deq = dequantized(ty, &w, k);
                for tok in 0..t {
                    let xr = &x[tok * k..(tok + 1) * k];
                    for (r, wr) in deq.iter().enumerate() {
                        let mag: f64 = wr.iter().zip(xr).map(|(&a, &b)| (a as f64 * b as f64).abs()).sum();
                        let (g, e) = (got[tok * m + r] as f64, want[tok * m + r] as f64);
                        // f32 accumulation in a different order than the f64 reference.
                        let tol = 4e-6 * mag + 1e-30;
                        assert!((g - e).abs() <= tol, "{ty:?} {terms:?} M={m} K={k} T={t} row {r} token {tok}: amx {g}, reference {e}, tol {tol:.2e}");
                        cases += 1;
                    }
                }
            }
        }
    }
    eprintln!("{cases} outputs compared");
    assert!(cases > 10_000, "{cases} cases");
}

#[test]
fn bad_lengths_are_errors_not_panics() {
    if !amx::usable() {
        assert!(AmxMatmul::new(GgmlType::Q8_0, 64).is_err());
        return;
    }
    assert!(AmxMatmul::new(GgmlType::Q8_0, 33).is_err());
    let mm = AmxMatmul::new(GgmlType::Q8_0, 64).unwrap();
    let rb = mm.row_bytes();
    let mut tile = vec![0u32; mm.act_tile_words()];
    assert!(mm.pack_act_tile(&[0.0; 63], &mut tile).is_err());
    assert!(mm.pack_act_tile(&vec![0.0; 17 * 64], &mut tile).is_err());
    assert!(mm.pack_act_tile(&[0.0; 64], &mut tile[1..]).is_err());
    assert!(mm.pack_act_tile(&[0.0; 64], &mut tile).is_ok());
    let mut block = vec![0u16; mm.weight_block_len()];
    let mut buf = Vec::new();
    assert!(mm.pack_weight_block(&vec![0u8; rb * 33], &mut block, &mut buf).is_err());
    assert!(mm.pack_weight_block(&vec![0u8; rb + 1], &mut block, &mut buf).is_err());
    assert!(mm.pack_weight_block(&[], &mut block, &mut buf).is_err());
    assert!(mm.pack_weight_block(&vec![0u8; rb], &mut block, &mut buf).is_ok());
    let mut out = vec![0f32; 2 * BLOCK_ROWS];
    assert!(mm.multiply(&block[1..], &tile, 2, &mut out).is_err());
    assert!(mm.multiply(&block, &tile, 17, &mut out).is_err());
    assert!(mm.multiply(&block, &tile, 2, &mut out[1..]).is_err());
    assert!(mm.multiply(&block, &tile, 2, &mut out).is_ok());
    // SAFETY: every call either fails its checks before writing or writes 2 rows of ≤ 32 values.
    unsafe {
        assert!(mm.multiply_strided(&block, &tile, 2, 0, out.as_mut_ptr(), 32).is_err());
        assert!(mm.multiply_strided(&block, &tile, 2, 33, out.as_mut_ptr(), 33).is_err());
        assert!(mm.multiply_strided(&block, &tile, 2, 20, out.as_mut_ptr(), 16).is_err());
        assert!(mm.multiply_strided(&block, &tile, 2, 20, out.as_mut_ptr(), 32).is_ok());
    }
}
