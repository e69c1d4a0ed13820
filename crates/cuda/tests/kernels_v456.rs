//! The RWKV-4, 5 and 6 ops of the CUDA backend against the cpu crate's scalar reference kernels, on
//! seeded random inputs of odd sizes: several head sizes, one token and many, state carried from one
//! call to the next. Outputs are poisoned with NaN first, so an element a kernel fails to write shows
//! up. Without a GPU every test prints "SKIPPED: no CUDA device" and passes.

mod common;
mod kernel_common;

use cpu::kernels::lora::MatrixRef;
use cpu::kernels::{decay6, elementwise, group_norm, token_shift_lora6, wkv4, wkv6};
use cuda::{CudaAct, CudaBackend};
use gguf::GgmlType;
use model::{Architecture, Ops, Wkv6Decay};
use testkit::TestRng;

use kernel_common::*;

/// Token counts of the two calls that share a state: decode after decode, prefill after decode, ...
const CALLS: [(usize, usize); 3] = [(1, 1), (5, 1), (33, 9)];

#[test]
fn supports_every_architecture() {
    let Some(b) = common::backend() else { return };
    for arch in [Architecture::Rwkv4, Architecture::Rwkv5, Architecture::Rwkv6, Architecture::Rwkv7] {
        assert!(b.supports(arch), "cuda should support {arch:?}");
    }
}

#[test]
fn wkv6_matches_cpu_per_token_and_static_decay() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(41);
    let mut cases = 0;
    // 128: the state (64 KiB) needs more shared memory than a block gets without opting in.
    for (n, h) in [(1usize, 3usize), (7, 2), (16, 3), (64, 4), (128, 2)] {
        let c = n * h;
        for per_token in [true, false] {
            let s0 = rng.vec(h * n * n, -0.5, 0.5);
            let u = rng.vec(c, -1.0, 1.0);
            let uw = vectors(&mut b, 1, c, &u);
            let (mut s_want, mut state) = (s0.clone(), act(&mut b, h, n * n, &s0));
            let static_w = rng.vec(c, 0.3, 1.0);
            let static_ww = vectors(&mut b, 1, c, &static_w);
            for (call, t) in CALLS.iter().flat_map(|&(t1, t2)| [t1, t2]).enumerate() {
                let mk = |rng: &mut TestRng| rng.vec(t * c, -1.0, 1.0);
                let (r, k, v) = (mk(&mut rng), mk(&mut rng), mk(&mut rng));
                let w = if per_token { rng.vec(t * c, 0.3, 1.0) } else { static_w.clone() };
                let mut y_want = vec![0f32; t * c];
                let inp = wkv6::Wkv6Inputs { r: &r, k: &k, v: &v, decay: &w, per_token, u: &u };
                wkv6::wkv6(&inp, &mut s_want, &mut y_want, n);

                let (ra, ka, va) = (act(&mut b, t, c, &r), act(&mut b, t, c, &k), act(&mut b, t, c, &v));
                let wa = act(&mut b, t, c, if per_token { &w } else { &r });
                let decay = if per_token { Wkv6Decay::PerToken(&wa) } else { Wkv6Decay::Static(&static_ww) };
                let mut y = poisoned(&mut b, t, c);
                b.wkv6(&ra, &ka, &va, decay, &uw, &mut state, &mut y);
                let what = format!("wkv6 N={n} H={h} T={t} call {call} per_token={per_token}");
                assert_close(&format!("{what} y"), &read(&mut b, &y), &y_want, 1e-5);
                assert_close(&format!("{what} state"), &read(&mut b, &state), &s_want, 1e-5);
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 5 * 2 * 6);
}

#[test]
fn wkv4_matches_cpu_with_state_carried() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(43);
    let mut cases = 0;
    for &c in testkit::ODD_SIZES.iter().chain(&[1000usize]) {
        // A zero state is how a sequence starts; a random one is a state mid-sequence.
        for zero_start in [true, false] {
            let s0 = if zero_start {
                vec![0f32; 3 * c]
            } else {
                let mut s = rng.vec(2 * c, 0.0, 2.0);
                s.extend(rng.vec(c, -3.0, 3.0));
                s
            };
            let w: Vec<f32> = rng.vec(c, -2.0, 1.0).iter().map(|d| -d.exp()).collect();
            let u = rng.vec(c, -1.0, 1.0);
            let (ww, uw) = (vectors(&mut b, 1, c, &w), vectors(&mut b, 1, c, &u));
            let (mut s_want, mut state) = (s0.clone(), act(&mut b, 3, c, &s0));
            for (call, t) in CALLS.iter().flat_map(|&(t1, t2)| [t1, t2]).enumerate() {
                let (k, v) = (rng.vec(t * c, -5.0, 5.0), rng.vec(t * c, -1.0, 1.0));
                let mut y_want = vec![0f32; t * c];
                wkv4::wkv4(&k, &v, &w, &u, &mut s_want, &mut y_want);
                let (ka, va) = (act(&mut b, t, c, &k), act(&mut b, t, c, &v));
                let mut y = poisoned(&mut b, t, c);
                b.wkv4(&ka, &va, &ww, &uw, &mut state, &mut y);
                let what = format!("wkv4 C={c} T={t} call {call} zero_start={zero_start}");
                assert_close(&format!("{what} y"), &read(&mut b, &y), &y_want, 1e-5);
                assert_close(&format!("{what} state"), &read(&mut b, &state), &s_want, 1e-5);
                cases += 1;
            }
        }
    }
    assert_eq!(cases, (testkit::ODD_SIZES.len() + 1) * 2 * 6);
}

