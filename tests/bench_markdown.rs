//! The BENCHMARKS.md writer on strings and temporary files: the header of a new file, insertion at
//! the end of a title's section, earlier bytes kept exactly, refusals, atomic replacement.

use std::fs;
use std::path::{Path, PathBuf};

use aviary::bench::{append_entry, insert_entry, parse_results, BenchError, BenchReport, HEADER};

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("aviary-{tag}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn report(seed: u64) -> BenchReport {
    BenchReport {
        model_file: "model|with|pipes.gguf".into(),
        version: "V7".into(),
        n_layer: 32,
        n_embd: 2560,
        device: "Some CPU @ 2.0GHz".into(),
        backend: "cpu".into(),
        quant: "Q4_K_M".into(),
        threads: 2,
        commit: Some("abc1234".into()),
        load_ms: vec![4284.981, 4284.979],
        prefill_tok_s: vec![150.0, 154.74],
        gen_tok_s: vec![44.08],
        batch: 1,
        batch_gen_tok_s: Vec::new(),
        quality_tokens: (0..32).map(|i| (i * 7 + seed as u32) % 300).collect(),
        memory_bw_gb_s: 12.25,
        roofline_bw_gb_s: Some(12.25),
        weight_bytes_per_token: 1_500_000_000,
        prefill_tokens: 128,
        gen_tokens: 64,
        runs: 3,
        seed,
        timestamp: format!("2026-01-01 00:09:{:02}", seed % 60),
    }
}

fn entry(seed: u64, change: &str) -> String {
    report(seed).markdown_entry(change)
}

fn p() -> &'static Path {
    Path::new("BENCHMARKS.md")
}

/// `new` is `old` with exactly one run of bytes inserted; returns (offset, inserted text).
fn single_insertion(old: &str, new: &str) -> (usize, String) {
    let (old, new) = (old.as_bytes(), new.as_bytes());
    assert!(new.len() > old.len(), "nothing was inserted");
    let added = new.len() - old.len();
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    // The common prefix may run into the inserted text; walk back until the rest matches.
    for start in (0..=prefix).rev() {
        if new[..start] == old[..start] && new[start + added..] == old[start..] {
            return (start, String::from_utf8_lossy(&new[start..start + added]).into_owned());
        }
    }
    panic!("the old content is not preserved around a single insertion");
}

#[test]
fn new_file_starts_with_the_header_byte_for_byte() {
    let e = entry(1, "baseline");
    let text = insert_entry(p(), None, "My title", &e).unwrap();
    assert!(text.starts_with(HEADER));
    assert_eq!(text, format!("{HEADER}\n## My title\n\n{e}"));
    // An empty existing file counts as new.
    assert_eq!(insert_entry(p(), Some(""), "My title", &e).unwrap(), text);
    assert!(HEADER.ends_with("\n```\n\n---\n"));
}

#[test]
fn header_is_the_one_in_the_format_document() {
    let Some(fixtures) = testkit::fixtures_dir() else { return };
    let doc_path = fixtures.join("../docs/benchmark-format.md");
    let doc = fs::read_to_string(&doc_path).unwrap_or_else(|e| panic!("{}: {e}", doc_path.display()));
    // The first four-backtick block after "A new file starts with this header".
    let after = &doc[doc.find("A new file starts with this header").unwrap()..];
    let start = after.find("````\n").unwrap() + 5;
    let len = after[start..].find("````\n").unwrap();
    assert_eq!(HEADER, &after[start..start + len]);
}

#[test]
fn entry_block_matches_the_format() {
    let e = entry(1, "  baseline run ");
    let expected_start = "### 2026-01-01 00:09:01 - baseline run\n\n| Metric | Value |\n|--------|-------|\n\
| Model | model\\|with\\|pipes.gguf |\n| Version | V7 |\n| Layers | 32 |\n| Embedding | 2560 |\n\
| GPU | Some CPU @ 2.0GHz |\n| **Load Time** | **4284.98 ms** |\n| **Prefill** | **152.37 tok/s** |\n\
| **Generation** | **44.08 tok/s** |\n";
    assert!(e.starts_with(expected_start), "{e}");
    let hash = aviary::bench::quality_hash(&report(1).quality_tokens);
    assert!(e.contains(&format!("| Quality Hash | `{hash:x}` |\n| Backend | cpu |\n| Quant | Q4_K_M |\n| Threads | 2 |\n| Commit | abc1234 |\n")));
    assert!(e.contains("| Memory BW | 12.25 GB/s |\n"));
    assert!(e.ends_with("```\n\n</details>\n"));
    let tokens: Vec<u32> = report(1).quality_tokens[..16].to_vec();
    assert!(e.contains(&format!(
        "\n<details><summary>Quality tokens (first 16)</summary>\n\n```\n{tokens:?}\n```\n"
    )));
}

