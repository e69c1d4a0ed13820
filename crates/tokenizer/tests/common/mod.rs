//! Helpers shared by the tokenizer integration tests.
#![allow(dead_code)]

use tokenizer::Tokenizer;

pub const VOCAB: &str = "tokenizer/rwkv_vocab_v20230424.txt";
pub const GOLDEN: &str = "tokenizer/world-golden.jsonl";
/// Normal tokens in the World vocab file (ids 1..=65529).
pub const WORLD_TOKENS: usize = 65529;

/// The vocab file's text, or None (skip) when fixtures are absent.
pub fn vocab_text() -> Option<String> {
    let path = testkit::fixture(VOCAB)?;
    Some(
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display())),
    )
}

pub fn world_from_file() -> Option<Tokenizer> {
    let path = testkit::fixture(VOCAB)?;
    Some(Tokenizer::from_vocab_file(&path).unwrap_or_else(|e| panic!("{e}")))
}

/// What llama.cpp's converter stores per token: Python `repr(bytes)[2:-1]`.
pub fn python_bytes_repr_body(bytes: &[u8]) -> String {
    // repr picks double quotes only when the bytes contain ' and no ".
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\'' if quote == b'\'' => s.push_str("\\'"),
            b'\t' => s.push_str("\\t"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// GGUF-style token strings for ids 1..=count of a vocab-file tokenizer, in id order.
pub fn escaped_tokens(world: &Tokenizer, count: usize) -> Vec<String> {
    (1..=count as u32)
        .map(|id| {
            python_bytes_repr_body(
                world
                    .token_bytes(id)
                    .unwrap_or_else(|| panic!("token {id} missing")),
            )
        })
        .collect()
}

/// The full GGUF vocabulary as llama.cpp's converter writes it for the World vocab: `<s>` (control),
/// the 65529 escaped tokens (normal), `[PAD65530]`..`[PAD65535]` (unused).
pub fn world_gguf_tokens(world: &Tokenizer) -> (Vec<String>, Vec<i64>) {
    let mut tokens = vec!["<s>".to_string()];
    tokens.extend(escaped_tokens(world, WORLD_TOKENS));
    tokens.extend((65530..65536).map(|i| format!("[PAD{i}]")));
    let mut types = vec![3i64];
    types.extend(vec![1; WORLD_TOKENS]);
    types.extend(vec![5; 6]);
    (tokens, types)
}

pub fn as_strs(tokens: &[String]) -> Vec<&str> {
    tokens.iter().map(String::as_str).collect()
}

/// One golden case: input bytes (from "text" or "bytes_hex") and the expected ids.
pub struct GoldenCase {
    pub line: usize,
    pub bytes: Vec<u8>,
    pub tokens: Vec<u32>,
}

pub fn golden_cases() -> Option<Vec<GoldenCase>> {
    let path = testkit::fixture(GOLDEN)?;
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut cases = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("golden line {}: {e}", i + 1));
        let bytes = if let Some(t) = v.get("text").and_then(|t| t.as_str()) {
            t.as_bytes().to_vec()
        } else if let Some(h) = v.get("bytes_hex").and_then(|h| h.as_str()) {
            (0..h.len())
                .step_by(2)
                .map(|k| u8::from_str_radix(&h[k..k + 2], 16).unwrap())
                .collect()
        } else {
            panic!("golden line {}: neither text nor bytes_hex", i + 1)
        };
        let tokens = v["tokens"]
            .as_array()
            .unwrap_or_else(|| panic!("golden line {}: no tokens", i + 1))
            .iter()
            .map(|t| t.as_u64().unwrap() as u32)
            .collect();
        cases.push(GoldenCase {
            line: i + 1,
            bytes,
            tokens,
        });
    }
    Some(cases)
}

/// Seeded random UTF-8 text mixing ASCII, whitespace runs, Latin, Cyrillic, CJK and emoji.
pub fn random_text(rng: &mut testkit::TestRng, chars: usize) -> String {
    let mut s = String::new();
    for _ in 0..chars {
        let r = rng.next_u64();
        let c = match r % 8 {
            0..=2 => (0x20 + (r >> 8) % 0x5f) as u32,
            3 => [0x0a, 0x0d, 0x09, 0x20, 0x00][(r >> 8) as usize % 5],
            4 => 0xa0 + ((r >> 8) % 0x1e0) as u32,
            5 => 0x400 + ((r >> 8) % 0x100) as u32,
            6 => 0x4e00 + ((r >> 8) % 0x5000) as u32,
            _ => 0x1f300 + ((r >> 8) % 0x300) as u32,
        };
        s.push(char::from_u32(c).unwrap_or('?'));
    }
    s
}
