//! rwkv.cpp tensors → the GGUF layouts the model loads: llama.cpp's `rwkv7` and `rwkv6`, aviary's
//! `rwkv5` and `rwkv4` (`crate::names`). Matrices keep their stored type and bytes; the few
//! parameters rwkv.cpp's converter transformed are transformed back (spec §7):
//! v5 `time_decay` was stored as `exp(−exp(d))` → `d = ln(−ln(w))`; v5.1 `time_first` as `exp(f)`
//! (kept: the `rwkv5` layout holds u linear); v4 `time_decay` as `−exp(d)` → `d = ln(−w)`.

use gguf::{GgmlType, GgufWriter, Value};

use super::file::{LegacyFile, LegacyTensor};
use super::LegacyVersion;
use crate::names::{self, blk, rwkv5 as t5, rwkv6 as t6, rwkv7 as t7};
use crate::{Architecture, ModelError};

/// Choices a legacy file cannot carry itself.
#[derive(Clone, Debug, Default)]
pub struct LegacyOptions {
    /// RWKV-5 GroupNorm epsilon written to the GGUF; `None` = 1e-5, what rwkv.cpp computes with
    /// (and what its tiny test models need). BlinkDL's value for real checkpoints is 64e-5.
    pub rwkv5_group_norm_eps: Option<f32>,
}

/// rwkv.cpp's GroupNorm epsilon for RWKV-5 (spec §5.3).
pub const RWKV_CPP_GROUP_NORM_EPS: f32 = 1e-5;

struct Builder<'a> {
    f: &'a LegacyFile,
    w: GgufWriter,
}

impl Builder<'_> {
    fn bad(&self, detail: String) -> ModelError {
        ModelError::Legacy { file: self.f.path.clone(), detail }
    }

    fn get(&self, name: &str) -> Result<&LegacyTensor, ModelError> {
        self.f.tensor(name).ok_or_else(|| ModelError::MissingTensor { file: self.f.path.clone(), name: name.to_string() })
    }

    /// A tensor with exactly `n` elements, whatever its dims.
    fn get_n(&self, name: &str, n: u64) -> Result<&LegacyTensor, ModelError> {
        let t = self.get(name)?;
        if t.n_elements() != n {
            return Err(self.bad(format!("tensor '{name}' has shape {:?} ({} values), expected {n} values", t.dims, t.n_elements())));
        }
        Ok(t)
    }

    fn add(&mut self, name: String, dims: &[u64], ty: GgmlType, data: Vec<u8>) -> Result<(), ModelError> {
        self.w.add_tensor(name, dims, ty, data).map_err(ModelError::from)
    }

    /// Copies tensor `from` unchanged (type and bytes) as `to` with GGUF shape `dims`.
    fn copy(&mut self, from: &str, to: String, dims: &[u64]) -> Result<(), ModelError> {
        let t = self.get_n(from, dims.iter().product())?.clone();
        if t.dims[0] != dims[0] && t.ty != GgmlType::F32 && t.ty != GgmlType::F16 {
            return Err(self.bad(format!("tensor '{from}' of type {} has rows of {}, expected {}", t.ty, t.dims[0], dims[0])));
        }
        let data = self.f.data(&t).to_vec();
        self.add(to, dims, t.ty, data)
    }

    /// A matrix copied as is: legacy dims are already GGUF's `[cols, rows]`.
    fn matrix(&mut self, from: &str, to: String, cols: u64, rows: u64) -> Result<(), ModelError> {
        let t = self.get(from)?;
        if t.dims != [cols, rows] {
            return Err(self.bad(format!("tensor '{from}' has shape {:?}, expected [{cols}, {rows}]", t.dims)));
        }
        self.copy(from, to, &[cols, rows])
    }

    /// The values of a tensor as f32.
    fn f32s(&self, from: &str, n: u64) -> Result<Vec<f32>, ModelError> {
        let t = self.get_n(from, n)?;
        let mut out = vec![0f32; n as usize];
        quant::dequantize_row(t.ty, self.f.data(t), &mut out)?;
        Ok(out)
    }

    fn put_f32(&mut self, to: String, dims: &[u64], data: &[f32]) -> Result<(), ModelError> {
        let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.add(to, dims, GgmlType::F32, bytes)
    }

    fn kv(&mut self, key: String, v: Value) {
        self.w.add_kv(key, v);
    }
}

