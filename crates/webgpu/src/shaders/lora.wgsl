// lora: mid = A·x (then tanh for Decay, σ for Gate); out = B·mid (+ bias, then the kind's output
// activation). Both products run as matmul dispatches; this file holds the activations matmul
// applies to each output value before storing it (its `epilogue` parameter), so a LoRA costs two
// dispatches and no extra passes over memory. The backend also folds a following relu_square,
// residual add, value_residual, sigmoid_mul or silu_mul into the matmul that produced their input
// (bits 4 to 8), saving their dispatches.
//   bit 3 (8): add bias[col] first; then low bits: 0 none · 1 tanh · 2 σ · 3 decay = exp(−e^(−1/2)·σ(v))
//              · 4 RWKV-6 decay = exp(−e^v)
//   bit 4 (16): then max(z, 0)² (relu_square)
//   bit 5 (32): store z, and also add it to resid at the same index (x += W·y)
//   bit 6 (64): store z, and also resid += (aux − resid) · z at the same index (value_residual with
//               v = resid, v_first = aux, mix = z)
//   bit 7 (128): store z, and also resid ⊙= σ(z) (sigmoid_mul with x = resid, g = z)
//   bit 8 (256): store z, and also resid ⊙= z·σ(z) (silu_mul with x = resid, g = z)
// The activations live in epilogue.wgsl (included before this file).

// `col` indexes the bias (the output column).
fn epilogue(kind: u32, v: f32, col: u32) -> f32 {
    var z = v;
    if ((kind & 8u) != 0u) {
        z += bias[col];
    }
    return activate(kind, z);
}

// Applies the epilogue to output value `v` of column `col` and stores it at `idx` of out (and resid).
fn store_out(kind: u32, v: f32, col: u32, idx: u32) {
    let z = epilogue(kind, v, col);
    out[idx] = z;
    if ((kind & 32u) != 0u) {
        resid[idx] += z;
    }
    if ((kind & 64u) != 0u) {
        let v = resid[idx];
        resid[idx] = v + (aux[idx] - v) * z;
    }
    if ((kind & 128u) != 0u) {
        resid[idx] *= sigmoid(z);
    }
    if ((kind & 256u) != 0u) {
        resid[idx] *= z * sigmoid(z);
    }
}
