//! The RWKV-4/5/6-only ops on the GPU against the cpu crate's scalar kernels on seeded random inputs
//! of odd sizes: decay6, token_shift_lora6, wkv6 (per-token and static decay), wkv4, group_norm,
//! sigmoid_mul, silu_mul, scale. Recurrent ops run twice in a row so the state carries over. Also
//! the gates folded into the matmul that wrote them.

mod common;

use common::{act, backend, backends, max_rel_diff, read};
use cpu::kernels::lora::MatrixRef;
use cpu::kernels::{decay6, elementwise, group_norm, token_shift_lora6, wkv4, wkv6};
use gguf::GgmlType;
use model::{Ops, Wkv6Decay};
use testkit::TestRng;
use webgpu::{GpuAct, GpuWeight, WebGpuBackend};

/// Random weights of `rows` × `cols` stored as `ty` (quantized with the reference quantizer).
fn weights(rng: &mut TestRng, ty: GgmlType, rows: usize, cols: usize, scale: f32) -> Vec<u8> {
    let row_bytes = quant::row_bytes(ty, cols).unwrap();
    let mut out = vec![0u8; rows * row_bytes];
    for r in 0..rows {
        let vals = rng.vec(cols, -scale, scale);
        quant::quantize_row(ty, &vals, &mut out[r * row_bytes..(r + 1) * row_bytes]).unwrap();
    }
    out
}

fn matrix_ref(ty: GgmlType, bytes: &[u8], cols: usize) -> MatrixRef<'_> {
    MatrixRef { ty, bytes, row_bytes: quant::row_bytes(ty, cols).unwrap(), cols }
}

fn upload(b: &mut WebGpuBackend, ty: GgmlType, rows: usize, cols: usize, bytes: &[u8]) -> GpuWeight {
    b.upload_raw("test.weight", ty, rows, cols, bytes).expect("upload")
}

#[test]
fn decay6_matches_reference() {
    let mut rng = TestRng::new(61);
    let mut cases = 0;
    for (path, mut b) in backends() {
        for (ty, c, rank) in [(GgmlType::F32, 65, 7), (GgmlType::F16, 33, 32), (GgmlType::Q8_0, 64, 32)] {
            for t in [1usize, 5, 17] {
                let a = weights(&mut rng, ty, rank, c, 0.5);
                let bw = weights(&mut rng, ty, c, rank, 0.5);
                let bias = rng.vec(c, -1.5, 0.5);
                let x = rng.vec(t * c, -1.0, 1.0);
                let mut mid = vec![0f32; t * rank];
                let mut expected = vec![0f32; t * c];
                decay6::decay6(&x, &matrix_ref(ty, &a, c), &matrix_ref(ty, &bw, rank), &bias, &mut mid, &mut expected);

                let ga = upload(&mut b, ty, rank, c, &a);
                let gb = upload(&mut b, ty, c, rank, &bw);
                let gbias = b.upload_vectors(1, c, bias).unwrap();
                let gx = act(&mut b, t, c, &x);
                let mut gmid = b.alloc(t, rank).unwrap();
                let mut out = b.alloc(t, c).unwrap();
                b.decay6(&gx, &ga, &gb, &gbias, &mut gmid, &mut out);
                let dm = max_rel_diff(&read(&mut b, &gmid), &mid);
                let d = max_rel_diff(&read(&mut b, &out), &expected);
                assert!(dm <= 1e-5 && d <= 1e-5, "{path}: decay6 {ty} C={c} R={rank} T={t}: mid {dm}, out {d}");
                cases += 1;
            }
        }
    }
    assert!(cases > 0 || backend(true).is_none(), "no case ran");
}

