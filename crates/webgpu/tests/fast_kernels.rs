//! The vectorized one-token matvec (every row grouping, both reduction paths), the tiled prefill
//! matmul, the fusion of relu_square and add into the matmul before them, and the profiler, against
//! the cpu crate's scalar kernels on seeded random inputs.

mod common;

use common::{act, backends, max_rel_diff, read, reference, weights};
use gguf::GgmlType;
use model::Ops;
use testkit::TestRng;
use webgpu::WebGpuBackend;

fn run_matmul(b: &mut WebGpuBackend, rng: &mut TestRng, ty: GgmlType, m: usize, k: usize, t: usize) -> f32 {
    let w = weights(rng, ty, m, k);
    let x = rng.vec(t * k, -1.0, 1.0);
    let expected = reference(ty, &w, &x, k, m);
    let gw = b.upload_raw("test.weight", ty, m, k, &w).unwrap();
    let gx = act(b, t, k, &x);
    let mut out = b.alloc(t, m).unwrap();
    b.matmul(&gw, &gx, &mut out);
    max_rel_diff(&read(b, &out), &expected)
}

const FAST_TYPES: [GgmlType; 5] = [GgmlType::F32, GgmlType::F16, GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_0];

#[test]
fn matvec_matches_reference_for_every_row_grouping() {
    let mut rng = TestRng::new(21);
    let mut cases = 0;
    for (path, mut b) in backends() {
        for nr in [1, 2, 4] {
            b.set_matvec_rows(nr);
            for ty in FAST_TYPES {
                // Row counts around the rows of one workgroup, K from 1 block to 32 (32 to 256 lanes).
                for (m, k) in [(1, 256), (7, 512), (33, 768), (70, 256), (5, 4096), (3, 8192)] {
                    let diff = run_matmul(&mut b, &mut rng, ty, m, k, 1);
                    assert!(diff <= 1e-5 * (k as f32).sqrt() + 1e-6, "{path}: matvec {ty} NR={nr} M={m} K={k}: rel diff {diff}");
                    cases += 1;
                }
            }
            for (ty, k) in [(GgmlType::F32, 12), (GgmlType::F16, 24), (GgmlType::F32, 100)] {
                let diff = run_matmul(&mut b, &mut rng, ty, 19, k, 1);
                assert!(diff <= 1e-5 * (k as f32).sqrt() + 1e-6, "{path}: matvec {ty} NR={nr} K={k}: rel diff {diff}");
                cases += 1;
            }
        }
    }
    assert!(cases > 0 || std::env::var_os("CI").is_none(), "no backend ran");
}

#[test]
fn tiled_matmul_matches_reference_for_every_type() {
    let mut rng = TestRng::new(22);
    let mut cases = 0;
    for (path, mut b) in backends() {
        for bm in [64, 128] {
            b.set_tiled(bm, false);
            for ty in quant::SUPPORTED {
                // K ≤ 256 takes the tiled kernel whatever the tile count (see tiled_pays).
                let k = if ty.block_size() == 256 { 256 } else if ty.block_size() == 32 { 96 } else { 45 };
                for (m, t) in [(70, 16), (5, 67), (64, 64), (131, 17)] {
                    let diff = run_matmul(&mut b, &mut rng, ty, m, k, t);
                    assert!(diff <= 1e-5 * (k as f32).sqrt() + 1e-6, "{path}: tiled BM={bm} {ty} M={m} K={k} T={t}: rel diff {diff}");
                    cases += 1;
                }
            }
        }
        if path == "shared" {
            break; // the tiled kernel has no subgroup variant; one backend is enough
        }
    }
    assert!(cases > 0 || std::env::var_os("CI").is_none(), "no backend ran");
}

