// lora: mid = A·x (then tanh for Decay, σ for Gate); out = B·mid (+ bias, then the kind's output
// activation). Both products run as matmul dispatches; this file holds the activations matmul
// applies to each output value before storing it (its `epilogue` parameter), so a LoRA costs two
// dispatches and no extra passes over memory.
//   bit 3 (8): add bias[col] first; then low bits: 0 none · 1 tanh · 2 σ · 3 decay = exp(−e^(−1/2)·σ(v))

fn sigmoid(v: f32) -> f32 {
    return 1.0 / (1.0 + exp(-v));
}

// `col` indexes the bias (the output column).
fn epilogue(kind: u32, v: f32, col: u32) -> f32 {
    var z = v;
    if ((kind & 8u) != 0u) {
        z += bias[col];
    }
    switch kind & 7u {
        case 1u: { return tanh(clamp(z, -15.0, 15.0)); } // clamped: some tanh lowerings overflow to NaN
        case 2u: { return sigmoid(z); }
        case 3u: { return exp(-0.60653066 * sigmoid(z)); }
        default: { return z; }
    }
}
