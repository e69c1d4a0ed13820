//! `CpuBackend`: the op set of `model::Ops` on host memory, on a spinning pool of its own.
//!
//! Matmuls and LoRAs always go through quant's fast kernels (at the active SIMD level; at the scalar
//! level they decode with the references). The other ops use the vectorised/parallel kernels in
//! `fast/` unless the level is scalar (`AVIARY_SIMD=scalar`), in which case the reference kernels run.

use std::cell::RefCell;

use model::{Architecture, LoraKind, ModelError, Ops, TensorSource, Wkv6Decay};

use crate::buffers::{CpuAct, CpuWeight};
use crate::kernels::lora::MatrixRef;
use crate::kernels::wkv7::Wkv7Inputs;
use crate::kernels::wkv7_output::Wkv7OutputInputs;
use crate::fast;
use crate::fast::sparse_matvec::Transposed;
use crate::kernels::lora::Matrix;
use crate::kernels::wkv6::Wkv6Inputs;
use crate::kernels::{decay6, group_norm, token_shift_lora6, wkv4, wkv6};
use crate::kernels::{elementwise, embed, layer_norm, token_shift_lerp, wkv7, wkv7_output};
use crate::pool::Pool;
use crate::profile::Profile;
use crate::weight_bytes::{resident_from_env, WeightBytes};
use quant::fast::{Isa, RowKernel};

/// Prefill chunk (tokens) when matmuls run on AMX tiles, and otherwise (the runner's default);
/// `AVIARY_CHUNK` overrides both.
const AMX_CHUNK: usize = 256;
const INTEGER_CHUNK: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum CpuError {
    #[error("could not start a pool of {threads} threads: {reason}")]
    ThreadPool { threads: usize, reason: String },
}

/// The CPU backend.
pub struct CpuBackend {
    pool: Pool,
    threads: usize,
    /// The SIMD level (fixed at creation).
    isa: Isa,
    /// Scratch for quantized activations.
    acts: Vec<u8>,
    /// Activation planes per token for integer kernels (see `fast::matmul`).
    planes: usize,
    /// Whether F32 matrices may run on AMX tiles: set once a non-F32 matrix is uploaded (an F32
    /// file's matrices are all F32 and keep f32 arithmetic, held to 1e-4; in other files the F32
    /// matrices are small LoRAs whose ~16-bit tile products are far inside the file's bound).
    f32_tiles: bool,
    /// Whether matrices are copied into process memory at upload (`weight_bytes`).
    resident_weights: bool,
    profile: Profile,
    /// Scratch: nonzero activation indices for the sparse matvec.
    nz: Vec<u32>,
}

impl CpuBackend {
    /// A backend with `threads` workers (0 = one per available core).
    pub fn new(threads: usize) -> Result<Self, CpuError> {
        let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
        let pool = Pool::new(threads).map_err(|e| CpuError::ThreadPool { threads, reason: e.to_string() })?;
        Ok(CpuBackend { pool, threads, isa: quant::fast::active(), acts: Vec::new(), planes: planes_from_env(), f32_tiles: false, resident_weights: resident_from_env(), profile: Profile::from_env(), nz: Vec::new() })
    }

    /// The SIMD level the kernels run at.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Whether the vectorised small-op kernels run (else the scalar references).
    fn fast_ops(&self) -> bool {
        self.isa != Isa::Scalar
    }

    /// WKV-7 over the rows in `inp` with one sequence's `state` (`[n_head, N·N]`).
    fn wkv7_slices(&self, inp: &Wkv7Inputs<'_>, k: &mut [f32], state: &mut CpuAct, y: &mut [f32]) {
        let head_size = (state.cols as f64).sqrt() as usize;
        if self.fast_ops() {
            fast::wkv7::wkv7(&self.pool, self.isa, inp, k, &mut state.data, y, head_size);
        } else {
            wkv7::wkv7(inp, k, &mut state.data, y, head_size);
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }
}

fn matrix(w: &CpuWeight) -> MatrixRef<'_> {
    match w {
        CpuWeight::Matrix { ty, cols, row_bytes, bytes, .. } => {
            MatrixRef { ty: *ty, bytes: bytes.bytes(), row_bytes: *row_bytes, cols: *cols }
        }
        CpuWeight::Vectors { .. } => panic!("op expected a matrix, got a vector parameter"),
    }
}

