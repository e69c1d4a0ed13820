//! `aviary run`: generate text from a prompt.

use std::io::Write;

use anyhow::{Context, Result};
use clap::Args;
use engine::{decode, GenerateOptions, Sampler, SamplerConfig};
use tokenizer::StreamDecoder;

use super::{encode_prompt, ModelArgs};

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The prompt text.
    #[arg(long, short = 'p')]
    prompt: String,
    /// Tokens to generate at most.
    #[arg(long, default_value_t = 128, value_name = "N")]
    max_tokens: usize,
    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = 1.0, value_name = "T")]
    temperature: f32,
    /// Nucleus sampling: keep the smallest set of tokens whose probability sums to P (1 = off).
    #[arg(long, default_value_t = 0.9, value_name = "P")]
    top_p: f32,
    /// Keep only the K most likely tokens (0 = off).
    #[arg(long, default_value_t = 0, value_name = "K")]
    top_k: usize,
    /// Drop tokens less likely than MIN_P times the most likely one (0 = off).
    #[arg(long, default_value_t = 0.0, value_name = "MIN_P")]
    min_p: f32,
    /// Penalty for any token already generated.
    #[arg(long, default_value_t = 0.0)]
    presence_penalty: f32,
    /// Penalty per (decayed) occurrence of a generated token.
    #[arg(long, default_value_t = 0.0)]
    frequency_penalty: f32,
    /// Decay of the occurrence counts per generated token.
    #[arg(long, default_value_t = 0.996)]
    penalty_decay: f32,
    /// Random seed (default: from the clock; printed to stderr).
    #[arg(long)]
    seed: Option<u64>,
    /// Stop at the end-of-text token 0 (on by default; pass --no-stop to generate exactly max-tokens).
    #[arg(long)]
    no_stop: bool,
    /// Write the state after the prompt to FILE (with --max-tokens 0: only prefill and save).
    #[arg(long, value_name = "FILE")]
    save_state: Option<std::path::PathBuf>,
    /// Start from a state saved with --save-state (instead of --init-state); the prompt continues from there.
    #[arg(long, value_name = "FILE")]
    load_state: Option<std::path::PathBuf>,
}

pub fn run(a: RunArgs) -> Result<()> {
    let mut loaded = a.model.load()?;
    let prompt = encode_prompt(&loaded, &a.prompt)?;
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
    });
    eprintln!("seed: {seed}");
    let cfg = SamplerConfig {
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
        min_p: a.min_p,
        presence_penalty: a.presence_penalty,
        frequency_penalty: a.frequency_penalty,
        penalty_decay: a.penalty_decay,
        seed,
    };
    let mut sampler = Sampler::new(cfg)?;
    let opts = GenerateOptions { max_tokens: a.max_tokens, stop_tokens: if a.no_stop { vec![] } else { vec![0] } };
    let tok = loaded.tokenizer.take().context("the model has no tokenizer")?;
    let mut decoder = StreamDecoder::new(&tok);
    let model = loaded.model.as_mut();
    let state = model.new_state()?;
    let mut consumed = match &a.load_state {
        Some(path) => restore_state(model, state, path)?,
        None => Vec::new(),
    };
    consumed.extend_from_slice(&prompt);
    let logits = model.forward(state, &prompt, model::LogitsMode::Last)?.pop().context("the model returned no logits")?;
    if let Some(path) = &a.save_state {
        let host = model.save_state(state)?;
        engine::write_state_file(path, &host, &consumed, engine::StateDtype::F32)?;
        eprintln!("state after {} tokens saved to {}", consumed.len(), path.display());
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut write_err = None;
    let mut decode_err = None;
    decode(model, state, logits, &mut sampler, &opts, |t| {
        match decoder.push(t) {
            Ok(text) => {
                if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                    write_err = Some(e);
                }
            }
            Err(e) => decode_err = Some(e),
        }
        write_err.is_none() && decode_err.is_none()
    })?;
    if let Some(e) = decode_err {
        return Err(e.into());
    }
    if let Some(e) = write_err {
        // A closed pipe (`aviary run ... | head`) is a normal way to stop.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
        return Ok(());
    }
    let rest = decoder.finish();
    writeln!(out, "{rest}").ok();
    Ok(())
}

/// Loads a state file into `state`; returns the tokens the saved state had consumed. A state from a
/// model of other dimensions is refused, naming the file and the dimension.
fn restore_state(model: &mut dyn model::Model, state: model::StateId, path: &std::path::Path) -> Result<Vec<u32>> {
    let file = engine::read_state_file(path)?;
    let hp = &model.info().hparams;
    engine::state_file::check_state_fits(&file.state, &path.display().to_string(), hp.n_layer, hp.n_embd, hp.wkv_values_per_channel())?;
    if let Some(&t) = file.tokens.iter().find(|&&t| t as usize >= hp.n_vocab) {
        anyhow::bail!("{}: token {t} is outside this model's vocabulary of {}: the state is for a different model", path.display(), hp.n_vocab);
    }
    model.load_state(state, &file.state)?;
    eprintln!("state of {} tokens loaded from {}", file.tokens.len(), path.display());
    Ok(file.tokens)
}
