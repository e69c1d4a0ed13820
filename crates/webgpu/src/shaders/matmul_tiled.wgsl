// matmul_tiled: out[t][m] = Σ_k W[m][k] · x[t][k] for chunks of many tokens (prefill), then
// epilogue (see lora.wgsl). Same bindings and parameters as matmul.wgsl.
// Thread mapping: one workgroup of 256 threads (16 × 16) per tile of BM weight rows (wid.x) ×
// BT = 64 tokens (wid.y); BM (64 or 128) is set by the host. Thread (tx, ty) = (lid % 16, lid / 16)
// owns rows 4tx .. 4tx + 3 (and 64 + 4tx .. 64 + 4tx + 3 when BM = 128) and tokens 4ty .. 4ty + 3 of
// the tile, as vec4 accumulators (one per token and row group) held in named registers: no array is
// indexed dynamically, so nothing spills to local memory.
// The K axis is walked one 32-element unit at a time through workgroup memory, software-pipelined:
// the next unit (threads 0..BM-1 decode one weight row's unit with the type's decode_unit; every
// thread loads 8 x values) is fetched into registers while the current one is multiplied, so global
// latency overlaps the multiply-adds. Per k each thread reads one vec4 of weights per row group (16
// distinct per subgroup) and one of x (2 distinct: a broadcast), so workgroup memory bandwidth is not
// the limit. A weight is decoded once per tile of 64 tokens; BM = 128 halves the x reads per FMA.
// Rows past the part's end read a clamped row and are not stored; tokens past T and columns past K
// read as 0. Precision: f32 products and f32 accumulation in k order.

const BT: u32 = 64u;

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

// ws[kk · 16 + r / 4][r % 4]: weight of tile row r at element kk of the unit; xs likewise per token.
var<workgroup> ws: array<vec4<f32>, 8u * BM>;
var<workgroup> xs: array<vec4<f32>, 512>;

// Stores elements 4q .. 4q + 3 of tile row `r`'s unit (transposed: one k per vec4 row).
fn put_w(q: u32, r: u32, v: vec4<f32>) {
    let at = 4u * q * (BM / 4u) + r / 4u;
    let c = r % 4u;
    ws[at][c] = v.x;
    ws[at + (BM / 4u)][c] = v.y;
    ws[at + 2u * (BM / 4u)][c] = v.z;
    ws[at + 3u * (BM / 4u)][c] = v.w;
}

// Stores x elements kk0 .. kk0 + 3 of tile token `tt`.
fn put_x(kk0: u32, tt: u32, v: vec4<f32>) {
    let at = kk0 * (BT / 4u) + tt / 4u;
    let c = tt % 4u;
    xs[at][c] = v.x;
    xs[at + (BT / 4u)][c] = v.y;
    xs[at + 2u * (BT / 4u)][c] = v.z;
    xs[at + 3u * (BT / 4u)][c] = v.w;
}

// Unit u of weight row `row`, elements at or past K zeroed (float types with K % 32 ≠ 0).
fn load_w(row: u32, u: u32) -> array<vec4<f32>, 8> {
    var wv = decode_unit(row * p.row_stride, u);
    let e0 = u * 32u;
    if (e0 + 32u > p.k) {
        for (var q = 0u; q < 8u; q++) {
            let e = vec4<u32>(e0 + 4u * q) + vec4<u32>(0u, 1u, 2u, 3u);
            wv[q] = select(vec4<f32>(0.0), wv[q], e < vec4<u32>(p.k));
        }
    }
    return wv;
}

