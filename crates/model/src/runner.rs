//! A loaded model on one backend: sequences' states, chunked prefill and decode, logits.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use gguf::{GgmlType, GgufFile};

use crate::batch::Decoded;
use crate::forward::{self, HeadScratch, Scratch, Weights};
use crate::state::SeqState;
use crate::{Hparams, HostState, ModelError, Ops};

/// Which logits a forward call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogitsMode {
    /// None (prefill that only advances the state).
    None,
    /// After the last token.
    Last,
    /// After every token, one row per token.
    All,
}

/// Handle of a sequence's state held by a [`Model`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StateId(pub u64);

/// What a loaded model is, for display and benchmarks.
#[derive(Clone, Debug)]
pub struct ModelInfo {
    pub source: String,
    pub architecture: String,
    pub name: Option<String>,
    pub hparams: Hparams,
    pub backend: &'static str,
    pub device: String,
    pub file_size: u64,
    pub tensor_types: BTreeMap<GgmlType, usize>,
    /// `general.file_type` as llama.cpp names it (e.g. `Q4_K_M`), else the most common matrix type.
    pub quant: String,
}

/// A model ready to run, independent of the backend behind it.
pub trait Model: Send {
    fn info(&self) -> &ModelInfo;
    /// A fresh zero state.
    fn new_state(&mut self) -> Result<StateId, ModelError>;
    fn drop_state(&mut self, id: StateId);
    fn reset_state(&mut self, id: StateId) -> Result<(), ModelError>;
    fn save_state(&mut self, id: StateId) -> Result<HostState, ModelError>;
    fn load_state(&mut self, id: StateId, state: &HostState) -> Result<(), ModelError>;
    /// Feeds `tokens` to sequence `id` (in chunks), returning logits per `mode` (empty for `None`).
    fn forward(&mut self, id: StateId, tokens: &[u32], mode: LogitsMode) -> Result<Vec<Vec<f32>>, ModelError>;

    /// Like `forward` with [`LogitsMode::Last`], but returns only the index of the largest logit
    /// (the first on ties, NaN never wins; 0 when every logit is NaN), for greedy decoding. A backend
    /// that offers [`Ops::argmax`] computes it on the device and reads back one id instead of the
    /// whole vocabulary.
    fn forward_argmax(&mut self, id: StateId, tokens: &[u32]) -> Result<u32, ModelError> {
        let logits = self.forward(id, tokens, LogitsMode::Last)?.pop().unwrap_or_default();
        Ok(host_argmax(&logits))
    }

    /// One decode step for several sequences: `tokens[i]` is fed to sequence `ids[i]` (ids
    /// distinct); returns the logits after each, in order. A backend that batches
    /// ([`Ops::batched_decode`]) runs them as one step, reading each weight once; otherwise they
    /// run one after another.
    fn decode_batch(&mut self, ids: &[StateId], tokens: &[u32]) -> Result<Vec<Vec<f32>>, ModelError> {
        if ids.len() != tokens.len() {
            return Err(ModelError::BatchShape { ids: ids.len(), tokens: tokens.len() });
        }
        let mut rows = Vec::with_capacity(ids.len());
        for (&id, &t) in ids.iter().zip(tokens) {
            rows.push(self.forward(id, &[t], LogitsMode::Last)?.pop().unwrap_or_default());
        }
        Ok(rows)
    }

    /// [`Model::decode_batch`] for greedy decoding: the argmax of each row's logits.
    fn decode_batch_argmax(&mut self, ids: &[StateId], tokens: &[u32]) -> Result<Vec<u32>, ModelError> {
        if ids.len() != tokens.len() {
            return Err(ModelError::BatchShape { ids: ids.len(), tokens: tokens.len() });
        }
        ids.iter().zip(tokens).map(|(&id, &t)| self.forward_argmax(id, &[t])).collect()
    }
}

/// `n` greedy tokens after `prompt` from a fresh state: the prompt in chunks, then each pick fed back
/// one token per step (the decode path), picking on the host from the logits. For tests and tools
/// that compare backends token for token.
pub fn greedy_tokens(model: &mut dyn Model, prompt: &[u32], n: usize) -> Result<Vec<u32>, ModelError> {
    let state = model.new_state()?;
    let result = (|| {
        let mut logits = model.forward(state, prompt, LogitsMode::Last)?.pop().unwrap_or_default();
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let next = host_argmax(&logits);
            out.push(next);
            logits = model.forward(state, &[next], LogitsMode::Last)?.pop().unwrap_or_default();
        }
        Ok(out)
    })();
    model.drop_state(state);
    result
}