#[test]
fn quality_hash_is_the_documented_fold() {
    use aviary::bench::quality_hash;
    assert_eq!(quality_hash(&[]), 0);
    assert_eq!(quality_hash(&[5]), 5);
    assert_eq!(quality_hash(&[1, 2, 3]), (31 + 2) * 31 + 3);
    // Wrapping: 32 large tokens overflow u64 many times over.
    let toks = [65535u32; 32];
    let mut acc = 0u64;
    for &t in &toks {
        acc = acc.wrapping_mul(31).wrapping_add(t as u64);
    }
    assert_eq!(quality_hash(&toks), acc);
    let mut r = report(0);
    r.quality_tokens = vec![0, 0, 1];
    assert_eq!(r.quality_hash_hex(), "1", "no leading zeros");
}

#[test]
fn same_title_appends_to_its_section_and_keeps_earlier_bytes() {
    let mut text = insert_entry(p(), None, "alpha", &entry(1, "a1")).unwrap();
    let after_a1 = text.clone();
    text = insert_entry(p(), Some(&text), "beta", &entry(2, "b1")).unwrap();
    let (at, ins) = single_insertion(&after_a1, &text);
    assert_eq!(at, after_a1.len(), "a new title goes at the end");
    assert!(ins.starts_with("\n## beta\n\n### "));

    let before = text.clone();
    text = insert_entry(p(), Some(&text), "alpha", &entry(3, "a2")).unwrap();
    // alpha's new entry ends alpha's section, a blank line before beta's heading.
    let at = before.find("## beta\n").unwrap();
    assert_eq!(text, format!("{}{}\n{}", &before[..at], entry(3, "a2"), &before[at..]));

    let sections = parse_results(&text);
    let titles: Vec<&str> = sections.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(titles, ["alpha", "beta"]);
    let changes: Vec<&str> = sections[0].entries.iter().map(|e| e.change.as_str()).collect();
    assert_eq!(changes, ["a1", "a2"]);
    assert_eq!(sections[1].entries.len(), 1);
    let e = &sections[0].entries[1];
    assert_eq!(e.timestamp, "2026-01-01 00:09:03");
    assert_eq!(e.value("Model"), Some("model|with|pipes.gguf"));
    assert_eq!(e.value("Load Time"), Some("4284.98 ms"));
    assert_eq!(e.tokens.as_deref(), Some(&report(3).quality_tokens[..16]));
    let first_rows: Vec<&str> = e.rows.iter().take(9).map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        first_rows,
        ["Model", "Version", "Layers", "Embedding", "GPU", "Load Time", "Prefill", "Generation", "Quality Hash"]
    );
}

#[test]
fn titles_with_markdown_characters_group_correctly() {
    let titles = [
        "# hashes ## inside",
        "*bold* and _under_ | pipe",
        "`code` ```fence``` title",
        "trailing spaces   ",
        "## looks like a heading",
        "C# ##",
        "[link](x) <b>html</b> \\ backslash",
        "ünïcödé 標題",
    ];
    let mut text: Option<String> = None;
    let mut count = 0;
    for round in 0..2 {
        for (i, t) in titles.iter().enumerate() {
            let before = text.clone();
            let next = insert_entry(p(), before.as_deref(), t, &entry((round * 10 + i) as u64, "c")).unwrap();
            if let Some(b) = &before {
                single_insertion(b, &next);
            }
            text = Some(next);
            count += 1;
        }
    }
    assert_eq!(count, 2 * titles.len());
    let sections = parse_results(text.as_deref().unwrap());
    assert_eq!(sections.len(), titles.len(), "{}", text.unwrap());
    for (s, t) in sections.iter().zip(titles) {
        assert_eq!(s.title, t.trim());
        assert_eq!(s.entries.len(), 2, "section {t:?}");
    }
}

