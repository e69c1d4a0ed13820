//! `aviary tokenize` and `aviary detokenize`.

use std::io::Write;

use anyhow::{Context, Result};
use clap::Args;

use super::ModelArgs;

#[derive(Args)]
pub struct TokenizeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Text to encode.
    text: String,
}

#[derive(Args)]
pub struct DetokenizeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Token ids, comma- or space-separated.
    #[arg(num_args = 1.., value_delimiter = ',', required = true)]
    ids: Vec<u32>,
}

fn tokenizer(path: &std::path::Path) -> Result<tokenizer::Tokenizer> {
    let file = gguf::GgufFile::open(path)?;
    aviary::tokenizer_from_gguf(&file)?
        .with_context(|| format!("{} has no tokenizer (no tokenizer.ggml.tokens)", path.display()))
}

pub fn tokenize(a: TokenizeArgs) -> Result<()> {
    let tokens = tokenizer(&a.model.path()?)?.encode(&a.text)?;
    println!("{}", serde_json::json!({ "tokens": tokens }));
    Ok(())
}

pub fn detokenize(a: DetokenizeArgs) -> Result<()> {
    let bytes = tokenizer(&a.model.path()?)?.decode(&a.ids)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes)?;
    out.write_all(b"\n")?;
    Ok(())
}
