//! Every CUDA kernel against the cpu crate's scalar reference kernels, on seeded random inputs of odd
//! sizes and every weight type. Outputs are poisoned with NaN before each launch, so an element the
//! kernel fails to write shows up. Without a GPU every test prints "SKIPPED: no CUDA device" and passes.

mod common;
mod kernel_common;

use cpu::kernels::{elementwise, embed, layer_norm, lora, matmul, token_shift_lerp, wkv7, wkv7_output};
use cuda::CudaAct;
use gguf::GgmlType;
use model::{LoraKind, Ops};
use testkit::TestRng;

use kernel_common::*;

/// Widths to test for a type: several blocks, and for the float types odd widths too (the scalar
/// kernel variants) besides multiples of 8 (the 16-byte-load variants).
fn widths(ty: GgmlType) -> Vec<usize> {
    match ty.block_size() {
        1 => vec![1, 7, 17, 64, 65, 257, 1024],
        32 => vec![32, 96, 288, 1024],
        _ => vec![256, 768, 1280],
    }
}

#[test]
fn matmul_matches_cpu_for_every_type_and_odd_shapes() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(7);
    let mut cases = 0;
    for &ty in quant::SUPPORTED.iter() {
        for k in widths(ty) {
            for (m, t) in [(1, 1), (7, 3), (33, 1), (65, 9), (17, 17)] {
                let (w_bytes, row_bytes) = random_matrix(&mut rng, ty, m, k);
                let x = rng.vec(t * k, -1.0, 1.0);
                let mut want = vec![0f32; t * m];
                matmul::matmul(ty, &w_bytes, row_bytes, &x, k, &mut want);

                let w = b.upload_raw("w", ty, m, k, &w_bytes).expect("upload");
                let xa = act(&mut b, t, k, &x);
                let mut out = poisoned(&mut b, t, m);
                b.matmul(&w, &xa, &mut out);
                let got = read(&mut b, &out);
                let tol = 2e-5 * (k as f32).sqrt();
                assert_close(&format!("matmul {ty} M={m} K={k} T={t}"), &got, &want, tol);
                cases += 1;
            }
        }
    }
    eprintln!("matmul: {cases} cases");
    assert!(cases > 100);
}

#[test]
fn embed_matches_cpu_for_every_type() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(11);
    let mut cases = 0;
    for &ty in quant::SUPPORTED.iter() {
        for c in widths(ty) {
            let v = 37;
            let (table, row_bytes) = random_matrix(&mut rng, ty, v, c);
            for t in [1usize, 5, 17] {
                let tokens: Vec<u32> = (0..t).map(|_| (rng.next_u64() % v as u64) as u32).collect();
                let mut want = vec![0f32; t * c];
                embed::embed(ty, &table, row_bytes, &tokens, &mut want);
                let w = b.upload_raw("table", ty, v, c, &table).expect("upload");
                let mut out = poisoned(&mut b, t, c);
                b.embed(&w, &tokens, &mut out);
                let got = read(&mut b, &out);
                // blocks.cuh decodes operation for operation as crates/quant does (no FMA): bit-exact.
                assert_eq!(got, want, "embed {ty} C={c} T={t}: decoding must be exact");
                cases += 1;
            }
        }
    }
    assert!(cases > 50);
}

#[test]
fn lora_matches_cpu_for_every_kind() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(13);
    let mut cases = 0;
    for ty in [GgmlType::F32, GgmlType::F16, GgmlType::Q8_0] {
        for (c, rank, t) in [(64usize, 32usize, 1usize), (96, 64, 7), (256, 32, 17)] {
            for kind in [LoraKind::Decay, LoraKind::SigmoidOut, LoraKind::Gate] {
                let (a_bytes, a_row) = random_matrix(&mut rng, ty, rank, c);
                let (b_bytes, b_row) = random_matrix(&mut rng, ty, c, rank);
                let bias = rng.vec(c, -1.0, 1.0);
                let with_bias = kind != LoraKind::Gate;
                let x = rng.vec(t * c, -1.0, 1.0);
                let (mut mid_want, mut want) = (vec![0f32; t * rank], vec![0f32; t * c]);
                let am = lora::MatrixRef { ty, bytes: &a_bytes, row_bytes: a_row, cols: c };
                let bm = lora::MatrixRef { ty, bytes: &b_bytes, row_bytes: b_row, cols: rank };
                lora::lora(kind, &x, &am, &bm, with_bias.then_some(&bias[..]), &mut mid_want, &mut want);

                let aw = b.upload_raw("a", ty, rank, c, &a_bytes).unwrap();
                let bw = b.upload_raw("b", ty, c, rank, &b_bytes).unwrap();
                let biasw = vectors(&mut b, 1, c, &bias);
                let xa = act(&mut b, t, c, &x);
                let mut mid = poisoned(&mut b, t, rank);
                let mut out = poisoned(&mut b, t, c);
                b.lora(kind, &xa, &aw, &bw, with_bias.then_some(&biasw), &mut mid, &mut out);
                let got = read(&mut b, &out);
                assert_close(&format!("lora {kind:?} {ty} C={c} R={rank} T={t}"), &got, &want, 1e-4);
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 27);
}

#[test]
fn layer_norm_matches_cpu() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(17);
    for &c in testkit::ODD_SIZES.iter().chain(&[2560usize, 4096]) {
        for t in [1usize, 3, 17] {
            let x: Vec<f32> = rng.vec(t * c, -3.0, 5.0);
            let (w, bias) = (rng.vec(c, 0.5, 1.5), rng.vec(c, -0.5, 0.5));
            let mut want = vec![0f32; t * c];
            layer_norm::layer_norm(&x, &w, &bias, 1e-5, &mut want);
            let (xa, ww, bw) = (act(&mut b, t, c, &x), vectors(&mut b, 1, c, &w), vectors(&mut b, 1, c, &bias));
            let mut out = poisoned(&mut b, t, c);
            b.layer_norm(&xa, &ww, &bw, 1e-5, &mut out);
            assert_close(&format!("layer_norm C={c} T={t}"), &read(&mut b, &out), &want, 1e-5);
        }
    }
}

