//! Writer → reader round trips: every value type, tensors of many types (including ones aviary
//! cannot compute on), alignment, v2 headers, the streaming writer, and the writer's own checks.

mod common;

use common::*;
use gguf::{GgmlType, GgufFile, GgufStreamWriter, GgufWriter, Value, ValueType};
use testkit::TestRng;

#[test]
fn every_value_type_round_trips_in_order() {
    let kv = every_value();
    let mut w = GgufWriter::new();
    for (k, v) in &kv {
        w.add_kv(k.clone(), v.clone());
    }
    let f = GgufFile::from_bytes(w.to_bytes()).unwrap();
    assert_eq!(f.metadata(), &kv[..]);
    assert_eq!(f.version(), 3);
    assert_eq!(f.alignment(), 32);
    assert!(f.tensors().is_empty());
    let covered: std::collections::HashSet<ValueType> =
        kv.iter().map(|(_, v)| v.value_type()).collect();
    assert_eq!(covered.len(), 13, "every value type must be covered");
    for (k, v) in &kv {
        assert_eq!(f.get(k), Some(v), "{k}");
    }
}

#[test]
fn tensors_of_many_types_round_trip() {
    let mut rng = TestRng::new(7);
    // Includes IQ*/TQ*/MXFP4: valid GGUF even though aviary cannot compute with them.
    let shapes: Vec<(&str, Vec<u64>, GgmlType)> = vec![
        ("f32.odd", vec![7, 3], GgmlType::F32),
        ("f16.1d", vec![17], GgmlType::F16),
        ("bf16.4d", vec![3, 1, 2, 5], GgmlType::BF16),
        ("q4_0", vec![64, 3], GgmlType::Q4_0),
        ("q5_1", vec![32, 1, 1, 2], GgmlType::Q5_1),
        ("q8_0", vec![96], GgmlType::Q8_0),
        ("q4_k", vec![256, 2], GgmlType::Q4_K),
        ("q6_k", vec![512, 1, 3], GgmlType::Q6_K),
        ("iq2_xxs", vec![256, 2], GgmlType::IQ2_XXS),
        ("tq1_0", vec![256], GgmlType::TQ1_0),
        ("mxfp4", vec![32, 3], GgmlType::MXFP4),
        ("i32", vec![5], GgmlType::I32),
        ("empty", vec![0, 4], GgmlType::F32),
    ];
    let mut w = GgufWriter::new();
    w.add_kv("general.architecture", Value::String("test".into()));
    let mut datas = Vec::new();
    for (name, dims, ty) in &shapes {
        let data = random_bytes(&mut rng, tensor_len(dims, *ty));
        w.add_tensor(*name, dims, *ty, data.clone()).unwrap();
        datas.push(data);
    }
    let bytes = w.to_bytes();
    assert_eq!(bytes.len() % 32, 0, "every tensor is followed by padding");
    let f = GgufFile::from_bytes(bytes).unwrap();
    assert_eq!(f.tensors().len(), shapes.len());
    assert_eq!(f.data_offset() % 32, 0);
    let mut prev_end = 0;
    for ((name, dims, ty), data) in shapes.iter().zip(&datas) {
        let t = f.tensor(name).unwrap();
        assert_eq!((&t.dims, t.ty), (dims, *ty), "{name}");
        assert_eq!(t.offset % 32, 0);
        assert!(t.offset >= prev_end, "declaration order layout");
        prev_end = t.offset + t.n_bytes();
        assert_eq!(t.n_bytes() as usize, data.len());
        assert_eq!(f.tensor_data(t), &data[..], "{name}");
        assert_eq!(f.tensor_bytes(name), Some(&data[..]));
        assert_eq!(f.tensor_file_offset(t), f.data_offset() + t.offset);
    }
    assert_eq!(f.tensor("missing"), None);
    assert_eq!(f.tensor_bytes("missing"), None);
}

