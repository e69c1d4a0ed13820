//! Shared by the device tests: opening the backend (or skipping loudly without a GPU).

use cuda::{CudaBackend, CudaError};

/// The CUDA backend on device 0, or `None` after printing why the test is skipped. Only a missing
/// driver or device skips, and not when `AVIARY_REQUIRE_CUDA` is set (the device check sets it); any
/// other failure (NVRTC, compilation, driver errors) fails the test.
pub fn backend() -> Option<CudaBackend> {
    match CudaBackend::new(0) {
        Ok(b) => Some(b),
        Err(e) if std::env::var_os("AVIARY_REQUIRE_CUDA").is_some() => {
            panic!("AVIARY_REQUIRE_CUDA is set but the CUDA backend failed to start: {e}")
        }
        Err(e @ (CudaError::DriverNotFound(_) | CudaError::NoDevice(_))) => {
            eprintln!("\n!!! SKIPPED: no CUDA device ({e})\n");
            None
        }
        Err(e) => panic!("CUDA backend failed to start: {e}"),
    }
}
