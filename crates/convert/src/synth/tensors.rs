//! The tensors of a synthetic RWKV-7 model, in the order llama.cpp's converter writes them, with the
//! distribution each is drawn from.
//!
//! Scales follow the synthetic tiny-k fixture and keep a deep random model numerically tame: matrices
//! have a standard deviation of about 1/sqrt(fan_in) (so each mat-vec keeps unit scale), LoRA "up"
//! matrices are small (the LoRA is a correction to its bias), LayerNorm weights are near 1, lerp
//! factors lie in (0, 1), `w0` in (-5, 1) puts the decay `exp(-0.607·sigmoid(w))` between about 0.55
//! and 0.996, and the head's scale of 3/sqrt(C) gives logits with a standard deviation near 3.

use model::names::{self, blk, rwkv7 as t};

use super::init::Init;
use super::SynthSpec;

/// One tensor to generate.
#[derive(Clone, Debug)]
pub struct SynthTensor {
    pub name: String,
    /// ggml `ne` order.
    pub dims: Vec<u64>,
    pub init: Init,
    /// The name whose seed generates the values: layer 0's `time_mix_v0/v1/v2` are copies of
    /// `a0/a1/a2`, as the converter writes them.
    pub seed_name: String,
}

fn centered(std: f64) -> Init {
    Init::Centered { std: std as f32 }
}

fn uniform(lo: f32, hi: f32) -> Init {
    Init::Uniform { lo, hi }
}

/// All tensors of `spec`, in converter order (see the tiny-k fixture): `token_embd`, then per layer
/// norms (layer 0 also `token_embd_norm`), time mix, channel mix; then `output_norm`, `output`.
pub fn synth_tensors(spec: &SynthSpec) -> Vec<SynthTensor> {
    let c = spec.n_embd as u64;
    let f = spec.n_ffn as u64;
    let (dw, da, dv, dg) = (
        spec.decay_lora_rank as u64,
        spec.iclr_lora_rank as u64,
        spec.value_lora_rank as u64,
        spec.gate_lora_rank as u64,
    );
    let inv_sqrt = |n: u64| 1.0 / (n as f64).sqrt();
    let norm_w = uniform(0.8, 1.2);
    let norm_b = centered(0.05);

    let mut out = Vec::new();
    let mut push = |name: String, dims: Vec<u64>, init: Init| {
        out.push(SynthTensor { seed_name: name.clone(), name, dims, init });
    };
    push(names::TOKEN_EMBD.to_string(), vec![c, spec.n_vocab as u64], centered(1.0));
    for l in 0..spec.n_layer {
        let n = |suffix: &str| blk(l, suffix);
        push(n("attn_norm.weight"), vec![c], norm_w);
        push(n("attn_norm.bias"), vec![c], norm_b);
        push(n("attn_norm_2.weight"), vec![c], norm_w);
        push(n("attn_norm_2.bias"), vec![c], norm_b);
        if l == 0 {
            push(format!("{}.weight", names::TOKEN_EMBD_NORM), vec![c], norm_w);
            push(format!("{}.bias", names::TOKEN_EMBD_NORM), vec![c], norm_b);
        }
        push(n(t::LERP_FUSED), vec![c, 1, 1, 6], uniform(0.0, 1.0));
        push(n(t::W0), vec![c], uniform(-5.0, 1.0));
        push(n(t::W1), vec![c, dw], centered(inv_sqrt(c)));
        push(n(t::W2), vec![dw, c], centered(0.1 * inv_sqrt(dw)));
        let a0 = (n(t::A0), vec![c], centered(0.5));
        let a1 = (n(t::A1), vec![c, da], centered(inv_sqrt(c)));
        let a2 = (n(t::A2), vec![da, c], centered(0.1 * inv_sqrt(da)));
        if l == 0 {
            // The converter emits each dummy v right before the a it copies.
            for (v, a) in [(t::V0, a0), (t::V1, a1), (t::V2, a2)] {
                push(n(v), a.1.clone(), a.2);
                push(a.0, a.1, a.2);
            }
        } else {
            for a in [a0, a1, a2] {
                push(a.0, a.1, a.2);
            }
            push(n(t::V0), vec![c], centered(0.5));
            push(n(t::V1), vec![c, dv], centered(inv_sqrt(c)));
            push(n(t::V2), vec![dv, c], centered(0.1 * inv_sqrt(dv)));
        }
        push(n(t::G1), vec![c, dg], centered(inv_sqrt(c)));
        push(n(t::G2), vec![dg, c], centered(0.5 * inv_sqrt(dg)));
        push(n(t::K_K), vec![c], uniform(0.5, 1.0));
        push(n(t::K_A), vec![c], uniform(0.5, 1.5));
        push(n(t::R_K), vec![c], centered(0.1));
        for m in [t::RECEPTANCE, t::KEY, t::VALUE, t::OUTPUT] {
            push(n(m), vec![c, c], centered(inv_sqrt(c)));
        }
        push(n(&format!("{}.weight", t::LN_X)), vec![c], uniform(0.5, 1.0));
        push(n(&format!("{}.bias", t::LN_X)), vec![c], norm_b);
        push(n(t::FFN_LERP_K), vec![c], uniform(0.0, 1.0));
        push(n(t::FFN_KEY), vec![c, f], centered(0.5 * inv_sqrt(c)));
        push(n(t::FFN_VALUE), vec![f, c], centered(inv_sqrt(f)));
    }
    push(format!("{}.weight", names::OUTPUT_NORM), vec![c], norm_w);
    push(format!("{}.bias", names::OUTPUT_NORM), vec![c], norm_b);
    push(names::OUTPUT.to_string(), vec![c, spec.n_vocab as u64], centered(3.0 * inv_sqrt(c)));
    // Layer 0's dummies take their values from the `a` tensors they copy.
    for x in out.iter_mut() {
        if let Some(rest) = x.name.strip_prefix("blk.0.time_mix_v") {
            x.seed_name = format!("blk.0.time_mix_a{rest}");
        }
    }
    out
}