#[test]
fn custom_alignment_is_written_and_used() {
    let mut rng = TestRng::new(3);
    for align in [1u64, 8, 64, 4096] {
        let mut w = GgufWriter::new();
        w.set_alignment(align);
        w.add_tensor("a", &[3], GgmlType::F32, random_bytes(&mut rng, 12))
            .unwrap();
        w.add_tensor("b", &[33], GgmlType::I8, random_bytes(&mut rng, 33))
            .unwrap();
        let f = GgufFile::from_bytes(w.to_bytes()).unwrap();
        assert_eq!(f.alignment(), align);
        assert_eq!(f.get("general.alignment"), Some(&Value::U32(align as u32)));
        assert_eq!(f.data_offset() % align, 0);
        assert_eq!(f.tensor("b").unwrap().offset, 12u64.next_multiple_of(align));
    }
    // Back to the default keeps the existing key in step.
    let mut w = GgufWriter::new();
    w.set_alignment(64);
    w.set_alignment(32);
    assert_eq!(w.get("general.alignment"), Some(&Value::U32(32)));
    // The default alone adds no key.
    let mut w = GgufWriter::new();
    w.set_alignment(32);
    assert!(w.metadata().is_empty());
    // A valid general.alignment given as metadata sets the layout.
    let mut w = GgufWriter::new();
    w.add_kv("general.alignment", Value::U64(128));
    assert_eq!(w.alignment(), 128);
    w.add_tensor("x", &[1], GgmlType::F32, vec![0; 4]).unwrap();
    assert_eq!(
        GgufFile::from_bytes(w.to_bytes()).unwrap().data_offset() % 128,
        0
    );
}

#[test]
fn v2_header_is_accepted() {
    let mut bytes = small_file_bytes();
    put_u32(&mut bytes, 4, 2);
    let f = GgufFile::from_bytes(bytes.clone()).unwrap();
    assert_eq!(f.version(), 2);
    let v3 = GgufFile::from_bytes(small_file_bytes()).unwrap();
    assert_eq!(f.metadata(), v3.metadata());
    assert_eq!(f.tensors(), v3.tensors());
}

#[test]
fn add_kv_replaces_in_place() {
    let mut w = GgufWriter::new();
    w.add_kv("a", Value::U32(1));
    w.add_kv("b", Value::U32(2));
    w.add_kv("a", Value::String("x".into()));
    let keys: Vec<&str> = w.metadata().iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(w.get("a"), Some(&Value::String("x".into())));
}

#[test]
#[should_panic(expected = "element 1")]
fn add_kv_rejects_inconsistent_array() {
    GgufWriter::new().add_kv(
        "bad",
        Value::Array(ValueType::U8, vec![Value::U8(1), Value::U16(2)]),
    );
}

#[test]
fn writer_checks_tensors() {
    let mut w = GgufWriter::new();
    w.add_tensor("x", &[4], GgmlType::F32, vec![0; 16]).unwrap();
    let e = w
        .add_tensor("x", &[4], GgmlType::F32, vec![0; 16])
        .unwrap_err()
        .to_string();
    assert_contains(&e, &["<writer>", "duplicate tensor name 'x'"]);
    let e = w
        .add_tensor("y", &[4, 2], GgmlType::F32, vec![0; 16])
        .unwrap_err()
        .to_string();
    assert_contains(&e, &["'y'", "16 bytes", "expected 32"]);
    let e = w
        .add_tensor("z", &[48], GgmlType::Q4_0, vec![0; 27])
        .unwrap_err()
        .to_string();
    assert_contains(&e, &["'z'", "ne[0] = 48", "block size 32"]);
    let e = w
        .add_tensor("d", &[1, 1, 1, 1, 1], GgmlType::F32, vec![0; 4])
        .unwrap_err()
        .to_string();
    assert_contains(&e, &["'d'", "5 dimensions"]);
    assert!(w.add_tensor("e", &[], GgmlType::F32, vec![]).is_err());
    assert_eq!(w.tensor_count(), 1);
}

