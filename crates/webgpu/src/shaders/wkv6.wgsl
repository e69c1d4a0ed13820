// wkv6: the WKV recurrence of RWKV-6 and RWKV-5 over the T rows of one sequence (spec §5.1). Per token
// t and head h (N = head size; slices h·N .. h·N + N of each [T, C] input), with S[i][j] (i = key,
// j = value) at state[h·N·N + i·N + j]:
//   y[j] = Σ_i r[i]·(u[i]·k[i]·v[j] + S[i][j]);   then S[i][j] ← S[i][j]·w[i] + k[i]·v[j].
// decay w: [T, C] when per_token (RWKV-6), else one [C] vector for every token (RWKV-5); u: [C].
// Thread mapping: one workgroup per head, N threads; thread j keeps state column j (every key i) in
// registers for the whole chunk, so it both produces y[j] and updates its own column (no races), and
// stages key channel j's r, k, w, u of each token into workgroup memory for the others. Tokens are
// processed in order inside the kernel. Precision: f32, the sum over i in key order like the scalar
// reference.

struct Params {
    cols: u32,
    rows: u32,
    per_token: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> r: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> decay: array<f32>;
@group(0) @binding(5) var<storage, read> u: array<f32>;
@group(0) @binding(6) var<storage, read_write> state: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;

var<workgroup> s_r: array<f32, N>;
var<workgroup> s_k: array<f32, N>;
var<workgroup> s_w: array<f32, N>;
var<workgroup> s_u: array<f32, N>;

@compute @workgroup_size(N)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) j: u32) {
    let hb = wid.x * N;
    let sbase = wid.x * N * N + j;
    var scol: array<f32, N>;
    for (var i = 0u; i < N; i++) {
        scol[i] = state[sbase + i * N];
    }
    s_u[j] = u[hb + j];
    for (var t = 0u; t < p.rows; t++) {
        let idx = t * p.cols + hb + j;
        s_r[j] = r[idx];
        s_k[j] = k[idx];
        s_w[j] = decay[select(hb + j, idx, p.per_token != 0u)];
        workgroupBarrier();
        let vj = v[idx];
        var acc = 0.0;
        for (var i = 0u; i < N; i++) {
            let kv = s_k[i] * vj;
            let s = scol[i];
            acc += s_r[i] * (s_u[i] * kv + s);
            scol[i] = s * s_w[i] + kv;
        }
        y[idx] = acc;
        workgroupBarrier();
    }
    for (var i = 0u; i < N; i++) {
        state[sbase + i * N] = scol[i];
    }
}
