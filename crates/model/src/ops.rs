//! The closed op set a backend implements. Shapes are `[rows, cols]` row-major f32 activations with one
//! row per token, unless an op says otherwise. Each op is named the same everywhere: model step,
//! reference kernel, backend kernel and test.

use crate::ModelError;

/// The LoRA flavours of RWKV-7's time mix (spec §4.3, §4.6). `A` is the down projection
/// (rank × C), `B` the up projection (C × rank).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoraKind {
    /// `exp(-e^(-1/2) · σ(bias + B·tanh(A·x)))`: the per-channel decay, in (0.545, 1).
    Decay,
    /// `σ(bias + B·(A·x))`: in-context learning rate `a`, and the value-residual mix.
    SigmoidOut,
    /// `B·σ(A·x)`: the output gate (no bias).
    Gate,
}

/// A backend. `Weight` is a tensor resident on the device in its stored type; `Act` an f32 buffer of a
/// fixed `[rows, cols]` shape.
pub trait Ops {
    type Weight;
    type Act;

    /// Short backend name (`cpu`, `wgpu`, `cuda`).
    fn backend_name(&self) -> &'static str;
    /// The device the backend runs on, for display (CPU model, adapter name).
    fn device_name(&self) -> String;

    /// A 2-D weight `[rows = ne[1], cols = ne[0]]` kept in its stored type.
    fn upload_matrix(&mut self, src: &crate::TensorSource) -> Result<Self::Weight, ModelError>;
    /// A small f32 parameter (norm weights, lerp factors, biases): `rows` vectors of `cols` values.
    fn upload_vectors(&mut self, rows: usize, cols: usize, data: Vec<f32>) -> Result<Self::Weight, ModelError>;
    /// A zero-filled activation or state buffer.
    fn alloc(&mut self, rows: usize, cols: usize) -> Result<Self::Act, ModelError>;
    /// Host copies in and out (state save/restore, logits).
    fn read(&mut self, x: &Self::Act) -> Result<Vec<f32>, ModelError>;
    fn write(&mut self, x: &mut Self::Act, data: &[f32]) -> Result<(), ModelError>;

    /// Brackets one step; a recording backend submits at `end_step`.
    fn begin_step(&mut self) -> Result<(), ModelError> {
        Ok(())
    }
    fn end_step(&mut self) -> Result<(), ModelError> {
        Ok(())
    }

    /// `out[t] = table[tokens[t]]` (a row of a possibly quantized matrix). Ids were checked by the caller.
    fn embed(&mut self, table: &Self::Weight, tokens: &[u32], out: &mut Self::Act);
    /// Per row: `(x − mean) / sqrt(var + eps) · w + b`; `w`, `b` are one vector each.
    fn layer_norm(&mut self, x: &Self::Act, w: &Self::Weight, b: &Self::Weight, eps: f32, out: &mut Self::Act);
    /// Token shift then lerp: with `prev[0] = shift` and `prev[t] = x[t−1]`,
    /// `outs[i][t] = x[t] + (prev[t] − x[t]) · mu[i]` for each row `i` of `mu`; afterwards
    /// `shift = x[last]`. `shift` is `[1, C]`.
    fn token_shift_lerp(&mut self, x: &Self::Act, shift: &mut Self::Act, mu: &Self::Weight, outs: &mut [&mut Self::Act]);
    /// `out[t] = W · x[t]` for a weight of `[M, K]`, `x` of `[T, K]`, `out` of `[T, M]`.
    fn matmul(&mut self, w: &Self::Weight, x: &Self::Act, out: &mut Self::Act);
    /// A LoRA (see [`LoraKind`]); `mid` is scratch of `[T, rank]`.
    #[allow(clippy::too_many_arguments)]
    fn lora(
        &mut self,
        kind: LoraKind,
        x: &Self::Act,
        a: &Self::Weight,
        b: &Self::Weight,
        bias: Option<&Self::Weight>,
        mid: &mut Self::Act,
        out: &mut Self::Act,
    );
    /// `v += (v_first − v) · mix`, element-wise.
    fn value_residual(&mut self, v: &mut Self::Act, v_first: &Self::Act, mix: &Self::Act);
    /// The WKV-7 recurrence over the rows of one sequence, in order (spec §4.3). Per token and head:
    /// `kk = normalize(k ⊙ k_k)`, `k ← k ⊙ (1 + (a − 1) ⊙ k_a)` (written back into `k`),
    /// `S ← S·diag(decay) − (S·kk)(kk ⊙ a)ᵀ + v kᵀ`, `y = S·r`. `state` is `[n_head, N·N]`,
    /// `S[h][i][j]` at `h·N·N + i·N + j` (i = value, j = key).
    #[allow(clippy::too_many_arguments)]
    fn wkv7(
        &mut self,
        r: &Self::Act,
        decay: &Self::Act,
        k: &mut Self::Act,
        v: &Self::Act,
        a: &Self::Act,
        k_k: &Self::Weight,
        k_a: &Self::Weight,
        state: &mut Self::Act,
        y: &mut Self::Act,
    );
    /// In place on `y`: per head GroupNorm (`eps`), affine `ln_w`, `ln_b`, plus the bonus
    /// `(Σ_j r_j k_j r_k_j) · v`, then `· g`.
    #[allow(clippy::too_many_arguments)]
    fn wkv7_output(
        &mut self,
        y: &mut Self::Act,
        r: &Self::Act,
        k: &Self::Act,
        v: &Self::Act,
        g: &Self::Act,
        r_k: &Self::Weight,
        ln_w: &Self::Weight,
        ln_b: &Self::Weight,
        head_size: usize,
        eps: f32,
    );
    /// `x += y`.
    fn add(&mut self, x: &mut Self::Act, y: &Self::Act);
    /// `x = max(x, 0)²`.
    fn relu_square(&mut self, x: &mut Self::Act);
    /// Copies rows `first .. first + out.rows` of `x` into `out`.
    fn copy_rows(&mut self, x: &Self::Act, first: usize, out: &mut Self::Act);

    /// Optional: the index of the largest value of each row of `logits` (the first on ties),
    /// computed where the logits live, so a greedy decode step reads back one id per row instead
    /// of the whole vocabulary. Ends the step like `read` does. `None` = not offered (the caller
    /// reads the logits and scans them on the host).
    fn argmax(&mut self, _logits: &Self::Act) -> Option<Result<Vec<u32>, ModelError>> {
        None
    }
}
