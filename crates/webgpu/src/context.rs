//! Choosing an adapter and opening a device on it, with the facts the kernels depend on checked.

use std::sync::{Arc, Mutex};

use crate::WebGpuError;

/// How to open the backend.
///
/// `Default` reads tuning switches from the environment, so `aviary bench --backend wgpu` can
/// compare variants without new flags: `AVIARY_WGPU_PROFILE=1` (profile, printed to stderr when the
/// backend is dropped), `AVIARY_WGPU_KERNELS=generic` (fast_kernels off), `AVIARY_WGPU_NR=<n>`
/// (matvec_rows), `AVIARY_WGPU_SUBMIT_EVERY=<n>` (submit_every) and `AVIARY_WGPU_FOLD=<n>`
/// (fold_matvecs), `AVIARY_WGPU_SYNC_COMPILE=1` (compile_in_background off), `AVIARY_WGPU_ZERO_WG=1`
/// (zero_workgroup_memory).
#[derive(Clone, Debug)]
pub struct WebGpuOptions {
    /// Use the first adapter whose name contains this text (case-insensitive); `None` picks the
    /// best adapter (discrete, then integrated, virtual, other, then CPU).
    pub adapter: Option<String>,
    /// Use subgroup operations where the adapter has them; `false` forces the workgroup-memory
    /// fallback (to test it, or to work around a driver).
    pub subgroups: bool,
    /// Time every dispatch with GPU timestamps (needs TIMESTAMP_QUERY; slows steps down).
    pub profile: bool,
    /// Use the vectorized one-token matvec and the tiled prefill matmul where they apply; `false`
    /// runs every matmul through the generic kernel (for comparisons).
    pub fast_kernels: bool,
    /// Weight rows each matvec thread group handles (sharing x loads between them): 1, 2 or 4.
    pub matvec_rows: u32,
    /// Submit the recording every this many dispatches inside a step, so the GPU starts while
    /// the host still encodes the rest; 0 submits once per step. Default 32: on the H200 (0.4b
    /// Q4_K_M decode) 32 gave 4.21 ms/token, 128 gave 4.56 and one submit per step 6.03, because
    /// wgpu's host-side encoding (~3 us per dispatch) otherwise runs before the GPU starts.
    pub submit_every: usize,
    /// Tokens per prefill step (`Ops::preferred_chunk`). Default 512: the tiled matmul needs many
    /// 64-token tiles to fill a large GPU (at 64 tokens a 2560-row matmul is only 40 workgroups),
    /// and the per-step overheads (dispatches, wkv7's serial walk start-up) shrink per token.
    pub prefill_chunk: usize,
    /// Weight rows per matmul_tiled tile: 64, 128, or 0 to pick per matmul (`kernels::tiled_rows`).
    pub tile_rows: u32,
    /// Most one-token matvecs that share one dispatch (independent ones of a layer: r, k, v and the
    /// LoRA projections); 1 gives each its own. Capped by the adapter's storage bindings per stage
    /// (six per job) and 8.
    pub fold_matvecs: usize,
    /// Compile new matvec groupings on a background thread, recording their jobs one by one until
    /// the kernel is ready (a large variant can take a good part of a second to compile, a stall in
    /// the middle of a decode); `false` compiles at first use (tests, for exact dispatch counts).
    pub compile_in_background: bool,
    /// Zero-initialize workgroup memory before each kernel (wgpu's default); the kernels write it
    /// before reading it, so it is off (`AVIARY_WGPU_ZERO_WG=1` turns it on).
    pub zero_workgroup_memory: bool,
    /// Use matmul_tiled for every matmul of at least 16 tokens, even where the generic kernel
    /// would be faster (tests, to reach the tiled kernel with small shapes).
    pub always_tiled: bool,
}

/// Most tokens one step can take (the step token buffer's size).
pub(crate) const MAX_STEP_TOKENS: usize = 4096;

