//! Per-tensor type rules of llama.cpp's tools for RWKV files (spec §2.5): which type the converter
//! (`convert_hf_to_gguf.py`) gives each tensor, which type `llama-quantize` picks for each tensor of a
//! quantization mix, and the tensor order `llama-quantize` writes.
//!
//! What `llama-quantize` (`src/llama-quant.cpp`, `llama_tensor_get_type_impl`) does for RWKV names:
//! its per-category rules key on `attn_v`/`attn_qkv`/`attn_kv_b`/`attn_k`/`attn_q`/`attn_output`/
//! `ffn_up`/`ffn_gate`/`ffn_down` substrings, none of which occur in RWKV names (`time_mix_*`,
//! `channel_mix_*`). So for every K-quant mix (Q2_K, Q3_K_S/M/L, Q4_K_S/M, Q5_K_S/M, Q6_K) the only
//! tensor that differs from the mix's default type is `output.weight` (Q6_K, or Q8_0 when `ne[0]` is
//! not a multiple of the default type's block; a Q8_0 mix keeps Q8_0). The S/M/L variants of one
//! K type therefore produce identical RWKV files apart from `general.file_type`. `token_embd.weight`
//! keeps the default type (its special cases are IQ/TQ mixes only) unless there is no
//! `output.weight` (tied embeddings), where it takes the output rule.

use gguf::GgmlType;

use crate::{ConvertError, FileType};

/// RWKV tensors `llama-quantize` never quantizes (`tensor_allows_quantization`), matched as substrings.
const QUANTIZE_EXCLUDED: &[&str] = &[
    "time_mix_first.weight",
    "time_mix_w0.weight",
    "time_mix_w1.weight",
    "time_mix_w2.weight",
    "time_mix_v0.weight",
    "time_mix_v1.weight",
    "time_mix_v2.weight",
    "time_mix_a0.weight",
    "time_mix_a1.weight",
    "time_mix_a2.weight",
    "time_mix_g1.weight",
    "time_mix_g2.weight",
    "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight",
];

/// Matrices the converter keeps in F32 whatever `--outtype` says (`prepare_tensors` forced list).
const CONVERT_FORCED_F32: &[&str] = &[
    "time_mix_first.weight",
    "time_mix_w1.weight",
    "time_mix_w2.weight",
    "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight",
];

pub const OUTPUT_WEIGHT: &str = "output.weight";
pub const TOKEN_EMBD_WEIGHT: &str = "token_embd.weight";

/// ggml's `ggml_n_dims`: the number of dimensions up to the last one larger than 1 (at least 1).
pub fn ggml_n_dims(dims: &[u64]) -> usize {
    dims.iter().rposition(|&d| d > 1).map_or(1, |i| i + 1)
}

/// Whether `llama-quantize` converts this tensor at all: at least 2 dims, name ends in `weight`, not a
/// `*_norm.weight`, not on the RWKV exclusion list. Other tensors are copied in their stored type.
pub fn allows_quantization(name: &str, dims: &[u64]) -> bool {
    ggml_n_dims(dims) >= 2
        && name.ends_with("weight")
        && !name.contains("_norm.weight")
        && !QUANTIZE_EXCLUDED.iter().any(|x| name.contains(x))
}

/// The type `llama-quantize <in> <out> <ftype>` stores `name` in. `src` is the tensor's type in the
/// input file; `has_output` says whether the file has an `output.weight` (else embeddings are tied).
pub fn quantized_type(
    name: &str,
    dims: &[u64],
    src: GgmlType,
    ftype: FileType,
    has_output: bool,
) -> Result<GgmlType, ConvertError> {
    if !allows_quantization(name, dims) {
        return Ok(src);
    }
    let default = ftype.default_type();
    if ftype.is_float() {
        // Float targets skip the mix rules and the shape fallbacks.
        return Ok(default);
    }
    let ne0 = dims[0];
    let is_output = name == OUTPUT_WEIGHT || (!has_output && name == TOKEN_EMBD_WEIGHT);
    let mut ty = default;
    if is_output {
        if ne0 % default.block_size() as u64 != 0 {
            ty = GgmlType::Q8_0;
        } else if ty != GgmlType::Q8_0 {
            ty = GgmlType::Q6_K;
        }
    }
    shape_fallback(name, ne0, ty)
}

