//! Independent one-token matvecs sharing dispatches (backend/matvec.rs): mixed weight types in one
//! dispatch, a dependent job in the second stage, an add folded into a held job, a chain that must
//! keep its order; results against the cpu crate's scalar matmul on seeded odd sizes, dispatch counts
//! from the backend's counters, with folding on and off and both reduction paths.

mod common;

use common::{act, backends, max_rel_diff, read, reference, weights};
use gguf::GgmlType;
use model::Ops;
use testkit::TestRng;
use webgpu::{GpuAct, GpuWeight, WebGpuBackend};

struct Case {
    w: GpuWeight,
    x: GpuAct,
    out: GpuAct,
    expected: Vec<f32>,
    what: String,
}

fn case(b: &mut WebGpuBackend, rng: &mut TestRng, ty: GgmlType, m: usize, k: usize) -> Case {
    let w = weights(rng, ty, m, k);
    let x = rng.vec(k, -1.0, 1.0);
    let expected = reference(ty, &w, &x, k, m);
    Case {
        w: b.upload_raw("fold.weight", ty, m, k, &w).unwrap(),
        x: act(b, 1, k, &x),
        out: b.alloc(1, m).unwrap(),
        expected,
        what: format!("{ty} {m}x{k}"),
    }
}

fn tol(k: usize) -> f32 {
    1e-5 * (k as f32).sqrt() + 1e-6
}

#[test]
fn independent_matvecs_share_a_dispatch_and_match_the_reference() {
    let mut rng = TestRng::new(41);
    let mut cases = 0;
    for (path, mut b) in backends() {
        // Exact dispatch counts need each grouping compiled when first seen.
        b.set_compile_in_background(false);
        for fold in [8, 3, 1] {
            b.set_fold_matvecs(fold);
            let jobs = b.matvec_jobs_per_dispatch();
            // Stage 1: five independent jobs of five types and odd shapes.
            let shapes = [(GgmlType::Q8_0, 37, 512), (GgmlType::Q6_K, 19, 256), (GgmlType::F16, 40, 264), (GgmlType::F32, 5, 100), (GgmlType::Q4_K, 300, 256)];
            let mut cs: Vec<Case> = shapes.iter().map(|&(ty, m, k)| case(&mut b, &mut rng, ty, m, k)).collect();
            // Stage 2: reads the F16 job's output.
            let up = weights(&mut rng, GgmlType::F32, 23, 40);
            let gup = b.upload_raw("fold.up", GgmlType::F32, 23, 40, &up).unwrap();
            let mut up_out = b.alloc(1, 23).unwrap();
            // resid += (Q6_K job's output), folded into that job.
            let resid0 = rng.vec(19, -1.0, 1.0);
            let mut resid = act(&mut b, 1, 19, &resid0);

            let before = b.counters().dispatches;
            b.begin_step().unwrap();
            for c in cs.iter_mut() {
                b.matmul(&c.w, &c.x, &mut c.out);
            }
            b.matmul(&gup, &cs[2].out, &mut up_out);
            b.add(&mut resid, &cs[1].out);
            b.end_step().unwrap();
            let dispatches = b.counters().dispatches - before;

            // Six jobs and an add: with 3 or more jobs per dispatch, stage 1 and stage 2 (a full
            // stage 1 spills independent jobs into stage 2; the add rides in its job); one job per
            // dispatch: six, and the add on its own (its matvec went out before it).
            let expected_dispatches = match jobs {
                1 => 7,
                2 => 4,
                _ => 2,
            };
            assert_eq!(dispatches, expected_dispatches, "{path}: fold {fold} ({jobs} jobs per dispatch)");
            for c in &cs {
                let diff = max_rel_diff(&read(&mut b, &c.out), &c.expected);
                assert!(diff <= tol(512), "{path}: fold {fold}: {}: rel diff {diff}", c.what);
                cases += 1;
            }
            let up_expected = reference(GgmlType::F32, &up, &cs[2].expected, 40, 23);
            let diff = max_rel_diff(&read(&mut b, &up_out), &up_expected);
            assert!(diff <= 1e-4, "{path}: fold {fold}: stage-2 job: rel diff {diff}");
            let resid_expected: Vec<f32> = resid0.iter().zip(&cs[1].expected).map(|(a, b)| a + b).collect();
            let diff = max_rel_diff(&read(&mut b, &resid), &resid_expected);
            assert!(diff <= tol(256), "{path}: fold {fold}: folded add: rel diff {diff}");
            cases += 2;
        }
    }
    assert!(cases > 0 || std::env::var_os("CI").is_none(), "no backend ran");
}