/// Sizes read off the tensors.
struct Dims {
    c: u64,
    f: u64,
    n_layer: usize,
    /// Head size (0 for v4) and head count.
    n: u64,
    h: u64,
}

/// The GGUF (in memory, not yet serialised) for a legacy file of version `ver`.
pub fn build(f: &LegacyFile, ver: LegacyVersion, opts: &LegacyOptions) -> Result<GgufWriter, ModelError> {
    let mut b = Builder { f, w: GgufWriter::new() };
    let emb = b.get("emb.weight")?.clone();
    let ffn_key = b.get("blocks.0.ffn.key.weight")?.clone();
    let (c, v) = (emb.dims[0], *emb.dims.get(1).unwrap_or(&1));
    if c != f.n_embd as u64 || v != f.n_vocab as u64 {
        return Err(b.bad(format!("emb.weight has shape {:?}, but the header says n_embed {} and n_vocab {}", emb.dims, f.n_embd, f.n_vocab)));
    }
    let (n, h) = match ver {
        LegacyVersion::V4 => (0, 0),
        LegacyVersion::V7 => {
            let r_k = b.get("blocks.0.att.r_k")?;
            (r_k.dims[0], r_k.n_elements() / r_k.dims[0])
        }
        LegacyVersion::V5_1 => {
            // 5.1 keeps one decay per head: `(H, 1, 1)`.
            let h = b.get("blocks.0.att.time_decay")?.n_elements();
            (c / h.max(1), h)
        }
        LegacyVersion::V5_2 | LegacyVersion::V6 => {
            let d = b.get("blocks.0.att.time_decay")?;
            // `(H, N, 1)` in PyTorch order: ggml dims [1, N, H].
            let n = *d.dims.get(1).unwrap_or(&0);
            (n, d.n_elements().checked_div(n).unwrap_or(0))
        }
    };
    if ver != LegacyVersion::V4 && (n == 0 || n * h != c) {
        return Err(b.bad(format!("cannot tell the head size: {n} × {h} heads is not n_embed {c}")));
    }
    let d = Dims { c, f: *ffn_key.dims.get(1).unwrap_or(&0), n_layer: f.n_layer, n, h };
    let arch = ver.architecture();

    // Metadata, as llama.cpp's converter writes it.
    let stem = std::path::Path::new(&f.path).file_stem().map_or("model".into(), |s| s.to_string_lossy().into_owned());
    b.kv(names::ARCH_KEY.into(), Value::String(arch.name().into()));
    b.kv("general.type".into(), Value::String("model".into()));
    b.kv("general.name".into(), Value::String(stem));
    b.kv("general.source.rwkv_cpp_version".into(), Value::String(ver.to_string()));
    b.kv(arch.key("context_length"), Value::U32(1_048_576));
    b.kv(arch.key("embedding_length"), Value::U32(c as u32));
    b.kv(arch.key("block_count"), Value::U32(d.n_layer as u32));
    b.kv(arch.key("feed_forward_length"), Value::U32(d.f as u32));
    b.kv(arch.key("attention.layer_norm_epsilon"), Value::F32(1e-5));
    b.kv(arch.key("attention.head_count"), Value::U32(0));
    if arch != Architecture::Rwkv4 {
        b.kv(arch.key("wkv.head_size"), Value::U32(n as u32));
    }
    if arch == Architecture::Rwkv5 {
        let eps = opts.rwkv5_group_norm_eps.unwrap_or(RWKV_CPP_GROUP_NORM_EPS);
        b.kv(arch.key(t5::GROUP_NORM_EPS_KEY), Value::F32(eps));
    }
    if let Some(ft) = file_type(f) {
        b.kv("general.file_type".into(), Value::U32(ft));
    }
    b.kv("general.quantization_version".into(), Value::U32(2));

    b.copy("emb.weight", names::TOKEN_EMBD.into(), &[c, v])?;
    b.copy("blocks.0.ln0.weight", format!("{}.weight", names::TOKEN_EMBD_NORM), &[c])?;
    b.copy("blocks.0.ln0.bias", format!("{}.bias", names::TOKEN_EMBD_NORM), &[c])?;
    for l in 0..d.n_layer {
        let p = |s: &str| format!("blocks.{l}.{s}");
        for (from, to) in [("ln1", t7::ATTN_NORM), ("ln2", t7::ATTN_NORM_2)] {
            b.copy(&p(&format!("{from}.weight")), blk(l, &format!("{to}.weight")), &[c])?;
            b.copy(&p(&format!("{from}.bias")), blk(l, &format!("{to}.bias")), &[c])?;
        }
        for (from, to) in [("att.receptance", t7::RECEPTANCE), ("att.key", t7::KEY), ("att.value", t7::VALUE), ("att.output", t7::OUTPUT)] {
            b.matrix(&p(&format!("{from}.weight")), blk(l, to), c, c)?;
        }
        b.matrix(&p("ffn.key.weight"), blk(l, t7::FFN_KEY), c, d.f)?;
        b.matrix(&p("ffn.value.weight"), blk(l, t7::FFN_VALUE), d.f, c)?;
        if ver != LegacyVersion::V4 {
            b.copy(&p("att.ln_x.weight"), blk(l, &format!("{}.weight", t7::LN_X)), &[c])?;
            b.copy(&p("att.ln_x.bias"), blk(l, &format!("{}.bias", t7::LN_X)), &[c])?;
        }
        match ver {
            LegacyVersion::V7 => layer_v7(&mut b, &d, l)?,
            LegacyVersion::V6 => layer_v6(&mut b, &d, l)?,
            _ => layer_v5_v4(&mut b, &d, l, ver)?,
        }
    }
    b.copy("ln_out.weight", format!("{}.weight", names::OUTPUT_NORM), &[c])?;
    b.copy("ln_out.bias", format!("{}.bias", names::OUTPUT_NORM), &[c])?;
    b.copy("head.weight", names::OUTPUT.into(), &[c, v])?;
    match ver {
        LegacyVersion::V7 => {
            let value_layer = if d.n_layer > 1 { 1 } else { 0 };
            let rank = |b: &Builder, name: String| b.get(&name).map(|t| t.dims[1] as u32);
            let ranks = [
                ("attention.decay_lora_rank", rank(&b, "blocks.0.att.w1".into())?),
                ("attention.iclr_lora_rank", rank(&b, "blocks.0.att.a1".into())?),
                ("attention.value_residual_mix_lora_rank", rank(&b, format!("blocks.{value_layer}.att.{}1", if value_layer == 0 { "a" } else { "v" }))?),
                ("attention.gate_lora_rank", rank(&b, "blocks.0.att.g1".into())?),
            ];
            for (k, r) in ranks {
                b.kv(arch.key(k), Value::U32(r));
            }
        }
        LegacyVersion::V6 => {
            let dm = b.get("blocks.0.att.time_maa_w2")?.dims[0] as u32;
            let dd = b.get("blocks.0.att.time_decay_w1")?.dims[1] as u32;
            b.kv(arch.key("time_mix_extra_dim"), Value::U32(dm));
            b.kv(arch.key("time_decay_extra_dim"), Value::U32(dd));
            // rwkv.cpp never pre-divides weights, so the residual stream is never halved.
            b.kv(arch.key("rescale_every_n_layers"), Value::U32(0));
        }
        _ => {}
    }
    Ok(b.w)
}

