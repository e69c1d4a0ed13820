//! Streaming detokenizer (spec §6.3): tokens may split a multi-byte character, so bytes are held back
//! until they form complete UTF-8.

use crate::{Tokenizer, TokenizerError};

/// Turns a stream of token ids into text, emitting each character only once all its bytes arrived.
///
/// An incomplete sequence at the end of the buffer (at most 3 bytes) waits for the next token; invalid
/// bytes come out as U+FFFD right away, so output never stalls. The concatenated output of all `push`
/// calls plus `finish` equals `decode_lossy` of all the ids.
pub struct StreamDecoder<'a> {
    tokenizer: &'a Tokenizer,
    pending: Vec<u8>,
}

impl<'a> StreamDecoder<'a> {
    pub fn new(t: &'a Tokenizer) -> Self {
        StreamDecoder {
            tokenizer: t,
            pending: Vec::new(),
        }
    }

    /// Adds one token; returns the text that became complete (possibly empty).
    pub fn push(&mut self, id: u32) -> Result<String, TokenizerError> {
        self.tokenizer.append_decoded(id, &mut self.pending)?;
        Ok(self.take_complete())
    }

    /// Flushes whatever is left; an incomplete trailing sequence becomes U+FFFD.
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }

    /// Bytes received but not yet returned (an incomplete UTF-8 sequence).
    pub fn pending_bytes(&self) -> &[u8] {
        &self.pending
    }

    fn take_complete(&mut self) -> String {
        let mut text = String::new();
        let mut start = 0;
        loop {
            match std::str::from_utf8(&self.pending[start..]) {
                Ok(valid) => {
                    text.push_str(valid);
                    start = self.pending.len();
                    break;
                }
                Err(e) => {
                    let valid_end = start + e.valid_up_to();
                    // The prefix up to valid_up_to was just checked, so this cannot fail.
                    text.push_str(
                        std::str::from_utf8(&self.pending[start..valid_end]).unwrap_or_default(),
                    );
                    match e.error_len() {
                        // Invalid bytes: replace them, as from_utf8_lossy does, and go on.
                        Some(len) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            start = valid_end + len;
                        }
                        // A truncated sequence at the end: keep it for the next token.
                        None => {
                            start = valid_end;
                            break;
                        }
                    }
                }
            }
        }
        self.pending.drain(..start);
        text
    }
}