// x[tok][e .. e + 3], zero past the row's end or for tokens past T.
fn load_x4(tok: u32, e: u32) -> vec4<f32> {
    if (tok >= p.t) {
        return vec4<f32>(0.0);
    }
    let base = tok * p.k;
    if (e + 4u <= p.k) {
        return vec4<f32>(x[base + e], x[base + e + 1u], x[base + e + 2u], x[base + e + 3u]);
    }
    var v = vec4<f32>(0.0);
    for (var i = 0u; i < 4u; i++) {
        if (e + i < p.k) {
            v[i] = x[base + e + i];
        }
    }
    return v;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row0 = wid.x * BM;
    let tok0 = wid.y * BT;
    let tx = lid % 16u;
    let ty = lid / 16u;
    // Staging roles: thread lid < BM decodes tile row lid; every thread loads token lid / 4,
    // elements 8 (lid % 4) .. + 7 of the unit.
    let wrow = min(row0 + lid, p.rows - 1u);
    let xt = lid / 4u;
    let xk = 8u * (lid % 4u);
    let n_units = (p.k + 31u) / 32u;

    var wreg: array<vec4<f32>, 8>;
    if (lid < BM) {
        wreg = load_w(wrow, 0u);
    }
    var xa = load_x4(tok0 + xt, xk);
    var xb = load_x4(tok0 + xt, xk + 4u);

    var acc0 = vec4<f32>(0.0); // token 4ty, rows 4tx .. 4tx + 3
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc4 = vec4<f32>(0.0); // token 4ty, rows 64 + 4tx .. (BM = 128)
    var acc5 = vec4<f32>(0.0);
    var acc6 = vec4<f32>(0.0);
    var acc7 = vec4<f32>(0.0);
    for (var u = 0u; u < n_units; u++) {
        if (lid < BM) {
            put_w(0u, lid, wreg[0]);
            put_w(1u, lid, wreg[1]);
            put_w(2u, lid, wreg[2]);
            put_w(3u, lid, wreg[3]);
            put_w(4u, lid, wreg[4]);
            put_w(5u, lid, wreg[5]);
            put_w(6u, lid, wreg[6]);
            put_w(7u, lid, wreg[7]);
        }
        put_x(xk, xt, xa);
        put_x(xk + 4u, xt, xb);
        workgroupBarrier();
        // Fetch the next unit while this one is multiplied.
        if (u + 1u < n_units) {
            if (lid < BM) {
                wreg = load_w(wrow, u + 1u);
            }
            xa = load_x4(tok0 + xt, 32u * (u + 1u) + xk);
            xb = load_x4(tok0 + xt, 32u * (u + 1u) + xk + 4u);
        }
        // Unrolled by hand (WGSL has no unroll directive): 4 k per iteration, loads first.
        for (var kk = 0u; kk < 32u; kk += 4u) {
            let w0 = ws[(kk + 0u) * (BM / 4u) + tx];
            let w1 = ws[(kk + 1u) * (BM / 4u) + tx];
            let w2 = ws[(kk + 2u) * (BM / 4u) + tx];
            let w3 = ws[(kk + 3u) * (BM / 4u) + tx];
            let x0 = xs[(kk + 0u) * (BT / 4u) + ty];
            let x1 = xs[(kk + 1u) * (BT / 4u) + ty];
            let x2 = xs[(kk + 2u) * (BT / 4u) + ty];
            let x3 = xs[(kk + 3u) * (BT / 4u) + ty];
            acc0 += w0 * x0.x;
            acc1 += w0 * x0.y;
            acc2 += w0 * x0.z;
            acc3 += w0 * x0.w;
            acc0 += w1 * x1.x;
            acc1 += w1 * x1.y;
            acc2 += w1 * x1.z;
            acc3 += w1 * x1.w;
            acc0 += w2 * x2.x;
            acc1 += w2 * x2.y;
            acc2 += w2 * x2.z;
            acc3 += w2 * x2.w;
            acc0 += w3 * x3.x;
            acc1 += w3 * x3.y;
            acc2 += w3 * x3.z;
            acc3 += w3 * x3.w;
            if (BM > 64u) {
                let v0 = ws[(kk + 0u) * (BM / 4u) + 16u + tx];
                let v1 = ws[(kk + 1u) * (BM / 4u) + 16u + tx];
                let v2 = ws[(kk + 2u) * (BM / 4u) + 16u + tx];
                let v3 = ws[(kk + 3u) * (BM / 4u) + 16u + tx];
                acc4 += v0 * x0.x;
                acc5 += v0 * x0.y;
                acc6 += v0 * x0.z;
                acc7 += v0 * x0.w;
                acc4 += v1 * x1.x;
                acc5 += v1 * x1.y;
                acc6 += v1 * x1.z;
                acc7 += v1 * x1.w;
                acc4 += v2 * x2.x;
                acc5 += v2 * x2.y;
                acc6 += v2 * x2.z;
                acc7 += v2 * x2.w;
                acc4 += v3 * x3.x;
                acc5 += v3 * x3.y;
                acc6 += v3 * x3.z;
                acc7 += v3 * x3.w;
            }
        }
        workgroupBarrier();
    }
    store4(row0 + 4u * tx, tok0 + 4u * ty, acc0);
    store4(row0 + 4u * tx, tok0 + 4u * ty + 1u, acc1);
    store4(row0 + 4u * tx, tok0 + 4u * ty + 2u, acc2);
    store4(row0 + 4u * tx, tok0 + 4u * ty + 3u, acc3);
    if (BM > 64u) {
        store4(row0 + 64u + 4u * tx, tok0 + 4u * ty, acc4);
        store4(row0 + 64u + 4u * tx, tok0 + 4u * ty + 1u, acc5);
        store4(row0 + 64u + 4u * tx, tok0 + 4u * ty + 2u, acc6);
        store4(row0 + 64u + 4u * tx, tok0 + 4u * ty + 3u, acc7);
    }
}

// Stores rows r .. r + 3 (of this part) of token `tok`, skipping rows and tokens out of range.
fn store4(r: u32, tok: u32, v: vec4<f32>) {
    if (tok >= p.t) {
        return;
    }
    for (var i = 0u; i < 4u; i++) {
        let row = r + i;
        if (row < p.rows) {
            let col = p.row_offset + row;
            store_out(p.epilogue, v[i], col, tok * p.m + col);
        }
    }
}
