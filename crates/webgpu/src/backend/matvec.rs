//! One-token matvecs held back so that independent ones share a dispatch, and the element-wise ops
//! after them folded into their epilogue.
//!
//! Held jobs form two stages: stage 1 runs first, stage 2 after all of stage 1 (so a LoRA's down
//! projection goes to stage 1 and its up projection, which reads the down projection's output, to
//! stage 2). Jobs of one stage run in any order, so a job joins a stage only if it shares no buffer
//! with the jobs it could overtake in a way that changes a result (read after write, write after
//! read, write after write); buffers are compared by id (every activation is its own buffer). Any
//! other op, a read or a flush first records the held jobs: stage 1, then stage 2, each as
//! dispatches of at most `mv_max_jobs` jobs (matvec_gen.rs).

use gguf::GgmlType;

use super::{epi, grid_rows, WebGpuBackend};
use crate::buffers::{GpuAct, GpuWeight, MatrixPart, Tracked};
use crate::kernels::{matvec_lanes, Kernel, MvKernel, MATVEC_WG};
use crate::matvec_gen::{MAX_MV_JOBS, MV_JOB_BINDINGS, MV_JOB_WORDS};
use crate::WebGpuError;

/// One `out = epilogue(W·x)` for one token over one weight part, with the ops folded into it.
pub(super) struct MvJob {
    pub ty: GgmlType,
    /// Lanes per row group.
    pub tpr: u32,
    pub items: u32,
    pub cols: u32,
    pub rows: u32,
    /// First weight row (= first output column).
    pub row_offset: u32,
    /// vec4<u32> per stored row.
    pub row_stride: u32,
    pub epilogue: u32,
    pub has_bias: bool,
    /// w, x, bias, out, resid, aux.
    pub bufs: [(u64, wgpu::Buffer); 6],
    pub stage: u8,
}

impl MvJob {
    /// Buffer ids the job reads (no allocation: this runs for every pair of held jobs each token).
    fn reads(&self) -> impl Iterator<Item = u64> + '_ {
        let resid = self.epilogue & epi::USES_RESID != 0;
        let aux = self.epilogue & epi::VALUE_RESIDUAL != 0;
        [Some(self.bufs[0].0), Some(self.bufs[1].0), self.has_bias.then_some(self.bufs[2].0), resid.then_some(self.bufs[4].0), aux.then_some(self.bufs[5].0)]
            .into_iter()
            .flatten()
    }

    fn writes(&self) -> impl Iterator<Item = u64> + '_ {
        let resid = self.epilogue & epi::USES_RESID != 0;
        [Some(self.bufs[3].0), resid.then_some(self.bufs[4].0)].into_iter().flatten()
    }

    fn touches(&self, id: u64) -> bool {
        self.reads().any(|r| r == id) || self.writes().any(|w| w == id)
    }
}

/// Whether two jobs must keep their order: one writes what the other reads or writes.
fn conflict(a: &MvJob, b: &MvJob) -> bool {
    a.writes().any(|id| b.touches(id)) || b.writes().any(|id| a.reads().any(|r| r == id))
}

/// The held jobs in recording order: stage 1, then stage 2, in groups of at most `max`.
fn dispatch_groups(jobs: &[MvJob], max: usize) -> Vec<Vec<&MvJob>> {
    let mut groups = Vec::new();
    for stage in [1, 2] {
        let of_stage: Vec<&MvJob> = jobs.iter().filter(|j| j.stage == stage).collect();
        groups.extend(of_stage.chunks(max.max(1)).map(<[&MvJob]>::to_vec));
    }
    groups
}

/// Puts `job` in the first stage of `held` it may join, or gives it back when it fits neither
/// and the held jobs must be recorded first.
fn hold(held: &mut Vec<MvJob>, mut job: MvJob, max: usize) -> Result<(), MvJob> {
    match stage_for(held, &job, max) {
        Some(s) => {
            job.stage = s;
            held.push(job);
            Ok(())
        }
        None => Err(job),
    }
}

/// The stage a new job may join behind `pending` (at most `max` jobs a stage), or `None` when the
/// held jobs must be recorded first.
fn stage_for(pending: &[MvJob], job: &MvJob, max: usize) -> Option<u8> {
    let in_stage = |s: u8| pending.iter().filter(|p| p.stage == s).count();
    let hits = |s: u8| pending.iter().any(|p| p.stage == s && conflict(p, job));
    if hits(2) {
        None
    } else if hits(1) {
        (in_stage(2) < max).then_some(2)
    } else if in_stage(1) < max {
        Some(1)
    } else {
        (in_stage(2) < max).then_some(2)
    }
}

