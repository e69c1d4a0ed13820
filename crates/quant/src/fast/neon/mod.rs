//! aarch64 NEON kernels and their table, for `Isa::Neon`.
//!
//! Every integer kernel comes in two builds chosen by the `DOT` parameter: plain NEON (widening
//! multiplies, any ARMv8 CPU) and the ARMv8.2 dot-product extension (`sdot`), used only where
//! the CPU reports it at run time. Only stable Rust: `sdot` (whose intrinsic is unstable) is
//! emitted with `asm!`, and f16 is widened by bit manipulation.

mod float;
mod kquants;
mod legacy;
mod prims;
#[cfg(test)]
mod tests;

use gguf::GgmlType;

use super::Kern;

/// Activation rows one kernel call takes at most. NEON has 32 vector registers: the integer
/// kernels keep 2 per row (i32 sums, f32 totals) beside a decoded weight group, room for 8 rows;
/// the float kernels keep 4 per row (see `float::dot`), room for 4.
pub(crate) fn max_rows(ty: GgmlType) -> usize {
    match ty {
        GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => 4,
        _ => 8,
    }
}

/// The kernels for 1..=8 activation rows, as a table.
macro_rules! by_n {
    ($($f:ident)::+ [$($g:tt),*]) => {
        [
            $($f)::+::<$($g,)* 1>, $($f)::+::<$($g,)* 2>, $($f)::+::<$($g,)* 3>, $($f)::+::<$($g,)* 4>,
            $($f)::+::<$($g,)* 5>, $($f)::+::<$($g,)* 6>, $($f)::+::<$($g,)* 7>, $($f)::+::<$($g,)* 8>,
        ]
    };
}

/// Whether this CPU has the dot-product extension (std caches the answer).
pub(crate) fn has_dotprod() -> bool {
    std::arch::is_aarch64_feature_detected!("dotprod")
}

/// Kernels of `ty` for this CPU (NEON is part of every aarch64 target Rust supports).
pub(crate) fn kernels(ty: GgmlType) -> Option<[Kern; 8]> {
    if has_dotprod() {
        kernels_with::<true>(ty)
    } else {
        kernels_with::<false>(ty)
    }
}

/// Kernels of `ty` with (`DOT`) or without `sdot`; the caller checks the CPU has it.
pub(crate) fn kernels_with<const DOT: bool>(ty: GgmlType) -> Option<[Kern; 8]> {
    use float::{BF16, F16, F32};
    use legacy::{ASYM_Q4_1, ASYM_Q5_1, SYM_Q4_0, SYM_Q5_0, SYM_Q8_0};
    Some(match ty {
        GgmlType::F32 => by_n!(float::dot [F32]),
        GgmlType::F16 => by_n!(float::dot [F16]),
        GgmlType::BF16 => by_n!(float::dot [BF16]),
        GgmlType::Q8_0 => by_n!(legacy::sym32 [SYM_Q8_0, DOT]),
        GgmlType::Q4_0 => by_n!(legacy::sym32 [SYM_Q4_0, DOT]),
        GgmlType::Q5_0 => by_n!(legacy::sym32 [SYM_Q5_0, DOT]),
        GgmlType::Q4_1 => by_n!(legacy::asym32 [ASYM_Q4_1, DOT]),
        GgmlType::Q5_1 => by_n!(legacy::asym32 [ASYM_Q5_1, DOT]),
        GgmlType::Q2_K => by_n!(kquants::q2_k [DOT]),
        GgmlType::Q3_K => by_n!(kquants::q3_k [DOT]),
        GgmlType::Q4_K => by_n!(kquants::q45_k [false, DOT]),
        GgmlType::Q5_K => by_n!(kquants::q45_k [true, DOT]),
        GgmlType::Q6_K => by_n!(kquants::q6_k [DOT]),
        _ => return None,
    })
}
