//! Python string/bytes literals as written in `rwkv_vocab_v20230424.txt` (spec §6.1), and the GGUF
//! token escape of llama.cpp (spec §6.4).
//!
//! Both functions append the decoded bytes to `out` and report problems as a sentence the caller wraps
//! with the line number or token id.

/// Decodes one Python literal: `'...'` / `"..."` (a `str`, encoded to UTF-8) or `b'...'` / `b"..."`.
///
/// Escapes follow Python: `\\ \' \" \n \t \r \a \b \f \v`, octal `\ooo`, `\xHH`, and in `str` literals
/// `\uXXXX` and `\UXXXXXXXX`. Python keeps unknown escapes (`\q`) verbatim with a warning; a vocabulary
/// should never contain one, so here it is an error. In a `str` literal `\xHH` is the code point U+00HH
/// (two UTF-8 bytes when HH >= 0x80), in a `bytes` literal it is the raw byte.
pub(crate) fn parse_python_literal(literal: &str, out: &mut Vec<u8>) -> Result<(), String> {
    let (is_bytes, quoted) = match literal.strip_prefix(['b', 'B']) {
        Some(rest) => (true, rest),
        None => (false, literal),
    };
    let quote = match quoted.chars().next() {
        Some(q @ ('\'' | '"')) => q,
        _ => return Err("literal does not start with ', \", b' or b\"".to_string()),
    };
    if quoted.len() < 2 || !quoted.ends_with(quote) {
        return Err(format!("literal is not closed by {quote}"));
    }
    let body = &quoted[1..quoted.len() - 1];
    let kind = if is_bytes { "bytes" } else { "str" };

    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == quote {
            return Err(format!("unescaped {quote} inside the literal"));
        }
        if c != '\\' {
            if is_bytes && !c.is_ascii() {
                return Err(format!("non-ASCII character {c:?} in a bytes literal"));
            }
            push_char(out, c);
            continue;
        }
        let escape = chars.next().ok_or("literal ends with a lone backslash")?;
        match escape {
            '\\' | '\'' | '"' => out.push(escape as u8),
            'n' => out.push(b'\n'),
            't' => out.push(b'\t'),
            'r' => out.push(b'\r'),
            'a' => out.push(0x07),
            'b' => out.push(0x08),
            'f' => out.push(0x0c),
            'v' => out.push(0x0b),
            '0'..='7' => {
                let mut value = escape.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            value = value * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                push_code(out, value, is_bytes, "octal")?;
            }
            'x' => {
                let value = take_hex(&mut chars, 2, 'x')?;
                push_code(out, value, is_bytes, "\\x")?;
            }
            'u' | 'U' if !is_bytes => {
                let digits = if escape == 'u' { 4 } else { 8 };
                let value = take_hex(&mut chars, digits, escape)?;
                push_code(out, value, false, if escape == 'u' { "\\u" } else { "\\U" })?;
            }
            'N' if !is_bytes => {
                return Err("named escapes (\\N{...}) are not supported".to_string())
            }
            other => return Err(format!("bad escape \\{other} in a {kind} literal")),
        }
    }
    Ok(())
}

fn take_hex(
    chars: &mut impl Iterator<Item = char>,
    digits: usize,
    letter: char,
) -> Result<u32, String> {
    let mut value = 0u32;
    let mut seen = String::new();
    for _ in 0..digits {
        match chars.next() {
            Some(c) if c.is_ascii_hexdigit() => {
                seen.push(c);
                value = value * 16 + c.to_digit(16).unwrap_or(0);
            }
            found => {
                let found = found.map_or("end of literal".to_string(), |c| format!("{c:?}"));
                return Err(format!(
                    "bad escape \\{letter}{seen}: expected {digits} hex digits, found {found}"
                ));
            }
        }
    }
    Ok(value)
}

