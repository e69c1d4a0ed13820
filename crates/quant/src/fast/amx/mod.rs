//! Prefill matmul on Intel AMX BF16 tiles (`TDPBF16PS`), for chunks of at least 16 tokens.
//!
//! Weights of any type are dequantized (block of 32 rows at a time, once per call) and activations
//! converted once per call, both to bf16. Plain bf16 keeps 8 significant bits, which is less than
//! an F16 weight or an activation carries, so every value is split into a bf16 pair `hi + lo`
//! (`lo` = the rounded remainder; exact for F16 weights, ~16 bits for everything else) and a tile
//! product sums up to three terms, `hi·hi + hi·lo + lo·hi` (the dropped `lo·lo` is ~2⁻¹⁶
//! relative). Accumulation is f32. With all three the result is about as precise as f32
//! arithmetic on the dequantized weights.
//!
//! Layouts (K rounded up to `kp`, a multiple of 32, zero-padded): a weight block holds, for each
//! 32-wide step of K, four 16×32 bf16 tiles of operand `A` (row-major): hi of rows 0–15, hi of rows
//! 16–31, lo of rows 0–15, lo of rows 16–31 (missing rows zero). An activation tile is
//! `TOKEN_TILE` tokens in the pair-interleaved layout of operand `B`: for each step, a hi and a lo
//! 16×16 grid of u32 words, word `[kk][t]` = bf16 of `x[t][2kk]` (low half) and `x[t][2kk+1]`
//! (high half). Every tile is 1 KiB of consecutive bytes. The product tile is `C[row][token]`.
//! [`Terms`] says which split products are summed (chosen per weight type).
//!
//! Use: check [`usable`] (CPU has AMX-BF16, the OS granted the tile state, not disabled by
//! `AVIARY_AMX=0` or [`set_enabled`]), build an [`AmxMatmul`] for the weight type and K, pack the
//! activation tiles once ([`AmxMatmul::pack_act_tile`]), then per block of weight rows
//! [`AmxMatmul::pack_weight_block`] and [`AmxMatmul::multiply`]. [`reference_matmul`] is the
//! scalar model of the same arithmetic the tests compare with.

#[cfg(target_arch = "x86_64")]
mod dequant;
mod split;
#[cfg(target_arch = "x86_64")]
mod transpose;
#[cfg(target_arch = "x86_64")]
mod tiles;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use gguf::GgmlType;

use crate::QuantError;

pub use split::{reference_matmul, split_bf16};

use split::BLOCK_STEP;

/// Tokens per activation tile (the rows of a tile and the columns of a product tile).
pub const TOKEN_TILE: usize = 16;
/// Weight rows per packed block (two tiles of 16).
pub const BLOCK_ROWS: usize = 32;
/// Elements of K per tile step (16 bf16 pairs).
pub const K_STEP: usize = 32;

