//! The closed op set a backend implements. Shapes are `[rows, cols]` row-major f32 activations with one
//! row per token, unless an op says otherwise. Each op is named the same everywhere: model step,
//! reference kernel, backend kernel and test.

use crate::{Architecture, ModelError};

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

/// The decay of [`Ops::wkv6`]: per token (RWKV-6, `[T, C]`) or one vector for every token (RWKV-5,
/// `[1, C]`). Values are the multipliers `w ∈ (0, 1)`, not logarithms.
pub enum Wkv6Decay<'a, W, A> {
    PerToken(&'a A),
    Static(&'a W),
}

/// A backend. `Weight` is a tensor resident on the device in its stored type; `Act` an f32 buffer of a
/// fixed `[rows, cols]` shape.
///
/// Ops past `copy_rows` serve RWKV-4, 5 and 6 only. Like llama.cpp's `supports_op`, a backend says
/// which architectures it runs ([`Ops::supports`]); the runner refuses to load any other, so the
/// default bodies of those ops (which panic) are never reached.
pub trait Ops {
    type Weight;
    type Act;

    /// Short backend name (`cpu`, `wgpu`, `cuda`).
    fn backend_name(&self) -> &'static str;
    /// Whether the backend implements every op `arch` needs. The default is RWKV-7's op set only.
    fn supports(&self, arch: Architecture) -> bool {
        arch == Architecture::Rwkv7
    }
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
    /// `begin_step` for a batched decode step (one token per sequence, see `batched_decode`): a
    /// recording backend may treat it like a one-token step, whose recording repeats step after
    /// step, rather than like a prompt chunk.
    fn begin_batch_step(&mut self) -> Result<(), ModelError> {
        self.begin_step()
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

    /// Tokens per prefill step this backend runs best with; the runner starts with this chunk size
    /// (`set_chunk_size` still overrides it).
    fn preferred_chunk(&self) -> usize {
        crate::runner::DEFAULT_CHUNK
    }

    // ---- Batched decode (see `batched_decode`) ----

    /// Whether the backend runs one decode step of several sequences as one batch, through
    /// `token_shift_lerp_rows` and `wkv7_rows` (RWKV-7 only). Without it the runner steps the
    /// sequences one after another.
    fn batched_decode(&self) -> bool {
        false
    }
    /// `token_shift_lerp` for a step whose row `t` is the next token of its own sequence: row `t`'s
    /// previous token is `shifts[t]` (`[1, C]`), and afterwards `shifts[t] = x[t]`.
    fn token_shift_lerp_rows(&mut self, _x: &Self::Act, _shifts: &mut [&mut Self::Act], _mu: &Self::Weight, _outs: &mut [&mut Self::Act]) {
        unsupported(self.backend_name(), "token_shift_lerp_rows")
    }
    /// `wkv7` for a step whose row `t` is the next token of its own sequence, with that sequence's
    /// state `states[t]` (`[n_head, N·N]` each).
    #[allow(clippy::too_many_arguments)]
    fn wkv7_rows(
        &mut self,
        _r: &Self::Act,
        _decay: &Self::Act,
        _k: &mut Self::Act,
        _v: &Self::Act,
        _a: &Self::Act,
        _k_k: &Self::Weight,
        _k_a: &Self::Weight,
        _states: &mut [&mut Self::Act],
        _y: &mut Self::Act,
    ) {
        unsupported(self.backend_name(), "wkv7_rows")
    }

    // ---- RWKV-4, 5 and 6 (see `supports`) ----

    /// RWKV-6's decay LoRA (spec §5.1): `out = exp(−exp(bias + B·tanh(A·x)))`; A `[R, C]`, B `[C, R]`,
    /// bias `[C]`, `mid` scratch `[T, R]`.
    #[allow(clippy::too_many_arguments)]
    fn decay6(
        &mut self,
        _x: &Self::Act,
        _a: &Self::Weight,
        _b: &Self::Weight,
        _bias: &Self::Weight,
        _mid: &mut Self::Act,
        _out: &mut Self::Act,
    ) {
        unsupported(self.backend_name(), "decay6")
    }
    /// RWKV-6's data-dependent token shift (spec §5.1). With `prev` as in `token_shift_lerp` and
    /// `d = prev − x`: `xxx = x + d·mu_x`, `m = tanh(W1·xxx)` (`[T, K·D]`, written to `mid`),
    /// `outs[i] = x + d·(mu[i] + W2_i·m_i)` where `m_i` is the i-th D-wide slice of `m` and `W2_i` rows
    /// `i·C .. (i+1)·C` of `w2` (`[K·C, D]`); afterwards `shift = x[last]`. `mu` is `[K, C]`, K = 5.
    #[allow(clippy::too_many_arguments)]
    fn token_shift_lora6(
        &mut self,
        _x: &Self::Act,
        _shift: &mut Self::Act,
        _mu_x: &Self::Weight,
        _mu: &Self::Weight,
        _w1: &Self::Weight,
        _w2: &Self::Weight,
        _mid: &mut Self::Act,
        _outs: &mut [&mut Self::Act],
    ) {
        unsupported(self.backend_name(), "token_shift_lora6")
    }
    /// The WKV recurrence of RWKV-6 and RWKV-5 over the rows of one sequence (spec §5.1). Per token and
    /// head, with `S[i][j]` (i = key, j = value) at `state[h·N·N + i·N + j]`:
    /// `y[j] = Σ_i r[i]·(u[i]·k[i]·v[j] + S[i][j])`, then `S[i][j] = S[i][j]·w[i] + k[i]·v[j]`.
    /// `u` (the bonus) is `[C]`; `state` is `[n_head, N·N]`.
    #[allow(clippy::too_many_arguments)]
    fn wkv6(
        &mut self,
        _r: &Self::Act,
        _k: &Self::Act,
        _v: &Self::Act,
        _decay: Wkv6Decay<'_, Self::Weight, Self::Act>,
        _u: &Self::Weight,
        _state: &mut Self::Act,
        _y: &mut Self::Act,
    ) {
        unsupported(self.backend_name(), "wkv6")
    }
    /// RWKV-4's WKV in its overflow-free form over the rows of one sequence. Per channel, with state
    /// rows `aa, bb, pp` (`[3, C]`), `w = −exp(time_decay)` and `u = time_first`:
    /// `q = max(pp, u+k)`, `y = (e^(pp−q)·aa + e^(u+k−q)·v) / (e^(pp−q)·bb + e^(u+k−q))`; then
    /// `q' = max(pp+w, k)`, `aa = e^(pp+w−q')·aa + e^(k−q')·v`, `bb = e^(pp+w−q')·bb + e^(k−q')`, `pp = q'`.
    #[allow(clippy::too_many_arguments)]
    fn wkv4(
        &mut self,
        _k: &Self::Act,
        _v: &Self::Act,
        _w: &Self::Weight,
        _u: &Self::Weight,
        _state: &mut Self::Act,
        _y: &mut Self::Act,
    ) {
        unsupported(self.backend_name(), "wkv4")
    }
    /// In place on `y`: per head GroupNorm (`eps`) and the per-channel affine `ln_w`, `ln_b` (RWKV-5/6's
    /// `ln_x`; no bonus term).
    fn group_norm(&mut self, _y: &mut Self::Act, _ln_w: &Self::Weight, _ln_b: &Self::Weight, _head_size: usize, _eps: f32) {
        unsupported(self.backend_name(), "group_norm")
    }
    /// `x ⊙= σ(g)`, element-wise (receptance gating).
    fn sigmoid_mul(&mut self, _x: &mut Self::Act, _g: &Self::Act) {
        unsupported(self.backend_name(), "sigmoid_mul")
    }
    /// `x ⊙= g·σ(g)` (SiLU gating), element-wise.
    fn silu_mul(&mut self, _x: &mut Self::Act, _g: &Self::Act) {
        unsupported(self.backend_name(), "silu_mul")
    }
    /// `x ·= factor` (RWKV-6's rescaled residual stream).
    fn scale(&mut self, _x: &mut Self::Act, _factor: f32) {
        unsupported(self.backend_name(), "scale")
    }
}

/// The body of an op a backend does not offer. Unreachable through the runner, which checks
/// [`Ops::supports`] before loading.
#[cold]
fn unsupported(backend: &str, op: &str) -> ! {
    panic!("the {backend} backend does not implement op '{op}' (the runner checks Ops::supports first)")
}
