// token_shift_lora6: outputs first .. first + n_out (at most 3) of RWKV-6's data-dependent token shift
// (spec §5.1), after the backend has written m = tanh(W1·xxx) to mid ([T, K·D]). With prev[0] = shift
// and prev[t] = x[t − 1], output i is
//   out_i[t][j] = x[t][j] + (prev[t][j] − x[t][j]) · (mu[i][j] + Σ_d W2[i·C + j][d] · m[t][i·D + d])
// W2: [K·C, D] in its stored type (decoded by quant/<type>.wgsl 32 elements at a time); x: [T, C];
// shift: [1, C] (read only: the backend updates it after the last output); mu: [K, C]; outs: [T, C].
// Three outputs per dispatch keep the kernel at 8 storage bindings (within the 9 the crate requires
// of an adapter), so K = 5 takes two dispatches; unused out bindings are dummies.
// Thread mapping: one thread per (column j, tile of TT tokens): gid.x = j, wid.y = token tile. For
// each output the thread decodes its W2 row once per unit and dots it with the tile's TT slices of mid.
// Precision: f32 products and f32 accumulation in d order.

const TT: u32 = 8u;

struct Params {
    cols: u32,       // C
    rows: u32,       // T
    first: u32,      // index of out0 among the K outputs
    n_out: u32,      // outputs written by this dispatch (1 to 3)
    d: u32,          // D, columns of W2
    mid_cols: u32,   // K·D
    row_stride: u32, // u32 words per stored W2 row
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> shift: array<f32>;
@group(0) @binding(4) var<storage, read> mu: array<f32>;
@group(0) @binding(5) var<storage, read> mid: array<f32>;
@group(0) @binding(6) var<storage, read_write> out0: array<f32>;
@group(0) @binding(7) var<storage, read_write> out1: array<f32>;
@group(0) @binding(8) var<storage, read_write> out2: array<f32>;

fn store(o: u32, idx: u32, v: f32) {
    switch o {
        case 0u: { out0[idx] = v; }
        case 1u: { out1[idx] = v; }
        default: { out2[idx] = v; }
    }
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let j = gid.x;
    if (j >= p.cols) {
        return;
    }
    let t0 = wid.y * TT;
    let nt = min(TT, p.rows - t0);
    let n_units = (p.d + 31u) / 32u;
    for (var o = 0u; o < p.n_out; o++) {
        let i = p.first + o;
        let row_base = (i * p.cols + j) * p.row_stride;
        let m0 = i * p.d;
        var acc: array<f32, TT>;
        for (var u = 0u; u < n_units; u++) {
            var wv = decode_unit(row_base, u);
            for (var q = 0u; q < 32u; q++) {
                let e = u * 32u + q;
                if (e >= p.d) {
                    break;
                }
                let we = wv[q / 4u][q % 4u];
                for (var tt = 0u; tt < nt; tt++) {
                    acc[tt] += we * mid[(t0 + tt) * p.mid_cols + m0 + e];
                }
            }
        }
        let mu_j = mu[i * p.cols + j];
        for (var tt = 0u; tt < nt; tt++) {
            let t = t0 + tt;
            let cur = x[t * p.cols + j];
            var prev = shift[j];
            if (t > 0u) {
                prev = x[(t - 1u) * p.cols + j];
            }
            store(o, t * p.cols + j, cur + (prev - cur) * (mu_j + acc[tt]));
        }
    }
}
