//! The cuBLAS path for multi-token matmuls (src/gemm.rs, src/kernels/gemm.cu) against scalar
//! references on seeded random odd sizes: the f16 dequantizer bit for bit against crates/quant, the
//! GEMMs (with and without the activation split, every weight type, every epilogue) against f64
//! sums, and GEMMs captured into a CUDA graph. Without a GPU every test prints "SKIPPED: no CUDA
//! device" and passes; without libcublas the matmul tests skip loudly too, unless
//! `AVIARY_REQUIRE_CUBLAS` is set, where that fails.

mod common;
mod kernel_common;

use cuda::{CudaBackend, Tuning};
use gguf::GgmlType;
use model::{LoraKind, Ops};
use testkit::TestRng;

use kernel_common::*;

/// The backend with the cuBLAS path on from one token (x in `split` parts, 0: the defaults; weights in hi + lo parts
/// when `exact`, the exact products in `calls` GEMMs), or `None` (said loudly) without cuBLAS.
fn cublas_backend(split: i32, exact: bool, calls: usize) -> Option<CudaBackend> {
    let mut b = common::backend()?;
    if !b.cublas_available() {
        if std::env::var_os("AVIARY_REQUIRE_CUBLAS").is_some() {
            panic!("AVIARY_REQUIRE_CUBLAS is set but libcublas could not be loaded");
        }
        eprintln!("\n!!! SKIPPED: libcublas not loadable\n");
        return None;
    }
    // split 0: the default x parts (1 for block formats, 2 for F16/BF16 weights).
    let (parts, float_parts) = if split == 0 { (1, 2) } else { (split as usize, split as usize) };
    b.set_tuning(Tuning {
        gemm_min_tokens: 1,
        gemm_x_parts: parts,
        gemm_float_x_parts: float_parts,
        gemm_exact: exact,
        gemm_calls: calls,
        ..Default::default()
    });
    Some(b)
}

/// Row widths per type: several blocks; odd ones for the float types.
fn widths(ty: GgmlType) -> Vec<usize> {
    match ty.block_size() {
        1 => vec![7, 65, 264],
        32 => vec![32, 96, 288],
        _ => vec![256, 768],
    }
}

fn dequantize(ty: GgmlType, bytes: &[u8], row_bytes: usize, k: usize) -> Vec<f32> {
    let mut out = vec![0f32; bytes.len() / row_bytes * k];
    for (row, dst) in bytes.chunks_exact(row_bytes).zip(out.chunks_exact_mut(k)) {
        quant::dequantize_row(ty, row, dst).expect("dequantize");
    }
    out
}

#[test]
fn dequant_f16_is_exact_for_every_format() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(41);
    let (mut cases, mut expected) = (0, 0);
    for &ty in quant::SUPPORTED.iter() {
        for k in widths(ty) {
            expected += 2;
            let m = 37;
            let (bytes, row_bytes) = random_matrix(&mut rng, ty, m, k);
            let w = b.upload_raw("w", ty, m, k, &bytes).expect("upload");
            let full = dequantize(ty, &bytes, row_bytes, k);
            // A panel from the middle (odd start, odd length) and the whole matrix.
            for (row0, rows) in [(3usize, 29usize), (0, m)] {
                let (got_hi, got_lo) = b.dequantize_f16(&w, row0, rows).expect("dequantize_f16");
                let values = &full[row0 * k..(row0 + rows) * k];
                let want_hi: Vec<u16> = values.iter().map(|&v| half::f16::from_f32(v).to_bits()).collect();
                // lo = f16(v − hi), v − hi exact in f32.
                let want_lo: Vec<u16> =
                    values.iter().map(|&v| half::f16::from_f32(v - half::f16::from_f32(v).to_f32()).to_bits()).collect();
                for (part, got, want) in [("hi", &got_hi, &want_hi), ("lo", &got_lo, &want_lo)] {
                    assert_eq!(got.len(), want.len());
                    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
                        panic!(
                            "dequant_f16 {ty} K={k} rows {row0}+{rows} {part}: element {i} (row {}, col {}) is {:#06x}, expected {:#06x} (f32 {})",
                            row0 + i / k,
                            i % k,
                            got[i],
                            want[i],
                            values[i]
                        );
                    }
                }
                cases += 1;
            }
        }
    }
    assert_eq!(cases, expected);
}

