//! The vocabularies of the model fixtures: the 512-token World prefix of synth-tiny-k and the byte-level
//! 256-token vocab of tiny-rwkv7-834K, checked against the token sequences llama.cpp produced.

mod common;

use common::*;
use tokenizer::{TokenKind, Tokenizer, TokenizerError};

#[test]
fn synth_tiny_k_512_token_vocab() {
    let Some(world) = world_from_file() else {
        return;
    };
    let Some(json) = testkit::fixture_json("synth-tiny-k-F32.json") else {
        return;
    };
    let expected: Vec<u32> = json["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(expected.len(), 33);
    assert_eq!(expected[0], 0);
    assert_eq!(json["n_vocab"], 512);

    let mut tokens = vec!["<s>".to_string()];
    tokens.extend(escaped_tokens(&world, 511));
    let mut types = vec![3i64];
    types.extend(vec![1; 511]);
    let text = "Hello, RWKV-7!\n\nThe year is 2025. (ok)";
    for types in [Some(&types[..]), None] {
        let tok = Tokenizer::from_gguf_tokens(&as_strs(&tokens), types).unwrap();
        assert_eq!(tok.vocab_size(), 512);
        let ids = tok.encode(text).unwrap();
        assert_eq!(ids, expected[1..], "types given: {}", types.is_some());
        assert_eq!(tok.decode(&expected).unwrap(), text.as_bytes());
    }
}

/// `<s>` (control) plus bytes 0x01..=0xFF, escaped as in the tiny fixture's GGUF.
fn byte_vocab() -> Tokenizer {
    let mut tokens = vec!["<s>".to_string()];
    tokens.extend((1..=255u8).map(|b| python_bytes_repr_body(&[b])));
    let mut types = vec![3i64];
    types.extend(vec![1; 255]);
    Tokenizer::from_gguf_tokens(&as_strs(&tokens), Some(&types)).unwrap()
}

#[test]
fn byte_level_vocab_maps_bytes_to_ids() {
    let tok = byte_vocab();
    assert_eq!(tok.vocab_size(), 256);
    assert_eq!(tok.token_kind(0), Some(TokenKind::Control));
    let text = "\"in the year 2025, RWKV-7";
    let ids = tok.encode(text).unwrap();
    let readme = [
        34, 105, 110, 32, 116, 104, 101, 32, 121, 101, 97, 114, 32, 50, 48, 50, 53, 44, 32, 82, 87,
        75, 86, 45, 55,
    ];
    assert_eq!(ids, readme);
    assert_eq!(ids, text.bytes().map(u32::from).collect::<Vec<_>>());

    let mut rng = testkit::TestRng::new(42);
    for &n in testkit::ODD_SIZES {
        let bytes: Vec<u8> = rng.bytes(n).into_iter().map(|b| b.max(1)).collect();
        let ids = tok.encode_bytes(&bytes).unwrap();
        assert_eq!(ids, bytes.iter().map(|&b| b as u32).collect::<Vec<_>>());
        assert_eq!(tok.decode(&ids).unwrap(), bytes);
    }
}

#[test]
fn byte_level_vocab_rejects_nul() {
    let tok = byte_vocab();
    let err = tok.encode("abc\0def").unwrap_err();
    assert!(
        matches!(err, TokenizerError::NoTokenForByte { byte: 0, offset: 3 }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("0x00") && message.contains("offset 3"),
        "{message}"
    );
    // "<s>" in text is three ordinary bytes, not the control token.
    assert_eq!(tok.encode("<s>").unwrap(), [60, 115, 62]);
}

#[test]
fn tiny_fixture_sequence_matches_json() {
    let Some(json) = testkit::fixture_json("tiny-rwkv7-834K-F32.json") else {
        return;
    };
    let expected: Vec<u32> = json["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(
        byte_vocab().encode("\"in the year 2025, RWKV-7").unwrap(),
        expected
    );
}
