//! BlinkDL state-tuning files: what RWKV-PEFT and RWKV-LM save after `--train_type state` (a `.pth`
//! state dict holding one `blocks.N.att.time_state` of shape (H, N, N) per layer and nothing else of
//! the model). Applied as the initial WKV state of every sequence; the token-shift states start at 0.
//!
//! Orientation: every reference loader (ChatRWKV `v2/chat.py`, the `rwkv` package 0.8.32 when the
//! tensors are merged into a v5/v6 model, the community RWKV-7 inference scripts) uses
//! `time_state.transpose(1, 2)` as its WKV state. That state is key-major for RWKV-5/6
//! (`s[h][k][v]`, updated by `k ⊗ v`) and value-major for RWKV-7 (`s[h][v][k]`, read by `s @ r`),
//! which are exactly aviary's layouts ([`crate::HostState`]); so both need the same per-head transpose.

use std::path::Path;

use crate::{Architecture, Hparams, HostState, ModelError};

/// The initial WKV states of a state-tuning file, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StateTuning {
    /// The file, for messages.
    pub source: String,
    pub n_head: usize,
    pub head_size: usize,
    /// Per layer, `time_state` (H, N, N) in the file's row-major order, widened to f32.
    pub layers: Vec<Vec<f32>>,
}

const SUFFIX: &str = ".att.time_state";

pub(super) fn is_time_state(name: &str) -> bool {
    name.starts_with("blocks.") && name.ends_with(SUFFIX)
}

fn tensor_name(layer: usize) -> String {
    format!("blocks.{layer}{SUFFIX}")
}

/// Reads a state-tuning `.pth` (f32, f16 or bf16).
pub fn read_state_tuning(path: impl AsRef<Path>) -> Result<StateTuning, ModelError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ModelError::Pth { file: name.clone(), detail: format!("cannot read: {e}") })?;
    state_tuning_from_bytes(&bytes, &name)
}

/// As [`read_state_tuning`], for a file held in memory; `name` is used in messages.
pub fn state_tuning_from_bytes(bytes: &[u8], name: &str) -> Result<StateTuning, ModelError> {
    let tensors = super::read_state_dict(bytes, is_time_state).map_err(|detail| ModelError::Pth { file: name.to_string(), detail })?;
    from_tensors(tensors, name)
}

fn from_tensors(tensors: Vec<super::Tensor>, name: &str) -> Result<StateTuning, ModelError> {
    let bad = |detail: String| ModelError::Pth { file: name.to_string(), detail };
    let mut found: Vec<(usize, super::Tensor)> = Vec::new();
    for t in tensors {
        let Some(layer) = t.name.strip_prefix("blocks.").and_then(|r| r.strip_suffix(SUFFIX)) else {
            continue;
        };
        let layer: usize = layer.parse().map_err(|_| bad(format!("tensor '{}' does not name a layer number", t.name)))?;
        found.push((layer, t));
    }
    if found.is_empty() {
        return Err(bad("holds no 'blocks.N.att.time_state' tensors: not a state-tuning file".into()));
    }
    found.sort_by_key(|(l, _)| *l);
    let n_layer = found.last().map_or(0, |(l, _)| l + 1);
    for l in 0..n_layer {
        if found.get(l).map(|(i, _)| *i) != Some(l) {
            // Either a gap (layer l absent) or a duplicate key, which a dict cannot hold.
            return Err(bad(format!("missing tensor '{}' (the file has time_state up to layer {})", tensor_name(l), n_layer - 1)));
        }
    }
    let shape0 = found[0].1.shape.clone();
    let (n_head, head_size) = match shape0[..] {
        [h, n, m] if n == m && h > 0 && n > 0 => (h as usize, n as usize),
        _ => return Err(bad(format!("tensor '{}' has shape {shape0:?}, expected (n_head, head_size, head_size)", tensor_name(0)))),
    };
    let mut layers = Vec::with_capacity(n_layer);
    for (l, mut t) in found {
        if t.shape != shape0 {
            return Err(bad(format!("tensor '{}' has shape {:?}, expected {shape0:?} like layer 0", tensor_name(l), t.shape)));
        }
        t.to_f32();
        layers.push(t.data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect());
    }
    Ok(StateTuning { source: name.to_string(), n_head, head_size, layers })
}

/// The `time_state` tensors of a model checkpoint they were merged into, if it has any: the `rwkv`
/// package (RWKV-5/6) starts every sequence from them, and so does `aviary::load`. The file is
/// mapped, and only those tensors are copied.
pub fn merged_state_tuning(path: impl AsRef<Path>) -> Result<Option<StateTuning>, ModelError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let cannot = |e: std::io::Error| ModelError::Pth { file: name.clone(), detail: format!("cannot read: {e}") };
    let file = std::fs::File::open(path).map_err(cannot)?;
    // SAFETY: read-only mapping of a file aviary does not write; a file truncated underneath is the
    // same hazard as for every mapped GGUF.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(cannot)?;
    let tensors = super::read_state_dict(&map, is_time_state).map_err(|detail| ModelError::Pth { file: name.clone(), detail })?;
    if tensors.is_empty() {
        return Ok(None);
    }
    from_tensors(tensors, &name).map(Some)
}

impl StateTuning {
    pub fn n_layer(&self) -> usize {
        self.layers.len()
    }

    /// The state a sequence of the model with `hp` starts from: zero token shifts and these WKV
    /// states, each head transposed into aviary's layout (see the module doc). Fails, naming the file
    /// and the dimension, when the file was tuned for another model.
    pub fn to_host_state(&self, hp: &Hparams) -> Result<HostState, ModelError> {
        let bad = |detail: String| ModelError::Pth { file: self.source.clone(), detail };
        if hp.arch == Architecture::Rwkv4 {
            return Err(bad("a state-tuning file holds per-head WKV states (RWKV-5, 6 and 7); this model is RWKV-4, which has none".into()));
        }
        if self.n_layer() != hp.n_layer {
            return Err(bad(format!(
                "state-tuning file has {} layers ('{}' … '{}'), the model has {}",
                self.n_layer(),
                tensor_name(0),
                tensor_name(self.n_layer() - 1),
                hp.n_layer
            )));
        }
        if (self.n_head, self.head_size) != (hp.n_head, hp.head_size) {
            let (h, n) = (hp.n_head, hp.head_size);
            return Err(bad(format!(
                "tensor '{}' has shape [{}, {}, {}], expected [{h}, {n}, {n}] (this model's heads × head size × head size)",
                tensor_name(0),
                self.n_head,
                self.head_size,
                self.head_size
            )));
        }
        let (c, n) = (hp.n_embd, hp.head_size);
        let mut data = Vec::with_capacity(hp.n_layer * hp.state_len_per_layer());
        for layer in &self.layers {
            data.extend(std::iter::repeat(0.0).take(2 * c));
            for head in layer.chunks_exact(n * n) {
                data.extend((0..n * n).map(|ij| head[(ij % n) * n + ij / n]));
            }
        }
        let state = HostState { n_layer: hp.n_layer, n_embd: c, head_size: hp.wkv_values_per_channel(), data };
        state.check_fits(hp)?;
        Ok(state)
    }
}
