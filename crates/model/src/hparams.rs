//! Hyper-parameters of every RWKV version: sizes from metadata, ranks from tensor shapes (spec §3.2,
//! §3.6, §8), cross-checked against each other.

use gguf::GgufFile;

use crate::names::{self, blk, common};
use crate::{Architecture, ModelError};

/// GroupNorm epsilon of the per-head `ln_x` of RWKV-7 and RWKV-6 (fixed by every reference
/// implementation, spec §4.6).
pub const GROUP_NORM_EPS: f32 = 64e-5;

/// RWKV-5's default GroupNorm epsilon (BlinkDL, ChatRWKV, web-rwkv; spec §5.3). Files converted from
/// rwkv.cpp carry `rwkv5.attention.group_norm_epsilon = 1e-5` instead (what rwkv.cpp computes with).
pub const RWKV5_GROUP_NORM_EPS: f32 = 64e-5;

/// Sizes of an RWKV model. Ranks come from tensor shapes, never from a table. Fields that a version
/// does not have are 0.
#[derive(Clone, Debug, PartialEq)]
pub struct Hparams {
    pub arch: Architecture,
    pub n_embd: usize,
    pub n_layer: usize,
    /// WKV head size N (v5–v7); 0 for RWKV-4, which has no heads.
    pub head_size: usize,
    pub n_head: usize,
    pub n_ffn: usize,
    pub n_vocab: usize,
    /// RWKV-7: the decay LoRA; RWKV-6: the decay LoRA (`time_decay_extra_dim`).
    pub decay_lora_rank: usize,
    pub iclr_lora_rank: usize,
    pub value_lora_rank: usize,
    pub gate_lora_rank: usize,
    /// RWKV-6: the rank of each of the five token-shift LoRAs (`time_mix_extra_dim`).
    pub token_shift_lora_rank: usize,
    /// RWKV-6: the residual stream is halved after every R-th layer (weights were pre-divided, spec
    /// §3.6); 0 = never.
    pub rescale_every_n_layers: usize,
    pub layer_norm_eps: f32,
    /// Epsilon of the per-head GroupNorm (`ln_x`), unused by RWKV-4. Overridable per file with
    /// `<arch>.attention.group_norm_epsilon`.
    pub group_norm_eps: f32,
    /// Parameters in the file, without RWKV-7's unused layer-0 `v0/v1/v2` copies.
    pub n_params: u64,
}

/// The historic name, from when aviary ran RWKV-7 only.
pub type Rwkv7Hparams = Hparams;

