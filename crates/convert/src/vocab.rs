//! The RWKV World vocabulary (`rwkv_vocab_v20230424.txt`, spec §6.1) and its GGUF form (§6.4).
//!
//! The file is not part of this repository. It is found at run time: `$AVIARY_WORLD_VOCAB`, else the
//! cache (`<cache>/rwkv_vocab_v20230424.txt`), else it is extracted from the `rwkv-tokenizer` 0.9.1
//! crate on crates.io (Apache-2.0), checked against known SHA-256 sums, and cached.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokenizer::Tokenizer;

use crate::{atomic, ConvertError};

pub const WORLD_VOCAB_FILE: &str = "rwkv_vocab_v20230424.txt";
pub const WORLD_VOCAB_SHA256: &str = "e6dee3d4e31b4d5c40ac99508ac6c701ceef4bed681bf2167ce9a908552bca89";
/// Environment variable naming a local copy of the vocabulary file.
pub const WORLD_VOCAB_ENV: &str = "AVIARY_WORLD_VOCAB";
pub const VOCAB_CRATE_URL: &str = "https://static.crates.io/crates/rwkv-tokenizer/rwkv-tokenizer-0.9.1.crate";
pub const VOCAB_CRATE_SHA256: &str = "9383f681507cfbe061b5e27be82aca4f6e5598bc71fff19e8986edd6552ca4fb";
const VOCAB_CRATE_MEMBER: &str = "rwkv-tokenizer-0.9.1/assets/rwkv_vocab_v20230424.txt";

/// Number of entries in the file (ids 1..=65529).
pub const WORLD_VOCAB_ENTRIES: usize = 65529;
/// Rows of the embedding of every World model: id 0, the entries, and 6 padding ids.
pub const WORLD_N_VOCAB: usize = 65536;
/// `tokenizer.ggml.token_type` values (llama.cpp).
const TOKEN_TYPE_NORMAL: i32 = 1;
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_UNUSED: i32 = 5;

/// Limits on what a download may hold, so a wrong URL cannot fill memory.
const MAX_CRATE_BYTES: u64 = 16 << 20;
const MAX_VOCAB_BYTES: u64 = 8 << 20;

/// The World vocabulary's token bytes.
#[derive(Clone, Debug)]
pub struct WorldVocab {
    /// `entries[i]` = bytes of token id `i + 1`.
    entries: Vec<Vec<u8>>,
}

impl WorldVocab {
    /// Finds the file (environment, cache, download) and loads it. `cache_dir` is aviary's cache base.
    pub fn load(cache_dir: &Path) -> Result<WorldVocab, ConvertError> {
        Self::from_file(&locate_world_vocab(cache_dir)?)
    }

    /// Reads a copy of `rwkv_vocab_v20230424.txt`; its SHA-256 must be the known one, so every
    /// machine generates the same synthetic models.
    pub fn from_file(path: &Path) -> Result<WorldVocab, ConvertError> {
        let bytes = std::fs::read(path).map_err(|e| ConvertError::io("reading", path, e))?;
        let origin = path.display().to_string();
        check_sha256(&bytes, WORLD_VOCAB_SHA256, &origin)?;
        let text = std::str::from_utf8(&bytes).map_err(|e| ConvertError::VocabContent {
            origin: origin.clone(),
            problem: format!("not UTF-8 at byte {}", e.valid_up_to()),
        })?;
        Self::from_text(text, &origin)
    }

