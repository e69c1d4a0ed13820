//! What `--model` accepts: a GGUF path, or `synth:<preset>[:<type>]` for a generated model.

use std::path::PathBuf;

use crate::LoadError;

/// The GGUF file a model spec names. `synth:` specs are generated (and cached) on first use.
pub fn resolve_model(spec: &str) -> Result<PathBuf, LoadError> {
    if let Some(rest) = spec.strip_prefix("synth:") {
        return Err(LoadError::Synth(format!("synthetic models are not built yet (asked for synth:{rest})")));
    }
    Ok(PathBuf::from(spec))
}
