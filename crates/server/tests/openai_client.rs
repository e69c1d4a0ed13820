//! The official `openai` Python package against a live server (chat, completions, streaming, errors).
//!
//! The package is installed into a virtual environment under Cargo's target tmp dir (reused by later
//! runs). Without python3 or PyPI the test skips with a loud message, except under CI, where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn skip_or_fail(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{why}, and CI is set: the openai client test must run in CI");
    }
    eprintln!("\n!!! SKIPPED: {why}.\n!!! The openai client test needs python3 with venv and access to PyPI.\n");
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} exited with {}: {}", out.status, String::from_utf8_lossy(&out.stderr)))
    }
}

/// A python with `openai` importable, installing it on first use.
fn python_with_openai() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("openai-venv");
    let python = venv.join("bin").join("python");
    if run(Command::new(&python).args(["-c", "import openai"])).is_ok() {
        return Ok(python);
    }
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    run(Command::new(&python).args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "openai"]))?;
    Ok(python)
}

#[test]
fn official_openai_client_drives_the_server() {
    let python = match python_with_openai() {
        Ok(p) => p,
        Err(e) => return skip_or_fail(&format!("could not get the openai package ({e})")),
    };
    let cfg = server::ServerConfig { api_key: Some("test-key".into()), ..common::server_config() };
    let Some(srv) = common::start(cfg, common::engine_config()) else { return };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openai_client.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(format!("http://{}/v1", srv.addr))
        .arg("tiny")
        .arg("test-key")
        .output()
        .expect("run the python script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openai client script failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("8 passed, 0 failed"), "{stdout}");
    println!("{stdout}");
}