#[test]
fn group_norm_matches_cpu() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(47);
    let mut cases = 0;
    for (n, h) in [(1usize, 4usize), (7, 5), (16, 3), (64, 4), (100, 1), (257, 2)] {
        let c = n * h;
        for t in [1usize, 7, 33] {
            let y0 = rng.vec(t * c, -3.0, 5.0);
            let (ln_w, ln_b) = (rng.vec(c, 0.5, 1.5), rng.vec(c, -0.5, 0.5));
            let mut want = y0.clone();
            group_norm::group_norm(&mut want, &ln_w, &ln_b, n, 1e-5);
            let mut ya = act(&mut b, t, c, &y0);
            let (lw, lb) = (vectors(&mut b, 1, c, &ln_w), vectors(&mut b, 1, c, &ln_b));
            b.group_norm(&mut ya, &lw, &lb, n, 1e-5);
            assert_close(&format!("group_norm N={n} H={h} T={t}"), &read(&mut b, &ya), &want, 1e-5);
            cases += 1;
        }
    }
    assert_eq!(cases, 18);
}

#[test]
fn gates_and_scale_match_cpu() {
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(53);
    let mut cases = 0;
    for &n in testkit::ODD_SIZES.iter().chain(&[100_003usize]) {
        let (x, g) = (rng.vec(n, -2.0, 2.0), rng.vec(n, -8.0, 8.0));

        let mut want = x.clone();
        elementwise::sigmoid_mul(&mut want, &g);
        let (mut xa, ga) = (act(&mut b, 1, n, &x), act(&mut b, 1, n, &g));
        b.sigmoid_mul(&mut xa, &ga);
        assert_close(&format!("sigmoid_mul n={n}"), &read(&mut b, &xa), &want, 1e-6);

        let mut want = x.clone();
        elementwise::silu_mul(&mut want, &g);
        let mut xa = act(&mut b, 1, n, &x);
        b.silu_mul(&mut xa, &ga);
        assert_close(&format!("silu_mul n={n}"), &read(&mut b, &xa), &want, 1e-6);

        let mut want = x.clone();
        elementwise::scale(&mut want, 0.5);
        let mut xa = act(&mut b, 1, n, &x);
        b.scale(&mut xa, 0.5);
        assert_eq!(read(&mut b, &xa), want, "scale n={n}");
        cases += 1;
    }
    assert_eq!(cases, testkit::ODD_SIZES.len() + 1);
}

#[test]
fn decay6_matches_cpu() {
    let Some(mut b) = common::backend() else { return };
    exact_gemm(&mut b);
    let mut rng = TestRng::new(59);
    let mut cases = 0;
    for ty in [GgmlType::F32, GgmlType::F16, GgmlType::Q8_0] {
        for (c, rank, t) in [(64usize, 32usize, 1usize), (96, 64, 7), (256, 32, 17), (128, 64, 300)] {
            let (a_bytes, a_row) = random_matrix(&mut rng, ty, rank, c);
            let (b_bytes, b_row) = random_matrix(&mut rng, ty, c, rank);
            let bias = rng.vec(c, -3.0, 1.0);
            let x = rng.vec(t * c, -1.0, 1.0);
            let (mut mid_want, mut want) = (vec![0f32; t * rank], vec![0f32; t * c]);
            let am = MatrixRef { ty, bytes: &a_bytes, row_bytes: a_row, cols: c };
            let bm = MatrixRef { ty, bytes: &b_bytes, row_bytes: b_row, cols: rank };
            decay6::decay6(&x, &am, &bm, &bias, &mut mid_want, &mut want);

            let aw = b.upload_raw("decay_w1", ty, rank, c, &a_bytes).unwrap();
            let bw = b.upload_raw("decay_w2", ty, c, rank, &b_bytes).unwrap();
            let biasw = vectors(&mut b, 1, c, &bias);
            let xa = act(&mut b, t, c, &x);
            let (mut mid, mut out) = (poisoned(&mut b, t, rank), poisoned(&mut b, t, c));
            b.decay6(&xa, &aw, &bw, &biasw, &mut mid, &mut out);
            assert_close(&format!("decay6 {ty} C={c} R={rank} T={t}"), &read(&mut b, &out), &want, 1e-4);
            cases += 1;
        }
    }
    assert_eq!(cases, 12);
}

