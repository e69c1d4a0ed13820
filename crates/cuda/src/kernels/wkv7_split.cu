// wkv7_split: the RWKV-7 recurrence (as wkv7.cu) for head size 64 over many tokens of one
// sequence, with each head's 64 state rows split over several blocks. wkv7_h64.cu runs one block
// per head (40 blocks for a 2.9B model on 132 SMs, every token's work on one SM); here a head's rows
// go to 64 / ROWS blocks, so the grid is (H, 64 / ROWS) and every SM has work.
//
// Rows of a head are independent given each token's shared vectors (w, k, kk, b = kk·a, r; v per
// row), but wkv7_h64 derives kk and the new k inside the kernel and writes k back in place, which
// several blocks of one head cannot do (one would read k after another replaced it). So:
//
// wkv7_split_prep (grid (H, ceil(T / 8)), 256 threads, warp per (head, token), lane owns columns
// lane and lane + 32): kk = normalize(k ⊙ k_k) over the head, k ← k ⊙ (1 + (a − 1) ⊙ k_a) in place,
// kk_out = kk, b_out = kk ⊙ a. Bit for bit wkv7_h64's preparation.
//
// wkv7_split_r<ROWS> (grid (H, 64 / ROWS), 4·ROWS threads): thread (i = tid / 4, q = tid % 4) owns
// state row row0 + i, columns 16q .. 16q + 15, in registers; per token sa = S·(−kk) and y = S·r are
// reduced over the row's 4 threads with shuffles (no barrier between tokens). Tokens go in sub-chunks
// of TS = 16 whose shared vectors are copied to shared memory with cp.async one sub-chunk ahead
// (double buffering), so the copy overlaps the previous sub-chunk's recurrence. A token's y = S·r
// and the next token's sa = S·(−kk) both read the state just updated, so they are computed and
// reduced together: per token, one pass over the state and one round of (paired) shuffles. y gets the raw
// recurrence output; wkv7_output.cu applies GroupNorm, bonus and gate afterwards (it reads the new k).
//
// Precision: f32; the dot products use four partial sums per thread (shorter dependency chains than
// wkv7_h64's one), so sums run in another order than the CPU's: ulp-level differences.

#define TS 16

extern "C" __global__ void __launch_bounds__(256)
    wkv7_split_prep(float* k, const float* a, const float* k_k, const float* k_a, float* kk_out, float* b_out, int T, int C) {
    pdl_entry();
    const int h = blockIdx.x, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int t = blockIdx.y * 8 + warp;
    if (t >= T) return;
    const int hc = h * 64;
    const u64 o = (u64)t * C + hc;
    float kv[2], av[2], kk[2];
#pragma unroll
    for (int e = 0; e < 2; ++e) {
        const int j = lane + 32 * e;
        kv[e] = k[o + j];
        av[e] = a[o + j];
        kk[e] = kv[e] * k_k[hc + j];
    }
    const float inv = 1.0f / fmaxf(sqrtf(warp_sum(kk[0] * kk[0] + kk[1] * kk[1])), 1e-12f);
#pragma unroll
    for (int e = 0; e < 2; ++e) {
        const int j = lane + 32 * e;
        const float kkn = kk[e] * inv;
        k[o + j] = kv[e] * (1.0f + (av[e] - 1.0f) * k_a[hc + j]);
        kk_out[o + j] = kkn;
        b_out[o + j] = kkn * av[e];
    }
}

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
// Waits until at most one committed group (the one just issued) is still in flight.
__device__ __forceinline__ void cp_async_wait_one() { asm volatile("cp.async.wait_group 1;\n" ::); }

// The shared vectors of one sub-chunk: kk, b, k, w, r (64 columns each) and v of this block's rows.
template <int ROWS>
struct SubChunk {
    float kk[TS][64], b[TS][64], k[TS][64], w[TS][64], r[TS][64];
    float v[TS][ROWS];
};

template <int ROWS>
__device__ __forceinline__ void stage(SubChunk<ROWS>& s, const float* r, const float* decay, const float* k, const float* v,
                                      const float* kk, const float* b, int t0, int T, int C, int hc, int row0) {
    constexpr int THREADS = 4 * ROWS;
    const int n = min(TS, T - t0);
    // 16 float4 per 64-column vector and token; consecutive threads take consecutive float4.
    for (int idx = threadIdx.x; idx < n * 16; idx += THREADS) {
        const int ts = idx >> 4, c4 = (idx & 15) * 4;
        const u64 o = (u64)(t0 + ts) * C + hc + c4;
        cp_async16(&s.kk[ts][c4], kk + o);
        cp_async16(&s.b[ts][c4], b + o);
        cp_async16(&s.k[ts][c4], k + o);
        cp_async16(&s.w[ts][c4], decay + o);
        cp_async16(&s.r[ts][c4], r + o);
    }
    constexpr int V4 = ROWS / 4;
    for (int idx = threadIdx.x; idx < n * V4; idx += THREADS) {
        const int ts = idx / V4, c4 = (idx % V4) * 4;
        cp_async16(&s.v[ts][c4], v + (u64)(t0 + ts) * C + hc + row0 + c4);
    }
}

