//! The backend's fast kernels (`cpu::fast`) against the scalar references (`cpu::kernels`), on
//! seeded random inputs of odd sizes, single token and prefill-sized, at the active SIMD level
//! (run also with `AVIARY_SIMD=scalar` / `avx2` to cover the other paths).

use cpu::fast::{matmul, small_ops, wkv7 as fast_wkv7};
use cpu::kernels::{elementwise, layer_norm, lora, token_shift_lerp, wkv7, wkv7_output};
use cpu::pool::Pool;
use gguf::GgmlType;
use model::LoraKind;
use quant::fast::RowKernel;
use testkit::TestRng;

fn close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let d = testkit::max_abs_diff(got, want);
    assert!(d <= tol, "{what}: max abs diff {d} > {tol}");
}

#[test]
fn matmul_matches_reference_for_every_type_and_token_count() {
    let pool = Pool::new(3).unwrap();
    let mut rng = TestRng::new(11);
    let mut cases = 0;
    for ty in quant::SUPPORTED {
        let k = if ty.block_size() == 256 { 512 } else { 96 };
        let m = 37;
        let kern = RowKernel::new(ty, k).unwrap();
        let src = rng.vec(m * k, -1.0, 1.0);
        let mut w = vec![0u8; m * kern.row_bytes()];
        for (s, d) in src.chunks_exact(k).zip(w.chunks_exact_mut(kern.row_bytes())) {
            quant::quantize_row(ty, s, d).unwrap();
        }
        for t in [1, 3, 9, 70] {
            let x = rng.vec(t * k, -2.0, 2.0);
            let mut want = vec![0f32; t * m];
            cpu::kernels::matmul::matmul(ty, &w, kern.row_bytes(), &x, k, &mut want);
            let mut got = vec![0f32; t * m];
            let mut acts = Vec::new();
            matmul::matmul(&pool, &kern, &w, &x, k, &mut got, &mut acts, 2, false);
            // Two activation planes: ~15-bit activations, so close to the f32 reference.
            let scale = want.iter().fold(0f32, |a, v| a.max(v.abs()));
            close(&got, &want, 2e-3 * scale.max(1.0), &format!("{ty:?} T={t}"));
            // One plane (ggml's 8-bit activations) is looser but still close.
            matmul::matmul(&pool, &kern, &w, &x, k, &mut got, &mut acts, 1, true);
            close(&got, &want, 5e-2 * scale.max(1.0), &format!("{ty:?} T={t}, 8-bit"));
            cases += 1;
        }
    }
    assert!(cases > 40);
}

#[test]
fn small_ops_match_references() {
    let pool = Pool::new(2).unwrap();
    let mut rng = TestRng::new(5);
    for (t, c) in [(1, 33), (7, 65), (200, 96)] {
        let x = rng.vec(t * c, -3.0, 3.0);
        let (w, b) = (rng.vec(c, 0.5, 1.5), rng.vec(c, -0.5, 0.5));
        let (mut got, mut want) = (vec![0f32; t * c], vec![0f32; t * c]);
        layer_norm::layer_norm(&x, &w, &b, 1e-5, &mut want);
        small_ops::layer_norm(&pool, &x, &w, &b, 1e-5, &mut got);
        close(&got, &want, 0.0, "layer_norm");

        let mu = rng.vec(3 * c, 0.0, 1.0);
        let shift0 = rng.vec(c, -1.0, 1.0);
        let (mut s1, mut s2) = (shift0.clone(), shift0.clone());
        let mut wo: Vec<Vec<f32>> = (0..3).map(|_| vec![0f32; t * c]).collect();
        let mut go: Vec<Vec<f32>> = (0..3).map(|_| vec![0f32; t * c]).collect();
        let mut wr: Vec<&mut [f32]> = wo.iter_mut().map(|v| v.as_mut_slice()).collect();
        let mut gr: Vec<&mut [f32]> = go.iter_mut().map(|v| v.as_mut_slice()).collect();
        token_shift_lerp::token_shift_lerp(&x, &mut s1, &mu, &mut wr);
        small_ops::token_shift_lerp(&pool, &x, &mut s2, &mu, &mut gr);
        assert_eq!(wo, go, "token_shift_lerp outputs");
        assert_eq!(s1, s2, "token_shift_lerp shift");

        let y = rng.vec(t * c, -1.0, 1.0);
        let (mut a, mut bb) = (x.clone(), x.clone());
        elementwise::add(&mut a, &y);
        small_ops::add(&pool, &mut bb, &y);
        assert_eq!(a, bb, "add");
        elementwise::relu_square(&mut a);
        small_ops::relu_square(&pool, &mut bb);
        assert_eq!(a, bb, "relu_square");
        let mix = rng.vec(t * c, 0.0, 1.0);
        elementwise::value_residual(&mut a, &y, &mix);
        small_ops::value_residual(&pool, &mut bb, &y, &mix);
        assert_eq!(a, bb, "value_residual");
    }
}

