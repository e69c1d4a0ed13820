//! The one-token matvec kernel for one or several independent jobs per dispatch: the WGSL source of
//! a `MvKernel` (its weight types, lanes per row group and rows per group), generated from
//! `shaders/matvec.wgsl` and the type files under `shaders/matvec/` by copying their per-job part
//! once per job.

use std::fmt;

use gguf::GgmlType;

/// Most jobs one matvec dispatch takes (each binds six storage buffers, so adapters with fewer
/// bindings per stage take fewer: `WebGpuBackend` caps it by the adapter's limit).
pub(crate) const MAX_MV_JOBS: usize = 8;
/// Storage buffers each job binds: w, x, bias, out, resid, aux.
pub(crate) const MV_JOB_BINDINGS: u32 = 6;
/// u32 words of one job's parameters (`struct Job` in matvec.wgsl).
pub(crate) const MV_JOB_WORDS: usize = 8;

/// One compiled matvec variant: rows per lane group and, per job, the weight type and lanes per row
/// group. Jobs are listed from the first; the rest are `None`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct MvKernel {
    pub nr: u32,
    pub jobs: [Option<(GgmlType, u32)>; MAX_MV_JOBS],
}

impl MvKernel {
    pub fn single(ty: GgmlType, nr: u32, tpr: u32) -> Self {
        let mut jobs = [None; MAX_MV_JOBS];
        jobs[0] = Some((ty, tpr));
        MvKernel { nr, jobs }
    }

    pub fn len(&self) -> usize {
        self.jobs.iter().take_while(|j| j.is_some()).count()
    }
}

/// Compact, for profile tables: `nr2 Q4_K/32+Q4_K/32+F16/128`.
impl fmt::Debug for MvKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "nr{} ", self.nr)?;
        for (i, (ty, tpr)) in self.jobs.iter().flatten().enumerate() {
            write!(f, "{}{}/{tpr}", if i > 0 { "+" } else { "" }, ty.name())?;
        }
        Ok(())
    }
}

/// The matvec item code of a type, if it has one.
pub(crate) fn items_source(ty: GgmlType) -> Option<&'static str> {
    Some(match ty {
        GgmlType::F32 => include_str!("shaders/matvec/f32.wgsl"),
        GgmlType::F16 => include_str!("shaders/matvec/f16.wgsl"),
        GgmlType::Q4_K => include_str!("shaders/matvec/q4_k.wgsl"),
        GgmlType::Q6_K => include_str!("shaders/matvec/q6_k.wgsl"),
        GgmlType::Q8_0 => include_str!("shaders/matvec/q8_0.wgsl"),
        _ => return None,
    })
}

const PER_JOB: &str = "// ---- per job ----\n";

/// Splits a source at its per-job marker: (shared part, per-job part).
fn split(src: &str) -> (&str, &str) {
    match src.find(PER_JOB) {
        Some(i) => (&src[..i], &src[i + PER_JOB.len()..]),
        None => (src, ""),
    }
}

/// The WGSL of `k`; `None` when a job's type has no matvec code.
pub(crate) fn source(k: &MvKernel, subgroups: bool) -> Option<String> {
    let n = k.len();
    if n == 0 {
        return None;
    }
    let reduce = if subgroups {
        include_str!("shaders/matvec_reduce_subgroup.wgsl")
    } else {
        include_str!("shaders/matvec_reduce_shared.wgsl")
    };
    let (shared, per_job) = split(include_str!("shaders/matvec.wgsl"));
    let mut out = format!("const NR: u32 = {}u;\nconst JOBS: u32 = {n}u;\n", k.nr);
    out += shared;
    out += reduce;
    out += include_str!("shaders/epilogue.wgsl");
    // Each type's helpers once, then every job's bindings, item code and body.
    let mut seen: Vec<GgmlType> = Vec::new();
    for (ty, _) in k.jobs.iter().flatten() {
        if !seen.contains(ty) {
            seen.push(*ty);
            out += split(items_source(*ty)?).0;
        }
    }
    for (j, (ty, tpr)) in k.jobs.iter().flatten().enumerate() {
        let mut body = String::from(per_job);
        body += split(items_source(*ty)?).1;
        for b in 0..MV_JOB_BINDINGS {
            body = body.replace(&format!("$B{b}"), &(1 + MV_JOB_BINDINGS * j as u32 + b).to_string());
        }
        out += &body.replace("$TPR", &format!("{tpr}u")).replace("$J", &format!("_{j}")).replace("$N", &j.to_string());
    }
    // Workgroups go to jobs by ranges; the branch is uniform across each workgroup.
    out += "\n@compute @workgroup_size(WG)\nfn main(ids: Ids) {\n    let flat = ids.wid.x + ids.wid.y * p.grid_x;\n";
    for j in (1..n).rev() {
        out += &format!("    if (flat >= p.job[{j}].first_wg) {{\n        job_{j}(ids, flat - p.job[{j}].first_wg);\n        return;\n    }}\n");
    }
    out += "    job_0(ids, flat);\n}\n";
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_copy_of_each_job_and_of_each_types_helpers() {
        let mut k = MvKernel::single(GgmlType::Q4_K, 2, 32);
        k.jobs[1] = Some((GgmlType::F16, 128));
        k.jobs[2] = Some((GgmlType::Q4_K, 32));
        let src = source(&k, true).unwrap();
        assert_eq!(src.matches("fn q4k_scale_min(").count(), 1);
        for j in 0..3 {
            assert_eq!(src.matches(&format!("fn job_{j}(")).count(), 1, "job {j}");
            assert_eq!(src.matches(&format!("fn accumulate_{j}(")).count(), 1, "job {j}");
        }
        let code = src.lines().filter(|l| !l.trim_start().starts_with("//"));
        assert!(!code.clone().any(|l| l.contains('$')), "placeholders left:\n{src}");
        assert!(src.contains("@binding(18) var<storage, read> aux_2"));
        assert_eq!(format!("{k:?}"), "nr2 Q4_K/32+F16/128+Q4_K/32");
    }
}
