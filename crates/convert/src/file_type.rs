//! Whole-file target types (llama.cpp's `llama_ftype`): the value of `general.file_type` and the
//! default tensor type a quantization mix starts from.

use std::fmt;
use std::str::FromStr;

use gguf::GgmlType;

use crate::ConvertError;

/// A target file type, named as `llama-quantize` names it.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q2_K,
    Q3_K_S,
    Q3_K_M,
    Q3_K_L,
    Q4_K_S,
    Q4_K_M,
    Q5_K_S,
    Q5_K_M,
    Q6_K,
}

/// (type, name, `general.file_type` id, default tensor type)
const TABLE: &[(FileType, &str, u32, GgmlType)] = &[
    (FileType::F32, "F32", 0, GgmlType::F32),
    (FileType::F16, "F16", 1, GgmlType::F16),
    (FileType::BF16, "BF16", 32, GgmlType::BF16),
    (FileType::Q8_0, "Q8_0", 7, GgmlType::Q8_0),
    (FileType::Q4_0, "Q4_0", 2, GgmlType::Q4_0),
    (FileType::Q4_1, "Q4_1", 3, GgmlType::Q4_1),
    (FileType::Q5_0, "Q5_0", 8, GgmlType::Q5_0),
    (FileType::Q5_1, "Q5_1", 9, GgmlType::Q5_1),
    (FileType::Q2_K, "Q2_K", 10, GgmlType::Q2_K),
    (FileType::Q3_K_S, "Q3_K_S", 11, GgmlType::Q3_K),
    (FileType::Q3_K_M, "Q3_K_M", 12, GgmlType::Q3_K),
    (FileType::Q3_K_L, "Q3_K_L", 13, GgmlType::Q3_K),
    (FileType::Q4_K_S, "Q4_K_S", 14, GgmlType::Q4_K),
    (FileType::Q4_K_M, "Q4_K_M", 15, GgmlType::Q4_K),
    (FileType::Q5_K_S, "Q5_K_S", 16, GgmlType::Q5_K),
    (FileType::Q5_K_M, "Q5_K_M", 17, GgmlType::Q5_K),
    (FileType::Q6_K, "Q6_K", 18, GgmlType::Q6_K),
];

/// llama-quantize's aliases: a bare K type means its `_M` mix.
const ALIASES: &[(&str, FileType)] = &[
    ("Q3_K", FileType::Q3_K_M),
    ("Q4_K", FileType::Q4_K_M),
    ("Q5_K", FileType::Q5_K_M),
];

impl FileType {
    fn entry(self) -> &'static (FileType, &'static str, u32, GgmlType) {
        TABLE.iter().find(|e| e.0 == self).expect("every FileType is in TABLE")
    }

    /// Every file type, floats first.
    pub fn all() -> impl Iterator<Item = FileType> {
        TABLE.iter().map(|e| e.0)
    }

    /// The canonical name, e.g. `Q4_K_M`.
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// The `general.file_type` value (llama.cpp `LLAMA_FTYPE_*`).
    pub fn id(self) -> u32 {
        self.entry().2
    }

    /// The tensor type the mix starts from before per-tensor rules (`llama_ftype_get_default_type`).
    pub fn default_type(self) -> GgmlType {
        self.entry().3
    }

    /// F32, F16 and BF16: written by the converter, not a quantization mix.
    pub fn is_float(self) -> bool {
        matches!(self, FileType::F32 | FileType::F16 | FileType::BF16)
    }

    /// The valid names, for error messages.
    pub fn valid_names() -> String {
        let names: Vec<&str> = Self::all().map(FileType::name).collect();
        names.join(", ")
    }

    /// Case-insensitive name (also `Q3_K`/`Q4_K`/`Q5_K` for their `_M` mixes).
    pub fn parse(name: &str) -> Result<FileType, ConvertError> {
        let found = TABLE
            .iter()
            .find(|e| e.1.eq_ignore_ascii_case(name))
            .map(|e| e.0)
            .or_else(|| ALIASES.iter().find(|a| a.0.eq_ignore_ascii_case(name)).map(|a| a.1));
        found.ok_or_else(|| ConvertError::UnknownFileType {
            name: name.to_string(),
            valid: Self::valid_names(),
        })
    }
}

impl FromStr for FileType {
    type Err = ConvertError;
    fn from_str(s: &str) -> Result<Self, ConvertError> {
        FileType::parse(s)
    }
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        let mut n = 0;
        for ft in FileType::all() {
            assert_eq!(FileType::parse(ft.name()).unwrap(), ft);
            assert_eq!(FileType::parse(&ft.name().to_ascii_lowercase()).unwrap(), ft);
            n += 1;
        }
        assert_eq!(n, 17);
        assert_eq!(FileType::parse("q4_k").unwrap(), FileType::Q4_K_M);
        assert_eq!(FileType::Q4_K_M.id(), 15);
        assert_eq!(FileType::BF16.id(), 32);
        let err = FileType::parse("Q7_X").unwrap_err().to_string();
        assert!(err.contains("Q7_X") && err.contains("Q4_K_M") && err.contains("BF16"), "{err}");
    }
}
