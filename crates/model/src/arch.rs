//! The RWKV versions aviary knows, by their GGUF `general.architecture` string.

use std::fmt;

/// An RWKV version. `rwkv7` and `rwkv6` are llama.cpp's architectures; `rwkv5` and `rwkv4` are
/// aviary's own layouts for versions llama.cpp has no architecture for (see `names`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Architecture {
    Rwkv4,
    Rwkv5,
    Rwkv6,
    Rwkv7,
}

impl Architecture {
    pub const ALL: [Architecture; 4] = [Architecture::Rwkv4, Architecture::Rwkv5, Architecture::Rwkv6, Architecture::Rwkv7];

    /// The `general.architecture` string, also the prefix of the architecture's metadata keys.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Rwkv4 => "rwkv4",
            Architecture::Rwkv5 => "rwkv5",
            Architecture::Rwkv6 => "rwkv6",
            Architecture::Rwkv7 => "rwkv7",
        }
    }

    pub fn from_name(name: &str) -> Option<Architecture> {
        Architecture::ALL.into_iter().find(|a| a.name() == name)
    }

    /// `<arch>.<suffix>` metadata key, e.g. `rwkv6.block_count`.
    pub fn key(self, suffix: &str) -> String {
        format!("{}.{suffix}", self.name())
    }

    /// The names of all architectures, for messages: `rwkv4, rwkv5, rwkv6, rwkv7`.
    pub fn list() -> String {
        Architecture::ALL.map(Architecture::name).join(", ")
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
