//! The whole-model fixtures every backend is checked on, and readers for their JSON files.

use serde_json::Value;

/// Stems of the GGUF model fixtures (`<stem>.gguf` beside `<stem>.json`), every quant type.
pub const MODEL_FIXTURES: &[&str] = &[
    "tiny-rwkv7-834K-F32",
    "tiny-rwkv7-834K-F16",
    "tiny-rwkv7-834K-Q8_0",
    "tiny-rwkv7-834K-Q4_K_M",
    "synth-tiny-k-F32",
    "synth-tiny-k-F16",
    "synth-tiny-k-Q8_0",
    "synth-tiny-k-Q4_0",
    "synth-tiny-k-Q4_1",
    "synth-tiny-k-Q5_0",
    "synth-tiny-k-Q5_1",
    "synth-tiny-k-Q2_K",
    "synth-tiny-k-Q3_K_M",
    "synth-tiny-k-Q4_K_M",
    "synth-tiny-k-Q5_K_M",
    "synth-tiny-k-Q6_K",
];

/// The token sequence of a fixture JSON (`"tokens"`).
pub fn json_tokens(json: &Value) -> Vec<u32> {
    json["tokens"].as_array().expect("tokens").iter().map(|t| t.as_u64().expect("token id") as u32).collect()
}

/// A `[position][vocab]` logits array of a fixture JSON, e.g. `json["reference_f64"]["logits"]`.
pub fn json_logit_rows(v: &Value) -> Vec<Vec<f32>> {
    v.as_array()
        .expect("logits array")
        .iter()
        .map(|r| r.as_array().expect("logit row").iter().map(|x| x.as_f64().expect("number") as f32).collect())
        .collect()
}

/// Max |a − b| over two equally shaped sets of rows.
pub fn max_abs_diff_rows(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "row count mismatch");
    a.iter().zip(b).map(|(x, y)| crate::max_abs_diff(x, y)).fold(0.0, f32::max)
}
