//! tokenizer: the RWKV World tokenizer (byte trie, greedy longest match, spec §6.1–6.4).
//!
//! Loads the vocabulary either from `rwkv_vocab_v20230424.txt` or from the escaped token strings a GGUF
//! file stores in `tokenizer.ggml.tokens` (the caller reads the GGUF; this crate does not depend on the
//! gguf crate). Encoding is greedy longest-prefix matching over UTF-8 bytes with no normalization and no
//! BOS/EOS insertion; decoding concatenates token bytes, with [`StreamDecoder`] for incremental output.
//!
//! Out of scope: chat prompt formatting (§6.5), special-token parsing in user text (control tokens such
//! as `<s>` are never matched), and other tokenizer families.

mod error;
mod literal;
mod stream;
mod trie;
mod vocab_text;

use std::path::Path;

pub use error::TokenizerError;
pub use stream::StreamDecoder;

use trie::Trie;
use vocab_text::MAX_VOCAB;

/// Id of the end-of-text token (`<s>` in GGUF), which has no bytes.
pub const END_OF_TEXT: u32 = 0;

/// What a token id is, for callers that print or filter tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// Matched by `encode`, decodes to its bytes.
    Normal,
    /// Control token (GGUF type 3, e.g. id 0 `<s>`): never matched, decodes to nothing.
    Control,
    /// Unused slot (GGUF type 5, e.g. `[PAD65530]`, or an id the vocab file skips): never matched,
    /// decodes to nothing.
    Unused,
}

/// GGUF `tokenizer.ggml.token_type` values that exclude a token from matching and decoding.
const TOKEN_TYPE_CONTROL: i64 = 3;
const TOKEN_TYPE_UNUSED: i64 = 5;

/// An RWKV World tokenizer. Immutable once built; cheap to share between threads.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    /// All token bytes back to back; token `id` is `pieces[offsets[id]..offsets[id + 1]]`.
    pieces: Vec<u8>,
    offsets: Vec<u32>,
    kinds: Vec<TokenKind>,
    trie: Trie,
}

impl Tokenizer {
    /// From GGUF `tokenizer.ggml.tokens` (escaped as llama.cpp's converter writes them, spec §6.4) and
    /// optional `tokenizer.ggml.token_type`. Control (3) and unused (5) tokens are not matchable and
    /// decode to nothing. Without token types, id 0 is treated as control and all others as normal.
    pub fn from_gguf_tokens(
        tokens: &[&str],
        token_types: Option<&[i64]>,
    ) -> Result<Tokenizer, TokenizerError> {
        if tokens.is_empty() {
            return Err(TokenizerError::EmptyVocab);
        }
        if tokens.len() > MAX_VOCAB {
            return Err(TokenizerError::TooManyTokens {
                count: tokens.len(),
                max: MAX_VOCAB,
            });
        }
        if let Some(types) = token_types {
            if types.len() != tokens.len() {
                return Err(TokenizerError::TokenTypesLength {
                    tokens: tokens.len(),
                    types: types.len(),
                });
            }
        }
        let mut pieces = Vec::with_capacity(tokens.iter().map(|t| t.len()).sum());
        let mut offsets = Vec::with_capacity(tokens.len() + 1);
        let mut kinds = Vec::with_capacity(tokens.len());
        offsets.push(0);
        for (id, token) in tokens.iter().enumerate() {
            let kind = match token_types {
                Some(types) => match types[id] {
                    TOKEN_TYPE_CONTROL => TokenKind::Control,
                    TOKEN_TYPE_UNUSED => TokenKind::Unused,
                    0..=6 => TokenKind::Normal,
                    other => {
                        return Err(TokenizerError::BadTokenType {
                            id,
                            token_type: other,
                        })
                    }
                },
                None if id == 0 => TokenKind::Control,
                None => TokenKind::Normal,
            };
            literal::unescape_gguf_token(token, &mut pieces).map_err(|problem| {
                TokenizerError::BadGgufToken {
                    id,
                    token: token.to_string(),
                    problem,
                }
            })?;
            offsets.push(offset_u32(pieces.len())?);
            kinds.push(kind);
        }
        Ok(Self::assemble(pieces, offsets, kinds))
    }

    /// From the text of `rwkv_vocab_v20230424.txt` (spec §6.1). Id 0 is reserved (end of text); the
    /// vocabulary size is the largest id + 1, and ids the file skips are unused.
    pub fn from_vocab_text(text: &str) -> Result<Tokenizer, TokenizerError> {
        Self::from_vocab_text_named(text, "vocab text")
    }

