//! The non-matmul ops on the GPU against the cpu crate's scalar kernels on seeded random inputs of
//! odd sizes: layer_norm, token_shift_lerp, wkv7, wkv7_output, value_residual, add, relu_square,
//! copy_rows, and the GPU argmax.

mod common;

use common::{act, backend, max_rel_diff, read};
use cpu::kernels::{elementwise, layer_norm, token_shift_lerp, wkv7, wkv7_output};
use model::Ops;
use testkit::TestRng;

#[test]
fn layer_norm_matches_reference() {
    let Some(mut b) = backend(true) else { return };
    let mut rng = TestRng::new(1);
    for &c in testkit::ODD_SIZES {
        let t = 3;
        let x = rng.vec(t * c, -2.0, 3.0);
        let w = rng.vec(c, 0.5, 1.5);
        let bias = rng.vec(c, -0.5, 0.5);
        let mut expected = vec![0f32; t * c];
        layer_norm::layer_norm(&x, &w, &bias, 1e-5, &mut expected);
        let gx = act(&mut b, t, c, &x);
        let gw = b.upload_vectors(1, c, w).unwrap();
        let gb = b.upload_vectors(1, c, bias).unwrap();
        let mut out = b.alloc(t, c).unwrap();
        b.layer_norm(&gx, &gw, &gb, 1e-5, &mut out);
        let diff = max_rel_diff(&read(&mut b, &out), &expected);
        assert!(diff <= 2e-5, "layer_norm C={c}: rel diff {diff}");
    }
}

