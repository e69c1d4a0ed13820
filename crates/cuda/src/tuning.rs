//! Switches between kernel variants, for benchmarks and A/B checks on the device. The defaults are
//! the fast paths; `AVIARY_CUDA_TUNING="fuse=0,mma=0"` (comma-separated `name=value`) overrides them
//! for a whole process, so one binary can time several variants in one run.

use crate::CudaError;

/// Which kernels the backend uses. Every combination computes the same function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// One-token matmuls on matvec.cu (else matmul.cu's one-warp-per-row kernel).
    pub fast_matvec: bool,
    /// Batch independent one-token matmuls into one launch and fold small ops into neighbours
    /// (residual add, relu², value residual into matvec epilogues; layer_norm with the token-shift
    /// lerp; the WKV-7 output stage into the recurrence).
    pub fuse: bool,
    /// wkv7_h64.cu for head size 64 (else wkv7.cu).
    pub fast_wkv: bool,
    /// Tensor-core matmuls (mma.cu) for multi-token steps on Q4_K, Q6_K and F16 weights.
    pub mma: bool,
    /// 2: activations enter the MMA as f16 hi + lo parts (f32-level accuracy); 1: as f16 only.
    pub mma_split: i32,
    /// Most K splits of an mma.cu matmul (1: never split).
    pub mma_split_k_max: usize,
    /// Rows per thread group in matvec.cu for quantized weights with many rows (1 or 2); float
    /// weights and short matrices use 1.
    pub mv_rows: usize,
    /// matvec.cu copies x to shared memory first (else reads it from global memory).
    pub mv_smem: bool,
    /// matvec.cu widens a row's thread group (up to 256 threads) until a launch has this many threads.
    pub mv_target_threads: usize,
    /// Q4_K matvecs on matvec.cu's integer path (x as 24-bit fixed point, dp4a; else the float path).
    pub mv_int: bool,
    /// Most blocks of one launch on the integer path (each block walks many row groups; the default
    /// is one per SM of the H200).
    pub mv_int_blocks: usize,
    /// One-token F16 matmuls of at least 2^20 weights on matmul.cu's warp-per-row kernel instead of
    /// matvec.cu (faster there, at the cost of batching and folds).
    pub mv_f16_warp: bool,
    /// Capture multi-token steps as CUDA graphs too (by default they are launched directly: a prompt
    /// rarely repeats its exact buffers, and capture costs more than the launches it saves).
    pub graphs_for_prefill: bool,
    /// Multi-token matmuls of at least this many tokens run on cuBLAS (gemm.rs; `mma_split` picks
    /// its activation split too). `gemm=mma` turns it off, `gemm=cublas` restores the default.
    pub gemm_min_tokens: usize,
    /// cuBLAS path: dequantized weights enter as f16 hi + lo parts (one more GEMM; f32-level
    /// accuracy) instead of f16 alone (2^-11 relative rounding of every weight). Off by default:
    /// the project's accuracy standard for quantized and F16 files is llama.cpp's (whose CUDA path
    /// multiplies with 8-bit activations), and one f16 GEMM is ~1.4x faster (PERF.md).
    pub gemm_exact: bool,
    /// cuBLAS path, block-format weights: activations enter as f16 hi (1, the default: one GEMM)
    /// or hi + lo parts (2: f32-level activations, twice the GEMM depth). F32 weights always run
    /// an exact f32 GEMM. `gemm=exact` sets `gemm_exact=1,gemm_x_parts=2,gemm_float_x_parts=2`
    /// (the old default), `gemm=fast` all three to their one-GEMM values.
    pub gemm_x_parts: usize,
    /// cuBLAS path, F16/BF16 weights read in place: activations in 1 part (one GEMM) or 2 (f16
    /// hi + lo; bf16 hi + lo + lo2), the default. With one part the tiny fixtures' F16 logits
    /// landed at 99.4-99.6% of llama.cpp's own distance from the float64 reference (llama.cpp
    /// rounds them to f16 the same way), too close to the bound to keep as a default; PERF.md has
    /// the speeds of both.
    pub gemm_float_x_parts: usize,
    /// cuBLAS path, exact mode: GEMMs per weight panel (1, 2 or 3). The three products
    /// W_hi·x_hi, W_hi·x_lo, W_lo·x_hi are concatenated along K into one GEMM (1: the panel holds
    /// each row as [hi | hi | lo], x as [hi | lo | hi]), two (2: [hi | lo] · [lo | hi] plus
    /// W_hi·x_hi) or run separately (3). Fewer, longer GEMMs fill the GPU better.
    pub gemm_calls: usize,
    /// cuBLAS path, F16 weights with x in two parts: copy W into a panel as [W | W] and run one
    /// GEMM of depth 2K against x's [hi | lo] (else two GEMMs on W in place; the copy costs a write
    /// of twice the weights per step).
    pub gemm_f16_panel: bool,
    /// cuBLAS path: split a GEMM's depth into this many pieces, one strided-batched launch with a
    /// partial output per piece, summed by the epilogue (1: off). Applies to one-GEMM plans whose
    /// depth it divides, and to F16/BF16 weights in place (one batched launch over the x parts).
    pub gemm_split_k: usize,
    /// Tokens per prefill step (`Ops::preferred_chunk`; default `ops::PREFILL_CHUNK`).
    pub prefill_chunk: usize,
    /// Multi-token WKV-7 with head size 64 (and `fast_wkv`) on wkv7_split.cu: each head's 64
    /// state rows split over blocks of this many rows (8, 16 or 32; 0: wkv7_h64.cu's one block per
    /// head). Decode steps always use wkv7_h64.cu.
    pub wkv_split_rows: usize,
    /// Launch kernels with programmatic dependent launch on sm_90+ (each kernel's blocks become
    /// resident while the one before it runs, and wait for it in `pdl_entry`; common.cuh). Off by
    /// default: 2.9b Q4_K_M decode measured within noise of the plain launches (PERF.md).
    pub pdl: bool,
}