/// Whether the hardware and OS allow AMX BF16 (detected once; the permission request is made here).
fn hardware() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(detect)
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn detect() -> bool {
    use core::arch::x86_64::{__cpuid_count, __get_cpuid_max};
    // cpuid exists on every x86-64 CPU; leaf 7 is read only when the CPU lists it.
    let (max_leaf, _) = __get_cpuid_max(0);
    if max_leaf < 7 {
        return false;
    }
    let edx = __cpuid_count(7, 0).edx;
    let (amx_bf16, amx_tile) = (edx & (1 << 22) != 0, edx & (1 << 24) != 0);
    // The pack routines use AVX-512 (every AMX CPU has it; checked anyway).
    if !(amx_bf16 && amx_tile && crate::fast::Isa::Avx512.is_supported()) {
        return false;
    }
    // The tile data state (XSTATE component 18) is off until the process asks for it; the grant is
    // per process (inherited by every thread), see the kernel's Documentation/arch/x86/xstate.rst.
    const ARCH_REQ_XCOMP_PERM: u64 = 0x1023;
    const XFEATURE_XTILEDATA: u64 = 18;
    const SYS_ARCH_PRCTL: i64 = 158;
    let rc: i64;
    // SAFETY: arch_prctl only changes this process's permission bitmap; the syscall clobbers rcx
    // and r11 (declared) and touches no memory of ours.
    unsafe {
        core::arch::asm!("syscall", inlateout("rax") SYS_ARCH_PRCTL => rc, in("rdi") ARCH_REQ_XCOMP_PERM,
            in("rsi") XFEATURE_XTILEDATA, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    rc == 0
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn detect() -> bool {
    false
}

const UNSET: u8 = 2;
static ENABLED: AtomicU8 = AtomicU8::new(UNSET);

/// Whether the AMX path runs: the hardware and OS allow it, the SIMD level is AVX-512 or above
/// (so `AVIARY_SIMD=scalar|avx2` also turns it off), and neither `AVIARY_AMX=0` nor
/// [`set_enabled`]`(false)` turned it off.
pub fn usable() -> bool {
    let wanted = match ENABLED.load(Ordering::Relaxed) {
        UNSET => {
            let on = !matches!(std::env::var("AVIARY_AMX").as_deref().map(str::trim), Ok("0") | Ok("off") | Ok("false"));
            ENABLED.store(on as u8, Ordering::Relaxed);
            on
        }
        v => v == 1,
    };
    wanted && crate::fast::active() >= crate::fast::Isa::Avx512 && crate::fast::active() != crate::fast::Isa::Neon && hardware()
}

/// Turns the AMX path on or off for the whole process (on only takes effect where [`usable`]'s other
/// conditions hold).
pub fn set_enabled(on: bool) {
    ENABLED.store(on as u8, Ordering::Relaxed);
}

/// Whether the CPU and OS offer AMX BF16 at all (ignoring the switches).
pub fn supported_here() -> bool {
    hardware()
}

/// Which split products a tile pass sums (each costs one more `tdpbf16ps` per tile pair).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Terms {
    /// `hi_w·hi_x`: plain bf16 (8 significant bits on each side).
    One,
    /// `hi_w·(hi_x + lo_x)`: activations at ~16 bits, weights rounded to bf16.
    Two,
    /// `+ lo_w·hi_x`: weights at ~16 bits too (F16 weights exact).
    Three,
}

impl Terms {
    /// The terms a weight type needs for the accuracy rule (cpu's `fixture_logits`: at least as
    /// close to the float64 reference as llama.cpp, same top-1 token; F32 within 1e-4).
    /// Q4_K takes `Two` (weights rounded to bf16): the synth-tiny-k-Q4_K_M fixture lands at 1.6e-2
    /// of the reference (llama.cpp 0.167), tiny-rwkv7-Q4_K_M at 1.8e-4 (llama.cpp 1.0e-2), and a
    /// 0.4B Q4_K_M prefill runs ~28% faster than with `Three` (fewer weight tiles to load, the
    /// loop's bound). Every other type keeps `Three`: F16 weights need their low bits outright,
    /// and with Q8_0 rounded to bf16 synth-tiny-k-Q8_0's top-1 token flips at one position.
    /// `AVIARY_AMX_EXACT=1` gives every type `Three`.
    pub fn for_weight(ty: GgmlType) -> Terms {
        static EXACT: OnceLock<bool> = OnceLock::new();
        let exact = *EXACT.get_or_init(|| std::env::var("AVIARY_AMX_EXACT").is_ok_and(|v| v.trim() == "1"));
        if ty == GgmlType::Q4_K && !exact {
            Terms::Two
        } else {
            Terms::Three
        }
    }
}

/// A weight type and row length on the AMX path.
#[derive(Clone, Copy, Debug)]
pub struct AmxMatmul {
    ty: GgmlType,
    terms: Terms,
    k: usize,
    /// K rounded up to a whole number of steps.
    kp: usize,
    row_bytes: usize,
}

impl AmxMatmul {
    /// For weights of `ty` with rows of `k` elements. Errors when AMX is not [`usable`] or the type
    /// is not one aviary computes on.
    pub fn new(ty: GgmlType, k: usize) -> Result<AmxMatmul, QuantError> {
        if !crate::is_supported(ty) {
            return Err(QuantError::Unsupported { ty });
        }
        if !usable() {
            return Err(QuantError::AmxUnavailable);
        }
        let row_bytes = crate::row_bytes(ty, k)?;
        if k == 0 {
            return Err(QuantError::PartialBlock { ty, elements: k, block_size: ty.block_size() });
        }
        Ok(AmxMatmul { ty, terms: Terms::for_weight(ty), k, kp: k.div_ceil(K_STEP) * K_STEP, row_bytes })
    }

    /// The same with other split terms.
    pub fn with_terms(self, terms: Terms) -> AmxMatmul {
        AmxMatmul { terms, ..self }
    }

    pub fn terms(&self) -> Terms {
        self.terms
    }

    pub fn ty(&self) -> GgmlType {
        self.ty
    }

    /// Bytes of one stored weight row.
    pub fn row_bytes(&self) -> usize {
        self.row_bytes
    }

    fn steps(&self) -> usize {
        self.kp / K_STEP
    }

    /// u32 words of one packed activation tile.
    pub fn act_tile_words(&self) -> usize {
        self.steps() * 2 * 256
    }

    /// u16 values of one packed weight block.
    pub fn weight_block_len(&self) -> usize {
        self.steps() * BLOCK_STEP
    }

    /// Packs 1..=16 activation rows (`x`, rows of K) into one tile (`out`, `act_tile_words` long);
    /// missing tokens are zero.
    pub fn pack_act_tile(&self, x: &[f32], out: &mut [u32]) -> Result<(), QuantError> {
        let toks = x.len() / self.k;
        if toks == 0 || toks > TOKEN_TILE || x.len() != toks * self.k {
            return Err(QuantError::AmxLength { ty: self.ty, what: "activation tile (f32 values, 1 to 16 rows)", expected: self.k * toks.clamp(1, TOKEN_TILE), found: x.len() });
        }
        if out.len() != self.act_tile_words() {
            return Err(QuantError::AmxLength { ty: self.ty, what: "packed activation tile", expected: self.act_tile_words(), found: out.len() });
        }
        split::pack_act_tile(x, self.k, self.kp, out);
        Ok(())
    }

    /// Dequantizes and packs 1..=32 weight rows (`w`, whole stored rows) into one block (`out`,
    /// `weight_block_len` long); missing rows are zero. `row_buf` is scratch the caller keeps.
    pub fn pack_weight_block(&self, w: &[u8], out: &mut [u16], row_buf: &mut Vec<f32>) -> Result<(), QuantError> {
        let rows = w.len() / self.row_bytes;
        if rows == 0 || rows > BLOCK_ROWS || w.len() != rows * self.row_bytes {
            return Err(QuantError::AmxLength { ty: self.ty, what: "weight block in bytes (1 to 32 rows)", expected: self.row_bytes * rows.clamp(1, BLOCK_ROWS), found: w.len() });
        }
        if out.len() != self.weight_block_len() {
            return Err(QuantError::AmxLength { ty: self.ty, what: "packed weight block", expected: self.weight_block_len(), found: out.len() });
        }
        split::pack_weight_block(self.ty, w, self.row_bytes, self.k, self.kp, self.terms == Terms::Three, out, row_buf);
        Ok(())
    }

    /// `out[t·32 + r] = Σ_k W[r][k]·x[t][k]` for the packed block and `toks` tokens of packed tiles
    /// (`acts`: `toks.div_ceil(16)` tiles); `out` holds `toks × 32` values (rows beyond the block's
    /// real rows are zero).
    pub fn multiply(&self, block: &[u16], acts: &[u32], toks: usize, out: &mut [f32]) -> Result<(), QuantError> {
        let tiles = toks.div_ceil(TOKEN_TILE);
        if block.len() != self.weight_block_len() {
            return Err(QuantError::AmxLength { ty: self.ty, what: "packed weight block", expected: self.weight_block_len(), found: block.len() });
        }
        if acts.len() != tiles * self.act_tile_words() {
            return Err(QuantError::AmxLength { ty: self.ty, what: "packed activation tiles", expected: tiles * self.act_tile_words(), found: acts.len() });
        }
        if out.len() != toks * BLOCK_ROWS {
            return Err(QuantError::AmxLength { ty: self.ty, what: "output block", expected: toks * BLOCK_ROWS, found: out.len() });
        }
        // SAFETY: `out` holds toks rows of 32 values, written by this call only.
        unsafe { self.multiply_strided(block, acts, toks, BLOCK_ROWS, out.as_mut_ptr(), BLOCK_ROWS) }
    }

    /// As [`multiply`](Self::multiply), writing the block's first `rows` (1..=32) outputs of token
    /// `t` straight to `out[t·stride .. t·stride + rows]` (e.g. columns of a `[T, M]` matrix).
    ///
    /// # Safety
    /// `out` must be valid for writes at `t·stride + r` for every `t < toks`, `r < rows`, and no
    /// other thread may access those elements during the call.
    pub unsafe fn multiply_strided(&self, block: &[u16], acts: &[u32], toks: usize, rows: usize, out: *mut f32, stride: usize) -> Result<(), QuantError> {
        let tiles = toks.div_ceil(TOKEN_TILE);
        if block.len() != self.weight_block_len() {
            return Err(QuantError::AmxLength { ty: self.ty, what: "packed weight block", expected: self.weight_block_len(), found: block.len() });
        }
        if acts.len() != tiles * self.act_tile_words() {
            return Err(QuantError::AmxLength { ty: self.ty, what: "packed activation tiles", expected: tiles * self.act_tile_words(), found: acts.len() });
        }
        if rows == 0 || rows > BLOCK_ROWS || stride < rows {
            return Err(QuantError::AmxLength { ty: self.ty, what: "output rows per token (1 to 32, at most the stride)", expected: BLOCK_ROWS.min(stride.max(1)), found: rows });
        }
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `usable()` held at construction (AMX-BF16 present, tile state granted); the
        // lengths were checked above against the geometry the kernel reads; the caller vouches for
        // `out`.
        unsafe {
            tiles::multiply(block, self.steps(), self.terms, acts, toks, rows, out, stride)
        };
        Ok(())
    }
}
