//! The real World vocabulary: golden encodings from the reference tokenizer, both load paths (vocab
//! file and GGUF-escaped tokens), round trips and build time.

mod common;

use common::*;
use tokenizer::{TokenKind, Tokenizer};

fn check_golden(tok: &Tokenizer, what: &str) -> usize {
    let Some(cases) = golden_cases() else {
        return 0;
    };
    assert!(!cases.is_empty(), "no golden cases in {GOLDEN}");
    for case in &cases {
        let got = tok
            .encode_bytes(&case.bytes)
            .unwrap_or_else(|e| panic!("{what}, golden line {}: {e}", case.line));
        assert_eq!(
            got,
            case.tokens,
            "{what}, golden line {} ({:?})",
            case.line,
            String::from_utf8_lossy(&case.bytes)
        );
        assert_eq!(
            tok.decode(&case.tokens).unwrap(),
            case.bytes,
            "{what}, golden line {} decode",
            case.line
        );
        if let Ok(text) = std::str::from_utf8(&case.bytes) {
            assert_eq!(tok.encode(text).unwrap(), case.tokens);
        }
    }
    cases.len()
}

#[test]
fn golden_from_vocab_file() {
    let Some(world) = world_from_file() else {
        return;
    };
    assert_eq!(world.vocab_size(), 65530);
    assert_eq!(world.token_kind(0), Some(TokenKind::Control));
    assert_eq!(world.token_bytes(0), None);
    assert_eq!(world.token_bytes(261), Some(&b"\n\n"[..]));
    for byte in 0..=255u8 {
        assert_eq!(
            world.token_bytes(byte as u32 + 1),
            Some(&[byte][..]),
            "id = byte + 1"
        );
    }
    assert!(check_golden(&world, "vocab file") > 0);
}

#[test]
fn golden_from_gguf_tokens() {
    let Some(world) = world_from_file() else {
        return;
    };
    let (tokens, types) = world_gguf_tokens(&world);
    let gguf = Tokenizer::from_gguf_tokens(&as_strs(&tokens), Some(&types)).unwrap();
    assert_eq!(gguf.vocab_size(), 65536);
    // Every token unescapes to exactly the bytes of the vocab file.
    for id in 1..=WORLD_TOKENS as u32 {
        assert_eq!(
            gguf.token_bytes(id),
            world.token_bytes(id),
            "token {id} ({:?})",
            tokens[id as usize]
        );
    }
    assert_eq!(gguf.token_kind(0), Some(TokenKind::Control));
    assert_eq!(gguf.token_piece(0), Some(&b"<s>"[..]));
    assert_eq!(gguf.token_kind(65535), Some(TokenKind::Unused));
    assert!(check_golden(&gguf, "GGUF tokens") > 0);

    // Control and padding strings in text are ordinary text, never ids 0 or 65530+.
    for text in ["<s>", "[PAD65530]", "x<s>[PAD65535]y"] {
        let ids = gguf.encode(text).unwrap();
        assert_eq!(ids, world.encode(text).unwrap());
        assert!(
            ids.iter().all(|&id| id != 0 && id < 65530),
            "{text:?} -> {ids:?}"
        );
    }
    assert_eq!(gguf.decode(&[0, 261, 65530, 65535]).unwrap(), b"\n\n");
    assert!(gguf
        .decode(&[65536])
        .unwrap_err()
        .to_string()
        .contains("65536"));
}

#[test]
fn gguf_tokens_without_types_treat_id0_as_control() {
    let Some(world) = world_from_file() else {
        return;
    };
    let mut tokens = vec!["<s>".to_string()];
    tokens.extend(escaped_tokens(&world, WORLD_TOKENS));
    let gguf = Tokenizer::from_gguf_tokens(&as_strs(&tokens), None).unwrap();
    assert_eq!(gguf.token_kind(0), Some(TokenKind::Control));
    assert_eq!(gguf.encode("<s>").unwrap(), world.encode("<s>").unwrap());
    assert!(check_golden(&gguf, "GGUF tokens without types") > 0);
}

