//! Seeded random-weight checkpoints of RWKV-4, 5.2, 6 and 7 in BlinkDL's tensor names, shapes and
//! order (as RWKV-LM's trainers save them), plus state-tuning files (`blocks.N.att.time_state`).
//! Value ranges keep every nonlinearity in its working range so logits differ from token to token.

use testkit::TestRng;

use super::pth_writer::T;

/// The RWKV versions BlinkDL's `rwkv` package runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V4,
    V5,
    V6,
    V7,
}

impl Version {
    pub const ALL: [Version; 4] = [Version::V4, Version::V5, Version::V6, Version::V7];

    pub fn name(self) -> &'static str {
        match self {
            Version::V4 => "v4",
            Version::V5 => "v5",
            Version::V6 => "v6",
            Version::V7 => "v7",
        }
    }

    /// The GGUF architecture aviary maps it to.
    pub fn architecture(self) -> &'static str {
        match self {
            Version::V4 => "rwkv4",
            Version::V5 => "rwkv5",
            Version::V6 => "rwkv6",
            Version::V7 => "rwkv7",
        }
    }
}

/// Sizes of a generated model. Head size must divide `n_embd` (unused by RWKV-4).
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub n_vocab: u64,
    pub n_embd: u64,
    pub n_layer: u64,
    pub head_size: u64,
    pub n_ffn: u64,
    /// LoRA rank of every low-rank projection (v6 token shift and decay, v7 w/a/v/g).
    pub lora: u64,
}

/// The size the reference logits under tests/data are computed for.
pub const SMALL: Dims = Dims { n_vocab: 256, n_embd: 64, n_layer: 2, head_size: 16, n_ffn: 224, lora: 8 };

impl Dims {
    pub fn n_head(&self) -> u64 {
        self.n_embd / self.head_size
    }
}

struct Gen<'a> {
    rng: TestRng,
    d: &'a Dims,
    out: Vec<T>,
}

impl Gen<'_> {
    fn put(&mut self, name: String, shape: &[u64], lo: f32, hi: f32) {
        let n = shape.iter().product::<u64>() as usize;
        let data = self.rng.vec(n, lo, hi);
        self.out.push(T::new(name, shape, data));
    }
    /// A (1, 1, C) mixing or bias vector, as BlinkDL stores them.
    fn mix(&mut self, name: String, lo: f32, hi: f32) {
        let c = self.d.n_embd;
        self.put(name, &[1, 1, c], lo, hi);
    }
    /// An nn.Linear weight (out, in), scaled like a trained layer (unit-ish outputs).
    fn linear(&mut self, name: String, out: u64, inp: u64) {
        let s = 1.5 / (inp as f32).sqrt();
        self.put(name, &[out, inp], -s, s);
    }
    fn norm(&mut self, base: String) {
        let c = self.d.n_embd;
        self.put(format!("{base}.weight"), &[c], 0.7, 1.3);
        self.put(format!("{base}.bias"), &[c], -0.2, 0.2);
    }
}

/// A random checkpoint of `version` with sizes `d`; the same seed gives the same values.
pub fn checkpoint(version: Version, d: &Dims, seed: u64) -> Vec<T> {
    let mut g = Gen { rng: TestRng::new(seed), d, out: Vec::new() };
    let (c, f, v) = (d.n_embd, d.n_ffn, d.n_vocab);
    g.put("emb.weight".into(), &[v, c], -1.0, 1.0);
    for l in 0..d.n_layer {
        let p = |s: &str| format!("blocks.{l}.{s}");
        if l == 0 {
            g.norm(p("ln0"));
        }
        g.norm(p("ln1"));
        g.norm(p("ln2"));
        match version {
            Version::V4 => v4_att(&mut g, l),
            Version::V5 => v5_att(&mut g, l),
            Version::V6 => v6_att(&mut g, l),
            Version::V7 => v7_att(&mut g, l),
        }
        match version {
            Version::V7 => g.mix(p("ffn.x_k"), 0.0, 1.0),
            Version::V6 => {
                g.mix(p("ffn.time_maa_k"), 0.0, 1.0);
                g.mix(p("ffn.time_maa_r"), 0.0, 1.0);
            }
            Version::V4 | Version::V5 => {
                g.mix(p("ffn.time_mix_k"), 0.0, 1.0);
                g.mix(p("ffn.time_mix_r"), 0.0, 1.0);
            }
        }
        g.linear(p("ffn.key.weight"), f, c);
        if version != Version::V7 {
            g.linear(p("ffn.receptance.weight"), c, c);
        }
        g.linear(p("ffn.value.weight"), c, f);
    }
    g.norm("ln_out".into());
    g.linear("head.weight".into(), v, c);
    g.out
}

fn att_matrices(g: &mut Gen, l: u64, names: &[&str]) {
    let c = g.d.n_embd;
    for n in names {
        g.linear(format!("blocks.{l}.att.{n}.weight"), c, c);
    }
}

fn v4_att(g: &mut Gen, l: u64) {
    let c = g.d.n_embd;
    let p = |s: &str| format!("blocks.{l}.att.{s}");
    // w = −exp(time_decay) per channel.
    g.put(p("time_decay"), &[c], -2.0, 1.5);
    g.put(p("time_first"), &[c], -1.0, 1.0);
    for x in ["k", "v", "r"] {
        g.mix(p(&format!("time_mix_{x}")), 0.0, 1.0);
    }
    att_matrices(g, l, &["key", "value", "receptance", "output"]);
}

