//! Helpers shared by the integration tests: building small valid files and patching their bytes.
#![allow(dead_code)]

use gguf::{GgmlType, GgufError, GgufFile, GgufWriter, Value, ValueType};
use testkit::TestRng;

/// Position of the only occurrence of `needle` in `hay`; panics if it is absent or repeated, so a
/// test never patches the wrong place.
pub fn find_once(hay: &[u8], needle: &[u8]) -> usize {
    let hits: Vec<usize> = hay
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "expected exactly one occurrence of {:?}",
        String::from_utf8_lossy(needle)
    );
    hits[0]
}

/// Offset just after a length-prefixed string `s` in the file (where a key's type id or a tensor's
/// n_dims begins).
pub fn after_string(bytes: &[u8], s: &str) -> usize {
    find_once(bytes, s.as_bytes()) + s.len()
}

pub fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn put_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

pub fn random_bytes(rng: &mut TestRng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

/// Bytes of a tensor with these dims and type.
pub fn tensor_len(dims: &[u64], ty: GgmlType) -> usize {
    (ty.row_bytes(dims[0]).unwrap() * dims[1..].iter().product::<u64>()) as usize
}

/// One value of every type, including arrays of every element type, an empty array, and a
/// nested array.
pub fn every_value() -> Vec<(String, Value)> {
    let s = |x: &str| Value::String(x.to_string());
    let mut kv = vec![
        ("t.u8".into(), Value::U8(200)),
        ("t.i8".into(), Value::I8(-100)),
        ("t.u16".into(), Value::U16(60000)),
        ("t.i16".into(), Value::I16(-30000)),
        ("t.u32".into(), Value::U32(4_000_000_000)),
        ("t.i32".into(), Value::I32(-2_000_000_000)),
        ("t.f32".into(), Value::F32(-1.5e-5)),
        ("t.bool_true".into(), Value::Bool(true)),
        ("t.bool_false".into(), Value::Bool(false)),
        ("t.string".into(), s("héllo, wörld \u{1F600}")),
        ("t.empty_string".into(), s("")),
        ("t.u64".into(), Value::U64(u64::MAX)),
        ("t.i64".into(), Value::I64(i64::MIN)),
        ("t.f64".into(), Value::F64(std::f64::consts::PI)),
        (
            "t.arr.str".into(),
            Value::Array(ValueType::String, vec![s("a"), s(""), s("\\x01"), s("ünï")]),
        ),
        (
            "t.arr.i32".into(),
            Value::Array(
                ValueType::I32,
                vec![Value::I32(-1), Value::I32(0), Value::I32(7)],
            ),
        ),
        (
            "t.arr.f32".into(),
            Value::Array(ValueType::F32, vec![Value::F32(0.25), Value::F32(-8.0)]),
        ),
        (
            "t.arr.bool".into(),
            Value::Array(ValueType::Bool, vec![Value::Bool(true), Value::Bool(false)]),
        ),
        ("t.arr.empty".into(), Value::Array(ValueType::U64, vec![])),
        (
            "t.arr.nested".into(),
            Value::Array(
                ValueType::Array,
                vec![
                    Value::Array(ValueType::U8, vec![Value::U8(1), Value::U8(2)]),
                    Value::Array(ValueType::U8, vec![]),
                ],
            ),
        ),
    ];
    // Arrays of the remaining element types.
    kv.push((
        "t.arr.u8".into(),
        Value::Array(ValueType::U8, vec![Value::U8(0), Value::U8(255)]),
    ));
    kv.push((
        "t.arr.i8".into(),
        Value::Array(ValueType::I8, vec![Value::I8(-128)]),
    ));
    kv.push((
        "t.arr.u16".into(),
        Value::Array(ValueType::U16, vec![Value::U16(65535)]),
    ));
    kv.push((
        "t.arr.i16".into(),
        Value::Array(ValueType::I16, vec![Value::I16(-2)]),
    ));
    kv.push((
        "t.arr.u32".into(),
        Value::Array(ValueType::U32, vec![Value::U32(3)]),
    ));
    kv.push((
        "t.arr.u64".into(),
        Value::Array(ValueType::U64, vec![Value::U64(1 << 40)]),
    ));
    kv.push((
        "t.arr.i64".into(),
        Value::Array(ValueType::I64, vec![Value::I64(-(1 << 40))]),
    ));
    kv.push((
        "t.arr.f64".into(),
        Value::Array(ValueType::F64, vec![Value::F64(1e300)]),
    ));
    kv
}

/// A small valid file: keys `general.architecture`, `flag` (Bool), `tokens` (Array<String>) and
/// tensors `tensor_a` (F32 [3,2]), `tensor_b` (Q8_0 [64]), `tensor_c` (F16 [16]). The last
/// tensor ends exactly at the end of the file, so every shorter prefix is truncated.
pub fn small_writer(rng: &mut TestRng) -> GgufWriter {
    let mut w = GgufWriter::new();
    w.add_kv("general.architecture", Value::String("test".into()));
    w.add_kv("flag", Value::Bool(true));
    w.add_kv(
        "tokens",
        Value::Array(
            ValueType::String,
            vec![Value::String("ab".into()), Value::String("c".into())],
        ),
    );
    let tensors = [
        ("tensor_a", &[3u64, 2][..], GgmlType::F32),
        ("tensor_b", &[64], GgmlType::Q8_0),
        ("tensor_c", &[16], GgmlType::F16),
    ];
    for (name, dims, ty) in tensors {
        w.add_tensor(name, dims, ty, random_bytes(rng, tensor_len(dims, ty)))
            .unwrap();
    }
    w
}

pub fn small_file_bytes() -> Vec<u8> {
    small_writer(&mut TestRng::new(1)).to_bytes()
}

/// Opens in-memory bytes that must be rejected; returns the message after checking it names the source.
pub fn open_err(bytes: Vec<u8>) -> String {
    let err: GgufError = GgufFile::from_bytes(bytes).expect_err("corrupt file was accepted");
    let msg = err.to_string();
    assert!(
        msg.starts_with("<memory>: "),
        "message does not name the source: {msg}"
    );
    msg
}

pub fn assert_contains(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "message {msg:?} lacks {p:?}");
    }
}