#[test]
fn token_shift_lerp_matches_reference() {
    let Some(mut b) = backend(true) else { return };
    let mut rng = TestRng::new(2);
    let mut cases = 0;
    for &c in &[1usize, 17, 65, 257] {
        for n_out in [1usize, 2, 6] {
            for t in [1usize, 4] {
                let x = rng.vec(t * c, -1.0, 1.0);
                let shift0 = rng.vec(c, -1.0, 1.0);
                let mu = rng.vec(n_out * c, 0.0, 1.0);
                let mut shift = shift0.clone();
                let mut expected: Vec<Vec<f32>> = vec![vec![0f32; t * c]; n_out];
                {
                    let mut outs: Vec<&mut [f32]> = expected.iter_mut().map(|v| v.as_mut_slice()).collect();
                    token_shift_lerp::token_shift_lerp(&x, &mut shift, &mu, &mut outs);
                }
                let gx = act(&mut b, t, c, &x);
                let mut gshift = act(&mut b, 1, c, &shift0);
                let gmu = b.upload_vectors(n_out, c, mu).unwrap();
                let mut outs: Vec<_> = (0..n_out).map(|_| b.alloc(t, c).unwrap()).collect();
                {
                    let mut refs: Vec<&mut webgpu::GpuAct> = outs.iter_mut().collect();
                    b.token_shift_lerp(&gx, &mut gshift, &gmu, &mut refs);
                }
                for (i, o) in outs.iter().enumerate() {
                    assert_eq!(read(&mut b, o), expected[i], "token_shift_lerp C={c} out {i}/{n_out} T={t}");
                }
                assert_eq!(read(&mut b, &gshift), shift, "token_shift_lerp C={c}: shift");
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 24);
}

fn check_wkv7(b: &mut webgpu::WebGpuBackend, rng: &mut TestRng, n: usize, heads: usize, t: usize) {
    let c = n * heads;
    let r = rng.vec(t * c, -1.0, 1.0);
    let decay = rng.vec(t * c, 0.55, 1.0);
    let k0 = rng.vec(t * c, -1.0, 1.0);
    let v = rng.vec(t * c, -1.0, 1.0);
    let a = rng.vec(t * c, 0.0, 1.0);
    let k_k = rng.vec(c, 0.5, 1.5);
    let k_a = rng.vec(c, 0.0, 1.0);
    let state0 = rng.vec(heads * n * n, -0.5, 0.5);

    let (gr, gd, gv, ga) = (act(b, t, c, &r), act(b, t, c, &decay), act(b, t, c, &v), act(b, t, c, &a));
    let mut gk = act(b, t, c, &k0);
    let gkk = b.upload_vectors(1, c, k_k.clone()).unwrap();
    let gka = b.upload_vectors(1, c, k_a.clone()).unwrap();
    let mut gs = act(b, heads, n * n, &state0);
    let mut gy = b.alloc(t, c).unwrap();

    let mut k = k0.clone();
    let mut state = state0;
    let mut y = vec![0f32; t * c];
    // Two calls in a row: the state carries over.
    for call in 0..2 {
        if call == 1 {
            k.copy_from_slice(&k0);
            b.write(&mut gk, &k0).unwrap();
        }
        let inp = wkv7::Wkv7Inputs { r: &r, decay: &decay, v: &v, a: &a, k_k: &k_k, k_a: &k_a };
        wkv7::wkv7(&inp, &mut k, &mut state, &mut y, n);
        b.wkv7(&gr, &gd, &mut gk, &gv, &ga, &gkk, &gka, &mut gs, &mut gy);
        let what = format!("wkv7 N={n} H={heads} T={t} call {call}");
        let dy = max_rel_diff(&read(b, &gy), &y);
        let dk = max_rel_diff(&read(b, &gk), &k);
        let ds = max_rel_diff(&read(b, &gs), &state);
        assert!(dy <= 1e-4 && dk <= 1e-6 && ds <= 1e-4, "{what}: y {dy}, k {dk}, state {ds}");
    }
}

#[test]
fn wkv7_matches_reference() {
    let Some(mut b) = backend(true) else { return };
    let mut rng = TestRng::new(4);
    // 128 and 100 move the state through the tile in passes (100: a partial last pass).
    for (n, heads, t) in [(64, 2, 1), (64, 1, 7), (16, 3, 5), (4, 2, 3), (128, 1, 3), (100, 2, 2)] {
        check_wkv7(&mut b, &mut rng, n, heads, t);
    }
}

/// wkv7 then wkv7_output of one token (decode) become one dispatch (backend/wkv7_fusion.rs): y, the
/// new k and the state against the cpu kernels run one after the other, over two steps.
#[test]
fn wkv7_with_output_of_one_token_is_one_dispatch_and_matches_reference() {
    let Some(mut b) = backend(true) else { return };
    let mut rng = TestRng::new(7);
    for (n, heads) in [(64usize, 3usize), (16, 5), (4, 2), (128, 1)] {
        let c = n * heads;
        let state0 = rng.vec(heads * n * n, -0.5, 0.5);
        let (k_k, k_a) = (rng.vec(c, 0.5, 1.5), rng.vec(c, 0.0, 1.0));
        let (r_k, ln_w, ln_b) = (rng.vec(c, -1.0, 1.0), rng.vec(c, 0.5, 1.5), rng.vec(c, -0.5, 0.5));
        let gkk = b.upload_vectors(1, c, k_k.clone()).unwrap();
        let gka = b.upload_vectors(1, c, k_a.clone()).unwrap();
        let grk = b.upload_vectors(1, c, r_k.clone()).unwrap();
        let gw = b.upload_vectors(1, c, ln_w.clone()).unwrap();
        let gb = b.upload_vectors(1, c, ln_b.clone()).unwrap();
        let mut gs = act(&mut b, heads, n * n, &state0);
        let mut state = state0;
        for step in 0..2 {
            let mk = |rng: &mut TestRng, lo: f32, hi: f32| rng.vec(c, lo, hi);
            let (r, decay, k0, v, a, g) =
                (mk(&mut rng, -1.0, 1.0), mk(&mut rng, 0.55, 1.0), mk(&mut rng, -1.0, 1.0), mk(&mut rng, -1.0, 1.0), mk(&mut rng, 0.0, 1.0), mk(&mut rng, -1.0, 1.0));
            let (mut k, mut y) = (k0.clone(), vec![0f32; c]);
            let inp = wkv7::Wkv7Inputs { r: &r, decay: &decay, v: &v, a: &a, k_k: &k_k, k_a: &k_a };
            wkv7::wkv7(&inp, &mut k, &mut state, &mut y, n);
            let out = wkv7_output::Wkv7OutputInputs { r: &r, k: &k, v: &v, g: &g, r_k: &r_k, ln_w: &ln_w, ln_b: &ln_b };
            wkv7_output::wkv7_output(&out, &mut y, n, 64e-5);

            let (gr, gd, gv, ga, gg) = (act(&mut b, 1, c, &r), act(&mut b, 1, c, &decay), act(&mut b, 1, c, &v), act(&mut b, 1, c, &a), act(&mut b, 1, c, &g));
            let mut gk = act(&mut b, 1, c, &k0);
            let mut gy = b.alloc(1, c).unwrap();
            let before = b.counters().dispatches;
            b.begin_step().unwrap();
            b.wkv7(&gr, &gd, &mut gk, &gv, &ga, &gkk, &gka, &mut gs, &mut gy);
            b.wkv7_output(&mut gy, &gr, &gk, &gv, &gg, &grk, &gw, &gb, n, 64e-5);
            b.end_step().unwrap();
            let what = format!("wkv7 + output N={n} H={heads} step {step}");
            assert_eq!(b.counters().dispatches - before, 1, "{what}: one dispatch");
            let dy = max_rel_diff(&read(&mut b, &gy), &y);
            let dk = max_rel_diff(&read(&mut b, &gk), &k);
            let ds = max_rel_diff(&read(&mut b, &gs), &state);
            assert!(dy <= 1e-4 && dk <= 1e-6 && ds <= 1e-4, "{what}: y {dy}, k {dk}, state {ds}");
        }
    }
}

#[test]
fn wkv7_output_matches_reference() {
    let Some(mut b) = backend(true) else { return };
    let mut rng = TestRng::new(6);
    for (n, heads, t) in [(64, 2, 3), (16, 3, 1), (100, 1, 2)] {
        let c = n * heads;
        let mk = |rng: &mut TestRng| rng.vec(t * c, -1.0, 1.0);
        let (y0, r, k, v, g) = (mk(&mut rng), mk(&mut rng), mk(&mut rng), mk(&mut rng), mk(&mut rng));
        let (r_k, ln_w, ln_b) = (rng.vec(c, -1.0, 1.0), rng.vec(c, 0.5, 1.5), rng.vec(c, -0.5, 0.5));
        let mut expected = y0.clone();
        let inp = wkv7_output::Wkv7OutputInputs { r: &r, k: &k, v: &v, g: &g, r_k: &r_k, ln_w: &ln_w, ln_b: &ln_b };
        wkv7_output::wkv7_output(&inp, &mut expected, n, 64e-5);
        let mut gy = act(&mut b, t, c, &y0);
        let (gr, gk, gv, gg) = (act(&mut b, t, c, &r), act(&mut b, t, c, &k), act(&mut b, t, c, &v), act(&mut b, t, c, &g));
        let grk = b.upload_vectors(1, c, r_k).unwrap();
        let gw = b.upload_vectors(1, c, ln_w).unwrap();
        let gb = b.upload_vectors(1, c, ln_b).unwrap();
        b.wkv7_output(&mut gy, &gr, &gk, &gv, &gg, &grk, &gw, &gb, n, 64e-5);
        let diff = max_rel_diff(&read(&mut b, &gy), &expected);
        assert!(diff <= 2e-5, "wkv7_output N={n} H={heads} T={t}: rel diff {diff}");
    }
}

#[test]
fn elementwise_ops_match_reference() {
    let Some(mut b) = backend(true) else { return };
    let mut rng = TestRng::new(8);
    for &n in testkit::ODD_SIZES {
        let (x, y, z) = (rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0), rng.vec(n, 0.0, 1.0));

        let mut gx = act(&mut b, 1, n, &x);
        let gy = act(&mut b, 1, n, &y);
        let gz = act(&mut b, 1, n, &z);
        b.add(&mut gx, &gy);
        let mut e = x.clone();
        elementwise::add(&mut e, &y);
        assert_eq!(read(&mut b, &gx), e, "add n={n}");

        b.relu_square(&mut gx);
        elementwise::relu_square(&mut e);
        assert_eq!(read(&mut b, &gx), e, "relu_square n={n}");

        b.value_residual(&mut gx, &gy, &gz);
        elementwise::value_residual(&mut e, &y, &z);
        assert!(max_rel_diff(&read(&mut b, &gx), &e) <= 1e-6, "value_residual n={n}");
    }
}

#[test]
fn copy_rows_copies_a_row_range() {
    let Some(mut b) = backend(true) else { return };
    let mut rng = TestRng::new(9);
    let (rows, cols) = (7, 33);
    let x = rng.vec(rows * cols, -1.0, 1.0);
    let gx = act(&mut b, rows, cols, &x);
    for (first, n) in [(0, 7), (6, 1), (2, 3)] {
        let mut out = b.alloc(n, cols).unwrap();
        b.copy_rows(&gx, first, &mut out);
        assert_eq!(read(&mut b, &out), x[first * cols..(first + n) * cols], "copy_rows {first}+{n}");
    }
}

#[test]
fn argmax_matches_a_sequential_scan() {
    let Some(mut b) = backend(true) else { return };
    let mut rng = TestRng::new(10);
    for (rows, n) in [(1, 1), (3, 65), (2, 1000), (1, 65536)] {
        let mut x = rng.vec(rows * n, -5.0, 5.0);
        if n > 10 {
            // A tie: the first index must win.
            x[7] = 100.0;
            x[n - 2] = 100.0;
        }
        if n >= 8192 {
            // Ties a thread sees in its several partial maxima (lanes stride by 256 to 1024).
            for off in [256, 1024, 2048, 3072] {
                x[7 + off] = 100.0;
            }
        }
        let gx = act(&mut b, rows, n, &x);
        let got = b.argmax_rows(&gx).unwrap();
        let expected: Vec<u32> = x.chunks(n).map(|r| testkit::argmax(r) as u32).collect();
        assert_eq!(got, expected, "argmax rows={rows} n={n}");
        // The same through the optional op of model::Ops (a second call reuses the id buffer).
        assert_eq!(b.argmax(&gx).expect("wgpu offers argmax").unwrap(), expected, "Ops::argmax rows={rows} n={n}");
    }
}
