//! The `aviary` binary end to end on the fixtures: output formats, exit codes, error messages.

use std::process::{Command, Output};

fn aviary(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aviary")).args(args).output().expect("run aviary")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fixture(name: &str) -> Option<String> {
    testkit::fixture(name).map(|p| p.display().to_string())
}

#[test]
fn tokenize_and_detokenize_round_trip() {
    let Some(model) = fixture("synth-tiny-k-F32.gguf") else { return };
    let out = aviary(&["tokenize", "--model", &model, "Hello, RWKV-7!\n\nThe year is 2025. (ok)"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let expected = testkit::fixture_json("synth-tiny-k-F32.json").unwrap()["tokens"].as_array().unwrap()[1..].to_vec();
    assert_eq!(json["tokens"].as_array().unwrap(), &expected);

    let ids: Vec<String> = expected.iter().map(|v| v.to_string()).collect();
    let out = aviary(&["detokenize", "--model", &model, &ids.join(",")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Hello, RWKV-7!\n\nThe year is 2025. (ok)\n");
}

#[test]
fn logits_command_matches_reference() {
    let Some(model) = fixture("tiny-rwkv7-834K-Q8_0.gguf") else { return };
    let json = testkit::fixture_json("tiny-rwkv7-834K-Q8_0.json").unwrap();
    let tokens: Vec<String> = json["tokens"].as_array().unwrap().iter().map(|t| t.to_string()).collect();
    let reference = &json["reference_f64"]["logits"];
    let as_f32 = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
    };

    let out = aviary(&["logits", "--model", &model, "--tokens", &tokens.join(","), "--threads", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(got["tokens"].as_array().unwrap().len(), tokens.len());
    let last = reference.as_array().unwrap().last().unwrap();
    assert!(testkit::max_abs_diff(&as_f32(&got["logits"]), &as_f32(last)) < 1e-3);

    let out = aviary(&["logits", "--model", &model, "--tokens", &tokens.join(","), "--all"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let got: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rows = got["logits"].as_array().unwrap();
    assert_eq!(rows.len(), tokens.len());
    for (g, r) in rows.iter().zip(reference.as_array().unwrap()) {
        assert!(testkit::max_abs_diff(&as_f32(g), &as_f32(r)) < 1e-3);
    }
}

#[test]
fn run_streams_text_and_is_reproducible() {
    let Some(model) = fixture("tiny-rwkv7-834K-F32.gguf") else { return };
    let args = ["run", "--model", &model, "--prompt", "The ", "--max-tokens", "40", "--seed", "5", "--top-k", "5"];
    let a = aviary(&args);
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(stderr(&a).contains("seed: 5"));
    let b = aviary(&args);
    assert_eq!(stdout(&a), stdout(&b), "same seed, same text");
    assert!(stdout(&a).trim().len() > 10, "generated {:?}", stdout(&a));

    // Greedy decoding of this tiny model loops on "the".
    let greedy = aviary(&["run", "--model", &model, "--prompt", "The ", "--max-tokens", "12", "--temperature", "0"]);
    assert!(greedy.status.success(), "{}", stderr(&greedy));
    assert!(stdout(&greedy).starts_with("the the"), "{:?}", stdout(&greedy));
}

#[test]
fn inspect_shows_hyper_parameters() {
    let Some(model) = fixture("synth-tiny-k-Q4_K_M.gguf") else { return };
    let out = aviary(&["inspect", "--model", &model]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in ["architecture:  rwkv7", "layers:        2", "embedding:     256", "Q4_K_M", "Q6_K", "vocab:         512"] {
        assert!(text.contains(needle), "inspect output lacks {needle:?}:\n{text}");
    }
}

#[test]
fn errors_exit_with_status_1_and_say_why() {
    let Some(model) = fixture("tiny-rwkv7-834K-F32.gguf") else { return };
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--model", "/no/such/file.gguf", "--prompt", "x"], "/no/such/file.gguf"),
        (&["run", "--model", &model, "--prompt", ""], "prompt is empty"),
        (
            &["run", "--model", &model, "--prompt", "x", "--backend", "wgpu", "--adapter", "no-such-adapter"],
            "no WebGPU adapter matches 'no-such-adapter'",
        ),
        (&["run", "--model", &model, "--prompt", "x", "--top-p", "2"], "top_p"),
        (&["logits", "--model", &model, "--tokens", "1,2,256"], "token id 256 is out of range"),
    ];
    for (args, needle) in cases {
        let out = aviary(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: stderr {:?} lacks {needle:?}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{args:?} panicked");
    }
    // Usage errors are clap's exit status 2.
    let out = aviary(&["run", "--model", &model]);
    assert_eq!(out.status.code(), Some(2));
    let out = aviary(&["run", "--model", &model, "--prompt", "x", "--backend", "tpu"]);
    assert_eq!(out.status.code(), Some(2));
}
