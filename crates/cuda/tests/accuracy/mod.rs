//! The project's accuracy standard for whole-model logits (issue 4, as the cpu crate's
//! tests/fixture_logits.rs applies it), shared by the cuda whole-model tests:
//! - F32 files: within 1e-4 of the fixture's float64 reference (`reference_f64`);
//! - every other file: at least as close to the reference as llama.cpp is (the fixture's
//!   `max_abs_diff_llamacpp_vs_reference`; llama.cpp's CUDA path multiplies quantized weights with
//!   8-bit activations, and F16 weights with f16 activations), with the reference's top-1 token at
//!   every position.
//!
//! Comparisons between two runs of ours (serial vs chunked, batched vs cpu) follow from it: each run
//! is within the bound of the reference, so the two are within twice the bound of each other
//! (triangle inequality); F32 files keep the tight bounds of two exact f32 computations.
#![allow(dead_code)]

use serde_json::Value;

/// The bound on max |logit − reference_f64| for fixture `stem`.
pub fn reference_bound(stem: &str, json: &Value) -> f32 {
    if stem.ends_with("F32") {
        return 1e-4;
    }
    let llamacpp = json["max_abs_diff_llamacpp_vs_reference"].as_f64().unwrap_or(f64::NAN);
    assert!(llamacpp.is_finite() && llamacpp > 0.0, "{stem}: fixture lacks max_abs_diff_llamacpp_vs_reference");
    llamacpp as f32
}

/// Asserts `got` meets the standard against `reference` (every position's top-1 token, and the
/// largest difference within `bound`); returns that largest difference.
pub fn assert_meets_reference(what: &str, got: &[Vec<f32>], reference: &[Vec<f32>], bound: f32) -> f32 {
    assert_eq!(got.len(), reference.len(), "{what}: positions");
    let mut worst = 0f32;
    for (pos, (g, r)) in got.iter().zip(reference).enumerate() {
        assert!(g.iter().all(|v| v.is_finite()), "{what}: non-finite logits at position {pos}");
        worst = worst.max(testkit::max_abs_diff(g, r));
        assert_eq!(testkit::argmax(g), testkit::argmax(r), "{what}: top-1 token differs from reference_f64 at position {pos}");
    }
    assert!(worst <= bound, "{what}: max |logit - reference_f64| = {worst:.4e} > bound {bound:.4e}");
    worst
}

/// Two of our runs on the same input (no float64 reference there): the same top-1 token unless
/// `want`'s two best logits are closer than `tol` (a near-tie that rounding within the standard
/// may flip; then `got`'s pick must be one of those near the top).
pub fn assert_same_top(what: &str, got: &[f32], want: &[f32], tol: f32) {
    let (g, w) = (testkit::argmax(got), testkit::argmax(want));
    if g != w {
        let gap = want[w] - want[g];
        assert!(gap <= tol, "{what}: top-1 token {g} differs from {w} (their logits differ by {gap:.4e} in the comparison run, more than {tol:.4e})");
    }
}