fn env_flag(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Default for WebGpuOptions {
    fn default() -> Self {
        let num = |name: &str, default: usize| env_flag(name).and_then(|v| v.parse().ok()).unwrap_or(default);
        WebGpuOptions {
            adapter: None,
            subgroups: true,
            profile: env_flag("AVIARY_WGPU_PROFILE").is_some_and(|v| v != "0"),
            fast_kernels: !matches!(env_flag("AVIARY_WGPU_KERNELS").as_deref(), Some("generic")),
            matvec_rows: num("AVIARY_WGPU_NR", 2) as u32,
            submit_every: num("AVIARY_WGPU_SUBMIT_EVERY", 32),
            tile_rows: num("AVIARY_WGPU_TILE_ROWS", 0) as u32,
            always_tiled: false,
            fold_matvecs: num("AVIARY_WGPU_FOLD", 8),
            compile_in_background: env_flag("AVIARY_WGPU_SYNC_COMPILE").is_none_or(|v| v == "0"),
            zero_workgroup_memory: env_flag("AVIARY_WGPU_ZERO_WG").is_some_and(|v| v != "0"),
            prefill_chunk: num("AVIARY_WGPU_CHUNK", 512).clamp(1, MAX_STEP_TOKENS),
        }
    }
}

/// How profiling takes GPU timestamps on this device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timestamps {
    None,
    /// One timestamp after each dispatch, inside the step's pass.
    InsidePasses,
    /// A pass per dispatch with begin/end timestamps (adds per-pass overhead to the step).
    PerPass,
}

/// What `list_adapters` reports about one adapter.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub subgroups: bool,
}

/// An open device and what the kernels need to know about it.
pub(crate) struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub name: String,
    pub limits: wgpu::Limits,
    pub subgroups: bool,
    pub timestamps: Timestamps,
    /// Errors wgpu reported outside an error scope; surfaced at the next `end_step` or `read`.
    pub errors: Arc<Mutex<Vec<String>>>,
}

/// Storage bindings the widest kernels (wkv7, token_shift_lerp) use in one dispatch.
const NEEDED_STORAGE_BINDINGS: u32 = 9;
/// Threads of the largest workgroup (layer_norm).
const NEEDED_INVOCATIONS: u32 = 256;

fn backends() -> wgpu::Backends {
    wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY)
}

fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends();
    wgpu::Instance::new(desc)
}

fn type_rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// Every adapter wgpu finds (honouring `WGPU_BACKEND`).
pub fn list_adapters() -> Vec<AdapterSummary> {
    let adapters = pollster::block_on(instance().enumerate_adapters(backends()));
    adapters
        .iter()
        .map(|a| {
            let info = a.get_info();
            AdapterSummary {
                name: info.name,
                backend: format!("{:?}", info.backend),
                device_type: format!("{:?}", info.device_type),
                subgroups: a.features().contains(wgpu::Features::SUBGROUP),
            }
        })
        .collect()
}