/// One token_shift_lora6 case: RWKV-6's five outputs, two calls sharing `shift`.
fn token_shift_lora6_case(b: &mut CudaBackend, rng: &mut TestRng, ty: GgmlType, c: usize, d: usize, calls: [usize; 2]) {
    const K: usize = 5;
    let (w1_bytes, w1_row) = random_matrix(rng, ty, K * d, c);
    let (w2_bytes, w2_row) = random_matrix(rng, ty, K * c, d);
    let mu_x = rng.vec(c, 0.0, 1.0);
    let mu = rng.vec(K * c, 0.0, 1.0);
    let shift0 = rng.vec(c, -1.0, 1.0);
    let w1m = MatrixRef { ty, bytes: &w1_bytes, row_bytes: w1_row, cols: c };
    let w2m = MatrixRef { ty, bytes: &w2_bytes, row_bytes: w2_row, cols: d };
    let w1 = b.upload_raw("time_mix_w1", ty, K * d, c, &w1_bytes).unwrap();
    let w2 = b.upload_raw("time_mix_w2", ty, K * c, d, &w2_bytes).unwrap();
    let (mu_xw, muw) = (vectors(b, 1, c, &mu_x), vectors(b, K, c, &mu));
    let (mut shift_want, mut shift) = (shift0.clone(), act(b, 1, c, &shift0));
    for (call, t) in calls.into_iter().enumerate() {
        let x = rng.vec(t * c, -1.0, 1.0);
        let mut mid_want = vec![0f32; t * K * d];
        let mut want: Vec<Vec<f32>> = vec![vec![0f32; t * c]; K];
        {
            let mut outs: Vec<&mut [f32]> = want.iter_mut().map(|o| o.as_mut_slice()).collect();
            token_shift_lora6::token_shift_lora6(&x, &mut shift_want, &mu_x, &mu, &w1m, &w2m, &mut mid_want, &mut outs);
        }
        let xa = act(b, t, c, &x);
        let mut mid = poisoned(b, t, K * d);
        let mut outs: Vec<CudaAct> = (0..K).map(|_| poisoned(b, t, c)).collect();
        {
            let mut refs: Vec<&mut CudaAct> = outs.iter_mut().collect();
            b.token_shift_lora6(&xa, &mut shift, &mu_xw, &muw, &w1, &w2, &mut mid, &mut refs);
        }
        let what = format!("token_shift_lora6 {ty} C={c} D={d} T={t} call {call}");
        let tol = 2e-5 * (c.max(d) as f32).sqrt();
        assert_close(&format!("{what} mid"), &read(b, &mid), &mid_want, tol);
        for (i, o) in outs.iter().enumerate() {
            assert_close(&format!("{what} out {i}"), &read(b, o), &want[i], tol);
        }
        assert_eq!(read(b, &shift), shift_want, "{what} shift");
    }
}

#[test]
fn token_shift_lora6_matches_cpu() {
    let Some(mut b) = common::backend() else { return };
    exact_gemm(&mut b);
    let mut rng = TestRng::new(61);
    let mut cases = 0;
    // Odd widths on the float types (the scalar block formats), whole blocks for Q8_0.
    for ty in [GgmlType::F32, GgmlType::F16] {
        for (c, d) in [(17usize, 3usize), (65, 7), (64, 32)] {
            for calls in [[1, 1], [9, 1], [17, 33]] {
                token_shift_lora6_case(&mut b, &mut rng, ty, c, d, calls);
                cases += 1;
            }
        }
    }
    for (c, d) in [(64usize, 32usize), (160, 64)] {
        for calls in [[1, 1], [17, 300]] {
            token_shift_lora6_case(&mut b, &mut rng, GgmlType::Q8_0, c, d, calls);
            token_shift_lora6_case(&mut b, &mut rng, GgmlType::Q5_1, c, d, calls);
            cases += 2;
        }
    }
    assert_eq!(cases, 2 * 3 * 3 + 2 * 2 * 2);
}