/// llama.cpp's `general.file_type` for the header's data type, where there is one.
fn file_type(f: &LegacyFile) -> Option<u32> {
    Some(match f.data_type {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => 3,
        7 => 8,
        8 => 9,
        9 => 7,
        _ => return None,
    })
}

fn layer_v7(b: &mut Builder, d: &Dims, l: usize) -> Result<(), ModelError> {
    let c = d.c;
    let p = |s: &str| format!("blocks.{l}.att.{s}");
    b.copy(&p("x_rwkvag"), blk(l, t7::LERP_FUSED), &[c, 1, 1, 6])?;
    for (x, w0, w1, w2) in [("w", t7::W0, t7::W1, t7::W2), ("a", t7::A0, t7::A1, t7::A2)] {
        lora_v7(b, l, x, (w0, w1, w2), c)?;
    }
    // Layer 0 has no value-residual LoRA; llama.cpp's converter writes copies of a0/a1/a2 there.
    let vsrc = if l == 0 { "a" } else { "v" };
    lora_v7(b, l, vsrc, (t7::V0, t7::V1, t7::V2), c)?;
    let g1 = b.get(&p("g1"))?.dims.clone();
    b.copy(&p("g1"), blk(l, t7::G1), &g1)?;
    let g2 = b.get(&p("g2"))?.dims.clone();
    b.copy(&p("g2"), blk(l, t7::G2), &g2)?;
    b.copy(&p("k_k"), blk(l, t7::K_K), &[c])?;
    b.copy(&p("k_a"), blk(l, t7::K_A), &[c])?;
    b.copy(&p("r_k"), blk(l, t7::R_K), &[c])?;
    b.copy(&format!("blocks.{l}.ffn.x_k"), blk(l, t7::FFN_LERP_K), &[c])?;
    Ok(())
}

