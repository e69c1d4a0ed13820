//! The crate's one error type.

use gguf::GgmlType;

#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    #[error(
        "tensor type {ty} is not supported (aviary computes on F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, \
         Q8_0, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K)"
    )]
    Unsupported { ty: GgmlType },

    #[error(
        "{ty} row of {elements} elements is not a whole number of {block_size}-element blocks"
    )]
    PartialBlock {
        ty: GgmlType,
        elements: usize,
        block_size: usize,
    },

    #[error("{ty} row of {elements} elements: {what} has length {found}, expected {expected}")]
    Length {
        ty: GgmlType,
        elements: usize,
        what: &'static str,
        expected: usize,
        found: usize,
    },

    #[error("{ty} row of {elements} elements needs more bytes than fit in usize")]
    TooLarge { ty: GgmlType, elements: usize },

    #[error("SIMD level {isa} is not supported by this CPU (best available: {best})")]
    IsaUnsupported { isa: &'static str, best: &'static str },

    #[error("AMX BF16 tiles are not usable here (CPU lacks AMX-BF16, the OS refused the tile state, or AVIARY_AMX=0 / AVIARY_SIMD below avx512)")]
    AmxUnavailable,

    #[error("AMX matmul for {ty}: {what} has {found} elements, expected {expected}")]
    AmxLength {
        ty: GgmlType,
        what: &'static str,
        expected: usize,
        found: usize,
    },

    #[error("fast kernel for {ty}: {what} has {found} bytes, expected {expected}")]
    TileLength {
        ty: GgmlType,
        what: &'static str,
        expected: usize,
        found: usize,
    },
}