/// First index of the largest non-NaN value; 0 when there is none.
pub(crate) fn host_argmax(v: &[f32]) -> u32 {
    let mut best: Option<(usize, f32)> = None;
    for (i, &x) in v.iter().enumerate() {
        match best {
            _ if x.is_nan() => {}
            Some((_, b)) if x <= b => {}
            _ => best = Some((i, x)),
        }
    }
    best.map_or(0, |(i, _)| i as u32)
}

/// An RWKV model of any supported version on backend `O`.
pub struct Runner<O: Ops> {
    ops: O,
    info: ModelInfo,
    weights: Weights<O::Weight>,
    states: HashMap<u64, SeqState<O::Act>>,
    next_state: u64,
    chunk_size: usize,
    scratches: Vec<Scratch<O::Act>>,
    heads: Vec<HeadScratch<O::Act>>,
}

/// Tokens per prefill chunk unless the backend prefers another size (`Ops::preferred_chunk`) or
/// `set_chunk_size` says otherwise.
pub const DEFAULT_CHUNK: usize = 64;

/// Step scratches (per row count) kept for reuse.
const MAX_CACHED_SCRATCH: usize = 6;

/// The historic name of [`Runner`], from when aviary ran RWKV-7 only; it loads every version.
pub type Rwkv7Runner<O> = Runner<O>;

impl<O: Ops> Runner<O> {
    /// Loads a GGUF of any supported architecture (`rwkv4` … `rwkv7`) into backend `ops`; fails with
    /// [`ModelError::Unsupported`] when the backend does not run that architecture.
    pub fn load(file: Arc<GgufFile>, mut ops: O) -> Result<Self, ModelError> {
        let arch = crate::load::architecture_of(&file)?;
        if !ops.supports(arch) {
            return Err(ModelError::Unsupported { backend: ops.backend_name(), arch });
        }
        let hparams = Hparams::from_gguf(&file)?;
        let weights = Weights::load(&file, &hparams, &mut ops)?;
        let chunk_size = ops.preferred_chunk().max(1);
        let info = ModelInfo {
            source: file.source_name().to_string(),
            architecture: arch.name().into(),
            name: file.get_str("general.name").ok().flatten().map(str::to_string),
            backend: ops.backend_name(),
            device: ops.device_name(),
            file_size: file.file_size(),
            tensor_types: tensor_type_counts(&file),
            quant: quant_label(&file),
            hparams,
        };
        Ok(Runner {
            ops,
            info,
            weights,
            states: HashMap::new(),
            next_state: 0,
            chunk_size,
            scratches: Vec::new(),
            heads: Vec::new(),
        })
    }

    /// Tokens per prefill step (at least 1).
    pub fn set_chunk_size(&mut self, n: usize) {
        self.chunk_size = n.max(1);
    }

    pub fn ops(&self) -> &O {
        &self.ops
    }

    /// Takes a sequence's state out of the map for a step (`put_state` returns it).
    pub(crate) fn take_state(&mut self, id: StateId) -> Result<SeqState<O::Act>, ModelError> {
        self.states.remove(&id.0).ok_or(ModelError::UnknownState(id.0))
    }

    pub(crate) fn put_state(&mut self, id: StateId, state: SeqState<O::Act>) {
        self.states.insert(id.0, state);
    }

    pub(crate) fn has_state(&self, id: StateId) -> bool {
        self.states.contains_key(&id.0)
    }

    pub(crate) fn info_arch(&self) -> crate::Architecture {
        self.info.hparams.arch
    }

    pub(crate) fn info_vocab(&self) -> usize {
        self.info.hparams.n_vocab
    }

    /// The backend, hyper-parameters and weights, borrowed together for a step.
    pub(crate) fn parts(&mut self) -> (&mut O, &Hparams, &Weights<O::Weight>) {
        (&mut self.ops, &self.info.hparams, &self.weights)
    }