fn push_code(out: &mut Vec<u8>, value: u32, is_bytes: bool, what: &str) -> Result<(), String> {
    if is_bytes {
        let byte = u8::try_from(value)
            .map_err(|_| format!("{what} escape value {value:#o} exceeds a byte"))?;
        out.push(byte);
        return Ok(());
    }
    let c = char::from_u32(value)
        .ok_or_else(|| format!("{what} escape U+{value:04X} is not a Unicode scalar value"))?;
    push_char(out, c);
    Ok(())
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// Unescapes one `tokenizer.ggml.tokens` entry of an RWKV vocabulary (llama.cpp's
/// `llama_unescape_rwkv_token`): `\t \n \r`, `\xHH` to a byte, a backslash before any other character
/// gives that character, everything else is literal (non-ASCII characters give their UTF-8 bytes).
///
/// llama.cpp silently accepts malformed hex and a trailing backslash; those are errors here.
pub(crate) fn unescape_gguf_token(token: &str, out: &mut Vec<u8>) -> Result<(), String> {
    let bytes = token.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let escape = *bytes.get(i).ok_or("ends with a lone backslash")?;
        i += 1;
        match escape {
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'x' => {
                let hex = bytes
                    .get(i..i + 2)
                    .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
                let hex = hex.ok_or_else(|| {
                    format!("bad \\x escape at byte {}: expected 2 hex digits", i - 2)
                })?;
                // Both digits are ASCII hex, so the slice is valid UTF-8 and parses.
                let value = std::str::from_utf8(hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .unwrap_or(0);
                out.push(value);
                i += 2;
            }
            other => out.push(other),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        parse_python_literal(s, &mut out).map(|_| out)
    }

    fn gguf(s: &str) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        unescape_gguf_token(s, &mut out).map(|_| out)
    }

    #[test]
    fn str_literals() {
        assert_eq!(lit("'abc'").unwrap(), b"abc");
        assert_eq!(lit("\"'\"").unwrap(), b"'");
        assert_eq!(lit("'\\''").unwrap(), b"'");
        assert_eq!(lit("' a b '").unwrap(), b" a b ");
        assert_eq!(lit("'\\n\\t\\r\\\\\\\"'").unwrap(), b"\n\t\r\\\"");
        assert_eq!(lit("'\\x00\\x7f'").unwrap(), [0, 0x7f]);
        assert_eq!(lit("'\\xa0'").unwrap(), "\u{a0}".as_bytes());
        assert_eq!(lit("'\\u2002'").unwrap(), "\u{2002}".as_bytes());
        assert_eq!(lit("'\\U0001f600'").unwrap(), "😀".as_bytes());
        assert_eq!(lit("'é你'").unwrap(), "é你".as_bytes());
        assert_eq!(lit("'\\101\\0'").unwrap(), b"A\0");
        assert_eq!(lit("''").unwrap(), b"");
    }

    #[test]
    fn bytes_literals() {
        assert_eq!(lit("b'\\xff\\xfe'").unwrap(), [0xff, 0xfe]);
        assert_eq!(lit("b\"'\"").unwrap(), b"'");
        assert_eq!(lit("b'\\377'").unwrap(), [0xff]);
        assert!(lit("b'\\400'").unwrap_err().contains("exceeds a byte"));
        assert!(lit("b'é'").unwrap_err().contains("non-ASCII"));
        assert!(lit("b'\\u1234'").unwrap_err().contains("bad escape \\u"));
    }

    #[test]
    fn malformed_literals() {
        assert!(lit("abc").unwrap_err().contains("does not start"));
        assert!(lit("'abc").unwrap_err().contains("not closed"));
        assert!(lit("'").unwrap_err().contains("not closed"));
        assert!(lit("'abc\"").unwrap_err().contains("not closed"));
        assert!(lit("'a'b'").unwrap_err().contains("unescaped '"));
        assert!(lit("'abc\\'").unwrap_err().contains("lone backslash"));
        assert!(lit("'\\q'").unwrap_err().contains("bad escape \\q"));
        assert!(lit("'\\xg0'").unwrap_err().contains("hex digits"));
        assert!(lit("'\\x4'").unwrap_err().contains("hex digits"));
        assert!(lit("'\\ud800'")
            .unwrap_err()
            .contains("not a Unicode scalar"));
        assert!(lit("'\\U00110000'")
            .unwrap_err()
            .contains("not a Unicode scalar"));
        assert!(lit("'\\N{BULLET}'").unwrap_err().contains("not supported"));
    }

    #[test]
    fn gguf_unescape() {
        assert_eq!(gguf("abc").unwrap(), b"abc");
        assert_eq!(gguf("\\xc3\\xa9").unwrap(), "é".as_bytes());
        assert_eq!(gguf("\\xFF").unwrap(), [0xff]);
        assert_eq!(gguf("\\\\\\'\\n\\t\\r").unwrap(), b"\\'\n\t\r");
        assert_eq!(gguf("<s>").unwrap(), b"<s>");
        assert_eq!(gguf("é").unwrap(), "é".as_bytes());
        assert!(gguf("a\\").unwrap_err().contains("lone backslash"));
        assert!(gguf("\\x4").unwrap_err().contains("2 hex digits"));
        assert!(gguf("\\xzz").unwrap_err().contains("2 hex digits"));
    }
}