#[test]
fn headings_inside_code_fences_are_not_sections() {
    let old = format!(
        "{HEADER}\n## alpha\n\nnotes\n\n```text\n## beta\n## alpha\n```\n\n~~~~\n## gamma\n```\n~~~~\n\n## delta\n\nend\n"
    );
    let text = insert_entry(p(), Some(&old), "alpha", &entry(1, "x")).unwrap();
    let at = old.find("## delta\n").unwrap();
    assert_eq!(text, format!("{}{}\n{}", &old[..at], entry(1, "x"), &old[at..]));
    let text = insert_entry(p(), Some(&old), "beta", &entry(1, "x")).unwrap();
    let (at, ins) = single_insertion(&old, &text);
    assert_eq!(at, old.len());
    assert!(ins.starts_with("\n## beta\n"));
}

#[test]
fn deeper_headings_do_not_end_a_section() {
    let old = format!("{HEADER}\n## alpha\n\n### 2020-01-01 00:00:00 - old\n\n#### notes\n\n###no space\n");
    let text = insert_entry(p(), Some(&old), "alpha", &entry(1, "x")).unwrap();
    let (at, ins) = single_insertion(&old, &text);
    assert_eq!(at, old.len());
    assert_eq!(ins, format!("\n{}", entry(1, "x")));
}

#[test]
fn files_without_final_newline_or_with_crlf_are_extended_not_rewritten() {
    let old = format!("{HEADER}\n## alpha\n\nhand-written note without newline");
    let text = insert_entry(p(), Some(&old), "alpha", &entry(1, "x")).unwrap();
    let (at, ins) = single_insertion(&old, &text);
    assert_eq!(at, old.len());
    assert!(ins.starts_with("\n\n### "));

    let crlf = format!("{HEADER}\n## alpha\n\n").replace('\n', "\r\n");
    let text = insert_entry(p(), Some(&crlf), "alpha", &entry(1, "x")).unwrap();
    let (_, ins) = single_insertion(&crlf, &text);
    assert_eq!(ins, entry(1, "x").replace('\n', "\r\n"));
    assert_eq!(parse_results(&text)[0].entries.len(), 1);
}

#[test]
fn foreign_files_and_open_fences_are_refused() {
    let e = entry(1, "x");
    for foreign in ["hello\n", "## Benchmark Results\n", "Some text\n# Benchmark Results\n", "   \n"] {
        let err = insert_entry(p(), Some(foreign), "t", &e).unwrap_err();
        assert!(matches!(err, BenchError::NotBenchmarkFile { .. }), "{foreign:?}: {err}");
        assert!(err.to_string().contains("nothing was written"), "{err}");
    }
    let open = format!("{HEADER}\n## a\n\n```\nunclosed\n");
    let err = insert_entry(p(), Some(&open), "a", &e).unwrap_err();
    assert!(matches!(err, BenchError::UnclosedFence { line: 18, .. }), "{err}");
    // A byte order mark and trailing spaces on the header line are accepted.
    let bom = "\u{feff}# Benchmark Results  \n".to_string();
    let text = insert_entry(p(), Some(&bom), "t", &e).unwrap();
    single_insertion(&bom, &text);
}

#[test]
fn append_entry_creates_then_inserts_atomically() {
    let dir = TempDir::new("bench-md");
    let path = dir.path("BENCHMARKS.md");
    append_entry(&path, "t1", &entry(1, "first")).unwrap();
    let first = fs::read_to_string(&path).unwrap();
    assert!(first.starts_with(HEADER));
    append_entry(&path, "t2", &entry(2, "second")).unwrap();
    append_entry(&path, "t1", &entry(3, "third")).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    let sections = parse_results(&text);
    assert_eq!(sections.len(), 2);
    assert_eq!(sections[0].entries.len(), 2);
    assert!(text.starts_with(&first));
    // No temporary files are left behind.
    let names: Vec<_> = fs::read_dir(&dir.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("BENCHMARKS.md")]);
}

