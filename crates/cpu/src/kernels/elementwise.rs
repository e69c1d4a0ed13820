//! Element-wise ops: add, relu_square, value_residual, and the activations the LoRAs use.

pub fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

pub fn relu_square(x: &mut [f32]) {
    for v in x {
        let r = v.max(0.0);
        *v = r * r;
    }
}

/// `v += (v_first − v) · mix`.
pub fn value_residual(v: &mut [f32], v_first: &[f32], mix: &[f32]) {
    for ((a, f), m) in v.iter_mut().zip(v_first).zip(mix) {
        *a += (f - *a) * m;
    }
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `e^(−1/2)`, the decay scale of RWKV-7 (spec §4.6).
pub const DECAY_SCALE: f32 = 0.606_530_66;

/// RWKV-7 decay from the pre-activation `wr`: `exp(−e^(−1/2) · σ(wr))`.
pub fn decay(wr: f32) -> f32 {
    (-DECAY_SCALE * sigmoid(wr)).exp()
}

/// `x ⊙= σ(g)` (receptance gating of RWKV-4/5/6).
pub fn sigmoid_mul(x: &mut [f32], g: &[f32]) {
    for (a, &b) in x.iter_mut().zip(g) {
        *a *= sigmoid(b);
    }
}

/// `x ⊙= g·σ(g)` (SiLU gating of RWKV-5/6).
pub fn silu_mul(x: &mut [f32], g: &[f32]) {
    for (a, &b) in x.iter_mut().zip(g) {
        *a *= b * sigmoid(b);
    }
}

/// `x ·= factor`.
pub fn scale(x: &mut [f32], factor: f32) {
    x.iter_mut().for_each(|v| *v *= factor);
}