// Σ S[j]·x[j] over a thread's 16 columns, in four partial sums (short dependency chains).
__device__ __forceinline__ float dot16(const float* S, const float* x) {
    const float4* x4 = (const float4*)x;
    float part[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
        const float4 f = x4[e];
        part[e] = S[4 * e] * f.x + S[4 * e + 1] * f.y + S[4 * e + 2] * f.z + S[4 * e + 3] * f.w;
    }
    return (part[0] + part[1]) + (part[2] + part[3]);
}

// Σ S[j]·(−x[j]): sa = S·(−kk), with the sign where wkv7_h64 puts it.
__device__ __forceinline__ float dot16_neg(const float* S, const float* x) {
    const float4* x4 = (const float4*)x;
    float part[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
        const float4 f = x4[e];
        part[e] = S[4 * e] * -f.x + S[4 * e + 1] * -f.y + S[4 * e + 2] * -f.z + S[4 * e + 3] * -f.w;
    }
    return (part[0] + part[1]) + (part[2] + part[3]);
}

template <int ROWS>
__device__ __forceinline__ void wkv7_split_body(const float* r, const float* decay, const float* k, const float* v,
                                                const float* kk, const float* b, float* state, float* y, int T, int C) {
    __shared__ __align__(16) SubChunk<ROWS> sub[2];
    const int h = blockIdx.x, row0 = blockIdx.y * ROWS, tid = threadIdx.x;
    const int i = tid >> 2, q = tid & 3;
    const int hc = h * 64;
    float* Sg = state + (u64)h * 4096 + (u64)(row0 + i) * 64 + 16 * q;
    float S[16];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
        const float4 f = *(const float4*)(Sg + 4 * e);
        S[4 * e] = f.x, S[4 * e + 1] = f.y, S[4 * e + 2] = f.z, S[4 * e + 3] = f.w;
    }
    stage<ROWS>(sub[0], r, decay, k, v, kk, b, 0, T, C, hc, row0);
    cp_async_commit();
    int buf = 0;
    for (int t0 = 0; t0 < T; t0 += TS, buf ^= 1) {
        const int n = min(TS, T - t0);
        // The next sub-chunk's copy goes out now (into the buffer the previous sub-chunk used: the
        // barrier at the end of the loop made it free); an empty group keeps the wait count right.
        if (t0 + TS < T) stage<ROWS>(sub[buf ^ 1], r, decay, k, v, kk, b, t0 + TS, T, C, hc, row0);
        cp_async_commit();
        cp_async_wait_one();
        __syncthreads();
        const SubChunk<ROWS>& s = sub[buf];
        // sa of the sub-chunk's first token; later tokens get theirs in the same pass as the
        // previous token's y (both are dot products with the same updated state).
        float sa = dot16_neg(S, &s.kk[0][16 * q]);
        sa += __shfl_xor_sync(0xffffffffu, sa, 1);
        sa += __shfl_xor_sync(0xffffffffu, sa, 2);
#pragma unroll 2
        for (int ts = 0; ts < n; ++ts) {
            const float vi = s.v[ts][i];
            const float4* w4 = (const float4*)&s.w[ts][16 * q];
            const float4* b4 = (const float4*)&s.b[ts][16 * q];
            const float4* k4 = (const float4*)&s.k[ts][16 * q];
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const float4 fw = w4[e], fb = b4[e], fk = k4[e];
                const float ww[4] = {fw.x, fw.y, fw.z, fw.w}, bb[4] = {fb.x, fb.y, fb.z, fb.w};
                const float kv[4] = {fk.x, fk.y, fk.z, fk.w};
#pragma unroll
                for (int l = 0; l < 4; ++l) S[4 * e + l] = S[4 * e + l] * ww[l] + sa * bb[l] + vi * kv[l];
            }
            // y of this token and sa of the next, reduced together: their shuffle latencies overlap.
            float yv = dot16(S, &s.r[ts][16 * q]);
            float sn = ts + 1 < n ? dot16_neg(S, &s.kk[ts + 1][16 * q]) : 0.0f;
            yv += __shfl_xor_sync(0xffffffffu, yv, 1);
            sn += __shfl_xor_sync(0xffffffffu, sn, 1);
            yv += __shfl_xor_sync(0xffffffffu, yv, 2);
            sn += __shfl_xor_sync(0xffffffffu, sn, 2);
            if (q == 0) y[(u64)(t0 + ts) * C + hc + row0 + i] = yv;
            sa = sn;
        }
        __syncthreads();  // the next iteration's copy overwrites this buffer
    }
#pragma unroll
    for (int e = 0; e < 4; ++e) *(float4*)(Sg + 4 * e) = make_float4(S[4 * e], S[4 * e + 1], S[4 * e + 2], S[4 * e + 3]);
}

#define WKV7_SPLIT_KERNEL(ROWS)                                                                                         \
    extern "C" __global__ void __launch_bounds__(4 * ROWS)                                                              \
        wkv7_split_r##ROWS(const float* r, const float* decay, const float* k, const float* v, const float* kk,        \
                           const float* b, float* state, float* y, int T, int C) {                                      \
        pdl_entry();                                                                                                    \
        wkv7_split_body<ROWS>(r, decay, k, v, kk, b, state, y, T, C);                                                   \
    }

WKV7_SPLIT_KERNEL(8)
WKV7_SPLIT_KERNEL(16)
WKV7_SPLIT_KERNEL(32)
