//! `aviary run --save-state/--load-state` and `aviary serve`, through the binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Output, Stdio};

fn aviary(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aviary")).args(args).output().expect("run aviary")
}

fn fixture(name: &str) -> Option<String> {
    testkit::fixture(name).map(|p| p.display().to_string())
}

fn tmp(name: &str) -> String {
    std::env::temp_dir().join(format!("aviary-{}-{name}", std::process::id())).display().to_string()
}

#[test]
fn a_saved_prompt_state_continues_like_the_whole_prompt() {
    let Some(model) = fixture("synth-tiny-k-F32.gguf") else { return };
    let state = tmp("system.avst");
    let common = ["run", "--model", &model, "--temperature", "0", "--seed", "1", "--no-stop"];
    // The comparison is only fair if the two halves tokenize like the whole prompt does.
    let tokens = |text: &str| {
        let out = aviary(&["tokenize", "--model", &model, text]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["tokens"].as_array().unwrap().clone()
    };
    let (a, b) = ("System: be brief.", "\n\nUser: hi");
    assert_eq!([tokens(a), tokens(b)].concat(), tokens(&format!("{a}{b}")));
    let saved = aviary(&[&common[..], &["--prompt", a, "--max-tokens", "0", "--save-state", &state]].concat());
    assert!(saved.status.success(), "{}", String::from_utf8_lossy(&saved.stderr));
    assert!(String::from_utf8_lossy(&saved.stderr).contains("saved to"));
    let resumed = aviary(&[&common[..], &["--prompt", b, "--max-tokens", "12", "--load-state", &state]].concat());
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let whole = aviary(&[&common[..], &["--prompt", &format!("{a}{b}"), "--max-tokens", "12"]].concat());
    assert_eq!(resumed.stdout, whole.stdout);

    let Some(other) = fixture("tiny-rwkv7-834K-F32.gguf") else { return };
    let wrong = aviary(&["run", "--model", &other, "--prompt", "x", "--load-state", &state]);
    assert_eq!(wrong.status.code(), Some(1));
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(err.contains(&state) && err.contains("different model"), "{err}");
    std::fs::write(&state, b"AVIARYST but short").unwrap();
    let bad = aviary(&["run", "--model", &model, "--prompt", "x", "--load-state", &state]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an aviary state file"));
    std::fs::remove_file(&state).unwrap();
}

#[test]
fn serve_answers_on_loopback() {
    let Some(model) = fixture("synth-tiny-k-F32.gguf") else { return };
    let mut child = Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(["serve", "--model", &model, "--port", "0", "--model-name", "tiny"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start aviary serve");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|s| s.split('/').next()).unwrap_or_else(|| panic!("no address in {line:?}"));
    assert!(addr.starts_with("127.0.0.1:"), "binds loopback by default: {addr}");
    let body = r#"{"model":"tiny","messages":[{"role":"user","content":"Hi"}],"max_tokens":3}"#;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"chat.completion\""), "{reply}");
}
