//! Malformed vocabularies and bad ids give errors that say where and what.

use tokenizer::{TokenKind, Tokenizer, TokenizerError};

fn vocab_error(text: &str) -> (TokenizerError, String) {
    let err = Tokenizer::from_vocab_text(text).expect_err("vocab should be rejected");
    let message = err.to_string();
    (err, message)
}

#[test]
fn bad_literal_names_line() {
    let (err, msg) = vocab_error("1 'a' 1\n2 'b 1\n");
    assert!(
        matches!(err, TokenizerError::VocabLine { line: 2, .. }),
        "{err:?}"
    );
    assert!(
        msg.contains("line 2") && msg.contains("not closed"),
        "{msg}"
    );

    let (_, msg) = vocab_error("1 'a' 1\n2 abc 3\n");
    assert!(
        msg.contains("line 2") && msg.contains("does not start"),
        "{msg}"
    );
    let (_, msg) = vocab_error("1 'a'b' 3\n");
    assert!(msg.contains("line 1") && msg.contains("unescaped"), "{msg}");
    let (_, msg) = vocab_error("1 'a' 1\n\n3 b'\u{e9}' 2\n");
    assert!(msg.contains("line 3") && msg.contains("non-ASCII"), "{msg}");
}

#[test]
fn byte_len_mismatch_names_line_and_lengths() {
    let (err, msg) = vocab_error("1 'a' 1\r\n2 'ab' 3\r\n");
    assert!(
        matches!(err, TokenizerError::VocabLine { line: 2, .. }),
        "{err:?}"
    );
    assert!(
        msg.contains("line 2") && msg.contains("is 2 bytes") && msg.contains("says 3"),
        "{msg}"
    );
    // A str literal's \xHH is a code point: '\xe9' is 2 UTF-8 bytes, not 1.
    let (_, msg) = vocab_error("1 '\\xe9' 1\n");
    assert!(msg.contains("is 2 bytes"), "{msg}");
    assert!(Tokenizer::from_vocab_text("1 '\\xe9' 2\n2 b'\\xe9' 1\n").is_ok());
}

