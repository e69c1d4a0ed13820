//! Metadata values (spec §1.3): the 13 GGUF value types and typed accessors that accept the
//! integer widths different writers use for the same key.

use std::fmt;

/// A GGUF metadata value type; the discriminant order follows the on-disk ids 0..=12.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

const ALL_VALUE_TYPES: [ValueType; 13] = [
    ValueType::U8,
    ValueType::I8,
    ValueType::U16,
    ValueType::I16,
    ValueType::U32,
    ValueType::I32,
    ValueType::F32,
    ValueType::Bool,
    ValueType::String,
    ValueType::Array,
    ValueType::U64,
    ValueType::I64,
    ValueType::F64,
];

impl ValueType {
    /// The on-disk id (0..=12).
    pub fn id(self) -> u32 {
        self as u32
    }

    pub fn from_id(id: u32) -> Option<ValueType> {
        ALL_VALUE_TYPES.get(id as usize).copied()
    }

    /// Every value type, in id order.
    pub fn all() -> impl Iterator<Item = ValueType> {
        ALL_VALUE_TYPES.into_iter()
    }

    pub fn name(self) -> &'static str {
        match self {
            ValueType::U8 => "U8",
            ValueType::I8 => "I8",
            ValueType::U16 => "U16",
            ValueType::I16 => "I16",
            ValueType::U32 => "U32",
            ValueType::I32 => "I32",
            ValueType::F32 => "F32",
            ValueType::Bool => "Bool",
            ValueType::String => "String",
            ValueType::Array => "Array",
            ValueType::U64 => "U64",
            ValueType::I64 => "I64",
            ValueType::F64 => "F64",
        }
    }

    /// The fewest bytes one value of this type can occupy on disk. The reader multiplies this by a
    /// claimed element count to reject impossible counts before allocating.
    pub(crate) fn min_encoded_len(self) -> u64 {
        match self {
            ValueType::U8 | ValueType::I8 | ValueType::Bool => 1,
            ValueType::U16 | ValueType::I16 => 2,
            ValueType::U32 | ValueType::I32 | ValueType::F32 => 4,
            ValueType::U64 | ValueType::I64 | ValueType::F64 | ValueType::String => 8,
            ValueType::Array => 12, // element type (u32) + count (u64)
        }
    }

    pub fn is_integer(self) -> bool {
        matches!(
            self,
            ValueType::U8
                | ValueType::I8
                | ValueType::U16
                | ValueType::I16
                | ValueType::U32
                | ValueType::I32
                | ValueType::U64
                | ValueType::I64
        )
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One metadata value. Arrays carry their declared element type, so empty arrays keep it too.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    /// Element type, then elements; every element must have that type.
    Array(ValueType, Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(..) => ValueType::Array,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
        }
    }

    /// Any integer type, as i128 (wide enough for every one of them).
    fn as_i128(&self) -> Option<i128> {
        Some(match *self {
            Value::U8(v) => v.into(),
            Value::I8(v) => v.into(),
            Value::U16(v) => v.into(),
            Value::I16(v) => v.into(),
            Value::U32(v) => v.into(),
            Value::I32(v) => v.into(),
            Value::U64(v) => v.into(),
            Value::I64(v) => v.into(),
            _ => return None,
        })
    }

    /// Any integer type whose value is non-negative.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_i128().and_then(|v| u64::try_from(v).ok())
    }

    /// Any integer type whose value fits in i64.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_i128().and_then(|v| i64::try_from(v).ok())
    }

    /// F32, F64, or any integer type (converted, possibly rounding very large integers).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => self.as_i128().map(|v| v as f64),
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(_, items) => Some(items),
            _ => None,
        }
    }

    /// The element type of an array value.
    pub fn array_type(&self) -> Option<ValueType> {
        match self {
            Value::Array(t, _) => Some(*t),
            _ => None,
        }
    }

    /// A short description for error messages: the type and a value, with long strings and
    /// arrays abbreviated (`String "rwkv7"`, `Array<String>[512]`).
    pub fn describe(&self) -> String {
        match self {
            Value::String(s) => {
                let mut shown: String = s.chars().take(40).collect();
                if shown.len() < s.len() {
                    shown.push_str("...");
                }
                format!("String {shown:?}")
            }
            Value::Array(t, items) => format!("Array<{t}>[{}]", items.len()),
            Value::Bool(b) => format!("Bool {b}"),
            Value::F32(v) => format!("F32 {v}"),
            Value::F64(v) => format!("F64 {v}"),
            other => format!(
                "{} {}",
                other.value_type(),
                other.as_i128().unwrap_or_default()
            ),
        }
    }

    /// Checks that an array's elements all have its declared type, recursively.
    /// Returns a description of the first problem.
    pub(crate) fn check_array_types(&self) -> Result<(), String> {
        let Value::Array(elem, items) = self else {
            return Ok(());
        };
        for (i, item) in items.iter().enumerate() {
            if item.value_type() != *elem {
                return Err(format!(
                    "is declared Array<{elem}> but element {i} is {}",
                    item.describe()
                ));
            }
            item.check_array_types()
                .map_err(|e| format!("element {i}: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for (i, t) in ValueType::all().enumerate() {
            assert_eq!(t.id(), i as u32);
            assert_eq!(ValueType::from_id(i as u32), Some(t));
        }
        assert_eq!(ValueType::from_id(13), None);
        assert_eq!(ValueType::from_id(u32::MAX), None);
    }

    #[test]
    fn integer_accessors_accept_every_width() {
        assert_eq!(Value::U8(7).as_u64(), Some(7));
        assert_eq!(Value::I32(-1).as_u64(), None);
        assert_eq!(Value::I32(-1).as_i64(), Some(-1));
        assert_eq!(Value::U64(u64::MAX).as_i64(), None);
        assert_eq!(Value::U64(u64::MAX).as_u64(), Some(u64::MAX));
        assert_eq!(Value::I16(-3).as_f64(), Some(-3.0));
        assert_eq!(Value::F32(0.5).as_f64(), Some(0.5));
        assert_eq!(Value::F32(0.5).as_u64(), None);
        assert_eq!(Value::Bool(true).as_u64(), None);
        assert_eq!(Value::String("x".into()).as_str(), Some("x"));
    }

    #[test]
    fn describe_abbreviates() {
        assert_eq!(Value::U32(5).describe(), "U32 5");
        assert_eq!(Value::I8(-5).describe(), "I8 -5");
        let arr = Value::Array(ValueType::String, vec![Value::String("a".into()); 3]);
        assert_eq!(arr.describe(), "Array<String>[3]");
        assert!(Value::String("y".repeat(100)).describe().ends_with("...\""));
    }

    #[test]
    fn array_type_check_finds_mismatch() {
        let bad = Value::Array(ValueType::U32, vec![Value::U32(1), Value::I32(2)]);
        let msg = bad.check_array_types().unwrap_err();
        assert!(msg.contains("element 1") && msg.contains("I32 2"), "{msg}");
        let nested = Value::Array(
            ValueType::Array,
            vec![Value::Array(
                ValueType::U8,
                vec![Value::U8(1), Value::Bool(true)],
            )],
        );
        assert!(nested.check_array_types().is_err());
    }
}
