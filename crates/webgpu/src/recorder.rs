//! Recording a step: each op becomes one or more dispatches (pipeline, cached bind group, grid)
//! appended to a list; `flush` encodes the whole list into ONE compute pass and submits it once.
//! Bind groups, with their small uniform parameter buffers, are made once per (kernel, buffers,
//! parameters) and reused: a model allocates its activations once per chunk size, so steady-state
//! decode creates nothing.
//!
//! With profiling on (`WebGpuOptions::profile`), every dispatch is followed by a GPU timestamp
//! (inside the pass where the adapter allows it, else one pass per dispatch), and `flush` waits for
//! them and adds each dispatch's time to a table keyed by kernel and shape. The difference between
//! consecutive timestamps includes the barrier and launch gap before a kernel, which is its real cost
//! in a step.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::context::{Gpu, Timestamps};
use crate::kernels::{Kernel, Pipelines};
use crate::WebGpuError;

struct Dispatch {
    kernel: Kernel,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    groups: [u32; 3],
    /// What the profile groups this dispatch under (e.g. rows, cols, tokens of a matmul).
    shape: [u32; 3],
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct BindKey {
    kernel: Kernel,
    buffers: Vec<u64>,
    params: Vec<u32>,
}

/// Time spent in one (kernel, shape) over the profiled flushes.
#[derive(Clone, Debug)]
pub struct ProfileRow {
    /// Kernel variant, e.g. `Matvec(Q4_K, 2)`.
    pub kernel: String,
    /// Kernel-specific shape: rows, cols, tokens for matmuls; elements or rows otherwise.
    pub shape: [u32; 3],
    pub calls: u64,
    pub total_ns: f64,
}

#[derive(Default)]
struct Profile {
    rows: HashMap<(Kernel, [u32; 3]), (u64, f64)>,
    /// Profiled flushes and their summed GPU span (first to last timestamp).
    flushes: u64,
    span_ns: f64,
}

pub(crate) struct Recorder {
    pub pipelines: Pipelines,
    cache: HashMap<BindKey, wgpu::BindGroup>,
    pending: Vec<Dispatch>,
    /// Counts flushes, so a saved pending index can tell whether it still refers to this recording.
    pub generation: u64,
    /// Ids of dropped buffers, whose bind groups must go.
    pub graveyard: Arc<Mutex<Vec<u64>>>,
    /// The first error an op hit (ops cannot return one); reported at the next flush.
    pub deferred: Option<WebGpuError>,
    profile: Option<Profile>,
    /// Bind groups created (cache misses) and dispatches recorded, since the start.
    pub created: u64,
    pub recorded: u64,
    /// Host time spent encoding and submitting in `flush`.
    pub encode_ns: u64,
}

impl Recorder {
    pub fn new(profile: bool) -> Self {
        Recorder {
            pipelines: Pipelines::default(),
            cache: HashMap::new(),
            pending: Vec::new(),
            generation: 0,
            graveyard: Arc::default(),
            deferred: None,
            profile: profile.then(Profile::default),
            created: 0,
            recorded: 0,
            encode_ns: 0,
        }
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The kernel of the last dispatch recorded and not yet submitted.
    pub fn last_kernel(&self) -> Option<Kernel> {
        self.pending.last().map(|d| d.kernel)
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Evicts cached bind groups that reference dropped buffers.
    pub fn evict_dead(&mut self) {
        let dead: HashSet<u64> = {
            let mut g = self.graveyard.lock().unwrap_or_else(|e| e.into_inner());
            if g.is_empty() {
                return;
            }
            g.drain(..).collect()
        };
        self.cache.retain(|k, _| !k.buffers.iter().any(|id| dead.contains(id)));
    }

    /// Appends a dispatch of `kernel` over `groups` workgroups with uniform `params` at binding 0
    /// and `buffers` at bindings 1, 2, ... (in the kernel's order). `shape` labels it in profiles.
    pub fn dispatch(&mut self, gpu: &Gpu, kernel: Kernel, params: &[u32], buffers: &[(u64, &wgpu::Buffer)], groups: [u32; 3], shape: [u32; 3]) {
        if groups.contains(&0) {
            return;
        }
        if let Err(e) = self.try_dispatch(gpu, kernel, params, buffers, groups, shape) {
            self.deferred.get_or_insert(e);
        }
    }

    /// Replaces the last recorded dispatch by another (an op fused into it).
    pub fn replace_last(&mut self, gpu: &Gpu, kernel: Kernel, params: &[u32], buffers: &[(u64, &wgpu::Buffer)], groups: [u32; 3], shape: [u32; 3]) {
        if self.pending.pop().is_some() {
            // The replacement is counted by `dispatch`: a fused op is one dispatch, not two.
            self.recorded -= 1;
        }
        self.dispatch(gpu, kernel, params, buffers, groups, shape);
    }

    fn try_dispatch(
        &mut self,
        gpu: &Gpu,
        kernel: Kernel,
        params: &[u32],
        buffers: &[(u64, &wgpu::Buffer)],
        groups: [u32; 3],
        shape: [u32; 3],
    ) -> Result<(), WebGpuError> {
        let max = gpu.limits.max_compute_workgroups_per_dimension;
        if groups.iter().any(|&g| g > max) {
            return Err(WebGpuError::Gpu {
                adapter: gpu.name.clone(),
                context: format!("{kernel:?}"),
                reason: format!("grid {groups:?} exceeds {max} workgroups per dimension"),
            });
        }
        let pipeline = self.pipelines.get(gpu, kernel)?.clone();
        let key = BindKey { kernel, buffers: buffers.iter().map(|b| b.0).collect(), params: params.to_vec() };
        let bind_group = match self.cache.get(&key) {
            Some(bg) => bg.clone(),
            None => {
                self.created += 1;
                let mut bytes: Vec<u8> = params.iter().flat_map(|p| p.to_le_bytes()).collect();
                bytes.resize(bytes.len().next_multiple_of(16).max(16), 0);
                let uniform = gpu.buffer(&format!("{kernel:?} params"), bytes.len() as u64, wgpu::BufferUsages::UNIFORM, Some(&bytes))?;
                let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() }];
                for (i, (_, buf)) in buffers.iter().enumerate() {
                    entries.push(wgpu::BindGroupEntry { binding: i as u32 + 1, resource: buf.as_entire_binding() });
                }
                let bg = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some(&format!("{kernel:?}")),
                    layout: &pipeline.get_bind_group_layout(0),
                    entries: &entries,
                });
                self.cache.insert(key, bg.clone());
                bg
            }
        };
        self.recorded += 1;
        self.pending.push(Dispatch { kernel, pipeline, bind_group, groups, shape });
        Ok(())
    }

    /// Encodes every pending dispatch into one compute pass, then `extra` (copies after the pass),
    /// and submits once. Queue writes made before this call land before the pass runs.
    pub fn flush(&mut self, gpu: &Gpu, extra: impl FnOnce(&mut wgpu::CommandEncoder)) -> Result<(), WebGpuError> {
        self.generation += 1;
        if let Some(e) = self.deferred.take() {
            self.pending.clear();
            return Err(e);
        }
        if self.profile.is_some() && gpu.timestamps != Timestamps::None && !self.pending.is_empty() {
            self.flush_profiled(gpu)?;
        }
        let start = std::time::Instant::now();
        let mut encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("aviary step") });
        if !self.pending.is_empty() {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("aviary step"), timestamp_writes: None });
            let mut last: Option<Kernel> = None;
            for d in &self.pending {
                // Consecutive dispatches of one kernel share its pipeline; setting it again costs
                // host time in wgpu's validation for nothing.
                if last != Some(d.kernel) {
                    pass.set_pipeline(&d.pipeline);
                    last = Some(d.kernel);
                }
                pass.set_bind_group(0, &d.bind_group, &[]);
                pass.dispatch_workgroups(d.groups[0], d.groups[1], d.groups[2]);
            }
        }
        extra(&mut encoder);
        gpu.queue.submit([encoder.finish()]);
        self.encode_ns += start.elapsed().as_nanos() as u64;
        self.pending.clear();
        gpu.check_errors("step")
    }

    /// Runs the pending dispatches with a timestamp after each, waits, and adds the times to the
    /// profile. Leaves `pending` empty (the dispatches ran).
    fn flush_profiled(&mut self, gpu: &Gpu) -> Result<(), WebGpuError> {
        let pending = std::mem::take(&mut self.pending);
        let period = gpu.queue.get_timestamp_period() as f64;
        for chunk in pending.chunks(2000) {
            let n = chunk.len() as u32;
            let queries = match gpu.timestamps {
                Timestamps::InsidePasses => n + 1,
                _ => 2 * n,
            };
            let qs = gpu.device.create_query_set(&wgpu::QuerySetDescriptor { label: Some("profile"), ty: wgpu::QueryType::Timestamp, count: queries });
            let bytes = 8 * queries as u64;
            let resolve = gpu.buffer("profile resolve", bytes, wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC, None)?;
            let read = gpu.buffer("profile read", bytes, wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST, None)?;
            let mut encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("profiled step") });
            if gpu.timestamps == Timestamps::InsidePasses {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("profiled step"), timestamp_writes: None });
                pass.write_timestamp(&qs, 0);
                for (i, d) in chunk.iter().enumerate() {
                    pass.set_pipeline(&d.pipeline);
                    pass.set_bind_group(0, &d.bind_group, &[]);
                    pass.dispatch_workgroups(d.groups[0], d.groups[1], d.groups[2]);
                    pass.write_timestamp(&qs, i as u32 + 1);
                }
            } else {
                for (i, d) in chunk.iter().enumerate() {
                    let writes = wgpu::ComputePassTimestampWrites {
                        query_set: &qs,
                        beginning_of_pass_write_index: Some(2 * i as u32),
                        end_of_pass_write_index: Some(2 * i as u32 + 1),
                    };
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("profiled dispatch"), timestamp_writes: Some(writes) });
                    pass.set_pipeline(&d.pipeline);
                    pass.set_bind_group(0, &d.bind_group, &[]);
                    pass.dispatch_workgroups(d.groups[0], d.groups[1], d.groups[2]);
                }
            }
            encoder.resolve_query_set(&qs, 0..queries, &resolve, 0);
            encoder.copy_buffer_to_buffer(&resolve, 0, &read, 0, bytes);
            gpu.queue.submit([encoder.finish()]);
            let ticks = map_u64s(gpu, &read, bytes)?;
            let profile = self.profile.get_or_insert_with(Profile::default);
            let ns = |a: u64, b: u64| b.saturating_sub(a) as f64 * period;
            for (i, d) in chunk.iter().enumerate() {
                let t = match gpu.timestamps {
                    Timestamps::InsidePasses => ns(ticks[i], ticks[i + 1]),
                    _ => ns(ticks[2 * i], ticks[2 * i + 1]),
                };
                let e = profile.rows.entry((d.kernel, d.shape)).or_insert((0, 0.0));
                e.0 += 1;
                e.1 += t;
            }
            profile.flushes += 1;
            profile.span_ns += ns(ticks[0], ticks[queries as usize - 1]);
        }
        Ok(())
    }

    /// The profile so far, most expensive first; empty when profiling is off.
    pub fn profile_rows(&self) -> Vec<ProfileRow> {
        let Some(p) = &self.profile else { return Vec::new() };
        let mut rows: Vec<ProfileRow> = p
            .rows
            .iter()
            .map(|((k, shape), (calls, ns))| ProfileRow { kernel: format!("{k:?}"), shape: *shape, calls: *calls, total_ns: *ns })
            .collect();
        rows.sort_by(|a, b| b.total_ns.total_cmp(&a.total_ns));
        rows
    }

    /// Profiled flushes and their summed GPU time (first to last timestamp of each).
    pub fn profile_span(&self) -> (u64, f64) {
        self.profile.as_ref().map_or((0, 0.0), |p| (p.flushes, p.span_ns))
    }

    pub fn reset_profile(&mut self) {
        if let Some(p) = &mut self.profile {
            *p = Profile::default();
        }
    }
}

fn map_u64s(gpu: &Gpu, buf: &wgpu::Buffer, bytes: u64) -> Result<Vec<u64>, WebGpuError> {
    let fail = |reason: String| WebGpuError::Gpu { adapter: gpu.name.clone(), context: "reading timestamps".into(), reason };
    let (tx, rx) = std::sync::mpsc::channel();
    buf.map_async(wgpu::MapMode::Read, 0..bytes, move |r| {
        let _ = tx.send(r);
    });
    gpu.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| fail(e.to_string()))?;
    rx.recv().map_err(|e| fail(e.to_string()))?.map_err(|e| fail(e.to_string()))?;
    let out = {
        let view = buf.get_mapped_range(0..bytes).map_err(|e| fail(e.to_string()))?;
        bytemuck::pod_collect_to_vec::<u8, u64>(&view)
    };
    buf.unmap();
    Ok(out)
}