#[test]
fn typed_getters_accept_widths_and_report_wrong_types() {
    let mut w = GgufWriter::new();
    for (k, v) in every_value() {
        w.add_kv(k, v);
    }
    let f = GgufFile::from_bytes(w.to_bytes()).unwrap();
    assert_eq!(f.get_u64("t.u8").unwrap(), Some(200));
    assert_eq!(f.get_u64("t.u32").unwrap(), Some(4_000_000_000));
    assert_eq!(f.get_u64("absent").unwrap(), None);
    assert_eq!(f.get_i64("t.i64").unwrap(), Some(i64::MIN));
    assert_eq!(f.get_f32("t.f32").unwrap(), Some(-1.5e-5));
    assert_eq!(f.get_f32("t.f64").unwrap(), Some(std::f32::consts::PI));
    assert_eq!(f.get_f32("t.u16").unwrap(), Some(60000.0));
    assert_eq!(f.get_bool("t.bool_true").unwrap(), Some(true));
    assert_eq!(
        f.get_str("t.string").unwrap(),
        Some("héllo, wörld \u{1F600}")
    );
    assert_eq!(
        f.get_str_array("t.arr.str").unwrap(),
        Some(vec!["a", "", "\\x01", "ünï"])
    );
    assert_eq!(f.get_i64_array("t.arr.i32").unwrap(), Some(vec![-1, 0, 7]));
    assert_eq!(f.get_i64_array("t.arr.empty").unwrap(), Some(vec![]));
    assert_eq!(
        f.get_f32_array("t.arr.f32").unwrap(),
        Some(vec![0.25, -8.0])
    );

    let e = f.get_u64("t.i8").unwrap_err().to_string();
    assert_contains(
        &e,
        &["<memory>", "'t.i8'", "I8 -100", "non-negative integer"],
    );
    let e = f.get_u64("t.string").unwrap_err().to_string();
    assert_contains(
        &e,
        &["'t.string'", "String", "expected a non-negative integer"],
    );
    let e = f.get_str("t.u32").unwrap_err().to_string();
    assert_contains(&e, &["'t.u32'", "U32 4000000000", "expected a string"]);
    let e = f.get_f32("t.bool_true").unwrap_err().to_string();
    assert_contains(&e, &["'t.bool_true'", "Bool true"]);
    let e = f.get_str_array("t.arr.i32").unwrap_err().to_string();
    assert_contains(&e, &["'t.arr.i32'", "Array<I32>[3]", "array of strings"]);
    assert_eq!(f.get_i64_array("t.arr.u64").unwrap(), Some(vec![1 << 40]));
    let e = f.get_i64_array("t.arr.str").unwrap_err().to_string();
    assert_contains(
        &e,
        &["'t.arr.str'", "Array<String>[4]", "array of integers"],
    );

    let mut w = GgufWriter::new();
    w.add_kv(
        "big",
        Value::Array(ValueType::U64, vec![Value::U64(1), Value::U64(u64::MAX)]),
    );
    let f = GgufFile::from_bytes(w.to_bytes()).unwrap();
    let e = f.get_i64_array("big").unwrap_err();
    assert!(
        matches!(e, gguf::GgufError::KeyType { .. }),
        "u64::MAX does not fit in i64: {e}"
    );
}

#[test]
fn stream_writer_matches_in_memory_writer() {
    let mut rng = TestRng::new(11);
    for align in [32u64, 16, 256] {
        let mut w = small_writer(&mut rng);
        if align != 32 {
            w.set_alignment(align);
        }
        let expected = w.to_bytes();
        let f = GgufFile::from_bytes(expected.clone()).unwrap();
        let decls: Vec<(String, Vec<u64>, GgmlType)> = f
            .tensors()
            .iter()
            .map(|t| (t.name.clone(), t.dims.clone(), t.ty))
            .collect();
        // Metadata without general.alignment: the stream writer must add it itself.
        let meta: Vec<(String, Value)> = f
            .metadata()
            .iter()
            .filter(|(k, _)| k != "general.alignment")
            .cloned()
            .collect();
        let mut s = GgufStreamWriter::new(Vec::new(), &meta, &decls, align).unwrap();
        for t in f.tensors() {
            assert_eq!(s.next_tensor(), Some(t.name.as_str()));
            s.write_tensor_data(f.tensor_data(t)).unwrap();
        }
        assert_eq!(s.next_tensor(), None);
        let streamed = s.finish().unwrap();
        let back = GgufFile::from_bytes(streamed.clone()).unwrap();
        assert_eq!(back.alignment(), align);
        if align == 32 {
            assert_eq!(streamed, expected, "same bytes as GgufWriter");
        } else {
            assert_eq!(back.tensors(), f.tensors());
            for t in f.tensors() {
                assert_eq!(back.tensor_data(t), f.tensor_data(t));
            }
        }
    }
}

