// matvec: out[m] = Σ_k W[m][k] · x[k] for one token (decode), then epilogue (see lora.wgsl), for up
// to JOBS independent (W, x, out) jobs in one dispatch: a layer's matvecs that do not depend on each
// other (r, k, v and the LoRA down projections) share a launch instead of paying one each.
// The generator (matvec_gen.rs) copies the part below the marker once per job j, with `$J` → `_j`, `$N` → j and
// `$TPR` → the job's lanes per row group, and adds `main`, which hands each workgroup to the job whose
// range of workgroups (Job.first_wg ..) holds it: a uniform branch, so barriers stay legal.
// W: one part of a weight (rows row_offset .. row_offset + rows of [M, K]) in its stored type, rows
// padded to whole 16-byte words (layout.rs) and read as vec4<u32>; x: [1, K] f32 read as vec4<f32>;
// out: [1, M] f32. The type file (matvec/<type>.wgsl) splits a row into `items` work items of 16-byte
// loads and defines `accumulate$J`, which adds one item's partial dot products for NR rows, loading
// the x values it needs once for all NR rows (x is re-read by every row group, so sharing it cuts the
// L1 traffic that would otherwise bound the kernel).
// Thread mapping: WG = 256 threads = WG / TPR groups of TPR lanes (32 .. 256, chosen per job so each
// lane gets a few items: long rows get more lanes, which keeps enough loads in flight when a matrix
// has few rows); group g of the job's workgroup i owns NR consecutive rows; lane l takes items
// l, l + TPR, ... of them. The TPR partial sums per row are reduced with subgroupAdd or in
// workgroup memory (matvec_reduce_*.wgsl).
// Precision: f32 products and f32 accumulation.

const WG: u32 = 256u;
// Rows of a workgroup at the fewest lanes per row (32).
const MAX_ROWS_PER_WG: u32 = WG / 32u * NR;

struct Job {
    k: u32,          // elements per weight row (= columns of x)
    rows: u32,       // weight rows in this part
    row_offset: u32, // first weight row of this part (= first output column)
    row_stride: u32, // vec4<u32> per stored row
    epilogue: u32,
    items: u32,      // work items per row
    first_wg: u32,   // first workgroup of this job
    pad: u32,
}

struct Params {
    grid_x: u32,
    jobs: u32,
    pad0: u32,
    pad1: u32,
    job: array<Job, JOBS>,
}

@group(0) @binding(0) var<uniform> p: Params;

// ---- per job ----
@group(0) @binding($B0) var<storage, read> w$J: array<vec4<u32>>;
@group(0) @binding($B1) var<storage, read> x$J: array<vec4<f32>>;
@group(0) @binding($B2) var<storage, read> bias$J: array<f32>;
@group(0) @binding($B3) var<storage, read_write> out$J: array<f32>;
@group(0) @binding($B4) var<storage, read_write> resid$J: array<f32>;
@group(0) @binding($B5) var<storage, read> aux$J: array<f32>;

// store_out of lora.wgsl for this job's bindings (one token: the index is the column).
fn store$J(kind: u32, v: f32, col: u32) {
    var z = v;
    if ((kind & 8u) != 0u) {
        z += bias$J[col];
    }
    z = activate(kind, z);
    out$J[col] = z;
    if ((kind & 32u) != 0u) {
        resid$J[col] += z;
    }
    if ((kind & 64u) != 0u) {
        let v = resid$J[col];
        resid$J[col] = v + (aux$J[col] - v) * z;
    }
    if ((kind & 128u) != 0u) {
        resid$J[col] *= sigmoid(z);
    }
    if ((kind & 256u) != 0u) {
        resid$J[col] *= z * sigmoid(z);
    }
}

// Workgroup `wg` of job $J. Call from uniform control flow (it reduces across the workgroup).
fn job$J(ids: Ids, wg: u32) {
    let jp = p.job[$N];
    let first = wg * (WG / $TPR * NR);
    let g = ids.lid / $TPR;
    let lane = ids.lid % $TPR;
    let row0 = first + g * NR;
    // Rows past the part read its last row (valid memory) and are never stored.
    var base: array<u32, NR>;
    for (var r = 0u; r < NR; r++) {
        base[r] = min(row0 + r, jp.rows - 1u) * jp.row_stride;
    }
    var acc: array<f32, NR>;
    if (row0 < jp.rows) {
        // Two items per iteration, so their loads can be in flight together.
        var it = lane;
        for (; it + $TPR < jp.items; it += 2u * $TPR) {
            accumulate$J(&acc, &base, it);
            accumulate$J(&acc, &base, it + $TPR);
        }
        if (it < jp.items) {
            accumulate$J(&acc, &base, it);
        }
    }
    reduce_rows(&acc, ids, $TPR);
    if (ids.lid < WG / $TPR * NR) {
        let row = first + ids.lid;
        if (row < jp.rows) {
            store$J(jp.epilogue, red[ids.lid], jp.row_offset + row);
        }
    }
}