/// RWKV-7 LoRA `x0/x1/x2` read from legacy prefix `src` (same orientation as GGUF).
fn lora_v7(b: &mut Builder, l: usize, src: &str, (n0, n1, n2): (&str, &str, &str), c: u64) -> Result<(), ModelError> {
    let p = |s: String| format!("blocks.{l}.att.{s}");
    b.copy(&p(format!("{src}0")), blk(l, n0), &[c])?;
    let d1 = b.get(&p(format!("{src}1")))?.dims.clone();
    let d2 = b.get(&p(format!("{src}2")))?.dims.clone();
    if d1.len() != 2 || d1[0] != c || d2 != [d1[1], c] {
        return Err(b.bad(format!("LoRA {} / {} have shapes {d1:?} / {d2:?}, expected [{c}, D] / [D, {c}]", p(format!("{src}1")), p(format!("{src}2")))));
    }
    b.copy(&p(format!("{src}1")), blk(l, n1), &d1)?;
    b.copy(&p(format!("{src}2")), blk(l, n2), &d2)
}

fn layer_v6(b: &mut Builder, d: &Dims, l: usize) -> Result<(), ModelError> {
    let c = d.c;
    let p = |s: &str| format!("blocks.{l}.{s}");
    b.copy(&p("att.time_maa_x"), blk(l, t6::LERP_X), &[c])?;
    let mut fused = Vec::with_capacity(5 * c as usize);
    for x in ["w", "k", "v", "r", "g"] {
        fused.extend(b.f32s(&p(&format!("att.time_maa_{x}")), c)?);
    }
    b.put_f32(blk(l, t6::LERP_FUSED), &[c, 1, 1, 5], &fused)?;
    let w1 = b.get(&p("att.time_maa_w1"))?.dims.clone();
    let w2 = b.get(&p("att.time_maa_w2"))?.dims.clone();
    if w1.len() != 2 || w1[0] != c || w1[1] % 5 != 0 || w2 != [w1[1] / 5, c, 5] {
        return Err(b.bad(format!("token-shift LoRA time_maa_w1 / w2 of layer {l} have shapes {w1:?} / {w2:?}, expected [{c}, 5·D] / [D, {c}, 5]")));
    }
    b.copy(&p("att.time_maa_w1"), blk(l, t6::W1), &w1)?;
    b.copy(&p("att.time_maa_w2"), blk(l, t6::W2), &w2)?;
    b.copy(&p("att.time_decay"), blk(l, t6::DECAY), &[c])?;
    let dw1 = b.get(&p("att.time_decay_w1"))?.dims.clone();
    if dw1.len() != 2 || dw1[0] != c {
        return Err(b.bad(format!("decay LoRA time_decay_w1 of layer {l} has shape {dw1:?}, expected [{c}, D]")));
    }
    b.matrix(&p("att.time_decay_w1"), blk(l, t6::DECAY_W1), c, dw1[1])?;
    b.matrix(&p("att.time_decay_w2"), blk(l, t6::DECAY_W2), dw1[1], c)?;
    b.copy(&p("att.time_faaaa"), blk(l, t6::FIRST), &[d.n, d.h])?;
    b.matrix(&p("att.gate.weight"), blk(l, t6::GATE), c, c)?;
    b.copy(&p("ffn.time_maa_k"), blk(l, t6::FFN_LERP_K), &[c])?;
    b.copy(&p("ffn.time_maa_r"), blk(l, t6::FFN_LERP_R), &[c])?;
    b.matrix(&p("ffn.receptance.weight"), blk(l, t6::FFN_RECEPTANCE), c, c)
}

