//! matmul, lora and embed on the GPU against the cpu crate's scalar kernels, for every weight type,
//! odd sizes, several token counts, both reduction paths, and weights split into several parts.

mod common;

use common::{act, backends, max_rel_diff, read, weights};
use cpu::kernels::lora::MatrixRef;
use gguf::GgmlType;
use model::{LoraKind, Ops};
use testkit::TestRng;
use webgpu::{GpuWeight, WebGpuBackend};

/// Column counts to test for a type: odd ones for float types, 1–3 blocks for block types.
fn cols_for(ty: GgmlType) -> Vec<usize> {
    match ty.block_size() {
        1 => vec![1, 7, 33, 65, 127],
        32 => vec![32, 96],
        _ => vec![256, 512],
    }
}

fn upload(b: &mut WebGpuBackend, ty: GgmlType, rows: usize, cols: usize, bytes: &[u8]) -> GpuWeight {
    b.upload_raw("test.weight", ty, rows, cols, bytes).expect("upload")
}

fn check_matmul(b: &mut WebGpuBackend, rng: &mut TestRng, ty: GgmlType, m: usize, k: usize, t: usize, what: &str) {
    let w = weights(rng, ty, m, k);
    let x = rng.vec(t * k, -1.0, 1.0);
    let mut expected = vec![0f32; t * m];
    cpu::kernels::matmul::matmul(ty, &w, quant::row_bytes(ty, k).unwrap(), &x, k, &mut expected);
    let gw = upload(b, ty, m, k, &w);
    let gx = act(b, t, k, &x);
    let mut out = b.alloc(t, m).unwrap();
    b.matmul(&gw, &gx, &mut out);
    let got = read(b, &out);
    let diff = max_rel_diff(&got, &expected);
    assert!(diff <= 1e-5 * (k as f32).sqrt() + 1e-6, "{what}: matmul {ty} M={m} K={k} T={t}: rel diff {diff}");
}

