//! GGUF tensor names and metadata keys for RWKV, verbatim as llama.cpp writes them (spec §3.2, §3.3,
//! §3.6), plus aviary's own layouts for RWKV-5 and RWKV-4 (llama.cpp has no such architectures).
//!
//! The `rwkv5` and `rwkv4` layouts reuse llama.cpp's RWKV-6 names wherever a tensor means the same:
//! - metadata: `<arch>.embedding_length`, `.block_count`, `.feed_forward_length`,
//!   `.attention.layer_norm_epsilon`, `.context_length` (placeholder); `rwkv5.wkv.head_size`;
//!   optional `rwkv5.attention.group_norm_epsilon` (default 64e-5, BlinkDL's value; files converted
//!   from rwkv.cpp carry 1e-5, the value rwkv.cpp evaluates with).
//! - per layer: `attn_norm`, `attn_norm_2`, `time_mix_lerp_fused [C,1,1,K]` (K = 4: k, v, r, g for
//!   rwkv5 with a gate, 3: k, v, r otherwise) holding BlinkDL's `time_mix_*` **as stored**
//!   (`x·μ + prev·(1−μ)` convention; the model converts at load), `time_mix_decay [C]` = BlinkDL's raw
//!   `time_decay` (per channel; per-head values repeated over the head), `time_mix_first [C]` = the
//!   bonus u **linear** (`time_faaaa`, or `exp(time_first)` for 5.1) for rwkv5 and BlinkDL's raw
//!   `time_first` for rwkv4, `time_mix_receptance/key/value/output[/gate]`, `time_mix_ln` (rwkv5),
//!   `channel_mix_lerp_fused [C,1,1,2]` (k, r; as stored), `channel_mix_key/receptance/value`.

pub const ARCH_KEY: &str = "general.architecture";

pub const TOKEN_EMBD: &str = "token_embd.weight";
pub const TOKEN_EMBD_NORM: &str = "token_embd_norm";
pub const OUTPUT_NORM: &str = "output_norm";
pub const OUTPUT: &str = "output.weight";

/// `rwkv7.<suffix>` metadata key.
pub fn rwkv7_key(suffix: &str) -> String {
    format!("rwkv7.{suffix}")
}

/// `blk.<layer>.<suffix>`, e.g. `blk(3, "time_mix_key.weight")`.
pub fn blk(layer: usize, suffix: &str) -> String {
    format!("blk.{layer}.{suffix}")
}

/// Per-layer names every version shares.
pub mod common {
    pub const ATTN_NORM: &str = "attn_norm";
    pub const ATTN_NORM_2: &str = "attn_norm_2";
    pub const RECEPTANCE: &str = "time_mix_receptance.weight";
    pub const KEY: &str = "time_mix_key.weight";
    pub const VALUE: &str = "time_mix_value.weight";
    pub const OUTPUT: &str = "time_mix_output.weight";
    pub const LN_X: &str = "time_mix_ln";
    pub const FFN_KEY: &str = "channel_mix_key.weight";
    pub const FFN_VALUE: &str = "channel_mix_value.weight";
}

/// Per-layer RWKV-7 tensor suffixes.
pub mod rwkv7 {
    pub use super::common::{ATTN_NORM, ATTN_NORM_2, FFN_KEY, FFN_VALUE, KEY, LN_X, OUTPUT, RECEPTANCE, VALUE};
    pub const LERP_FUSED: &str = "time_mix_lerp_fused.weight";
    pub const W0: &str = "time_mix_w0.weight";
    pub const W1: &str = "time_mix_w1.weight";
    pub const W2: &str = "time_mix_w2.weight";
    pub const A0: &str = "time_mix_a0.weight";
    pub const A1: &str = "time_mix_a1.weight";
    pub const A2: &str = "time_mix_a2.weight";
    pub const V0: &str = "time_mix_v0.weight";
    pub const V1: &str = "time_mix_v1.weight";
    pub const V2: &str = "time_mix_v2.weight";
    pub const G1: &str = "time_mix_g1.weight";
    pub const G2: &str = "time_mix_g2.weight";
    pub const K_K: &str = "time_mix_k_k.weight";
    pub const K_A: &str = "time_mix_k_a.weight";
    pub const R_K: &str = "time_mix_r_k.weight";
    pub const FFN_LERP_K: &str = "channel_mix_lerp_k.weight";
}

/// Per-layer RWKV-6 tensor suffixes (llama.cpp `src/models/rwkv6.cpp`). Beware: `time_mix_w1/w2`
/// is the token-shift LoRA here, the decay LoRA is `time_mix_decay_w1/w2`.
pub mod rwkv6 {
    pub use super::common::{ATTN_NORM, ATTN_NORM_2, FFN_KEY, FFN_VALUE, KEY, LN_X, OUTPUT, RECEPTANCE, VALUE};
    pub const LERP_X: &str = "time_mix_lerp_x.weight";
    /// `[C,1,1,5]`, order w, k, v, r, g.
    pub const LERP_FUSED: &str = "time_mix_lerp_fused.weight";
    /// Older files: the five lerp vectors separately, in the fused order.
    pub const LERP_SEPARATE: [&str; 5] = [
        "time_mix_lerp_w.weight",
        "time_mix_lerp_k.weight",
        "time_mix_lerp_v.weight",
        "time_mix_lerp_r.weight",
        "time_mix_lerp_g.weight",
    ];
    pub const W1: &str = "time_mix_w1.weight";
    pub const W2: &str = "time_mix_w2.weight";
    pub const DECAY: &str = "time_mix_decay.weight";
    pub const DECAY_W1: &str = "time_mix_decay_w1.weight";
    pub const DECAY_W2: &str = "time_mix_decay_w2.weight";
    pub const FIRST: &str = "time_mix_first.weight";
    pub const GATE: &str = "time_mix_gate.weight";
    pub const FFN_LERP_K: &str = "channel_mix_lerp_k.weight";
    pub const FFN_LERP_R: &str = "channel_mix_lerp_r.weight";
    pub const FFN_RECEPTANCE: &str = "channel_mix_receptance.weight";
}

/// Per-layer RWKV-5 and RWKV-4 suffixes of aviary's layouts (module doc).
pub mod rwkv5 {
    pub use super::common::{ATTN_NORM, ATTN_NORM_2, FFN_KEY, FFN_VALUE, KEY, LN_X, OUTPUT, RECEPTANCE, VALUE};
    pub use super::rwkv6::{DECAY, FFN_RECEPTANCE, FIRST, GATE};
    /// `[C,1,1,K]`: k, v, r (, g) in BlinkDL's `x·μ + prev·(1−μ)` convention.
    pub const LERP_FUSED: &str = "time_mix_lerp_fused.weight";
    /// `[C,1,1,2]`: k, r in the same convention.
    pub const FFN_LERP_FUSED: &str = "channel_mix_lerp_fused.weight";
    /// Optional f32 key: the GroupNorm epsilon (default [`crate::RWKV5_GROUP_NORM_EPS`]).
    pub const GROUP_NORM_EPS_KEY: &str = "attention.group_norm_epsilon";
}