#[test]
fn token_shift_lerp_matches_cpu() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(19);
    for &c in &[1usize, 17, 257, 2560] {
        for t in [1usize, 2, 9] {
            for n_out in [1usize, 6] {
                let x = rng.vec(t * c, -1.0, 1.0);
                let shift0 = rng.vec(c, -1.0, 1.0);
                let mu = rng.vec(n_out * c, 0.0, 1.0);
                let mut shift_want = shift0.clone();
                let mut want: Vec<Vec<f32>> = vec![vec![0f32; t * c]; n_out];
                {
                    let mut outs: Vec<&mut [f32]> = want.iter_mut().map(|o| o.as_mut_slice()).collect();
                    token_shift_lerp::token_shift_lerp(&x, &mut shift_want, &mu, &mut outs);
                }
                let xa = act(&mut b, t, c, &x);
                let mut shift = act(&mut b, 1, c, &shift0);
                let muw = vectors(&mut b, n_out, c, &mu);
                let mut outs: Vec<CudaAct> = (0..n_out).map(|_| poisoned(&mut b, t, c)).collect();
                {
                    let mut refs: Vec<&mut CudaAct> = outs.iter_mut().collect();
                    b.token_shift_lerp(&xa, &mut shift, &muw, &mut refs);
                }
                for (i, o) in outs.iter().enumerate() {
                    // The GPU fuses `x + (prev − x)·mu` into one FMA: an ulp from the CPU's result.
                    assert_close(&format!("token_shift_lerp C={c} T={t} out {i}"), &read(&mut b, o), &want[i], 1e-6);
                }
                assert_eq!(read(&mut b, &shift), shift_want, "token_shift_lerp C={c} T={t} shift");
            }
        }
    }
}

#[test]
fn wkv7_matches_cpu() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(23);
    let mut cases = 0;
    for (n, h) in [(16usize, 3usize), (32, 1), (64, 4), (128, 2)] {
        let c = n * h;
        for t in [1usize, 5, 33] {
            let r = rng.vec(t * c, -1.0, 1.0);
            let decay = rng.vec(t * c, 0.55, 1.0);
            let k0 = rng.vec(t * c, -1.0, 1.0);
            let v = rng.vec(t * c, -1.0, 1.0);
            let a = rng.vec(t * c, 0.0, 1.0);
            let k_k = rng.vec(c, 0.5, 1.5);
            let k_a = rng.vec(c, 0.0, 1.0);
            let s0 = rng.vec(h * n * n, -0.5, 0.5);
            let (mut k_want, mut s_want, mut y_want) = (k0.clone(), s0.clone(), vec![0f32; t * c]);
            let inp = wkv7::Wkv7Inputs { r: &r, decay: &decay, v: &v, a: &a, k_k: &k_k, k_a: &k_a };
            wkv7::wkv7(&inp, &mut k_want, &mut s_want, &mut y_want, n);

            let (ra, da, va, aa) = (act(&mut b, t, c, &r), act(&mut b, t, c, &decay), act(&mut b, t, c, &v), act(&mut b, t, c, &a));
            let mut ka = act(&mut b, t, c, &k0);
            let (kkw, kaw) = (vectors(&mut b, 1, c, &k_k), vectors(&mut b, 1, c, &k_a));
            let mut state = act(&mut b, h, n * n, &s0);
            let mut y = poisoned(&mut b, t, c);
            b.wkv7(&ra, &da, &mut ka, &va, &aa, &kkw, &kaw, &mut state, &mut y);
            let what = format!("wkv7 N={n} H={h} T={t}");
            assert_close(&format!("{what} y"), &read(&mut b, &y), &y_want, 1e-5);
            assert_close(&format!("{what} k"), &read(&mut b, &ka), &k_want, 1e-6);
            assert_close(&format!("{what} state"), &read(&mut b, &state), &s_want, 1e-5);
            cases += 1;
        }
    }
    assert_eq!(cases, 12);
}

