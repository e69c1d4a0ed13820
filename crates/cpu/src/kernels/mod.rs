//! Scalar reference kernels, one op per file, each named as the op in `model::Ops`.
//! They work on plain slices so that faster kernels can be tested against them.

pub mod decay6;
pub mod elementwise;
pub mod embed;
pub mod group_norm;
pub mod layer_norm;
pub mod lora;
pub mod matmul;
pub mod token_shift_lerp;
pub mod token_shift_lora6;
pub mod wkv4;
pub mod wkv6;
pub mod wkv7;
pub mod wkv7_output;