/// out = x · Wᵀ in f64 over the given weight values.
fn reference(w: &[f32], x: &[f32], m: usize, k: usize, t: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut out, mut mag) = (vec![0f64; t * m], vec![0f64; t * m]);
    for tt in 0..t {
        for r in 0..m {
            let (wr, xr) = (&w[r * k..(r + 1) * k], &x[tt * k..(tt + 1) * k]);
            out[tt * m + r] = wr.iter().zip(xr).map(|(&a, &b)| a as f64 * b as f64).sum();
            mag[tt * m + r] = wr.iter().zip(xr).map(|(&a, &b)| (a as f64 * b as f64).abs()).sum();
        }
    }
    (out, mag)
}

/// The largest error relative to Σ|w·x| of each output.
fn worst(got: &[f32], want: &[f64], mag: &[f64]) -> f64 {
    got.iter().zip(want).zip(mag).map(|((&g, &w), &m)| (g as f64 - w).abs() / m.max(1e-30)).fold(0.0, f64::max)
}

#[test]
fn cublas_matmul_matches_reference_for_every_type() {
    let mut rng = TestRng::new(43);
    // (x parts, weight hi + lo, GEMMs for the exact products): first the default (block formats:
    // one f16 GEMM, f16 weights and x; F16/BF16 weights with x in two parts), then `gemm=fast`
    // (x in one part for float weights too), then the exact mode (`gemm=exact`: one GEMM over slots concatenated
    // along K), the same products in two and three GEMMs, then the other variants (with f16 x: one
    // GEMM over [hi | lo] · [hi | hi], then two).
    // Then F16 weights through a copied [W | W] panel in one GEMM (gemm_f16_panel), and split K
    // (gemm_split_k: the one GEMM's depth in 3 or 6 batched pieces; F16/BF16 x parts batched).
    let variants = [
        (0, false, 1, false, 1),
        (1, false, 1, false, 1),
        (2, true, 1, false, 1),
        (2, true, 2, false, 1),
        (2, true, 3, false, 1),
        (1, true, 1, false, 1),
        (1, true, 2, false, 1),
        (2, false, 1, false, 1),
        (1, false, 1, false, 1),
        (2, true, 1, true, 1),
        (2, true, 1, false, 3),
        (2, true, 1, false, 6),
    ];
    for (split, exact, calls, f16_panel, split_k) in variants {
        let Some(mut b) = cublas_backend(split, exact, calls) else { return };
        b.set_tuning(Tuning { gemm_f16_panel: f16_panel, gemm_split_k: split_k, ..b.tuning().clone() });
        let (mut cases, mut expected, mut worst_vs_exact, mut worst_vs_rounded) = (0, 0, 0f64, 0f64);
        for &ty in quant::SUPPORTED.iter() {
            let in_place = matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16);
            for k in widths(ty) {
                // T = 1 goes to the matvec path; odd T otherwise, across mma's and cuBLAS's tiles.
                for (m, t) in [(65usize, 33usize), (33, 3), (129, 65), (17, 200)] {
                    expected += 1;
                    let (bytes, row_bytes) = random_matrix(&mut rng, ty, m, k);
                    let wv = dequantize(ty, &bytes, row_bytes, k);
                    let x = rng.vec(t * k, -1.0, 1.0);
                    let w = b.upload_raw("w", ty, m, k, &bytes).expect("upload");
                    let xa = act(&mut b, t, k, &x);
                    let mut out = poisoned(&mut b, t, m);
                    let before = b.cublas_calls();
                    b.matmul(&w, &xa, &mut out);
                    let got = read(&mut b, &out);
                    assert!(b.cublas_calls() > before, "{ty} M={m} K={k} T={t}: the cuBLAS path did not run");
                    assert!(got.iter().all(|v| v.is_finite()), "{ty} M={m} K={k} T={t}: non-finite output (unwritten?)");
                    let (exact_ref, mag) = reference(&wv, &x, m, k, t);
                    // The weights as the GEMMs see them: in place for F32/F16/BF16 or with hi + lo
                    // parts, else f16-rounded.
                    let rounded = !in_place && !exact;
                    let seen: Vec<f32> =
                        if rounded { wv.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect() } else { wv.clone() };
                    let (seen_ref, _) = reference(&seen, &x, m, k, t);
                    let (e_exact, e_seen) = (worst(&got, &exact_ref, &mag), worst(&got, &seen_ref, &mag));
                    let what = format!("cublas matmul {ty} M={m} K={k} T={t} split={split} exact={exact} calls={calls} f16_panel={f16_panel} split_k={split_k}");
                    // Against the weights the GEMMs see: f32 accumulation; x at ~22 bits with the
                    // split (bf16: 24 bits in three parts), at 11 bits without (bf16: 8).
                    let parts = if split == 0 { if in_place && ty != GgmlType::F32 { 2 } else { 1 } } else { split };
                    let tol_seen = match (parts, ty) {
                        (2, _) | (_, GgmlType::F32) => 1e-5,
                        (_, GgmlType::BF16) => 8e-3,
                        _ => 1e-3,
                    };
                    assert!(e_seen <= tol_seen, "{what}: error {e_seen:.2e} of Σ|w·x| vs the GEMMs' weights (tolerance {tol_seen:.0e})");
                    // Against the exact weights: plus f16's rounding of each weight (2^-11) when rounded.
                    let tol_exact = tol_seen + if rounded { 5e-4 } else { 0.0 };
                    assert!(e_exact <= tol_exact, "{what}: error {e_exact:.2e} of Σ|w·x| vs exact weights (tolerance {tol_exact:.0e})");
                    worst_vs_exact = worst_vs_exact.max(e_exact);
                    worst_vs_rounded = worst_vs_rounded.max(e_seen);
                    cases += 1;
                }
            }
        }
        eprintln!(
            "cublas matmul, split {split}, exact {exact}, calls {calls}, f16_panel {f16_panel}, split_k {split_k}: {cases} cases; worst error / Σ|w·x|: {worst_vs_exact:.2e} vs exact weights, {worst_vs_rounded:.2e} vs the GEMMs' weights"
        );
        assert_eq!(cases, expected);
    }
}

