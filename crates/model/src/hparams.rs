//! RWKV-7 hyper-parameters: sizes from metadata, LoRA ranks from tensor shapes (spec §3.2, §8).

use gguf::GgufFile;

use crate::names::{self, blk, rwkv7 as t, rwkv7_key};
use crate::ModelError;

/// GroupNorm epsilon of the per-head `ln_x` (fixed by every reference implementation, spec §4.6).
pub const GROUP_NORM_EPS: f32 = 64e-5;

/// Sizes of an RWKV-7 model. Ranks come from tensor shapes, never from a table.
#[derive(Clone, Debug, PartialEq)]
pub struct Rwkv7Hparams {
    pub n_embd: usize,
    pub n_layer: usize,
    pub head_size: usize,
    pub n_head: usize,
    pub n_ffn: usize,
    pub n_vocab: usize,
    pub decay_lora_rank: usize,
    pub iclr_lora_rank: usize,
    pub value_lora_rank: usize,
    pub gate_lora_rank: usize,
    pub layer_norm_eps: f32,
    pub group_norm_eps: f32,
}

impl Rwkv7Hparams {
    /// Reads and cross-checks the hyper-parameters of an `rwkv7` file.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, ModelError> {
        let src = file.source_name().to_string();
        let required_u64 = |key: &str| -> Result<usize, ModelError> {
            let key = rwkv7_key(key);
            file.get_u64(&key)?
                .map(|v| v as usize)
                .ok_or(ModelError::MissingKey { file: src.clone(), key })
        };
        let n_embd = required_u64("embedding_length")?;
        let n_layer = required_u64("block_count")?;
        let head_size = required_u64("wkv.head_size")?;
        let eps_key = rwkv7_key("attention.layer_norm_epsilon");
        let layer_norm_eps = file
            .get_f32(&eps_key)?
            .ok_or(ModelError::MissingKey { file: src.clone(), key: eps_key.clone() })?;

        let bad = |key: String, value: String, expected: &str| ModelError::BadKey {
            file: src.clone(),
            key,
            value,
            expected: expected.to_string(),
        };
        if n_embd == 0 {
            return Err(bad(rwkv7_key("embedding_length"), "0".into(), "a positive width"));
        }
        if n_layer == 0 {
            return Err(bad(rwkv7_key("block_count"), "0".into(), "at least one layer"));
        }
        if head_size == 0 || n_embd % head_size != 0 {
            return Err(bad(
                rwkv7_key("wkv.head_size"),
                head_size.to_string(),
                &format!("a positive divisor of embedding_length {n_embd}"),
            ));
        }
        if !(layer_norm_eps.is_finite() && layer_norm_eps > 0.0) {
            return Err(bad(eps_key, layer_norm_eps.to_string(), "a positive finite epsilon"));
        }

        // Shapes decide the vocabulary, FFN width and LoRA ranks.
        let dim = |name: &str, i: usize| -> Result<usize, ModelError> {
            file.tensor(name)
                .map(|info| info.ne(i) as usize)
                .ok_or(ModelError::MissingTensor { file: src.clone(), name: name.to_string() })
        };
        let n_vocab = dim(names::TOKEN_EMBD, 1)?;
        let n_ffn = dim(&blk(0, t::FFN_KEY), 1)?;
        if let Some(declared) = file.get_u64(&rwkv7_key("feed_forward_length"))? {
            if declared as usize != n_ffn {
                return Err(bad(
                    rwkv7_key("feed_forward_length"),
                    declared.to_string(),
                    &format!("{n_ffn} (the rows of {})", blk(0, t::FFN_KEY)),
                ));
            }
        }
        // Layer 0's v1 is a dummy copy of a1, so the value rank comes from layer 1 when there is one.
        let value_layer = if n_layer > 1 { 1 } else { 0 };
        Ok(Rwkv7Hparams {
            n_embd,
            n_layer,
            head_size,
            n_head: n_embd / head_size,
            n_ffn,
            n_vocab,
            decay_lora_rank: dim(&blk(0, t::W1), 1)?,
            iclr_lora_rank: dim(&blk(0, t::A1), 1)?,
            value_lora_rank: dim(&blk(value_layer, t::V1), 1)?,
            gate_lora_rank: dim(&blk(0, t::G1), 1)?,
            layer_norm_eps,
            group_norm_eps: GROUP_NORM_EPS,
        })
    }

    /// f32 values of recurrent state per layer: two token-shift vectors and the WKV matrices.
    pub fn state_len_per_layer(&self) -> usize {
        2 * self.n_embd + self.n_head * self.head_size * self.head_size
    }

    /// Parameters counted from the shapes (matrices and vectors), for display.
    pub fn parameter_count(&self) -> u64 {
        let (c, l, v) = (self.n_embd as u64, self.n_layer as u64, self.n_vocab as u64);
        let ranks = (self.decay_lora_rank + self.iclr_lora_rank + self.value_lora_rank + self.gate_lora_rank) as u64;
        let f = self.n_ffn as u64;
        l * (4 * c * c + 2 * c * f + 2 * c * ranks + 19 * c) + 2 * v * c + 4 * c
    }
}
