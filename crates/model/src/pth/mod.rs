//! BlinkDL's PyTorch `.pth` checkpoints (a `torch.save`d state dict: a zip holding `data.pkl` and
//! one `data/<key>` file per storage), read without Python and without running pickle code.
//!
//! The state dict is turned into the tensors rwkv.cpp's converter would have written (spec §7:
//! LoRA transposes, the v7 `x_rwkvag` stack, v5/v6 `(H, N, 1)` shapes), except that v4/v5
//! `time_decay`/`time_first` keep BlinkDL's raw values ([`LegacyFile::blinkdl_values`]). From there
//! `legacy::to_gguf` maps it like any rwkv.cpp file, so the name mapping lives in one place.
//! The whole model is copied in memory a few times on the way (checkpoint, legacy image, GGUF).

mod pickle;
mod state_tuning;
mod zip;

use std::path::Path;

use crate::legacy::{LegacyFile, LegacyVersion, MAGIC};
use crate::ModelError;
use pickle::{Dtype, TensorRef, Value};

pub use state_tuning::{merged_state_tuning, read_state_tuning, state_tuning_from_bytes, StateTuning};
pub use zip::has_zip_magic;

/// BlinkDL's GroupNorm epsilon for RWKV-5 (spec §5.3), the right default for `.pth` checkpoints.
pub const BLINKDL_GROUP_NORM_EPS: f32 = 64e-5;

/// Whether the file at `path` starts like a zip archive (as every `.pth` since torch 1.6 does).
pub fn is_pth_file(path: impl AsRef<Path>) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && has_zip_magic(&head)
}

/// Reads a `.pth` checkpoint as an in-memory rwkv.cpp file (see the module doc).
pub fn open(path: impl AsRef<Path>) -> Result<LegacyFile, ModelError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ModelError::Pth { file: name.clone(), detail: format!("cannot read: {e}") })?;
    from_bytes(&bytes, &name)
}

/// As [`open`], for a checkpoint held in memory; `name` is used in messages and metadata.
pub fn from_bytes(bytes: &[u8], name: &str) -> Result<LegacyFile, ModelError> {
    let bad = |detail: String| ModelError::Pth { file: name.to_string(), detail };
    // State-tuning tensors merged into a model are its initial state, not weights
    // (`merged_state_tuning` reads them).
    let (states, tensors): (Vec<Tensor>, Vec<Tensor>) = read_state_dict(bytes, |_| true).map_err(bad)?.into_iter().partition(|t| state_tuning::is_time_state(&t.name));
    if !states.is_empty() && !tensors.iter().any(|t| t.name == "emb.weight") {
        return Err(bad("missing required tensor 'emb.weight': this is a state-tuning file (only att.time_state), give it as the initial state of a model (--init-state)".into()));
    }
    let image = legacy_image(tensors).map_err(bad)?;
    let mut f = LegacyFile::from_bytes(image, name)?;
    f.blinkdl_values = true;
    Ok(f)
}

/// A tensor in PyTorch order: `shape[0]` outermost; `data` little-endian F32 or F16 values.
struct Tensor {
    name: String,
    shape: Vec<u64>,
    f16: bool,
    data: Vec<u8>,
}

impl Tensor {
    fn es(&self) -> usize {
        if self.f16 { 2 } else { 4 }
    }
    fn to_f32(&mut self) {
        if self.f16 {
            self.data = self.data.chunks_exact(2).flat_map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32().to_le_bytes()).collect();
            self.f16 = false;
        }
    }
    fn n(&self) -> u64 {
        self.shape.iter().product()
    }
}

