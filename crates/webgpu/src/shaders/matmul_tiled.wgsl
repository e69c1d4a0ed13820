// matmul_tiled: out[t][m] = Σ_k W[m][k] · x[t][k] for chunks of many tokens (prefill), then
// epilogue (see lora.wgsl). Same bindings and parameters as matmul.wgsl.
// Thread mapping: one workgroup of 256 threads (16 × 16) per tile of BM = 64 weight rows (wid.x) ×
// BT = 64 tokens (wid.y); thread (tx, ty) owns rows 4ty .. 4ty + 3 and tokens 4tx .. 4tx + 3 of the
// tile. The K axis is walked one 32-element unit at a time: 64 threads each decode one weight row's
// unit (quant/<type>.wgsl) into workgroup memory, all 256 stage the 64 tokens' x values, then every
// thread does 4 × 4 × 32 multiply-adds from workgroup memory (vec4 reads), so a weight is decoded
// once per tile instead of once per token and x is read once per 64 rows.
// Precision: f32 products and f32 accumulation in k order.

const BM: u32 = 64u;
const BT: u32 = 64u;
const BK: u32 = 32u;

struct Params {
    k: u32,
    m: u32,
    t: u32,
    row_offset: u32,
    rows: u32,
    row_stride: u32,
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

// ws[k][row] and xs[k][token] of the current unit, as vec4 over 4 consecutive rows / tokens.
var<workgroup> ws: array<vec4<f32>, 512>; // BK × BM / 4
var<workgroup> xs: array<vec4<f32>, 512>; // BK × BT / 4

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row0 = wid.x * BM;
    let tok0 = wid.y * BT;
    let tx = lid % 16u;
    let ty = lid / 16u;
    var acc: array<vec4<f32>, 4>; // acc[i][j]: row 4ty + i, token 4tx + j
    let n_units = (p.k + 31u) / 32u;
    for (var u = 0u; u < n_units; u++) {
        let e0 = u * 32u;
        if (lid < BM) {
            let row = min(row0 + lid, p.rows - 1u);
            let wv = decode_unit(row * p.row_stride, u);
            for (var q = 0u; q < 8u; q++) {
                let e = vec4<u32>(e0 + 4u * q) + vec4<u32>(0u, 1u, 2u, 3u);
                let v = select(vec4<f32>(0.0), wv[q], e < vec4<u32>(p.k));
                for (var i = 0u; i < 4u; i++) {
                    ws[(4u * q + i) * (BM / 4u) + lid / 4u][lid % 4u] = v[i];
                }
            }
        }
        // x: thread stages token lid / 4, elements 8 (lid % 4) .. + 7 of the unit.
        let tt = lid / 4u;
        let tok = tok0 + tt;
        for (var i = 0u; i < 8u; i++) {
            let kk = 8u * (lid % 4u) + i;
            let e = e0 + kk;
            var v = 0.0;
            if (tok < p.t && e < p.k) {
                v = x[tok * p.k + e];
            }
            xs[kk * (BT / 4u) + tt / 4u][tt % 4u] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let wv = ws[kk * (BM / 4u) + ty];
            let xv = xs[kk * (BT / 4u) + tx];
            acc[0] += wv.x * xv;
            acc[1] += wv.y * xv;
            acc[2] += wv.z * xv;
            acc[3] += wv.w * xv;
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let row = row0 + 4u * ty + i;
        if (row < p.rows) {
            let col = p.row_offset + row;
            for (var j = 0u; j < 4u; j++) {
                let tok = tok0 + 4u * tx + j;
                if (tok < p.t) {
                    store_out(p.epilogue, acc[i][j], col, tok * p.m + col);
                }
            }
        }
    }
}