fn describe(adapters: &[wgpu::Adapter]) -> String {
    if adapters.is_empty() {
        return "none".into();
    }
    adapters
        .iter()
        .map(|a| {
            let i = a.get_info();
            format!("'{}' ({:?}, {:?})", i.name, i.backend, i.device_type)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Gpu {
    pub fn open(opts: &WebGpuOptions) -> Result<Gpu, WebGpuError> {
        let instance = instance();
        let mut adapters = pollster::block_on(instance.enumerate_adapters(backends()));
        adapters.sort_by_key(|a| type_rank(a.get_info().device_type));
        let adapter = match &opts.adapter {
            Some(wanted) => {
                let needle = wanted.to_lowercase();
                let pos = adapters.iter().position(|a| a.get_info().name.to_lowercase().contains(&needle));
                match pos {
                    Some(i) => adapters.swap_remove(i),
                    None => {
                        return Err(WebGpuError::AdapterNotFound {
                            wanted: wanted.clone(),
                            available: describe(&adapters),
                        })
                    }
                }
            }
            None if adapters.is_empty() => {
                return Err(WebGpuError::NoAdapter { backends: format!("{:?}", backends()) });
            }
            None => adapters.swap_remove(0),
        };
        let info = adapter.get_info();
        let name = format!("{} ({:?})", info.name, info.backend);
        let limits = adapter.limits();
        let missing = |what: &'static str, detail: String| WebGpuError::MissingCapability {
            adapter: name.clone(),
            what,
            detail,
        };
        if limits.max_storage_buffers_per_shader_stage < NEEDED_STORAGE_BINDINGS {
            return Err(missing(
                "storage bindings",
                format!(
                    "kernels bind {NEEDED_STORAGE_BINDINGS} storage buffers, the adapter allows {}",
                    limits.max_storage_buffers_per_shader_stage
                ),
            ));
        }
        if limits.max_compute_invocations_per_workgroup < NEEDED_INVOCATIONS {
            return Err(missing(
                "workgroup size",
                format!(
                    "kernels use {NEEDED_INVOCATIONS} threads per workgroup, the adapter allows {}",
                    limits.max_compute_invocations_per_workgroup
                ),
            ));
        }
        let subgroups = opts.subgroups && adapter.features().contains(wgpu::Features::SUBGROUP);
        let mut required_features = if subgroups { wgpu::Features::SUBGROUP } else { wgpu::Features::empty() };
        let inside = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES;
        let timestamps = if !opts.profile || !adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            Timestamps::None
        } else if adapter.features().contains(inside) {
            Timestamps::InsidePasses
        } else {
            Timestamps::PerPass
        };
        match timestamps {
            Timestamps::None => {}
            Timestamps::InsidePasses => required_features |= inside,
            Timestamps::PerPass => required_features |= wgpu::Features::TIMESTAMP_QUERY,
        }
        let desc = wgpu::DeviceDescriptor {
            label: Some("aviary"),
            required_features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc))
            .map_err(|e| WebGpuError::Device { adapter: name.clone(), reason: e.to_string() })?;
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut v) = sink.lock() {
                v.push(e.to_string());
            }
        }));
        Ok(Gpu { device, queue, name, limits, subgroups, timestamps, errors })
    }

    /// The largest buffer one storage binding may cover.
    pub fn max_binding(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }

    /// Fails with the first error wgpu reported asynchronously since the last check.
    pub fn check_errors(&self, context: &str) -> Result<(), WebGpuError> {
        let mut errs = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        if errs.is_empty() {
            return Ok(());
        }
        let reason = errs.join("; ");
        errs.clear();
        Err(WebGpuError::Gpu { adapter: self.name.clone(), context: context.to_string(), reason })
    }

    /// A buffer, with out-of-memory and validation failures turned into an error that names sizes.
    pub fn buffer(&self, label: &str, size: u64, usage: wgpu::BufferUsages, contents: Option<&[u8]>) -> Result<wgpu::Buffer, WebGpuError> {
        let fail = |reason: String| WebGpuError::Buffer {
            adapter: self.name.clone(),
            label: label.to_string(),
            size,
            max_buffer: self.limits.max_buffer_size,
            max_binding: self.limits.max_storage_buffer_binding_size,
            reason,
        };
        if size > self.limits.max_buffer_size {
            return Err(fail("larger than the adapter's max buffer size".into()));
        }
        // Zero-sized bindings are invalid; every buffer has at least one word.
        let size = size.max(4).next_multiple_of(4);
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation: contents.is_some(),
        });
        if let Some(bytes) = contents {
            let mut view = buffer.get_mapped_range_mut(..).map_err(|e| fail(format!("mapping for upload: {e}")))?;
            view.slice(..bytes.len()).copy_from_slice(bytes);
            drop(view);
            buffer.unmap();
        }
        if let Some(e) = pollster::block_on(validation.pop()) {
            return Err(fail(e.to_string()));
        }
        if let Some(e) = pollster::block_on(oom.pop()) {
            return Err(fail(e.to_string()));
        }
        Ok(buffer)
    }
}
