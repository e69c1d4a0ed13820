//! rwkv.cpp's legacy files (spec §7) through `model::legacy` on the cpu backend: the trained tiny
//! RWKV-7 against its float64 reference and its GGUF twin; the tiny RWKV-4, 5.1, 5.2 and 6 models
//! (no reference logits exist for them here) for sane, consistent logits.

use std::sync::Arc;

use cpu::CpuBackend;
use gguf::GgufFile;
use model::legacy::{self, LegacyFile, LegacyOptions, LegacyVersion};
use model::{Architecture, LogitsMode, Model, Runner};

/// The 25 bytes of `"in the year 2025, RWKV-7` (the fixtures' token sequence; id = byte).
const TEXT: &[u8] = b"\"in the year 2025, RWKV-7";

fn runner_from_legacy(name: &str, chunk: usize) -> Option<(Runner<CpuBackend>, LegacyVersion)> {
    let path = testkit::fixture(name)?;
    let f = LegacyFile::open(&path).expect("open legacy file");
    let version = LegacyVersion::detect(&f);
    let gguf = legacy::to_gguf(&f, &LegacyOptions::default()).expect("map to GGUF");
    let file = Arc::new(GgufFile::from_bytes(gguf.to_bytes()).expect("valid GGUF"));
    let mut runner = Runner::load(file, CpuBackend::new(2).expect("pool")).expect("load");
    runner.set_chunk_size(chunk);
    Some((runner, version))
}

fn tokens() -> Vec<u32> {
    TEXT.iter().map(|&b| b as u32).collect()
}

fn rows(v: &serde_json::Value) -> Vec<Vec<f32>> {
    v.as_array()
        .expect("logits array")
        .iter()
        .map(|r| r.as_array().expect("row").iter().map(|x| x.as_f64().expect("number") as f32).collect())
        .collect()
}

/// Mean cross-entropy (nats per byte) of predicting each next byte of TEXT, over the bytes 1..=255
/// (some of these tiny models put a large constant logit on id 0, a separator in their training).
fn loss(logits: &[Vec<f32>], toks: &[u32]) -> f32 {
    let mut total = 0f64;
    for (row, &next) in logits.iter().zip(&toks[1..]) {
        let row = &row[1..];
        let next = next - 1;
        let max = row.iter().fold(f32::MIN, |a, &b| a.max(b)) as f64;
        let lse = max + row.iter().map(|&x| (x as f64 - max).exp()).sum::<f64>().ln();
        total += lse - row[next as usize] as f64;
    }
    (total / (toks.len() - 1) as f64) as f32
}

