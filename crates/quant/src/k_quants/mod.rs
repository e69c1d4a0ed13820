//! K-quants: 256-element super-blocks with per-sub-block scales (spec §2.3).
//!
//! Quantizers follow ggml's reference (`quantize_row_*_ref`, no importance weights); the shared scale
//! searches live in `search`.

pub mod q2_k;
pub mod q3_k;
pub mod q4_k;
pub mod q5_k;
pub mod q6_k;
pub mod q8_k;

pub(crate) mod scale_min;
mod search;

/// Elements per super-block.
pub const QK_K: usize = 256;
