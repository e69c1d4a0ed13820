// token_shift_lora6 (last stage): RWKV-6's data-dependent token shift (spec §5.1) after the launcher
// computed xxx (rwkv_v456.cu's ts6_mix_x) and m = tanh(W1·xxx) (a matmul with the tanh epilogue):
//   outs[i][t][c] = x[t][c] + (prev[t][c] − x[t][c]) · (mu[i][c] + Σ_d W2[i·C + c][d] · m[t][i·D + d])
// with prev[0] = shift, prev[t] = x[t−1]. W2 [K·C, D] in its stored GGUF type (blocks.cuh), m [T, K·D],
// x [T, C], shift [C] (only read here; the launcher copies x[T−1] into it afterwards), mu [K, C],
// outs: K ≤ 6 buffers [T, C].
//
// Thread mapping: as matmul.cu's prefill kernel, one warp per output row c of output i, 8 warps per
// 256-thread block, a tile of 8 tokens per block: grid (ceil(C / 8), ceil(T / 8), K). Lane l
// decodes units l, l+32, ... of the row and dots them with the tile's D-wide slices of m; the warp
// reduces with shuffles and lane 0 applies the lerp. Each W2 row is read ceil(T / 8) times.
// Precision: f32 decode and accumulation, as the CPU reference up to summation order.

constexpr int TS6_TILE = 8;

template <class F>
__device__ void ts6_up_body(const u8* __restrict__ w2, u64 row_bytes, const float* __restrict__ mid,
                            const float* __restrict__ x, const float* __restrict__ shift,
                            const float* __restrict__ mu, float* out, int K, int D, int C, int T) {
    constexpr int ELEMS = F::GROUPS * F::GLEN;
    const int lane = threadIdx.x & 31;
    const int c = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    const int i = blockIdx.z;
    if (c >= C) return;
    const int t0 = blockIdx.y * TS6_TILE;
    const int nt = min(TS6_TILE, T - t0);
    const u8* wr = w2 + (u64)(i * C + c) * row_bytes;
    const int units = (D / F::BLOCK_ELEMS) * F::UNITS;

    float acc[TS6_TILE];
#pragma unroll
    for (int t = 0; t < TS6_TILE; ++t) acc[t] = 0.0f;
    for (int g = lane; g < units; g += 32) {
        const int b = g / F::UNITS, u = g - b * F::UNITS;
        float v[ELEMS];
        F::decode(wr + (u64)b * F::BLOCK_BYTES, u, v);
        const int e0 = i * D + b * F::BLOCK_ELEMS + F::base(u);
#pragma unroll
        for (int t = 0; t < TS6_TILE; ++t) {
            if (t < nt) {
                const float* mt = mid + (u64)(t0 + t) * K * D + e0;
                float s = 0.0f;
#pragma unroll
                for (int gi = 0; gi < F::GROUPS; ++gi) {
#pragma unroll
                    for (int j = 0; j < F::GLEN; ++j) s += v[gi * F::GLEN + j] * mt[gi * F::GSTRIDE + j];
                }
                acc[t] += s;
            }
        }
    }
    const float m = mu[(u64)i * C + c];
#pragma unroll
    for (int t = 0; t < TS6_TILE; ++t) {
        const float s = warp_sum(acc[t]);
        if (lane == 0 && t < nt) {
            const int tt = t0 + t;
            const float cur = x[(u64)tt * C + c];
            const float prev = tt == 0 ? shift[c] : x[(u64)(tt - 1) * C + c];
            out[(u64)tt * C + c] = cur + (prev - cur) * (m + s);
        }
    }
}

#define TS6_UP_KERNEL(NAME, F)                                                                                   \
    extern "C" __global__ void __launch_bounds__(256)                                                            \
        ts6_up_##NAME(const u8* w2, u64 row_bytes, const float* mid, const float* x, const float* shift,         \
                      const float* mu, float* o0, float* o1, float* o2, float* o3, float* o4, float* o5, int K,   \
                      int D, int C, int T) {                                                                     \
        pdl_entry();                                                                                             \
        float* outs[6] = {o0, o1, o2, o3, o4, o5};                                                               \
        ts6_up_body<F>(w2, row_bytes, mid, x, shift, mu, outs[blockIdx.z], K, D, C, T);                          \
    }

FORMAT_SET(TS6_UP_KERNEL)
