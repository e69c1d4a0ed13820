// wkv7: the RWKV-7 recurrence over the T rows of one sequence, in order (spec §4.3). Per token t and
// head h (N = head size; inputs [T, C], C = H·N, column h·N + j):
//   kk = k ⊙ k_k / max(‖k ⊙ k_k‖₂, 1e−12);   k ← k ⊙ (1 + (a − 1) ⊙ k_a)   (written back)
//   for each value row i:  sa = Σ_j S[i][j]·(−kk[j])
//       S[i][j] ← S[i][j]·decay[j] + sa·kk[j]·a[j] + v[i]·k[j];   y[i] = Σ_j S[i][j]·r[j]
// state [H, N, N], S[h][i][j] at h·N·N + i·N + j (i = value, j = key).
//
// Thread mapping: one block per head (grid H), ceil(N / 32)·32 threads; thread i < N owns value row
// i of S, held in shared memory for the whole call (rows padded to N + 1 floats: no bank conflicts),
// and also computes key column i of kk and k. Dynamic shared memory: (N·(N+1) + 5·N + 32) floats.
// Precision: f32 throughout, as the CPU reference (sums in a different order).
// With `state_rows` (a batched decode step) row b is the one token of sequence b, whose state is at
// state_rows[b].

extern "C" __global__ void wkv7(const float* r, const float* decay, float* k, const float* v, const float* a,
                                const float* k_k, const float* k_a, float* state, float* y, int T, int C, int N,
                                const u64* state_rows) {
    pdl_entry();
    extern __shared__ float sm[];
    if (state_rows) {
        // Batched decode (grid H × B, T = 1): row blockIdx.y is the one token of its own sequence.
        const u64 o = (u64)blockIdx.y * C;
        state = (float*)state_rows[blockIdx.y];
        r += o, decay += o, k += o, v += o, a += o, y += o;
    }
    const int P = N + 1;
    float* S = sm;
    float* s_kk = S + N * P;
    float* s_k = s_kk + N;
    float* s_w = s_k + N;
    float* s_r = s_w + N;
    float* s_a = s_r + N;
    float* red = s_a + N;
    const int h = blockIdx.x, i = threadIdx.x;
    const bool active = i < N;
    float* Sg = state + (u64)h * N * N;
    for (int idx = threadIdx.x; idx < N * N; idx += blockDim.x) S[(idx / N) * P + idx % N] = Sg[idx];
    __syncthreads();

    for (int t = 0; t < T; ++t) {
        const u64 o = (u64)t * C + h * N + i;
        float kv = 0.0f, kk = 0.0f;
        if (active) {
            kv = k[o];
            kk = kv * k_k[h * N + i];
        }
        const float inv = 1.0f / fmaxf(sqrtf(block_sum(kk * kk, red)), 1e-12f);
        if (active) {
            const float av = a[o];
            const float knew = kv * (1.0f + (av - 1.0f) * k_a[h * N + i]);
            k[o] = knew;
            s_kk[i] = kk * inv;
            s_k[i] = knew;
            s_w[i] = decay[o];
            s_r[i] = r[o];
            s_a[i] = av;
        }
        __syncthreads();
        if (active) {
            float* row = S + i * P;
            float sa = 0.0f;
            for (int j = 0; j < N; ++j) sa += row[j] * -s_kk[j];
            const float vi = v[o];
            float acc = 0.0f;
            for (int j = 0; j < N; ++j) {
                const float s = row[j] * s_w[j] + sa * s_kk[j] * s_a[j] + vi * s_k[j];
                row[j] = s;
                acc += s * s_r[j];
            }
            y[o] = acc;
        }
        __syncthreads();  // the next token overwrites the key vectors
    }
    for (int idx = threadIdx.x; idx < N * N; idx += blockDim.x) Sg[idx] = S[(idx / N) * P + idx % N];
}