#[test]
fn crlf_vocab_loads_identically() {
    let Some(text) = vocab_text() else { return };
    let lf = Tokenizer::from_vocab_text(&text).unwrap();
    let crlf = Tokenizer::from_vocab_text(&text.replace('\n', "\r\n")).unwrap();
    assert_eq!(lf.vocab_size(), crlf.vocab_size());
    for id in 0..lf.vocab_size() as u32 {
        assert_eq!(lf.token_bytes(id), crlf.token_bytes(id), "token {id}");
    }
    assert!(check_golden(&crlf, "CRLF vocab") > 0);
}

#[test]
fn round_trip_random_text_and_bytes() {
    let Some(world) = world_from_file() else {
        return;
    };
    let (tokens, types) = world_gguf_tokens(&world);
    let gguf = Tokenizer::from_gguf_tokens(&as_strs(&tokens), Some(&types)).unwrap();
    let mut rng = testkit::TestRng::new(0x5eed_0001);
    let mut cases = 0;
    for &n in testkit::ODD_SIZES.iter().chain(&[0, 1000, 4099]) {
        for _ in 0..4 {
            let text = random_text(&mut rng, n);
            let ids = world.encode(&text).unwrap();
            assert_eq!(world.decode_lossy(&ids).unwrap(), text);
            assert_eq!(
                gguf.encode(&text).unwrap(),
                ids,
                "GGUF and vocab-file tokenizers disagree"
            );

            let bytes = rng.bytes(n);
            let ids = world.encode_bytes(&bytes).unwrap();
            assert_eq!(world.decode(&ids).unwrap(), bytes);
            assert!(ids.len() <= bytes.len());
            cases += 2;
        }
    }
    assert!(cases > 0);
}

#[test]
fn greedy_is_longest_prefix_not_optimal() {
    let Some(world) = world_from_file() else {
        return;
    };
    // Each step takes the longest token starting at the current position.
    let text = "The quick brown fox jumps over the lazy dog; 天下大势，分久必合。";
    let ids = world.encode(text).unwrap();
    let mut pos = 0;
    for &id in &ids {
        let piece = world.token_bytes(id).unwrap();
        let rest = &text.as_bytes()[pos..];
        assert!(rest.starts_with(piece));
        // No token is a longer prefix of the rest.
        for len in piece.len() + 1..=rest.len().min(128) {
            let longer = &rest[..len];
            assert!(
                !(1..world.vocab_size() as u32)
                    .any(|other| world.token_bytes(other) == Some(longer)),
                "a longer token matches at byte {pos}"
            );
        }
        pos += piece.len();
    }
    assert_eq!(pos, text.len());
}

#[test]
fn build_time_is_small() {
    let Some(text) = vocab_text() else { return };
    let start = std::time::Instant::now();
    let world = Tokenizer::from_vocab_text(&text).unwrap();
    let from_text = start.elapsed();
    let (tokens, types) = world_gguf_tokens(&world);
    let strs = as_strs(&tokens);
    let start = std::time::Instant::now();
    let _gguf = Tokenizer::from_gguf_tokens(&strs, Some(&types)).unwrap();
    let from_gguf = start.elapsed();
    eprintln!("build from vocab text: {from_text:?}, from GGUF tokens: {from_gguf:?}");
    // Generous for unoptimized builds; release builds take a few tens of ms.
    assert!(from_text.as_millis() < 2000 && from_gguf.as_millis() < 2000);

    let long = random_text(&mut testkit::TestRng::new(7), 200_000);
    let start = std::time::Instant::now();
    let ids = world.encode(&long).unwrap();
    eprintln!(
        "encode {} bytes -> {} tokens: {:?}",
        long.len(),
        ids.len(),
        start.elapsed()
    );
}