/// A chain of three matvecs each reading the last one's output (a relu_square folded into the
/// second), and a job that overwrites the first one's input right after it (write after read): the
/// order must hold, whatever the stages.
#[test]
fn dependent_matvecs_keep_their_order() {
    let mut rng = TestRng::new(42);
    let mut cases = 0;
    for (path, mut b) in backends() {
        let (k, m1, m2, m3) = (256, 264, 256, 24);
        let w1 = weights(&mut rng, GgmlType::Q4_K, m1, k);
        let w2 = weights(&mut rng, GgmlType::F16, m2, m1);
        let w3 = weights(&mut rng, GgmlType::Q6_K, m3, m2);
        let g1 = b.upload_raw("w1", GgmlType::Q4_K, m1, k, &w1).unwrap();
        let g2 = b.upload_raw("w2", GgmlType::F16, m2, m1, &w2).unwrap();
        let g3 = b.upload_raw("w3", GgmlType::Q6_K, m3, m2, &w3).unwrap();
        let x0 = rng.vec(k, -1.0, 1.0);
        let gx = act(&mut b, 1, k, &x0);
        let mut h1 = b.alloc(1, m1).unwrap();
        let mut h2 = b.alloc(1, m2).unwrap();
        let mut h3 = b.alloc(1, m3).unwrap();
        // A job that overwrites x after the first job read it (write after read).
        let wx = weights(&mut rng, GgmlType::F32, k, 24);
        let gwx = b.upload_raw("wx", GgmlType::F32, k, 24, &wx).unwrap();
        let xs = rng.vec(24, -1.0, 1.0);
        let gxs = act(&mut b, 1, 24, &xs);
        let mut gx_mut = gx;

        b.begin_step().unwrap();
        b.matmul(&g1, &gx_mut, &mut h1);
        b.matmul(&gwx, &gxs, &mut gx_mut);
        b.matmul(&g2, &h1, &mut h2);
        b.relu_square(&mut h2);
        b.matmul(&g3, &h2, &mut h3);
        b.end_step().unwrap();

        let e1 = reference(GgmlType::Q4_K, &w1, &x0, k, m1);
        let mut e2 = reference(GgmlType::F16, &w2, &e1, m1, m2);
        e2.iter_mut().for_each(|v| *v = v.max(0.0) * v.max(0.0));
        let e3 = reference(GgmlType::Q6_K, &w3, &e2, m2, m3);
        let ex = reference(GgmlType::F32, &wx, &xs, 24, k);
        for (name, got, want) in [("h1", &h1, &e1), ("h2", &h2, &e2), ("h3", &h3, &e3), ("x", &gx_mut, &ex)] {
            let diff = max_rel_diff(&read(&mut b, got), want);
            assert!(diff <= 2e-4, "{path}: {name}: rel diff {diff}");
            cases += 1;
        }
    }
    assert!(cases > 0 || std::env::var_os("CI").is_none(), "no backend ran");
}

