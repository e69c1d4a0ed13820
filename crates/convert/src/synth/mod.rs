//! Deterministic synthetic RWKV-7 models with the World vocabulary, written exactly like llama.cpp's
//! converter (metadata keys and order, tensor names, shapes, order and types) and, for quantized
//! types, exactly like `llama-quantize` run on the F16 conversion.
//!
//! Values are generated in f32 per row (see [`init`]), rounded to F16 where the F16 conversion would
//! store F16, then encoded with the per-tensor types of [`crate::rules`]. Nothing but the tensors in
//! flight is held in memory, so the 7.2B preset can be written on a machine with a few GB of RAM.

pub mod init;
mod tensors;

use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use gguf::{GgmlType, Value, ValueType};

use crate::chat_template::RWKV_WORLD_CHAT_TEMPLATE;
use crate::report::{TensorSummary, WriteReport};
use crate::rules::{conversion_type, quantized_type};
use crate::write::{encode_rows, write_gguf, Plan};
use crate::{quantize, ConvertError, FileType, WorldVocab, WriteOptions};

pub use tensors::{synth_tensors, SynthTensor};

/// Bumped whenever generated values or layout change; part of cached file names.
pub const GENERATOR_VERSION: u32 = 1;

/// The size and seed of a synthetic RWKV-7 model. Head size 64 and FFN = 4C for every preset; fields
/// are public so tests can build smaller variants (e.g. a truncated vocabulary).
#[derive(Clone, Debug, PartialEq)]
pub struct SynthSpec {
    /// Goes into `general.name` ("Rwkv7 Synthetic <label>").
    pub label: String,
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_ffn: usize,
    pub head_size: usize,
    pub decay_lora_rank: usize,
    pub iclr_lora_rank: usize,
    pub value_lora_rank: usize,
    pub gate_lora_rank: usize,
    pub n_vocab: usize,
    pub seed: u64,
}

/// The named synthetic models: `tiny` for tests, and the released RWKV-7 sizes (spec §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    Tiny,
    B0_1,
    B0_4,
    B1_5,
    B2_9,
    B7_2,
}

/// (preset, name, n_layer, n_embd, decay, iclr, value, gate ranks)
const PRESETS: &[(Preset, &str, usize, usize, [usize; 4])] = &[
    (Preset::Tiny, "tiny", 2, 256, [32, 32, 32, 64]),
    (Preset::B0_1, "0.1b", 12, 768, [64, 64, 32, 128]),
    (Preset::B0_4, "0.4b", 24, 1024, [64, 64, 32, 128]),
    (Preset::B1_5, "1.5b", 24, 2048, [96, 96, 64, 256]),
    (Preset::B2_9, "2.9b", 32, 2560, [96, 96, 64, 320]),
    (Preset::B7_2, "7.2b", 32, 4096, [128, 128, 96, 480]),
];

impl Preset {
    fn entry(self) -> &'static (Preset, &'static str, usize, usize, [usize; 4]) {
        PRESETS.iter().find(|e| e.0 == self).expect("every preset is in PRESETS")
    }

    pub fn all() -> impl Iterator<Item = Preset> {
        PRESETS.iter().map(|e| e.0)
    }

    pub fn name(self) -> &'static str {
        self.entry().1
    }

    pub fn valid_names() -> String {
        Self::all().map(Preset::name).collect::<Vec<_>>().join(", ")
    }

    /// Case-insensitive preset name.
    pub fn parse(name: &str) -> Result<Preset, ConvertError> {
        PRESETS
            .iter()
            .find(|e| e.1.eq_ignore_ascii_case(name))
            .map(|e| e.0)
            .ok_or_else(|| ConvertError::UnknownPreset { name: name.to_string(), valid: Self::valid_names() })
    }

    /// The model: World vocabulary (65536 ids), head size 64, FFN 4C, seed 0.
    pub fn spec(self) -> SynthSpec {
        let &(_, name, n_layer, n_embd, [dw, da, dv, dg]) = self.entry();
        SynthSpec {
            label: name.to_string(),
            n_layer,
            n_embd,
            n_ffn: 4 * n_embd,
            head_size: 64,
            decay_lora_rank: dw,
            iclr_lora_rank: da,
            value_lora_rank: dv,
            gate_lora_rank: dg,
            n_vocab: crate::vocab::WORLD_N_VOCAB,
            seed: 0,
        }
    }
}