impl Hparams {
    /// Reads and cross-checks the hyper-parameters of a file of any supported architecture.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, ModelError> {
        let arch = crate::load::architecture_of(file)?;
        let mut hp = Hparams::common(file, arch)?;
        match arch {
            Architecture::Rwkv7 => crate::rwkv7::read_hparams(file, &mut hp)?,
            Architecture::Rwkv6 => crate::rwkv6::read_hparams(file, &mut hp)?,
            Architecture::Rwkv5 => crate::rwkv5::read_hparams(file, &mut hp)?,
            Architecture::Rwkv4 => {}
        }
        Ok(hp)
    }

    /// The keys and shapes every version shares.
    fn common(file: &GgufFile, arch: Architecture) -> Result<Self, ModelError> {
        let src = file.source_name().to_string();
        let required_u64 = |key: &str| -> Result<usize, ModelError> {
            let key = arch.key(key);
            file.get_u64(&key)?.map(|v| v as usize).ok_or(ModelError::MissingKey { file: src.clone(), key })
        };
        let n_embd = required_u64("embedding_length")?;
        let n_layer = required_u64("block_count")?;
        let eps_key = arch.key("attention.layer_norm_epsilon");
        let layer_norm_eps = file.get_f32(&eps_key)?.ok_or(ModelError::MissingKey { file: src.clone(), key: eps_key.clone() })?;
        let bad = |key: String, value: String, expected: &str| ModelError::BadKey {
            file: src.clone(),
            key,
            value,
            expected: expected.to_string(),
        };
        if n_embd == 0 {
            return Err(bad(arch.key("embedding_length"), "0".into(), "a positive width"));
        }
        if n_layer == 0 {
            return Err(bad(arch.key("block_count"), "0".into(), "at least one layer"));
        }
        if !(layer_norm_eps.is_finite() && layer_norm_eps > 0.0) {
            return Err(bad(eps_key, layer_norm_eps.to_string(), "a positive finite epsilon"));
        }
        let (head_size, default_gn_eps) = match arch {
            Architecture::Rwkv4 => (0, GROUP_NORM_EPS),
            Architecture::Rwkv5 => (required_u64("wkv.head_size")?, RWKV5_GROUP_NORM_EPS),
            _ => (required_u64("wkv.head_size")?, GROUP_NORM_EPS),
        };
        if arch != Architecture::Rwkv4 && (head_size == 0 || n_embd % head_size != 0) {
            return Err(bad(
                arch.key("wkv.head_size"),
                head_size.to_string(),
                &format!("a positive divisor of embedding_length {n_embd}"),
            ));
        }
        let gn_key = arch.key(names::rwkv5::GROUP_NORM_EPS_KEY);
        let group_norm_eps = file.get_f32(&gn_key)?.unwrap_or(default_gn_eps);
        if !(group_norm_eps.is_finite() && group_norm_eps > 0.0) {
            return Err(bad(gn_key, group_norm_eps.to_string(), "a positive finite epsilon"));
        }

        // Shapes decide the vocabulary and the FFN width.
        let n_vocab = tensor_dim(file, names::TOKEN_EMBD, 1)?;
        let n_ffn = tensor_dim(file, &blk(0, common::FFN_KEY), 1)?;
        if let Some(declared) = file.get_u64(&arch.key("feed_forward_length"))? {
            if declared as usize != n_ffn {
                return Err(bad(
                    arch.key("feed_forward_length"),
                    declared.to_string(),
                    &format!("{n_ffn} (the rows of {})", blk(0, common::FFN_KEY)),
                ));
            }
        }
        let dummies = ["time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight"].map(|s| blk(0, s));
        let n_params = file
            .tensors()
            .iter()
            .filter(|t| arch != Architecture::Rwkv7 || !dummies.contains(&t.name))
            .map(|t| t.n_elements())
            .sum();
        Ok(Hparams {
            arch,
            n_embd,
            n_layer,
            head_size,
            n_head: n_embd.checked_div(head_size).unwrap_or(0),
            n_ffn,
            n_vocab,
            decay_lora_rank: 0,
            iclr_lora_rank: 0,
            value_lora_rank: 0,
            gate_lora_rank: 0,
            token_shift_lora_rank: 0,
            rescale_every_n_layers: 0,
            layer_norm_eps,
            group_norm_eps,
            n_params,
        })
    }

    /// Values of WKV state per channel: the head size (v5–v7), or RWKV-4's three (aa, bb, pp).
    pub fn wkv_values_per_channel(&self) -> usize {
        match self.arch {
            Architecture::Rwkv4 => 3,
            _ => self.head_size,
        }
    }

    /// The WKV state of one layer as `[rows, cols]`: `[n_head, N·N]`, or `[3, C]` for RWKV-4.
    pub fn wkv_state_shape(&self) -> (usize, usize) {
        match self.arch {
            Architecture::Rwkv4 => (3, self.n_embd),
            _ => (self.n_head, self.head_size * self.head_size),
        }
    }

    /// f32 values of recurrent state per layer: two token-shift vectors and the WKV state.
    pub fn state_len_per_layer(&self) -> usize {
        2 * self.n_embd + self.n_embd * self.wkv_values_per_channel()
    }

    /// Parameters of the model (from the file's tensor shapes), for display.
    pub fn parameter_count(&self) -> u64 {
        self.n_params
    }
}

/// `ne[i]` of a tensor that must exist.
pub(crate) fn tensor_dim(file: &GgufFile, name: &str, i: usize) -> Result<usize, ModelError> {
    file.tensor(name)
        .map(|info| info.ne(i) as usize)
        .ok_or_else(|| ModelError::MissingTensor { file: file.source_name().to_string(), name: name.to_string() })
}
