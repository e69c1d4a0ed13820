//! testkit: shared test support for aviary's crates (finding the shared fixtures, seeded random
//! inputs, the odd sizes kernels are tested on). Used only as a dev-dependency.
//!
//! Fixtures are third-party data that live beside the checkout in `../shared/fixtures` (override with
//! `AVIARY_FIXTURES`). They are never copied into the repository. When they are missing, a test skips
//! with a loud message, except under CI (`CI` set), where a missing fixture is a failure.

use std::path::PathBuf;

mod model_fixtures;

pub use model_fixtures::{json_logit_rows, json_tokens, max_abs_diff_rows, MODEL_FIXTURES};

/// Sizes used for kernel-versus-reference tests: small, odd, and around block boundaries.
pub const ODD_SIZES: &[usize] = &[1, 3, 7, 17, 33, 64, 65, 127, 255, 257];

/// The fixtures directory, or `None` (after printing why) when it is absent outside CI.
///
/// Panics under CI when the directory is missing, so CI cannot pass by skipping.
pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("AVIARY_FIXTURES") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
    };
    if dir.join("README.md").is_file() {
        return Some(dir.canonicalize().unwrap_or(dir));
    }
    missing(&format!("fixtures directory {}", dir.display()))
}

/// Path of one fixture file, or `None` (after printing why) when it is absent outside CI.
pub fn fixture(name: &str) -> Option<PathBuf> {
    let path = fixtures_dir()?.join(name);
    if path.is_file() {
        Some(path)
    } else {
        missing(&format!("fixture file {}", path.display()))
    }
}

/// Reads and parses a JSON fixture.
pub fn fixture_json(name: &str) -> Option<serde_json::Value> {
    let path = fixture(name)?;
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display())))
}

fn missing<T>(what: &str) -> Option<T> {
    if std::env::var_os("CI").is_some() {
        panic!("{what} not found, and CI is set: fixtures are required in CI (set AVIARY_FIXTURES or place shared/ beside the checkout)");
    }
    eprintln!();
    eprintln!("!!! SKIPPED: {what} not found.");
    eprintln!("!!! aviary's fixture tests look in ../shared/fixtures beside the checkout, or in $AVIARY_FIXTURES.");
    eprintln!();
    None
}

/// A small seeded generator (SplitMix64) for reproducible test inputs; not for sampling.
pub struct TestRng(u64);

impl TestRng {
    pub fn new(seed: u64) -> Self {
        TestRng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * unit
    }

    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// Max |a - b| over two equal-length slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Index of the largest value (first one on ties).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}