#[test]
fn rwkv6_ops_replay_as_graphs() {
    // One-token steps of decay6 → wkv6 → group_norm → silu_mul → scale: captured once, replayed
    // after, with the same results as the reference each step (the state carried by the graph).
    let Some(mut b) = common::backend() else { return };
    let mut rng = TestRng::new(67);
    let (n, h, rank) = (64usize, 2usize, 32usize);
    let c = n * h;
    let ty = GgmlType::F16;
    let (a_bytes, a_row) = random_matrix(&mut rng, ty, rank, c);
    let (b_bytes, b_row) = random_matrix(&mut rng, ty, c, rank);
    let (bias, u) = (rng.vec(c, -3.0, 1.0), rng.vec(c, -1.0, 1.0));
    let (ln_w, ln_b) = (rng.vec(c, 0.5, 1.5), rng.vec(c, -0.5, 0.5));
    let am = MatrixRef { ty, bytes: &a_bytes, row_bytes: a_row, cols: c };
    let bm = MatrixRef { ty, bytes: &b_bytes, row_bytes: b_row, cols: rank };
    let aw = b.upload_raw("a", ty, rank, c, &a_bytes).unwrap();
    let bw = b.upload_raw("b", ty, c, rank, &b_bytes).unwrap();
    let (biasw, uw) = (vectors(&mut b, 1, c, &bias), vectors(&mut b, 1, c, &u));
    let (lww, lbw) = (vectors(&mut b, 1, c, &ln_w), vectors(&mut b, 1, c, &ln_b));
    let (mut xa, mut ra, mut ka, mut va, mut ga) =
        (b.alloc(1, c).unwrap(), b.alloc(1, c).unwrap(), b.alloc(1, c).unwrap(), b.alloc(1, c).unwrap(), b.alloc(1, c).unwrap());
    let (mut mid, mut decay, mut y) = (b.alloc(1, rank).unwrap(), b.alloc(1, c).unwrap(), b.alloc(1, c).unwrap());
    let mut state = b.alloc(h, n * n).unwrap();
    let mut s_want = vec![0f32; h * n * n];
    let start = b.graph_stats();
    for step in 0..4 {
        let mk = |rng: &mut TestRng| rng.vec(c, -1.0, 1.0);
        let (x, r, k, v, g) = (mk(&mut rng), mk(&mut rng), mk(&mut rng), mk(&mut rng), mk(&mut rng));
        for (buf, data) in [(&mut xa, &x), (&mut ra, &r), (&mut ka, &k), (&mut va, &v), (&mut ga, &g)] {
            b.write(buf, data).unwrap();
        }
        b.begin_step().unwrap();
        b.decay6(&xa, &aw, &bw, &biasw, &mut mid, &mut decay);
        b.wkv6(&ra, &ka, &va, Wkv6Decay::PerToken(&decay), &uw, &mut state, &mut y);
        b.group_norm(&mut y, &lww, &lbw, n, 1e-5);
        b.silu_mul(&mut y, &ga);
        b.scale(&mut y, 0.5);
        b.end_step().unwrap();

        let (mut mid_w, mut decay_w, mut y_w) = (vec![0f32; rank], vec![0f32; c], vec![0f32; c]);
        decay6::decay6(&x, &am, &bm, &bias, &mut mid_w, &mut decay_w);
        let inp = wkv6::Wkv6Inputs { r: &r, k: &k, v: &v, decay: &decay_w, per_token: true, u: &u };
        wkv6::wkv6(&inp, &mut s_want, &mut y_w, n);
        group_norm::group_norm(&mut y_w, &ln_w, &ln_b, n, 1e-5);
        elementwise::silu_mul(&mut y_w, &g);
        elementwise::scale(&mut y_w, 0.5);
        assert_close(&format!("graph step {step} y"), &read(&mut b, &y), &y_w, 1e-4);
        assert_close(&format!("graph step {step} state"), &read(&mut b, &state), &s_want, 1e-4);
    }
    let stats = b.graph_stats();
    assert_eq!(stats.captures - start.captures, 1, "one capture for four identical steps");
    assert_eq!(stats.replays - start.replays, 3, "three replays");
}
