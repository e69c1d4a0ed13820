//! The runner asks a backend which architectures it runs (`Ops::supports`, default RWKV-7 only)
//! before loading anything, and refuses the others by name.

use std::sync::Arc;

use gguf::{GgufFile, GgufWriter, Value};
use model::{Architecture, LoraKind, ModelError, Ops, Runner, TensorSource};

/// A backend with RWKV-7's op set only; it must never be asked to run anything here.
struct Rwkv7Only;

impl Ops for Rwkv7Only {
    type Weight = ();
    type Act = ();
    fn backend_name(&self) -> &'static str {
        "test"
    }
    fn device_name(&self) -> String {
        "none".into()
    }
    fn upload_matrix(&mut self, _: &TensorSource) -> Result<(), ModelError> {
        Ok(())
    }
    fn upload_vectors(&mut self, _: usize, _: usize, _: Vec<f32>) -> Result<(), ModelError> {
        Ok(())
    }
    fn alloc(&mut self, _: usize, _: usize) -> Result<(), ModelError> {
        Ok(())
    }
    fn read(&mut self, _: &()) -> Result<Vec<f32>, ModelError> {
        unreachable!()
    }
    fn write(&mut self, _: &mut (), _: &[f32]) -> Result<(), ModelError> {
        unreachable!()
    }
    fn embed(&mut self, _: &(), _: &[u32], _: &mut ()) {
        unreachable!()
    }
    fn layer_norm(&mut self, _: &(), _: &(), _: &(), _: f32, _: &mut ()) {
        unreachable!()
    }
    fn token_shift_lerp(&mut self, _: &(), _: &mut (), _: &(), _: &mut [&mut ()]) {
        unreachable!()
    }
    fn matmul(&mut self, _: &(), _: &(), _: &mut ()) {
        unreachable!()
    }
    fn lora(&mut self, _: LoraKind, _: &(), _: &(), _: &(), _: Option<&()>, _: &mut (), _: &mut ()) {
        unreachable!()
    }
    fn value_residual(&mut self, _: &mut (), _: &(), _: &()) {
        unreachable!()
    }
    fn wkv7(&mut self, _: &(), _: &(), _: &mut (), _: &(), _: &(), _: &(), _: &(), _: &mut (), _: &mut ()) {
        unreachable!()
    }
    fn wkv7_output(&mut self, _: &mut (), _: &(), _: &(), _: &(), _: &(), _: &(), _: &(), _: &(), _: usize, _: f32) {
        unreachable!()
    }
    fn add(&mut self, _: &mut (), _: &()) {
        unreachable!()
    }
    fn relu_square(&mut self, _: &mut ()) {
        unreachable!()
    }
    fn copy_rows(&mut self, _: &(), _: usize, _: &mut ()) {
        unreachable!()
    }
}

#[test]
fn default_support_is_rwkv7_only_and_other_architectures_are_refused_by_name() {
    assert!(Rwkv7Only.supports(Architecture::Rwkv7));
    for arch in [Architecture::Rwkv4, Architecture::Rwkv5, Architecture::Rwkv6] {
        assert!(!Rwkv7Only.supports(arch));
        let mut w = GgufWriter::new();
        w.add_kv("general.architecture", Value::String(arch.name().into()));
        let file = Arc::new(GgufFile::from_bytes(w.to_bytes()).unwrap());
        let err = Runner::load(file, Rwkv7Only).err().expect("refused");
        assert!(matches!(err, ModelError::Unsupported { .. }));
        assert_eq!(err.to_string(), format!("the test backend does not run {arch} yet (the cpu backend runs every architecture)"));
    }
    let mut w = GgufWriter::new();
    w.add_kv("general.architecture", Value::String("rwkv8".into()));
    let err = Runner::load(Arc::new(GgufFile::from_bytes(w.to_bytes()).unwrap()), Rwkv7Only).err().unwrap();
    assert!(err.to_string().contains("'rwkv8' is not supported"), "{err}");
}

#[test]
fn architecture_names_round_trip() {
    for a in Architecture::ALL {
        assert_eq!(Architecture::from_name(a.name()), Some(a));
        assert_eq!(a.key("block_count"), format!("{}.block_count", a.name()));
    }
    assert_eq!(Architecture::from_name("arwkv7"), None);
}
