//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong loading a vocabulary, encoding or decoding.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("reading vocab file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{origin}, line {line}: not UTF-8 (invalid byte at column {column})")]
    VocabNotUtf8 {
        origin: String,
        line: usize,
        column: usize,
    },

    /// A line of `rwkv_vocab_v20230424.txt` that does not parse; `problem` says what was wrong.
    #[error("{origin}, line {line}: {problem} (line: {text:?})")]
    VocabLine {
        origin: String,
        line: usize,
        problem: String,
        text: String,
    },

    #[error("{origin}, line {line}: token id {id} was already defined on line {first_line}")]
    DuplicateId {
        origin: String,
        line: usize,
        id: u32,
        first_line: usize,
    },

    /// A `tokenizer.ggml.tokens` entry that does not unescape.
    #[error("GGUF token {id} {token:?}: {problem}")]
    BadGgufToken {
        id: usize,
        token: String,
        problem: String,
    },

    #[error("GGUF token {id} has token type {token_type}, expected 0..=6")]
    BadTokenType { id: usize, token_type: i64 },

    #[error("GGUF vocabulary has {tokens} tokens but {types} token types")]
    TokenTypesLength { tokens: usize, types: usize },

    #[error("vocabulary has {count} tokens, more than the supported {max}")]
    TooManyTokens { count: usize, max: usize },

    #[error("token bytes total {bytes}, more than the supported 4 GiB")]
    VocabTooLarge { bytes: usize },

    #[error("GGUF vocabulary is empty (tokenizer.ggml.tokens has no entries)")]
    EmptyVocab,

    #[error("no token matches byte 0x{byte:02x} at byte offset {offset} of the input")]
    NoTokenForByte { byte: u8, offset: usize },

    #[error("token id {id} is out of range (vocabulary size {vocab_size})")]
    IdOutOfRange { id: u32, vocab_size: usize },
}
