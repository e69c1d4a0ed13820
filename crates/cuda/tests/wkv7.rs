//! Multi-token WKV-7 with a head's rows split over blocks (wkv7_split.cu, `wkv_split_rows`) against
//! the cpu crate's scalar reference: every split size, odd token counts (sub-chunk tails, a single
//! sub-chunk, many), several heads, two calls in a row on one state; and with the output stage
//! (wkv7_output after the split recurrence) against wkv7_h64's fused output. Without a GPU every
//! test prints "SKIPPED: no CUDA device" and passes.

mod common;
mod kernel_common;

use cpu::kernels::{wkv7, wkv7_output};
use cuda::{CudaBackend, Tuning};
use model::Ops;
use testkit::TestRng;

use kernel_common::*;

const N: usize = 64;

struct Inputs {
    r: Vec<f32>,
    decay: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    a: Vec<f32>,
}

fn inputs(rng: &mut TestRng, t: usize, c: usize) -> Inputs {
    Inputs {
        r: rng.vec(t * c, -1.0, 1.0),
        decay: rng.vec(t * c, 0.55, 1.0),
        k: rng.vec(t * c, -1.0, 1.0),
        v: rng.vec(t * c, -1.0, 1.0),
        a: rng.vec(t * c, 0.0, 1.0),
    }
}

fn backend(rows: usize) -> Option<CudaBackend> {
    let mut b = common::backend()?;
    b.set_tuning(Tuning { wkv_split_rows: rows, ..Default::default() });
    Some(b)
}

#[test]
fn split_recurrence_matches_cpu() {
    if backend(8).is_none() {
        return;
    }
    let mut rng = TestRng::new(71);
    let mut cases = 0;
    for rows in [8usize, 16, 32] {
        let mut b = backend(rows).unwrap();
        for (h, t) in [(1usize, 2usize), (3, 17), (2, 33), (5, 100), (1, 16)] {
            let c = N * h;
            let k_k = rng.vec(c, 0.5, 1.5);
            let k_a = rng.vec(c, 0.0, 1.0);
            let s0 = rng.vec(h * N * N, -0.5, 0.5);
            let (kkw, kaw) = (vectors(&mut b, 1, c, &k_k), vectors(&mut b, 1, c, &k_a));
            let mut state = act(&mut b, h, N * N, &s0);
            let mut s_want = s0.clone();
            // Two calls on one state: the second starts from what the first left.
            for call in 0..2 {
                let x = inputs(&mut rng, t, c);
                let (mut k_want, mut y_want) = (x.k.clone(), vec![0f32; t * c]);
                let inp = wkv7::Wkv7Inputs { r: &x.r, decay: &x.decay, v: &x.v, a: &x.a, k_k: &k_k, k_a: &k_a };
                wkv7::wkv7(&inp, &mut k_want, &mut s_want, &mut y_want, N);

                let (ra, da, va, aa) = (act(&mut b, t, c, &x.r), act(&mut b, t, c, &x.decay), act(&mut b, t, c, &x.v), act(&mut b, t, c, &x.a));
                let mut ka = act(&mut b, t, c, &x.k);
                let mut y = poisoned(&mut b, t, c);
                b.wkv7(&ra, &da, &mut ka, &va, &aa, &kkw, &kaw, &mut state, &mut y);
                let what = format!("wkv7 split rows {rows} H={h} T={t} call {call}");
                assert_close(&format!("{what} y"), &read(&mut b, &y), &y_want, 1e-5);
                assert_close(&format!("{what} k"), &read(&mut b, &ka), &k_want, 1e-6);
                assert_close(&format!("{what} state"), &read(&mut b, &state), &s_want, 1e-5);
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 30);
}

/// The split recurrence followed by the unfused output stage equals wkv7_h64 with its fused output
/// (`wkv_split_rows=0`) and the cpu reference of both stages.
#[test]
fn split_with_output_stage_matches_fused_h64() {
    let (Some(mut split), Some(mut fused)) = (backend(8), backend(0)) else { return };
    let mut rng = TestRng::new(73);
    let mut cases = 0;
    for (h, t) in [(3usize, 37usize), (2, 5)] {
        let c = N * h;
        let x = inputs(&mut rng, t, c);
        let g = rng.vec(t * c, -1.0, 1.0);
        let (k_k, k_a) = (rng.vec(c, 0.5, 1.5), rng.vec(c, 0.0, 1.0));
        let (r_k, ln_w, ln_b) = (rng.vec(c, -1.0, 1.0), rng.vec(c, 0.5, 1.5), rng.vec(c, -0.5, 0.5));
        let s0 = rng.vec(h * N * N, -0.5, 0.5);
        let (mut k_want, mut s_want, mut y_want) = (x.k.clone(), s0.clone(), vec![0f32; t * c]);
        let inp = wkv7::Wkv7Inputs { r: &x.r, decay: &x.decay, v: &x.v, a: &x.a, k_k: &k_k, k_a: &k_a };
        wkv7::wkv7(&inp, &mut k_want, &mut s_want, &mut y_want, N);
        let out = wkv7_output::Wkv7OutputInputs { r: &x.r, k: &k_want, v: &x.v, g: &g, r_k: &r_k, ln_w: &ln_w, ln_b: &ln_b };
        wkv7_output::wkv7_output(&out, &mut y_want, N, 64e-5);

        let mut results = Vec::new();
        for b in [&mut split, &mut fused] {
            let (ra, da, va, aa, ga) = (act(b, t, c, &x.r), act(b, t, c, &x.decay), act(b, t, c, &x.v), act(b, t, c, &x.a), act(b, t, c, &g));
            let mut ka = act(b, t, c, &x.k);
            let (kkw, kaw) = (vectors(b, 1, c, &k_k), vectors(b, 1, c, &k_a));
            let (rkw, lww, lbw) = (vectors(b, 1, c, &r_k), vectors(b, 1, c, &ln_w), vectors(b, 1, c, &ln_b));
            let mut state = act(b, h, N * N, &s0);
            let mut y = poisoned(b, t, c);
            b.wkv7(&ra, &da, &mut ka, &va, &aa, &kkw, &kaw, &mut state, &mut y);
            b.wkv7_output(&mut y, &ra, &ka, &va, &ga, &rkw, &lww, &lbw, N, 64e-5);
            results.push((read(b, &y), read(b, &state)));
        }
        for ((y, s), name) in results.iter().zip(["split", "h64 fused"]) {
            assert_close(&format!("{name} H={h} T={t} output"), y, &y_want, 1e-4);
            assert_close(&format!("{name} H={h} T={t} state"), s, &s_want, 1e-5);
        }
        assert_close(&format!("split vs fused H={h} T={t}"), &results[0].0, &results[1].0, 1e-4);
        cases += 1;
    }
    assert_eq!(cases, 2);
}