/// One token_shift_lora6 case, called twice so the shift carries over; K = 5 outputs.
fn check_token_shift_lora6(b: &mut WebGpuBackend, rng: &mut TestRng, ty: GgmlType, c: usize, d: usize, t: usize, what: &str) {
    let k = 5;
    let w1 = weights(rng, ty, k * d, c, 0.5);
    let w2 = weights(rng, ty, k * c, d, 0.5);
    let mu_x = rng.vec(c, 0.0, 1.0);
    let mu = rng.vec(k * c, 0.0, 1.0);
    let shift0 = rng.vec(c, -1.0, 1.0);
    let (w1m, w2m) = (matrix_ref(ty, &w1, c), matrix_ref(ty, &w2, d));

    let gw1 = upload(b, ty, k * d, c, &w1);
    let gw2 = upload(b, ty, k * c, d, &w2);
    let gmu_x = b.upload_vectors(1, c, mu_x.clone()).unwrap();
    let gmu = b.upload_vectors(k, c, mu.clone()).unwrap();
    let mut gshift = act(b, 1, c, &shift0);
    let mut gmid = b.alloc(t, k * d).unwrap();
    let mut gouts: Vec<GpuAct> = (0..k).map(|_| b.alloc(t, c).unwrap()).collect();

    let mut shift = shift0;
    let mut mid = vec![0f32; t * k * d];
    let mut outs = vec![vec![0f32; t * c]; k];
    for call in 0..2 {
        let x = rng.vec(t * c, -1.0, 1.0);
        {
            let mut refs: Vec<&mut [f32]> = outs.iter_mut().map(|o| o.as_mut_slice()).collect();
            token_shift_lora6::token_shift_lora6(&x, &mut shift, &mu_x, &mu, &w1m, &w2m, &mut mid, &mut refs);
        }
        let gx = act(b, t, c, &x);
        {
            let mut refs: Vec<&mut GpuAct> = gouts.iter_mut().collect();
            b.token_shift_lora6(&gx, &mut gshift, &gmu_x, &gmu, &gw1, &gw2, &mut gmid, &mut refs);
        }
        let what = format!("{what}: token_shift_lora6 {ty} C={c} D={d} T={t} call {call}");
        assert!(max_rel_diff(&read(b, &gmid), &mid) <= 1e-5, "{what}: mid");
        for (i, (g, e)) in gouts.iter().zip(&outs).enumerate() {
            let diff = max_rel_diff(&read(b, g), e);
            assert!(diff <= 1e-5, "{what}: out {i} rel diff {diff}");
        }
        assert_eq!(read(b, &gshift), shift, "{what}: shift");
    }
}

#[test]
fn token_shift_lora6_matches_reference() {
    let mut rng = TestRng::new(62);
    let mut cases = 0;
    for (path, mut b) in backends() {
        for (ty, c, d) in [(GgmlType::F32, 7, 5), (GgmlType::F32, 33, 32), (GgmlType::F16, 17, 33), (GgmlType::Q5_1, 96, 32), (GgmlType::Q8_0, 64, 64)] {
            for t in [1usize, 4, 11] {
                check_token_shift_lora6(&mut b, &mut rng, ty, c, d, t, path);
                cases += 1;
            }
        }
    }
    assert!(cases > 0 || backend(true).is_none(), "no case ran");
}

fn check_wkv6(b: &mut WebGpuBackend, rng: &mut TestRng, n: usize, heads: usize, t: usize, per_token: bool) {
    let c = n * heads;
    let u = rng.vec(c, -1.0, 1.0);
    let static_w = rng.vec(c, 0.5, 1.0);
    let state0 = rng.vec(heads * n * n, -0.5, 0.5);
    let gu = b.upload_vectors(1, c, u.clone()).unwrap();
    let gstatic = b.upload_vectors(1, c, static_w.clone()).unwrap();
    let mut gs = act(b, heads, n * n, &state0);
    let mut gy = b.alloc(t, c).unwrap();
    let mut state = state0;
    let mut y = vec![0f32; t * c];
    // Two calls in a row: the state carries over.
    for call in 0..2 {
        let mk = |rng: &mut TestRng| rng.vec(t * c, -1.0, 1.0);
        let (r, k, v) = (mk(rng), mk(rng), mk(rng));
        let w = if per_token { rng.vec(t * c, 0.5, 1.0) } else { static_w.clone() };
        let inp = wkv6::Wkv6Inputs { r: &r, k: &k, v: &v, decay: &w, per_token, u: &u };
        wkv6::wkv6(&inp, &mut state, &mut y, n);
        let (gr, gk, gv) = (act(b, t, c, &r), act(b, t, c, &k), act(b, t, c, &v));
        let gw = act(b, if per_token { t } else { 1 }, c, &w);
        let decay = if per_token { Wkv6Decay::PerToken(&gw) } else { Wkv6Decay::Static(&gstatic) };
        b.wkv6(&gr, &gk, &gv, decay, &gu, &mut gs, &mut gy);
        let what = format!("wkv6 N={n} H={heads} T={t} per_token={per_token} call {call}");
        let dy = max_rel_diff(&read(b, &gy), &y);
        let ds = max_rel_diff(&read(b, &gs), &state);
        assert!(dy <= 1e-4 && ds <= 1e-5, "{what}: y {dy}, state {ds}");
    }
}

