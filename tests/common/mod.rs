//! Helpers shared by the integration tests that write BlinkDL `.pth` files: the `torch.save` layout
//! ([`pth_writer`]) and seeded random-weight checkpoints of every RWKV version in BlinkDL's names and
//! shapes ([`blinkdl_models`]). Each test binary uses part of it.
#![allow(dead_code)]

pub mod blinkdl_models;
pub mod pth_writer;
