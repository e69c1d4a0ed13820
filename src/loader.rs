//! Opening a model file on a chosen backend, together with its tokenizer.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use gguf::GgufFile;
use model::{Model, ModelError, Rwkv7Runner};
use tokenizer::Tokenizer;

/// The compute backends aviary knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Cpu,
    Wgpu,
    Cuda,
}

impl FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Backend::Cpu),
            "wgpu" => Ok(Backend::Wgpu),
            "cuda" => Ok(Backend::Cuda),
            other => Err(format!("unknown backend '{other}' (expected cpu, wgpu or cuda)")),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Cpu => "cpu",
            Backend::Wgpu => "wgpu",
            Backend::Cuda => "cuda",
        })
    }
}

#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub backend: Backend,
    /// CPU worker threads; 0 = one per core.
    pub threads: usize,
    /// GPU adapter to use (a case-insensitive part of its name); `None` = `$AVIARY_WGPU_ADAPTER`,
    /// else the best adapter found.
    pub adapter: Option<String>,
    /// A BlinkDL state-tuning `.pth` (`blocks.N.att.time_state`): every sequence starts from its
    /// WKV states instead of zeros ([`model::WithInitialState`]). Without it, a `.pth` model with
    /// `time_state` merged in starts from those, as BlinkDL's `rwkv` package does.
    pub init_state: Option<PathBuf>,
    /// RWKV-5 GroupNorm epsilon for `.pth` and rwkv.cpp files, overriding the per-format default
    /// (BlinkDL's 64e-5 for `.pth`, rwkv.cpp's 1e-5 for its files). GGUF files carry their own.
    pub rwkv5_group_norm_eps: Option<f32>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { backend: Backend::Cpu, threads: 0, adapter: None, init_state: None, rwkv5_group_norm_eps: None }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Gguf(#[from] gguf::GgufError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{path}: tokenizer: {source}")]
    Tokenizer { path: String, source: tokenizer::TokenizerError },
    #[error("{path}: tokenizer.ggml.model is '{found}', expected 'rwkv' (the RWKV World tokenizer)")]
    TokenizerModel { path: String, found: String },
    #[error("the {0} backend is not available in this build yet (available: cpu)")]
    BackendUnavailable(Backend),
    #[error("{0}")]
    Synth(String),
    #[error("cpu backend: {0}")]
    Cpu(#[from] cpu::CpuError),
    #[cfg(feature = "wgpu")]
    #[error("wgpu backend: {0}")]
    Wgpu(#[from] webgpu::WebGpuError),
    #[cfg(feature = "cuda")]
    #[error("cuda backend: {0}")]
    Cuda(#[from] cuda::CudaError),
}

/// A model ready to run, with the tokenizer its file carries (if any).
pub struct Loaded {
    pub model: Box<dyn Model>,
    pub tokenizer: Option<Tokenizer>,
    pub path: PathBuf,
}

/// Opens `path` (GGUF, an rwkv.cpp legacy file or a BlinkDL `.pth` checkpoint, told apart by the magic) and loads it onto the
/// backend in `opts`. Legacy files are mapped to GGUF in memory first (`crate::legacy`); RWKV-5
/// ones keep rwkv.cpp's GroupNorm epsilon 1e-5 and `.pth` ones BlinkDL's 64e-5, unless
/// `opts.rwkv5_group_norm_eps` says otherwise (`aviary convert --group-norm-eps` writes another).
pub fn load(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<Loaded, LoadError> {
    let path = path.as_ref();
    let is_pth = model::pth::is_pth_file(path);
    if is_pth || model::legacy::is_legacy_file(path) {
        // BlinkDL's own RWKV-5 GroupNorm epsilon for checkpoints, rwkv.cpp's for its files.
        let eps = opts.rwkv5_group_norm_eps.or(if is_pth { Some(model::pth::BLINKDL_GROUP_NORM_EPS) } else { None });
        let file = crate::legacy::open_legacy(path, &model::legacy::LegacyOptions { rwkv5_group_norm_eps: eps })?;
        let mut loaded = load_gguf(Arc::new(file), opts)?;
        loaded.path = path.to_path_buf();
        // `time_state` merged into the checkpoint: BlinkDL's package starts from it, so aviary does
        // too (an explicit `init_state` wins).
        if is_pth && opts.init_state.is_none() {
            if let Some(tuning) = model::pth::merged_state_tuning(path)? {
                loaded.model = with_state_tuning(loaded.model, tuning)?;
            }
        }
        return Ok(loaded);
    }
    load_gguf(Arc::new(GgufFile::open(path)?), opts)
}

/// Loads an already opened GGUF file (from disk or memory) onto the backend in `opts`.
pub fn load_gguf(file: Arc<GgufFile>, opts: &LoadOptions) -> Result<Loaded, LoadError> {
    let path = PathBuf::from(file.source_name());
    let tokenizer = tokenizer_from_gguf(&file)?;
    let model: Box<dyn Model> = match opts.backend {
        Backend::Cpu => Box::new(Rwkv7Runner::load(file, cpu::CpuBackend::new(opts.threads)?)?),
        #[cfg(feature = "wgpu")]
        Backend::Wgpu => {
            let adapter = opts.adapter.clone().or_else(|| std::env::var("AVIARY_WGPU_ADAPTER").ok());
            let gpu = webgpu::WebGpuBackend::new(&webgpu::WebGpuOptions { adapter, ..Default::default() })?;
            Box::new(Rwkv7Runner::load(file, gpu)?)
        }
        #[cfg(feature = "cuda")]
        Backend::Cuda => Box::new(Rwkv7Runner::load(file, cuda::CudaBackend::new(0)?)?),
        #[allow(unreachable_patterns)] // every backend compiled in
        other => return Err(LoadError::BackendUnavailable(other)),
    };
    if let Some(t) = &tokenizer {
        let n_vocab = model.info().hparams.n_vocab;
        if t.vocab_size() != n_vocab {
            return Err(LoadError::Model(ModelError::BadKey {
                file: path.display().to_string(),
                key: "tokenizer.ggml.tokens".into(),
                value: format!("{} tokens", t.vocab_size()),
                expected: format!("{n_vocab} (rows of token_embd.weight)"),
            }));
        }
    }
    let model = match &opts.init_state {
        Some(file) => with_state_tuning(model, model::pth::read_state_tuning(file)?)?,
        None => model,
    };
    Ok(Loaded { model, tokenizer, path })
}

/// `model`, starting every sequence from the states of `tuning`; states tuned for another model
/// (layers, heads, head size) are refused with both sides named.
pub fn with_state_tuning(model: Box<dyn Model>, tuning: model::pth::StateTuning) -> Result<Box<dyn Model>, LoadError> {
    let initial = tuning.to_host_state(&model.info().hparams)?;
    Ok(Box::new(model::WithInitialState::new(model, initial)?))
}

/// The World tokenizer from `tokenizer.ggml.tokens`, or `None` when the file has no vocabulary.
pub fn tokenizer_from_gguf(file: &GgufFile) -> Result<Option<Tokenizer>, LoadError> {
    let path = file.source_name().to_string();
    let Some(tokens) = file.get_str_array("tokenizer.ggml.tokens")? else {
        return Ok(None);
    };
    if let Some(kind) = file.get_str("tokenizer.ggml.model")? {
        if kind != "rwkv" {
            return Err(LoadError::TokenizerModel { path, found: kind.to_string() });
        }
    }
    let types = file.get_i64_array("tokenizer.ggml.token_type")?;
    Tokenizer::from_gguf_tokens(&tokens, types.as_deref())
        .map(Some)
        .map_err(|source| LoadError::Tokenizer { path, source })
}