#[test]
fn wkv7_output_matches_cpu() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(29);
    for (n, h) in [(16usize, 3usize), (64, 4), (100, 1)] {
        let c = n * h;
        for t in [1usize, 7] {
            let mk = |rng: &mut TestRng| rng.vec(t * c, -1.0, 1.0);
            let (y0, r, k, v, g) = (mk(&mut rng), mk(&mut rng), mk(&mut rng), mk(&mut rng), mk(&mut rng));
            let (r_k, ln_w, ln_b) = (rng.vec(c, -1.0, 1.0), rng.vec(c, 0.5, 1.5), rng.vec(c, -0.5, 0.5));
            let mut want = y0.clone();
            let inp = wkv7_output::Wkv7OutputInputs { r: &r, k: &k, v: &v, g: &g, r_k: &r_k, ln_w: &ln_w, ln_b: &ln_b };
            wkv7_output::wkv7_output(&inp, &mut want, n, 64e-5);

            let mut ya = act(&mut b, t, c, &y0);
            let (ra, ka, va, ga) = (act(&mut b, t, c, &r), act(&mut b, t, c, &k), act(&mut b, t, c, &v), act(&mut b, t, c, &g));
            let (rkw, lww, lbw) = (vectors(&mut b, 1, c, &r_k), vectors(&mut b, 1, c, &ln_w), vectors(&mut b, 1, c, &ln_b));
            b.wkv7_output(&mut ya, &ra, &ka, &va, &ga, &rkw, &lww, &lbw, n, 64e-5);
            assert_close(&format!("wkv7_output N={n} H={h} T={t}"), &read(&mut b, &ya), &want, 1e-5);
        }
    }
}

#[test]
fn elementwise_ops_match_cpu() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(31);
    for &n in testkit::ODD_SIZES.iter().chain(&[100_003usize]) {
        let (x, y, z) = (rng.vec(n, -2.0, 2.0), rng.vec(n, -2.0, 2.0), rng.vec(n, 0.0, 1.0));

        let mut want = x.clone();
        elementwise::add(&mut want, &y);
        let (mut xa, ya) = (act(&mut b, 1, n, &x), act(&mut b, 1, n, &y));
        b.add(&mut xa, &ya);
        assert_eq!(read(&mut b, &xa), want, "add n={n}");

        let mut want = x.clone();
        elementwise::relu_square(&mut want);
        let mut xa = act(&mut b, 1, n, &x);
        b.relu_square(&mut xa);
        assert_eq!(read(&mut b, &xa), want, "relu_square n={n}");

        let mut want = x.clone();
        elementwise::value_residual(&mut want, &y, &z);
        let (mut xa, ya, za) = (act(&mut b, 1, n, &x), act(&mut b, 1, n, &y), act(&mut b, 1, n, &z));
        b.value_residual(&mut xa, &ya, &za);
        assert_close(&format!("value_residual n={n}"), &read(&mut b, &xa), &want, 1e-6);
    }
    // copy_rows: rows 2..5 of a [7, 13].
    let x = rng.vec(7 * 13, -1.0, 1.0);
    let xa = act(&mut b, 7, 13, &x);
    let mut out = poisoned(&mut b, 3, 13);
    b.copy_rows(&xa, 2, &mut out);
    assert_eq!(read(&mut b, &out), x[2 * 13..5 * 13].to_vec());
}

#[test]
fn steps_replay_as_graphs_and_match_direct_launches() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(37);
    let (m, k) = (65usize, 256usize);
    let (w_bytes, _) = random_matrix(&mut rng, GgmlType::Q4_K, m, k);
    let w = b.upload_raw("w", GgmlType::Q4_K, m, k, &w_bytes).unwrap();
    let mut x = b.alloc(1, k).unwrap();
    let mut out = b.alloc(1, m).unwrap();
    let mut acc = b.alloc(1, m).unwrap();
    let start = b.graph_stats();
    let mut expected_acc = vec![0f32; m];
    for step in 0..5 {
        let xv = rng.vec(k, -1.0, 1.0);
        b.write(&mut x, &xv).unwrap();
        b.begin_step().unwrap();
        b.matmul(&w, &x, &mut out);
        b.add(&mut acc, &out);
        b.end_step().unwrap();
        let mut want = vec![0f32; m];
        matmul::matmul(GgmlType::Q4_K, &w_bytes, quant::row_bytes(GgmlType::Q4_K, k).unwrap(), &xv, k, &mut want);
        elementwise::add(&mut expected_acc, &want);
        assert_close(&format!("graph step {step}"), &read(&mut b, &out), &want, 1e-4);
    }
    assert_close("accumulated over graph steps", &read(&mut b, &acc), &expected_acc, 1e-4);
    let stats = b.graph_stats();
    assert_eq!(stats.captures - start.captures, 1, "one capture for five identical steps");
    assert_eq!(stats.replays - start.replays, 4, "four replays");
}
