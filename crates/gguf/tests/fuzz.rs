//! Cheap seeded fuzzing: every truncation of a valid file is an error, and random corruption of
//! header bytes never panics (it is either rejected or still a consistent file).

mod common;

use common::*;
use gguf::{GgufFile, GgufWriter, Value};
use testkit::TestRng;

fn rich_file() -> Vec<u8> {
    let mut w = small_writer(&mut TestRng::new(2));
    for (k, v) in every_value() {
        w.add_kv(k, v);
    }
    w.to_bytes()
}

#[test]
fn every_prefix_is_rejected() {
    for bytes in [small_file_bytes(), rich_file()] {
        assert!(GgufFile::from_bytes(bytes.clone()).is_ok());
        let mut cases = 0;
        for len in 0..bytes.len() {
            let err = GgufFile::from_bytes(bytes[..len].to_vec())
                .expect_err(&format!("prefix of {len} bytes accepted"));
            assert!(err.to_string().starts_with("<memory>: "), "{err}");
            cases += 1;
        }
        assert!(cases > 400, "ran {cases} cases");
    }
}

/// Checks an accepted file is self-consistent: every tensor slice is in range and exactly sized.
fn check_consistent(f: &GgufFile) {
    for t in f.tensors() {
        assert_eq!(f.tensor_data(t).len() as u64, t.n_bytes());
        assert_eq!(f.tensor(&t.name), Some(t));
    }
    for (k, v) in f.metadata() {
        assert!(f.get(k).is_some());
        let _ = (v.as_u64(), v.as_f64(), v.describe());
    }
}

#[test]
fn random_header_corruption_never_panics() {
    let seed = 0x6775_6766;
    println!("seed {seed:#x}");
    let mut rng = TestRng::new(seed);
    let base = rich_file();
    let header_len = GgufFile::from_bytes(base.clone()).unwrap().data_offset() as usize;
    let (mut rejected, mut accepted) = (0, 0);
    for _ in 0..5000 {
        let mut b = base.clone();
        for _ in 0..1 + rng.next_u64() % 4 {
            let at = (rng.next_u64() % header_len as u64) as usize;
            b[at] = match rng.next_u64() % 4 {
                0 => 0,
                1 => 0xff,
                2 => b[at] ^ (1 << (rng.next_u64() % 8)),
                _ => rng.next_u64() as u8,
            };
        }
        match GgufFile::from_bytes(b) {
            Ok(f) => {
                check_consistent(&f);
                accepted += 1;
            }
            Err(e) => {
                assert!(e.to_string().starts_with("<memory>: "), "{e}");
                rejected += 1;
            }
        }
    }
    assert!(
        rejected > 1000 && accepted > 100,
        "rejected {rejected}, accepted {accepted}"
    );
}

#[test]
fn random_garbage_after_magic_never_panics() {
    let mut rng = TestRng::new(99);
    for round in 0..3000 {
        let len = (rng.next_u64() % 200) as usize;
        let mut b = b"GGUF".to_vec();
        b.extend_from_slice(&[3, 0, 0, 0]);
        b.extend(random_bytes(&mut rng, len));
        // Keep counts small half of the time so parsing gets past the header.
        if round % 2 == 0 && b.len() >= 24 {
            put_u64(&mut b, 8, rng.next_u64() % 3);
            put_u64(&mut b, 16, rng.next_u64() % 3);
        }
        if let Ok(f) = GgufFile::from_bytes(b) {
            check_consistent(&f);
        }
    }
    // Sanity: a writer-made file with only metadata is still fine.
    let mut w = GgufWriter::new();
    w.add_kv("k", Value::U8(1));
    assert!(GgufFile::from_bytes(w.to_bytes()).is_ok());
}