    /// Returns a step's scratch for reuse. Batched decode steps come in many sizes, so only the
    /// most recent few are kept.
    pub(crate) fn put_scratch(&mut self, s: Scratch<O::Act>) {
        if self.scratches.len() >= MAX_CACHED_SCRATCH {
            self.scratches.remove(0);
        }
        self.scratches.push(s);
    }

    pub(crate) fn put_head(&mut self, h: HeadScratch<O::Act>) {
        if self.heads.len() >= MAX_CACHED_SCRATCH {
            self.heads.remove(0);
        }
        self.heads.push(h);
    }

    pub(crate) fn take_scratch(&mut self, rows: usize) -> Result<Scratch<O::Act>, ModelError> {
        match self.scratches.iter().position(|s| s.rows == rows) {
            Some(i) => Ok(self.scratches.swap_remove(i)),
            None => Scratch::new(&mut self.ops, &self.info.hparams, &self.weights, rows),
        }
    }

    pub(crate) fn take_head(&mut self, rows: usize) -> Result<HeadScratch<O::Act>, ModelError> {
        match self.heads.iter().position(|s| s.rows == rows) {
            Some(i) => Ok(self.heads.swap_remove(i)),
            None => HeadScratch::new(&mut self.ops, &self.info.hparams, rows),
        }
    }

    /// One chunk through the model; logits of its last row or of all rows. With `argmax` (and mode
    /// `Last`) the backend's argmax of the last row is returned instead of logits when the backend
    /// offers one.
    fn run_chunk(
        &mut self,
        state: &mut SeqState<O::Act>,
        tokens: &[u32],
        mode: LogitsMode,
        out: &mut Vec<Vec<f32>>,
        argmax: bool,
    ) -> Result<Option<u32>, ModelError> {
        let mut s = self.take_scratch(tokens.len())?;
        let head_rows = match mode {
            LogitsMode::None => 0,
            LogitsMode::Last => 1,
            LogitsMode::All => tokens.len(),
        };
        let mut h = if head_rows > 0 { Some(self.take_head(head_rows)?) } else { None };
        let hp = &self.info.hparams;
        let result = (|| {
            self.ops.begin_step()?;
            forward::step(&mut self.ops, hp, &self.weights, forward::StepSeqs::One(state), &mut s, tokens);
            if let Some(h) = h.as_mut() {
                forward::head(&mut self.ops, hp, &self.weights, &s, tokens.len() - head_rows, h);
            }
            self.ops.end_step()?;
            if let Some(h) = h.as_ref() {
                if argmax && h.rows == 1 {
                    if let Some(ids) = self.ops.argmax(&h.logits) {
                        return Ok(Some(ids?.first().copied().unwrap_or(0)));
                    }
                }
                let flat = self.ops.read(&h.logits)?;
                out.extend(flat.chunks_exact(hp.n_vocab).map(<[f32]>::to_vec));
            }
            Ok(None)
        })();
        self.put_scratch(s);
        if let Some(h) = h {
            self.put_head(h);
        }
        result
    }
}