/// With background compilation a new grouping's jobs go out one by one until its kernel is ready,
/// with the same results; once it is, the step takes one dispatch.
#[test]
fn background_compilation_falls_back_then_folds() {
    let mut rng = TestRng::new(43);
    let mut cases = 0;
    for (path, mut b) in backends() {
        b.set_compile_in_background(true);
        if b.matvec_jobs_per_dispatch() < 3 {
            continue;
        }
        let mut cs: Vec<Case> = [(GgmlType::Q4_K, 29, 256), (GgmlType::F16, 13, 520), (GgmlType::Q6_K, 70, 512)]
            .iter()
            .map(|&(ty, m, k)| case(&mut b, &mut rng, ty, m, k))
            .collect();
        let mut counts = Vec::new();
        for pass in 0..2 {
            if pass == 1 {
                b.finish_compiles().unwrap();
            }
            let before = b.counters().dispatches;
            b.begin_step().unwrap();
            for c in cs.iter_mut() {
                b.matmul(&c.w, &c.x, &mut c.out);
            }
            b.end_step().unwrap();
            counts.push(b.counters().dispatches - before);
            for c in &cs {
                let diff = max_rel_diff(&read(&mut b, &c.out), &c.expected);
                assert!(diff <= tol(520), "{path}: pass {pass}: {}: rel diff {diff}", c.what);
                cases += 1;
            }
        }
        assert!(counts[0] == 3 || counts[0] == 1, "{path}: first pass: {counts:?}");
        assert_eq!(counts[1], 1, "{path}: after the compile: {counts:?}");
    }
    assert!(cases > 0 || std::env::var_os("CI").is_none(), "no backend ran");
}

/// A many-token step plans the grouping a one-token step of the same matmuls would use and
/// compiles it in the background, so the first decode step already folds.
#[test]
fn a_many_token_step_readies_the_decode_grouping() {
    let mut rng = TestRng::new(44);
    let mut cases = 0;
    for (path, mut b) in backends() {
        b.set_compile_in_background(true);
        if b.matvec_jobs_per_dispatch() < 3 {
            continue;
        }
        // Shapes (and so lanes per row) unlike the other tests', so the grouping is new here.
        let shapes = [(GgmlType::F16, 11, 776), (GgmlType::Q4_K, 5, 1280), (GgmlType::F32, 9, 1000)];
        let ws: Vec<(GgmlType, usize, usize, Vec<u8>)> = shapes.iter().map(|&(ty, m, k)| (ty, m, k, weights(&mut rng, ty, m, k))).collect();
        let gws: Vec<GpuWeight> = ws.iter().map(|(ty, m, k, w)| b.upload_raw("shadow.weight", *ty, *m, *k, w).unwrap()).collect();
        // Prefill-like step: 5 tokens.
        let mut xs5: Vec<GpuAct> = ws.iter().map(|(_, _, k, _)| act(&mut b, 5, *k, &rng.vec(5 * k, -1.0, 1.0))).collect();
        let mut outs5: Vec<GpuAct> = ws.iter().map(|(_, m, _, _)| b.alloc(5, *m).unwrap()).collect();
        b.begin_step().unwrap();
        for ((w, x), out) in gws.iter().zip(xs5.iter_mut()).zip(outs5.iter_mut()) {
            b.matmul(w, x, out);
        }
        b.relu_square(&mut xs5[0]); // any other op ends the plan
        b.end_step().unwrap();
        b.finish_compiles().unwrap();
        // Decode-like step: one dispatch at once, right results.
        let x1: Vec<Vec<f32>> = ws.iter().map(|(_, _, k, _)| rng.vec(*k, -1.0, 1.0)).collect();
        let gx1: Vec<GpuAct> = x1.iter().map(|x| act(&mut b, 1, x.len(), x)).collect();
        let mut outs1: Vec<GpuAct> = ws.iter().map(|(_, m, _, _)| b.alloc(1, *m).unwrap()).collect();
        let before = b.counters().dispatches;
        b.begin_step().unwrap();
        for ((w, x), out) in gws.iter().zip(&gx1).zip(outs1.iter_mut()) {
            b.matmul(w, x, out);
        }
        b.end_step().unwrap();
        assert_eq!(b.counters().dispatches - before, 1, "{path}: the first decode-like step folds");
        for (((ty, m, k, w), x), out) in ws.iter().zip(&x1).zip(&outs1) {
            let diff = max_rel_diff(&read(&mut b, out), &reference(*ty, w, x, *k, *m));
            assert!(diff <= tol(*k), "{path}: {ty} {m}x{k}: rel diff {diff}");
            cases += 1;
        }
    }
    assert!(cases > 0 || std::env::var_os("CI").is_none(), "no backend ran");
}
