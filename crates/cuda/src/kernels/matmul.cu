// matmul: out[t][m] = epi(Σ_k W[m][k] · x[t][k]), W [M, K] in its stored GGUF type (blocks.cuh),
// x [T, K] f32, out [T, M] f32. Also serves lora (two launches, the activations fused as epilogues).
//
// Epilogue `epi` (bias: a [M] vector or null, read as 0):
//   0 none   1 tanh   2 sigmoid   3 exp(−e^(−1/2)·σ(acc + bias)) (RWKV-7 decay)   4 σ(acc + bias)
//
// Thread mapping: one warp per output row m, 8 warps (8 rows) per 256-thread block; grid
// (ceil(M / 8), ceil(T / TT)). Lane l decodes units l, l+32, ... of the row (consecutive lanes read
// consecutive bytes: coalesced, 16-byte loads where the format is 16-byte aligned), dots each
// decoded unit with the TT token rows of its tile, and the warp reduces with shuffles. Decode
// (T = 1) uses TT = 1; prefill uses TT = 8, so each weight row is read ceil(T / 8) times.
//
// Precision: f32 decode and accumulation (per lane, then a shuffle tree): equal to the CPU's
// sequential f32 sum up to ordering.

// Not inlined: the TT unrolled stores would otherwise each carry a copy of tanhf and expf.
__device__ __noinline__ float matmul_epilogue(float acc, int epi, const float* bias, int m) {
    float b = bias ? bias[m] : 0.0f;
    switch (epi) {
        case 1: return tanhf(acc);
        case 2: return sigmoidf_(acc);
        case 3: return expf(-0.60653065971263342f * sigmoidf_(acc + b));
        case 4: return sigmoidf_(acc + b);
        default: return acc + b;
    }
}

template <class F, int TT>
__device__ void matmul_body(const u8* __restrict__ w, u64 row_bytes, const float* __restrict__ x,
                            float* __restrict__ out, int M, int K, int T, int epi, const float* __restrict__ bias) {
    constexpr int ELEMS = F::GROUPS * F::GLEN;
    constexpr int XV = (F::GLEN % 4 == 0) ? 4 : 1;  // float4 activation loads when groups allow
    const int lane = threadIdx.x & 31;
    const int m = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (m >= M) return;
    const int t0 = blockIdx.y * TT;
    const int nt = min(TT, T - t0);
    const u8* wr = w + (u64)m * row_bytes;
    const int units = (K / F::BLOCK_ELEMS) * F::UNITS;

    float acc[TT];
#pragma unroll
    for (int t = 0; t < TT; ++t) acc[t] = 0.0f;

    // Decode: unroll so that several units' loads are in flight per lane before the first use.
#pragma unroll(TT == 1 ? (ELEMS >= 32 ? 2 : 4) : 1)
    for (int g = lane; g < units; g += 32) {
        const int b = g / F::UNITS, u = g - b * F::UNITS;
        float v[ELEMS];
        F::decode(wr + (u64)b * F::BLOCK_BYTES, u, v);
        const int e0 = b * F::BLOCK_ELEMS + F::base(u);
#pragma unroll
        for (int t = 0; t < TT; ++t) {
            if (t < nt) {
                const float* xt = x + (u64)(t0 + t) * K + e0;
                float s = 0.0f;
#pragma unroll
                for (int gi = 0; gi < F::GROUPS; ++gi) {
#pragma unroll
                    for (int j = 0; j < F::GLEN; j += XV) {
                        if (XV == 4) {
                            float4 xv = *(const float4*)(xt + gi * F::GSTRIDE + j);
                            const float* vv = v + gi * F::GLEN + j;
                            s += vv[0] * xv.x + vv[1] * xv.y + vv[2] * xv.z + vv[3] * xv.w;
                        } else {
                            s += v[gi * F::GLEN + j] * xt[gi * F::GSTRIDE + j];
                        }
                    }
                }
                acc[t] += s;
            }
        }
    }
#pragma unroll
    for (int t = 0; t < TT; ++t) {
        float s = warp_sum(acc[t]);
        if (lane == 0 && t < nt) out[(u64)(t0 + t) * M + m] = matmul_epilogue(s, epi, bias, m);
    }
}

#define MATMUL_KERNELS(NAME, F)                                                                              \
    extern "C" __global__ void __launch_bounds__(256)                                                         \
        matmul_##NAME##_t1(const u8* w, u64 row_bytes, const float* x, float* out, int M, int K, int T, int epi, \
                           const float* bias) {                                                               \
        pdl_entry();                                                                                          \
        matmul_body<F, 1>(w, row_bytes, x, out, M, K, T, epi, bias);                                          \
    }                                                                                                         \
    extern "C" __global__ void __launch_bounds__(256)                                                         \
        matmul_##NAME##_t8(const u8* w, u64 row_bytes, const float* x, float* out, int M, int K, int T, int epi, \
                           const float* bias) {                                                               \
        pdl_entry();                                                                                          \
        matmul_body<F, 8>(w, row_bytes, x, out, M, K, T, epi, bias);                                          \
    }

FORMAT_SET(MATMUL_KERNELS)