/// `AVIARY_ACT_BITS=8` selects ggml's single 8-bit activation plane (fastest; as accurate as
/// llama.cpp); the default is two planes (8-bit plus quantized residual), more accurate than llama.cpp.
fn planes_from_env() -> usize {
    match std::env::var("AVIARY_ACT_BITS").as_deref().map(str::trim) {
        Ok("8") => 1,
        _ => 2,
    }
}

/// `AVIARY_SPARSE=1` keeps transposed copies of F16 FFN value matrices for zero-skipping decode
/// (`fast::sparse_matvec`; off by default until it is shown to pay for its memory).
fn sparse_from_env() -> bool {
    std::env::var("AVIARY_SPARSE").is_ok_and(|v| v.trim() == "1")
}

/// A matrix's fast kernel, bytes and row length.
fn fast_matrix(w: &CpuWeight) -> (&RowKernel, &[u8], usize) {
    match w {
        CpuWeight::Matrix { kernel, bytes, cols, .. } => (kernel, bytes.bytes(), *cols),
        CpuWeight::Vectors { .. } => panic!("op expected a matrix, got a vector parameter"),
    }
}

/// A weight multiplied through the fast matmul, for kernels written against [`Matrix`].
struct FastMatrix<'a> {
    pool: &'a Pool,
    kernel: &'a RowKernel,
    bytes: &'a [u8],
    cols: usize,
    acts: &'a RefCell<Vec<u8>>,
    planes: usize,
    f32_tiles: bool,
}

impl Matrix for FastMatrix<'_> {
    fn cols(&self) -> usize {
        self.cols
    }
    fn matmul_rows(&self, rows: std::ops::Range<usize>, x: &[f32], out: &mut [f32]) {
        let rb = self.kernel.row_bytes();
        let bytes = &self.bytes[rows.start * rb..rows.end * rb];
        fast::matmul::matmul(self.pool, self.kernel, bytes, x, self.cols, out, &mut self.acts.borrow_mut(), self.planes, self.f32_tiles);
    }
}

impl CpuBackend {
    /// Runs `f` with `w`'s as fast [`Matrix`] views, sharing the activation scratch.
    fn with_matrices<R>(&mut self, ws: [&CpuWeight; 2], f: impl FnOnce(&FastMatrix, &FastMatrix) -> R) -> R {
        let acts = RefCell::new(std::mem::take(&mut self.acts));
        let (ka, ba, ca) = fast_matrix(ws[0]);
        let (kb, bb, cb) = fast_matrix(ws[1]);
        let a = FastMatrix { pool: &self.pool, kernel: ka, bytes: ba, cols: ca, acts: &acts, planes: self.planes, f32_tiles: self.f32_tiles };
        let b = FastMatrix { pool: &self.pool, kernel: kb, bytes: bb, cols: cb, acts: &acts, planes: self.planes, f32_tiles: self.f32_tiles };
        let r = f(&a, &b);
        self.acts = acts.into_inner();
        r
    }
}

impl Ops for CpuBackend {
    type Weight = CpuWeight;
    type Act = CpuAct;

