//! BENCHMARKS.md: inserting one entry into its title's section without touching any other byte, and
//! reading entries back.
//!
//! The file is a header, then one `## <title>` section per title, each holding `### <time> - <change>`
//! entries. A section runs to the next line that starts with `## ` outside a fenced code block (or
//! to the end of the file). New entries go at the end of their section; a new title starts a new
//! section at the end of the file. Everything the writer produces is an insertion: the bytes before
//! and after the insertion point are the file's own, unchanged.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::BenchError;

/// First line a results file must have (after an optional UTF-8 byte order mark).
pub const HEADER_LINE: &str = "# Benchmark Results";

/// What a new file starts with, byte for byte.
pub const HEADER: &str = "# Benchmark Results

This file tracks performance benchmarks across changes to the codebase.

**How to use:**
1. Run benchmark BEFORE making changes with a descriptive title
2. Make your changes
3. Run benchmark AFTER with the SAME title to group results

```bash
cargo run --release --example benchmark -- --model <path> --title \"<title>\" --change \"<description>\"
```

---
";

/// One line of the file: where it starts, and its text without the line break.
struct Line<'a> {
    start: usize,
    text: &'a str,
}

fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    let mut start = 0;
    text.split_inclusive('\n').map(move |raw| {
        let line = Line { start, text: raw.trim_end_matches('\n').trim_end_matches('\r') };
        start += raw.len();
        line
    })
}

/// An open fenced code block: its character, length and 1-based line.
#[derive(Clone, Copy)]
struct Fence {
    ch: char,
    len: usize,
    line: usize,
}

/// The fence a line opens (CommonMark: up to 3 spaces, then 3+ backticks or tildes; a backtick
/// fence's info string has no backtick).
fn fence_opening(line: &str, number: usize) -> Option<Fence> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let ch = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let len = rest.len() - rest.trim_start_matches(ch).len();
    if len < 3 || (ch == '`' && rest[len..].contains('`')) {
        return None;
    }
    Some(Fence { ch, len, line: number })
}

fn closes(fence: Fence, line: &str) -> bool {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return false;
    }
    let rest = &line[indent..];
    let len = rest.len() - rest.trim_start_matches(fence.ch).len();
    len >= fence.len && rest[len..].trim().is_empty()
}

/// Lines outside fenced code blocks, and the fence left open at the end (if any).
fn prose_lines(text: &str) -> (Vec<Line<'_>>, Option<Fence>) {
    let mut out = Vec::new();
    let mut open: Option<Fence> = None;
    for (i, line) in lines(text).enumerate() {
        match open {
            Some(f) => {
                if closes(f, line.text) {
                    open = None;
                }
            }
            None => match fence_opening(line.text, i + 1) {
                Some(f) => open = Some(f),
                None => out.push(line),
            },
        }
    }
    (out, open)
}

/// The title of a level-2 heading line (`## <title>`), trimmed.
fn level2_title(line: &str) -> Option<&str> {
    if line == "##" {
        return Some("");
    }
    line.strip_prefix("## ").map(str::trim)
}

/// The line break to use for new text: CRLF when the file's first line ends with one.
fn newline_of(text: &str) -> &'static str {
    match text.find('\n') {
        Some(i) if text[..i].ends_with('\r') => "\r\n",
        _ => "\n",
    }
}

/// Line breaks needed before inserting at the end of `before` so that a blank line separates them.
fn separator(before: &str, nl: &str) -> String {
    if before.is_empty() {
        return String::new();
    }
    if !before.ends_with('\n') {
        return nl.repeat(2);
    }
    let last_line_gone = before[..before.len() - 1].trim_end_matches('\r');
    if last_line_gone.is_empty() || last_line_gone.ends_with('\n') {
        String::new()
    } else {
        nl.to_string()
    }
}

/// The file's content with `entry` (an entry block from [`super::BenchReport::markdown_entry`],
/// ending in a line break) inserted at the end of the `title` section, or in a new section at the
/// end. `existing` is `None` (or empty) for a new file, which gets [`HEADER`]. `path` only names the
/// file in errors.
pub fn insert_entry(path: &Path, existing: Option<&str>, title: &str, entry: &str) -> Result<String, BenchError> {
    let title = title.trim();
    let existing = existing.unwrap_or("");
    let (base, start_new) = if existing.is_empty() { (HEADER, true) } else { (existing, false) };
    if !start_new {
        let first = existing.trim_start_matches('\u{feff}').lines().next().unwrap_or("");
        if first.trim_end() != HEADER_LINE {
            return Err(BenchError::NotBenchmarkFile { path: path.to_path_buf(), first_line: first.to_string() });
        }
    }
    let (prose, open) = prose_lines(base);
    if let Some(f) = open {
        return Err(BenchError::UnclosedFence {
            path: path.to_path_buf(),
            line: f.line,
            fence: f.ch.to_string().repeat(f.len),
        });
    }
    let nl = newline_of(base);
    let entry = if nl == "\n" { entry.to_string() } else { entry.replace('\n', nl) };

    let section = prose.iter().position(|l| level2_title(l.text) == Some(title));
    let (at, insert) = match section {
        Some(i) => {
            let end = prose[i + 1..]
                .iter()
                .find(|l| level2_title(l.text).is_some())
                .map_or(base.len(), |l| l.start);
            let after = if end < base.len() { nl } else { "" };
            (end, format!("{}{entry}{after}", separator(&base[..end], nl)))
        }
        None => (base.len(), format!("{}## {title}{nl}{nl}{entry}", separator(base, nl))),
    };
    let mut out = String::with_capacity(base.len() + insert.len());
    out.push_str(&base[..at]);
    out.push_str(&insert);
    out.push_str(&base[at..]);
    Ok(out)
}