#[test]
fn wkv6_matches_reference_with_both_decays() {
    let Some(mut b) = backend(true) else { return };
    let mut rng = TestRng::new(63);
    let mut cases = 0;
    for (n, heads, t) in [(64, 2, 1), (64, 1, 7), (32, 2, 3), (17, 3, 5), (4, 2, 3), (1, 3, 2)] {
        for per_token in [true, false] {
            check_wkv6(&mut b, &mut rng, n, heads, t, per_token);
            cases += 1;
        }
    }
    assert_eq!(cases, 12);
}

#[test]
fn wkv4_matches_reference() {
    let Some(mut b) = backend(true) else { return };
    let mut rng = TestRng::new(64);
    let mut cases = 0;
    for &c in &[1usize, 7, 65, 257] {
        for t in [1usize, 6] {
            let w: Vec<f32> = rng.vec(c, -2.0, 1.0).iter().map(|d| -d.exp()).collect();
            let u = rng.vec(c, -1.0, 1.0);
            // aa, bb, pp of a state mid-sequence (bb > 0).
            let mut state = [rng.vec(c, -1.0, 1.0), rng.vec(c, 0.1, 2.0), rng.vec(c, -2.0, 2.0)].concat();
            let gw = b.upload_vectors(1, c, w.clone()).unwrap();
            let gu = b.upload_vectors(1, c, u.clone()).unwrap();
            let mut gs = act(&mut b, 3, c, &state);
            let mut gy = b.alloc(t, c).unwrap();
            let mut y = vec![0f32; t * c];
            for call in 0..2 {
                let (k, v) = (rng.vec(t * c, -3.0, 3.0), rng.vec(t * c, -1.0, 1.0));
                wkv4::wkv4(&k, &v, &w, &u, &mut state, &mut y);
                let (gk, gv) = (act(&mut b, t, c, &k), act(&mut b, t, c, &v));
                b.wkv4(&gk, &gv, &gw, &gu, &mut gs, &mut gy);
                let dy = max_rel_diff(&read(&mut b, &gy), &y);
                let ds = max_rel_diff(&read(&mut b, &gs), &state);
                assert!(dy <= 1e-5 && ds <= 1e-5, "wkv4 C={c} T={t} call {call}: y {dy}, state {ds}");
            }
            cases += 1;
        }
    }
    assert_eq!(cases, 8);
}

#[test]
fn group_norm_matches_reference() {
    let Some(mut b) = backend(true) else { return };
    let mut rng = TestRng::new(65);
    let mut cases = 0;
    for (n, heads, t) in [(64, 2, 3), (16, 3, 1), (100, 1, 2), (7, 5, 2), (1, 3, 1)] {
        for eps in [1e-5f32, 64e-5] {
            let c = n * heads;
            let y0 = rng.vec(t * c, -2.0, 3.0);
            let (ln_w, ln_b) = (rng.vec(c, 0.5, 1.5), rng.vec(c, -0.5, 0.5));
            let mut expected = y0.clone();
            group_norm::group_norm(&mut expected, &ln_w, &ln_b, n, eps);
            let mut gy = act(&mut b, t, c, &y0);
            let gw = b.upload_vectors(1, c, ln_w).unwrap();
            let gb = b.upload_vectors(1, c, ln_b).unwrap();
            b.group_norm(&mut gy, &gw, &gb, n, eps);
            let diff = max_rel_diff(&read(&mut b, &gy), &expected);
            assert!(diff <= 2e-5, "group_norm N={n} H={heads} T={t} eps={eps}: rel diff {diff}");
            cases += 1;
        }
    }
    assert_eq!(cases, 10);
}