/// Benches finishing together (threads here, processes in practice) each add their entry: none is
/// lost between one writer's read and another's rename.
#[test]
fn concurrent_appends_keep_every_entry() {
    let dir = TempDir::new("bench-md-concurrent");
    let path = dir.path("BENCHMARKS.md");
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                for i in 0..5u64 {
                    append_entry(&path, &format!("writer {}", t % 3), &entry(t * 10 + i, &format!("w{t} e{i}"))).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let text = fs::read_to_string(&path).unwrap();
    let total: usize = parse_results(&text).iter().map(|s| s.entries.len()).sum();
    assert_eq!(total, 40, "every entry kept");
    for t in 0..8 {
        for i in 0..5 {
            assert!(text.contains(&format!("w{t} e{i}")), "entry w{t} e{i}");
        }
    }
}

#[test]
fn refused_file_is_left_untouched() {
    let dir = TempDir::new("bench-md-refuse");
    let path = dir.path("notes.md");
    let original = b"# My notes\n\nimportant\n".to_vec();
    fs::write(&path, &original).unwrap();
    let err = append_entry(&path, "t", &entry(1, "x")).unwrap_err();
    assert!(err.to_string().contains("notes.md"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), original);
    fs::write(&path, b"\xff\xfe not utf8").unwrap();
    assert!(append_entry(&path, "t", &entry(1, "x")).is_err());
    assert_eq!(fs::read(&path).unwrap(), b"\xff\xfe not utf8");
}

#[test]
fn seeded_random_histories_keep_every_entry_in_order() {
    let mut rng = testkit::TestRng::new(0xbe9c);
    let titles = ["a", "b | c", "`d`", "e *", "a b"];
    let mut text: Option<String> = None;
    let mut expected: Vec<(usize, Vec<String>)> = Vec::new();
    for step in 0..40 {
        let ti = (rng.next_u64() % titles.len() as u64) as usize;
        let change = format!("step {step}");
        let next = insert_entry(p(), text.as_deref(), titles[ti], &entry(step, &change)).unwrap();
        if let Some(old) = &text {
            single_insertion(old, &next);
        }
        text = Some(next);
        match expected.iter_mut().find(|(i, _)| *i == ti) {
            Some((_, v)) => v.push(change),
            None => expected.push((ti, vec![change])),
        }
    }
    let sections = parse_results(text.as_deref().unwrap());
    assert_eq!(sections.len(), expected.len());
    for (s, (ti, changes)) in sections.iter().zip(&expected) {
        assert_eq!(s.title, titles[*ti]);
        let got: Vec<&str> = s.entries.iter().map(|e| e.change.as_str()).collect();
        assert_eq!(got, *changes);
    }
}

#[test]
fn batched_generation_row_only_when_measured() {
    assert!(!entry(1, "single").contains("Batched gen"));
    let mut r = report(1);
    r.batch = 4;
    r.batch_gen_tok_s = vec![90.0, 110.0];
    let e = r.markdown_entry("batched");
    assert!(e.contains("| Batched gen | 100.00 tok/s (4 sequences) |"), "{e}");
    assert_eq!(r.to_json(None, None)["batched_generation_tok_s"], 100.0);
}

#[test]
fn gpu_roofline_needs_a_device_bandwidth() {
    let mut r = report(2);
    r.backend = "cuda".into();
    r.roofline_bw_gb_s = None;
    let e = r.markdown_entry("gpu");
    assert!(e.contains("| Gen roofline | n/a (GPU backend: pass --device-bw) |"), "{e}");
    assert!(r.to_json(None, None)["generation_roofline_pct"].is_null());
    r.roofline_bw_gb_s = Some(4400.0);
    r.gen_tok_s = vec![400.0];
    let e = r.markdown_entry("gpu");
    assert!(e.contains("| Roofline BW | 4400.00 GB/s (given) |"), "{e}");
    // 1.5 GB per token at 4.4 TB/s: 2933.3 tok/s; 400 of them is 13.64%.
    assert!(e.contains("| Gen roofline | 13.64% |"), "{e}");
}