/// Many K units (the software pipeline's prefetch), several tiles both ways, odd sizes everywhere.
#[test]
fn tiled_matmul_matches_reference_on_long_rows() {
    let mut rng = TestRng::new(24);
    let mut cases = 0;
    if let Some((path, mut b)) = backends().into_iter().next() {
        for bm in [64, 128] {
            b.set_tiled(bm, true);
            for ty in [GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::F16, GgmlType::Q8_0, GgmlType::F32, GgmlType::Q5_1] {
                let k = match ty.block_size() {
                    256 => 768,
                    32 => 544,
                    _ => 397,
                };
                for (m, t) in [(197, 131), (3, 70)] {
                    let diff = run_matmul(&mut b, &mut rng, ty, m, k, t);
                    assert!(diff <= 1e-5 * (k as f32).sqrt() + 1e-6, "{path}: tiled BM={bm} {ty} M={m} K={k} T={t}: rel diff {diff}");
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 0 || std::env::var_os("CI").is_none(), "no backend ran");
}

#[test]
fn generic_kernels_still_match_when_fast_ones_are_off() {
    let mut rng = TestRng::new(23);
    for (path, mut b) in backends() {
        b.set_fast_kernels(false);
        for ty in [GgmlType::Q4_K, GgmlType::F16] {
            for t in [1, 20] {
                let diff = run_matmul(&mut b, &mut rng, ty, 9, 256, t);
                assert!(diff <= 1e-4, "{path}: generic {ty} T={t}: rel diff {diff}");
            }
        }
    }
}

/// matmul → relu_square → matmul → add, as in the channel mix, against the same ops on the cpu.
#[test]
fn relu_square_and_add_fuse_into_the_matmul_before_them() {
    let mut rng = TestRng::new(24);
    let mut cases = 0;
    for (path, mut b) in backends() {
        for (ty, t) in [(GgmlType::Q4_K, 1), (GgmlType::F16, 1), (GgmlType::Q8_0, 1), (GgmlType::Q4_K, 3), (GgmlType::F32, 20)] {
            let (c, f) = (256, 512);
            let wk = weights(&mut rng, ty, f, c);
            let wv = weights(&mut rng, ty, c, f);
            let xin = rng.vec(t * c, -1.0, 1.0);
            let x0 = rng.vec(t * c, -1.0, 1.0);
            let mut hidden = reference(ty, &wk, &xin, c, f);
            hidden.iter_mut().for_each(|h| *h = h.max(0.0) * h.max(0.0));
            let y = reference(ty, &wv, &hidden, f, c);
            let expected: Vec<f32> = x0.iter().zip(&y).map(|(a, b)| a + b).collect();

            let gk = b.upload_raw("ffn_key", ty, f, c, &wk).unwrap();
            let gv = b.upload_raw("ffn_value", ty, c, f, &wv).unwrap();
            let gin = act(&mut b, t, c, &xin);
            let mut gx = act(&mut b, t, c, &x0);
            let mut gh = b.alloc(t, f).unwrap();
            let mut gy = b.alloc(t, c).unwrap();
            b.begin_step().unwrap();
            b.matmul(&gk, &gin, &mut gh);
            b.relu_square(&mut gh);
            b.matmul(&gv, &gh, &mut gy);
            b.add(&mut gx, &gy);
            b.end_step().unwrap();
            let got_h = read(&mut b, &gh);
            let got_y = read(&mut b, &gy);
            let got_x = read(&mut b, &gx);
            let tol = 1e-5 * (f as f32).sqrt() + 1e-6;
            assert!(max_rel_diff(&got_h, &hidden) <= tol, "{path}: {ty} T={t}: relu_square(W·x)");
            assert!(max_rel_diff(&got_y, &y) <= 4.0 * tol, "{path}: {ty} T={t}: y still written");
            assert!(max_rel_diff(&got_x, &expected) <= 4.0 * tol, "{path}: {ty} T={t}: x += y");
            cases += 1;
        }
    }
    assert!(cases > 0 || std::env::var_os("CI").is_none(), "no backend ran");
}

/// add(x, y) where y is not the last matmul's output, and a matmul whose input is x, must not fuse.
#[test]
fn ops_that_do_not_follow_their_matmul_are_not_fused() {
    let mut rng = TestRng::new(25);
    let Some(mut b) = common::backend(true) else { return };
    let (m, k) = (64, 64);
    let w = weights(&mut rng, GgmlType::F32, m, k);
    let xv = rng.vec(k, -1.0, 1.0);
    let gw = b.upload_raw("w", GgmlType::F32, m, k, &w).unwrap();
    let mut gx = act(&mut b, 1, k, &xv);
    let mut out = b.alloc(1, m).unwrap();
    b.matmul(&gw, &gx, &mut out);
    // x += out where x is the matmul's input: must run after the matmul, not inside it.
    b.add(&mut gx, &out);
    let mut y = reference(GgmlType::F32, &w, &xv, k, m);
    let got_out = read(&mut b, &out);
    assert!(max_rel_diff(&got_out, &y) <= 1e-5);
    let expected_x: Vec<f32> = xv.iter().zip(&y).map(|(a, b)| a + b).collect();
    assert!(max_rel_diff(&read(&mut b, &gx), &expected_x) <= 1e-5);
    // relu_square of a buffer the last matmul did not write.
    let mut other = act(&mut b, 1, m, &y);
    b.matmul(&gw, &gx, &mut out);
    b.relu_square(&mut other);
    y.iter_mut().for_each(|v| *v = v.max(0.0) * v.max(0.0));
    assert!(max_rel_diff(&read(&mut b, &other), &y) <= 1e-6);
}

#[test]
fn profiling_times_every_kernel() {
    let opts = webgpu::WebGpuOptions { profile: true, ..Default::default() };
    let Some(mut b) = common::open(opts) else { return };
    let mut rng = TestRng::new(26);
    let w = weights(&mut rng, GgmlType::Q4_K, 40, 256);
    let gw = b.upload_raw("w", GgmlType::Q4_K, 40, 256, &w).unwrap();
    let gx = act(&mut b, 1, 256, &rng.vec(256, -1.0, 1.0));
    let mut out = b.alloc(1, 40).unwrap();
    for _ in 0..3 {
        b.begin_step().unwrap();
        b.matmul(&gw, &gx, &mut out);
        b.relu_square(&mut out);
        b.end_step().unwrap();
    }
    let rows = b.profile_rows();
    if rows.is_empty() {
        eprintln!("note: adapter '{}' has no TIMESTAMP_QUERY; profile not tested", b.adapter_name());
        return;
    }
    assert_eq!(rows.len(), 1, "relu_square fused, so one kernel: {rows:?}");
    assert_eq!(rows[0].calls, 3);
    assert_eq!(rows[0].shape, [40, 256, 1]);
    assert!(b.profile_report().contains("Matvec(nr") && b.profile_report().contains("Q4_K/"), "{}", b.profile_report());
}

/// lora (SigmoidOut) → value_residual, as in the time mix of layers after the first.
#[test]
fn value_residual_fuses_into_the_lora_before_it() {
    use cpu::kernels::lora::MatrixRef;
    let mut rng = TestRng::new(27);
    let mut cases = 0;
    for (path, mut b) in backends() {
        for (ty, c, rank, t) in [(GgmlType::F16, 256, 32, 1), (GgmlType::F32, 64, 7, 3), (GgmlType::F16, 64, 32, 20)] {
            let a = weights(&mut rng, ty, rank, c);
            let bw = weights(&mut rng, ty, c, rank);
            let bias = rng.vec(c, -0.5, 0.5);
            let x = rng.vec(t * c, -1.0, 1.0);
            let v0 = rng.vec(t * c, -1.0, 1.0);
            let v_first = rng.vec(t * c, -1.0, 1.0);
            let am = MatrixRef { ty, bytes: &a, row_bytes: quant::row_bytes(ty, c).unwrap(), cols: c };
            let bm = MatrixRef { ty, bytes: &bw, row_bytes: quant::row_bytes(ty, rank).unwrap(), cols: rank };
            let mut mid = vec![0f32; t * rank];
            let mut mix = vec![0f32; t * c];
            cpu::kernels::lora::lora(model::LoraKind::SigmoidOut, &x, &am, &bm, Some(&bias), &mut mid, &mut mix);
            let mut expected = v0.clone();
            cpu::kernels::elementwise::value_residual(&mut expected, &v_first, &mix);

            let ga = b.upload_raw("a", ty, rank, c, &a).unwrap();
            let gb = b.upload_raw("b", ty, c, rank, &bw).unwrap();
            let gbias = b.upload_vectors(1, c, bias).unwrap();
            let gx = act(&mut b, t, c, &x);
            let mut gv = act(&mut b, t, c, &v0);
            let gvf = act(&mut b, t, c, &v_first);
            let mut gmid = b.alloc(t, rank).unwrap();
            let mut gmix = b.alloc(t, c).unwrap();
            b.lora(model::LoraKind::SigmoidOut, &gx, &ga, &gb, Some(&gbias), &mut gmid, &mut gmix);
            b.value_residual(&mut gv, &gvf, &gmix);
            assert!(max_rel_diff(&read(&mut b, &gmix), &mix) <= 1e-5, "{path}: {ty} T={t}: mix");
            assert!(max_rel_diff(&read(&mut b, &gv), &expected) <= 1e-5, "{path}: {ty} T={t}: v");
            cases += 1;
        }
    }
    assert!(cases > 0 || std::env::var_os("CI").is_none(), "no backend ran");
}

/// layer_norm → token_shift_lerp of one token (fused) and of several (not fused), both exact
/// against the cpu kernels run one after the other.
#[test]
fn token_shift_lerp_fuses_into_the_layer_norm_before_it() {
    let Some(mut b) = common::backend(true) else { return };
    let mut rng = TestRng::new(28);
    let mut cases = 0;
    for c in [64usize, 300, 2560] {
        for (t, n_out) in [(1usize, 6usize), (1, 1), (3, 6)] {
            let x = rng.vec(t * c, -2.0, 2.0);
            let w = rng.vec(c, 0.5, 1.5);
            let bias = rng.vec(c, -0.5, 0.5);
            let shift0 = rng.vec(c, -1.0, 1.0);
            let mu = rng.vec(n_out * c, 0.0, 1.0);
            let mut xn = vec![0f32; t * c];
            cpu::kernels::layer_norm::layer_norm(&x, &w, &bias, 1e-5, &mut xn);
            let mut shift = shift0.clone();
            let mut expected: Vec<Vec<f32>> = vec![vec![0f32; t * c]; n_out];
            {
                let mut outs: Vec<&mut [f32]> = expected.iter_mut().map(|v| v.as_mut_slice()).collect();
                cpu::kernels::token_shift_lerp::token_shift_lerp(&xn, &mut shift, &mu, &mut outs);
            }
            let gx = act(&mut b, t, c, &x);
            let gw = b.upload_vectors(1, c, w).unwrap();
            let gbias = b.upload_vectors(1, c, bias).unwrap();
            let mut gxn = b.alloc(t, c).unwrap();
            let mut gshift = act(&mut b, 1, c, &shift0);
            let gmu = b.upload_vectors(n_out, c, mu).unwrap();
            let mut outs: Vec<_> = (0..n_out).map(|_| b.alloc(t, c).unwrap()).collect();
            b.layer_norm(&gx, &gw, &gbias, 1e-5, &mut gxn);
            {
                let mut refs: Vec<&mut webgpu::GpuAct> = outs.iter_mut().collect();
                b.token_shift_lerp(&gxn, &mut gshift, &gmu, &mut refs);
            }
            let tol = 2e-5;
            assert!(max_rel_diff(&read(&mut b, &gxn), &xn) <= tol, "C={c} T={t}: xn");
            assert!(max_rel_diff(&read(&mut b, &gshift), &shift) <= tol, "C={c} T={t}: shift");
            for (i, o) in outs.iter().enumerate() {
                assert!(max_rel_diff(&read(&mut b, o), &expected[i]) <= tol, "C={c} T={t}: out {i}/{n_out}");
            }
            cases += 1;
        }
    }
    assert_eq!(cases, 9);
}
