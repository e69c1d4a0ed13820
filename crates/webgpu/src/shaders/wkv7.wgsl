// wkv7: the RWKV-7 recurrence over the T rows of one sequence (spec §4.3). Per token t and head h
// (N = head size; slices h·N .. h·N + N of each [T, C] input):
//   kk = k ⊙ k_k / max(‖k ⊙ k_k‖₂, 1e−12);   k ← k ⊙ (1 + (a − 1) ⊙ k_a)   (written back into k)
//   per value row i: sa = Σ_j S[i][j]·(−kk[j]);
//     S[i][j] ← S[i][j]·decay[j] + sa·kk[j]·a[j] + v[i]·k[j];   y[i] = Σ_j S[i][j]·r[j]
// state: [H, N·N], S[h][i][j] at h·N·N + i·N + j.
// Thread mapping: one workgroup per head, N threads; thread i keeps state row i in registers for the
// whole chunk and also stages key column i of each token into workgroup memory. All tokens of the
// chunk are processed in order inside the kernel. The state moves between memory and the rows of the
// threads through a padded workgroup tile (TR rows at a time, TR set by the host so the tile stays
// near 16 KiB): loads and stores are coalesced (consecutive threads, consecutive words) where reading
// row i straight into thread i would touch a new 32-byte sector per thread and word. The padding
// (row pitch N + 1) keeps the transposed reads free of bank conflicts. Precision: f32 throughout.

struct Params {
    cols: u32,
    rows: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> r: array<f32>;
@group(0) @binding(2) var<storage, read> decay: array<f32>;
@group(0) @binding(3) var<storage, read_write> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read> a: array<f32>;
@group(0) @binding(6) var<storage, read> k_k: array<f32>;
@group(0) @binding(7) var<storage, read> k_a: array<f32>;
@group(0) @binding(8) var<storage, read_write> state: array<f32>;
@group(0) @binding(9) var<storage, read_write> y: array<f32>;

var<workgroup> s_kk: array<f32, N>;
var<workgroup> s_sq: array<f32, N>;
var<workgroup> s_k: array<f32, N>;
var<workgroup> s_decay: array<f32, N>;
var<workgroup> s_a: array<f32, N>;
var<workgroup> s_r: array<f32, N>;
var<workgroup> s_tile: array<f32, TR * (N + 1u)>;

@compute @workgroup_size(N)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) i: u32) {
    let hb = wid.x * N;
    let hbase = wid.x * N * N;
    var srow: array<f32, N>;
    for (var rb = 0u; rb < N; rb += TR) {
        for (var jj = 0u; jj < TR; jj++) {
            if (rb + jj < N) {
                s_tile[jj * (N + 1u) + i] = state[hbase + (rb + jj) * N + i];
            }
        }
        workgroupBarrier();
        if (i >= rb && i < rb + TR) {
            for (var j = 0u; j < N; j++) {
                srow[j] = s_tile[(i - rb) * (N + 1u) + j];
            }
        }
        workgroupBarrier();
    }
    for (var t = 0u; t < p.rows; t++) {
        let idx = t * p.cols + hb + i;
        let kv = k[idx];
        let av = a[idx];
        let kkv = kv * k_k[hb + i];
        s_kk[i] = kkv;
        s_sq[i] = kkv * kkv;
        let kt = kv * (1.0 + (av - 1.0) * k_a[hb + i]);
        s_k[i] = kt;
        s_decay[i] = decay[idx];
        s_a[i] = av;
        s_r[i] = r[idx];
        k[idx] = kt;
        workgroupBarrier();
        var norm = 0.0;
        for (var j = 0u; j < N; j++) {
            norm += s_sq[j];
        }
        let inv = 1.0 / max(sqrt(norm), 1e-12);
        let vi = v[idx];
        var sa = 0.0;
        for (var j = 0u; j < N; j++) {
            sa -= srow[j] * (s_kk[j] * inv);
        }
        var acc = 0.0;
        for (var j = 0u; j < N; j++) {
            let kkj = s_kk[j] * inv;
            let sj = srow[j] * s_decay[j] + sa * kkj * s_a[j] + vi * s_k[j];
            srow[j] = sj;
            acc += sj * s_r[j];
        }
        y[idx] = acc;
        workgroupBarrier();
    }
    for (var rb = 0u; rb < N; rb += TR) {
        if (i >= rb && i < rb + TR) {
            for (var j = 0u; j < N; j++) {
                s_tile[(i - rb) * (N + 1u) + j] = srow[j];
            }
        }
        workgroupBarrier();
        for (var jj = 0u; jj < TR; jj++) {
            if (rb + jj < N) {
                state[hbase + (rb + jj) * N + i] = s_tile[jj * (N + 1u) + i];
            }
        }
        workgroupBarrier();
    }
}