    fn backend_name(&self) -> &'static str {
        "cpu"
    }

    /// Longer chunks on the AMX path: each chunk dequantizes every weight once, so more tokens per
    /// chunk spread that cost thinner (the integer kernels read weights in place and gain nothing).
    fn preferred_chunk(&self) -> usize {
        if let Some(n) = std::env::var("AVIARY_CHUNK").ok().and_then(|v| v.trim().parse::<usize>().ok()).filter(|&n| n > 0) {
            return n;
        }
        if quant::fast::amx::usable() {
            AMX_CHUNK
        } else {
            INTEGER_CHUNK
        }
    }

    /// Every architecture: the RWKV-4/5/6 ops run the scalar reference kernels (with the fast matmul
    /// for their matrices).
    fn supports(&self, _arch: Architecture) -> bool {
        true
    }

    fn device_name(&self) -> String {
        cpu_name()
    }

    fn upload_matrix(&mut self, src: &TensorSource) -> Result<CpuWeight, ModelError> {
        let (rows, cols) = (src.rows(), src.cols());
        let row_bytes = quant::row_bytes(src.info.ty, cols)?;
        let kernel = RowKernel::with_isa(self.isa, src.info.ty, cols)?;
        if src.info.ty != quant::GgmlType::F32 {
            self.f32_tiles = true;
        }
        // The FFN value matrix reads relu(k)², about half zeros: keep a copy that can skip them.
        let sparse = (src.info.name.ends_with(model::names::common::FFN_VALUE) && Transposed::usable(src.info.ty, rows, self.isa) && sparse_from_env())
            .then(|| Box::new(Transposed::new(src.bytes(), rows, cols)));
        let bytes = WeightBytes::new(src, self.resident_weights, &self.pool);
        Ok(CpuWeight::Matrix { ty: src.info.ty, rows, cols, row_bytes, bytes, kernel, sparse })
    }

    fn upload_vectors(&mut self, rows: usize, cols: usize, data: Vec<f32>) -> Result<CpuWeight, ModelError> {
        Ok(CpuWeight::Vectors { rows, cols, data })
    }

    fn alloc(&mut self, rows: usize, cols: usize) -> Result<CpuAct, ModelError> {
        Ok(CpuAct::zeros(rows, cols))
    }

    fn read(&mut self, x: &CpuAct) -> Result<Vec<f32>, ModelError> {
        Ok(x.data.clone())
    }

    fn write(&mut self, x: &mut CpuAct, data: &[f32]) -> Result<(), ModelError> {
        if data.len() != x.data.len() {
            return Err(ModelError::StateMismatch { what: "buffer length", expected: x.data.len(), found: data.len() });
        }
        x.data.copy_from_slice(data);
        Ok(())
    }

    fn embed(&mut self, table: &CpuWeight, tokens: &[u32], out: &mut CpuAct) {
        let t0 = self.profile.start();
        let m = matrix(table);
        embed::embed(m.ty, m.bytes, m.row_bytes, tokens, &mut out.data);
        self.profile.stop(t0, || "embed".to_string());
    }

    fn layer_norm(&mut self, x: &CpuAct, w: &CpuWeight, b: &CpuWeight, eps: f32, out: &mut CpuAct) {
        let t0 = self.profile.start();
        if self.fast_ops() {
            fast::small_ops::layer_norm(&self.pool, &x.data, w.vectors(), b.vectors(), eps, &mut out.data);
        } else {
            layer_norm::layer_norm(&x.data, w.vectors(), b.vectors(), eps, &mut out.data);
        }
        self.profile.stop(t0, || "layer_norm".to_string());
    }

    fn token_shift_lerp(&mut self, x: &CpuAct, shift: &mut CpuAct, mu: &CpuWeight, outs: &mut [&mut CpuAct]) {
        let t0 = self.profile.start();
        let mut outs: Vec<&mut [f32]> = outs.iter_mut().map(|o| o.data.as_mut_slice()).collect();
        if self.fast_ops() {
            fast::small_ops::token_shift_lerp(&self.pool, &x.data, &mut shift.data, mu.vectors(), &mut outs);
        } else {
            token_shift_lerp::token_shift_lerp(&x.data, &mut shift.data, mu.vectors(), &mut outs);
        }
        self.profile.stop(t0, || "token_shift_lerp".to_string());
    }

    fn batched_decode(&self) -> bool {
        true
    }

    fn token_shift_lerp_rows(&mut self, x: &CpuAct, shifts: &mut [&mut CpuAct], mu: &CpuWeight, outs: &mut [&mut CpuAct]) {
        let t0 = self.profile.start();
        let c = x.cols;
        for (t, shift) in shifts.iter_mut().enumerate() {
            let row = t * c..(t + 1) * c;
            let mut outs: Vec<&mut [f32]> = outs.iter_mut().map(|o| &mut o.data[row.clone()]).collect();
            token_shift_lerp::token_shift_lerp(&x.data[row], &mut shift.data, mu.vectors(), &mut outs);
        }
        self.profile.stop(t0, || "token_shift_lerp_rows".to_string());
    }

    fn wkv7_rows(
        &mut self,
        r: &CpuAct,
        decay: &CpuAct,
        k: &mut CpuAct,
        v: &CpuAct,
        a: &CpuAct,
        k_k: &CpuWeight,
        k_a: &CpuWeight,
        states: &mut [&mut CpuAct],
        y: &mut CpuAct,
    ) {
        let t0 = self.profile.start();
        let c = r.cols;
        for (t, state) in states.iter_mut().enumerate() {
            let row = t * c..(t + 1) * c;
            let inp = Wkv7Inputs {
                r: &r.data[row.clone()],
                decay: &decay.data[row.clone()],
                v: &v.data[row.clone()],
                a: &a.data[row.clone()],
                k_k: k_k.vectors(),
                k_a: k_a.vectors(),
            };
            self.wkv7_slices(&inp, &mut k.data[row.clone()], state, &mut y.data[row]);
        }
        self.profile.stop(t0, || "wkv7_rows".to_string());
    }

    fn matmul(&mut self, w: &CpuWeight, x: &CpuAct, out: &mut CpuAct) {
        let t0 = self.profile.start();
        if let CpuWeight::Matrix { sparse: Some(tr), .. } = w {
            if x.rows == 1 && tr.matvec(&self.pool, &x.data, &mut out.data, &mut self.nz) {
                self.profile.stop(t0, || format!("matmul sparse F16 {}x{} T=1", out.data.len(), x.data.len()));
                return;
            }
        }
        let (kernel, bytes, cols) = fast_matrix(w);
        fast::matmul::matmul(&self.pool, kernel, bytes, &x.data, cols, &mut out.data, &mut self.acts, self.planes, self.f32_tiles);
        self.profile.stop(t0, || { let m = matrix(w); format!("matmul {:?} {}x{} T={}", m.ty, m.bytes.len() / m.row_bytes, m.cols, x.rows) });
    }

    fn lora(
        &mut self,
        kind: LoraKind,
        x: &CpuAct,
        a: &CpuWeight,
        b: &CpuWeight,
        bias: Option<&CpuWeight>,
        mid: &mut CpuAct,
        out: &mut CpuAct,
    ) {
        let t0 = self.profile.start();
        let bias = bias.map(CpuWeight::vectors);
        let (a, b) = (fast_matrix(a), fast_matrix(b));
        fast::small_ops::lora(&self.pool, kind, &x.data, a, b, bias, &mut mid.data, &mut out.data, &mut self.acts, self.planes, self.f32_tiles);
        self.profile.stop(t0, || format!("lora {:?} T={}", kind, x.rows));
    }

    fn value_residual(&mut self, v: &mut CpuAct, v_first: &CpuAct, mix: &CpuAct) {
        let t0 = self.profile.start();
        if self.fast_ops() {
            fast::small_ops::value_residual(&self.pool, &mut v.data, &v_first.data, &mix.data);
        } else {
            elementwise::value_residual(&mut v.data, &v_first.data, &mix.data);
        }
        self.profile.stop(t0, || "value_residual".to_string());
    }

    fn wkv7(
        &mut self,
        r: &CpuAct,
        decay: &CpuAct,
        k: &mut CpuAct,
        v: &CpuAct,
        a: &CpuAct,
        k_k: &CpuWeight,
        k_a: &CpuWeight,
        state: &mut CpuAct,
        y: &mut CpuAct,
    ) {
        let t0 = self.profile.start();
        let inp = Wkv7Inputs { r: &r.data, decay: &decay.data, v: &v.data, a: &a.data, k_k: k_k.vectors(), k_a: k_a.vectors() };
        self.wkv7_slices(&inp, &mut k.data, state, &mut y.data);
        self.profile.stop(t0, || format!("wkv7 T={}", r.rows));
    }

    fn wkv7_output(
        &mut self,
        y: &mut CpuAct,
        r: &CpuAct,
        k: &CpuAct,
        v: &CpuAct,
        g: &CpuAct,
        r_k: &CpuWeight,
        ln_w: &CpuWeight,
        ln_b: &CpuWeight,
        head_size: usize,
        eps: f32,
    ) {
        let t0 = self.profile.start();
        let inp = Wkv7OutputInputs {
            r: &r.data,
            k: &k.data,
            v: &v.data,
            g: &g.data,
            r_k: r_k.vectors(),
            ln_w: ln_w.vectors(),
            ln_b: ln_b.vectors(),
        };
        if self.fast_ops() {
            fast::small_ops::wkv7_output(&self.pool, &inp, &mut y.data, head_size, eps);
        } else {
            wkv7_output::wkv7_output(&inp, &mut y.data, head_size, eps);
        }
        self.profile.stop(t0, || "wkv7_output".to_string());
    }

    fn add(&mut self, x: &mut CpuAct, y: &CpuAct) {
        let t0 = self.profile.start();
        if self.fast_ops() {
            fast::small_ops::add(&self.pool, &mut x.data, &y.data);
        } else {
            elementwise::add(&mut x.data, &y.data);
        }
        self.profile.stop(t0, || "add".to_string());
    }

    fn relu_square(&mut self, x: &mut CpuAct) {
        let t0 = self.profile.start();
        if self.fast_ops() {
            fast::small_ops::relu_square(&self.pool, &mut x.data);
        } else {
            elementwise::relu_square(&mut x.data);
        }
        self.profile.stop(t0, || "relu_square".to_string());
    }

    fn copy_rows(&mut self, x: &CpuAct, first: usize, out: &mut CpuAct) {
        let t0 = self.profile.start();
        let start = first * x.cols;
        let len = out.data.len();
        out.data.copy_from_slice(&x.data[start..start + len]);
        self.profile.stop(t0, || "copy_rows".to_string());
    }

    fn decay6(&mut self, x: &CpuAct, a: &CpuWeight, b: &CpuWeight, bias: &CpuWeight, mid: &mut CpuAct, out: &mut CpuAct) {
        let t0 = self.profile.start();
        self.with_matrices([a, b], |a, b| decay6::decay6(&x.data, a, b, bias.vectors(), &mut mid.data, &mut out.data));
        self.profile.stop(t0, || "decay6".to_string());
    }

    fn token_shift_lora6(
        &mut self,
        x: &CpuAct,
        shift: &mut CpuAct,
        mu_x: &CpuWeight,
        mu: &CpuWeight,
        w1: &CpuWeight,
        w2: &CpuWeight,
        mid: &mut CpuAct,
        outs: &mut [&mut CpuAct],
    ) {
        let t0 = self.profile.start();
        let mut outs: Vec<&mut [f32]> = outs.iter_mut().map(|o| o.data.as_mut_slice()).collect();
        self.with_matrices([w1, w2], |w1, w2| {
            token_shift_lora6::token_shift_lora6(&x.data, &mut shift.data, mu_x.vectors(), mu.vectors(), w1, w2, &mut mid.data, &mut outs)
        });
        self.profile.stop(t0, || "token_shift_lora6".to_string());
    }

    fn wkv6(
        &mut self,
        r: &CpuAct,
        k: &CpuAct,
        v: &CpuAct,
        decay: Wkv6Decay<'_, CpuWeight, CpuAct>,
        u: &CpuWeight,
        state: &mut CpuAct,
        y: &mut CpuAct,
    ) {
        let t0 = self.profile.start();
        let head_size = (state.cols as f64).sqrt() as usize;
        let (decay, per_token) = match decay {
            Wkv6Decay::PerToken(d) => (&d.data[..], true),
            Wkv6Decay::Static(w) => (w.vectors(), false),
        };
        let inp = Wkv6Inputs { r: &r.data, k: &k.data, v: &v.data, decay, per_token, u: u.vectors() };
        wkv6::wkv6(&inp, &mut state.data, &mut y.data, head_size);
        self.profile.stop(t0, || "wkv6".to_string());
    }

    fn wkv4(&mut self, k: &CpuAct, v: &CpuAct, w: &CpuWeight, u: &CpuWeight, state: &mut CpuAct, y: &mut CpuAct) {
        let t0 = self.profile.start();
        wkv4::wkv4(&k.data, &v.data, w.vectors(), u.vectors(), &mut state.data, &mut y.data);
        self.profile.stop(t0, || "wkv4".to_string());
    }

    fn group_norm(&mut self, y: &mut CpuAct, ln_w: &CpuWeight, ln_b: &CpuWeight, head_size: usize, eps: f32) {
        let t0 = self.profile.start();
        group_norm::group_norm(&mut y.data, ln_w.vectors(), ln_b.vectors(), head_size, eps);
        self.profile.stop(t0, || "group_norm".to_string());
    }

    fn sigmoid_mul(&mut self, x: &mut CpuAct, g: &CpuAct) {
        let t0 = self.profile.start();
        elementwise::sigmoid_mul(&mut x.data, &g.data);
        self.profile.stop(t0, || "sigmoid_mul".to_string());
    }

    fn silu_mul(&mut self, x: &mut CpuAct, g: &CpuAct) {
        let t0 = self.profile.start();
        elementwise::silu_mul(&mut x.data, &g.data);
        self.profile.stop(t0, || "silu_mul".to_string());
    }

    fn scale(&mut self, x: &mut CpuAct, factor: f32) {
        let t0 = self.profile.start();
        elementwise::scale(&mut x.data, factor);
        self.profile.stop(t0, || "scale".to_string());
    }
}

/// The CPU's model name (from /proc/cpuinfo on Linux), else the architecture.
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}
