//! What can stop a benchmark. Every failure happens before BENCHMARKS.md is touched, except the
//! write itself, which is atomic.

use std::path::PathBuf;

use crate::LoadError;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    // Boxed: the load and model errors are large, and every result here carries the enum.
    #[error(transparent)]
    Load(Box<LoadError>),
    #[error(transparent)]
    Model(Box<model::ModelError>),
    #[error(transparent)]
    Tokenizer(#[from] tokenizer::TokenizerError),
    #[error("{0}")]
    Usage(String),
    #[error("the fixed prompt encodes to token {token}, outside the model's vocabulary of {n_vocab}")]
    PromptOutOfVocab { token: u32, n_vocab: usize },
    #[error("{phase}: the model returned no usable logits at step {step} (empty or all NaN)")]
    NoLogits { phase: &'static str, step: usize },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "{}: does not look like a benchmark results file (line 1 is {first_line:?}, expected \"# Benchmark Results\"); \
         nothing was written. Pass --output with a new or existing results file, or add the header line at the top of this one",
        path.display()
    )]
    NotBenchmarkFile { path: PathBuf, first_line: String },
    #[error(
        "{}: the code fence opened at line {line} is never closed, so a new entry would land inside it; \
         nothing was written. Close the fence (a line of {fence}) and run again",
        path.display()
    )]
    UnclosedFence { path: PathBuf, line: usize, fence: String },
}

impl From<LoadError> for BenchError {
    fn from(e: LoadError) -> Self {
        BenchError::Load(Box::new(e))
    }
}

impl From<model::ModelError> for BenchError {
    fn from(e: model::ModelError) -> Self {
        BenchError::Model(Box::new(e))
    }
}
