//! Kernel launches recorded as plain descriptions, then issued: directly outside a step, or inside a
//! step as one CUDA graph, captured the first time a step with exactly these launches is seen and
//! replayed afterwards.
//!
//! A step's launches name every buffer by its device address, so two steps with equal launch lists
//! do the same work on the same memory: the list itself is the graph's key. Decode steps of one
//! sequence repeat their list exactly (the model allocates activations once per chunk size, token
//! ids go through one fixed device buffer per chunk size), so after the first token each step is one
//! graph launch and no host work per kernel.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Arc, Mutex};

use cudarc::driver::sys::{self, CUevent_flags, CUstreamCaptureMode};
use cudarc::driver::{CudaEvent, CudaGraph, CudaStream};

use crate::gemm::GemmCall;
use crate::CudaError;

/// One kernel argument, kept by value so launches can be compared and replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Arg {
    /// A device address (or 0 for null).
    Ptr(u64),
    U64(u64),
    I32(i32),
    /// An f32 by its bits (so that launches compare exactly).
    F32(u32),
}

impl Arg {
    pub fn f32(v: f32) -> Arg {
        Arg::F32(v.to_bits())
    }
    /// The value in an 8-byte slot; 4-byte values sit in its first (little-endian) bytes.
    fn slot(self) -> u64 {
        match self {
            Arg::Ptr(v) | Arg::U64(v) => v,
            Arg::I32(v) => v as u32 as u64,
            Arg::F32(bits) => bits as u64,
        }
    }
}

/// One kernel launch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Launch {
    /// The `CUfunction`, by address.
    pub func: usize,
    /// The kernel's name, for error messages.
    pub name: &'static str,
    pub grid: (u32, u32, u32),
    pub block: (u32, u32, u32),
    pub shared_bytes: u32,
    pub args: Vec<Arg>,
}

/// One recorded piece of work: a kernel launch, or a cuBLAS GEMM (gemm.rs), issued in order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Step {
    Kernel(Launch),
    Gemm(GemmCall),
}

/// A captured graph. `CudaGraph` is not `Send`; the backend owns its graphs and uses them from one
/// thread at a time (every use goes through `&mut self`).
struct StepGraph(CudaGraph);
// SAFETY: see above; the graph is only touched through the recorder's `&mut self` methods.
unsafe impl Send for StepGraph {}

/// Graphs kept at most; a long-running process with many distinct step shapes starts over past it.
const MAX_GRAPHS: usize = 64;

/// Counters for tests and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GraphStats {
    /// Steps issued as a replay of a graph captured earlier.
    pub replays: u64,
    /// Steps captured into a new graph (and then launched).
    pub captures: u64,
    /// Launches issued directly (outside steps, or with graphs off).
    pub direct_launches: u64,
}

/// GPU time per kernel name, measured with a pair of CUDA events around every launch while a
/// [`Profiler`] is attached (steps then run without graphs: a graph's nodes cannot be timed alone).
#[derive(Clone, Default)]
pub struct Profiler(Arc<Mutex<ProfileData>>);

#[derive(Default)]
struct ProfileData {
    open: Vec<(&'static str, CudaEvent, CudaEvent)>,
    totals: Vec<KernelTime>,
}

/// One kernel's share of the profiled work.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelTime {
    pub name: String,
    pub calls: u64,
    pub ms: f64,
}

impl Profiler {
    /// Waits for the profiled launches and returns the totals so far, by kernel, largest first;
    /// the totals start again from zero.
    pub fn take(&self) -> Result<Vec<KernelTime>, CudaError> {
        let mut data = self.0.lock().expect("profiler lock");
        let open = std::mem::take(&mut data.open);
        for (name, start, end) in open {
            let ms = start.elapsed_ms(&end).map_err(|e| CudaError::driver("profiling event", e))? as f64;
            match data.totals.iter_mut().find(|k| k.name == name) {
                Some(k) => {
                    k.calls += 1;
                    k.ms += ms;
                }
                None => data.totals.push(KernelTime { name: name.to_string(), calls: 1, ms }),
            }
        }
        let mut totals = std::mem::take(&mut data.totals);
        totals.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        Ok(totals)
    }
}

pub(crate) struct Recorder {
    stream: Arc<CudaStream>,
    pub profiler: Option<Profiler>,
    pending: Vec<Step>,
    in_step: bool,
    /// This step's launches are issued as they come (set by the backend for multi-token steps).
    direct: bool,
    pub use_graphs: bool,
    /// Launch with programmatic dependent launch (sm_90+; every kernel starts with `pdl_entry`).
    pub pdl: bool,
    graphs: HashMap<Vec<Step>, StepGraph>,
    pub stats: GraphStats,
}

impl Recorder {
    pub fn new(stream: Arc<CudaStream>) -> Self {
        Recorder {
            stream,
            pending: Vec::new(),
            in_step: false,
            direct: false,
            profiler: None,
            use_graphs: true,
            pdl: false,
            graphs: HashMap::new(),
            stats: GraphStats::default(),
        }
    }

    /// Queues a launch; outside a step it is issued at once.
    pub fn push(&mut self, launch: Launch) -> Result<(), CudaError> {
        self.push_step(Step::Kernel(launch))
    }

    /// Queues a cuBLAS GEMM like a launch (captured into graphs with the rest of the step).
    pub fn push_gemm(&mut self, call: GemmCall) -> Result<(), CudaError> {
        self.push_step(Step::Gemm(call))
    }

    fn push_step(&mut self, step: Step) -> Result<(), CudaError> {
        self.pending.push(step);
        if self.in_step && !self.direct {
            Ok(())
        } else {
            self.flush()
        }
    }

