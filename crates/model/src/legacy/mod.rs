//! rwkv.cpp's legacy model files (spec §7): versions 4, 5.1, 5.2, 6 and 7 with FP32, FP16 and
//! quantized tensors. A file is read ([`LegacyFile`]), its version told from its tensor names
//! ([`LegacyVersion::detect`], spec §5.3), and its tensors mapped into the GGUF layout of that version
//! ([`to_gguf`]): llama.cpp's `rwkv7`/`rwkv6`, aviary's `rwkv5`/`rwkv4`. The model then loads that
//! GGUF like any other, so this module only reads a format and knows no model math.
//!
//! Loading a legacy file therefore builds the GGUF in memory (about twice the model's size at peak);
//! `aviary convert` writes it to disk once instead.

mod file;
mod layout;

use std::fmt;
use std::path::Path;

use gguf::GgufWriter;

pub use file::{has_magic, LegacyFile, LegacyTensor, MAGIC};
pub use layout::{LegacyOptions, RWKV_CPP_GROUP_NORM_EPS};

use crate::{Architecture, ModelError};

/// The RWKV version of a legacy file, in rwkv.cpp's naming.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegacyVersion {
    V4,
    /// RWKV-5 without a gate: per-head decay and `time_first` (stored as `exp(time_first)`).
    V5_1,
    /// RWKV-5 "Eagle" with a SiLU gate and per-channel `time_faaaa`.
    V5_2,
    V6,
    V7,
}

impl LegacyVersion {
    /// By parameter presence in layer 0: `att.r_k` ⇒ 7; `att.time_maa_x` ⇒ 6; `att.ln_x` and
    /// `att.gate` ⇒ 5.2; `att.ln_x` only ⇒ 5.1; else 4.
    pub fn detect(f: &LegacyFile) -> LegacyVersion {
        Self::detect_by(|s| f.tensor(&format!("blocks.0.att.{s}")).is_some())
    }

    /// The same rule over any source of names: `has("r_k")` asks for `blocks.0.att.r_k`.
    pub fn detect_by(has: impl Fn(&str) -> bool) -> LegacyVersion {
        if has("r_k") {
            LegacyVersion::V7
        } else if has("time_maa_x") {
            LegacyVersion::V6
        } else if has("ln_x.weight") {
            if has("gate.weight") {
                LegacyVersion::V5_2
            } else {
                LegacyVersion::V5_1
            }
        } else {
            LegacyVersion::V4
        }
    }

    /// The GGUF architecture its tensors are mapped to.
    pub fn architecture(self) -> Architecture {
        match self {
            LegacyVersion::V4 => Architecture::Rwkv4,
            LegacyVersion::V5_1 | LegacyVersion::V5_2 => Architecture::Rwkv5,
            LegacyVersion::V6 => Architecture::Rwkv6,
            LegacyVersion::V7 => Architecture::Rwkv7,
        }
    }
}

impl fmt::Display for LegacyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LegacyVersion::V4 => "4",
            LegacyVersion::V5_1 => "5.1",
            LegacyVersion::V5_2 => "5.2",
            LegacyVersion::V6 => "6",
            LegacyVersion::V7 => "7",
        })
    }
}

/// Whether the file at `path` starts with rwkv.cpp's magic (unreadable files answer false).
pub fn is_legacy_file(path: impl AsRef<Path>) -> bool {
    use std::io::Read;
    let mut head = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && has_magic(&head)
}

/// The GGUF (metadata and tensors, no vocabulary) of a legacy file, ready to add a tokenizer to
/// and serialise.
pub fn to_gguf(f: &LegacyFile, opts: &LegacyOptions) -> Result<GgufWriter, ModelError> {
    layout::build(f, LegacyVersion::detect(f), opts)
}