impl WebGpuBackend {
    /// Sets the most one-token matvecs one dispatch may take (1 turns folding off; capped by the
    /// adapter's storage bindings and MAX_MV_JOBS).
    pub fn set_fold_matvecs(&mut self, jobs: usize) {
        self.emit_matvecs();
        let by_limit = (self.gpu.limits.max_storage_buffers_per_shader_stage / MV_JOB_BINDINGS) as usize;
        self.opts.fold_matvecs = jobs;
        self.mv_max_jobs = jobs.min(by_limit).clamp(1, MAX_MV_JOBS);
    }

    /// Whether new matvec groupings compile on a background thread (see `WebGpuOptions`).
    pub fn set_compile_in_background(&mut self, on: bool) {
        self.opts.compile_in_background = on;
    }

    /// Waits until every kernel compiling in the background is ready (benchmarks call it after
    /// warm-up, so timed steps run the final kernels).
    pub fn finish_compiles(&mut self) -> Result<(), WebGpuError> {
        self.rec.pipelines.finish(&self.gpu)
    }

    /// Most one-token matvecs one dispatch takes on this adapter with these options.
    pub fn matvec_jobs_per_dispatch(&self) -> usize {
        self.mv_max_jobs
    }

    /// The job `out = epilogue(W·x + bias)` over one part of `w` (a matrix of a type with
    /// `items` matvec work items per row).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn matvec_job(&self, w: &GpuWeight, items: u32, part: &MatrixPart, x: &GpuAct, out: &GpuAct, epilogue: u32, bias: Option<&GpuWeight>) -> MvJob {
        let GpuWeight::Matrix { ty, cols, row_words, .. } = w else {
            unreachable!("matvec jobs are made for matrices");
        };
        let t = |t: &Tracked| (t.id, t.buffer.clone());
        MvJob {
            ty: *ty,
            tpr: matvec_lanes(items),
            items,
            cols: *cols as u32,
            rows: part.rows as u32,
            row_offset: part.first_row as u32,
            row_stride: (*row_words / 4) as u32,
            epilogue,
            has_bias: bias.is_some(),
            bufs: [t(&part.buf), t(&x.buf), t(bias.map(GpuWeight::vectors).unwrap_or(&self.dummies[0])), t(&out.buf), t(&self.dummies[1]), t(&self.dummies[2])],
            stage: 1,
        }
    }

    /// Holds `job` back in the first stage it may join, recording the held jobs first when it fits
    /// neither.
    pub(super) fn queue_matvec(&mut self, job: MvJob) {
        if let Err(job) = hold(&mut self.mv_pending, job, self.mv_max_jobs) {
            self.emit_matvecs();
            self.mv_pending.push(MvJob { stage: 1, ..job });
        }
    }

    /// Plans, during a many-token step, the one-token dispatches its matmuls would make in a decode
    /// step (same ops, same dependencies), and starts compiling the groupings in the background: so
    /// a prefill readies the decode kernels before the first decode step needs them.
    pub(super) fn shadow_matvec(&mut self, job: MvJob) {
        if let Err(job) = hold(&mut self.mv_shadow, job, self.mv_max_jobs) {
            self.emit_shadow();
            self.mv_shadow.push(MvJob { stage: 1, ..job });
        }
    }

    /// Ends a shadow plan (see `shadow_matvec`): starts compiling each planned grouping.
    pub(super) fn emit_shadow(&mut self) {
        if self.mv_shadow.is_empty() {
            return;
        }
        let jobs = std::mem::take(&mut self.mv_shadow);
        for group in dispatch_groups(&jobs, self.mv_max_jobs).iter().filter(|g| g.len() > 1) {
            let kernel = Kernel::Matvec(self.mv_kernel(group));
            // Only a head start: a failure shows when the kernel is needed.
            let _ = self.rec.pipelines.get_or_start(&self.gpu, kernel);
        }
    }

    /// Folds an element-wise op that reads the output `out_id` of a held job into that job's
    /// epilogue (`bits`; `resid` and `aux` bound for it), when the job's epilogue has none of
    /// `forbid` and moving the op there changes no other held job's view of memory.
    pub(super) fn fold_matvec(&mut self, out_id: u64, bits: u32, forbid: u32, resid: Option<&Tracked>, aux: Option<&Tracked>) -> bool {
        let Some(at) = self.mv_pending.iter().rposition(|j| j.bufs[3].0 == out_id) else { return false };
        let job = &self.mv_pending[at];
        if job.epilogue & forbid != 0 {
            return false;
        }
        let own = [job.bufs[0].0, job.bufs[1].0, job.bufs[2].0, job.bufs[3].0];
        let extra: Vec<u64> = resid.iter().chain(aux.iter()).map(|t| t.id).collect();
        if extra.iter().any(|id| own.contains(id)) || (extra.len() == 2 && extra[0] == extra[1]) {
            return false;
        }
        // The op reads out, resid and aux and writes resid (and out, for relu_square).
        let mut reads = vec![out_id];
        reads.extend(&extra);
        let mut writes: Vec<u64> = resid.iter().map(|t| t.id).collect();
        if bits & epi::RELU_SQUARE != 0 {
            writes.push(out_id);
        }
        let stage = job.stage;
        let blocked = self.mv_pending.iter().enumerate().any(|(i, p)| {
            let hit = writes.iter().any(|id| p.touches(*id)) || p.writes().any(|id| reads.contains(&id));
            // A stage-1 job runs before a stage-2 one, as it was recorded.
            i != at && hit && !(stage == 2 && p.stage == 1)
        });
        if blocked {
            return false;
        }
        let job = &mut self.mv_pending[at];
        job.epilogue |= bits;
        if let Some(r) = resid {
            job.bufs[4] = (r.id, r.buffer.clone());
        }
        if let Some(a) = aux {
            job.bufs[5] = (a.id, a.buffer.clone());
        }
        true
    }

    /// Records the held jobs: stage 1, then stage 2, at most `mv_max_jobs` per dispatch.
    pub(super) fn emit_matvecs(&mut self) {
        if self.mv_pending.is_empty() {
            return;
        }
        let jobs = std::mem::take(&mut self.mv_pending);
        for group in dispatch_groups(&jobs, self.mv_max_jobs) {
            self.record_matvecs(&group);
        }
    }

    /// The kernel variant of one dispatch over `jobs`.
    fn mv_kernel(&self, jobs: &[&MvJob]) -> MvKernel {
        let mut kernel = MvKernel { nr: self.opts.matvec_rows, jobs: [None; MAX_MV_JOBS] };
        for (slot, j) in kernel.jobs.iter_mut().zip(jobs) {
            *slot = Some((j.ty, j.tpr));
        }
        kernel
    }

    /// One matvec dispatch over `jobs` (at most MAX_MV_JOBS), each on its own range of workgroups.
    pub(super) fn record_matvecs(&mut self, jobs: &[&MvJob]) {
        let nr = self.opts.matvec_rows;
        let kernel = self.mv_kernel(jobs);
        let mut params = vec![0u32; 4 + MV_JOB_WORDS * jobs.len()];
        let mut bufs: Vec<(u64, &wgpu::Buffer)> = Vec::with_capacity(6 * jobs.len());
        let mut total = 0u32;
        for (i, j) in jobs.iter().enumerate() {
            let per_wg = MATVEC_WG / j.tpr * nr;
            let at = 4 + MV_JOB_WORDS * i;
            params[at..at + MV_JOB_WORDS].copy_from_slice(&[j.cols, j.rows, j.row_offset, j.row_stride, j.epilogue, j.items, total, 0]);
            total += j.rows.div_ceil(per_wg);
            bufs.extend(j.bufs.iter().map(|(id, b)| (*id, b)));
        }
        if jobs.len() > 1 && self.opts.compile_in_background {
            // A new grouping compiles in the background; its jobs go out one by one meanwhile.
            match self.rec.pipelines.get_or_start(&self.gpu, Kernel::Matvec(kernel)) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    for j in jobs {
                        self.record_matvecs(&[j]);
                    }
                    return;
                }
                Err(e) => {
                    self.rec.deferred.get_or_insert(e);
                    return;
                }
            }
        }
        let (gx, gy) = grid_rows(total as usize, self.gpu.limits.max_compute_workgroups_per_dimension);
        params[0] = gx;
        params[1] = jobs.len() as u32;
        let rows: u32 = jobs.iter().map(|j| j.rows).sum();
        let shape = [rows, jobs[0].cols, jobs.len() as u32];
        self.rec.dispatch(&self.gpu, Kernel::Matvec(kernel), &params, &bufs, [gx, gy, 1], shape);
    }
}
