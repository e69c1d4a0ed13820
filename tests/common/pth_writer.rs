//! `.pth` files written byte for byte as `torch.save` lays them out: a stored zip with
//! `archive/data.pkl` (pickle protocol 2 of an OrderedDict state dict), one `archive/data/N` per
//! storage and `archive/version`.

use gguf::GgmlType;

/// A tensor in PyTorch order (`shape[0]` outermost) with f32 values; the file's dtype is chosen
/// when writing.
#[derive(Clone, Debug)]
pub struct T {
    pub name: String,
    pub shape: Vec<u64>,
    pub data: Vec<f32>,
}

impl T {
    pub fn new(name: impl Into<String>, shape: &[u64], data: Vec<f32>) -> T {
        let t = T { name: name.into(), shape: shape.to_vec(), data };
        assert_eq!(t.data.len() as u64, t.shape.iter().product::<u64>(), "tensor {}", t.name);
        t
    }
}

/// The storage type every tensor of a written file gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F16,
    BF16,
}

impl Dtype {
    pub const ALL: [Dtype; 3] = [Dtype::F32, Dtype::F16, Dtype::BF16];

    fn storage(self) -> &'static str {
        match self {
            Dtype::F32 => "FloatStorage",
            Dtype::F16 => "HalfStorage",
            Dtype::BF16 => "BFloat16Storage",
        }
    }

    fn ggml(self) -> GgmlType {
        match self {
            Dtype::F32 => GgmlType::F32,
            Dtype::F16 => GgmlType::F16,
            Dtype::BF16 => GgmlType::BF16,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F16 => "f16",
            Dtype::BF16 => "bf16",
        }
    }

    /// Little-endian storage bytes of `v` (rounded to nearest even, as torch's `.half()` and
    /// `.bfloat16()` do).
    pub fn encode(self, v: &[f32]) -> Vec<u8> {
        let mut out = vec![0u8; v.len() * if self == Dtype::F32 { 4 } else { 2 }];
        quant::quantize_row(self.ggml(), v, &mut out).expect("float rows always encode");
        out
    }

    /// `v` as the file stores it, read back as f32 (what a loader of this file sees).
    pub fn round(self, v: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; v.len()];
        quant::dequantize_row(self.ggml(), &self.encode(v), &mut out).expect("float rows always decode");
        out
    }
}

/// The usual top-level global of a state dict.
pub const ORDERED_DICT: (&str, &str) = ("collections", "OrderedDict");

/// Pickle (protocol 2) of an OrderedDict state dict of `ts`, every storage of type `dtype`, with
/// `global` as the top-level constructor (a hostile file names another).
pub fn pickle(ts: &[T], dtype: Dtype, global: (&str, &str)) -> Vec<u8> {
    let mut p = vec![0x80, 2];
    let glob = |p: &mut Vec<u8>, m: &str, n: &str| {
        p.push(b'c');
        p.extend(format!("{m}\n{n}\n").as_bytes());
    };
    let s = |p: &mut Vec<u8>, v: &str| {
        p.push(b'X');
        p.extend((v.len() as u32).to_le_bytes());
        p.extend(v.as_bytes());
    };
    let int = |p: &mut Vec<u8>, v: u64| {
        p.push(b'J');
        p.extend((v as u32).to_le_bytes());
    };
    glob(&mut p, global.0, global.1);
    p.extend([b'q', 0, b')', b'R', b'q', 1, b'(']);
    for (i, t) in ts.iter().enumerate() {
        s(&mut p, &t.name);
        glob(&mut p, "torch._utils", "_rebuild_tensor_v2");
        p.extend([b'(', b'(']);
        s(&mut p, "storage");
        glob(&mut p, "torch", dtype.storage());
        s(&mut p, &i.to_string());
        s(&mut p, "cpu");
        int(&mut p, t.data.len() as u64);
        p.extend([b't', b'Q']);
        int(&mut p, 0);
        p.push(b'(');
        for &d in &t.shape {
            int(&mut p, d);
        }
        p.push(b't');
        p.push(b'(');
        for i in 0..t.shape.len() {
            int(&mut p, t.shape[i + 1..].iter().product());
        }
        p.extend([b't', 0x89]);
        glob(&mut p, "collections", "OrderedDict");
        p.extend([b')', b'R', b't', b'R']);
    }
    p.push(b'u');
    // OrderedDict's `_metadata` attribute, set through BUILD as torch.save does.
    p.extend([b'}', b'q', 2]);
    s(&mut p, "_metadata");
    p.extend([b'}', b's', b'b', b'.']);
    p
}

/// CRC-32 (IEEE, as zip uses it), bit by bit: the test files are small.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A stored zip of `entries` as torch.save writes it: each member's data starts on a 64-byte
/// boundary (padding in a local `FB` extra field, which `torch.load(mmap=True)` relies on), real
/// CRCs (PyTorch's reader checks them).
pub fn zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let off = out.len() as u32;
        let head = |sig: u32, central_dir: bool, extra: usize| {
            let mut h = sig.to_le_bytes().to_vec();
            if central_dir {
                h.extend(20u16.to_le_bytes());
            }
            h.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version, flags, method 0 (stored), time, date
            h.extend(crc32(data).to_le_bytes());
            h.extend((data.len() as u32).to_le_bytes());
            h.extend((data.len() as u32).to_le_bytes());
            h.extend((name.len() as u16).to_le_bytes());
            h.extend((extra as u16).to_le_bytes());
            if central_dir {
                h.extend([0u8; 10]); // comment length, disk, internal and external attributes
                h.extend(off.to_le_bytes());
            }
            h.extend(name.as_bytes());
            h
        };
        // 30 fixed bytes, the name, then 4 bytes of extra-field header before the padding.
        let unpadded = out.len() + 30 + name.len() + 4;
        let pad = (64 - unpadded % 64) % 64;
        out.extend(head(0x0403_4b50, false, 4 + pad));
        out.extend(b"FB");
        out.extend((pad as u16).to_le_bytes());
        out.extend(vec![b'Z'; pad]);
        debug_assert_eq!(out.len() % 64, 0);
        out.extend(data);
        central.extend(head(0x0201_4b50, true, 0));
    }
    let cd_off = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(cd_off.to_le_bytes());
    out.extend([0u8; 2]);
    out
}

/// A whole `.pth` of `ts` stored as `dtype`, with `global` as the pickle's top-level constructor.
pub fn pth_with_global(ts: &[T], dtype: Dtype, global: (&str, &str)) -> Vec<u8> {
    let mut entries = vec![("archive/data.pkl".to_string(), pickle(ts, dtype, global))];
    for (i, t) in ts.iter().enumerate() {
        entries.push((format!("archive/data/{i}"), dtype.encode(&t.data)));
    }
    entries.push(("archive/version".into(), b"3\n".to_vec()));
    zip(&entries)
}

/// A whole `.pth` of `ts` stored as `dtype`.
pub fn pth(ts: &[T], dtype: Dtype) -> Vec<u8> {
    pth_with_global(ts, dtype, ORDERED_DICT)
}

/// Writes `bytes` to a fresh file in the temp directory, named after `tag` and this process.
pub fn write_temp(tag: &str, ext: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("aviary-{tag}-{}.{ext}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}