    fn from_text(text: &str, origin: &str) -> Result<WorldVocab, ConvertError> {
        let tok = Tokenizer::from_vocab_text(text)
            .map_err(|e| ConvertError::Vocab { origin: origin.to_string(), source: Box::new(e) })?;
        let entries = (1..tok.vocab_size() as u32)
            .map(|id| {
                tok.token_bytes(id).map(<[u8]>::to_vec).ok_or_else(|| ConvertError::VocabContent {
                    origin: origin.to_string(),
                    problem: format!("token id {id} is missing"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(WorldVocab { entries })
    }

    /// Number of entries (65529 for the real file).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `tokenizer.ggml.tokens` and `tokenizer.ggml.token_type` for a vocabulary of `n_vocab` ids, as
    /// llama.cpp's converter writes them: `<s>` (control), the entries escaped (normal), then
    /// `[PAD<id>]` (unused). A smaller `n_vocab` truncates the entries (as the tiny-k fixture does).
    pub fn gguf_tokens(&self, n_vocab: usize) -> (Vec<String>, Vec<i32>) {
        let mut tokens = Vec::with_capacity(n_vocab);
        let mut types = Vec::with_capacity(n_vocab);
        for id in 0..n_vocab {
            let (text, ty) = match id {
                0 => ("<s>".to_string(), TOKEN_TYPE_CONTROL),
                _ => match self.entries.get(id - 1) {
                    Some(bytes) => (escape_token(bytes), TOKEN_TYPE_NORMAL),
                    None => (format!("[PAD{id}]"), TOKEN_TYPE_UNUSED),
                },
            };
            tokens.push(text);
            types.push(ty);
        }
        (tokens, types)
    }
}

/// Python's `repr(bytes)[2:-1]`: printable ASCII as is, `\\`, `\t`, `\n`, `\r`, other bytes `\xhh`.
/// Python quotes with `"` when the bytes contain `'` but no `"`; otherwise with `'`, escaping `'`.
pub fn escape_token(bytes: &[u8]) -> String {
    let quoted_with_double = bytes.contains(&b'\'') && !bytes.contains(&b'"');
    let escape_single_quote = !quoted_with_double;
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\'' if escape_single_quote => out.push_str("\\'"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// The vocabulary file to use: `$AVIARY_WORLD_VOCAB`, else the cached copy, else a fresh download.
pub fn locate_world_vocab(cache_dir: &Path) -> Result<PathBuf, ConvertError> {
    if let Some(path) = std::env::var_os(WORLD_VOCAB_ENV) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(ConvertError::VocabContent {
                origin: path.display().to_string(),
                problem: format!("{WORLD_VOCAB_ENV} names a file that does not exist"),
            });
        }
        return Ok(path);
    }
    let cached = cache_dir.join(WORLD_VOCAB_FILE);
    if cached.is_file() {
        return Ok(cached);
    }
    let text = download_world_vocab()?;
    atomic::write_file(&cached, &text)?;
    Ok(cached)
}

/// Downloads the rwkv-tokenizer crate and extracts the vocabulary, checking both SHA-256 sums.
pub fn download_world_vocab() -> Result<Vec<u8>, ConvertError> {
    let failed = |reason: String| ConvertError::VocabDownload { url: VOCAB_CRATE_URL.to_string(), reason };
    let response = ureq::get(VOCAB_CRATE_URL)
        .timeout(std::time::Duration::from_secs(60))
        .call()
        // ureq's message starts with the URL, which the error already names.
        .map_err(|e| failed(e.to_string().trim_start_matches(&format!("{VOCAB_CRATE_URL}: ")).to_string()))?;
    let mut archive = Vec::new();
    response
        .into_reader()
        .take(MAX_CRATE_BYTES + 1)
        .read_to_end(&mut archive)
        .map_err(|e| failed(e.to_string()))?;
    if archive.len() as u64 > MAX_CRATE_BYTES {
        return Err(failed(format!("the response is larger than {MAX_CRATE_BYTES} bytes")));
    }
    check_sha256(&archive, VOCAB_CRATE_SHA256, VOCAB_CRATE_URL)?;
    let text = extract_member(&archive, VOCAB_CRATE_MEMBER).map_err(failed)?;
    check_sha256(&text, WORLD_VOCAB_SHA256, &format!("{VOCAB_CRATE_URL}:{VOCAB_CRATE_MEMBER}"))?;
    Ok(text)
}

/// One file out of a `.tar.gz`.
fn extract_member(archive: &[u8], member: &str) -> Result<Vec<u8>, String> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let entries = tar.entries().map_err(|e| format!("reading the archive: {e}"))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading the archive: {e}"))?;
        let is_member = entry.path().map(|p| p == Path::new(member)).unwrap_or(false);
        if !is_member {
            continue;
        }
        let mut data = Vec::new();
        entry
            .take(MAX_VOCAB_BYTES + 1)
            .read_to_end(&mut data)
            .map_err(|e| format!("extracting {member}: {e}"))?;
        if data.len() as u64 > MAX_VOCAB_BYTES {
            return Err(format!("{member} is larger than {MAX_VOCAB_BYTES} bytes"));
        }
        return Ok(data);
    }
    Err(format!("the archive has no {member}"))
}

fn check_sha256(bytes: &[u8], expected: &str, what: &str) -> Result<(), ConvertError> {
    let found: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    if found != expected {
        return Err(ConvertError::Checksum { what: what.to_string(), expected: expected.to_string(), found });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_python_bytes_repr() {
        assert_eq!(escape_token(b"\n\n"), "\\n\\n");
        assert_eq!(escape_token(b"\\"), "\\\\");
        assert_eq!(escape_token(b"'"), "'");
        assert_eq!(escape_token(b"\"'"), "\"\\'");
        assert_eq!(escape_token(b"\""), "\"");
        assert_eq!(escape_token(&[0x00, 0x7f, 0xff]), "\\x00\\x7f\\xff");
        assert_eq!(escape_token("é".as_bytes()), "\\xc3\\xa9");
        assert_eq!(escape_token(b"Hello"), "Hello");
    }

    #[test]
    fn extract_member_reports_missing_file() {
        let err = extract_member(b"not gzip", "x").unwrap_err();
        assert!(err.contains("archive"), "{err}");
    }
}