fn v5_att(g: &mut Gen, l: u64) {
    let (h, n) = (g.d.n_head(), g.d.head_size);
    let p = |s: &str| format!("blocks.{l}.att.{s}");
    for x in ["k", "v", "r", "g"] {
        g.mix(p(&format!("time_mix_{x}")), 0.0, 1.0);
    }
    // w = exp(−exp(time_decay)): decays from 0.95 down to 0.07.
    g.put(p("time_decay"), &[h, n], -3.0, 1.0);
    g.put(p("time_faaaa"), &[h, n], -1.0, 1.0);
    att_matrices(g, l, &["receptance", "key", "value", "output", "gate"]);
    g.norm(p("ln_x"));
}

fn v6_att(g: &mut Gen, l: u64) {
    let (c, h, n, r) = (g.d.n_embd, g.d.n_head(), g.d.head_size, g.d.lora);
    let p = |s: &str| format!("blocks.{l}.att.{s}");
    for x in ["x", "w", "k", "v", "r", "g"] {
        g.mix(p(&format!("time_maa_{x}")), 0.0, 1.0);
    }
    g.put(p("time_maa_w1"), &[c, 5 * r], -0.3, 0.3);
    g.put(p("time_maa_w2"), &[5, r, c], -0.3, 0.3);
    g.mix(p("time_decay"), -3.0, 1.0);
    // A decay LoRA of another rank than the token-shift one, as in real checkpoints (32 vs 64).
    g.put(p("time_decay_w1"), &[c, 2 * r], -0.3, 0.3);
    g.put(p("time_decay_w2"), &[2 * r, c], -0.3, 0.3);
    g.put(p("time_faaaa"), &[h, n], -1.0, 1.0);
    att_matrices(g, l, &["receptance", "key", "value", "output", "gate"]);
    g.norm(p("ln_x"));
}

fn v7_att(g: &mut Gen, l: u64) {
    let (c, h, n, r) = (g.d.n_embd, g.d.n_head(), g.d.head_size, g.d.lora);
    let p = |s: &str| format!("blocks.{l}.att.{s}");
    for x in ["r", "w", "k", "v", "a", "g"] {
        g.mix(p(&format!("x_{x}")), 0.0, 1.0);
    }
    g.mix(p("w0"), -3.0, 0.5);
    g.put(p("w1"), &[c, r], -0.3, 0.3);
    g.put(p("w2"), &[r, c], -0.3, 0.3);
    g.mix(p("a0"), -1.0, 1.0);
    g.put(p("a1"), &[c, r], -0.3, 0.3);
    g.put(p("a2"), &[r, c], -0.3, 0.3);
    // Layer 0's value-residual LoRA is saved but unused (the first layer's v is v_first).
    g.mix(p("v0"), -1.0, 1.0);
    g.put(p("v1"), &[c, r], -0.3, 0.3);
    g.put(p("v2"), &[r, c], -0.3, 0.3);
    g.put(p("g1"), &[c, 2 * r], -0.3, 0.3);
    g.put(p("g2"), &[2 * r, c], -0.3, 0.3);
    g.mix(p("k_k"), 0.5, 1.0);
    g.mix(p("k_a"), 0.5, 1.5);
    g.put(p("r_k"), &[h, n], -0.5, 0.5);
    att_matrices(g, l, &["receptance", "key", "value", "output"]);
    g.norm(p("ln_x"));
}

/// A state-tuning file for a model of sizes `d`: one (H, N, N) `time_state` per layer.
pub fn state_tuning(d: &Dims, seed: u64) -> Vec<T> {
    let mut rng = TestRng::new(seed);
    let (h, n) = (d.n_head(), d.head_size);
    (0..d.n_layer).map(|l| T::new(format!("blocks.{l}.att.time_state"), &[h, n, n], rng.vec((h * n * n) as usize, -0.5, 0.5))).collect()
}

/// The reference cases: which checkpoint, stored how, started from which state.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub name: &'static str,
    pub version: Version,
    pub dtype: super::pth_writer::Dtype,
    pub seed: u64,
    /// Seed of a state-tuning file the sequence starts from.
    pub state_seed: Option<u64>,
}

/// The cases of tests/data/blinkdl-reference.json (f32 of every version, f16 and bf16 variants,
/// state-tuned RWKV-6 and 7), all of [`SMALL`] sizes.
pub fn reference_cases() -> Vec<Case> {
    use super::pth_writer::Dtype::*;
    let case = |name, version, dtype, seed, state_seed| Case { name, version, dtype, seed, state_seed };
    vec![
        case("v4-f32", Version::V4, F32, 40, None),
        case("v5-f32", Version::V5, F32, 50, None),
        case("v6-f32", Version::V6, F32, 60, None),
        case("v7-f32", Version::V7, F32, 70, None),
        case("v4-f16", Version::V4, F16, 41, None),
        case("v5-f16", Version::V5, F16, 51, None),
        case("v6-bf16", Version::V6, BF16, 61, None),
        case("v7-bf16", Version::V7, BF16, 71, None),
        case("v6-f32-state", Version::V6, F32, 60, Some(600)),
        case("v7-f32-state", Version::V7, F32, 70, Some(700)),
    ]
}

/// Token ids the reference logits are taken after (byte values of a short text).
pub fn reference_tokens() -> Vec<u32> {
    b"RWKV: every bird!".iter().map(|&b| b as u32).collect()
}

/// Positions whose full logits are kept in the reference JSON.
pub const REFERENCE_POSITIONS: [usize; 2] = [0, 16];
