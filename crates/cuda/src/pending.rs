//! One-token matrix-vector products held back so that independent ones share a launch, and small
//! element-wise ops that follow them ride along in their epilogue.
//!
//! The queue has two stages: stage 1 runs first, stage 2 after all of stage 1 (so a LoRA's down
//! projection goes to stage 1 and its up projection, which reads the down projection's output, to
//! stage 2). Jobs of one stage run in any order, so a job joins a stage only when it shares no
//! buffer with the jobs it could overtake in a way that changes a result (read after write, write
//! after read, write after write). Buffers are device byte ranges, compared by overlap.
//!
//! Folding an element-wise op into the job that produced its input (`x += y`, `x = relu(x)²`,
//! `v += (v_first − v)·mix`) is allowed under the same rule, the op counted as part of that job.
//! This module only plans: [`plan_launches`] turns jobs into descriptor tables and grid sizes for
//! matvec.cu; the backend uploads the tables and issues the launches.

use crate::formats::Format;
use crate::tuning::Tuning;

/// Descriptors per launch (matches nothing in matvec.cu: the table is read through a pointer).
pub(crate) const MV_MAX_DESCS: usize = 8;
/// u64 words per descriptor (`struct MvDesc` in matvec.cu).
pub(crate) const MV_DESC_WORDS: usize = 16;

/// A device byte range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub ptr: u64,
    pub bytes: u64,
}

impl Span {
    pub fn f32s(ptr: u64, len: usize) -> Span {
        Span { ptr, bytes: 4 * len as u64 }
    }
    fn overlaps(&self, o: &Span) -> bool {
        self.ptr < o.ptr + o.bytes && o.ptr < self.ptr + self.bytes
    }
}

/// One `out = epi(W·x + bias)` for one token, plus the element-wise ops folded into it.
#[derive(Clone, Debug)]
pub(crate) struct MvJob {
    pub format: &'static Format,
    pub w: u64,
    pub row_bytes: u64,
    pub m: usize,
    pub k: usize,
    pub x: Span,
    pub out: Span,
    /// 0 for none.
    pub bias: u64,
    pub epi: i32,
    pub add_to: Option<Span>,
    /// (v, v_first) of a folded value residual.
    pub vr: Option<(Span, Span)>,
}

/// Epilogue numbers of matvec.cu.
pub(crate) const EPI_NONE: i32 = 0;
pub(crate) const EPI_RELU_SQ: i32 = 5;

/// The few spans one job reads or writes, on the stack: the conflict checks below run for every
/// pair of held jobs on every token.
#[derive(Clone, Copy)]
struct Spans {
    items: [Span; 4],
    len: usize,
}

impl Spans {
    fn of(spans: impl IntoIterator<Item = Span>) -> Spans {
        let mut out = Spans { items: [Span { ptr: 0, bytes: 0 }; 4], len: 0 };
        for s in spans {
            out.items[out.len] = s;
            out.len += 1;
        }
        out
    }
    fn as_slice(&self) -> &[Span] {
        &self.items[..self.len]
    }
}

impl MvJob {
    /// x, then a folded add's target, then a folded value residual's v and v_first.
    fn reads(&self) -> Spans {
        Spans::of([self.x].into_iter().chain(self.add_to).chain(self.vr.into_iter().flat_map(|(v, first)| [v, first])))
    }
    /// out, then a folded add's target, then a folded value residual's v.
    fn writes(&self) -> Spans {
        Spans::of([self.out].into_iter().chain(self.add_to).chain(self.vr.map(|(v, _)| v)))
    }
}

/// Whether an op reading `reads` and writing `writes` may run in either order with `job`.
fn clashes(job: &MvJob, reads: &[Span], writes: &[Span]) -> bool {
    let (jr, jw) = (job.reads(), job.writes());
    let (jr, jw) = (jr.as_slice(), jw.as_slice());
    writes.iter().any(|w| jr.iter().chain(jw).any(|s| s.overlaps(w))) || reads.iter().any(|r| jw.iter().any(|s| s.overlaps(r)))
}

