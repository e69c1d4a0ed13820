//! Random-weight BlinkDL checkpoints of RWKV-4, 5, 6 and 7 in f32, f16 and bf16 (written by
//! `common`): each loads, runs the same token by token as in one chunk, and converts with
//! `aviary convert` to a GGUF of the version's architecture that gives the same logits.

mod common;

use std::path::Path;

use common::blinkdl_models::{checkpoint, Version, SMALL};
use common::pth_writer::{pth, write_temp, Dtype};
use model::LogitsMode;

fn load(path: &Path) -> aviary::Loaded {
    aviary::load(path, &aviary::LoadOptions { threads: 2, ..Default::default() }).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn tokens() -> Vec<u32> {
    common::blinkdl_models::reference_tokens()
}

/// Logits after every token, all tokens in one call (one chunk).
fn chunked(loaded: &mut aviary::Loaded) -> Vec<Vec<f32>> {
    let s = loaded.model.new_state().unwrap();
    loaded.model.forward(s, &tokens(), LogitsMode::All).unwrap()
}

/// Logits after every token, one call per token.
fn serial(loaded: &mut aviary::Loaded) -> Vec<Vec<f32>> {
    let s = loaded.model.new_state().unwrap();
    tokens().iter().map(|&t| loaded.model.forward(s, &[t], LogitsMode::Last).unwrap().pop().unwrap()).collect()
}

fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| testkit::max_abs_diff(x, y)).fold(0.0, f32::max)
}

fn convert(input: &Path, output: &Path) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(["convert", input.to_str().unwrap(), output.to_str().unwrap(), "--force"])
        .output()
        .unwrap();
    assert!(out.status.success(), "aviary convert {}: {}", input.display(), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn every_version_and_dtype_loads_runs_serial_as_chunked_and_round_trips_through_gguf() {
    let mut n = 0;
    for (vi, version) in Version::ALL.into_iter().enumerate() {
        for (di, dtype) in Dtype::ALL.into_iter().enumerate() {
            let tag = format!("pthv-{}-{}", version.name(), dtype.name());
            let ts = checkpoint(version, &SMALL, 1000 + 10 * vi as u64 + di as u64);
            let path = write_temp(&tag, "pth", &pth(&ts, dtype));
            let mut loaded = load(&path);
            let info = loaded.model.info().clone();
            assert_eq!(info.architecture, version.architecture(), "{tag}");
            assert_eq!((info.hparams.n_layer, info.hparams.n_embd, info.hparams.n_vocab), (2, 64, 256), "{tag}");
            if version != Version::V4 {
                assert_eq!((info.hparams.n_head, info.hparams.head_size), (4, 16), "{tag}");
            }
            let (all, one_by_one) = (chunked(&mut loaded), serial(&mut loaded));
            assert_eq!(all.len(), tokens().len());
            // Same math. f16 matrices take the cpu backend's AMX path in chunks of 16 tokens or
            // more (activations split into bf16 pairs, ~16 bits): measured up to 5.2e-5 there, and
            // 0 for f32 and bf16 (which the reader widens to f32).
            let d = max_diff(&all, &one_by_one);
            eprintln!("{tag}: serial vs chunked {d:.2e}");
            let tol = if dtype == Dtype::F16 { 2e-4 } else { 1e-5 };
            assert!(d <= tol, "{tag}: serial and chunked differ by {d} (allowed {tol})");
            // Logits move from position to position (the model is not degenerate).
            assert!(testkit::max_abs_diff(&all[0], &all[all.len() - 1]) > 0.1, "{tag}: flat logits");
            assert!(all.iter().flatten().all(|v| v.is_finite()), "{tag}: non-finite logits");

            let gguf = path.with_extension("gguf");
            convert(&path, &gguf);
            let file = gguf::GgufFile::open(&gguf).unwrap();
            assert_eq!(file.get_str("general.architecture").unwrap(), Some(version.architecture()), "{tag}");
            let converted = chunked(&mut load(&gguf));
            let d = max_diff(&all, &converted);
            assert!(d == 0.0, "{tag}: the converted GGUF's logits differ by {d}");
            std::fs::remove_file(&path).ok();
            std::fs::remove_file(&gguf).ok();
            n += 1;
        }
    }
    assert_eq!(n, 12);
}

#[test]
fn half_precision_checkpoints_stay_close_to_their_f32_source() {
    // The same weights stored three ways: f16/bf16 rounding moves the logits only a little.
    let mut n = 0;
    for version in Version::ALL {
        let ts = checkpoint(version, &SMALL, 77);
        let reference = chunked(&mut load(&write_temp(&format!("pthh-{}-f32", version.name()), "pth", &pth(&ts, Dtype::F32))));
        for (dtype, tol) in [(Dtype::F16, 0.05), (Dtype::BF16, 0.3)] {
            let tag = format!("pthh-{}-{}", version.name(), dtype.name());
            let path = write_temp(&tag, "pth", &pth(&ts, dtype));
            let d = max_diff(&reference, &chunked(&mut load(&path)));
            eprintln!("{tag}: {d:.2e} from the f32 checkpoint");
            assert!(d > 0.0 && d < tol, "{tag}: {d} from the f32 checkpoint (expected 0 < d < {tol})");
            std::fs::remove_file(&path).ok();
            n += 1;
        }
        std::fs::remove_file(std::env::temp_dir().join(format!("aviary-pthh-{}-f32-{}.pth", version.name(), std::process::id()))).ok();
    }
    assert_eq!(n, 8);
}