/// Checks that `path` can take an entry (missing, empty, or a results file without an open fence),
/// so a long benchmark does not end in a refusal.
pub fn check_file(path: &Path) -> Result<(), BenchError> {
    let existing = read_existing(path)?;
    insert_entry(path, existing.as_deref(), "check", "check\n").map(|_| ())
}

/// Inserts `entry` into the results file at `path` (created with the header if missing), replacing
/// the file atomically: the new content goes to a temporary file in the same directory, which is
/// then renamed over the old one. A symbolic link is followed, so its target is what changes.
pub fn append_entry(path: &Path, title: &str, entry: &str) -> Result<PathBuf, BenchError> {
    let target = match fs::canonicalize(path) {
        Ok(p) => p,
        Err(_) => path.to_path_buf(),
    };
    // Held until the new file is in place: two benches finishing together would otherwise both
    // read the old file, and the second rename would drop the first one's entry.
    let _writers = lock_directory(&directory_of(&target));
    let existing = read_existing(&target)?;
    let content = insert_entry(&target, existing.as_deref(), title, entry)?;
    write_atomically(&target, content.as_bytes())?;
    Ok(target)
}

/// An exclusive lock on `dir` (released when the handle drops), serializing the writers of the
/// results files in it. Best effort: where a directory cannot be opened or locked (Windows opens no
/// directory as a file), entries are written without it.
fn lock_directory(dir: &Path) -> Option<fs::File> {
    let handle = fs::File::open(dir).ok()?;
    handle.lock().ok()?;
    Some(handle)
}

fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn read_existing(path: &Path) -> Result<Option<String>, BenchError> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|e| BenchError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not UTF-8 text (invalid byte at offset {}); nothing was written", e.utf8_error().valid_up_to()),
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(BenchError::Io { path: path.to_path_buf(), source }),
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), BenchError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| BenchError::Io { path: p, source }
    };
    let dir = directory_of(path);
    let name = path.file_name().map_or_else(|| "benchmarks".into(), |n| n.to_string_lossy().into_owned());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let tmp = dir.join(format!(".{name}.{}-{nanos}.tmp", std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        // Keep the old file's permissions; a fresh file gets the process defaults.
        if let Ok(meta) = fs::metadata(path) {
            fs::set_permissions(&tmp, meta.permissions()).map_err(io(&tmp))?;
        }
        fs::rename(&tmp, path).map_err(io(path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// One `### <time> - <change>` entry read back from a results file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedEntry {
    pub timestamp: String,
    pub change: String,
    /// Table rows in file order, `(metric, value)` with `**` and backticks removed.
    pub rows: Vec<(String, String)>,
    /// The quality token list of the entry's details block.
    pub tokens: Option<Vec<u32>>,
}

impl ParsedEntry {
    pub fn value(&self, metric: &str) -> Option<&str> {
        self.rows.iter().find(|(k, _)| k == metric).map(|(_, v)| v.as_str())
    }
}

/// One `## <title>` section read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedSection {
    pub title: String,
    pub entries: Vec<ParsedEntry>,
}

/// The sections and entries of a results file, in file order. Lines that are not part of the
/// format are skipped.
pub fn parse_results(text: &str) -> Vec<ParsedSection> {
    let mut sections: Vec<ParsedSection> = Vec::new();
    let mut open: Option<Fence> = None;
    for (i, line) in lines(text).enumerate() {
        let t = line.text;
        if let Some(f) = open {
            if closes(f, t) {
                open = None;
            } else if let Some(entry) = sections.last_mut().and_then(|s| s.entries.last_mut()) {
                if entry.tokens.is_none() {
                    entry.tokens = parse_token_list(t);
                }
            }
            continue;
        }
        if let Some(f) = fence_opening(t, i + 1) {
            open = Some(f);
        } else if let Some(title) = level2_title(t) {
            sections.push(ParsedSection { title: title.to_string(), entries: Vec::new() });
        } else if let Some(rest) = t.strip_prefix("### ") {
            let (Some(section), Some(ts), Some(change)) =
                (sections.last_mut(), rest.get(..19), rest.get(19..).and_then(|r| r.strip_prefix(" - ")))
            else {
                continue;
            };
            section.entries.push(ParsedEntry {
                timestamp: ts.to_string(),
                change: change.to_string(),
                rows: Vec::new(),
                tokens: None,
            });
        } else if let Some(entry) = sections.last_mut().and_then(|s| s.entries.last_mut()) {
            if let Some((k, v)) = parse_row(t) {
                if k != "Metric" && !k.starts_with("---") {
                    entry.rows.push((k, v));
                }
            }
        }
    }
    sections
}

/// `| a | b |` into `("a", "b")`, unescaping `\|` and dropping `**` and backticks.
fn parse_row(line: &str) -> Option<(String, String)> {
    let inner = line.trim().strip_prefix('|')?.strip_suffix('|')?;
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => cells.push(std::mem::take(&mut cell)),
            _ => cell.push(c),
        }
    }
    cells.push(cell);
    let clean = |s: &str| s.trim().trim_matches('*').trim_matches('`').to_string();
    match cells.as_slice() {
        [k, v] => Some((clean(k), clean(v))),
        _ => None,
    }
}

fn parse_token_list(line: &str) -> Option<Vec<u32>> {
    let inner = line.trim().strip_prefix('[')?.strip_suffix(']')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    inner.split(',').map(|s| s.trim().parse().ok()).collect()
}