fn layer_v5_v4(b: &mut Builder, d: &Dims, l: usize, ver: LegacyVersion) -> Result<(), ModelError> {
    let c = d.c;
    let p = |s: &str| format!("blocks.{l}.{s}");
    let has_gate = ver == LegacyVersion::V5_2;
    let mixes: &[&str] = if has_gate { &["k", "v", "r", "g"] } else { &["k", "v", "r"] };
    let mut fused = Vec::new();
    for x in mixes {
        fused.extend(b.f32s(&p(&format!("att.time_mix_{x}")), c)?);
    }
    b.put_f32(blk(l, t5::LERP_FUSED), &[c, 1, 1, mixes.len() as u64], &fused)?;
    let mut ffn = b.f32s(&p("ffn.time_mix_k"), c)?;
    ffn.extend(b.f32s(&p("ffn.time_mix_r"), c)?);
    b.put_f32(blk(l, t5::FFN_LERP_FUSED), &[c, 1, 1, 2], &ffn)?;
    b.matrix(&p("ffn.receptance.weight"), blk(l, t5::FFN_RECEPTANCE), c, c)?;
    if has_gate {
        b.matrix(&p("att.gate.weight"), blk(l, t5::GATE), c, c)?;
    }
    // Undo rwkv.cpp's transforms in f64; per-head values (5.1) are repeated over the head.
    let per = if ver == LegacyVersion::V5_1 { d.n as usize } else { 1 };
    let spread = |vals: Vec<f32>| -> Vec<f32> { vals.iter().flat_map(|&x| std::iter::repeat(x).take(per)).collect() };
    let n_vals = c / per as u64;
    let stored = spread(b.f32s(&p("att.time_decay"), n_vals)?);
    let raw = b.f.blinkdl_values;
    let decay: Vec<f32> = match ver {
        _ if raw => stored,
        LegacyVersion::V4 => stored.iter().map(|&w| (-(w as f64)).ln() as f32).collect(),
        _ => stored.iter().map(|&w| (-(w as f64).ln()).ln() as f32).collect(),
    };
    b.put_f32(blk(l, t5::DECAY), &[c], &decay)?;
    let first = match ver {
        LegacyVersion::V5_2 => b.f32s(&p("att.time_faaaa"), c)?,
        // BlinkDL's 5.1 keeps `time_first` in log space; rwkv.cpp stored exp of it, which the layout holds.
        LegacyVersion::V5_1 if raw => spread(b.f32s(&p("att.time_first"), n_vals)?).iter().map(|&u| u.exp()).collect(),
        _ => spread(b.f32s(&p("att.time_first"), n_vals)?),
    };
    b.put_f32(blk(l, t5::FIRST), &[c], &first)
}