/// The jobs of `jobs` but the one at `skip`.
fn except(jobs: &[MvJob], skip: usize) -> impl Iterator<Item = &MvJob> {
    jobs.iter().enumerate().filter(move |&(i, _)| i != skip).map(|(_, j)| j)
}

/// The queue; see the module doc.
#[derive(Default)]
pub(crate) struct MvQueue {
    pub stage1: Vec<MvJob>,
    pub stage2: Vec<MvJob>,
}

impl MvQueue {
    pub fn is_empty(&self) -> bool {
        self.stage1.is_empty() && self.stage2.is_empty()
    }

    /// Takes every job, stage 1 first.
    pub fn take(&mut self) -> (Vec<MvJob>, Vec<MvJob>) {
        (std::mem::take(&mut self.stage1), std::mem::take(&mut self.stage2))
    }

    /// Whether `job` may join stage 1 (it would run before every queued job).
    pub fn fits_stage1(&self, job: &MvJob) -> bool {
        let (r, w) = (job.reads(), job.writes());
        !self.stage1.iter().chain(&self.stage2).any(|j| clashes(j, r.as_slice(), w.as_slice()))
    }

    /// Whether `job` may join stage 2 (after stage 1, beside the queued stage-2 jobs).
    pub fn fits_stage2(&self, job: &MvJob) -> bool {
        let (r, w) = (job.reads(), job.writes());
        !self.stage2.iter().any(|j| clashes(j, r.as_slice(), w.as_slice()))
    }

    /// Finds the job writing exactly `out` and checks that an op reading `reads` and writing
    /// `writes` may be folded into it: it must not touch the job's input, and must not clash
    /// with the jobs that could run beside or after it. Returns (stage, index).
    fn producer(&self, out: Span, reads: &[Span], writes: &[Span]) -> Option<(usize, usize)> {
        let found = self
            .stage1
            .iter()
            .position(|j| j.out == out)
            .map(|i| (1, i))
            .or_else(|| self.stage2.iter().position(|j| j.out == out).map(|i| (2, i)))?;
        let job = if found.0 == 1 { &self.stage1[found.1] } else { &self.stage2[found.1] };
        if job.add_to.is_some() || job.vr.is_some() {
            return None;
        }
        // The fused op runs per row inside the job while other rows still read x: it must not
        // write x, and its other buffers must not be the job's input or output.
        if writes.iter().any(|w| w.overlaps(&job.x)) || reads.iter().chain(writes).any(|s| *s != out && s.overlaps(&job.out)) {
            return None;
        }
        // The jobs that may run beside or after the producer.
        let clash = |j: &MvJob| clashes(j, reads, writes);
        let blocked = match found.0 {
            1 => except(&self.stage1, found.1).chain(&self.stage2).any(clash),
            _ => except(&self.stage2, found.1).any(clash),
        };
        if blocked {
            return None;
        }
        Some(found)
    }

    fn job_mut(&mut self, (stage, i): (usize, usize)) -> &mut MvJob {
        if stage == 1 {
            &mut self.stage1[i]
        } else {
            &mut self.stage2[i]
        }
    }

    /// Folds `x += y` into the job that writes `y`, if allowed.
    pub fn fold_add(&mut self, x: Span, y: Span) -> bool {
        if x.overlaps(&y) {
            return false;
        }
        match self.producer(y, &[x, y], &[x]) {
            Some(at) => {
                self.job_mut(at).add_to = Some(x);
                true
            }
            None => false,
        }
    }

    /// Folds `x = max(x, 0)²` into the job that writes `x`, if its epilogue is plain.
    pub fn fold_relu_square(&mut self, x: Span) -> bool {
        match self.producer(x, &[x], &[x]) {
            Some(at) if self.job_mut(at).epi == EPI_NONE => {
                self.job_mut(at).epi = EPI_RELU_SQ;
                true
            }
            _ => false,
        }
    }

    /// Folds `v += (v_first − v)·mix` into the job that writes `mix`, if allowed.
    pub fn fold_value_residual(&mut self, v: Span, v_first: Span, mix: Span) -> bool {
        if v.overlaps(&mix) || v.overlaps(&v_first) {
            return false;
        }
        match self.producer(mix, &[v, v_first, mix], &[v]) {
            Some(at) => {
                self.job_mut(at).vr = Some((v, v_first));
                true
            }
            None => false,
        }
    }
}