/// The default `gemm_min_tokens`: below it, mma.cu's tiles waste less than cuBLAS's dequantized
/// panel costs.
pub const GEMM_MIN_TOKENS: usize = 32;

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            fast_matvec: true,
            fuse: true,
            fast_wkv: true,
            mma: true,
            mma_split: 2,
            mma_split_k_max: 32,
            mv_rows: 2,
            mv_smem: true,
            mv_target_threads: 132 * 256,
            mv_int: true,
            mv_int_blocks: 132,
            mv_f16_warp: true,
            graphs_for_prefill: false,
            gemm_min_tokens: GEMM_MIN_TOKENS,
            gemm_exact: false,
            gemm_x_parts: 1,
            gemm_float_x_parts: 2,
            gemm_calls: 1,
            gemm_f16_panel: false,
            gemm_split_k: 1,
            prefill_chunk: crate::ops::PREFILL_CHUNK,
            wkv_split_rows: 8,
            pdl: false,
        }
    }
}

impl Tuning {
    /// The defaults with `AVIARY_CUDA_TUNING` applied.
    pub fn from_env() -> Result<Self, CudaError> {
        let mut t = Tuning::default();
        if let Ok(spec) = std::env::var("AVIARY_CUDA_TUNING") {
            t.apply(&spec)?;
        }
        Ok(t)
    }