#[test]
fn duplicate_id_names_both_lines() {
    let (err, msg) = vocab_error("1 'a' 1\n2 'b' 1\n1 'c' 1\n");
    assert!(
        matches!(
            err,
            TokenizerError::DuplicateId {
                line: 3,
                id: 1,
                first_line: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        msg.contains("line 3") && msg.contains("id 1") && msg.contains("line 1"),
        "{msg}"
    );
}

#[test]
fn non_numeric_fields() {
    let (_, msg) = vocab_error("1 'a' 1\nx2 'b' 1\n");
    assert!(
        msg.contains("line 2") && msg.contains("\"x2\" is not a number"),
        "{msg}"
    );
    let (_, msg) = vocab_error("+1 'a' 1\n");
    assert!(msg.contains("not a number"), "{msg}");
    let (_, msg) = vocab_error("1 'a' one\n");
    assert!(msg.contains("byte length \"one\""), "{msg}");
    let (_, msg) = vocab_error("1\n");
    assert!(msg.contains("line 1") && msg.contains("no space"), "{msg}");
    let (_, msg) = vocab_error("1 'a'\n");
    assert!(msg.contains("only one space"), "{msg}");
    let (_, msg) = vocab_error("0 'a' 1\n");
    assert!(msg.contains("reserved"), "{msg}");
    let (_, msg) = vocab_error("99999999 'a' 1\n");
    assert!(msg.contains("too large"), "{msg}");
}

#[test]
fn bad_escape_names_line() {
    let (_, msg) = vocab_error("1 'a' 1\n2 '\\q' 2\n");
    assert!(
        msg.contains("line 2") && msg.contains("bad escape \\q"),
        "{msg}"
    );
    let (_, msg) = vocab_error("1 '\\x4g' 1\n");
    assert!(
        msg.contains("line 1") && msg.contains("hex digits"),
        "{msg}"
    );
    let (_, msg) = vocab_error("1 '\\ud800' 3\n");
    assert!(msg.contains("not a Unicode scalar"), "{msg}");
}

#[test]
fn sparse_ids_and_literal_forms() {
    let text = "5 'a' 1\n2 \"'\" 1\n3 b'\\xff' 1\n7 ' x ' 3\n8 '\\u00e9\\U0001F600\\t\\\\' 8\n";
    let tok = Tokenizer::from_vocab_text(text).unwrap();
    assert_eq!(tok.vocab_size(), 9);
    assert_eq!(tok.token_kind(0), Some(TokenKind::Control));
    assert_eq!(tok.token_kind(4), Some(TokenKind::Unused));
    assert_eq!(tok.token_bytes(2), Some(&b"'"[..]));
    assert_eq!(tok.token_bytes(3), Some(&[0xff][..]));
    assert_eq!(tok.token_bytes(8), Some("é😀\t\\".as_bytes()));
    assert_eq!(tok.encode("a'a").unwrap(), [5, 2, 5]);
    assert_eq!(tok.encode(" x a").unwrap(), [7, 5]);
    assert_eq!(tok.decode(&[0, 4, 5, 6]).unwrap(), b"a");
    let err = tok.decode(&[5, 9]).unwrap_err();
    assert!(
        err.to_string().contains("token id 9") && err.to_string().contains("size 9"),
        "{err}"
    );
    assert_eq!(tok.token_bytes(9), None);
    assert_eq!(Tokenizer::from_vocab_text("").unwrap().vocab_size(), 1);
}

#[test]
fn vocab_file_errors_name_the_path() {
    let dir = std::env::temp_dir().join(format!("aviary-tokenizer-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let missing = dir.join("missing.txt");
    let msg = Tokenizer::from_vocab_file(&missing)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("missing.txt"), "{msg}");

    let bad = dir.join("bad-escape.txt");
    std::fs::write(&bad, "1 'a' 1\n2 '\\z' 1\n").unwrap();
    let msg = Tokenizer::from_vocab_file(&bad).unwrap_err().to_string();
    assert!(
        msg.contains("bad-escape.txt") && msg.contains("line 2"),
        "{msg}"
    );

    let latin1 = dir.join("latin1.txt");
    std::fs::write(&latin1, b"1 'a' 1\n2 '\xe9' 1\n").unwrap();
    let err = Tokenizer::from_vocab_file(&latin1).unwrap_err();
    assert!(
        matches!(
            err,
            TokenizerError::VocabNotUtf8 {
                line: 2,
                column: 4,
                ..
            }
        ),
        "{err:?}"
    );

    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn gguf_token_errors() {
    let err = Tokenizer::from_gguf_tokens(&["<s>", "a", "\\x4"], None).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, TokenizerError::BadGgufToken { id: 2, .. }),
        "{err:?}"
    );
    assert!(msg.contains("token 2") && msg.contains("hex"), "{msg}");

    let msg = Tokenizer::from_gguf_tokens(&["<s>", "a\\"], None)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("token 1") && msg.contains("lone backslash"),
        "{msg}"
    );

    let msg = Tokenizer::from_gguf_tokens(&["<s>", "a"], Some(&[3]))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("2 tokens") && msg.contains("1 token types"),
        "{msg}"
    );

    let msg = Tokenizer::from_gguf_tokens(&["<s>", "a"], Some(&[3, 9]))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("token 1") && msg.contains("type 9"), "{msg}");

    assert!(matches!(
        Tokenizer::from_gguf_tokens(&[], None),
        Err(TokenizerError::EmptyVocab)
    ));
}

#[test]
fn gguf_control_and_unused_are_not_matched() {
    let tok = Tokenizer::from_gguf_tokens(
        &["<s>", "<", "s", ">", "ab", "a"],
        Some(&[3, 1, 1, 1, 5, 1]),
    )
    .unwrap();
    assert_eq!(tok.encode("<s>").unwrap(), [1, 2, 3]);
    assert_eq!(
        tok.encode("ab").unwrap_err().to_string(),
        "no token matches byte 0x62 at byte offset 1 of the input"
    );
    assert_eq!(tok.token_kind(4), Some(TokenKind::Unused));
    assert_eq!(tok.token_piece(4), Some(&b"ab"[..]));
    assert_eq!(tok.decode(&[0, 4, 5]).unwrap(), b"a");
}
