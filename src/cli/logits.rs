//! `aviary logits`: logits after a token sequence, as one JSON object.

use anyhow::{bail, Result};
use clap::Args;
use model::LogitsMode;

use super::{encode_prompt, ModelArgs};

#[derive(Args)]
pub struct LogitsArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Token ids, comma-separated (e.g. 1,2,3).
    #[arg(long, value_delimiter = ',', conflicts_with = "prompt", required_unless_present = "prompt")]
    tokens: Option<Vec<u32>>,
    /// Text to encode with the model's tokenizer.
    #[arg(long, short = 'p')]
    prompt: Option<String>,
    /// Print logits after every position (one array per position) instead of only the last.
    #[arg(long)]
    all: bool,
    /// Tokens per prefill chunk.
    #[arg(long, default_value_t = 64, value_name = "N")]
    chunk: usize,
}

pub fn run(a: LogitsArgs) -> Result<()> {
    let mut loaded = a.model.load()?;
    let tokens = match (&a.tokens, &a.prompt) {
        (Some(t), _) => t.clone(),
        (None, Some(p)) => encode_prompt(&loaded, p)?,
        (None, None) => bail!("give --tokens or --prompt"),
    };
    if tokens.is_empty() {
        bail!("no tokens given");
    }
    let model = loaded.model.as_mut();
    let state = model.new_state()?;
    let mode = if a.all { LogitsMode::All } else { LogitsMode::Last };
    let rows = model.forward(state, &tokens, mode)?;
    // Serialised from f32 directly, so each value prints as the shortest string that round-trips.
    let json = if a.all {
        serde_json::to_string(&Output { tokens: &tokens, logits: &rows })?
    } else {
        serde_json::to_string(&Output { tokens: &tokens, logits: &rows[rows.len() - 1] })?
    };
    println!("{json}");
    Ok(())
}

#[derive(serde::Serialize)]
struct Output<'a, L: serde::Serialize> {
    tokens: &'a [u32],
    logits: L,
}