#[test]
fn matmul_matches_reference_for_every_type() {
    let mut rng = TestRng::new(7);
    let mut cases = 0;
    let all = backends();
    if all.is_empty() {
        return;
    }
    for (path, mut b) in all {
        for ty in quant::SUPPORTED {
            for k in cols_for(ty) {
                for (m, t) in [(3, 1), (17, 1), (5, 9), (33, 3)] {
                    check_matmul(&mut b, &mut rng, ty, m, k, t, path);
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 0, "no backend ran (backends() skips only outside CI)");
}

#[test]
fn matmul_splits_large_weights_by_rows() {
    let mut rng = TestRng::new(11);
    let mut cases = 0;
    let all = backends();
    if all.is_empty() {
        return;
    }
    for (path, mut b) in all {
        for ty in [GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q6_K] {
            let cols = if ty.block_size() == 256 { 256 } else { 64 };
            // Parts of 3 rows: 10 rows become 4 parts.
            b.set_max_part_bytes(3 * 4 * webgpu::TypeLayout::of(ty).unwrap().row_words(cols) as u64 + 3);
            let w = weights(&mut rng, ty, 10, cols);
            match upload(&mut b, ty, 10, cols, &w) {
                GpuWeight::Matrix { parts, .. } => assert_eq!(parts.len(), 4, "{ty}: parts"),
                GpuWeight::Vectors { .. } => unreachable!(),
            }
            for t in [1, 4] {
                check_matmul(&mut b, &mut rng, ty, 10, cols, t, path);
                cases += 1;
            }
            // Embedding rows from every part.
            let tokens = [9u32, 0, 4, 3, 9];
            let gw = upload(&mut b, ty, 10, cols, &w);
            let mut out = b.alloc(tokens.len(), cols).unwrap();
            b.embed(&gw, &tokens, &mut out);
            let got = read(&mut b, &out);
            let mut expected = vec![0f32; tokens.len() * cols];
            cpu::kernels::embed::embed(ty, &w, quant::row_bytes(ty, cols).unwrap(), &tokens, &mut expected);
            assert!(max_rel_diff(&got, &expected) <= 1e-6, "{path}: split embed {ty}");
        }
    }
    assert!(cases > 0, "no backend ran (backends() skips only outside CI)");
}

#[test]
fn embed_matches_reference_for_every_type() {
    let mut rng = TestRng::new(3);
    let Some(mut b) = common::backend(true) else { return };
    let mut cases = 0;
    for ty in quant::SUPPORTED {
        for cols in cols_for(ty) {
            let rows = 13;
            let w = weights(&mut rng, ty, rows, cols);
            let gw = upload(&mut b, ty, rows, cols, &w);
            let tokens = [12u32, 0, 5, 5, 7];
            let mut out = b.alloc(tokens.len(), cols).unwrap();
            b.embed(&gw, &tokens, &mut out);
            let got = read(&mut b, &out);
            let mut expected = vec![0f32; tokens.len() * cols];
            cpu::kernels::embed::embed(ty, &w, quant::row_bytes(ty, cols).unwrap(), &tokens, &mut expected);
            let diff = max_rel_diff(&got, &expected);
            assert!(diff <= 1e-6, "embed {ty} cols={cols}: rel diff {diff}");
            cases += 1;
        }
    }
    assert_eq!(cases, quant::SUPPORTED.iter().map(|&t| cols_for(t).len()).sum::<usize>());
}

#[test]
fn lora_matches_reference_for_every_kind() {
    let mut rng = TestRng::new(5);
    let mut cases = 0;
    let all = backends();
    if all.is_empty() {
        return;
    }
    for (path, mut b) in all {
        for (ty, c, rank) in [(GgmlType::F32, 65, 7), (GgmlType::F16, 64, 32), (GgmlType::Q8_0, 64, 32)] {
            for kind in [LoraKind::Decay, LoraKind::SigmoidOut, LoraKind::Gate] {
                let t = 3;
                let a = weights(&mut rng, ty, rank, c);
                let bw = weights(&mut rng, ty, c, rank);
                let bias = rng.vec(c, -0.5, 0.5);
                let x = rng.vec(t * c, -1.0, 1.0);
                let with_bias = kind != LoraKind::Gate;
                let am = MatrixRef { ty, bytes: &a, row_bytes: quant::row_bytes(ty, c).unwrap(), cols: c };
                let bm = MatrixRef { ty, bytes: &bw, row_bytes: quant::row_bytes(ty, rank).unwrap(), cols: rank };
                let mut mid = vec![0f32; t * rank];
                let mut expected = vec![0f32; t * c];
                cpu::kernels::lora::lora(kind, &x, &am, &bm, with_bias.then_some(&bias[..]), &mut mid, &mut expected);

                let ga = upload(&mut b, ty, rank, c, &a);
                let gb = upload(&mut b, ty, c, rank, &bw);
                let gbias = b.upload_vectors(1, c, bias.clone()).unwrap();
                let gx = act(&mut b, t, c, &x);
                let mut gmid = b.alloc(t, rank).unwrap();
                let mut out = b.alloc(t, c).unwrap();
                b.lora(kind, &gx, &ga, &gb, with_bias.then_some(&gbias), &mut gmid, &mut out);
                let got = read(&mut b, &out);
                let diff = max_rel_diff(&got, &expected);
                assert!(diff <= 1e-5, "{path}: lora {kind:?} {ty}: rel diff {diff}");
                cases += 1;
            }
        }
    }
    assert!(cases > 0, "no backend ran (backends() skips only outside CI)");
}

#[test]
fn matmul_covers_more_rows_than_one_grid_dimension() {
    // 70001 rows exceed the 65535 workgroups a grid dimension may hold (a 65536-token vocabulary
    // head does too), so rows continue along the grid's y.
    let all = backends();
    if all.is_empty() {
        return;
    }
    let mut rng = TestRng::new(12);
    for (path, mut b) in all {
        check_matmul(&mut b, &mut rng, GgmlType::F32, 70_001, 3, 3, path);
    }
}
