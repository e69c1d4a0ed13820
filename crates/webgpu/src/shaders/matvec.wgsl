// matvec: out[m] = Σ_k W[m][k] · x[k] for one token (decode), then epilogue (see lora.wgsl).
// W: one part of a weight (rows row_offset .. row_offset + rows of [M, K]) in its stored type, rows
// padded to whole 16-byte words (layout.rs) and read as vec4<u32>; x: [1, K] f32 read as vec4<f32>;
// out: [1, M] f32. The type file (matvec/<type>.wgsl) splits a row into `items` work items of 16-byte
// loads and defines `accumulate`, which adds one item's partial dot products for NR rows, loading
// the x values it needs once for all NR rows (x is re-read by every row group, so sharing it cuts the
// L1 traffic that would otherwise bound the kernel).
// Thread mapping: WG = 256 threads = GROUPS groups of TPR lanes (32 .. 256, chosen per shape so each
// lane gets a few items: long rows get more lanes, which keeps enough loads in flight when a matrix
// has few rows); group g of workgroup wid.x + wid.y · grid_x owns NR consecutive rows; lane l takes
// items l, l + TPR, ... of them. The TPR partial sums per row are reduced with subgroupAdd or in
// workgroup memory (matvec_reduce_*.wgsl).
// Precision: f32 products and f32 accumulation.

const WG: u32 = 256u;
const GROUPS: u32 = WG / TPR;
const ROWS_PER_WG: u32 = GROUPS * NR;

struct Params {
    k: u32,          // elements per weight row (= columns of x)
    m: u32,          // columns of out (all rows of the weight)
    row_offset: u32, // first weight row of this part
    rows: u32,       // weight rows in this part
    row_stride: u32, // vec4<u32> per stored row
    epilogue: u32,
    grid_x: u32,
    items: u32,      // work items per row
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> resid: array<f32>;
@group(0) @binding(6) var<storage, read> aux: array<f32>;

@compute @workgroup_size(WG)
fn main(ids: Ids) {
    let first = (ids.wid.x + ids.wid.y * p.grid_x) * ROWS_PER_WG;
    let g = ids.lid / TPR;
    let lane = ids.lid % TPR;
    let row0 = first + g * NR;
    // Rows past the part read its last row (valid memory) and are never stored.
    var base: array<u32, NR>;
    for (var r = 0u; r < NR; r++) {
        base[r] = min(row0 + r, p.rows - 1u) * p.row_stride;
    }
    var acc: array<f32, NR>;
    if (row0 < p.rows) {
        // Two items per iteration, so their loads can be in flight together.
        var it = lane;
        for (; it + TPR < p.items; it += 2u * TPR) {
            accumulate(&acc, &base, it);
            accumulate(&acc, &base, it + TPR);
        }
        if (it < p.items) {
            accumulate(&acc, &base, it);
        }
    }
    reduce_rows(&acc, ids);
    if (ids.lid < ROWS_PER_WG) {
        let row = first + ids.lid;
        if (row < p.rows) {
            let col = p.row_offset + row;
            store_out(p.epilogue, red[ids.lid], col, col);
        }
    }
}