#[test]
fn cublas_epilogues_match_cpu() {
    // Plain GEMMs, then split K (partial outputs summed by the epilogue before it applies epi/bias).
    for split_k in [1, 3] {
        let Some(mut b) = cublas_backend(2, true, 1) else { return };
        b.set_tuning(Tuning { gemm_split_k: split_k, ..b.tuning().clone() });
        let mut rng = TestRng::new(47);
        // The up matrix has `rank` columns: types of 32-element blocks at most.
        for ty in [GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q5_0, GgmlType::Q8_0] {
            let (c, rank, t) = (256usize, 64usize, 37usize);
            for kind in [LoraKind::Decay, LoraKind::SigmoidOut, LoraKind::Gate] {
                let (a_bytes, a_row) = random_matrix(&mut rng, ty, rank, c);
                let (b_bytes, b_row) = random_matrix(&mut rng, ty, c, rank);
                let bias = rng.vec(c, -1.0, 1.0);
                let with_bias = kind != LoraKind::Gate;
                let x = rng.vec(t * c, -1.0, 1.0);
                let (mut mid_want, mut want) = (vec![0f32; t * rank], vec![0f32; t * c]);
                let am = cpu::kernels::lora::MatrixRef { ty, bytes: &a_bytes, row_bytes: a_row, cols: c };
                let bm = cpu::kernels::lora::MatrixRef { ty, bytes: &b_bytes, row_bytes: b_row, cols: rank };
                cpu::kernels::lora::lora(kind, &x, &am, &bm, with_bias.then_some(&bias[..]), &mut mid_want, &mut want);

                let aw = b.upload_raw("a", ty, rank, c, &a_bytes).unwrap();
                let bw = b.upload_raw("b", ty, c, rank, &b_bytes).unwrap();
                let biasw = vectors(&mut b, 1, c, &bias);
                let xa = act(&mut b, t, c, &x);
                let mut mid = poisoned(&mut b, t, rank);
                let mut out = poisoned(&mut b, t, c);
                let before = b.cublas_calls();
                b.lora(kind, &xa, &aw, &bw, with_bias.then_some(&biasw), &mut mid, &mut out);
                let got = read(&mut b, &out);
                assert!(b.cublas_calls() >= before + 2, "lora {kind:?} {ty}: the cuBLAS path did not run");
                let tol = 1e-4;
                assert_close(&format!("cublas lora {kind:?} {ty} C={c} R={rank} T={t} split_k={split_k}"), &got, &want, tol);
            }
        }
    }
}

