//! BlinkDL `.pth` checkpoints, written here byte for byte as `torch.save` lays them out (a stored
//! zip with `archive/data.pkl` in pickle protocol 2, `archive/data/N`, `archive/version`), from the
//! tiny RWKV-7 fixture reversed into BlinkDL names and shapes (spec §3.5). Loading one must give the
//! fixture GGUF's logits bit for bit; damaged or hostile checkpoints must fail with the facts.

use std::path::PathBuf;

use gguf::GgufFile;
use model::LogitsMode;

/// A tensor in PyTorch order with f32 values.
struct T {
    name: String,
    shape: Vec<u64>,
    data: Vec<f32>,
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// `r` × `c` row-major → `c` × `r`.
fn transposed(d: &[f32], r: usize, c: usize) -> Vec<f32> {
    let mut o = vec![0f32; d.len()];
    for i in 0..r {
        for j in 0..c {
            o[j * r + i] = d[i * c + j];
        }
    }
    o
}

/// The fixture GGUF's tensors under BlinkDL's names and shapes.
fn blinkdl_tensors(g: &GgufFile) -> Vec<T> {
    let get = |n: &str| {
        let t = g.tensor(n).unwrap_or_else(|| panic!("fixture lacks {n}"));
        (t.dims.iter().rev().copied().collect::<Vec<u64>>(), f32s(g.tensor_data(t)))
    };
    let mut out = Vec::new();
    let plain = |out: &mut Vec<T>, from: &str, to: &str| {
        let (shape, data) = get(from);
        out.push(T { name: to.into(), shape, data });
    };
    plain(&mut out, "token_embd.weight", "emb.weight");
    let c = g.tensor("token_embd.weight").unwrap().dims[0];
    let n_layer = (0..).take_while(|l| g.tensor(&format!("blk.{l}.attn_norm.weight")).is_some()).count();
    assert!(n_layer > 0);
    for l in 0..n_layer {
        let b = |s: &str| format!("blk.{l}.{s}");
        let p = |s: &str| format!("blocks.{l}.{s}");
        for wb in ["weight", "bias"] {
            if l == 0 {
                plain(&mut out, &format!("token_embd_norm.{wb}"), &p(&format!("ln0.{wb}")));
            }
            plain(&mut out, &b(&format!("attn_norm.{wb}")), &p(&format!("ln1.{wb}")));
            plain(&mut out, &b(&format!("attn_norm_2.{wb}")), &p(&format!("ln2.{wb}")));
            plain(&mut out, &b(&format!("time_mix_ln.{wb}")), &p(&format!("att.ln_x.{wb}")));
        }
        let (_, fused) = get(&b("time_mix_lerp_fused.weight"));
        for (i, x) in ["r", "w", "k", "v", "a", "g"].iter().enumerate() {
            out.push(T { name: p(&format!("att.x_{x}")), shape: vec![1, 1, c], data: fused[i * c as usize..(i + 1) * c as usize].to_vec() });
        }
        for x in ["w", "a", "v", "g"] {
            if x != "g" {
                let (_, d) = get(&b(&format!("time_mix_{x}0.weight")));
                out.push(T { name: p(&format!("att.{x}0")), shape: vec![1, 1, c], data: d });
            }
            for k in ["1", "2"] {
                // GGUF holds nn.Linear orientation; BlinkDL multiplies `x @ w1`: the transpose.
                let (s, d) = get(&b(&format!("time_mix_{x}{k}.weight")));
                out.push(T { name: p(&format!("att.{x}{k}")), shape: vec![s[1], s[0]], data: transposed(&d, s[0] as usize, s[1] as usize) });
            }
        }
        for x in ["k_k", "k_a"] {
            let (_, d) = get(&b(&format!("time_mix_{x}.weight")));
            out.push(T { name: p(&format!("att.{x}")), shape: vec![1, 1, c], data: d });
        }
        let n = g.get_u64("rwkv7.wkv.head_size").unwrap().unwrap();
        let (_, rk) = get(&b("time_mix_r_k.weight"));
        out.push(T { name: p("att.r_k"), shape: vec![c / n, n], data: rk });
        for (from, to) in [("receptance", "receptance"), ("key", "key"), ("value", "value"), ("output", "output")] {
            plain(&mut out, &b(&format!("time_mix_{from}.weight")), &p(&format!("att.{to}.weight")));
        }
        let (_, xk) = get(&b("channel_mix_lerp_k.weight"));
        out.push(T { name: p("ffn.x_k"), shape: vec![1, 1, c], data: xk });
        plain(&mut out, &b("channel_mix_key.weight"), &p("ffn.key.weight"));
        plain(&mut out, &b("channel_mix_value.weight"), &p("ffn.value.weight"));
    }
    for wb in ["weight", "bias"] {
        plain(&mut out, &format!("output_norm.{wb}"), &format!("ln_out.{wb}"));
    }
    plain(&mut out, "output.weight", "head.weight");
    out
}

/// Pickle (protocol 2) of an OrderedDict state dict; `hook` may splice extra bytes before STOP.
fn pickle(ts: &[T], global: (&str, &str)) -> Vec<u8> {
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
        glob(&mut p, "torch", "FloatStorage");
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

/// A stored zip of `entries`, as torch.save writes it (CRCs left 0: the reader does not check them).
fn zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let off = out.len() as u32;
        let head = |sig: u32, central_dir: bool| {
            let mut h = sig.to_le_bytes().to_vec();
            if central_dir {
                h.extend(20u16.to_le_bytes());
            }
            h.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version, flags, method 0, time, date, crc
            h.extend((data.len() as u32).to_le_bytes());
            h.extend((data.len() as u32).to_le_bytes());
            h.extend((name.len() as u16).to_le_bytes());
            h.extend(0u16.to_le_bytes());
            if central_dir {
                h.extend([0u8; 10]); // comment length, disk, internal and external attributes
                h.extend(off.to_le_bytes());
            }
            h.extend(name.as_bytes());
            h
        };
        out.extend(head(0x0403_4b50, false));
        out.extend(data);
        central.extend(head(0x0201_4b50, true));
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

fn pth(ts: &[T], global: (&str, &str)) -> Vec<u8> {
    let mut entries = vec![("archive/data.pkl".to_string(), pickle(ts, global))];
    for (i, t) in ts.iter().enumerate() {
        entries.push((format!("archive/data/{i}"), t.data.iter().flat_map(|v| v.to_le_bytes()).collect()));
    }
    entries.push(("archive/version".into(), b"3\n".to_vec()));
    zip(&entries)
}

fn fixture() -> Option<GgufFile> {
    Some(GgufFile::open(testkit::fixture("tiny-rwkv7-834K-F32.gguf")?).unwrap())
}

fn write(tag: &str, bytes: &[u8]) -> PathBuf {
    let p = std::env::temp_dir().join(format!("aviary-pth-{tag}-{}.pth", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}

fn logits(path: &std::path::Path) -> Vec<Vec<f32>> {
    let mut loaded = aviary::load(path, &aviary::LoadOptions { threads: 2, ..Default::default() }).unwrap();
    let s = loaded.model.new_state().unwrap();
    let tokens: Vec<u32> = b"\"in the year 2025, RWKV-7".iter().map(|&b| b as u32).collect();
    loaded.model.forward(s, &tokens, LogitsMode::All).unwrap()
}

const OK: (&str, &str) = ("collections", "OrderedDict");

#[test]
fn a_pth_checkpoint_gives_the_fixture_logits_bit_for_bit() {
    let Some(g) = fixture() else { return eprintln!("fixture missing: skipped") };
    let ts = blinkdl_tensors(&g);
    let path = write("ok", &pth(&ts, OK));
    let (want, got) = (logits(&testkit::fixture("tiny-rwkv7-834K-F32.gguf").unwrap()), logits(&path));
    assert_eq!(want.len(), 25);
    for (w, o) in want.iter().zip(&got) {
        assert!(w.iter().zip(o).all(|(a, b)| a.to_bits() == b.to_bits()), "logits differ");
    }
    // `aviary convert` writes the same tensors as the fixture.
    let out = path.with_extension("gguf");
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_aviary")).args(["convert", path.to_str().unwrap(), out.to_str().unwrap(), "--force"]).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let conv = GgufFile::open(&out).unwrap();
    let mut n = 0;
    for t in g.tensors() {
        let c = conv.tensor(&t.name).unwrap_or_else(|| panic!("converted file lacks {}", t.name));
        assert_eq!(g.tensor_data(t), conv.tensor_data(c), "tensor {}", t.name);
        n += 1;
    }
    assert!(n > 100);
    std::fs::remove_file(&path).ok();
    std::fs::remove_file(&out).ok();
}

fn load_err(tag: &str, bytes: &[u8]) -> String {
    let path = write(tag, bytes);
    let e = aviary::load(&path, &aviary::LoadOptions { threads: 1, ..Default::default() }).err().expect("must fail").to_string();
    std::fs::remove_file(&path).ok();
    e
}

#[test]
fn hostile_and_damaged_checkpoints_are_refused_with_the_facts() {
    let Some(g) = fixture() else { return eprintln!("fixture missing: skipped") };
    let ts = blinkdl_tensors(&g);
    // A forbidden global is refused before anything runs.
    let e = load_err("global", &pth(&ts, ("os", "system")));
    assert!(e.contains("'os.system' is not allowed") && e.contains("offset 2"), "{e}");
    // A forbidden opcode (INST 'i').
    let mut bad = pth(&ts[..1], OK);
    let pk = bad.windows(2).position(|w| w == [0x80, 2]).unwrap();
    bad[pk + 2] = b'i';
    let e = load_err("opcode", &bad);
    assert!(e.contains("opcode 0x69") && e.contains("offset 2"), "{e}");
    // Not a zip.
    let e = load_err("notzip", b"PK\x03\x04garbage");
    assert!(e.contains("end-of-central-directory"), "{e}");
    // A missing tensor.
    let fewer: Vec<T> = ts.iter().filter(|t| t.name != "head.weight").map(|t| T { name: t.name.clone(), shape: t.shape.clone(), data: t.data.clone() }).collect();
    let e = load_err("missing", &pth(&fewer, OK));
    assert!(e.contains("'head.weight'"), "{e}");
    // A truncated storage: the pickle claims more elements than data/0 holds.
    let mut short: Vec<T> = ts.iter().take(3).map(|t| T { name: t.name.clone(), shape: t.shape.clone(), data: t.data.clone() }).collect();
    short[0].shape[0] += 1;
    let e = load_err("short", &pth(&short, OK));
    assert!(e.contains("tensor 'emb.weight'") && e.contains("bytes of storage"), "{e}");
}

#[test]
fn a_truncated_archive_fails_cleanly_at_every_cut() {
    let Some(g) = fixture() else { return eprintln!("fixture missing: skipped") };
    let ts: Vec<T> = blinkdl_tensors(&g).into_iter().take(4).collect();
    let bytes = pth(&ts, OK);
    let mut n = 0;
    for cut in (0..bytes.len()).step_by(97) {
        assert!(model::pth::from_bytes(&bytes[..cut], "cut").is_err());
        n += 1;
    }
    assert!(n > 10);
}
