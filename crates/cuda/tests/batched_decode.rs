//! Batched decode on the GPU: one step feeding one token to each of several sequences gives each the
//! logits of stepping it alone (on cuda and on the cpu backend), through graph replays and while
//! sequences join and leave the batch. Both WKV-7 kernels (wkv7_h64.cu and the generic wkv7.cu) run
//! it. With 67 sequences the step's matmuls run on cuBLAS's fast f16 GEMM (the default), so the
//! bounds for non-F32 files follow the accuracy standard (tests/accuracy): batched and the cpu's
//! single steps are each within the llama.cpp bound of exact arithmetic, hence within twice it of
//! each other, with the same top token unless the cpu's best two are that close. The F32 file
//! (exact f32 GEMMs) keeps 1e-3. Without a GPU every test prints "SKIPPED: no CUDA device" and passes.

mod accuracy;
mod common;

use std::sync::Arc;

use cpu::CpuBackend;
use cuda::{CudaBackend, Tuning};
use gguf::GgufFile;
use model::{LogitsMode, Model, Rwkv7Runner, StateId};
use testkit::TestRng;

fn random_tokens(rng: &mut TestRng, n: usize, n_vocab: usize) -> Vec<u32> {
    (0..n).map(|_| (rng.next_u64() % n_vocab as u64) as u32).collect()
}

/// Runs `steps` batched steps on `gpu` and the same tokens one sequence at a time on `cpu`; after
/// every second step the first sequence leaves and a new one joins. Returns the largest difference.
fn compare(stem: &str, tuning: Option<Tuning>, n_seqs: usize, steps: usize, tol: f32) -> Option<f32> {
    let path = testkit::fixture(&format!("{stem}.gguf"))?;
    let file = Arc::new(GgufFile::open(&path).expect("open fixture"));
    let mut backend = CudaBackend::new(0).unwrap();
    if let Some(t) = tuning {
        backend.set_tuning(t);
    }
    let mut gpu = Rwkv7Runner::load(file.clone(), backend).unwrap();
    let mut cpu = Rwkv7Runner::load(file, CpuBackend::new(2).unwrap()).unwrap();
    let n_vocab = gpu.info().hparams.n_vocab;
    let mut rng = TestRng::new(5);
    let mut pairs: Vec<(StateId, StateId)> = Vec::new();
    let join = |gpu: &mut Rwkv7Runner<CudaBackend>, cpu: &mut Rwkv7Runner<CpuBackend>, rng: &mut TestRng, len: usize| {
        let prompt = random_tokens(rng, len, n_vocab);
        let (g, c) = (gpu.new_state().unwrap(), cpu.new_state().unwrap());
        gpu.forward(g, &prompt, LogitsMode::None).unwrap();
        cpu.forward(c, &prompt, LogitsMode::None).unwrap();
        (g, c)
    };
    for i in 0..n_seqs {
        pairs.push(join(&mut gpu, &mut cpu, &mut rng, 2 + i % 7));
    }
    let mut worst = 0f32;
    for step in 0..steps {
        let tokens = random_tokens(&mut rng, pairs.len(), n_vocab);
        let ids: Vec<StateId> = pairs.iter().map(|p| p.0).collect();
        let rows = gpu.decode_batch(&ids, &tokens).unwrap();
        for ((row, &(_, c)), &t) in rows.iter().zip(&pairs).zip(&tokens) {
            let alone = cpu.forward(c, &[t], LogitsMode::Last).unwrap().remove(0);
            worst = worst.max(testkit::max_abs_diff(row, &alone));
            accuracy::assert_same_top(&format!("{stem}: step {step}: batched cuda vs cpu"), row, &alone, tol);
        }
        if step % 2 == 1 {
            let (g, c) = pairs.remove(0);
            gpu.drop_state(g);
            cpu.drop_state(c);
            pairs.push(join(&mut gpu, &mut cpu, &mut rng, 3));
        }
    }
    let stats = gpu.ops().graph_stats();
    eprintln!("{stem}: {n_seqs} sequences x {steps} batched steps: max |cuda batched - cpu single| = {worst:.3e}; graphs {stats:?}");
    Some(worst)
}

#[test]
fn batched_decode_matches_cpu() {
    let Some(probe) = common::backend() else { return };
    let mut generic = probe.tuning().clone();
    generic.fast_wkv = false;
    drop(probe);
    let mut checked = 0;
    for stem in ["tiny-rwkv7-834K-F32", "synth-tiny-k-Q4_K_M", "synth-tiny-k-F16"] {
        let Some(json) = testkit::fixture_json(&format!("{stem}.json")) else { return };
        let tol = if stem.ends_with("F32") { 1e-3 } else { 2.0 * accuracy::reference_bound(stem, &json) };
        for (tuning, n_seqs) in [(None, 5), (Some(generic.clone()), 3), (None, 67)] {
            let Some(worst) = compare(stem, tuning, n_seqs, 6, tol) else { return };
            assert!(worst <= tol, "{stem}: batched cuda decode differs from cpu by {worst:.3e} (tolerance {tol:.1e})");
            checked += 1;
        }
    }
    assert_eq!(checked, 9);
}