    /// Applies `name=value,name=value`.
    pub fn apply(&mut self, spec: &str) -> Result<(), CudaError> {
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let bad = |why: &str| CudaError::Tuning { item: item.to_string(), why: why.to_string() };
            let (name, value) = item.split_once('=').ok_or_else(|| bad("expected name=value"))?;
            let flag = || match value {
                "1" | "true" | "on" => Ok(true),
                "0" | "false" | "off" => Ok(false),
                _ => Err(bad("expected 0 or 1")),
            };
            let number = || value.parse::<usize>().map_err(|_| bad("expected a whole number"));
            match name {
                "fast_matvec" => self.fast_matvec = flag()?,
                "fuse" => self.fuse = flag()?,
                "fast_wkv" => self.fast_wkv = flag()?,
                "mma" => self.mma = flag()?,
                "mma_split" => match number()? {
                    n @ (1 | 2) => self.mma_split = n as i32,
                    _ => return Err(bad("mma_split is 1 or 2")),
                },
                "mv_rows" => match number()? {
                    n @ (1 | 2) => self.mv_rows = n,
                    _ => return Err(bad("mv_rows is 1 or 2")),
                },
                "mv_target_threads" => self.mv_target_threads = number()?.max(1),
                "mma_split_k_max" => self.mma_split_k_max = number()?.max(1),
                "mv_smem" => self.mv_smem = flag()?,
                "mv_int" => self.mv_int = flag()?,
                "mv_int_blocks" => self.mv_int_blocks = number()?.max(1),
                "mv_f16_warp" => self.mv_f16_warp = flag()?,
                "graphs_for_prefill" => self.graphs_for_prefill = flag()?,
                "gemm" => match value {
                    "cublas" => self.gemm_min_tokens = GEMM_MIN_TOKENS,
                    "mma" => self.gemm_min_tokens = usize::MAX,
                    "exact" => (self.gemm_exact, self.gemm_x_parts, self.gemm_float_x_parts) = (true, 2, 2),
                    "fast" => (self.gemm_exact, self.gemm_x_parts, self.gemm_float_x_parts) = (false, 1, 1),
                    _ => return Err(bad("gemm is cublas, mma, exact or fast")),
                },
                "gemm_min_tokens" => self.gemm_min_tokens = number()?.max(1),
                "gemm_exact" => self.gemm_exact = flag()?,
                "gemm_x_parts" => match number()? {
                    n @ (1 | 2) => self.gemm_x_parts = n,
                    _ => return Err(bad("gemm_x_parts is 1 or 2")),
                },
                "gemm_float_x_parts" => match number()? {
                    n @ (1 | 2) => self.gemm_float_x_parts = n,
                    _ => return Err(bad("gemm_float_x_parts is 1 or 2")),
                },
                "wkv_split_rows" => match number()? {
                    n @ (0 | 8 | 16 | 32) => self.wkv_split_rows = n,
                    _ => return Err(bad("wkv_split_rows is 0, 8, 16 or 32")),
                },
                "gemm_f16_panel" => self.gemm_f16_panel = flag()?,
                "gemm_split_k" => match number()? {
                    n @ 1..=16 => self.gemm_split_k = n,
                    _ => return Err(bad("gemm_split_k is 1 to 16")),
                },
                "pdl" => self.pdl = flag()?,
                "prefill_chunk" => self.prefill_chunk = number()?.max(1),
                "gemm_calls" => match number()? {
                    n @ 1..=3 => self.gemm_calls = n,
                    _ => return Err(bad("gemm_calls is 1, 2 or 3")),
                },
                _ => return Err(bad("unknown name")),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_overrides_and_rejects_nonsense() {
        let mut t = Tuning::default();
        t.apply("fuse=0, mma=off,mv_rows=1,mv_target_threads=4096,mma_split=1,mv_int=0,mv_int_blocks=7").unwrap();
        assert!(!t.fuse && !t.mma && t.fast_matvec && !t.mv_int);
        assert_eq!(t.mv_int_blocks, 7);
        assert_eq!((t.mv_rows, t.mv_target_threads, t.mma_split), (1, 4096, 1));
        let mut e = Tuning::default();
        assert!(!e.gemm_exact && e.gemm_x_parts == 1, "the fast single f16 GEMM is the default for block formats");
        assert_eq!(e.gemm_float_x_parts, 2, "F16/BF16 weights keep x in two parts by default");
        e.apply("gemm=exact,wkv_split_rows=16").unwrap();
        assert!(e.gemm_exact && e.gemm_x_parts == 2 && e.gemm_float_x_parts == 2 && e.wkv_split_rows == 16);
        e.apply("gemm=fast").unwrap();
        assert!(!e.gemm_exact && e.gemm_x_parts == 1 && e.gemm_float_x_parts == 1);
        e.apply("gemm_float_x_parts=2").unwrap();
        assert_eq!(e.gemm_float_x_parts, 2);
        assert!(!e.pdl, "programmatic dependent launch is off by default (measured neutral)");
        e.apply("pdl=1").unwrap();
        assert!(e.pdl);
        for bad in ["fuse", "fuse=2", "nope=1", "mv_rows=3", "mma_split=0", "mv_target_threads=x", "mv_int=2", "gemm_x_parts=3", "gemm_float_x_parts=0", "wkv_split_rows=12", "gemm=slow"] {
            let err = Tuning::default().apply(bad).unwrap_err().to_string();
            assert!(err.contains(bad.split('=').next().unwrap()), "{bad}: {err}");
        }
    }
}
