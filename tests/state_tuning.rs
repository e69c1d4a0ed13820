//! BlinkDL state-tuning files (`blocks.N.att.time_state`, (H, N, N) per layer) as the initial state
//! of a model: through the library (`LoadOptions::init_state`) and the CLI (`--init-state`), with
//! files of other models refused with the facts.

mod common;

use std::path::{Path, PathBuf};

use common::blinkdl_models::{checkpoint, state_tuning, Dims, Version, SMALL};
use common::pth_writer::{pth, write_temp, Dtype, T};
use model::{HostState, LogitsMode};

fn opts(init_state: Option<&Path>) -> aviary::LoadOptions {
    aviary::LoadOptions { threads: 1, init_state: init_state.map(Path::to_path_buf), ..Default::default() }
}

fn model_file(tag: &str, version: Version, d: &Dims) -> PathBuf {
    write_temp(&format!("st-{tag}-model"), "pth", &pth(&checkpoint(version, d, 5), Dtype::F32))
}

fn state_file(tag: &str, ts: &[T], dtype: Dtype) -> PathBuf {
    write_temp(&format!("st-{tag}-state"), "pth", &pth(ts, dtype))
}

/// The state BlinkDL's loaders start from, in aviary's layout: zero token shifts, and per head the
/// transpose of the stored (N, N) matrix (`time_state.transpose(1, 2)`; aviary keeps RWKV-5/6
/// key-major and RWKV-7 value-major, as BlinkDL's inference code does).
fn expected_state(ts: &[T], d: &Dims, dtype: Dtype) -> HostState {
    let (c, n) = (d.n_embd as usize, d.head_size as usize);
    let mut data = Vec::new();
    for t in ts {
        data.extend(vec![0f32; 2 * c]);
        let stored = dtype.round(&t.data);
        for h in 0..d.n_head() as usize {
            for i in 0..n {
                for j in 0..n {
                    data.push(stored[h * n * n + j * n + i]);
                }
            }
        }
    }
    HostState { n_layer: d.n_layer as usize, n_embd: c, head_size: n, data }
}

const TOKENS: [u32; 5] = [82, 87, 75, 86, 33];

fn first_logits(loaded: &mut aviary::Loaded, state: Option<&HostState>) -> Vec<Vec<f32>> {
    let s = loaded.model.new_state().unwrap();
    if let Some(h) = state {
        loaded.model.load_state(s, h).unwrap();
    }
    loaded.model.forward(s, &TOKENS, LogitsMode::All).unwrap()
}

#[test]
fn a_state_tuning_file_starts_every_sequence_from_its_states() {
    let mut n = 0;
    for version in [Version::V5, Version::V6, Version::V7] {
        for dtype in Dtype::ALL {
            let tag = format!("{}-{}", version.name(), dtype.name());
            let model = model_file(&tag, version, &SMALL);
            let ts = state_tuning(&SMALL, 9);
            let state = state_file(&tag, &ts, dtype);
            let want_state = expected_state(&ts, &SMALL, dtype);

            let mut plain = aviary::load(&model, &opts(None)).unwrap();
            let zero = first_logits(&mut plain, None);
            let direct = first_logits(&mut plain, Some(&want_state));

            let mut tuned = aviary::load(&model, &opts(Some(&state))).unwrap();
            let s = tuned.model.new_state().unwrap();
            assert_eq!(tuned.model.save_state(s).unwrap(), want_state, "{tag}: the initial state");
            let got = first_logits(&mut tuned, None);
            for (w, g) in direct.iter().zip(&got) {
                assert!(w.iter().zip(g).all(|(a, b)| a.to_bits() == b.to_bits()), "{tag}: logits differ from a runner given the state directly");
            }
            let moved = testkit::max_abs_diff(&zero[0], &got[0]);
            assert!(moved > 1e-2, "{tag}: the tuned state changes the first logits by only {moved}");

            // reset_state goes back to the tuned state, not to zeros.
            tuned.model.forward(s, &TOKENS, LogitsMode::None).unwrap();
            tuned.model.reset_state(s).unwrap();
            assert_eq!(tuned.model.save_state(s).unwrap(), want_state, "{tag}: after reset");

            std::fs::remove_file(&model).ok();
            std::fs::remove_file(&state).ok();
            n += 1;
        }
    }
    assert_eq!(n, 9);
}

