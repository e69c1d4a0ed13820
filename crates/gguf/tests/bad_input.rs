//! Every way a file can be malformed is rejected at open with a message that names the source and
//! the facts (what was read, where, expected and found), and without panicking.

mod common;

use common::*;
use gguf::{GgmlType, GgufFile, GgufWriter, Value, ValueType};

/// Offset of a tensor-info record's n_dims field (right after its name).
fn n_dims_at(bytes: &[u8], tensor: &str) -> usize {
    after_string(bytes, tensor)
}

#[test]
fn not_gguf_files_are_named_by_their_first_bytes() {
    let msg = open_err(b"version 2 of something else".to_vec());
    assert_contains(&msg, &["not a GGUF file (starts with \"vers\")"]);
    let msg = open_err(vec![0x00, 0x01, 0xfe, 0x7f, 0, 0, 0, 0]);
    assert_contains(&msg, &["not a GGUF file", "bytes 00 01 fe 7f"]);
    let msg = open_err(b"GGML".to_vec());
    assert_contains(&msg, &["\"GGML\""]);
}

#[test]
fn git_lfs_pointer_is_recognised() {
    let pointer =
        b"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a2146\nsize 1234567\n".to_vec();
    let msg = open_err(pointer);
    assert_contains(
        &msg,
        &["is a git-LFS pointer, not the model: run git lfs pull"],
    );
}

#[test]
fn unsupported_versions_and_byte_order() {
    let mut bytes = small_file_bytes();
    put_u32(&mut bytes, 4, 1);
    assert_contains(&open_err(bytes.clone()), &["GGUF v1 is not supported"]);
    put_u32(&mut bytes, 4, 4);
    assert_contains(
        &open_err(bytes.clone()),
        &["GGUF v4 is not supported", "v3"],
    );
    put_u32(&mut bytes, 4, 0);
    assert_contains(&open_err(bytes.clone()), &["GGUF v0 is not supported"]);
    bytes[4..8].copy_from_slice(&3u32.to_be_bytes());
    assert_contains(
        &open_err(bytes),
        &["big-endian", "0x03000000", "little-endian"],
    );
}

#[test]
fn truncation_names_what_and_where() {
    let bytes = small_file_bytes();
    assert_contains(
        &open_err(bytes[..2].to_vec()),
        &["truncated while reading magic", "file has 2"],
    );
    assert_contains(
        &open_err(bytes[..12].to_vec()),
        &[
            "truncated while reading tensor count of header",
            "needs 8 bytes at offset 8",
            "file has 12",
        ],
    );
    // Inside the 'tokens' array: cut just after its element type.
    let cut = after_string(&bytes, "tokens") + 8;
    assert_contains(
        &open_err(bytes[..cut].to_vec()),
        &[
            "array length of metadata value of key 'tokens'",
            &format!("at offset {cut}"),
        ],
    );
    // Inside a tensor-info record.
    let cut = n_dims_at(&bytes, "tensor_c") + 2;
    assert_contains(
        &open_err(bytes[..cut].to_vec()),
        &["n_dims of tensor info #2 ('tensor_c')", "needs 4 bytes"],
    );
    // Cut so early that the tensor count cannot fit: the count check reports it before reading.
    let cut = n_dims_at(&bytes, "tensor_a") + 2;
    assert_contains(
        &open_err(bytes[..cut].to_vec()),
        &["tensor count of header at offset 8 is 3", "truncated file"],
    );
    // In the data section: the last tensor is cut short.
    let msg = open_err(bytes[..bytes.len() - 1].to_vec());
    assert_contains(
        &msg,
        &[
            "tensor 'tensor_c'",
            "F16 [16]",
            "needs 32 bytes",
            &format!("file has {}", bytes.len() - 1),
        ],
    );
}