fn wkv_inputs(rng: &mut TestRng, t: usize, c: usize) -> Vec<Vec<f32>> {
    vec![
        rng.vec(t * c, -1.0, 1.0), // r
        rng.vec(t * c, 0.55, 1.0), // decay
        rng.vec(t * c, -1.0, 1.0), // v
        rng.vec(t * c, 0.0, 1.0),  // a
        rng.vec(c, -1.0, 1.0),     // k_k
        rng.vec(c, 0.0, 1.0),      // k_a
    ]
}

#[test]
fn wkv7_and_its_output_stage_match_references() {
    let pool = Pool::new(3).unwrap();
    let mut rng = TestRng::new(9);
    // Head sizes 16, 32, 64 and 128 take the AVX-512 kernel (at that level); 24 and 40 the generic one.
    for (t, n, heads) in [(1, 64, 3), (9, 64, 2), (5, 16, 5), (3, 24, 2), (33, 40, 3), (70, 64, 2), (7, 32, 3), (4, 128, 2), (1, 128, 1)] {
        let c = n * heads;
        let v = wkv_inputs(&mut rng, t, c);
        let inp = wkv7::Wkv7Inputs { r: &v[0], decay: &v[1], v: &v[2], a: &v[3], k_k: &v[4], k_a: &v[5] };
        let k0 = rng.vec(t * c, -1.0, 1.0);
        let s0 = rng.vec(heads * n * n, -0.5, 0.5);
        let (mut k1, mut s1, mut y1) = (k0.clone(), s0.clone(), vec![0f32; t * c]);
        let (mut k2, mut s2, mut y2) = (k0.clone(), s0.clone(), vec![0f32; t * c]);
        wkv7::wkv7(&inp, &mut k1, &mut s1, &mut y1, n);
        fast_wkv7::wkv7(&pool, quant::fast::active(), &inp, &mut k2, &mut s2, &mut y2, n);
        close(&k2, &k1, 1e-6, "wkv7 k");
        close(&s2, &s1, 1e-4, "wkv7 state");
        close(&y2, &y1, 1e-4, "wkv7 y");

        let g = rng.vec(t * c, 0.0, 1.0);
        let (r_k, ln_w, ln_b) = (rng.vec(c, -1.0, 1.0), rng.vec(c, 0.5, 1.5), rng.vec(c, -0.2, 0.2));
        let o = wkv7_output::Wkv7OutputInputs { r: &v[0], k: &k1, v: &v[2], g: &g, r_k: &r_k, ln_w: &ln_w, ln_b: &ln_b };
        let (mut a, mut b) = (y1.clone(), y1.clone());
        wkv7_output::wkv7_output(&o, &mut a, n, 64e-5);
        small_ops::wkv7_output(&pool, &o, &mut b, n, 64e-5);
        assert_eq!(a, b, "wkv7_output");
    }
}