    /// Reads and parses a vocabulary file; errors name the path and line.
    pub fn from_vocab_file(path: impl AsRef<Path>) -> Result<Tokenizer, TokenizerError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| TokenizerError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let origin = path.display().to_string();
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => text,
            Err(e) => {
                let (line, column) = vocab_text::line_and_column(&bytes, e.valid_up_to());
                return Err(TokenizerError::VocabNotUtf8 {
                    origin,
                    line,
                    column,
                });
            }
        };
        Self::from_vocab_text_named(text, &origin)
    }

    fn from_vocab_text_named(text: &str, origin: &str) -> Result<Tokenizer, TokenizerError> {
        let vocab = vocab_text::parse(text, origin)?;
        let mut pieces = Vec::new();
        let mut offsets = Vec::with_capacity(vocab.tokens.len() + 1);
        let mut kinds = Vec::with_capacity(vocab.tokens.len());
        offsets.push(0);
        for (id, token) in vocab.tokens.iter().enumerate() {
            let kind = match token {
                Some(bytes) => {
                    pieces.extend_from_slice(bytes);
                    TokenKind::Normal
                }
                None if id == END_OF_TEXT as usize => TokenKind::Control,
                None => TokenKind::Unused,
            };
            offsets.push(offset_u32(pieces.len())?);
            kinds.push(kind);
        }
        Ok(Self::assemble(pieces, offsets, kinds))
    }

    fn assemble(pieces: Vec<u8>, offsets: Vec<u32>, kinds: Vec<TokenKind>) -> Tokenizer {
        let matchable = kinds
            .iter()
            .enumerate()
            .filter(|(_, &k)| k == TokenKind::Normal)
            .map(|(id, _)| {
                let range = offsets[id] as usize..offsets[id + 1] as usize;
                (id as u32, &pieces[range])
            });
        let trie = Trie::build(matchable);
        Tokenizer {
            pieces,
            offsets,
            kinds,
            trie,
        }
    }

    /// Number of token ids (valid ids are `0..vocab_size`).
    pub fn vocab_size(&self) -> usize {
        self.kinds.len()
    }

    /// Greedy longest-match encoding of the text's UTF-8 bytes (spec §6.2).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        self.encode_bytes(text.as_bytes())
    }

    /// Greedy longest-match encoding of raw bytes; fails, naming the byte and its offset, where no
    /// token starts with the byte at the current position.
    pub fn encode_bytes(&self, bytes: &[u8]) -> Result<Vec<u32>, TokenizerError> {
        // World tokens average several bytes; this avoids most regrowth without over-allocating much.
        let mut ids = Vec::with_capacity(bytes.len() / 2 + 1);
        let mut i = 0;
        while i < bytes.len() {
            let (id, len) =
                self.trie
                    .longest_match(&bytes[i..])
                    .ok_or(TokenizerError::NoTokenForByte {
                        byte: bytes[i],
                        offset: i,
                    })?;
            ids.push(id);
            i += len;
        }
        Ok(ids)
    }

    /// Concatenated token bytes (spec §6.3). Control and unused ids contribute nothing; ids outside the
    /// vocabulary are an error.
    pub fn decode(&self, ids: &[u32]) -> Result<Vec<u8>, TokenizerError> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            self.append_decoded(id, &mut out)?;
        }
        Ok(out)
    }

    /// `decode`, then UTF-8 with invalid sequences replaced by U+FFFD.
    pub fn decode_lossy(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        let bytes = self.decode(ids)?;
        Ok(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// The bytes a normal token decodes to; `None` for control/unused ids and ids out of range.
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        match self.token_kind(id)? {
            TokenKind::Normal => Some(self.piece(id)),
            TokenKind::Control | TokenKind::Unused => None,
        }
    }

    /// Kind of a token id; `None` when out of range.
    pub fn token_kind(&self, id: u32) -> Option<TokenKind> {
        self.kinds.get(id as usize).copied()
    }

    /// The stored text of any token, including control/unused ones (e.g. `<s>` from a GGUF vocabulary;
    /// empty for id 0 of a vocab file). `None` when out of range. For display, not for decoding.
    pub fn token_piece(&self, id: u32) -> Option<&[u8]> {
        ((id as usize) < self.vocab_size()).then(|| self.piece(id))
    }

    fn piece(&self, id: u32) -> &[u8] {
        let id = id as usize;
        &self.pieces[self.offsets[id] as usize..self.offsets[id + 1] as usize]
    }

    /// Appends what `id` decodes to; shared by `decode` and `StreamDecoder`.
    pub(crate) fn append_decoded(&self, id: u32, out: &mut Vec<u8>) -> Result<(), TokenizerError> {
        match self.token_kind(id) {
            None => Err(TokenizerError::IdOutOfRange {
                id,
                vocab_size: self.vocab_size(),
            }),
            Some(TokenKind::Normal) => {
                out.extend_from_slice(self.piece(id));
                Ok(())
            }
            Some(TokenKind::Control | TokenKind::Unused) => Ok(()),
        }
    }
}

fn offset_u32(len: usize) -> Result<u32, TokenizerError> {
    // The World vocab is ~0.5 MB of token bytes; 4 GiB of them means a corrupt input.
    u32::try_from(len).map_err(|_| TokenizerError::VocabTooLarge { bytes: len })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

    #[test]
    fn tokenizer_is_send_sync_clone() {
        assert_send_sync_clone::<Tokenizer>();
    }
}
