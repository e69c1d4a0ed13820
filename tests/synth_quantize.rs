//! `aviary synth`, `aviary quantize` and `synth:` model specs end to end: outputs, exit codes and
//! error messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs aviary with the fixture vocabulary and a private cache directory.
fn aviary(args: &[&str], cache: &Path) -> Output {
    let vocab = testkit::fixture("tokenizer/rwkv_vocab_v20230424.txt").expect("checked by callers");
    Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(args)
        .env("AVIARY_WORLD_VOCAB", vocab)
        .env("AVIARY_CACHE", cache)
        .output()
        .expect("run aviary")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("aviary-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self, f: &str) -> String {
        self.0.join(f).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn have_fixtures() -> bool {
    testkit::fixture("tokenizer/rwkv_vocab_v20230424.txt").is_some()
}

#[test]
fn synth_writes_a_model_and_refuses_to_overwrite() {
    if !have_fixtures() {
        return;
    }
    let dir = Scratch::new("synth");
    let out = dir.path("tiny.gguf");
    let o = aviary(&["synth", "--preset", "tiny", "--type", "q4_k_m", "--out", &out], &dir.0);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("Q4_K 13, Q6_K 1"), "{}", stderr(&o));

    let o = aviary(&["inspect", "--model", &out], &dir.0);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Q4_K_M") && text.contains("65536"), "{text}");

    let o = aviary(&["synth", "--preset", "tiny", "--out", &out], &dir.0);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists") && stderr(&o).contains("--force"), "{}", stderr(&o));
    let o = aviary(&["synth", "--preset", "tiny", "--type", "F32", "--out", &out, "--force", "--threads", "1"], &dir.0);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn synth_rejects_unknown_presets_and_types() {
    if !have_fixtures() {
        return;
    }
    let dir = Scratch::new("synth-bad");
    let out = dir.path("x.gguf");
    let o = aviary(&["synth", "--preset", "3b", "--out", &out], &dir.0);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("tiny, 0.1b, 0.4b, 1.5b, 2.9b, 7.2b"), "{}", stderr(&o));
    let o = aviary(&["synth", "--preset", "tiny", "--type", "Q9_K", "--out", &out], &dir.0);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("Q9_K") && stderr(&o).contains("Q4_K_M"), "{}", stderr(&o));
    let o = aviary(&["synth", "--preset", "tiny", "--out", &dir.path("no/such/dir/x.gguf")], &dir.0);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot write into directory"), "{}", stderr(&o));
}

#[test]
fn quantize_command() {
    let Some(src) = testkit::fixture("synth-tiny-k-F16.gguf") else { return };
    let src = src.display().to_string();
    let dir = Scratch::new("quantize");
    let out = dir.path("q.gguf");
    let o = aviary(&["quantize", &src, &out, "q5_k_m", "--threads", "2"], &dir.0);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("Q5_K 13, Q6_K 1") && stderr(&o).contains("smaller"), "{}", stderr(&o));

    let o = aviary(&["quantize", &src, &out, "Q8_0"], &dir.0);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    let o = aviary(&["quantize", &src, &out, "Q8_0", "--force"], &dir.0);
    assert!(o.status.success(), "{}", stderr(&o));

    let o = aviary(&["quantize", &src, &dir.path("missing/q.gguf"), "Q8_0"], &dir.0);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot write into directory"), "{}", stderr(&o));

    let o = aviary(&["quantize", &src, &out, "Q7"], &dir.0);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("Q4_K_M"), "{}", stderr(&o));

    let o = aviary(&["quantize", &src], &dir.0);
    assert_eq!(o.status.code(), Some(2), "missing arguments are usage errors");

    // Input that is not RWKV-7.
    let mut w = gguf::GgufWriter::new();
    w.add_kv("general.architecture", gguf::Value::String("llama".into()));
    w.add_tensor("token_embd.weight", &[32, 2], gguf::GgmlType::F32, vec![0; 256]).unwrap();
    let llama = dir.path("llama.gguf");
    w.write_file(&llama).unwrap();
    let o = aviary(&["quantize", &llama, &dir.path("l.gguf"), "Q8_0"], &dir.0);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("'llama'") && stderr(&o).contains("rwkv7"), "{}", stderr(&o));
}

#[test]
fn synth_specs_are_generated_once_and_cached() {
    if !have_fixtures() {
        return;
    }
    let dir = Scratch::new("spec");
    let args = ["run", "--model", "synth:TINY:q8_0", "--prompt", "Hello", "--max-tokens", "4", "--temperature", "0"];
    let first = aviary(&args, &dir.0);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stderr(&first).contains("generating synthetic model"), "{}", stderr(&first));
    let cached = dir.0.join(format!("synth/tiny-Q8_0-v{}.gguf", convert::GENERATOR_VERSION));
    assert!(cached.is_file());
    let second = aviary(&args, &dir.0);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(!stderr(&second).contains("generating"), "second run uses the cache");
    assert_eq!(first.stdout, second.stdout);

    let o = aviary(&["inspect", "--model", "synth:huge"], &dir.0);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("'huge'") && stderr(&o).contains("0.1b"), "{}", stderr(&o));
    let o = aviary(&["inspect", "--model", "synth:tiny:q3"], &dir.0);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("'q3'") && stderr(&o).contains("Q3_K_M"), "{}", stderr(&o));
}