impl<O> Model for Runner<O>
where
    O: Ops + Send,
    O::Weight: Send,
    O::Act: Send,
{
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn new_state(&mut self) -> Result<StateId, ModelError> {
        let state = SeqState::zeros(&mut self.ops, &self.info.hparams)?;
        let id = self.next_state;
        self.next_state += 1;
        self.states.insert(id, state);
        Ok(StateId(id))
    }

    fn drop_state(&mut self, id: StateId) {
        self.states.remove(&id.0);
    }

    fn reset_state(&mut self, id: StateId) -> Result<(), ModelError> {
        let old = self.take_state(id)?;
        drop(old);
        let fresh = SeqState::zeros(&mut self.ops, &self.info.hparams)?;
        self.put_state(id, fresh);
        Ok(())
    }

    fn save_state(&mut self, id: StateId) -> Result<HostState, ModelError> {
        let state = self.states.get(&id.0).ok_or(ModelError::UnknownState(id.0))?;
        state.to_host(&mut self.ops, &self.info.hparams)
    }

    fn load_state(&mut self, id: StateId, host: &HostState) -> Result<(), ModelError> {
        let state = self.states.get_mut(&id.0).ok_or(ModelError::UnknownState(id.0))?;
        state.from_host(&mut self.ops, &self.info.hparams, host)
    }

    fn forward(&mut self, id: StateId, tokens: &[u32], mode: LogitsMode) -> Result<Vec<Vec<f32>>, ModelError> {
        self.forward_chunks(id, tokens, mode, false).map(|(rows, _)| rows)
    }

    fn decode_batch(&mut self, ids: &[StateId], tokens: &[u32]) -> Result<Vec<Vec<f32>>, ModelError> {
        match self.decode_rows(ids, tokens, false)? {
            Decoded::Logits(rows) => Ok(rows),
            Decoded::Ids(_) => unreachable!("decode_rows returns logits unless asked for argmax"),
        }
    }

    fn decode_batch_argmax(&mut self, ids: &[StateId], tokens: &[u32]) -> Result<Vec<u32>, ModelError> {
        match self.decode_rows(ids, tokens, true)? {
            Decoded::Ids(ids) => Ok(ids),
            Decoded::Logits(rows) => Ok(rows.iter().map(|r| host_argmax(r)).collect()),
        }
    }

    fn forward_argmax(&mut self, id: StateId, tokens: &[u32]) -> Result<u32, ModelError> {
        let (mut rows, on_device) = self.forward_chunks(id, tokens, LogitsMode::Last, true)?;
        Ok(match on_device {
            Some(id) => id,
            None => host_argmax(&rows.pop().unwrap_or_default()),
        })
    }
}

impl<O: Ops> Runner<O> {
    /// `forward`, with `argmax` passed to the chunks (see `run_chunk`); also returns the device's
    /// argmax of the last row when the backend computed it.
    pub(crate) fn forward_chunks(&mut self, id: StateId, tokens: &[u32], mode: LogitsMode, argmax: bool) -> Result<(Vec<Vec<f32>>, Option<u32>), ModelError> {
        if tokens.is_empty() {
            return Err(ModelError::EmptyInput);
        }
        let n_vocab = self.info.hparams.n_vocab;
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(ModelError::TokenOutOfRange { token: bad, n_vocab });
        }
        let mut state = self.take_state(id)?;
        let mut out = Vec::new();
        let n_chunks = tokens.len().div_ceil(self.chunk_size);
        let mut result = Ok(None);
        for (i, chunk) in tokens.chunks(self.chunk_size).enumerate() {
            let chunk_mode = match mode {
                LogitsMode::Last if i + 1 < n_chunks => LogitsMode::None,
                m => m,
            };
            result = self.run_chunk(&mut state, chunk, chunk_mode, &mut out, argmax);
            if result.is_err() {
                break;
            }
        }
        self.put_state(id, state);
        result.map(|on_device| (out, on_device))
    }
}

fn tensor_type_counts(file: &GgufFile) -> BTreeMap<GgmlType, usize> {
    let mut counts = BTreeMap::new();
    for t in file.tensors() {
        *counts.entry(t.ty).or_insert(0) += 1;
    }
    counts
}

/// llama.cpp's name for `general.file_type` (spec §1.3), else the most common type among matrices.
pub fn quant_label(file: &GgufFile) -> String {
    const NAMES: &[(u64, &str)] = &[
        (0, "F32"),
        (1, "F16"),
        (2, "Q4_0"),
        (3, "Q4_1"),
        (7, "Q8_0"),
        (8, "Q5_0"),
        (9, "Q5_1"),
        (10, "Q2_K"),
        (11, "Q3_K_S"),
        (12, "Q3_K_M"),
        (13, "Q3_K_L"),
        (14, "Q4_K_S"),
        (15, "Q4_K_M"),
        (16, "Q5_K_S"),
        (17, "Q5_K_M"),
        (18, "Q6_K"),
        (32, "BF16"),
    ];
    if let Ok(Some(ft)) = file.get_u64("general.file_type") {
        if let Some((_, name)) = NAMES.iter().find(|(id, _)| *id == ft) {
            return name.to_string();
        }
    }
    let mut counts: BTreeMap<GgmlType, usize> = BTreeMap::new();
    for t in file.tensors().iter().filter(|t| t.dims.len() >= 2) {
        *counts.entry(t.ty).or_insert(0) += 1;
    }
    counts.into_iter().max_by_key(|&(_, n)| n).map(|(t, _)| t.name().to_string()).unwrap_or_else(|| "F32".into())
}