/// The tensors of a `torch.save`d state dict whose names pass `keep` (the others' storages are not
/// copied).
fn read_state_dict(bytes: &[u8], keep: impl Fn(&str) -> bool) -> Result<Vec<Tensor>, String> {
    let zip = zip::ZipIndex::parse(bytes)?;
    let pkl = zip.entries.keys().filter(|k| k.ends_with("data.pkl") && k.matches('/').count() <= 1).min_by_key(|k| k.len())
        .ok_or_else(|| "zip has no data.pkl: not a torch.save archive".to_string())?;
    let prefix = &pkl[..pkl.len() - "data.pkl".len()];
    let Value::Dict(items) = pickle::unpickle(&bytes[zip.entries[pkl].clone()])? else {
        return Err("data.pkl does not hold a dict (a state dict was expected)".into());
    };
    let mut out = Vec::with_capacity(items.len());
    for (k, v) in items {
        let (Value::Str(name), Value::Tensor(t)) = (&k, &v) else {
            return Err(format!("state dict entry {k:?} is {v:?}, expected a tensor under a string key"));
        };
        if !keep(name) {
            continue;
        }
        let range = zip.entries.get(&format!("{prefix}data/{}", t.key)).ok_or_else(|| format!("tensor '{name}': storage 'data/{}' is missing from the archive", t.key))?;
        out.push(tensor_data(name, t, &bytes[range.clone()])?);
    }
    Ok(out)
}

fn tensor_data(name: &str, t: &TensorRef, storage: &[u8]) -> Result<Tensor, String> {
    if t.stride.len() != t.shape.len() {
        return Err(format!("tensor '{name}' has {} sizes but {} strides", t.shape.len(), t.stride.len()));
    }
    let mut expect = 1u64;
    for (i, (&d, &s)) in t.shape.iter().zip(&t.stride).enumerate().rev() {
        if d > 1 && s != expect {
            return Err(format!("tensor '{name}' is not contiguous (shape {:?}, stride {:?}: dim {i} has stride {s}, expected {expect})", t.shape, t.stride));
        }
        expect = expect.saturating_mul(d);
    }
    let n = expect;
    let es = t.dtype.size() as u64;
    let need = t.offset.saturating_add(n).saturating_mul(es);
    if need > storage.len() as u64 || t.storage_len.saturating_mul(es) > storage.len() as u64 {
        return Err(format!("tensor '{name}' {:?} needs {need} bytes of storage 'data/{}' (declared {} elements), the archive holds {}", t.shape, t.key, t.storage_len, storage.len()));
    }
    let raw = &storage[(t.offset * es) as usize..need as usize];
    let (f16, data) = match t.dtype {
        Dtype::F32 => (false, raw.to_vec()),
        Dtype::F16 => (true, raw.to_vec()),
        // bf16 is the top half of an f32: widening is exact.
        Dtype::BF16 => (false, raw.chunks_exact(2).flat_map(|c| [0, 0, c[0], c[1]]).collect()),
    };
    Ok(Tensor { name: name.to_string(), shape: t.shape.clone(), f16, data })
}

/// `batch` matrices of `r` × `c` elements of `es` bytes, each transposed.
fn transpose(data: &[u8], es: usize, batch: usize, r: usize, c: usize) -> Vec<u8> {
    let mut out = vec![0u8; data.len()];
    for b in 0..batch {
        let base = b * r * c * es;
        for i in 0..r {
            for j in 0..c {
                let (s, d) = (base + (i * c + j) * es, base + (j * r + i) * es);
                out[d..d + es].copy_from_slice(&data[s..s + es]);
            }
        }
    }
    out
}