#[test]
fn lora_matches_reference() {
    let pool = Pool::new(2).unwrap();
    let mut rng = TestRng::new(3);
    let (c, rank) = (96, 32);
    for ty in [GgmlType::F32, GgmlType::F16] {
        let (ka, kb) = (RowKernel::new(ty, c).unwrap(), RowKernel::new(ty, rank).unwrap());
        let mut wa = vec![0u8; rank * ka.row_bytes()];
        quant::quantize_row(ty, &rng.vec(rank * c, -0.3, 0.3), &mut wa).unwrap();
        let mut wb = vec![0u8; c * kb.row_bytes()];
        quant::quantize_row(ty, &rng.vec(c * rank, -0.3, 0.3), &mut wb).unwrap();
        let bias = rng.vec(c, -0.5, 0.5);
        // 21 tokens: F32 and F16 weights both on AMX tiles where usable (~16-bit products).
        for t in [1, 6, 21] {
            let tol = if t >= 16 && quant::fast::amx::usable() { 1e-4 } else { 1e-5 };
            let x = rng.vec(t * c, -1.0, 1.0);
            for kind in [LoraKind::Decay, LoraKind::SigmoidOut, LoraKind::Gate] {
                let bias = if kind == LoraKind::Gate { None } else { Some(&bias[..]) };
                let a = lora::MatrixRef { ty, bytes: &wa, row_bytes: ka.row_bytes(), cols: c };
                let b = lora::MatrixRef { ty, bytes: &wb, row_bytes: kb.row_bytes(), cols: rank };
                let (mut m1, mut o1) = (vec![0f32; t * rank], vec![0f32; t * c]);
                lora::lora(kind, &x, &a, &b, bias, &mut m1, &mut o1);
                let (mut m2, mut o2) = (vec![0f32; t * rank], vec![0f32; t * c]);
                let mut acts = Vec::new();
                small_ops::lora(&pool, kind, &x, (&ka, &wa, c), (&kb, &wb, rank), bias, &mut m2, &mut o2, &mut acts, 2, true);
                close(&o2, &o1, tol, &format!("lora {kind:?} {ty:?} T={t}"));
            }
        }
    }
}

/// The vector activations against the scalar formulas (`kernels::elementwise`) on odd lengths,
/// with and without a bias that wraps around the channels, including large and tiny inputs.
#[test]
fn lora_activations_match_scalar_formulas() {
    use cpu::fast::activations::{apply, Activation};
    let mut rng = TestRng::new(0xAC7);
    let mut cases = 0;
    for len in [1, 15, 16, 17, 95, 333] {
        for c in [7, 16, 40] {
            let mut x = rng.vec(len, -12.0, 12.0);
            for (i, special) in [0.0, -0.0, 1e-8, -1e-8, 88.0, -88.0, 150.0, -150.0].into_iter().enumerate() {
                if i < len {
                    x[(i * 37) % len] = special;
                }
            }
            let bias = rng.vec(c, -1.0, 1.0);
            let at = rng.next_u64() as usize % 1000;
            for a in [Activation::Tanh, Activation::Sigmoid, Activation::Decay, Activation::Identity] {
                for b in [None, Some(&bias[..])] {
                    let mut got = x.clone();
                    apply(a, &mut got, b, at);
                    for (i, (&g, &v)) in got.iter().zip(&x).enumerate() {
                        let v = v + b.map_or(0.0, |b| b[(at + i) % c]);
                        let want = match a {
                            Activation::Tanh => v.tanh(),
                            Activation::Sigmoid => elementwise::sigmoid(v),
                            Activation::Decay => elementwise::decay(v),
                            Activation::Identity => v,
                        };
                        // All four are bounded by 1 in magnitude (identity: exact).
                        let tol = if a == Activation::Identity { 0.0 } else { 1e-6 };
                        assert!((g - want).abs() <= tol, "{a:?} len {len} c {c} element {i} (x = {v}): {g} vs {want}");
                        cases += 1;
                    }
                }
            }
        }
    }
    assert!(cases > 10_000, "{cases} cases");
}