/// One launch of matvec.cu.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MvLaunch {
    /// `mv_<format>_r<R>`.
    pub kernel: String,
    pub blocks: u32,
    pub threads: u32,
    /// The descriptor table, `MV_DESC_WORDS` per descriptor.
    pub words: Vec<u64>,
    /// Dynamic shared memory for the copy of x (0: x is read from global memory).
    pub shared_bytes: u32,
    /// The kernel's `mode` argument: 0 float path with x from global memory, 1 float path with x in
    /// shared memory, 2 integer path (see matvec.cu).
    pub mode: i32,
}

/// Threads per block on matvec.cu's integer path (about one block per SM: each block converts all
/// of x once, so fewer, larger blocks waste less).
const MV_INT_THREADS: usize = 512;

/// Shared memory the integer path needs for x of `k` elements: three byte planes and a (scale, sum)
/// pair per 32 elements.
fn int_shared_bytes(k: usize) -> usize {
    3 * k + k / 4
}

/// Rows from which the integer path may put 2 rows in a group.
const INT_TWO_ROWS_MIN_M: usize = 8192;

/// Whether `job` runs on the integer path (Q4_K only, for now).
fn int_path(job: &MvJob, tuning: &Tuning, shared_limit: usize) -> bool {
    tuning.mv_int && job.format.name == "q4_k" && job.k % 256 == 0 && int_shared_bytes(job.k) <= shared_limit
}

/// (rows per group, threads per group) on the integer path for a job given `cap` blocks. One-token
/// matvecs of a few MB are latency-bound: a lane waits about one memory latency per step (one unit
/// of each of its rows), so the shape with the fewest steps per block wins: rounds of the grid
/// (row groups past `cap` blocks' worth wait for a second round) times units per lane. Ties go to
/// more blocks. Lanes per group are powers of two from the largest that divides the row's 64-element
/// units (equal shares) to a warp; 2 rows per group when the tuning allows and M ≥ 8192.
fn int_shape(job: &MvJob, tuning: &Tuning, cap: usize) -> (usize, usize) {
    // Two rows per group only pay on tall matrices (kernel_bench, H200: 65536×2560 30.0 µs against
    // 35.9 with one row; 2560×2560 7.0 against 6.0 and 2560×10240 13.5 against 12.7 the other way).
    let rows: &[usize] = if job.m >= INT_TWO_ROWS_MIN_M { &[2, 1] } else { &[1] };
    let mut best = (usize::MAX, 0usize, (1usize, 1usize));
    for &r in rows.iter().filter(|&&r| r <= rows_per_group(job, tuning)) {
        let (cost, blocks, tpr) = int_lanes(job, r, cap);
        if cost < best.0 || (cost == best.0 && blocks > best.1) {
            best = (cost, blocks, (r, tpr));
        }
    }
    best.2
}

/// For `r` rows per group: (cost, blocks, lanes per group) of the best lane count (see int_shape).
fn int_lanes(job: &MvJob, r: usize, cap: usize) -> (usize, usize, usize) {
    let units = job.k / 64;
    let top = (1usize << (usize::BITS - 1 - units.max(1).leading_zeros())).min(32);
    let mut best = (usize::MAX, 0usize, 1usize);
    let mut tpr = (units & units.wrapping_neg()).clamp(1, top);
    while tpr <= top {
        let blocks = job.m.div_ceil(r).div_ceil(MV_INT_THREADS / tpr);
        let cost = blocks.div_ceil(cap.max(1)) * units.div_ceil(tpr);
        if cost < best.0 || (cost == best.0 && blocks > best.1) {
            best = (cost, blocks, tpr);
        }
        tpr *= 2;
    }
    best
}

/// Each job's share of a launch's `mv_int_blocks`, by rows.
fn int_caps(jobs: &[&MvJob], tuning: &Tuning) -> Vec<usize> {
    let rows: usize = jobs.iter().map(|j| j.m).sum::<usize>().max(1);
    jobs.iter().map(|j| (tuning.mv_int_blocks * j.m / rows).max(1)).collect()
}

