//! Recording a step: each op becomes one or more dispatches (pipeline, cached bind group, grid)
//! appended to a list; `flush` encodes the whole list into ONE compute pass and submits it once.
//! Bind groups, with their small uniform parameter buffers, are made once per (kernel, buffers,
//! parameters) and reused: a model allocates its activations once per chunk size, so steady-state
//! decode creates nothing.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::context::Gpu;
use crate::kernels::{Kernel, Pipelines};
use crate::WebGpuError;

struct Dispatch {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    groups: [u32; 3],
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct BindKey {
    kernel: Kernel,
    buffers: Vec<u64>,
    params: Vec<u32>,
}

pub(crate) struct Recorder {
    pub pipelines: Pipelines,
    cache: HashMap<BindKey, wgpu::BindGroup>,
    pending: Vec<Dispatch>,
    /// Ids of dropped buffers, whose bind groups must go.
    pub graveyard: Arc<Mutex<Vec<u64>>>,
    /// The first error an op hit (ops cannot return one); reported at the next flush.
    pub deferred: Option<WebGpuError>,
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            pipelines: Pipelines::default(),
            cache: HashMap::new(),
            pending: Vec::new(),
            graveyard: Arc::default(),
            deferred: None,
        }
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
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
    /// and `buffers` at bindings 1, 2, ... (in the kernel's order).
    pub fn dispatch(&mut self, gpu: &Gpu, kernel: Kernel, params: &[u32], buffers: &[(u64, &wgpu::Buffer)], groups: [u32; 3]) {
        if groups.contains(&0) {
            return;
        }
        if let Err(e) = self.try_dispatch(gpu, kernel, params, buffers, groups) {
            self.deferred.get_or_insert(e);
        }
    }

    fn try_dispatch(
        &mut self,
        gpu: &Gpu,
        kernel: Kernel,
        params: &[u32],
        buffers: &[(u64, &wgpu::Buffer)],
        groups: [u32; 3],
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
        self.pending.push(Dispatch { pipeline, bind_group, groups });
        Ok(())
    }

    /// Encodes every pending dispatch into one compute pass, then `extra` (copies after the pass),
    /// and submits once. Queue writes made before this call land before the pass runs.
    pub fn flush(&mut self, gpu: &Gpu, extra: impl FnOnce(&mut wgpu::CommandEncoder)) -> Result<(), WebGpuError> {
        if let Some(e) = self.deferred.take() {
            self.pending.clear();
            return Err(e);
        }
        let mut encoder = gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("aviary step") });
        if !self.pending.is_empty() {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("aviary step"), timestamp_writes: None });
            for d in &self.pending {
                pass.set_pipeline(&d.pipeline);
                pass.set_bind_group(0, &d.bind_group, &[]);
                pass.dispatch_workgroups(d.groups[0], d.groups[1], d.groups[2]);
            }
        }
        extra(&mut encoder);
        gpu.queue.submit([encoder.finish()]);
        self.pending.clear();
        gpu.check_errors("step")
    }
}