#[test]
fn huge_counts_are_rejected_before_allocating() {
    let huge = 1u64 << 60;
    let bytes = small_file_bytes();

    let mut b = bytes.clone();
    put_u64(&mut b, 16, huge);
    assert_contains(
        &open_err(b),
        &[
            "metadata count of header at offset 16 is 1152921504606846976",
            "remain",
        ],
    );

    let mut b = bytes.clone();
    put_u64(&mut b, 8, huge);
    assert_contains(
        &open_err(b),
        &["tensor count of header at offset 8 is 1152921504606846976"],
    );

    let mut b = bytes.clone();
    put_u64(&mut b, 24, huge); // length of the first key
    assert_contains(
        &open_err(b),
        &[
            "key of metadata record #0",
            "needs 1152921504606846976 bytes at offset 32",
        ],
    );

    let mut b = bytes.clone();
    let count_at = after_string(&b, "tokens") + 8;
    put_u64(&mut b, count_at, huge);
    assert_contains(
        &open_err(b),
        &[
            "array length of metadata value of key 'tokens'",
            "1152921504606846976",
        ],
    );

    let mut b = bytes.clone();
    let str_len_at = after_string(&b, "tokens") + 16; // first element's length
    put_u64(&mut b, str_len_at, u64::MAX);
    assert_contains(
        &open_err(b),
        &[
            "string value of metadata value of key 'tokens'",
            "18446744073709551615",
        ],
    );
}

#[test]
fn bad_values_are_rejected() {
    let bytes = small_file_bytes();
    let flag_value = after_string(&bytes, "flag");

    let mut b = bytes.clone();
    b[flag_value + 4] = 2;
    assert_contains(
        &open_err(b),
        &[
            "invalid bool byte 0x02",
            "key 'flag'",
            &format!("at offset {}", flag_value + 4),
        ],
    );

    let mut b = bytes.clone();
    put_u32(&mut b, flag_value, 13);
    assert_contains(
        &open_err(b),
        &[
            "unknown value type id 13",
            "key 'flag'",
            &format!("at offset {flag_value}"),
        ],
    );

    let mut b = bytes.clone();
    put_u32(&mut b, after_string(&bytes, "tokens") + 4, 77);
    assert_contains(
        &open_err(b),
        &["unknown value type id 77", "array element type", "'tokens'"],
    );

    let mut b = bytes.clone();
    b[flag_value - 4] = 0xff; // "flag" -> "\xfflag"
    assert_contains(
        &open_err(b),
        &["key of metadata record #1", "not valid UTF-8"],
    );

    let mut b = bytes.clone();
    b[after_string(&bytes, "tokens") + 24] = 0xc3; // "ab" -> "\xc3b"
    assert_contains(&open_err(b), &["'tokens'", "not valid UTF-8"]);
}

fn nested(depth: usize) -> Value {
    let mut v = Value::Array(ValueType::U8, vec![Value::U8(9)]);
    for _ in 1..depth {
        v = Value::Array(ValueType::Array, vec![v]);
    }
    v
}

#[test]
fn nesting_is_limited() {
    let mut w = GgufWriter::new();
    w.add_kv("deep", nested(8));
    let f = GgufFile::from_bytes(w.to_bytes()).unwrap();
    assert_eq!(f.get("deep"), Some(&nested(8)));
    let mut w = GgufWriter::new();
    w.add_kv("deeper", nested(9));
    assert_contains(
        &open_err(w.to_bytes()),
        &["'deeper'", "nests arrays more than 8 deep"],
    );
}

#[test]
fn duplicates_are_rejected() {
    let mut w = GgufWriter::new();
    w.add_kv("key.a", Value::U8(1));
    w.add_kv("key.b", Value::U8(2));
    let mut b = w.to_bytes();
    let at = find_once(&b, b"key.b");
    b[at + 4] = b'a';
    assert_contains(
        &open_err(b),
        &[
            "duplicate metadata key 'key.a'",
            &format!("at offset {}", at - 8),
        ],
    );

    let mut b = small_file_bytes();
    let at = find_once(&b, b"tensor_b");
    b[at + 7] = b'a';
    assert_contains(
        &open_err(b),
        &[
            "duplicate tensor name 'tensor_a'",
            &format!("at offset {}", at - 8),
        ],
    );
}

