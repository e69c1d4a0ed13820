//! Parser for `rwkv_vocab_v20230424.txt` lines: `<id> <python literal> <byte_len>` (spec §6.1).

use crate::literal::parse_python_literal;
use crate::TokenizerError;

/// Ids above this are refused, so a corrupt id cannot make us allocate gigabytes of per-id tables.
pub(crate) const MAX_VOCAB: usize = 1 << 24;

/// The parsed file: token bytes per id (`None` for id 0 and ids the file skips).
pub(crate) struct VocabText {
    pub(crate) tokens: Vec<Option<Vec<u8>>>,
}

pub(crate) fn parse(text: &str, origin: &str) -> Result<VocabText, TokenizerError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // (id, line number, bytes) in file order.
    let mut entries: Vec<(u32, usize, Vec<u8>)> = Vec::new();
    // `str::lines` splits on LF and drops a CR before it, so CRLF files read the same.
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        if line.is_empty() {
            continue;
        }
        let bad = |problem: String| TokenizerError::VocabLine {
            origin: origin.to_string(),
            line: line_no,
            problem,
            text: shorten(line),
        };
        // The literal may contain spaces: it is everything between the first and the last space.
        let (Some(first), Some(last)) = (line.find(' '), line.rfind(' ')) else {
            return Err(bad(
                "expected `<id> <literal> <byte_len>`, found no space".to_string()
            ));
        };
        if first == last {
            return Err(bad(
                "expected `<id> <literal> <byte_len>`, found only one space".to_string(),
            ));
        }
        let (id_text, literal, len_text) =
            (&line[..first], &line[first + 1..last], &line[last + 1..]);
        let id: u32 = parse_number(id_text)
            .ok_or_else(|| bad(format!("token id {id_text:?} is not a number")))?;
        if id == 0 {
            return Err(bad(
                "token id 0 is reserved for end of text and must not appear in the file"
                    .to_string(),
            ));
        }
        if id as usize >= MAX_VOCAB {
            return Err(bad(format!(
                "token id {id} is too large (limit {})",
                MAX_VOCAB - 1
            )));
        }
        let byte_len: usize = parse_number(len_text)
            .ok_or_else(|| bad(format!("byte length {len_text:?} is not a number")))?;
        let mut bytes = Vec::with_capacity(byte_len.min(literal.len()));
        parse_python_literal(literal, &mut bytes)
            .map_err(|p| bad(format!("bad literal {literal}: {p}")))?;
        if bytes.len() != byte_len {
            return Err(bad(format!(
                "token {id}: literal {literal} is {} bytes, but the line says {byte_len}",
                bytes.len()
            )));
        }
        entries.push((id, line_no, bytes));
    }

    let vocab_size = entries.iter().map(|e| e.0 as usize + 1).max().unwrap_or(1);
    let mut tokens: Vec<Option<Vec<u8>>> = vec![None; vocab_size];
    let mut defined_on: Vec<usize> = vec![0; vocab_size];
    for (id, line, bytes) in entries {
        let slot = id as usize;
        if defined_on[slot] != 0 {
            return Err(TokenizerError::DuplicateId {
                origin: origin.to_string(),
                line,
                id,
                first_line: defined_on[slot],
            });
        }
        defined_on[slot] = line;
        tokens[slot] = Some(bytes);
    }
    Ok(VocabText { tokens })
}

/// Plain decimal digits only: `str::parse` would also accept a leading `+`.
fn parse_number<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn shorten(line: &str) -> String {
    const MAX: usize = 120;
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line.to_string(),
    }
}

/// Line and column (1-based) of a byte offset, for reporting invalid UTF-8.
pub(crate) fn line_and_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    (line, offset - line_start + 1)
}
