//! The generation loop: prefill a prompt, then sample and feed one token at a time.

use model::{LogitsMode, Model, StateId};

use crate::{EngineError, Sampler};

#[derive(Clone, Debug, Default)]
pub struct GenerateOptions {
    /// Stop after this many generated tokens.
    pub max_tokens: usize,
    /// Stop (after emitting it) when one of these tokens is sampled.
    pub stop_tokens: Vec<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// `max_tokens` reached.
    Length,
    /// A stop token was sampled.
    StopToken,
    /// The caller's callback asked to stop.
    Callback,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    pub tokens: Vec<u32>,
    pub finish: FinishReason,
}

/// Feeds `prompt` to sequence `state`, then samples up to `opts.max_tokens` tokens. `on_token` sees
/// each token as it is sampled and returns `false` to stop. Every token that was sampled, except the
/// last one, has been fed to the state, so the state ends right after the prompt and the fed tokens.
pub fn generate(
    model: &mut dyn Model,
    state: StateId,
    prompt: &[u32],
    sampler: &mut Sampler,
    opts: &GenerateOptions,
    on_token: impl FnMut(u32) -> bool,
) -> Result<Generation, EngineError> {
    let logits = model.forward(state, prompt, LogitsMode::Last)?.pop().ok_or(EngineError::NoLogits)?;
    decode(model, state, logits, sampler, opts, on_token)
}

/// The sampling half of [`generate`]: starts from `logits` (those after whatever `state` has consumed,
/// e.g. a prompt whose state was saved in between) and samples up to `opts.max_tokens` tokens.
pub fn decode(
    model: &mut dyn Model,
    state: StateId,
    mut logits: Vec<f32>,
    sampler: &mut Sampler,
    opts: &GenerateOptions,
    mut on_token: impl FnMut(u32) -> bool,
) -> Result<Generation, EngineError> {
    let mut tokens = Vec::new();
    loop {
        if tokens.len() >= opts.max_tokens {
            return Ok(Generation { tokens, finish: FinishReason::Length });
        }
        let token = sampler.sample(&logits)?;
        sampler.accept(token);
        tokens.push(token);
        if !on_token(token) {
            return Ok(Generation { tokens, finish: FinishReason::Callback });
        }
        if opts.stop_tokens.contains(&token) {
            return Ok(Generation { tokens, finish: FinishReason::StopToken });
        }
        if tokens.len() >= opts.max_tokens {
            return Ok(Generation { tokens, finish: FinishReason::Length });
        }
        logits = model.forward(state, &[token], LogitsMode::Last)?.pop().ok_or(EngineError::NoLogits)?;
    }
}
