//! BlinkDL `.pth` checkpoints, written byte for byte as `torch.save` lays them out
//! (`common::pth_writer`), from the tiny RWKV-7 fixture reversed into BlinkDL names and shapes
//! (spec §3.5). Loading one must give the fixture GGUF's logits bit for bit; damaged or hostile
//! checkpoints must fail with the facts.

mod common;

use std::path::PathBuf;

use common::pth_writer::{pth_with_global, write_temp, Dtype, ORDERED_DICT, T};

use gguf::GgufFile;
use model::LogitsMode;

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

fn pth(ts: &[T], global: (&str, &str)) -> Vec<u8> {
    pth_with_global(ts, Dtype::F32, global)
}

fn fixture() -> Option<GgufFile> {
    Some(GgufFile::open(testkit::fixture("tiny-rwkv7-834K-F32.gguf")?).unwrap())
}

fn write(tag: &str, bytes: &[u8]) -> PathBuf {
    write_temp(&format!("pth-{tag}"), "pth", bytes)
}

fn logits(path: &std::path::Path) -> Vec<Vec<f32>> {
    let mut loaded = aviary::load(path, &aviary::LoadOptions { threads: 2, ..Default::default() }).unwrap();
    let s = loaded.model.new_state().unwrap();
    let tokens: Vec<u32> = b"\"in the year 2025, RWKV-7".iter().map(|&b| b as u32).collect();
    loaded.model.forward(s, &tokens, LogitsMode::All).unwrap()
}

const OK: (&str, &str) = ORDERED_DICT;

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
