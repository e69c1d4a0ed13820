//! The fast paths against the cpu crate's scalar reference kernels: batched one-token matvecs with
//! folded element-wise ops, layer_norm + token-shift lerp, WKV-7 + its output stage in one kernel,
//! and tensor-core prefill matmuls on shapes that span several tiles. Each case also runs with the
//! fast paths switched off ([`cuda::Tuning`]), which must agree with the reference too. Outputs are
//! poisoned with NaN first. Without a GPU every test prints "SKIPPED: no CUDA device" and passes.

mod common;
mod kernel_common;

use cpu::kernels::{elementwise, layer_norm, lora, matmul, token_shift_lerp, wkv7, wkv7_output};
use cuda::{CudaAct, CudaBackend, Tuning};
use gguf::GgmlType;
use model::{LoraKind, Ops};
use testkit::TestRng;

use kernel_common::*;

/// The default tuning and the one with every fast path off.
fn tunings() -> [(&'static str, Tuning); 5] {
    let mut slow = Tuning::default();
    slow.apply("fast_matvec=0,fuse=0,fast_wkv=0,mma=0").unwrap();
    let mut r1 = Tuning::default();
    r1.apply("mv_rows=1,mma_split=2,mv_target_threads=1000000").unwrap();
    // The integer matvec path with 3 blocks per launch: each block walks many row groups, and a
    // launch's jobs get uneven block counts.
    let mut few = Tuning::default();
    few.apply("mv_int_blocks=3").unwrap();
    let mut float = Tuning::default();
    float.apply("mv_int=0,mv_f16_warp=0").unwrap();
    [("fast", Tuning::default()), ("fast r1 wide", r1), ("int 3 blocks", few), ("float matvec", float), ("slow", slow)]
}

#[test]
fn prefill_matmuls_match_cpu_across_tiles() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(41);
    let mut cases = 0;
    for ty in [GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::F16, GgmlType::Q8_0] {
        for (m, k, t) in [(300usize, 512usize, 70usize), (129, 256, 64), (40, 768, 2), (257, 1024, 130)] {
            let (w_bytes, row_bytes) = random_matrix(&mut rng, ty, m, k);
            let x = rng.vec(t * k, -2.0, 2.0);
            let mut want = vec![0f32; t * m];
            matmul::matmul(ty, &w_bytes, row_bytes, &x, k, &mut want);
            for (label, tuning) in tunings() {
                b.set_tuning(tuning);
                let w = b.upload_raw("w", ty, m, k, &w_bytes).unwrap();
                let xa = act(&mut b, t, k, &x);
                let mut out = poisoned(&mut b, t, m);
                b.matmul(&w, &xa, &mut out);
                let got = read(&mut b, &out);
                assert_close(&format!("{label}: matmul {ty} M={m} K={k} T={t}"), &got, &want, 2e-5 * (k as f32).sqrt());
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 80);
}

#[test]
fn one_token_matvecs_match_cpu_on_long_and_short_rows() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(43);
    let mut cases = 0;
    for ty in [GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::F16, GgmlType::F32, GgmlType::Q8_0, GgmlType::Q5_K] {
        for (m, k) in [(1030usize, 2560usize), (96, 2560), (2560, 256), (3, 5120)] {
            let (w_bytes, row_bytes) = random_matrix(&mut rng, ty, m, k);
            let x = rng.vec(k, -2.0, 2.0);
            let mut want = vec![0f32; m];
            matmul::matmul(ty, &w_bytes, row_bytes, &x, k, &mut want);
            for (label, tuning) in tunings() {
                b.set_tuning(tuning);
                let w = b.upload_raw("w", ty, m, k, &w_bytes).unwrap();
                let xa = act(&mut b, 1, k, &x);
                let mut out = poisoned(&mut b, 1, m);
                b.matmul(&w, &xa, &mut out);
                assert_close(&format!("{label}: matvec {ty} M={m} K={k}"), &read(&mut b, &out), &want, 2e-5 * (k as f32).sqrt());
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 120);
}

/// A one-token slice of RWKV-7's time mix: three projections, four LoRAs, value residual, residual
/// add and relu², issued as the model does (so they batch and fold), inside a step (graph).
#[test]
fn batched_and_folded_one_token_ops_match_cpu() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(47);
    let (c, rank, f) = (512usize, 32usize, 1024usize);
    let ty = GgmlType::Q4_K;
    let mats: Vec<(Vec<u8>, usize)> = (0..3).map(|_| random_matrix(&mut rng, ty, c, c)).collect();
    let loras: Vec<((Vec<u8>, usize), (Vec<u8>, usize))> = (0..4)
        .map(|_| (random_matrix(&mut rng, GgmlType::F16, rank, c), random_matrix(&mut rng, GgmlType::F16, c, rank)))
        .collect();
    let (key, val) = (random_matrix(&mut rng, ty, f, c), random_matrix(&mut rng, ty, c, f));
    let bias = rng.vec(c, -1.0, 1.0);
    let xs: Vec<Vec<f32>> = (0..4).map(|_| rng.vec(c, -1.0, 1.0)).collect();
    let v_first = rng.vec(c, -1.0, 1.0);
    let resid0 = rng.vec(c, -1.0, 1.0);
    let kinds = [LoraKind::Decay, LoraKind::SigmoidOut, LoraKind::SigmoidOut, LoraKind::Gate];

    // Reference.
    let mm = |(w, rb): &(Vec<u8>, usize), x: &[f32], m: usize| {
        let mut o = vec![0f32; m];
        matmul::matmul(ty, w, *rb, x, x.len(), &mut o);
        o
    };
    let proj: Vec<Vec<f32>> = mats.iter().map(|m| mm(m, &xs[0], c)).collect();
    let mut lora_out = Vec::new();
    for (i, ((ab, ar), (bb, br))) in loras.iter().enumerate() {
        let am = lora::MatrixRef { ty: GgmlType::F16, bytes: ab, row_bytes: *ar, cols: c };
        let bm = lora::MatrixRef { ty: GgmlType::F16, bytes: bb, row_bytes: *br, cols: rank };
        let (mut mid, mut out) = (vec![0f32; rank], vec![0f32; c]);
        let with_bias = kinds[i] != LoraKind::Gate;
        lora::lora(kinds[i], &xs[i], &am, &bm, with_bias.then_some(&bias[..]), &mut mid, &mut out);
        lora_out.push(out);
    }
    let mut v_want = proj[2].clone();
    elementwise::value_residual(&mut v_want, &v_first, &lora_out[2]);
    let mut resid_want = resid0.clone();
    elementwise::add(&mut resid_want, &proj[0]);
    let mut hidden_want = mm(&key, &resid_want, f);
    elementwise::relu_square(&mut hidden_want);
    let ffn_want = mm(&val, &hidden_want, c);
    let mut resid2_want = resid_want.clone();
    elementwise::add(&mut resid2_want, &ffn_want);

    for (label, tuning) in tunings() {
        b.set_tuning(tuning);
        let up = |b: &mut CudaBackend, t: GgmlType, (w, _): &(Vec<u8>, usize), m: usize, k: usize| b.upload_raw("w", t, m, k, w).unwrap();
        let mw: Vec<_> = mats.iter().map(|m| up(&mut b, ty, m, c, c)).collect();
        let lw: Vec<_> = loras.iter().map(|(a, bb)| (up(&mut b, GgmlType::F16, a, rank, c), up(&mut b, GgmlType::F16, bb, c, rank))).collect();
        let (kw, vw) = (up(&mut b, ty, &key, f, c), up(&mut b, ty, &val, c, f));
        let biasw = b.upload_vectors(1, c, bias.clone()).unwrap();
        let xa: Vec<CudaAct> = xs.iter().map(|x| act(&mut b, 1, c, x)).collect();
        let vfa = act(&mut b, 1, c, &v_first);
        let mut resid = act(&mut b, 1, c, &resid0);
        let mut outs: Vec<CudaAct> = (0..3).map(|_| poisoned(&mut b, 1, c)).collect();
        let mut mids: Vec<CudaAct> = (0..4).map(|_| poisoned(&mut b, 1, rank)).collect();
        let mut louts: Vec<CudaAct> = (0..4).map(|_| poisoned(&mut b, 1, c)).collect();
        let mut hidden = poisoned(&mut b, 1, f);
        let mut ffn = poisoned(&mut b, 1, c);
        for step in 0..3 {
            if step > 0 {
                b.write(&mut resid, &resid0).unwrap();
            }
            b.begin_step().unwrap();
            for (i, w) in mw.iter().enumerate() {
                b.matmul(w, &xa[0], &mut outs[i]);
            }
            for i in 0..4 {
                let bias = if kinds[i] == LoraKind::Gate { None } else { Some(&biasw) };
                b.lora(kinds[i], &xa[i], &lw[i].0, &lw[i].1, bias, &mut mids[i], &mut louts[i]);
                if i == 2 {
                    b.value_residual(&mut outs[2], &vfa, &louts[2]);
                }
            }
            b.add(&mut resid, &outs[0]);
            b.matmul(&kw, &resid, &mut hidden);
            b.relu_square(&mut hidden);
            b.matmul(&vw, &hidden, &mut ffn);
            b.add(&mut resid, &ffn);
            b.end_step().unwrap();
            let tol = 2e-5 * (f as f32).sqrt();
            let what = |s: &str| format!("{label} step {step}: {s}");
            assert_close(&what("receptance"), &read(&mut b, &outs[0]), &proj[0], tol);
            assert_close(&what("key"), &read(&mut b, &outs[1]), &proj[1], tol);
            assert_close(&what("value after residual"), &read(&mut b, &outs[2]), &v_want, tol);
            for i in 0..4 {
                assert_close(&what(&format!("lora {i}")), &read(&mut b, &louts[i]), &lora_out[i], 1e-4);
            }
            assert_close(&what("relu² hidden"), &read(&mut b, &hidden), &hidden_want, tol);
            assert_close(&what("residual after two adds"), &read(&mut b, &resid), &resid2_want, tol);
        }
    }
}

#[test]
fn layer_norm_then_lerp_matches_cpu() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(53);
    for c in [64usize, 2560, 4097, 8192] {
        let x = rng.vec(c, -3.0, 5.0);
        let (w, bias) = (rng.vec(c, 0.5, 1.5), rng.vec(c, -0.5, 0.5));
        let shift0 = rng.vec(c, -1.0, 1.0);
        let mu = rng.vec(6 * c, 0.0, 1.0);
        let mut xn_want = vec![0f32; c];
        layer_norm::layer_norm(&x, &w, &bias, 1e-5, &mut xn_want);
        let mut shift_want = shift0.clone();
        let mut want: Vec<Vec<f32>> = vec![vec![0f32; c]; 6];
        {
            let mut outs: Vec<&mut [f32]> = want.iter_mut().map(|o| o.as_mut_slice()).collect();
            token_shift_lerp::token_shift_lerp(&xn_want, &mut shift_want, &mu, &mut outs);
        }
        for (label, tuning) in tunings() {
            b.set_tuning(tuning);
            let xa = act(&mut b, 1, c, &x);
            let (ww, bw) = (b.upload_vectors(1, c, w.clone()).unwrap(), b.upload_vectors(1, c, bias.clone()).unwrap());
            let muw = b.upload_vectors(6, c, mu.clone()).unwrap();
            let mut shift = act(&mut b, 1, c, &shift0);
            let mut xn = poisoned(&mut b, 1, c);
            let mut outs: Vec<CudaAct> = (0..6).map(|_| poisoned(&mut b, 1, c)).collect();
            b.begin_step().unwrap();
            b.layer_norm(&xa, &ww, &bw, 1e-5, &mut xn);
            {
                let mut refs: Vec<&mut CudaAct> = outs.iter_mut().collect();
                b.token_shift_lerp(&xn, &mut shift, &muw, &mut refs);
            }
            b.end_step().unwrap();
            assert_close(&format!("{label}: layer_norm C={c}"), &read(&mut b, &xn), &xn_want, 1e-5);
            for (i, o) in outs.iter().enumerate() {
                assert_close(&format!("{label}: lerp C={c} out {i}"), &read(&mut b, o), &want[i], 1e-5);
            }
            assert_close(&format!("{label}: shift C={c}"), &read(&mut b, &shift), &shift_want, 1e-5);
        }
    }
}

#[test]
fn wkv7_with_output_stage_matches_cpu() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(59);
    let (n, h) = (64usize, 5usize);
    let c = n * h;
    let mut cases = 0;
    for t in [1usize, 5, 16, 17, 40] {
        let r = rng.vec(t * c, -1.0, 1.0);
        let decay = rng.vec(t * c, 0.55, 1.0);
        let k0 = rng.vec(t * c, -1.0, 1.0);
        let v = rng.vec(t * c, -1.0, 1.0);
        let a = rng.vec(t * c, 0.0, 1.0);
        let g = rng.vec(t * c, -1.0, 1.0);
        let (k_k, k_a) = (rng.vec(c, 0.5, 1.5), rng.vec(c, 0.0, 1.0));
        let (r_k, ln_w, ln_b) = (rng.vec(c, -1.0, 1.0), rng.vec(c, 0.5, 1.5), rng.vec(c, -0.5, 0.5));
        let s0 = rng.vec(h * n * n, -0.5, 0.5);
        let (mut k_want, mut s_want, mut y_want) = (k0.clone(), s0.clone(), vec![0f32; t * c]);
        let inp = wkv7::Wkv7Inputs { r: &r, decay: &decay, v: &v, a: &a, k_k: &k_k, k_a: &k_a };
        wkv7::wkv7(&inp, &mut k_want, &mut s_want, &mut y_want, n);
        let out_inp = wkv7_output::Wkv7OutputInputs { r: &r, k: &k_want, v: &v, g: &g, r_k: &r_k, ln_w: &ln_w, ln_b: &ln_b };
        wkv7_output::wkv7_output(&out_inp, &mut y_want, n, 64e-5);
        for (label, tuning) in tunings() {
            b.set_tuning(tuning);
            let (ra, da, va, aa, ga) = (act(&mut b, t, c, &r), act(&mut b, t, c, &decay), act(&mut b, t, c, &v), act(&mut b, t, c, &a), act(&mut b, t, c, &g));
            let mut ka = act(&mut b, t, c, &k0);
            let vec = |b: &mut CudaBackend, d: &[f32]| b.upload_vectors(1, c, d.to_vec()).unwrap();
            let (kkw, kaw, rkw, lww, lbw) = (vec(&mut b, &k_k), vec(&mut b, &k_a), vec(&mut b, &r_k), vec(&mut b, &ln_w), vec(&mut b, &ln_b));
            let mut state = act(&mut b, h, n * n, &s0);
            let mut y = poisoned(&mut b, t, c);
            b.begin_step().unwrap();
            b.wkv7(&ra, &da, &mut ka, &va, &aa, &kkw, &kaw, &mut state, &mut y);
            b.wkv7_output(&mut y, &ra, &ka, &va, &ga, &rkw, &lww, &lbw, n, 64e-5);
            b.end_step().unwrap();
            let what = format!("{label}: wkv7 + output N={n} H={h} T={t}");
            assert_close(&format!("{what} y"), &read(&mut b, &y), &y_want, 1e-4);
            assert_close(&format!("{what} k"), &read(&mut b, &ka), &k_want, 1e-6);
            assert_close(&format!("{what} state"), &read(&mut b, &state), &s_want, 1e-5);
            cases += 1;
        }
    }
    assert_eq!(cases, 25);
}

#[test]
fn argmax_on_the_device_matches_the_host_rule() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(61);
    let n = 65_537usize;
    let mut rows: Vec<Vec<f32>> = (0..3).map(|_| rng.vec(n, -5.0, 5.0)).collect();
    rows[0][40_000] = 9.0;
    rows[0][50_000] = 9.0; // a tie: the first index wins
    rows[1][7] = f32::NAN; // NaN is never the answer
    rows[1][3] = 7.5;
    rows[2] = vec![f32::NAN; n];
    rows[2][n - 1] = f32::NEG_INFINITY;
    let flat: Vec<f32> = rows.concat();
    let a = act(&mut b, 3, n, &flat);
    let ids = b.argmax(&a).expect("the cuda backend offers argmax").expect("argmax");
    assert_eq!(ids, vec![40_000, 3, (n - 1) as u32]);
    let all_nan = act(&mut b, 1, 9, &[f32::NAN; 9]);
    assert_eq!(b.argmax(&all_nan).unwrap().unwrap(), vec![0]);
}