#[test]
fn gates_and_scale_match_reference() {
    let Some(mut b) = backend(true) else { return };
    let mut rng = TestRng::new(66);
    for &n in testkit::ODD_SIZES {
        let (x, g) = (rng.vec(n, -2.0, 2.0), rng.vec(n, -6.0, 6.0));
        let gg = act(&mut b, 1, n, &g);
        let mut gx = act(&mut b, 1, n, &x);
        let mut e = x.clone();

        b.sigmoid_mul(&mut gx, &gg);
        elementwise::sigmoid_mul(&mut e, &g);
        let diff = max_rel_diff(&read(&mut b, &gx), &e);
        assert!(diff <= 1e-6, "sigmoid_mul n={n}: rel diff {diff}");

        b.silu_mul(&mut gx, &gg);
        elementwise::silu_mul(&mut e, &g);
        let diff = max_rel_diff(&read(&mut b, &gx), &e);
        assert!(diff <= 1e-6, "silu_mul n={n}: rel diff {diff}");

        b.scale(&mut gx, 0.5);
        elementwise::scale(&mut e, 0.5);
        let diff = max_rel_diff(&read(&mut b, &gx), &e);
        assert!(diff <= 1e-6, "scale n={n}: rel diff {diff}");
    }
}

/// matmul → sigmoid_mul / silu_mul gated by its output (the channel mix's receptance, RWKV-5's gate):
/// folded into the matmul's epilogue on every matmul kernel (matvec, generic, tiled), and still
/// right when the gated buffer is the matmul's own input (then not folded).
#[test]
fn gates_fold_into_the_matmul_before_them() {
    let opts = webgpu::WebGpuOptions { profile: true, adapter: std::env::var("AVIARY_WGPU_ADAPTER").ok(), ..Default::default() };
    let Some(mut b) = common::open(opts) else { return };
    let mut rng = TestRng::new(67);
    let mut cases = 0;
    for (ty, m, k, t) in [(GgmlType::F16, 64, 256, 1), (GgmlType::F32, 33, 65, 3), (GgmlType::F16, 64, 64, 20)] {
        for silu in [false, true] {
            let w = weights(&mut rng, ty, m, k, 1.0);
            let xin = rng.vec(t * k, -1.0, 1.0);
            let x0 = rng.vec(t * m, -1.0, 1.0);
            let mut g = vec![0f32; t * m];
            cpu::kernels::matmul::matmul(ty, &w, quant::row_bytes(ty, k).unwrap(), &xin, k, &mut g);
            let mut expected = x0.clone();
            if silu {
                elementwise::silu_mul(&mut expected, &g);
            } else {
                elementwise::sigmoid_mul(&mut expected, &g);
            }
            let gw = upload(&mut b, ty, m, k, &w);
            let gin = act(&mut b, t, k, &xin);
            let mut gx = act(&mut b, t, m, &x0);
            let mut gg = b.alloc(t, m).unwrap();
            b.begin_step().unwrap();
            b.matmul(&gw, &gin, &mut gg);
            if silu {
                b.silu_mul(&mut gx, &gg);
            } else {
                b.sigmoid_mul(&mut gx, &gg);
            }
            b.end_step().unwrap();
            let what = format!("{ty} M={m} K={k} T={t} silu={silu}");
            assert!(max_rel_diff(&read(&mut b, &gg), &g) <= 1e-5, "{what}: the gate is still stored");
            assert!(max_rel_diff(&read(&mut b, &gx), &expected) <= 1e-5, "{what}: x ⊙ gate");
            cases += 1;
        }
    }
    assert_eq!(cases, 6);
    let rows = b.profile_rows();
    if rows.is_empty() {
        eprintln!("note: adapter '{}' has no TIMESTAMP_QUERY; folding not checked by kernel", b.adapter_name());
    } else {
        assert!(rows.iter().all(|r| !r.kernel.contains("Mul")), "a gate ran as its own kernel: {rows:?}");
    }

    // The gated buffer is the matmul's input: it must be gated after the matmul has read it.
    let (m, k) = (32, 32);
    let w = weights(&mut rng, GgmlType::F32, m, k, 1.0);
    let xin = rng.vec(k, -1.0, 1.0);
    let mut g = vec![0f32; m];
    cpu::kernels::matmul::matmul(GgmlType::F32, &w, quant::row_bytes(GgmlType::F32, k).unwrap(), &xin, k, &mut g);
    let mut expected = xin.clone();
    elementwise::sigmoid_mul(&mut expected, &g);
    let gw = upload(&mut b, GgmlType::F32, m, k, &w);
    let mut gin = act(&mut b, 1, k, &xin);
    let mut gg = b.alloc(1, m).unwrap();
    b.matmul(&gw, &gin, &mut gg);
    b.sigmoid_mul(&mut gin, &gg);
    assert!(max_rel_diff(&read(&mut b, &gin), &expected) <= 1e-5, "gating the matmul's own input");
}