#[test]
fn stream_writer_checks_order_lengths_and_completeness() {
    let decls = vec![
        ("a".to_string(), vec![4u64], GgmlType::F32),
        ("b".to_string(), vec![2], GgmlType::F16),
    ];
    let mut s = GgufStreamWriter::new(Vec::new(), &[], &decls, 32).unwrap();
    let e = s.write_tensor_data(&[0; 15]).unwrap_err().to_string();
    assert_contains(&e, &["<writer>", "'a'", "15 bytes", "expected 16"]);
    s.write_tensor_data(&[0; 16]).unwrap();
    let e = s.finish().unwrap_err().to_string();
    assert_contains(&e, &["1 of 2 tensors", "'b'"]);

    let mut s = GgufStreamWriter::new(Vec::new(), &[], &decls, 32).unwrap();
    s.write_tensor_data(&[0; 16]).unwrap();
    s.write_tensor_data(&[0; 4]).unwrap();
    let e = s.write_tensor_data(&[0; 4]).unwrap_err().to_string();
    assert_contains(&e, &["tensor #2", "only 2 tensors were declared"]);
    let bytes = s.finish().unwrap();
    assert_eq!(GgufFile::from_bytes(bytes).unwrap().tensors().len(), 2);

    let dup = vec![decls[0].clone(), decls[0].clone()];
    let e = GgufStreamWriter::new(Vec::new(), &[], &dup, 32)
        .err()
        .unwrap()
        .to_string();
    assert_contains(&e, &["duplicate tensor name 'a'"]);
    let bad_block = vec![("q".to_string(), vec![10u64], GgmlType::Q4_K)];
    let e = GgufStreamWriter::new(Vec::new(), &[], &bad_block, 32)
        .err()
        .unwrap()
        .to_string();
    assert_contains(&e, &["'q'", "ne[0] = 10", "256"]);
    let e = GgufStreamWriter::new(Vec::new(), &[], &decls, 24)
        .err()
        .unwrap()
        .to_string();
    assert_contains(&e, &["power-of-two", "24"]);
    let meta = vec![("general.alignment".to_string(), Value::U32(64))];
    let e = GgufStreamWriter::new(Vec::new(), &meta, &decls, 32)
        .err()
        .unwrap()
        .to_string();
    assert_contains(&e, &["U32 64", "alignment 32"]);
    let meta = vec![
        ("k".to_string(), Value::U8(1)),
        ("k".to_string(), Value::U8(2)),
    ];
    let e = GgufStreamWriter::new(Vec::new(), &meta, &decls, 32)
        .err()
        .unwrap()
        .to_string();
    assert_contains(&e, &["duplicate metadata key 'k'"]);
    let meta = vec![(
        "arr".to_string(),
        Value::Array(ValueType::String, vec![Value::U8(1)]),
    )];
    let e = GgufStreamWriter::new(Vec::new(), &meta, &decls, 32)
        .err()
        .unwrap()
        .to_string();
    assert_contains(&e, &["'arr'", "Array<String>", "element 0"]);
}

#[test]
fn files_round_trip_through_disk() {
    let dir = std::env::temp_dir().join(format!("gguf-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("small.gguf");
    let w = small_writer(&mut TestRng::new(5));
    w.write_file(&path).unwrap();
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(f.source_name(), path.display().to_string());
    assert_eq!(f.as_bytes(), &w.to_bytes()[..]);
    assert_eq!(f.file_size(), w.to_bytes().len() as u64);
    // Clones share the bytes and can move to other threads.
    let g = f.clone();
    let n = std::thread::spawn(move || g.tensors().len())
        .join()
        .unwrap();
    assert_eq!(n, 3);

    let empty = dir.join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    let e = GgufFile::open(&empty).unwrap_err().to_string();
    assert_contains(
        &e,
        &[
            &empty.display().to_string(),
            "truncated",
            "magic",
            "file has 0",
        ],
    );
    let missing = dir.join("missing.gguf");
    let e = GgufFile::open(&missing).unwrap_err().to_string();
    assert_contains(&e, &[&missing.display().to_string(), "opening"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