#[test]
fn cublas_gemms_replay_from_graphs() {
    let Some(mut b) = cublas_backend(2, true, 1) else { return };
    // Split K: the batched GEMM and the summing epilogue are captured too.
    b.set_tuning(Tuning { gemm_split_k: 3, ..b.tuning().clone() });
    let mut rng = TestRng::new(53);
    let (m, k, t) = (301usize, 512usize, 67usize);
    let ty = GgmlType::Q6_K;
    let (bytes, row_bytes) = random_matrix(&mut rng, ty, m, k);
    let wv = dequantize(ty, &bytes, row_bytes, k);
    let w = b.upload_raw("w", ty, m, k, &bytes).unwrap();
    let mut x = b.alloc(t, k).unwrap();
    let mut out = b.alloc(t, m).unwrap();
    let start = b.graph_stats();
    for step in 0..4 {
        let xv = rng.vec(t * k, -1.0, 1.0);
        b.write(&mut x, &xv).unwrap();
        // A batched decode step: kept in a graph (a plain multi-token step would run directly).
        b.begin_batch_step().unwrap();
        b.matmul(&w, &x, &mut out);
        b.end_step().unwrap();
        let got = read(&mut b, &out);
        let (want, mag) = reference(&wv, &xv, m, k, t);
        let e = worst(&got, &want, &mag);
        assert!(e <= 1e-5, "graph step {step}: error {e:.2e} of Σ|w·x|");
    }
    let stats = b.graph_stats();
    assert_eq!(stats.captures - start.captures, 1, "one capture for four identical steps");
    assert_eq!(stats.replays - start.replays, 3, "three replays");
}

#[test]
fn tuning_switches_the_path() {
    let mut t = Tuning::default();
    t.apply("gemm=mma").unwrap();
    assert_eq!(t.gemm_min_tokens, usize::MAX);
    t.apply("gemm=cublas").unwrap();
    assert_eq!(t.gemm_min_tokens, Tuning::default().gemm_min_tokens);
    t.apply("gemm_min_tokens=1,gemm_exact=0,gemm_calls=3").unwrap();
    assert_eq!((t.gemm_min_tokens, t.gemm_exact, t.gemm_calls), (1, false, 3));
    t.apply("gemm_split_k=6").unwrap();
    assert_eq!(t.gemm_split_k, 6);
    for bad in ["gemm_calls=0", "gemm_calls=4", "gemm_calls=x", "gemm_split_k=0", "gemm_split_k=17"] {
        assert!(t.apply(bad).is_err(), "{bad} accepted");
    }
    assert!(t.apply("gemm=slow").unwrap_err().to_string().contains("gemm"));
    // The default is the fast single f16 GEMM for block formats (float weights keep x in two
    // parts); `gemm=exact` restores the f32-level products, `gemm=fast` one GEMM everywhere.
    let d = Tuning::default();
    assert_eq!((d.gemm_exact, d.gemm_x_parts, d.gemm_float_x_parts), (false, 1, 2));
    t.apply("gemm=exact").unwrap();
    assert_eq!((t.gemm_exact, t.gemm_x_parts, t.gemm_float_x_parts), (true, 2, 2));
    t.apply("gemm=fast").unwrap();
    assert_eq!((t.gemm_exact, t.gemm_x_parts, t.gemm_float_x_parts), (false, 1, 1));
}