    pub fn begin_step(&mut self) -> Result<(), CudaError> {
        self.flush()?;
        self.in_step = true;
        self.direct = false;
        Ok(())
    }

    /// Issues the rest of this step's launches directly, as they come, and the queued ones now
    /// (no graph for this step).
    pub fn issue_step_directly(&mut self) -> Result<(), CudaError> {
        self.direct = true;
        self.flush()
    }

    /// Issues the step's launches: replays its graph, or captures one, or launches directly.
    pub fn end_step(&mut self) -> Result<(), CudaError> {
        self.in_step = false;
        if !self.use_graphs || self.direct || self.profiler.is_some() || self.pending.is_empty() {
            self.direct = false;
            return self.flush();
        }
        let launches = std::mem::take(&mut self.pending);
        if let Some(graph) = self.graphs.get(&launches) {
            graph.0.launch().map_err(|e| CudaError::driver("graph launch", e))?;
            self.stats.replays += 1;
            return Ok(());
        }
        let graph = self.capture(&launches)?;
        graph.launch().map_err(|e| CudaError::driver("graph launch", e))?;
        self.stats.captures += 1;
        if self.graphs.len() >= MAX_GRAPHS {
            self.graphs.clear();
        }
        self.graphs.insert(launches, StepGraph(graph));
        Ok(())
    }

    /// Issues queued launches one by one (also before any host copy, to keep stream order).
    pub fn flush(&mut self) -> Result<(), CudaError> {
        let launches = std::mem::take(&mut self.pending);
        for l in &launches {
            self.issue(l)?;
        }
        self.stats.direct_launches += launches.len() as u64;
        Ok(())
    }

    fn capture(&self, launches: &[Step]) -> Result<CudaGraph, CudaError> {
        self.stream
            .begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
            .map_err(|e| CudaError::driver("begin graph capture", e))?;
        let issued = launches.iter().try_for_each(|l| self.issue(l));
        // End the capture whatever happened, so the stream is usable afterwards.
        let ended = self.stream.end_capture(sys::CUgraphInstantiate_flags(0));
        issued?;
        ended
            .map_err(|e| CudaError::driver("end graph capture", e))?
            .ok_or_else(|| CudaError::driver("end graph capture", "the driver returned no graph"))
    }

    fn issue(&self, step: &Step) -> Result<(), CudaError> {
        let name = match step {
            Step::Kernel(l) => l.name,
            Step::Gemm(_) => "cublas_gemm",
        };
        let plain = || match step {
            Step::Kernel(l) => self.issue_plain(l),
            Step::Gemm(call) => {
                self.stream.context().bind_to_thread().map_err(|e| CudaError::driver("bind context", e))?;
                call.issue()
            }
        };
        let Some(profiler) = &self.profiler else { return plain() };
        let event = || self.stream.record_event(Some(CUevent_flags::CU_EVENT_DEFAULT)).map_err(|e| CudaError::driver("profiling event", e));
        let start = event()?;
        plain()?;
        let end = event()?;
        profiler.0.lock().expect("profiler lock").open.push((name, start, end));
        Ok(())
    }

    fn issue_plain(&self, l: &Launch) -> Result<(), CudaError> {
        let mut slots: Vec<u64> = l.args.iter().map(|a| a.slot()).collect();
        let mut params: Vec<*mut c_void> = slots.iter_mut().map(|s| s as *mut u64 as *mut c_void).collect();
        self.stream.context().bind_to_thread().map_err(|e| CudaError::driver("bind context", e))?;
        let what = || format!("launch of kernel {} (grid {:?}, block {:?})", l.name, l.grid, l.block);
        if !self.pdl {
            // SAFETY: `func` came from a loaded module of this context; each launcher builds `args`
            // to match its kernel's parameter list (types and order), and every address points
            // into a live allocation of the size the kernel indexes (checked by the launchers).
            return unsafe {
                cudarc::driver::result::launch_kernel(
                    l.func as sys::CUfunction,
                    l.grid,
                    l.block,
                    l.shared_bytes,
                    self.stream.cu_stream(),
                    &mut params,
                )
            }
            .map_err(|e| CudaError::driver(what(), e));
        }
        // The same launch, allowed to overlap the previous kernel of the stream: every kernel waits
        // for it in `pdl_entry` (common.cuh) before it touches memory another kernel writes.
        // SAFETY: `CUlaunchAttribute` is plain data (an id and a union of integers).
        let mut attr: sys::CUlaunchAttribute = unsafe { std::mem::zeroed() };
        attr.id = sys::CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
        attr.value.programmaticStreamSerializationAllowed = 1;
        let config = sys::CUlaunchConfig {
            gridDimX: l.grid.0,
            gridDimY: l.grid.1,
            gridDimZ: l.grid.2,
            blockDimX: l.block.0,
            blockDimY: l.block.1,
            blockDimZ: l.block.2,
            sharedMemBytes: l.shared_bytes,
            hStream: self.stream.cu_stream(),
            attrs: &mut attr,
            numAttrs: 1,
        };
        // SAFETY: as above; `config` and `attr` outlive the call.
        unsafe { sys::cuLaunchKernelEx(&config, l.func as sys::CUfunction, params.as_mut_ptr(), std::ptr::null_mut()) }
            .result()
            .map_err(|e| CudaError::driver(what(), e))
    }

    pub fn graph_count(&self) -> usize {
        self.graphs.len()
    }
}

impl Recorder {
    /// Ends a step without issuing its launches (after an error in one of its ops).
    pub fn end_step_discard(&mut self) -> Result<(), CudaError> {
        self.in_step = false;
        self.direct = false;
        self.pending.clear();
        Ok(())
    }
}