impl FromStr for Preset {
    type Err = ConvertError;
    fn from_str(s: &str) -> Result<Self, ConvertError> {
        Preset::parse(s)
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl SynthSpec {
    /// Parameters as gguf-py counts them: every element of every written tensor.
    pub fn parameter_count(&self) -> u64 {
        synth_tensors(self).iter().map(|t| t.dims.iter().product::<u64>()).sum()
    }

    /// The f32 values of one tensor before any rounding, or `None` for an unknown name.
    pub fn tensor_values(&self, name: &str) -> Option<Vec<f32>> {
        let t = synth_tensors(self).into_iter().find(|t| t.name == name)?;
        let mut v = vec![0f32; t.dims.iter().product::<u64>() as usize];
        init::fill_rows(t.init, init::tensor_seed(self.seed, &t.seed_name), 0, t.dims[0] as usize, &mut v);
        Some(v)
    }
}

/// gguf-py's `size_label`: parameters with at least two significant digits and a K/M/B/T suffix.
pub fn size_label(params: u64) -> String {
    let p = params as f64;
    let (scaled, suffix) = if p > 1e12 {
        (p * 1e-12, "T")
    } else if p > 1e9 {
        (p * 1e-9, "B")
    } else if p > 1e6 {
        (p * 1e-6, "M")
    } else {
        (p * 1e-3, "K")
    };
    let digits = (scaled.round() as u64).to_string().trim_start_matches('0').len();
    let decimals = 2usize.saturating_sub(digits);
    format!("{scaled:.decimals$}{suffix}")
}

/// The metadata llama.cpp's converter writes, in its order, for `general.file_type = file_type`.
fn converter_metadata(spec: &SynthSpec, vocab: &WorldVocab, file_type: u32) -> Vec<(String, Value)> {
    let u32v = |v: usize| Value::U32(v as u32);
    let s = |v: &str| Value::String(v.to_string());
    let (tokens, types) = vocab.gguf_tokens(spec.n_vocab);
    let mut md: Vec<(&str, Value)> = vec![
        ("general.architecture", s("rwkv7")),
        ("general.type", s("model")),
        ("general.name", s(&format!("Rwkv7 Synthetic {}", spec.label))),
        ("general.size_label", s(&size_label(spec.parameter_count()))),
        ("rwkv7.context_length", u32v(1 << 20)),
        ("rwkv7.embedding_length", u32v(spec.n_embd)),
        ("rwkv7.block_count", u32v(spec.n_layer)),
        ("rwkv7.attention.layer_norm_epsilon", Value::F32(1e-5)),
        ("rwkv7.wkv.head_size", u32v(spec.head_size)),
        ("rwkv7.attention.decay_lora_rank", u32v(spec.decay_lora_rank)),
        ("rwkv7.attention.iclr_lora_rank", u32v(spec.iclr_lora_rank)),
        ("rwkv7.attention.value_residual_mix_lora_rank", u32v(spec.value_lora_rank)),
        ("rwkv7.attention.gate_lora_rank", u32v(spec.gate_lora_rank)),
        ("rwkv7.feed_forward_length", u32v(spec.n_ffn)),
        ("general.file_type", Value::U32(file_type)),
        ("rwkv7.attention.head_count", Value::U32(0)),
        ("general.quantization_version", Value::U32(2)),
        ("tokenizer.ggml.model", s("rwkv")),
        (
            "tokenizer.ggml.tokens",
            Value::Array(ValueType::String, tokens.into_iter().map(Value::String).collect()),
        ),
        (
            "tokenizer.ggml.token_type",
            Value::Array(ValueType::I32, types.into_iter().map(Value::I32).collect()),
        ),
    ];
    // "\n\n" ends a chat turn; the converter sets it only when the vocabulary has that token.
    if spec.n_vocab > 261 {
        md.push(("tokenizer.ggml.eot_token_id", Value::U32(261)));
    }
    md.push(("tokenizer.ggml.bos_token_id", Value::U32(0)));
    md.push(("tokenizer.ggml.eos_token_id", Value::U32(0)));
    md.push(("tokenizer.chat_template", s(RWKV_WORLD_CHAT_TEMPLATE)));
    md.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// One planned tensor: what to generate, the type its values are rounded through (the F16
/// conversion's type), and the stored type.
struct Job {
    tensor: SynthTensor,
    via: GgmlType,
    ty: GgmlType,
}

/// Generates `spec` at `ftype` into `out`. Float types are laid out like the converter's output;
/// quantized types like `llama-quantize` applied to the F16 conversion (tensor order, metadata with
/// `general.quantization_version` and `general.file_type` last, per-tensor types).
pub fn write_synth(
    spec: &SynthSpec,
    vocab: &WorldVocab,
    ftype: FileType,
    out: &Path,
    opts: &WriteOptions,
) -> Result<WriteReport, ConvertError> {
    let tensors = synth_tensors(spec);
    let mut jobs: Vec<Job> = Vec::with_capacity(tensors.len());
    let metadata = if ftype.is_float() {
        for t in tensors {
            let ty = conversion_type(&t.name, &t.dims, ftype);
            jobs.push(Job { tensor: t, via: ty, ty });
        }
        converter_metadata(spec, vocab, ftype.id())
    } else {
        for t in tensors {
            let via = conversion_type(&t.name, &t.dims, FileType::F16);
            let ty = quantized_type(&t.name, &t.dims, via, ftype, true)?;
            jobs.push(Job { tensor: t, via, ty });
        }
        quantize::sort_like_llama_quantize(&mut jobs, |j| &j.tensor.name);
        quantize::quantized_metadata(&converter_metadata(spec, vocab, FileType::F16.id()), ftype)
    };
    let plan = Plan {
        metadata,
        tensors: jobs.iter().map(|j| (j.tensor.name.clone(), j.tensor.dims.clone(), j.ty)).collect(),
    };
    let produce = |i: usize| -> Result<Cow<'static, [u8]>, ConvertError> {
        let job = &jobs[i];
        let t = &job.tensor;
        let seed = init::tensor_seed(spec.seed, &t.seed_name);
        let ne0 = t.dims[0] as usize;
        let bytes = encode_rows(&t.name, &t.dims, job.ty, |first_row, buf| {
            init::fill_rows(t.init, seed, first_row, ne0, buf);
            round_through(job.via, buf);
            Ok(())
        })?;
        Ok(Cow::Owned(bytes))
    };
    crate::threads::run(opts.threads, || write_gguf(&plan, out, opts.force, opts.progress, produce))?;

    let tensors = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| TensorSummary {
            name: j.tensor.name.clone(),
            dims: j.tensor.dims.clone(),
            from: GgmlType::F32,
            to: j.ty,
            bytes_in: j.tensor.dims.iter().product::<u64>() * 4,
            bytes_out: plan.tensor_bytes(i),
        })
        .collect();
    Ok(WriteReport { path: out.to_path_buf(), file_type: ftype, tensors, warnings: Vec::new() })
}

/// Rounds values to what a tensor of type `via` can hold (F16/BF16), as the conversion step would.
fn round_through(via: GgmlType, values: &mut [f32]) {
    match via {
        GgmlType::F16 => values.iter_mut().for_each(|v| *v = half::f16::from_f32(*v).to_f32()),
        GgmlType::BF16 => values.iter_mut().for_each(|v| *v = half::bf16::from_f32(*v).to_f32()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_labels_like_gguf_py() {
        assert_eq!(size_label(2_009_600), "2.0M");
        assert_eq!(size_label(834_048), "834K");
        assert_eq!(size_label(191_000_000), "191M");
        assert_eq!(size_label(1_528_000_000), "1.5B");
        assert_eq!(size_label(7_200_000_000), "7.2B");
    }

    #[test]
    fn presets_parse_and_have_world_vocab() {
        for p in Preset::all() {
            assert_eq!(Preset::parse(&p.name().to_uppercase()).unwrap(), p);
            let s = p.spec();
            assert_eq!((s.n_vocab, s.head_size, s.n_ffn), (65536, 64, 4 * s.n_embd));
        }
        let err = Preset::parse("3b").unwrap_err().to_string();
        assert!(err.contains("'3b'") && err.contains("tiny, 0.1b, 0.4b, 1.5b, 2.9b, 7.2b"), "{err}");
    }

    #[test]
    fn parameter_counts_match_the_spec_table() {
        // Spec §8 counts L·(12C² + 2C(Dw+Da+Dv+Dg) + 19C) + 2VC + 4C; layer 0's dummy v1/v2 have the
        // iclr rank instead of the value rank, hence the correction.
        for p in Preset::all() {
            let s = p.spec();
            let (c, l, v) = (s.n_embd as u64, s.n_layer as u64, s.n_vocab as u64);
            let ranks = (s.decay_lora_rank + s.iclr_lora_rank + s.value_lora_rank + s.gate_lora_rank) as u64;
            let formula = l * (12 * c * c + 2 * c * ranks + 19 * c) + 2 * v * c + 4 * c;
            let dummy = 2 * c * (s.iclr_lora_rank as u64) - 2 * c * (s.value_lora_rank as u64);
            assert_eq!(s.parameter_count(), formula + dummy, "{p}");
        }
    }
}