#[test]
fn the_cli_init_state_flag_gives_the_library_logits() {
    let model = model_file("cli", Version::V6, &SMALL);
    let ts = state_tuning(&SMALL, 11);
    let state = state_file("cli", &ts, Dtype::F32);
    let want = first_logits(&mut aviary::load(&model, &opts(Some(&state))).unwrap(), None);
    let tokens = TOKENS.map(|t| t.to_string()).join(",");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(["logits", "-m", model.to_str().unwrap(), "--init-state", state.to_str().unwrap(), "--tokens", &tokens, "--threads", "1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<f32> = json["logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    assert_eq!(got.len(), 256);
    assert!(want[TOKENS.len() - 1].iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()), "CLI and library logits differ");

    // A mismatching file fails the command with the file and the numbers.
    let other = state_file("cli-other", &state_tuning(&Dims { n_layer: 3, ..SMALL }, 1), Dtype::F32);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(["logits", "-m", model.to_str().unwrap(), "--init-state", other.to_str().unwrap(), "--tokens", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(other.to_str().unwrap()) && err.contains("has 3 layers") && err.contains("the model has 2"), "{err}");
    for p in [model, state, other] {
        std::fs::remove_file(p).ok();
    }
}

fn load_err(model: &Path, state_ts: &[T]) -> String {
    let state = state_file("bad", state_ts, Dtype::F32);
    let e = aviary::load(model, &opts(Some(&state))).err().expect("must fail").to_string();
    std::fs::remove_file(&state).ok();
    e
}

#[test]
fn state_files_of_other_models_are_refused_with_the_facts() {
    let model = model_file("bad", Version::V7, &SMALL);
    // Layer count.
    let e = load_err(&model, &state_tuning(&Dims { n_layer: 3, ..SMALL }, 1));
    assert!(e.contains("has 3 layers") && e.contains("'blocks.2.att.time_state'") && e.contains("the model has 2"), "{e}");
    // Head count and head size: the same width split otherwise.
    let e = load_err(&model, &state_tuning(&Dims { head_size: 32, ..SMALL }, 1));
    assert!(e.contains("'blocks.0.att.time_state' has shape [2, 32, 32], expected [4, 16, 16]"), "{e}");
    let e = load_err(&model, &state_tuning(&Dims { head_size: 8, ..SMALL }, 1));
    assert!(e.contains("shape [8, 8, 8], expected [4, 16, 16]"), "{e}");
    // A missing layer.
    let mut gap = state_tuning(&Dims { n_layer: 3, ..SMALL }, 1);
    gap.remove(1);
    let e = load_err(&model, &gap);
    assert!(e.contains("missing tensor 'blocks.1.att.time_state'"), "{e}");
    // A tensor that is not (H, N, N).
    let e = load_err(&model, &[T::new("blocks.0.att.time_state", &[4, 16, 8], vec![0.0; 512])]);
    assert!(e.contains("shape [4, 16, 8], expected (n_head, head_size, head_size)"), "{e}");
    // Layers whose shapes disagree.
    let mut mixed = state_tuning(&SMALL, 1);
    mixed[1] = T::new("blocks.1.att.time_state", &[2, 32, 32], vec![0.0; 2048]);
    let e = load_err(&model, &mixed);
    assert!(e.contains("'blocks.1.att.time_state' has shape [2, 32, 32], expected [4, 16, 16] like layer 0"), "{e}");
    // A model checkpoint given as the state.
    let e = load_err(&model, &checkpoint(Version::V7, &SMALL, 1));
    assert!(e.contains("no 'blocks.N.att.time_state' tensors: not a state-tuning file"), "{e}");
    // RWKV-4 has no per-head state to tune.
    let v4 = model_file("bad-v4", Version::V4, &SMALL);
    let e = load_err(&v4, &state_tuning(&SMALL, 1));
    assert!(e.contains("this model is RWKV-4"), "{e}");
    // A state file given as the model.
    let state = state_file("as-model", &state_tuning(&SMALL, 1), Dtype::F32);
    let e = aviary::load(&state, &opts(None)).err().expect("must fail").to_string();
    assert!(e.contains("this is a state-tuning file") && e.contains("--init-state"), "{e}");
    // Not a file at all.
    let e = aviary::load(&model, &opts(Some(Path::new("/nonexistent/state.pth")))).err().expect("must fail").to_string();
    assert!(e.contains("/nonexistent/state.pth") && e.contains("cannot read"), "{e}");
    for p in [model, v4, state] {
        std::fs::remove_file(p).ok();
    }
}

#[test]
fn truncated_state_files_fail_cleanly_at_every_cut() {
    let bytes = pth(&state_tuning(&SMALL, 3), Dtype::BF16);
    let mut n = 0;
    for cut in (0..bytes.len()).step_by(53) {
        assert!(model::pth::state_tuning_from_bytes(&bytes[..cut], "cut").is_err());
        n += 1;
    }
    assert!(n > 10);
    let whole = model::pth::state_tuning_from_bytes(&bytes, "whole").unwrap();
    assert_eq!((whole.n_layer(), whole.n_head, whole.head_size), (2, 4, 16));
}

#[test]
fn time_state_merged_into_a_model_checkpoint_is_its_initial_state() {
    // The `rwkv` package runs a v5/v6 checkpoint holding `time_state` from those states.
    let ts = state_tuning(&SMALL, 9);
    let mut merged = checkpoint(Version::V6, &SMALL, 5);
    merged.extend(ts.iter().cloned());
    let path = write_temp("st-merged", "pth", &pth(&merged, Dtype::F32));
    let plain = model_file("merged-plain", Version::V6, &SMALL);
    let want = first_logits(&mut aviary::load(&plain, &opts(None)).unwrap(), Some(&expected_state(&ts, &SMALL, Dtype::F32)));
    let mut loaded = aviary::load(&path, &opts(None)).unwrap();
    let s = loaded.model.new_state().unwrap();
    assert_eq!(loaded.model.save_state(s).unwrap(), expected_state(&ts, &SMALL, Dtype::F32));
    let got = first_logits(&mut loaded, None);
    assert!(want.iter().flatten().zip(got.iter().flatten()).all(|(a, b)| a.to_bits() == b.to_bits()));
    // An explicit initial state wins over the merged one.
    let other = state_tuning(&SMALL, 10);
    let other_file = state_file("merged-other", &other, Dtype::F32);
    let mut loaded = aviary::load(&path, &opts(Some(&other_file))).unwrap();
    let s = loaded.model.new_state().unwrap();
    assert_eq!(loaded.model.save_state(s).unwrap(), expected_state(&other, &SMALL, Dtype::F32));
    for p in [path, plain, other_file] {
        std::fs::remove_file(p).ok();
    }
}

#[test]
fn batched_decode_runs_from_the_tuned_state_too() {
    let model = model_file("batch", Version::V7, &SMALL);
    let state = state_file("batch", &state_tuning(&SMALL, 12), Dtype::F32);
    let mut loaded = aviary::load(&model, &opts(Some(&state))).unwrap();
    let m = loaded.model.as_mut();
    let (a, b) = (m.new_state().unwrap(), m.new_state().unwrap());
    m.forward(a, &TOKENS[..2], LogitsMode::None).unwrap();
    let batched = m.decode_batch(&[a, b], &[7, 9]).unwrap();
    let (c, d) = (m.new_state().unwrap(), m.new_state().unwrap());
    m.forward(c, &TOKENS[..2], LogitsMode::None).unwrap();
    let one = m.forward(c, &[7], LogitsMode::Last).unwrap().pop().unwrap();
    let two = m.forward(d, &[9], LogitsMode::Last).unwrap().pop().unwrap();
    assert_eq!(batched.len(), 2);
    for (x, y) in [(&batched[0], &one), (&batched[1], &two)] {
        let diff = testkit::max_abs_diff(x, y);
        assert!(diff < 1e-4, "batched decode from the tuned state differs by {diff}");
    }
    std::fs::remove_file(model).ok();
    std::fs::remove_file(state).ok();
}
