//! What `--model` accepts: a GGUF path, or `synth:<preset>[:<type>]` for a generated model.

use std::path::PathBuf;

use crate::LoadError;

/// The GGUF file a model spec names. `synth:<preset>[:<type>]` (type default F16, case-insensitive)
/// is generated into aviary's cache on first use (`$AVIARY_CACHE`, else `<user cache>/aviary`) and
/// found there afterwards; unknown presets or types are errors that list the valid ones.
pub fn resolve_model(spec: &str) -> Result<PathBuf, LoadError> {
    if let Some(rest) = spec.strip_prefix("synth:") {
        let request = convert::SynthRequest::parse(rest).map_err(|e| LoadError::Synth(e.to_string()))?;
        return convert::cached_synth(request, true).map_err(|e| LoadError::Synth(e.to_string()));
    }
    Ok(PathBuf::from(spec))
}
