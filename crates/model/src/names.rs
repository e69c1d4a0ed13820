//! GGUF tensor names and metadata keys for RWKV, verbatim as llama.cpp writes them (spec §3.2, §3.3).

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

/// Per-layer RWKV-7 tensor suffixes.
pub mod rwkv7 {
    pub const ATTN_NORM: &str = "attn_norm";
    pub const ATTN_NORM_2: &str = "attn_norm_2";
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
    pub const RECEPTANCE: &str = "time_mix_receptance.weight";
    pub const KEY: &str = "time_mix_key.weight";
    pub const VALUE: &str = "time_mix_value.weight";
    pub const OUTPUT: &str = "time_mix_output.weight";
    pub const LN_X: &str = "time_mix_ln";
    pub const FFN_LERP_K: &str = "channel_mix_lerp_k.weight";
    pub const FFN_KEY: &str = "channel_mix_key.weight";
    pub const FFN_VALUE: &str = "channel_mix_value.weight";
}
