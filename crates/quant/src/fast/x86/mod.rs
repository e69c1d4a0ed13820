//! x86-64 kernels and their table per level.

mod float;
mod float_decode;
#[macro_use]
mod int256;
#[macro_use]
mod int512;
#[macro_use]
mod q8_0_512;

use gguf::GgmlType;

use super::{Isa, Kern};

mod avx2 {
    super::int256::int256_kernels!("avx2,fma,f16c", false);
}
mod avx512 {
    super::int256::int256_kernels!("avx2,fma,f16c,avx512f,avx512bw,avx512vl", false);
}
mod vnni {
    super::int256::int256_kernels!("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni", true);
}
mod avx512_wide {
    super::int512::int512_kernels!("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq", false);
}
mod vnni_wide {
    super::int512::int512_kernels!("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni", true);
}
mod avx512_q8 {
    super::q8_0_512::q8_0_512_kernels!("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq", false);
}
mod vnni_q8 {
    super::q8_0_512::q8_0_512_kernels!("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni", true);
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

macro_rules! int_table {
    ($m:ident, $ty:expr) => {
        match $ty {
            GgmlType::Q8_0 => by_n!($m::sym32 [{ $m::SYM_Q8_0 }]),
            GgmlType::Q4_0 => by_n!($m::sym32 [{ $m::SYM_Q4_0 }]),
            GgmlType::Q5_0 => by_n!($m::sym32 [{ $m::SYM_Q5_0 }]),
            GgmlType::Q4_1 => by_n!($m::asym32 [{ $m::ASYM_Q4_1 }]),
            GgmlType::Q5_1 => by_n!($m::asym32 [{ $m::ASYM_Q5_1 }]),
            GgmlType::Q2_K => by_n!($m::q2_k []),
            GgmlType::Q3_K => by_n!($m::q3_k []),
            GgmlType::Q4_K => by_n!($m::q45_k [false]),
            GgmlType::Q5_K => by_n!($m::q45_k [true]),
            GgmlType::Q6_K => by_n!($m::q6_k []),
            _ => return None,
        }
    };
}

/// Activation rows one kernel call takes at most: AVX2 has 16 vector registers, AVX-512 32.
pub(crate) fn max_rows(isa: Isa) -> usize {
    if isa == Isa::Avx2 {
        4
    } else {
        8
    }
}

/// Kernels of `ty` at `isa` (an x86 level the CPU supports), or `None` to use the scalar level.
pub(crate) fn kernels(isa: Isa, ty: GgmlType) -> Option<[Kern; 8]> {
    let float_ty = match ty {
        GgmlType::F32 => Some(float::F32),
        GgmlType::F16 => Some(float::F16),
        GgmlType::BF16 => Some(float::BF16),
        _ => None,
    };
    if let Some(f) = float_ty {
        let wide = matches!(isa, Isa::Avx512 | Isa::Avx512Vnni);
        let mut table: [Kern; 8] = match (wide, f) {
            (false, float::F32) => by_n!(float::avx2::dot [{ float::F32 }]),
            (false, float::F16) => by_n!(float::avx2::dot [{ float::F16 }]),
            (false, _) => by_n!(float::avx2::dot [{ float::BF16 }]),
            (true, float::F32) => by_n!(float::avx512::dot [{ float::F32 }]),
            (true, float::F16) => by_n!(float::avx512::dot [{ float::F16 }]),
            (true, _) => by_n!(float::avx512::dot [{ float::BF16 }]),
        };
        // One activation row (decode) on 512-bit levels: the streaming kernel.
        if wide {
            table[0] = match f {
                float::F32 => float_decode::dot1::<{ float::F32 }>,
                float::F16 => float_decode::dot1::<{ float::F16 }>,
                _ => float_decode::dot1::<{ float::BF16 }>,
            };
        }
        return Some(table);
    }
    Some(match (isa, ty) {
        (Isa::Avx512, GgmlType::Q4_K) => by_n!(avx512_wide::q45_k [false]),
        (Isa::Avx512, GgmlType::Q5_K) => by_n!(avx512_wide::q45_k [true]),
        (Isa::Avx512, GgmlType::Q6_K) => by_n!(avx512_wide::q6_k []),
        (Isa::Avx512, GgmlType::Q8_0) => by_n!(avx512_q8::q8_0 []),
        (Isa::Avx512Vnni, GgmlType::Q8_0) => by_n!(vnni_q8::q8_0 []),
        (Isa::Avx512Vnni, GgmlType::Q4_K) => by_n!(vnni_wide::q45_k [false]),
        (Isa::Avx512Vnni, GgmlType::Q5_K) => by_n!(vnni_wide::q45_k [true]),
        (Isa::Avx512Vnni, GgmlType::Q6_K) => by_n!(vnni_wide::q6_k []),
        _ => return kernels_256(isa, ty),
    })
}

/// The 256-bit integer kernels.
fn kernels_256(isa: Isa, ty: GgmlType) -> Option<[Kern; 8]> {
    Some(match isa {
        Isa::Avx2 => int_table!(avx2, ty),
        Isa::Avx512 => int_table!(avx512, ty),
        Isa::Avx512Vnni => int_table!(vnni, ty),
        _ => return None,
    })
}
