// Epilogue activations shared by the matmul kernels (codes: see lora.wgsl).

fn sigmoid(v: f32) -> f32 {
    return 1.0 / (1.0 + exp(-v));
}

// The activation of epilogue code `kind` (low bits, then bit 4) on `z`, the bias already added.
// Pure, so the one-token matvec (which binds a bias per folded job) shares it.
fn activate(kind: u32, v: f32) -> f32 {
    var z = v;
    switch kind & 7u {
        case 1u: { z = tanh(clamp(z, -15.0, 15.0)); } // clamped: some tanh lowerings overflow to NaN
        case 2u: { z = sigmoid(z); }
        case 3u: { z = exp(-0.60653066 * sigmoid(z)); }
        case 4u: { z = exp(-exp(z)); }
        default: {}
    }
    if ((kind & 16u) != 0u) {
        let r = max(z, 0.0);
        z = r * r;
    }
    return z;
}
