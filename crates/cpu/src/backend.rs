//! `CpuBackend`: the op set of `model::Ops` on host memory, run on a rayon pool of its own.

use model::{LoraKind, ModelError, Ops, TensorSource};

use crate::buffers::{CpuAct, CpuWeight};
use crate::kernels::lora::MatrixRef;
use crate::kernels::wkv7::Wkv7Inputs;
use crate::kernels::wkv7_output::Wkv7OutputInputs;
use crate::kernels::{elementwise, embed, layer_norm, lora, matmul, token_shift_lerp, wkv7, wkv7_output};

#[derive(Debug, thiserror::Error)]
pub enum CpuError {
    #[error("could not start a pool of {threads} threads: {reason}")]
    ThreadPool { threads: usize, reason: String },
}

/// The CPU backend.
pub struct CpuBackend {
    pool: rayon::ThreadPool,
    threads: usize,
}

impl CpuBackend {
    /// A backend with `threads` workers (0 = one per available core).
    pub fn new(threads: usize) -> Result<Self, CpuError> {
        let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("aviary-cpu-{i}"))
            .build()
            .map_err(|e| CpuError::ThreadPool { threads, reason: e.to_string() })?;
        Ok(CpuBackend { pool, threads })
    }

    pub fn threads(&self) -> usize {
        self.threads
    }
}

fn matrix(w: &CpuWeight) -> MatrixRef<'_> {
    match w {
        CpuWeight::Matrix { ty, cols, row_bytes, src, .. } => {
            MatrixRef { ty: *ty, bytes: src.bytes(), row_bytes: *row_bytes, cols: *cols }
        }
        CpuWeight::Vectors { .. } => panic!("op expected a matrix, got a vector parameter"),
    }
}

impl Ops for CpuBackend {
    type Weight = CpuWeight;
    type Act = CpuAct;

    fn backend_name(&self) -> &'static str {
        "cpu"
    }

    fn device_name(&self) -> String {
        cpu_name()
    }

    fn upload_matrix(&mut self, src: &TensorSource) -> Result<CpuWeight, ModelError> {
        let (rows, cols) = (src.rows(), src.cols());
        let row_bytes = quant::row_bytes(src.info.ty, cols)?;
        Ok(CpuWeight::Matrix { ty: src.info.ty, rows, cols, row_bytes, src: src.clone() })
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
        let m = matrix(table);
        embed::embed(m.ty, m.bytes, m.row_bytes, tokens, &mut out.data);
    }

    fn layer_norm(&mut self, x: &CpuAct, w: &CpuWeight, b: &CpuWeight, eps: f32, out: &mut CpuAct) {
        layer_norm::layer_norm(&x.data, w.vectors(), b.vectors(), eps, &mut out.data);
    }

    fn token_shift_lerp(&mut self, x: &CpuAct, shift: &mut CpuAct, mu: &CpuWeight, outs: &mut [&mut CpuAct]) {
        let mut outs: Vec<&mut [f32]> = outs.iter_mut().map(|o| o.data.as_mut_slice()).collect();
        token_shift_lerp::token_shift_lerp(&x.data, &mut shift.data, mu.vectors(), &mut outs);
    }

    fn matmul(&mut self, w: &CpuWeight, x: &CpuAct, out: &mut CpuAct) {
        let m = matrix(w);
        self.pool.install(|| matmul::matmul(m.ty, m.bytes, m.row_bytes, &x.data, m.cols, &mut out.data));
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
        let (a, b) = (matrix(a), matrix(b));
        let bias = bias.map(CpuWeight::vectors);
        self.pool.install(|| lora::lora(kind, &x.data, &a, &b, bias, &mut mid.data, &mut out.data));
    }

    fn value_residual(&mut self, v: &mut CpuAct, v_first: &CpuAct, mix: &CpuAct) {
        elementwise::value_residual(&mut v.data, &v_first.data, &mix.data);
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
        let head_size = (state.cols as f64).sqrt() as usize;
        let inp = Wkv7Inputs { r: &r.data, decay: &decay.data, v: &v.data, a: &a.data, k_k: k_k.vectors(), k_a: k_a.vectors() };
        self.pool.install(|| wkv7::wkv7(&inp, &mut k.data, &mut state.data, &mut y.data, head_size));
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
        let inp = Wkv7OutputInputs {
            r: &r.data,
            k: &k.data,
            v: &v.data,
            g: &g.data,
            r_k: r_k.vectors(),
            ln_w: ln_w.vectors(),
            ln_b: ln_b.vectors(),
        };
        wkv7_output::wkv7_output(&inp, &mut y.data, head_size, eps);
    }

    fn add(&mut self, x: &mut CpuAct, y: &CpuAct) {
        elementwise::add(&mut x.data, &y.data);
    }

    fn relu_square(&mut self, x: &mut CpuAct) {
        elementwise::relu_square(&mut x.data);
    }

    fn copy_rows(&mut self, x: &CpuAct, first: usize, out: &mut CpuAct) {
        let start = first * x.cols;
        let len = out.data.len();
        out.data.copy_from_slice(&x.data[start..start + len]);
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
