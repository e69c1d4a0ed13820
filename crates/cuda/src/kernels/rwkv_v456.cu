// rwkv_v456: the ops only RWKV-4, 5 and 6 use, except matmuls (spec §5; model::Ops docs). The
// scalar references are crates/cpu/src/kernels/{wkv6, wkv4, group_norm, elementwise, decay6,
// token_shift_lora6}.rs; every kernel here evaluates the same expressions in f32 (GroupNorm's
// moments in f64, as the reference), so results differ from the CPU only by FMA contraction and
// libm-vs-CUDA rounding of expf (a couple of ulp); wkv6 rounds every step as the CPU does.
//
//   wkv6         the WKV recurrence of RWKV-6 (decay per token) and RWKV-5 (w_stride = 0: one decay
//                vector for every token). Per token and head, S[i][j] (i = key, j = value):
//                  y[j] = Σ_i r[i]·(u[i]·k[i]·v[j] + S[i][j]);   S[i][j] ← S[i][j]·w[i] + k[i]·v[j]
//                r, k, v, y [T, C]; w [T, C] or [C]; u [C]; state [H, N·N], S[i][j] at h·N·N + i·N + j.
//                Mapping: one block per head, ceil(N / 32)·32 threads; thread j owns value column j.
//                The head's state lives in dynamic shared memory for the whole call (N·N floats,
//                row-major: thread j touching S[i][j] hits consecutive banks), plus r, k, w, u of the
//                current token (4·N floats). y[j] is summed over i in increasing order, as the CPU.
//   wkv4         RWKV-4's overflow-free WKV, one thread per channel, tokens in order; state [3, C]
//                (aa, bb, pp rows).
//   group_norm   in place on y [T, C]: per token and head, (y − mean) / sqrt(var + eps) · ln_w + ln_b.
//                One block per (head, token), ceil(N / 32)·32 threads.
//   sigmoid_mul  x ⊙= σ(g);  silu_mul  x ⊙= g·σ(g);  scale  x ·= f;  exp_neg_exp  x = exp(−exp(x))
//                (the last is decay6's final step, after the up projection added the bias).
//                One thread per element, grid-stride.
//   ts6_mix_x    token_shift_lora6's first stage: xxx = x + (prev − x)·mu_x with prev[0] = shift,
//                prev[t] = x[t−1] (shift is only read: it is updated after the LoRA's last stage).
//                Mapping as token_shift_lerp.cu: 32 columns × 8 token lanes per 256-thread block.

extern "C" __global__ void __launch_bounds__(1024)
    wkv6(const float* r, const float* k, const float* v, const float* w, int w_stride, const float* u,
         float* state, float* y, int T, int C, int N) {
    pdl_entry();
    extern __shared__ float sm[];
    float* S = sm;
    float* s_r = S + N * N;
    float* s_k = s_r + N;
    float* s_w = s_k + N;
    float* s_u = s_w + N;
    const int h = blockIdx.x, j = threadIdx.x;
    const bool active = j < N;
    float* Sg = state + (u64)h * N * N;
    for (int idx = threadIdx.x; idx < N * N; idx += blockDim.x) S[idx] = Sg[idx];
    if (active) s_u[j] = u[h * N + j];
    for (int t = 0; t < T; ++t) {
        const u64 o = (u64)t * C + h * N + j;
        if (active) {
            s_r[j] = r[o];
            s_k[j] = k[o];
            s_w[j] = w[(u64)t * w_stride + h * N + j];
        }
        __syncthreads();
        if (active) {
            const float vj = v[o];
            float acc = 0.0f;
            // Explicit roundings (no FMA contraction): the same operations in the same order as the
            // CPU reference, so y and the state match it bit for bit and long prompts do not drift.
            for (int i = 0; i < N; ++i) {
                const float kv = __fmul_rn(s_k[i], vj);
                const float s = S[i * N + j];
                acc = __fadd_rn(acc, __fmul_rn(s_r[i], __fadd_rn(__fmul_rn(s_u[i], kv), s)));
                S[i * N + j] = __fadd_rn(__fmul_rn(s, s_w[i]), kv);
            }
            y[o] = acc;
        }
        __syncthreads();  // the next token overwrites s_r, s_k, s_w
    }
    for (int idx = threadIdx.x; idx < N * N; idx += blockDim.x) Sg[idx] = S[idx];
}

extern "C" __global__ void wkv4(const float* k, const float* v, const float* w, const float* u, float* state,
                                float* y, int T, int C) {
    pdl_entry();
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float aa = state[c], bb = state[C + c], pp = state[2 * C + c];
    const float wc = w[c], uc = u[c];
    for (int t = 0; t < T; ++t) {
        const u64 o = (u64)t * C + c;
        const float kt = k[o], vt = v[o];
        float ww = uc + kt;
        float q = fmaxf(pp, ww);
        float e1 = expf(pp - q), e2 = expf(ww - q);
        y[o] = (e1 * aa + e2 * vt) / (e1 * bb + e2);
        ww = pp + wc;
        q = fmaxf(ww, kt);
        e1 = expf(ww - q);
        e2 = expf(kt - q);
        aa = e1 * aa + e2 * vt;
        bb = e1 * bb + e2;
        pp = q;
    }
    state[c] = aa;
    state[C + c] = bb;
    state[2 * C + c] = pp;
}

extern "C" __global__ void group_norm(float* y, const float* ln_w, const float* ln_b, float eps, int C, int N) {
    pdl_entry();
    __shared__ double red[32];
    const int h = blockIdx.x, t = blockIdx.y, j = threadIdx.x;
    const bool active = j < N;
    const int c = h * N + j;
    const u64 o = (u64)t * C + c;
    const float yv = active ? y[o] : 0.0f;
    const double mean = block_sum_d((double)yv, red) / (double)N;
    const double d = active ? (double)yv - mean : 0.0;
    const double var = block_sum_d(d * d, red) / (double)N;
    const double inv_std = 1.0 / sqrt(var + (double)eps);
    if (active) y[o] = (float)(((double)yv - mean) * inv_std) * ln_w[c] + ln_b[c];
}

extern "C" __global__ void sigmoid_mul(float* x, const float* g, u64 n) {
    pdl_entry();
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        x[i] *= sigmoidf_(g[i]);
    }
}

extern "C" __global__ void silu_mul(float* x, const float* g, u64 n) {
    pdl_entry();
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        const float b = g[i];
        x[i] *= b * sigmoidf_(b);
    }
}

extern "C" __global__ void scale(float* x, float factor, u64 n) {
    pdl_entry();
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) x[i] *= factor;
}

extern "C" __global__ void exp_neg_exp(float* x, u64 n) {
    pdl_entry();
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        x[i] = expf(-expf(x[i]));
    }
}

extern "C" __global__ void __launch_bounds__(256)
    ts6_mix_x(const float* x, const float* shift, const float* mu_x, float* xxx, int T, int C) {
    pdl_entry();
    const int j = blockIdx.x * 32 + (threadIdx.x & 31), lane_t = threadIdx.x >> 5;
    if (j >= C) return;
    const float m = mu_x[j];
    for (int t = lane_t; t < T; t += 8) {
        const float cur = x[(u64)t * C + j];
        const float prev = t == 0 ? shift[j] : x[(u64)(t - 1) * C + j];
        xxx[(u64)t * C + j] = cur + (prev - cur) * m;
    }
}
