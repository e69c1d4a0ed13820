//! Finding the driver and a device, and loading the compiled kernels into a context.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::sys::{CUdevice_attribute, CUfunction_attribute};
use cudarc::driver::{CudaContext, CudaFunction};

use crate::{nvrtc, CudaError};

/// A loaded kernel: its function (kept alive with its module) and name.
#[derive(Clone)]
pub(crate) struct Kernel {
    pub func: CudaFunction,
    pub name: &'static str,
}

impl Kernel {
    pub fn addr(&self) -> usize {
        self.func.cu_function() as usize
    }
}

/// Opens device `ordinal`, with clear errors when the driver or the device is missing.
pub(crate) fn open_context(ordinal: usize) -> Result<Arc<CudaContext>, CudaError> {
    // SAFETY: only probes for the library with dlopen; without it every driver call would panic.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(CudaError::DriverNotFound(
            "no libcuda.so / libcuda.so.1 on the library search path (is the NVIDIA driver installed? \
             set LD_LIBRARY_PATH to its directory otherwise)"
                .into(),
        ));
    }
    let count = CudaContext::device_count().map_err(|e| CudaError::NoDevice(format!("cuInit/cuDeviceGetCount: {e}")))?;
    if count <= 0 {
        return Err(CudaError::NoDevice("the driver reports 0 devices".into()));
    }
    if ordinal >= count as usize {
        return Err(CudaError::BadOrdinal { ordinal, count: count as usize });
    }
    let ctx = CudaContext::new(ordinal).map_err(|e| CudaError::driver(format!("context on device {ordinal}"), e))?;
    // One stream, ordered; cudarc's per-buffer events would only add work and break graph capture.
    // SAFETY: called before any buffer of this context exists.
    unsafe { ctx.disable_event_tracking() };
    Ok(ctx)
}

/// Whether launches use programmatic dependent launch: asked for by `tuning` and supported by
/// `arch` (`sm_XY`, sm_90 and later).
pub(crate) fn pdl_enabled(tuning: &crate::Tuning, arch: &str) -> bool {
    tuning.pdl && arch.trim_start_matches("sm_").trim_end_matches('a').parse::<u32>().is_ok_and(|n| n >= 90)
}

/// `sm_XY` for the context's device: NVRTC compiles machine code for exactly this architecture.
pub(crate) fn arch(ctx: &CudaContext) -> Result<String, CudaError> {
    let (major, minor) = ctx.compute_capability().map_err(|e| CudaError::driver("compute capability", e))?;
    Ok(format!("sm_{major}{minor}"))
}

/// Compiles (once per process) and loads every kernel, by name.
pub(crate) fn load_kernels(ctx: &Arc<CudaContext>, arch: &str) -> Result<HashMap<&'static str, Kernel>, CudaError> {
    let compiled = nvrtc::compile_all(arch)?;
    let optin = ctx
        .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
        .map_err(|e| CudaError::driver("shared memory limit", e))?;
    let mut kernels = HashMap::new();
    for (program, image) in nvrtc::programs().iter().zip(compiled.iter()) {
        let file = &image.label;
        let module = ctx.load_module(image.to_ptx()).map_err(|e| CudaError::driver(format!("loading module {file}"), e))?;
        for name in program.kernel_names() {
            let func = module
                .load_function(&name)
                .map_err(|e| CudaError::driver(format!("function {name} in {file}"), e))?;
            let name = intern(&name);
            if name == "wkv7" || name == "wkv6" || name.starts_with("mv_") {
                // wkv7 and wkv6 keep a head's state in shared memory, matvec.cu a copy of x: allow big ones.
                // Static plus dynamic shared memory must stay within the opt-in limit.
                let fixed = func.shared_size_bytes().map_err(|e| CudaError::driver(format!("{name}'s static shared memory"), e))?;
                func.set_attribute(CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, optin - fixed)
                    .map_err(|e| CudaError::driver(format!("raising {name}'s shared memory limit"), e))?;
            }
            kernels.insert(name, Kernel { func, name });
        }
    }
    Ok(kernels)
}

/// The device's opt-in shared memory per block, in bytes.
pub(crate) fn shared_memory_limit(ctx: &CudaContext) -> Result<usize, CudaError> {
    ctx.attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
        .map(|v| v as usize)
        .map_err(|e| CudaError::driver("shared memory limit", e))
}

/// A `'static` copy of a kernel name, made once per process.
fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES.get_or_init(|| Mutex::new(HashSet::new())).lock().expect("kernel name table");
    if let Some(&n) = names.get(name) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.insert(leaked);
    leaked
}
