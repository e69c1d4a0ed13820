// wkv7_h64: the RWKV-7 recurrence (as wkv7.cu) for head size N = 64, optionally followed in the
// same launch by wkv7_output's per-head GroupNorm, bonus and gate (`fuse` = 1). With `state_rows`
// (a batched decode step) row b is the one token of sequence b, whose state is at state_rows[b].
//
// Thread mapping: one block of 256 threads per head (grid H). Thread (i = tid / 4, q = tid % 4) owns
// value row i, key columns 16q .. 16q+15 of the head's state, in registers for the whole call; the
// row's two dot products (sa = S·(−kk), y = S·r) are reduced over its 4 threads with shuffles, so
// tokens need no barrier between them. Tokens go in sub-chunks of TS = 16: first the block prepares
// the sub-chunk's key-side vectors in shared memory (warp w takes tokens 2w, 2w+1: kk normalized
// over the head with a warp sum, the new k written back, kk·a) from inputs loaded into registers
// one sub-chunk ahead, one barrier, then every row runs the sub-chunk's recurrence while the next
// sub-chunk's inputs load, one barrier, then (fused) warp w normalizes y of tokens 2w, 2w+1.
//
// Precision: f32 as the CPU reference, sums in another order; GroupNorm mean and variance in f64
// as wkv7_output.cu. `sa·(kk·a)` is rounded as sa·b with b = kk·a precomputed (the CPU computes
// (sa·kk)·a): an ulp-level difference.

#define TS 16

extern "C" __global__ void __launch_bounds__(256)
    wkv7_h64(const float* r, const float* decay, float* k, const float* v, const float* a, const float* k_k,
             const float* k_a, float* state, float* y, int T, int C, int fuse, const float* g, const float* r_k,
             const float* ln_w, const float* ln_b, float eps, const u64* state_rows) {
    pdl_entry();
    __shared__ __align__(16) float s_kk[TS][64];
    __shared__ __align__(16) float s_b[TS][64];
    __shared__ __align__(16) float s_k[TS][64];
    __shared__ __align__(16) float s_w[TS][64];
    __shared__ __align__(16) float s_r[TS][64];
    __shared__ float s_v[TS][64];
    __shared__ float s_y[TS][64];
    __shared__ float s_g[TS][64];
    if (state_rows) {
        // Batched decode (grid H × B, T = 1): row blockIdx.y is the one token of its own sequence.
        const u64 o = (u64)blockIdx.y * C;
        state = (float*)state_rows[blockIdx.y];
        r += o, decay += o, k += o, v += o, a += o, y += o;
        if (fuse) g += o;
    }
    const int h = blockIdx.x, tid = threadIdx.x;
    const int i = tid >> 2, q = tid & 3;
    const int warp = tid >> 5, lane = tid & 31;
    float* Sg = state + (u64)h * 4096 + i * 64 + 16 * q;
    float S[16];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
        const float4 f = *(const float4*)(Sg + 4 * e);
        S[4 * e] = f.x;
        S[4 * e + 1] = f.y;
        S[4 * e + 2] = f.z;
        S[4 * e + 3] = f.w;
    }
    const int hc = h * 64;
    // The output stage's per-head parameters, loaded now so that they are in registers by then.
    float rk[2] = {0.0f, 0.0f}, lw[2] = {0.0f, 0.0f}, lb[2] = {0.0f, 0.0f};
    if (fuse) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
            rk[e] = r_k[hc + lane + 32 * e];
            lw[e] = ln_w[hc + lane + 32 * e];
            lb[e] = ln_b[hc + lane + 32 * e];
        }
    }
    // The sub-chunk's inputs, loaded one sub-chunk ahead (double buffering in registers): the loads
    // for sub-chunk c + 1 are issued before sub-chunk c's recurrence and land while it runs, so the
    // preparation no longer waits a global-memory latency per sub-chunk (one block per head leaves
    // most SMs idle: the kernel is latency-bound). Warp w takes tokens 2w, 2w + 1; lane takes
    // columns lane, lane + 32.
    float in_k[2][2], in_a[2][2], in_w[2][2], in_r[2][2], in_v[2][2], in_g[2][2];
    auto load_inputs = [&](int t0) {
        const int n = min(TS, T - t0);
#pragma unroll
        for (int tt = 0; tt < 2; ++tt) {
            const int ts = 2 * warp + tt;
            if (ts < n) {
                const u64 o = (u64)(t0 + ts) * C + hc;
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    const int j = lane + 32 * e;
                    in_k[tt][e] = k[o + j];
                    in_a[tt][e] = a[o + j];
                    in_w[tt][e] = decay[o + j];
                    in_r[tt][e] = r[o + j];
                    in_v[tt][e] = v[o + j];
                    in_g[tt][e] = fuse ? g[o + j] : 0.0f;
                }
            }
        }
    };
    load_inputs(0);
    // The head's key parameters, per lane (columns lane, lane + 32), for every token.
    const float kkw[2] = {k_k[hc + lane], k_k[hc + lane + 32]}, kaw[2] = {k_a[hc + lane], k_a[hc + lane + 32]};
    for (int t0 = 0; t0 < T; t0 += TS) {
        const int n = min(TS, T - t0);
        // Prepare tokens 2·warp and 2·warp + 1 of the sub-chunk from the loaded inputs.
#pragma unroll
        for (int tt = 0; tt < 2; ++tt) {
            const int ts = 2 * warp + tt;
            if (ts < n) {
                const u64 o = (u64)(t0 + ts) * C + hc;
                float kk[2];
#pragma unroll
                for (int e = 0; e < 2; ++e) kk[e] = in_k[tt][e] * kkw[e];
                const float inv = 1.0f / fmaxf(sqrtf(warp_sum(kk[0] * kk[0] + kk[1] * kk[1])), 1e-12f);
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    const int j = lane + 32 * e;
                    const float av = in_a[tt][e];
                    const float knew = in_k[tt][e] * (1.0f + (av - 1.0f) * kaw[e]);
                    k[o + j] = knew;
                    const float kkn = kk[e] * inv;
                    s_kk[ts][j] = kkn;
                    s_b[ts][j] = kkn * av;
                    s_k[ts][j] = knew;
                    s_w[ts][j] = in_w[tt][e];
                    s_r[ts][j] = in_r[tt][e];
                    s_v[ts][j] = in_v[tt][e];
                    if (fuse) s_g[ts][j] = in_g[tt][e];
                }
            }
        }
        // Issue the next sub-chunk's loads now (its k is not written until its own preparation).
        if (t0 + TS < T) load_inputs(t0 + TS);
        __syncthreads();
        for (int ts = 0; ts < n; ++ts) {
            const float4* kk4 = (const float4*)&s_kk[ts][16 * q];
            float sa = 0.0f;
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const float4 f = kk4[e];
                sa += S[4 * e] * -f.x + S[4 * e + 1] * -f.y + S[4 * e + 2] * -f.z + S[4 * e + 3] * -f.w;
            }
            sa += __shfl_xor_sync(0xffffffffu, sa, 1);
            sa += __shfl_xor_sync(0xffffffffu, sa, 2);
            const float vi = s_v[ts][i];
            const float4* w4 = (const float4*)&s_w[ts][16 * q];
            const float4* b4 = (const float4*)&s_b[ts][16 * q];
            const float4* k4 = (const float4*)&s_k[ts][16 * q];
            const float4* r4 = (const float4*)&s_r[ts][16 * q];
            float acc = 0.0f;
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const float4 fw = w4[e], fb = b4[e], fk = k4[e], fr = r4[e];
                const float ww[4] = {fw.x, fw.y, fw.z, fw.w}, bb[4] = {fb.x, fb.y, fb.z, fb.w};
                const float kk_[4] = {fk.x, fk.y, fk.z, fk.w}, rr[4] = {fr.x, fr.y, fr.z, fr.w};
