//! The LoRAs' element-wise activations (tanh, σ, the RWKV-7 decay `exp(−e^(−1/2)·σ(x))`) on
//! AVX-512, 16 lanes at a time, with the same formulas as `kernels::elementwise` over a vector
//! `exp`. In prefill these run over every token's `[C]` outputs, and the scalar libm calls were
//! ~6% of a Q4_K_M prefill (perf). Other levels, and the tails, use the scalar functions.
//!
//! `exp`: `x = n·ln2 + r` (Cody–Waite, two-part ln2), `e^r` by a degree-7 Taylor/Horner
//! polynomial on |r| ≤ ln2/2 (truncation < 2⁻²⁶ relative), then `·2ⁿ` with `vscalefps`, which
//! overflows to +inf and underflows to 0 as `expf` does. About 2 ulp from libm's `expf`.

use crate::kernels::elementwise::{decay, sigmoid};

/// Which activation, as in `LoraKind`'s two stages.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Activation {
    Tanh,
    Sigmoid,
    Decay,
    Identity,
}

fn scalar(a: Activation, v: f32) -> f32 {
    match a {
        Activation::Tanh => v.tanh(),
        Activation::Sigmoid => sigmoid(v),
        Activation::Decay => decay(v),
        Activation::Identity => v,
    }
}

/// `x[i] = a(x[i] + bias[(at + i) % bias.len()])` (no bias: `a(x[i])`); `at` is the index of
/// `x[0]` in the whole `[T, C]` buffer, so the bias lines up with the channels.
pub fn apply(a: Activation, x: &mut [f32], bias: Option<&[f32]>, at: usize) {
    #[cfg(target_arch = "x86_64")]
    if matches!(quant::fast::active(), quant::fast::Isa::Avx512 | quant::fast::Isa::Avx512Vnni) {
        // SAFETY: the active level is AVX-512 or above, so the CPU has AVX-512 F.
        unsafe { apply_avx512(a, x, bias, at) };
        return;
    }
    apply_scalar(a, x, bias, at, 0);
}

fn apply_scalar(a: Activation, x: &mut [f32], bias: Option<&[f32]>, at: usize, from: usize) {
    for (i, v) in x.iter_mut().enumerate().skip(from) {
        let b = bias.map_or(0.0, |b| b[(at + i) % b.len()]);
        *v = scalar(a, *v + b);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn exp512(x: core::arch::x86_64::__m512) -> core::arch::x86_64::__m512 {
    use core::arch::x86_64::*;
    // Beyond ±104 the result is 0 or inf either way; clamping keeps n in range for the reduction.
    let x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(104.0)), _mm512_set1_ps(-104.0));
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)));
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_145_75), x);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428_606_8e-6), r);
    let c = |v: f32| _mm512_set1_ps(v);
    let mut p = c(1.0 / 5040.0);
    p = _mm512_fmadd_ps(p, r, c(1.0 / 720.0));
    p = _mm512_fmadd_ps(p, r, c(1.0 / 120.0));
    p = _mm512_fmadd_ps(p, r, c(1.0 / 24.0));
    p = _mm512_fmadd_ps(p, r, c(1.0 / 6.0));
    p = _mm512_fmadd_ps(p, r, c(0.5));
    p = _mm512_fmadd_ps(p, r, c(1.0));
    p = _mm512_fmadd_ps(p, r, c(1.0));
    _mm512_scalef_ps(p, n)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn apply_avx512(a: Activation, x: &mut [f32], bias: Option<&[f32]>, at: usize) {
    use core::arch::x86_64::*;
    let one = _mm512_set1_ps(1.0);
    let sig = |v: __m512| _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), v))));
    let n = x.len() / 16 * 16;
    let mut i = 0;
    while i < n {
        let p = x.as_mut_ptr().add(i);
        let mut v = _mm512_loadu_ps(p);
        if let Some(b) = bias {
            let c = b.len();
            let j = (at + i) % c;
            // Sixteen bias values in a row, unless the row of channels wraps inside the vector.
            let bv = if j + 16 <= c { _mm512_loadu_ps(b.as_ptr().add(j)) } else { _mm512_loadu_ps(std::array::from_fn::<f32, 16, _>(|l| b[(j + l) % c]).as_ptr()) };
            v = _mm512_add_ps(v, bv);
        }
        let y = match a {
            // tanh(v) = 1 − 2 / (e^{2v} + 1)
            Activation::Tanh => _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0), _mm512_add_ps(exp512(_mm512_add_ps(v, v)), one))),
            Activation::Sigmoid => sig(v),
            Activation::Decay => exp512(_mm512_mul_ps(_mm512_set1_ps(-crate::kernels::elementwise::DECAY_SCALE), sig(v))),
            Activation::Identity => v,
        };
        _mm512_storeu_ps(p, y);
        i += 16;
    }
    apply_scalar(a, x, bias, at, n);
}