/// Units matvec.cu's decoder for `format` cuts a row of `k` elements into.
fn mv_units(format: &Format, k: usize) -> usize {
    match format.name {
        "q6_kr" => k / 256 * 4,
        _ => format.units_per_row(k),
    }
}

/// Rows per thread group for `job`.
fn rows_per_group(job: &MvJob, tuning: &Tuning) -> usize {
    if format_is_quantized(job.format) && job.m >= 512 {
        tuning.mv_rows
    } else {
        1
    }
}

fn format_is_quantized(f: &Format) -> bool {
    f.block_elems >= 32
}

/// Threads per row group: at least one unit per thread, at most 256, widened past a warp only
/// while the launch would have fewer than `target` threads.
pub(crate) fn threads_per_row(units: usize, row_groups: usize, target: usize) -> usize {
    let floor_pow2 = |n: usize| if n == 0 { 1 } else { 1usize << (usize::BITS - 1 - n.leading_zeros()) };
    let mut tpr = floor_pow2(units).min(32);
    while tpr < 256 && tpr * 2 <= units && row_groups * tpr < target {
        tpr *= 2;
    }
    tpr
}

/// The kernel for `job`: F16 and F32 rows share `mv_mix_r1` (a layer's LoRAs mix the two).
fn kernel_for(job: &MvJob, tuning: &Tuning, shared_limit: usize) -> String {
    match job.format.name {
        "f16v" | "f32v" => "mv_mix_r1".to_string(),
        // The launch's other jobs are not known yet: R is chosen for the job alone.
        name if int_path(job, tuning, shared_limit) => format!("mv_{name}_r{}", int_shape(job, tuning, tuning.mv_int_blocks).0),
        name => format!("mv_{name}_r{}", rows_per_group(job, tuning)),
    }
}

/// An integer-path launch: each job gets blocks for all its row groups, scaled down together to
/// about `mv_int_blocks` (every job keeps at least one); a block then walks row groups
/// b, b + blocks, ... (the descriptor's `pad1` word holds its block count).
fn plan_int_launch(kernel: String, jobs: &[&MvJob], tuning: &Tuning) -> MvLaunch {
    // R is fixed by the kernel name; lanes per group follow each job's share of the blocks.
    let r_fixed = if kernel.ends_with("_r2") { 2 } else { 1 };
    let shapes: Vec<(usize, usize)> = jobs
        .iter()
        .zip(int_caps(jobs, tuning))
        .map(|(j, cap)| (r_fixed, int_lanes(j, r_fixed, cap).2))
        .collect();
    let needed: Vec<usize> =
        jobs.iter().zip(&shapes).map(|(j, &(r, tpr))| j.m.div_ceil(r).div_ceil(MV_INT_THREADS / tpr)).collect();
    let total: usize = needed.iter().sum();
    let cap = tuning.mv_int_blocks.max(jobs.len());
    let blocks: Vec<usize> =
        needed.iter().map(|&n| if total <= cap { n } else { (n * cap).div_ceil(total).clamp(1, n) }).collect();
    let k_max = jobs.iter().map(|j| j.k).max().unwrap_or(0);
    let mut words = Vec::with_capacity(jobs.len() * MV_DESC_WORDS);
    let mut start = 0usize;
    for ((j, &(_, tpr)), &nb) in jobs.iter().zip(&shapes).zip(&blocks) {
        let mut d = desc_words(j, tpr, start);
        d[14] = nb as u64;
        words.extend_from_slice(&d);
        start += nb;
    }
    MvLaunch {
        kernel,
        blocks: start as u32,
        threads: MV_INT_THREADS as u32,
        words,
        shared_bytes: int_shared_bytes(k_max).next_multiple_of(16) as u32,
        mode: 2,
    }
}

