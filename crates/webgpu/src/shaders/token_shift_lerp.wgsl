// token_shift_lerp: with prev[0] = shift and prev[t] = x[t − 1]:
//   outs[i][t] = x[t] + (prev[t] − x[t]) · mu[i]   for i < n_out (up to 6 outputs), then shift = x[T − 1].
// x: [T, C]; shift: [1, C]; mu: [n_out, C]; outs: [T, C] each (unused out bindings are dummies).
// Thread mapping: one thread per column, looping over the tokens in order, so the thread that reads
// shift[j] is the one that overwrites it (no race). Exact (one f32 lerp per value).
// keep_shift ≠ 0 leaves shift unchanged (token_shift_lora6's first step: later dispatches of that op
// still need the old shift, and the backend updates it after them).

struct Params {
    cols: u32,
    rows: u32,
    n_out: u32,
    keep_shift: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> shift: array<f32>;
@group(0) @binding(3) var<storage, read> mu: array<f32>;
@group(0) @binding(4) var<storage, read_write> out0: array<f32>;
@group(0) @binding(5) var<storage, read_write> out1: array<f32>;
@group(0) @binding(6) var<storage, read_write> out2: array<f32>;
@group(0) @binding(7) var<storage, read_write> out3: array<f32>;
@group(0) @binding(8) var<storage, read_write> out4: array<f32>;
@group(0) @binding(9) var<storage, read_write> out5: array<f32>;

fn store(i: u32, idx: u32, v: f32) {
    switch i {
        case 0u: { out0[idx] = v; }
        case 1u: { out1[idx] = v; }
        case 2u: { out2[idx] = v; }
        case 3u: { out3[idx] = v; }
        case 4u: { out4[idx] = v; }
        default: { out5[idx] = v; }
    }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= p.cols) {
        return;
    }
    var prev = shift[j];
    for (var t = 0u; t < p.rows; t++) {
        let cur = x[t * p.cols + j];
        let d = prev - cur;
        for (var i = 0u; i < p.n_out; i++) {
            store(i, t * p.cols + j, cur + d * mu[i * p.cols + j]);
        }
        prev = cur;
    }
    if (p.keep_shift == 0u) {
        shift[j] = prev;
    }
}
