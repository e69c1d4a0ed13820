//! aviary's cache directory and the cached synthetic models behind `synth:<preset>[:<type>]` specs.

use std::path::{Path, PathBuf};

use crate::synth::{write_synth, Preset, GENERATOR_VERSION};
use crate::{ConvertError, FileType, WorldVocab, WriteOptions};

/// Environment variable replacing the cache base directory (default `<user cache dir>/aviary`).
pub const CACHE_ENV: &str = "AVIARY_CACHE";

/// `$AVIARY_CACHE`, else `<user cache dir>/aviary` (e.g. `~/.cache/aviary`).
pub fn cache_dir() -> Result<PathBuf, ConvertError> {
    if let Some(dir) = std::env::var_os(CACHE_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::cache_dir().map(|d| d.join("aviary")).ok_or(ConvertError::NoCacheDir)
}

/// `<cache>/synth/<preset>-<TYPE>-v<generator version>.gguf`.
pub fn synth_cache_path(cache: &Path, preset: Preset, ftype: FileType) -> PathBuf {
    cache.join("synth").join(format!("{}-{}-v{GENERATOR_VERSION}.gguf", preset.name(), ftype.name()))
}

/// A synthetic model request: `<preset>[:<type>]`, the part after `synth:` (type default F16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynthRequest {
    pub preset: Preset,
    pub file_type: FileType,
}

impl SynthRequest {
    /// Parses `<preset>[:<type>]`, case-insensitively.
    pub fn parse(text: &str) -> Result<SynthRequest, ConvertError> {
        let mut parts = text.split(':');
        let preset = Preset::parse(parts.next().unwrap_or_default())?;
        let file_type = match parts.next() {
            Some(t) => FileType::parse(t)?,
            None => FileType::F16,
        };
        if parts.next().is_some() {
            return Err(ConvertError::BadSpec {
                spec: format!("synth:{text}"),
                problem: "expected synth:<preset>[:<type>]".to_string(),
            });
        }
        Ok(SynthRequest { preset, file_type })
    }
}

/// The cached file for `request` under `cache`, generated on first use (with the vocabulary from
/// [`WorldVocab::load`]). A second call returns at once.
pub fn cached_synth_in(cache: &Path, request: SynthRequest, progress: bool) -> Result<PathBuf, ConvertError> {
    let path = synth_cache_path(cache, request.preset, request.file_type);
    if path.is_file() {
        return Ok(path);
    }
    let dir = path.parent().expect("the cache path has a directory");
    std::fs::create_dir_all(dir).map_err(|source| ConvertError::OutputDir { dir: dir.to_path_buf(), source })?;
    let vocab = WorldVocab::load(cache)?;
    if progress {
        eprintln!(
            "generating synthetic model synth:{}:{} into {} (cached for later runs)",
            request.preset,
            request.file_type,
            path.display()
        );
    }
    let opts = WriteOptions { force: true, progress, threads: 0 };
    write_synth(&request.preset.spec(), &vocab, request.file_type, &path, &opts)?;
    Ok(path)
}

/// [`cached_synth_in`] under [`cache_dir`].
pub fn cached_synth(request: SynthRequest, progress: bool) -> Result<PathBuf, ConvertError> {
    cached_synth_in(&cache_dir()?, request, progress)
}