/// The `MvDesc` words of `j` (matvec.cu), its blocks starting at `start`.
fn desc_words(j: &MvJob, tpr: usize, start: usize) -> [u64; MV_DESC_WORDS] {
    let (add_to, (vr_v, vr_first)) = (j.add_to.map_or(0, |s| s.ptr), j.vr.map_or((0, 0), |(v, f)| (v.ptr, f.ptr)));
    [
        j.w,
        j.x.ptr,
        j.out.ptr,
        j.bias,
        add_to,
        vr_v,
        vr_first,
        j.row_bytes,
        j.m as u64,
        j.k as u64,
        j.epi as u64,
        tpr as u64,
        start as u64,
        u64::from(j.format.name == "f32v"),
        0,
        0,
    ]
}

/// Groups `jobs` (all of one stage) by kernel, in order of first appearance, at most
/// `MV_MAX_DESCS` per launch, and sizes each launch. `shared_limit`: the most dynamic shared
/// memory a block may take (x is read from global memory past it).
pub(crate) fn plan_launches(jobs: &[MvJob], tuning: &Tuning, shared_limit: usize) -> Vec<MvLaunch> {
    let mut groups: Vec<(String, Vec<&MvJob>)> = Vec::new();
    for job in jobs {
        let kernel = kernel_for(job, tuning, shared_limit);
        match groups.iter_mut().find(|(k, g)| *k == kernel && g.len() < MV_MAX_DESCS) {
            Some((_, g)) => g.push(job),
            None => groups.push((kernel, vec![job])),
        }
    }
    groups
        .into_iter()
        .map(|(kernel, jobs)| {
            if jobs.iter().all(|j| int_path(j, tuning, shared_limit)) {
                return plan_int_launch(kernel, &jobs, tuning);
            }
            let sizes: Vec<(usize, usize)> = jobs
                .iter()
                .map(|j| {
                    let r = rows_per_group(j, tuning);
                    (r, threads_per_row(mv_units(j.format, j.k), j.m.div_ceil(r), tuning.mv_target_threads))
                })
                .collect();
            let threads = if sizes.iter().any(|&(_, tpr)| tpr > 128) { 256 } else { 128 };
            // The swizzle permutes float4s within aligned groups of four: room for whole groups.
            let x_bytes = 4 * jobs.iter().map(|j| j.k).max().unwrap_or(0).next_multiple_of(16);
            // Float rows read x in whole coalesced 16-byte pieces: shared memory only costs them
            // (occupancy, the copy), so only the block formats' scattered reads get it.
            let smem_ok = tuning.mv_smem
                && jobs.iter().all(|j| j.k % 4 == 0 && format_is_quantized(j.format))
                && x_bytes <= shared_limit;
            let shared_bytes = if smem_ok { x_bytes as u32 } else { 0 };
            let mut words = Vec::with_capacity(jobs.len() * MV_DESC_WORDS);
            let mut start = 0usize;
            for (j, &(r, tpr)) in jobs.iter().zip(&sizes) {
                let rows_per_block = threads / tpr * r;
                words.extend_from_slice(&desc_words(j, tpr, start));
                start += j.m.div_ceil(rows_per_block);
            }
            let mode = i32::from(shared_bytes > 0);
            MvLaunch { kernel, blocks: start as u32, threads: threads as u32, words, shared_bytes, mode }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats;
    use gguf::GgmlType;

    fn span(i: u64) -> Span {
        Span::f32s(0x1_0000 * i, 1024)
    }

    fn job(x: u64, out: u64) -> MvJob {
        MvJob {
            format: formats::for_type(GgmlType::Q4_K, 1024).unwrap(),
            w: 0xdead_0000,
            row_bytes: 576,
            m: 1024,
            k: 1024,
            x: span(x),
            out: span(out),
            bias: 0,
            epi: EPI_NONE,
            add_to: None,
            vr: None,
        }
    }

    #[test]
    fn independent_jobs_share_a_stage_and_dependent_ones_do_not() {
        let mut q = MvQueue::default();
        q.stage1.push(job(1, 2));
        assert!(q.fits_stage1(&job(1, 3)), "two readers of one input");
        assert!(!q.fits_stage1(&job(2, 3)), "reads the queued job's output");
        assert!(!q.fits_stage1(&job(3, 2)), "writes the queued job's output");
        assert!(!q.fits_stage1(&job(3, 1)), "writes the queued job's input");
        // A LoRA: down projection 1 → 4 in stage 1, up projection 4 → 5 in stage 2.
        q.stage1.push(job(1, 4));
        assert!(q.fits_stage2(&job(4, 5)));
        q.stage2.push(job(4, 5));
        assert!(!q.fits_stage1(&job(1, 4)), "would overwrite the up projection's input before it runs");
        assert!(!q.fits_stage2(&job(5, 6)), "reads a stage-2 output");
        assert!(q.fits_stage2(&job(2, 6)), "stage 2 runs after stage 1");
        // Overlap, not equality, decides.
        let mut part = job(1, 7);
        part.x = Span { ptr: span(4).ptr + 64, bytes: 64 };
        assert!(!q.fits_stage1(&part));
    }

    #[test]
    fn folds_respect_the_other_jobs() {
        let mut q = MvQueue::default();
        q.stage1.push(job(1, 2));
        assert!(!q.fold_add(span(1), span(2)), "x is the job's input");
        assert!(q.fold_add(span(3), span(2)));
        assert_eq!(q.stage1[0].add_to, Some(span(3)));
        assert!(!q.fold_add(span(5), span(2)), "one fold per job");

        let mut q = MvQueue::default();
        q.stage1.push(job(1, 2));
        q.stage2.push(job(2, 4));
        assert!(!q.fold_relu_square(span(2)), "a stage-2 job reads the value before the relu");
        assert!(q.fold_relu_square(span(4)));
        assert_eq!(q.stage2[0].epi, EPI_RELU_SQ);

        // Value residual on a stage-2 output; v written by a stage-1 job is fine (runs before).
        let mut q = MvQueue::default();
        q.stage1.push(job(1, 8));
        q.stage1.push(job(1, 2));
        q.stage2.push(job(2, 4));
        assert!(q.fold_value_residual(span(8), span(9), span(4)));
        assert_eq!(q.stage2[0].vr, Some((span(8), span(9))));
        // Later jobs see the fold: reading v now clashes.
        assert!(!q.fits_stage1(&job(8, 10)));
        // But the same fold on a stage-1 output clashes with a stage-1 writer of v.
        let mut q = MvQueue::default();
        q.stage1.push(job(1, 8));
        q.stage1.push(job(1, 4));
        assert!(!q.fold_value_residual(span(8), span(9), span(4)));
    }

    #[test]
    fn launches_group_by_kernel_and_size_their_grids() {
        let mut tuning = Tuning::default();
        tuning.mv_int = false;
        let mut f16 = job(1, 5);
        f16.format = formats::for_type(GgmlType::F16, 1024).unwrap();
        f16.m = 96;
        let jobs = [job(1, 2), f16.clone(), job(1, 3)];
        let launches = plan_launches(&jobs, &tuning, 48 * 1024);
        assert_eq!(launches.len(), 2);
        assert_eq!(launches[0].shared_bytes, 4096, "x (1024 floats) goes to shared memory");
        assert_eq!(launches[0].kernel, "mv_q4_k_r2");
        assert_eq!(launches[0].words.len(), 2 * MV_DESC_WORDS);
        // 1024 rows, 32 units per row: 32 threads per group, 4 groups of 2 rows per 128-thread block.
        assert_eq!((launches[0].threads, launches[0].blocks), (128, 2 * 128));
        assert_eq!(launches[0].words[MV_DESC_WORDS + 12], 128, "second descriptor starts after the first's blocks");
        // 96 rows of 128 f16 units: widened to 128 threads per row, one row per block.
        assert_eq!(launches[1].kernel, "mv_mix_r1");
        assert_eq!((launches[1].threads, launches[1].blocks), (128, 96));
        let many: Vec<MvJob> = (0..11).map(|i| job(1, 20 + i)).collect();
        let launches = plan_launches(&many, &tuning, 1024);
        assert!(launches.iter().all(|l| l.shared_bytes == 0), "x does not fit the limit");
        assert_eq!(launches.iter().map(|l| l.words.len() / MV_DESC_WORDS).collect::<Vec<_>>(), [8, 3]);
    }

    #[test]
    fn q4_k_takes_the_integer_path_with_a_capped_grid() {
        let tuning = Tuning::default();
        // Two 1024×2560 jobs (40 units per row: 8 lanes per group), 2 rows per group.
        let mut a = job(1, 2);
        a.k = 2560;
        let mut b = a.clone();
        b.out = span(3);
        let l = plan_launches(&[a.clone(), b], &tuning, 48 * 1024);
        assert_eq!(l.len(), 1);
        assert_eq!((l[0].kernel.as_str(), l[0].mode, l[0].threads), ("mv_q4_k_r1", 2, 512));
        assert_eq!(l[0].shared_bytes as usize, 3 * 2560 + 640);
        // 1024 rows do not fill 132 × 512 threads: one row per group, then wider groups (32 lanes,
        // 16 groups per block): 64 blocks each.
        assert_eq!(l[0].words[11], 32);
        assert_eq!((l[0].words[14], l[0].words[MV_DESC_WORDS + 12], l[0].words[MV_DESC_WORDS + 14]), (64, 64, 64));
        assert_eq!(l[0].blocks, 128);
        // A big matrix keeps 2 rows per group and exact shares, and its grid is capped.
        a.m = 65536;
        let l = plan_launches(&[a.clone()], &tuning, 48 * 1024);
        assert_eq!((l[0].kernel.as_str(), l[0].words[11], l[0].blocks), ("mv_q4_k_r2", 8, 132));
        assert_eq!(l[0].words[14], 132);
        // Too little shared memory, or switched off: the float path.
        let l = plan_launches(&[a.clone()], &tuning, 4096);
        assert_eq!((l[0].mode, l[0].threads), (0, 128));
        let mut off = tuning.clone();
        off.mv_int = false;
        assert_eq!(plan_launches(&[a], &off, 48 * 1024)[0].mode, 1);
    }

    #[test]
    fn integer_path_shapes_for_a_2_9b_model() {
        let tuning = Tuning::default();
        let shape = |m: usize, k: usize| {
            let mut j = job(1, 2);
            (j.m, j.k) = (m, k);
            int_shape(&j, &tuning, 132)
        };
        // (rows per group, lanes per group): the kernel_bench winners on the H200.
        assert_eq!(shape(2560, 2560), (1, 16));
        assert_eq!(shape(10240, 2560), (2, 8));
        assert_eq!(shape(2560, 10240), (1, 32));
        assert_eq!(shape(65536, 2560), (2, 8));
        let mut one = tuning.clone();
        one.mv_rows = 1;
        let mut j = job(1, 2);
        (j.m, j.k) = (65536, 2560);
        assert_eq!(int_shape(&j, &one, 132), (1, 8));
    }

    #[test]
    fn float_rows_read_x_from_global_memory() {
        let mut j = job(1, 2);
        j.format = formats::for_type(GgmlType::F16, 1024).unwrap();
        let l = plan_launches(&[j], &Tuning::default(), 48 * 1024);
        assert_eq!((l[0].kernel.as_str(), l[0].shared_bytes, l[0].mode), ("mv_mix_r1", 0, 0));
    }

    #[test]
    fn shared_x_is_whole_swizzle_groups() {
        let mut j = job(1, 2);
        j.format = formats::for_type(GgmlType::Q8_0, 1056).unwrap();
        j.k = 1056;
        let l = plan_launches(&[j], &Tuning::default(), 48 * 1024);
        assert_eq!((l[0].shared_bytes, l[0].mode), (4 * 1056, 1));
    }

    #[test]
    fn threads_per_row_stays_within_the_row_and_the_block() {
        assert_eq!(threads_per_row(80, 1280, 33792), 32);
        assert_eq!(threads_per_row(12, 2560, 33792), 8);
        assert_eq!(threads_per_row(320, 96, 33792), 256);
        assert_eq!(threads_per_row(1, 10, 33792), 1);
        assert_eq!(threads_per_row(100, 10, 100), 32);
    }
}