/// The rwkv.cpp file image (spec §7) of a state dict.
fn legacy_image(mut ts: Vec<Tensor>) -> Result<Vec<u8>, String> {
    let has = |ts: &[Tensor], s: &str| ts.iter().any(|t| t.name == format!("blocks.0.att.{s}"));
    let ver = LegacyVersion::detect_by(|s| has(&ts, s));
    let emb = ts.iter().find(|t| t.name == "emb.weight").ok_or("missing required tensor 'emb.weight'")?;
    let (n_vocab, n_embd) = match emb.shape[..] {
        [v, c] => (v, c),
        _ => return Err(format!("emb.weight has shape {:?}, expected (n_vocab, n_embd)", emb.shape)),
    };
    let n_layer = ts.iter().filter_map(|t| t.name.strip_prefix("blocks.")?.split('.').next()?.parse::<u64>().ok()).max().map_or(0, |m| m + 1);
    for t in ts.iter_mut() {
        // Vectors and mixing parameters in f32, as rwkv.cpp's converter keeps them.
        if t.shape.iter().filter(|&&d| d > 1).count() < 2 {
            t.to_f32();
        }
        let leaf = t.name.rsplit('.').next().unwrap_or("").to_string();
        let is_att = t.name.contains(".att.");
        match (ver, leaf.as_str(), &t.shape[..]) {
            (LegacyVersion::V7, "w1" | "w2" | "a1" | "a2" | "v1" | "v2" | "g1" | "g2", &[r, c]) if is_att => {
                t.data = transpose(&t.data, t.es(), 1, r as usize, c as usize);
                t.shape = vec![c, r];
            }
            (LegacyVersion::V6, "time_maa_w1" | "time_decay_w1" | "time_decay_w2", &[r, c]) => {
                t.data = transpose(&t.data, t.es(), 1, r as usize, c as usize);
                t.shape = vec![c, r];
            }
            (LegacyVersion::V6, "time_maa_w2", &[b, r, c]) => {
                t.data = transpose(&t.data, t.es(), b as usize, r as usize, c as usize);
                t.shape = vec![b, c, r];
            }
            _ => {
                let sq: Vec<u64> = t.shape.iter().copied().filter(|&d| d != 1).collect();
                t.shape = if sq.is_empty() { vec![1] } else { sq };
            }
        }
    }
    // v5.2/v6 decay and bonus as (H, N, 1): H from the bonus `time_faaaa` (H, N).
    if matches!(ver, LegacyVersion::V5_2 | LegacyVersion::V6) {
        let hs: Vec<(String, u64)> = ts.iter().filter(|t| t.name.ends_with(".att.time_faaaa")).map(|t| (t.name.replace("time_faaaa", ""), t.shape[0])).collect();
        for t in ts.iter_mut() {
            if let Some((_, h)) = hs.iter().find(|(p, _)| t.name == format!("{p}time_decay") || t.name == format!("{p}time_faaaa")) {
                let n = t.n();
                if *h == 0 || n % h != 0 {
                    return Err(format!("tensor '{}' has {n} values, not a multiple of the {h} heads of time_faaaa", t.name));
                }
                t.shape = vec![*h, n / h, 1];
            }
        }
    }
    if ver == LegacyVersion::V7 {
        stack_v7_mix(&mut ts, n_layer)?;
        ts.retain(|t| !(t.name.starts_with("blocks.0.att.v") && t.name.len() == "blocks.0.att.v0".len()));
    }
    let any_f16 = ts.iter().any(|t| t.f16);
    let mut out = Vec::new();
    for v in [MAGIC as i32, 101, n_vocab as i32, n_embd as i32, n_layer as i32, any_f16 as i32] {
        out.extend(v.to_le_bytes());
    }
    for t in &ts {
        if t.shape.len() > 3 {
            return Err(format!("tensor '{}' has shape {:?}, more than 3 dimensions", t.name, t.shape));
        }
        for v in [t.shape.len() as i32, t.name.len() as i32, t.f16 as i32] {
            out.extend(v.to_le_bytes());
        }
        for &d in t.shape.iter().rev() {
            out.extend((d as i32).to_le_bytes());
        }
        out.extend(t.name.as_bytes());
        out.extend(&t.data);
    }
    Ok(out)
}

/// v7: `att.x_r … x_g` become one `att.x_rwkvag` (6, 1, C) per layer, in checkpoint order.
fn stack_v7_mix(ts: &mut Vec<Tensor>, n_layer: u64) -> Result<(), String> {
    for l in 0..n_layer {
        let mut data = Vec::new();
        let mut c = 0;
        for x in ["r", "w", "k", "v", "a", "g"] {
            let name = format!("blocks.{l}.att.x_{x}");
            let i = ts.iter().position(|t| t.name == name).ok_or_else(|| format!("missing required tensor '{name}'"))?;
            let t = ts.remove(i);
            c = t.n();
            data.extend(t.data);
        }
        ts.push(Tensor { name: format!("blocks.{l}.att.x_rwkvag"), shape: vec![6, 1, c], f16: false, data });
    }
    Ok(())
}
