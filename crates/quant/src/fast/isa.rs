//! Which instruction-set level the fast kernels use: detected once from the CPU, capped by the
//! `AVIARY_SIMD` environment variable or by [`set_active`].

use std::sync::atomic::{AtomicU8, Ordering};

use crate::QuantError;

/// An instruction-set level, from slowest to fastest within an architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Portable Rust: the reference decode-and-dot (works everywhere, tests the fast API itself).
    Scalar,
    /// x86-64 AVX2 + FMA + F16C.
    Avx2,
    /// x86-64 AVX-512 F/BW/VL/DQ (plus the AVX2 set).
    Avx512,
    /// AVX-512 with VNNI (`vpdpbusd`, `vpdpwssd`).
    Avx512Vnni,
    /// aarch64 NEON (with the dot-product extension where present).
    Neon,
}

impl Isa {
    pub const ALL: [Isa; 5] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni, Isa::Neon];

    /// The name `AVIARY_SIMD` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Avx512Vnni => "avx512vnni",
            Isa::Neon => "neon",
        }
    }

    pub fn parse(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|i| i.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Whether this CPU can run kernels of this level.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.is_supported()
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512dq")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => Isa::Avx512.is_supported() && is_x86_feature_detected!("avx512vnni"),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Every level this CPU can run, scalar first.
pub fn available() -> Vec<Isa> {
    Isa::ALL.into_iter().filter(|i| i.is_supported()).collect()
}

/// The best level this CPU supports.
pub fn detected() -> Isa {
    *available().last().expect("scalar is always available")
}

const UNSET: u8 = u8::MAX;
static ACTIVE: AtomicU8 = AtomicU8::new(UNSET);

fn encode(isa: Isa) -> u8 {
    Isa::ALL.iter().position(|&i| i == isa).expect("listed") as u8
}

/// The level kernels use now: [`set_active`]'s choice, else `AVIARY_SIMD` (a level name; an
/// unsupported or unknown name falls back to the best supported level below it, or scalar), else
/// the best detected level.
pub fn active() -> Isa {
    let v = ACTIVE.load(Ordering::Relaxed);
    if v != UNSET {
        return Isa::ALL[v as usize];
    }
    let isa = from_env(std::env::var("AVIARY_SIMD").ok().as_deref());
    ACTIVE.store(encode(isa), Ordering::Relaxed);
    isa
}

fn from_env(value: Option<&str>) -> Isa {
    let best = detected();
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else { return best };
    match Isa::parse(value) {
        Some(wanted) if wanted.is_supported() => wanted,
        // An unsupported request: the best supported level not above it.
        Some(wanted) => available().into_iter().rfind(|&i| i <= wanted).unwrap_or(Isa::Scalar),
        None => {
            eprintln!("aviary: AVIARY_SIMD={value:?} is not one of scalar, avx2, avx512, avx512vnni, neon; using scalar");
            Isa::Scalar
        }
    }
}

/// Forces the level for the whole process (e.g. `Isa::Scalar` to run the reference paths).
pub fn set_active(isa: Isa) -> Result<(), QuantError> {
    if !isa.is_supported() {
        return Err(QuantError::IsaUnsupported { isa: isa.name(), best: detected().name() });
    }
    ACTIVE.store(encode(isa), Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_env_parsing_falls_back() {
        for isa in Isa::ALL {
            assert_eq!(Isa::parse(isa.name()), Some(isa));
        }
        assert_eq!(from_env(Some("scalar")), Isa::Scalar);
        assert_eq!(from_env(Some("nonsense")), Isa::Scalar);
        assert_eq!(from_env(None), detected());
        assert!(from_env(Some("avx512vnni")) <= detected());
    }
}
