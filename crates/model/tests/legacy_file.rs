//! rwkv.cpp file parsing on hand-made and damaged inputs: every error names the file and the facts,
//! nothing panics, and version detection follows the tensor names.

use model::legacy::{self, LegacyFile, LegacyOptions, LegacyVersion};

fn header(version: i32) -> Vec<u8> {
    [0x6767_6d66u32 as i32, version, 4, 32, 1, 0].iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn record(name: &str, dims: &[i32], code: i32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [dims.len() as i32, name.len() as i32, code] {
        out.extend(v.to_le_bytes());
    }
    for d in dims {
        out.extend(d.to_le_bytes());
    }
    out.extend(name.as_bytes());
    out.extend(data);
    out
}

fn err(bytes: Vec<u8>) -> String {
    LegacyFile::from_bytes(bytes, "m.bin").err().expect("refused").to_string()
}

#[test]
fn a_valid_file_parses() {
    let mut b = header(101);
    b.extend(record("emb.weight", &[32, 4], 0, &[0u8; 32 * 4 * 4]));
    b.extend(record("blocks.0.att.r_k", &[32, 1], 1, &[0u8; 64]));
    let f = LegacyFile::from_bytes(b, "m.bin").unwrap();
    assert_eq!((f.version, f.n_vocab, f.n_embd, f.n_layer), (101, 4, 32, 1));
    assert_eq!(f.tensors.len(), 2);
    assert_eq!(f.tensor("blocks.0.att.r_k").unwrap().dims, [32, 1]);
    assert_eq!(LegacyVersion::detect(&f), LegacyVersion::V7);
    // Missing tensors are named when mapping to GGUF.
    let e = legacy::to_gguf(&f, &LegacyOptions::default()).err().unwrap().to_string();
    assert!(e.contains("m.bin") && e.contains("blocks.0.ffn.key.weight"), "{e}");
}

#[test]
fn damaged_files_are_refused_with_the_facts() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"GGUF\x03\0\0\0".to_vec(), "shorter than the 24-byte"),
        ([b"GGUFxxxx".to_vec(), vec![0; 16]].concat(), "not an rwkv.cpp file"),
        (header(99), "format version 99"),
        ([header(101), vec![1, 0]].concat(), "truncated tensor record at offset 24"),
        ([header(101), record("x", &[4, 0], 0, &[])].concat(), "dimension 0"),
        ([header(101), record("x", &[1, 2, 3, 4], 0, &[])].concat(), "4 dimensions"),
        ([header(101), record("x", &[8], 5, &[])].concat(), "data type code 5"),
        ([header(100), record("x", &[32], 8, &[0; 24])].concat(), "version 100"),
        ([header(101), record("x", &[16], 8, &[0; 24])].concat(), "not a multiple of its block of 32"),
        ([header(101), record("x", &[65536, 65536, 65536], 0, &[])].concat(), "needs"),
        ([header(101), record("x", &[2], 0, &[0; 8]), record("x", &[2], 0, &[0; 8])].concat(), "appears twice"),
    ];
    let n = cases.len();
    for (bytes, needle) in cases {
        let e = err(bytes);
        assert!(e.starts_with("m.bin: ") && e.contains(needle), "expected {needle:?} in {e:?}");
    }
    assert_eq!(n, 11);
    // A huge name length is caught before reading it.
    let mut b = header(101);
    b.extend([1i32, i32::MAX, 0, 4].iter().flat_map(|v| v.to_le_bytes()));
    assert!(err(b).contains("name of 2147483647 bytes"));
}

#[test]
fn versions_are_told_from_tensor_names() {
    let file_with = |names: &[&str]| {
        let mut b = header(101);
        for n in names {
            b.extend(record(n, &[1], 0, &[0; 4]));
        }
        LegacyFile::from_bytes(b, "v.bin").unwrap()
    };
    let cases = [
        (vec!["blocks.0.att.time_decay"], LegacyVersion::V4),
        (vec!["blocks.0.att.ln_x.weight"], LegacyVersion::V5_1),
        (vec!["blocks.0.att.ln_x.weight", "blocks.0.att.gate.weight"], LegacyVersion::V5_2),
        (vec!["blocks.0.att.time_maa_x", "blocks.0.att.ln_x.weight"], LegacyVersion::V6),
        (vec!["blocks.0.att.r_k", "blocks.0.att.ln_x.weight"], LegacyVersion::V7),
    ];
    for (names, want) in cases {
        let f = file_with(&names);
        assert_eq!(LegacyVersion::detect(&f), want, "{names:?}");
    }
    assert_eq!(LegacyVersion::V5_2.architecture().name(), "rwkv5");
    assert_eq!(LegacyVersion::V5_1.to_string(), "5.1");
}