#pragma unroll
                for (int l = 0; l < 4; ++l) {
                    const float s = S[4 * e + l] * ww[l] + sa * bb[l] + vi * kk_[l];
                    S[4 * e + l] = s;
                    acc += s * rr[l];
                }
            }
            acc += __shfl_xor_sync(0xffffffffu, acc, 1);
            acc += __shfl_xor_sync(0xffffffffu, acc, 2);
            if (q == 0) {
                if (fuse) {
                    s_y[ts][i] = acc;
                } else {
                    y[(u64)(t0 + ts) * C + hc + i] = acc;
                }
            }
        }
        __syncthreads();
        if (fuse) {
#pragma unroll
            for (int tt = 0; tt < 2; ++tt) {
                const int ts = 2 * warp + tt;
                if (ts < n) {
                    const u64 o = (u64)(t0 + ts) * C + hc;
                    const float y0 = s_y[ts][lane], y1 = s_y[ts][lane + 32];
                    const double mean = warp_sum_d((double)y0 + (double)y1) / 64.0;
                    const double d0 = (double)y0 - mean, d1 = (double)y1 - mean;
                    const double var = warp_sum_d(d0 * d0 + d1 * d1) / 64.0;
                    const double inv_std = 1.0 / sqrt(var + (double)eps);
                    const float bonus = warp_sum(s_r[ts][lane] * s_k[ts][lane] * rk[0] +
                                                 s_r[ts][lane + 32] * s_k[ts][lane + 32] * rk[1]);
#pragma unroll
                    for (int e = 0; e < 2; ++e) {
                        const int j = lane + 32 * e;
                        const float yv = e ? y1 : y0;
                        const float normed = (float)(((double)yv - mean) * inv_std);
                        y[o + j] = (normed * lw[e] + lb[e] + bonus * s_v[ts][j]) * s_g[ts][j];
                    }
                }
            }
            __syncthreads();  // the next sub-chunk's preparation overwrites s_r, s_k, s_v
        }
    }
#pragma unroll
    for (int e = 0; e < 4; ++e) *(float4*)(Sg + 4 * e) = make_float4(S[4 * e], S[4 * e + 1], S[4 * e + 2], S[4 * e + 3]);
}