/// `tensor_type_fallback`: a type whose block does not divide `ne[0]` is replaced by a 32-element
/// type, and by F16 if even that does not fit. Types without a defined fallback are an error.
fn shape_fallback(name: &str, ne0: u64, ty: GgmlType) -> Result<GgmlType, ConvertError> {
    if ne0 % ty.block_size() as u64 == 0 {
        return Ok(ty);
    }
    let fallback = match ty {
        GgmlType::Q2_K | GgmlType::Q3_K => GgmlType::Q4_0,
        GgmlType::Q4_K => GgmlType::Q5_0,
        GgmlType::Q5_K => GgmlType::Q5_1,
        GgmlType::Q6_K => GgmlType::Q8_0,
        _ => {
            return Err(ConvertError::NoFallback {
                tensor: name.to_string(),
                ne0,
                ty,
            })
        }
    };
    if ne0 % fallback.block_size() as u64 != 0 {
        return Ok(GgmlType::F16);
    }
    Ok(fallback)
}

/// The type the converter (`--outtype f32|f16|bf16`) gives a tensor: F32 for vectors, norms,
/// non-`.weight` tensors and the forced list; `outtype`'s type for every other matrix.
pub fn conversion_type(name: &str, dims: &[u64], outtype: FileType) -> GgmlType {
    let float = match outtype {
        FileType::BF16 => GgmlType::BF16,
        FileType::F32 => return GgmlType::F32,
        _ => GgmlType::F16,
    };
    let keep_f32 = dims.len() <= 1
        || name.ends_with("_norm.weight")
        || !name.ends_with(".weight")
        || CONVERT_FORCED_F32.iter().any(|x| name.ends_with(x));
    if keep_f32 {
        GgmlType::F32
    } else {
        float
    }
}

/// Sort key of `llama-quantize`'s output order (the model loader's weight map): tensors outside
/// blocks first, then by block number, then by name bytes.
pub fn quantize_order_key(name: &str) -> (i64, &str) {
    let layer = name
        .strip_prefix("blk.")
        .and_then(|rest| rest.split('.').next())
        .and_then(|n| n.parse::<i64>().ok())
        .unwrap_or(-1);
    (layer, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_dims_ignores_trailing_ones() {
        assert_eq!(ggml_n_dims(&[256]), 1);
        assert_eq!(ggml_n_dims(&[256, 1, 1]), 1);
        assert_eq!(ggml_n_dims(&[256, 1, 1, 6]), 4);
        assert_eq!(ggml_n_dims(&[1, 1]), 1);
    }

    #[test]
    fn output_and_fallbacks() {
        let q = |name: &str, dims: &[u64], ft| quantized_type(name, dims, GgmlType::F16, ft, true).unwrap();
        assert_eq!(q("output.weight", &[256, 512], FileType::Q4_K_M), GgmlType::Q6_K);
        assert_eq!(q("output.weight", &[64, 256], FileType::Q4_K_M), GgmlType::Q8_0);
        assert_eq!(q("output.weight", &[64, 256], FileType::Q4_0), GgmlType::Q8_0);
        assert_eq!(q("output.weight", &[256, 256], FileType::Q4_0), GgmlType::Q6_K);
        assert_eq!(q("output.weight", &[256, 256], FileType::Q8_0), GgmlType::Q8_0);
        assert_eq!(q("blk.0.time_mix_key.weight", &[64, 64], FileType::Q4_K_M), GgmlType::Q5_0);
        assert_eq!(q("blk.0.time_mix_key.weight", &[64, 64], FileType::Q5_K_S), GgmlType::Q5_1);
        assert_eq!(q("blk.0.time_mix_key.weight", &[64, 64], FileType::Q3_K_M), GgmlType::Q4_0);
        assert_eq!(q("blk.0.time_mix_key.weight", &[48, 64], FileType::Q4_K_M), GgmlType::F16);
        assert_eq!(q("blk.0.time_mix_a1.weight", &[256, 32], FileType::Q4_K_M), GgmlType::F16);
        assert_eq!(q("blk.0.attn_norm.weight", &[256], FileType::Q4_K_M), GgmlType::F16);
        assert_eq!(q("blk.0.time_mix_key.weight", &[256, 256], FileType::F32), GgmlType::F32);
        assert!(quantized_type("x.weight", &[48, 2], GgmlType::F16, FileType::Q8_0, true).is_err());
        // Tied embeddings: token_embd takes the output rule.
        assert_eq!(
            quantized_type("token_embd.weight", &[256, 512], GgmlType::F16, FileType::Q4_K_M, false).unwrap(),
            GgmlType::Q6_K
        );
    }

    #[test]
    fn order_puts_globals_first_and_blocks_numerically() {
        let mut names = vec!["blk.10.a.weight", "blk.2.b.weight", "output.weight", "blk.2.a.weight", "output_norm.bias"];
        names.sort_by(|a, b| quantize_order_key(a).cmp(&quantize_order_key(b)));
        assert_eq!(names, ["output.weight", "output_norm.bias", "blk.2.a.weight", "blk.2.b.weight", "blk.10.a.weight"]);
    }
}
