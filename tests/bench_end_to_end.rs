//! The whole benchmark on the tiny RWKV-7 fixture, through the library and through `aviary bench`:
//! entries parse back, one title makes one section, the F32 quality hash is stable, and a failing
//! run writes nothing.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use aviary::bench::{self, parse_results, BenchArgs, Door, QUALITY_TOKENS};
use clap::Parser;

const FIXTURE: &str = "tiny-rwkv7-834K-F32.gguf";

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: BenchArgs,
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("aviary-{tag}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Small, quick settings: 8-token prefill, 4 generated tokens, one run, a 16 MiB bandwidth buffer.
fn args(extra: &[&str]) -> BenchArgs {
    let mut argv = vec!["benchmark", "--prefill", "8", "--gen", "4", "--runs", "1", "--threads", "1", "--bw-mib", "16"];
    argv.extend_from_slice(extra);
    Cli::try_parse_from(argv).unwrap().args
}

#[test]
fn two_runs_with_one_title_share_a_section_and_the_hash() {
    let Some(model) = testkit::fixture(FIXTURE) else { return };
    let model = model.display().to_string();
    let dir = TempDir::new("bench-e2e");
    let out_path = dir.0.join("BENCHMARKS.md");
    let out = out_path.display().to_string();
    let door = Door::repository(env!("CARGO_MANIFEST_DIR"));

    let mut hashes = Vec::new();
    for (title, change) in [("tiny `fixture` | *run*", "before"), ("other", "x"), ("tiny `fixture` | *run*", "after")] {
        let a = args(&["--model", &model, "--title", title, "--change", change, "--output", &out, "--json"]);
        let mut stdout = Vec::new();
        let outcome = bench::run(&a, &door, &mut stdout).unwrap();
        assert_eq!(outcome.written.as_deref(), Some(fs::canonicalize(&out_path).unwrap().as_path()));
        let r = &outcome.report;
        assert_eq!(r.quality_tokens.len(), QUALITY_TOKENS);
        assert_eq!(r.version, "V7");
        assert_eq!((r.n_layer, r.n_embd, r.backend.as_str(), r.threads), (12, 64, "cpu", 1));
        assert!(r.prefill_tok_s_mean() > 0.0 && r.gen_tok_s_mean() > 0.0 && r.load_ms_mean() > 0.0);
        assert!(r.memory_bw_gb_s > 0.0 && r.weight_bytes_per_token > 0);
        // Every weight once, token_embd as one row: less than the file, more than half of it.
        let file_size = fs::metadata(&model).unwrap().len();
        assert!(r.weight_bytes_per_token < file_size && r.weight_bytes_per_token > file_size / 2);

        let stdout = String::from_utf8(stdout).unwrap();
        assert!(stdout.contains(&format!("Quality Hash    {}", r.quality_hash_hex())), "{stdout}");
        let json: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        assert_eq!(json["quality_hash"], r.quality_hash_hex());
        assert_eq!(json["title"], title);
        assert_eq!(json["quality_tokens"].as_array().unwrap().len(), QUALITY_TOKENS);
        hashes.push(r.quality_hash_hex());
    }
    assert_eq!(hashes[0], hashes[1]);
    assert_eq!(hashes[0], hashes[2]);

    let text = fs::read_to_string(&out_path).unwrap();
    assert!(text.starts_with(aviary::bench::HEADER));
    let sections = parse_results(&text);
    let titles: Vec<&str> = sections.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(titles, ["tiny `fixture` | *run*", "other"], "{text}");
    let changes: Vec<&str> = sections[0].entries.iter().map(|e| e.change.as_str()).collect();
    assert_eq!(changes, ["before", "after"]);
    for e in sections.iter().flat_map(|s| &s.entries) {
        assert_eq!(e.value("Model"), Some(FIXTURE));
        assert_eq!(e.value("Layers"), Some("12"));
        assert_eq!(e.value("Embedding"), Some("64"));
        assert_eq!(e.value("Quality Hash"), Some(hashes[0].as_str()));
        assert_eq!(e.value("Quant"), Some("F32"));
        assert_eq!(e.tokens.as_ref().map(Vec::len), Some(16));
        let ts = &e.timestamp;
        assert!(ts.len() == 19 && &ts[4..5] == "-" && &ts[10..11] == " " && &ts[13..14] == ":", "{ts}");
        for metric in ["Load Time", "Prefill", "Generation", "Memory BW", "Gen roofline"] {
            let v = e.value(metric).unwrap();
            let number = v.split([' ', '%']).next().unwrap();
            assert_eq!(number.split('.').nth(1).map(str::len), Some(2), "{metric}: {v}");
        }
    }
}

#[test]
fn quality_tokens_match_plain_greedy_decoding() {
    let Some(model) = testkit::fixture(FIXTURE) else { return };
    let a = args(&["--model", &model.display().to_string(), "--no-write"]);
    let outcome = bench::run(&a, &Door::repository(env!("CARGO_MANIFEST_DIR")), &mut Vec::new()).unwrap();
    assert!(outcome.written.is_none());

    // Independently: the prompt through the tokenizer, then argmax one token at a time.
    let mut loaded = aviary::load(&model, &aviary::LoadOptions { threads: 1, ..Default::default() }).unwrap();
    let prompt = loaded.tokenizer.as_ref().unwrap().encode("The quick brown fox").unwrap();
    let m = loaded.model.as_mut();
    let id = m.new_state().unwrap();
    let mut logits = m.forward(id, &prompt, aviary::model::LogitsMode::Last).unwrap();
    let mut tokens = Vec::new();
    for _ in 0..32 {
        let t = aviary::engine::sampler::argmax(logits.last().unwrap()).unwrap();
        tokens.push(t);
        logits = m.forward(id, &[t], aviary::model::LogitsMode::Last).unwrap();
    }
    assert_eq!(outcome.report.quality_tokens, tokens);
    assert_eq!(outcome.report.quality_hash(), aviary::bench::quality_hash(&tokens));
}

#[test]
fn failures_write_nothing() {
    let dir = TempDir::new("bench-fail");
    let out_path = dir.0.join("BENCHMARKS.md");
    let out = out_path.display().to_string();
    let door = Door::repository(&dir.0);

    // A model that cannot be loaded: no file appears.
    let missing = dir.0.join("missing.gguf").display().to_string();
    let a = args(&["--model", &missing, "--title", "t", "--change", "c", "--output", &out]);
    assert!(bench::run(&a, &door, &mut Vec::new()).is_err());
    assert!(!out_path.exists());

    // A broken model file: the existing results stay byte for byte.
    let broken = dir.0.join("broken.gguf");
    fs::write(&broken, b"GGUF\x03\x00\x00\x00truncated").unwrap();
    fs::write(&out_path, aviary::bench::HEADER).unwrap();
    let a = args(&["--model", &broken.display().to_string(), "--title", "t", "--change", "c", "--output", &out]);
    assert!(bench::run(&a, &door, &mut Vec::new()).is_err());
    assert_eq!(fs::read_to_string(&out_path).unwrap(), aviary::bench::HEADER);

    // Writing needs both labels; zero counts are refused before any work.
    for extra in [
        &["--title", "t"][..],
        &["--change", "c"][..],
        &["--title", "  ", "--change", "c"][..],
        &["--title", "two\nlines", "--change", "c"][..],
        &["--title", "t", "--change", "c", "--runs-zero"][..],
    ] {
        let mut v = vec!["--model", &missing, "--output", &out];
        v.extend(extra.iter().filter(|s| **s != "--runs-zero"));
        let mut a = args(&v);
        if extra.contains(&"--runs-zero") {
            a.runs = 0;
        }
        let err = bench::run(&a, &door, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, bench::BenchError::Usage(_)), "{extra:?}: {err}");
    }
    assert_eq!(fs::read_to_string(&out_path).unwrap(), aviary::bench::HEADER);
}

#[test]
fn aviary_bench_command_writes_to_the_current_directory() {
    let Some(model) = testkit::fixture(FIXTURE) else { return };
    let dir = TempDir::new("bench-cli");
    let run = |change: &str| {
        Command::new(env!("CARGO_BIN_EXE_aviary"))
            .args(["bench", "--model", &model.display().to_string(), "--title", "cli", "--change", change])
            .args(["--prefill", "8", "--gen", "4", "--runs", "1", "--threads", "1", "--bw-mib", "16"])
            .current_dir(&dir.0)
            .output()
            .unwrap()
    };
    for change in ["one", "two"] {
        let o = run(change);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stdout).contains("Generation"));
    }
    let text = fs::read_to_string(dir.0.join("BENCHMARKS.md")).unwrap();
    let sections = parse_results(&text);
    assert_eq!(sections.len(), 1);
    assert_eq!(sections[0].entries.len(), 2);

    // Refusing a foreign file: exit 1, a message naming the file, and the file as it was.
    fs::write(dir.0.join("BENCHMARKS.md"), "my notes\n").unwrap();
    let o = run("three");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not look like a benchmark results file"));
    assert_eq!(fs::read_to_string(dir.0.join("BENCHMARKS.md")).unwrap(), "my notes\n");
}
