//! rwkv.cpp's legacy files as GGUF: `model::legacy` maps the tensors; this adds the vocabulary the
//! legacy format does not carry (byte-level for 256-token models, RWKV World for 65536-token ones)
//! and, for `aviary convert --type`, re-types the tensors with llama-quantize's rules.

use std::path::Path;

use convert::rules::{allows_quantization, quantized_type};
use convert::{escape_token, FileType, WorldVocab};
use gguf::{GgmlType, GgufFile, GgufWriter, Value, ValueType};
use model::legacy::{self, LegacyFile, LegacyOptions};

use crate::LoadError;

/// `tokenizer.ggml.token_type` values (llama.cpp).
const NORMAL: i32 = 1;
const CONTROL: i32 = 3;

/// The GGUF of a legacy file, with a vocabulary where one is known for its size.
/// A BlinkDL `.pth` checkpoint (told by its zip magic) goes through `model::pth` first.
pub fn legacy_to_gguf(path: &Path, opts: &LegacyOptions) -> Result<GgufWriter, LoadError> {
    let file = open_legacy_file(path)?;
    let mut w = legacy::to_gguf(&file, opts)?;
    add_vocabulary(&mut w, file.n_vocab)?;
    Ok(w)
}

/// An rwkv.cpp file, or a `.pth` checkpoint read into the same form.
pub fn open_legacy_file(path: &Path) -> Result<LegacyFile, LoadError> {
    if model::pth::is_pth_file(path) {
        Ok(model::pth::open(path)?)
    } else {
        Ok(LegacyFile::open(path)?)
    }
}

/// Opens a legacy file as an in-memory GGUF (about twice the model's size in memory while loading).
pub fn open_legacy(path: &Path, opts: &LegacyOptions) -> Result<GgufFile, LoadError> {
    Ok(GgufFile::from_bytes(legacy_to_gguf(path, opts)?.to_bytes())?)
}

/// rwkv.cpp's tiny test models use bytes as ids (`<s>` at 0 as the fixtures' GGUFs do); 65536 rows
/// are the World vocabulary. Other sizes get no vocabulary (the model runs on token ids).
fn add_vocabulary(w: &mut GgufWriter, n_vocab: usize) -> Result<(), LoadError> {
    let (tokens, types): (Vec<String>, Vec<i32>) = match n_vocab {
        256 => (0..256u32)
            .map(|id| if id == 0 { ("<s>".to_string(), CONTROL) } else { (escape_token(&[id as u8]), NORMAL) })
            .unzip(),
        convert::WORLD_N_VOCAB => {
            let cache = convert::cache_dir().map_err(|e| LoadError::Synth(e.to_string()))?;
            let vocab = WorldVocab::load(&cache).map_err(|e| LoadError::Synth(e.to_string()))?;
            w.add_kv("tokenizer.ggml.eot_token_id", Value::U32(261));
            vocab.gguf_tokens(n_vocab)
        }
        _ => return Ok(()),
    };
    w.add_kv("tokenizer.ggml.model", Value::String("rwkv".into()));
    w.add_kv("tokenizer.ggml.tokens", Value::Array(ValueType::String, tokens.into_iter().map(Value::String).collect()));
    w.add_kv("tokenizer.ggml.token_type", Value::Array(ValueType::I32, types.into_iter().map(Value::I32).collect()));
    w.add_kv("tokenizer.ggml.bos_token_id", Value::U32(0));
    w.add_kv("tokenizer.ggml.eos_token_id", Value::U32(0));
    w.add_kv("tokenizer.chat_template", Value::String(convert::RWKV_WORLD_CHAT_TEMPLATE.into()));
    Ok(())
}

/// Re-types the tensors of `file` (not RWKV-7: that goes through `convert::quantize`, exactly as
/// llama-quantize) with llama-quantize's per-tensor rules, keeping every lerp tensor as it is
/// (aviary's `rwkv5`/`rwkv4` layouts add `channel_mix_lerp_fused`, which the rules do not list).
pub fn retype(file: &GgufFile, ftype: FileType) -> Result<GgufWriter, anyhow::Error> {
    let mut w = GgufWriter::new();
    for (k, v) in convert::quantized_metadata(file.metadata(), ftype) {
        w.add_kv(k, v);
    }
    let has_output = file.tensor("output.weight").is_some();
    for t in file.tensors() {
        let keep = t.name.contains("lerp") || !allows_quantization(&t.name, &t.dims);
        let is_float = |ty: GgmlType| matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16);
        let ty = if !keep {
            quantized_type(&t.name, &t.dims, t.ty, ftype, has_output)?
        } else if ftype.is_float() && !is_float(t.ty) {
            // A float target leaves nothing quantized, the LoRAs rwkv.cpp quantized included.
            ftype.default_type()
        } else {
            t.ty
        };
        let src = file.tensor_data(t);
        let data = if ty == t.ty {
            src.to_vec()
        } else {
            let cols = t.dims[0] as usize;
            let (src_row, dst_row) = (quant::row_bytes(t.ty, cols)?, quant::row_bytes(ty, cols)?);
            let mut row = vec![0f32; cols];
            let mut out = vec![0u8; src.len() / src_row * dst_row];
            for (s, d) in src.chunks_exact(src_row).zip(out.chunks_exact_mut(dst_row)) {
                quant::dequantize_row(t.ty, s, &mut row)?;
                quant::quantize_row(ty, &row, d)?;
            }
            out
        };
        w.add_tensor(t.name.clone(), &t.dims, ty, data)?;
    }
    Ok(w)
}