#[test]
fn bad_tensor_infos_are_rejected() {
    let bytes = small_file_bytes();
    let nd = n_dims_at(&bytes, "tensor_b"); // tensor_b: 1 dim, so dim at nd+4, type at nd+12, offset at nd+16
    for n in [0u32, 5, u32::MAX] {
        let mut b = bytes.clone();
        put_u32(&mut b, nd, n);
        assert_contains(
            &open_err(b),
            &[
                &format!("tensor 'tensor_b' has {n} dimensions at offset {nd}"),
                "1 to 4",
            ],
        );
    }

    let mut b = bytes.clone();
    put_u32(&mut b, nd + 12, 99);
    assert_contains(
        &open_err(b),
        &[
            "unknown tensor type id 99 in tensor 'tensor_b'",
            &format!("offset {}", nd + 12),
        ],
    );
    for removed in [4u32, 5, 31, 36] {
        let mut b = bytes.clone();
        put_u32(&mut b, nd + 12, removed);
        assert_contains(
            &open_err(b),
            &[&format!("unknown tensor type id {removed}")],
        );
    }

    let mut b = bytes.clone();
    put_u64(&mut b, nd + 4, 33);
    assert_contains(
        &open_err(b),
        &[
            "tensor 'tensor_b' of type Q8_0 has ne[0] = 33",
            "block size 32",
        ],
    );

    let mut b = bytes.clone();
    put_u32(&mut b, nd + 12, GgmlType::Q4_K.id());
    assert_contains(
        &open_err(b),
        &[
            "tensor 'tensor_b' of type Q4_K has ne[0] = 64",
            "block size 256",
        ],
    );

    let offset_b = u64::from_le_bytes(bytes[nd + 16..nd + 24].try_into().unwrap());
    let mut b = bytes.clone();
    put_u64(&mut b, nd + 16, offset_b + 4);
    assert_contains(
        &open_err(b),
        &[
            &format!("tensor 'tensor_b' has data offset {}", offset_b + 4),
            "alignment 32",
        ],
    );

    let mut b = bytes.clone();
    put_u64(&mut b, nd + 16, 1 << 20);
    let msg = open_err(b);
    assert_contains(
        &msg,
        &[
            "tensor 'tensor_b' (Q8_0 [64]) needs 68 bytes at offset",
            &format!("file has {}", bytes.len()),
        ],
    );

    let mut b = bytes.clone();
    put_u64(&mut b, nd + 16, u64::MAX - 31); // aligned, and start + size overflows u64
    assert_contains(&open_err(b), &["tensor 'tensor_b'", "needs 68 bytes"]);

    // tensor_a has dims [3, 2]: at its n_dims + 4 and + 12.
    let nd_a = n_dims_at(&bytes, "tensor_a");
    let mut b = bytes.clone();
    put_u64(&mut b, nd_a + 4, 1 << 32);
    put_u64(&mut b, nd_a + 12, 1 << 32);
    assert_contains(
        &open_err(b),
        &[
            "tensor 'tensor_a'",
            "[4294967296, 4294967296]",
            "element count overflows",
        ],
    );
    let mut b = bytes.clone();
    put_u64(&mut b, nd_a + 12, 1 << 63);
    assert_contains(
        &open_err(b),
        &[
            "tensor 'tensor_a' has ne[1] = 9223372036854775808",
            "negative",
        ],
    );
}

#[test]
fn bad_alignment_is_rejected() {
    for (value, shown) in [
        (Value::U32(48), "U32 48"),
        (Value::U32(0), "U32 0"),
        (Value::I32(-32), "I32 -32"),
        (Value::U64(1 << 40), "U64 1099511627776"),
        (Value::String("32".into()), "String \"32\""),
        (Value::F32(32.0), "F32 32"),
    ] {
        let mut w = GgufWriter::new();
        w.add_kv("general.alignment", value);
        w.add_tensor("x", &[8], GgmlType::F32, vec![0; 32]).unwrap();
        assert_contains(
            &open_err(w.to_bytes()),
            &["general.alignment must be a power-of-two", shown],
        );
    }
}

#[test]
fn unusual_but_valid_files_load() {
    // Tensor types aviary cannot compute on are still valid GGUF.
    let mut w = GgufWriter::new();
    for (i, ty) in GgmlType::all().enumerate() {
        let dims = [ty.block_size() as u64 * 2, 3];
        w.add_tensor(
            format!("t{i}"),
            &dims,
            ty,
            vec![0xAB; tensor_len(&dims, ty)],
        )
        .unwrap();
    }
    let f = GgufFile::from_bytes(w.to_bytes()).unwrap();
    assert_eq!(f.tensors().len(), GgmlType::all().count());
    assert_eq!(f.tensor("t14").unwrap().ty, GgmlType::IQ2_XXS);
    // No metadata and no tensors at all.
    let f = GgufFile::from_bytes(GgufWriter::new().to_bytes()).unwrap();
    assert!(f.metadata().is_empty() && f.tensors().is_empty());
}
