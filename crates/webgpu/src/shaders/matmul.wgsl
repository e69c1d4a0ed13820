// matmul: out[t][m] = Σ_k W[m][k] · x[t][k], then epilogue (see lora.wgsl).
// W: one part of a weight (rows row_offset .. row_offset + rows of [M, K]) in its stored type, decoded
// by the type's decode_unit (quant/<type>.wgsl) 32 elements at a time; x: [T, K] f32; out: [T, M] f32.
// Thread mapping: one workgroup of WG threads per (weight row, tile of TT tokens); the row index is
// wid.x + wid.y · grid_x (rows may exceed one grid dimension), the token tile is wid.z. Each thread
// takes units lid, lid + WG, ... of the row, decodes each unit once and dots it with the TT token rows
// of the tile, so a weight row is read once per tile (decode: T = 1, one tile). The TT sums per thread
// are reduced with subgroupAdd or through workgroup memory (reduce_*.wgsl).
// Precision: f32 products and f32 accumulation (per thread in unit order, then a tree).

struct Params {
    k: u32,          // elements per weight row (= columns of x)
    m: u32,          // columns of out (all rows of the weight)
    t: u32,          // token rows of x and out
    row_offset: u32, // first weight row of this part
    rows: u32,       // weight rows in this part
    row_stride: u32, // u32 words per stored row
    epilogue: u32,
    grid_x: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> resid: array<f32>;
@group(0) @binding(6) var<storage, read> aux: array<f32>;

fn x4(i: u32) -> vec4<f32> {
    return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
}

// x[i .. i + 4] with elements at or past `end` (the end of the token's row) read as 0.
fn x4_masked(i: u32, end: u32) -> vec4<f32> {
    let idx = vec4<u32>(i, i + 1u, i + 2u, i + 3u);
    let v = vec4<f32>(x[min(idx.x, end - 1u)], x[min(idx.y, end - 1u)], x[min(idx.z, end - 1u)], x[min(idx.w, end - 1u)]);
    return select(vec4<f32>(0.0), v, idx < vec4<u32>(end));
}

@compute @workgroup_size(WG)
fn main(ids: Ids) {
    let row = ids.wid.x + ids.wid.y * p.grid_x;
    let t0 = ids.wid.z * TT;
    var acc: array<f32, TT>;
    if (row < p.rows) {
        let row_base = row * p.row_stride;
        let n_units = (p.k + 31u) / 32u;
        let nt = min(TT, p.t - t0);
        for (var u = ids.lid; u < n_units; u += WG) {
            var wv = decode_unit(row_base, u);
            let e0 = u * 32u;
            if (e0 + 32u <= p.k) {
                for (var tt = 0u; tt < nt; tt++) {
                    let xb = (t0 + tt) * p.k + e0;
                    var s = 0.0;
                    for (var q = 0u; q < 8u; q++) {
                        s += dot(wv[q], x4(xb + 4u * q));
                    }
                    acc[tt] += s;
                }
            } else {
                // The row's last, partial unit (float types with K not a multiple of 32).
                for (var q = 0u; q < 8u; q++) {
                    let e = vec4<u32>(e0 + 4u * q) + vec4<u32>(0u, 1u, 2u, 3u);
                    wv[q] = select(vec4<f32>(0.0), wv[q], e < vec4<u32>(p.k));
                }
                for (var tt = 0u; tt < nt; tt++) {
                    let xrow = (t0 + tt) * p.k;
                    var s = 0.0;
                    for (var q = 0u; q < 8u; q++) {
                        s += dot(wv[q], x4_masked(xrow + e0 + 4u * q, xrow + p.k));
                    }
                    acc[tt] += s;
                }
            }
        }
    }
    reduce_tile(&acc, ids);
    if (row < p.rows && ids.lid < TT && t0 + ids.lid < p.t) {
        let col = p.row_offset + row;
        store_out(p.epilogue, reduced[ids.lid], col, (t0 + ids.lid) * p.m + col);
    }
}