#[test]
fn rwkv7_legacy_files_match_reference_f64_and_the_gguf_fixture() {
    let mut checked = 0;
    for (name, tol) in [("tiny-rwkv-7v0-834K-FP32.bin", 1e-4f32), ("tiny-rwkv-7v0-834K-FP16.bin", 1e-4)] {
        let Some((mut runner, version)) = runner_from_legacy(name, 7) else { return };
        assert_eq!(version, LegacyVersion::V7);
        let json = testkit::fixture_json(&format!("{name}.json")).expect("reference json");
        let reference = rows(&json["reference_f64"]["logits"]);
        let toks = tokens();
        let expected: Vec<u32> = json["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect();
        assert_eq!(toks, expected, "the fixture's token sequence");
        let s = runner.new_state().unwrap();
        let got = runner.forward(s, &toks, LogitsMode::All).unwrap();
        assert_eq!(got.len(), reference.len());
        let diff = got.iter().zip(&reference).map(|(g, r)| testkit::max_abs_diff(g, r)).fold(0f32, f32::max);
        eprintln!("{name}: max|aviary - reference_f64| = {diff:.3e}");
        assert!(diff <= tol, "{name}: {diff} > {tol}");
        for (g, r) in got.iter().zip(&reference) {
            assert_eq!(testkit::argmax(g), testkit::argmax(r));
        }
        checked += 1;
    }
    assert_eq!(checked, 2);

    // The FP32 file and llama.cpp's F32 GGUF of it hold the same numbers: identical logits.
    let Some((mut legacy_runner, _)) = runner_from_legacy("tiny-rwkv-7v0-834K-FP32.bin", 64) else { return };
    let Some(path) = testkit::fixture("tiny-rwkv7-834K-F32.gguf") else { return };
    let file = Arc::new(GgufFile::open(path).unwrap());
    let mut gguf_runner = Runner::load(file, CpuBackend::new(2).unwrap()).unwrap();
    let (a, b) = (legacy_runner.new_state().unwrap(), gguf_runner.new_state().unwrap());
    let la = legacy_runner.forward(a, &tokens(), LogitsMode::All).unwrap();
    let lb = gguf_runner.forward(b, &tokens(), LogitsMode::All).unwrap();
    assert_eq!(la, lb, "legacy FP32 and GGUF F32 logits differ");
}

#[test]
fn older_versions_give_sane_consistent_logits() {
    let cases = [
        ("tiny-rwkv-4v0-660K-FP32.bin", LegacyVersion::V4, Architecture::Rwkv4),
        ("tiny-rwkv-5v1-730K-FP32.bin", LegacyVersion::V5_1, Architecture::Rwkv5),
        ("tiny-rwkv-5v2-730K-FP32.bin", LegacyVersion::V5_2, Architecture::Rwkv5),
        ("tiny-rwkv-6v0-3m-Q5_1.bin", LegacyVersion::V6, Architecture::Rwkv6),
        ("tiny-rwkv-7v0-834K-FP16.bin", LegacyVersion::V7, Architecture::Rwkv7),
    ];
    let mut checked = 0;
    for (name, version, arch) in cases {
        let Some((mut runner, found)) = runner_from_legacy(name, 64) else { return };
        assert_eq!(found, version, "{name}");
        assert_eq!(runner.info().architecture, arch.name(), "{name}");
        let toks = tokens();
        // Whole sequence at once.
        let whole = runner.new_state().unwrap();
        let all = runner.forward(whole, &toks, LogitsMode::All).unwrap();
        assert!(all.iter().flatten().all(|x| x.is_finite()), "{name}: non-finite logits");
        let spread = all.iter().map(|r| r.iter().fold(f32::MIN, |a, &b| a.max(b)) - r.iter().fold(f32::MAX, |a, &b| a.min(b)));
        assert!(spread.clone().all(|s| s > 1.0), "{name}: flat logits");
        let nats = loss(&all, &toks);
        eprintln!("{name} (v{version}): {nats:.3} nats/byte on the test text");
        // A trained byte model predicts English far better than uniform (ln 256 = 5.55).
        assert!(nats < 4.5, "{name}: loss {nats} nats/byte: the model does not predict text");

        // Token by token (serial) equals the whole sequence (chunked).
        let serial_state = runner.new_state().unwrap();
        let serial: Vec<Vec<f32>> = toks.iter().map(|&t| runner.forward(serial_state, &[t], LogitsMode::Last).unwrap().remove(0)).collect();
        let diff = all.iter().zip(&serial).map(|(a, b)| testkit::max_abs_diff(a, b)).fold(0f32, f32::max);
        // Strict where serial and chunked run the same kernels: FP32 files (F32 weights never take
        // the AMX path) and every file without AMX. With AMX, chunks of 16+ tokens multiply on bf16
        // tiles while single tokens use the integer kernels (the Q5_1 file's quantized activations
        // are within 5e-2 of the f64 reference, see `older_versions_match_the_numpy_reference`).
        let same_kernels = name.contains("FP32") || !quant::fast::amx::usable();
        let tol = if !same_kernels && name.contains("Q5_1") { 5e-2 } else { 1e-4 };
        eprintln!("{name}: serial vs chunked max abs diff {diff:.2e} (bound {tol:.0e})");
        assert!(diff <= tol, "{name}: serial and chunked differ by {diff}");

        // Save after 11 tokens, disturb, restore into a fresh state, continue: same as uninterrupted.
        let (head, tail) = toks.split_at(11);
        let s = runner.new_state().unwrap();
        runner.forward(s, head, LogitsMode::None).unwrap();
        let saved = runner.save_state(s).unwrap();
        runner.forward(s, &[1, 2, 3], LogitsMode::None).unwrap();
        let fresh = runner.new_state().unwrap();
        runner.load_state(fresh, &saved).unwrap();
        let resumed = runner.forward(fresh, tail, LogitsMode::All).unwrap();
        for (i, row) in resumed.iter().enumerate() {
            // Bit-identical with the same kernels; with AMX the 11-token head ran the integer
            // kernels where the uninterrupted 64-token chunk ran the tiles.
            let d = testkit::max_abs_diff(row, &all[head.len() + i]);
            assert!(if same_kernels { d == 0.0 } else { d <= tol }, "{name}: restored run differs at {} by {d}", head.len() + i);
        }
        checked += 1;
    }
    assert_eq!(checked, cases.len());
}

/// Against float64 logits from `tests/data/legacy_reference.py` (an independent numpy transcription
/// of spec §5/§7, run on the same files; see the script's doc for how the JSON was made).
#[test]
fn older_versions_match_the_numpy_reference() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/legacy-reference-logits.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let positions: Vec<usize> = json["positions"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap() as usize).collect();
    let models = json["models"].as_object().unwrap();
    let mut checked = 0;
    for (name, entry) in models {
        let Some((mut runner, version)) = runner_from_legacy(name, 7) else { return };
        assert_eq!(version.to_string(), entry["version"].as_str().unwrap(), "{name}");
        let s = runner.new_state().unwrap();
        let got = runner.forward(s, &tokens(), LogitsMode::All).unwrap();
        let reference = rows(&entry["logits"]);
        let mut diff = 0f32;
        for (&pos, r) in positions.iter().zip(&reference) {
            diff = diff.max(testkit::max_abs_diff(&got[pos], r));
            assert_eq!(testkit::argmax(&got[pos]), testkit::argmax(r), "{name}: top-1 at position {pos}");
        }
        eprintln!("{name}: max|aviary - numpy f64| = {diff:.3e}");
        // FP32 files: f32 rounding only. The Q5_1 file: the fast matmul's quantized activations.
        let tol = if name.contains("FP32") { 1e-4 } else { 5e-2 };
        assert!(diff <= tol, "{name}: {diff} > {tol}");
        checked += 1;
    }
    assert_eq!(checked, 4);
}
