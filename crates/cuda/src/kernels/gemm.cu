// gemm: the small kernels around the cuBLAS path for multi-token matmuls (src/gemm.rs), which
// computes out[t][m] = epi(Σ_k W[m][k] · x[t][k]) as cublasGemmEx calls on f16 (or bf16) operands
// with f32 accumulation.
//
// dequant_f16_<fmt>: rows [row0, row0 + rows) of a block-format weight W (blocks.cuh) into a
// transient f16 panel, row r of it at panel + r·ld (what cuBLAS reads as a column-major matrix with
// leading dimension ld). Each panel row holds up to three K-element slots, at element offsets
// off_hi, off_hi2 (a second copy of hi, so that one GEMM concatenated along K can pair hi with two
// parts of x) and off_lo; a negative offset skips that slot. hi = f16(w): decoding is blocks.cuh's,
// bit for bit equal to crates/quant, and the one rounding is f32 → f16 (round to nearest even).
// lo = f16(w − hi) (w − hi is exact in f32): hi + lo carry ~22 bits of w, which GEMMs over both parts
// need for f32-level accuracy (f16 alone rounds each weight by up to 2^-11 relative).
// One thread per unit of work (8..32 elements, see blocks.cuh); grid (ceil(units per row / 128),
// rows), 128 threads. A block's 128 units are a contiguous run of its row (128 is a multiple of
// every format's UNITS), so the block decodes them into shared memory first and then stores the run
// with 16-byte stores that consecutive threads place side by side: a thread's own unit is scattered
// over its block (GROUPS runs GSTRIDE apart), and storing it directly left every store instruction
// of a warp touching 32 partly written sectors (~1.6 TB/s for hi + lo).
//
// gemm_split_x: x [T, K] f32 → its parts in f16 (or bf16): hi = r(x), lo = r(x − hi),
// lo2 = r(x − hi − lo) (lo2 only for bf16: three bf16 parts carry 24 bits, two f16 parts ~22), laid
// out like the panel (gemm_split_x4: the same, four elements per thread, for K % 4 == 0): row t at out + t·ld holds `slots` K-element slots, slot s being part
// (pattern >> 2s) & 3 (0 hi, 1 lo, 2 lo2). Summed GEMMs over the parts (beta = 1 after the first,
// or one GEMM over concatenated slots) then see x at f32-level accuracy. Thread per element of x.
//
// gemm_epilogue: out[t][m] = epi(out[t][m] + bias) in place, with matmul.cu's epilogues (epi ≠ 0 or
// a bias); with split K (nparts > 0) the GEMMs wrote nparts partial outputs of n floats each at
// parts, which it sums (in order) instead of reading out. Thread per element.

__device__ __forceinline__ u16 f32_to_f16_rn(float f) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

__device__ __forceinline__ u16 f32_to_bf16_rn(float f) {
    unsigned short h;
    asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

// Runs of GLEN values as f16 at d: 16- or 8-byte stores (a run starts at a multiple of its length:
// K is a whole number of blocks, and the float formats with runs of 8 or 4 need K % 8 or K % 4 == 0).
template <int GLEN>
__device__ __forceinline__ void store_f16(u16* d, const float* vg) {
    if (GLEN % 8 == 0) {
#pragma unroll
        for (int j = 0; j < GLEN; j += 8) {
            u32 h[4];
#pragma unroll
            for (int q = 0; q < 4; ++q) h[q] = (u32)f32_to_f16_rn(vg[j + 2 * q]) | ((u32)f32_to_f16_rn(vg[j + 2 * q + 1]) << 16);
            *(uint4*)(d + j) = make_uint4(h[0], h[1], h[2], h[3]);
        }
    } else if (GLEN % 4 == 0) {
#pragma unroll
        for (int j = 0; j < GLEN; j += 4) {
            const u32 h0 = (u32)f32_to_f16_rn(vg[j]) | ((u32)f32_to_f16_rn(vg[j + 1]) << 16);
            const u32 h1 = (u32)f32_to_f16_rn(vg[j + 2]) | ((u32)f32_to_f16_rn(vg[j + 3]) << 16);
            *(uint2*)(d + j) = make_uint2(h0, h1);
        }
    } else {
#pragma unroll
        for (int j = 0; j < GLEN; ++j) d[j] = f32_to_f16_rn(vg[j]);
    }
}

// A run of n f16 values from shared memory to global memory: 16-byte stores when both ends allow
// them (always for the block formats; the odd-K float formats fall back to 2-byte stores).
__device__ __forceinline__ void store_run(u16* __restrict__ dst, const u16* __restrict__ src, int n) {
    if ((((size_t)dst) & 15) == 0 && (n & 7) == 0) {
        for (int i = threadIdx.x; i < n / 8; i += blockDim.x) ((uint4*)dst)[i] = ((const uint4*)src)[i];
    } else {
        for (int i = threadIdx.x; i < n; i += blockDim.x) dst[i] = src[i];
    }
}

template <class F>
__device__ __forceinline__ void dequant_body(const u8* __restrict__ w, u64 row_bytes, u16* __restrict__ panel, u64 ld,
                                             int off_hi, int off_hi2, int off_lo, int row0, int K) {
    constexpr int ELEMS = F::GROUPS * F::GLEN;
    constexpr int THREADS = 128;
    constexpr int SPAN = THREADS / F::UNITS * F::BLOCK_ELEMS;  // elements of a row one CUDA block covers
    __shared__ __align__(16) u16 s_hi[SPAN];
    __shared__ __align__(16) u16 s_lo[SPAN];
    const int units = (K / F::BLOCK_ELEMS) * F::UNITS;
    const int g0 = blockIdx.x * THREADS;
    const int g = g0 + threadIdx.x;
    const int r = blockIdx.y;
    const int e0 = g0 / F::UNITS * F::BLOCK_ELEMS;
    const int n = min(SPAN, K - e0);
    if (g < units) {
        const int b = g / F::UNITS, u = g - b * F::UNITS;
        float v[ELEMS];
        F::decode(w + (u64)(row0 + r) * row_bytes + (u64)b * F::BLOCK_BYTES, u, v);
        const int off = b * F::BLOCK_ELEMS - e0 + F::base(u);
#pragma unroll
        for (int gi = 0; gi < F::GROUPS; ++gi) store_f16<F::GLEN>(s_hi + off + gi * F::GSTRIDE, v + gi * F::GLEN);
        if (off_lo >= 0) {
#pragma unroll
            for (int i = 0; i < ELEMS; ++i) v[i] -= f16_to_f32(f32_to_f16_rn(v[i]));
#pragma unroll
            for (int gi = 0; gi < F::GROUPS; ++gi) store_f16<F::GLEN>(s_lo + off + gi * F::GSTRIDE, v + gi * F::GLEN);
        }
    }
    __syncthreads();
    u16* row = panel + (u64)r * ld + e0;
    if (off_hi >= 0) store_run(row + off_hi, s_hi, n);
    if (off_hi2 >= 0) store_run(row + off_hi2, s_hi, n);
    if (off_lo >= 0) store_run(row + off_lo, s_lo, n);
}

#define DEQUANT_KERNEL(NAME, F)                                                                               \
    extern "C" __global__ void __launch_bounds__(128) dequant_f16_##NAME(                                     \
        const u8* w, u64 row_bytes, u16* panel, u64 ld, int off_hi, int off_hi2, int off_lo, int row0, int K) { \
        pdl_entry();                                                                                            \
        dequant_body<F>(w, row_bytes, panel, ld, off_hi, off_hi2, off_lo, row0, K);                           \
    }

FORMAT_SET(DEQUANT_KERNEL)

extern "C" __global__ void __launch_bounds__(256)
    gemm_split_x(const float* __restrict__ x, u16* __restrict__ out, u64 n, int K, u64 ld, int slots, int pattern, int bf16) {
    pdl_entry();
    const u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const u64 t = i / (u64)K, k = i - t * (u64)K;
    const float v = x[i];
    u16 part[3];
    if (bf16) {
        part[0] = f32_to_bf16_rn(v);
        const float r1 = v - bf16_to_f32(part[0]);
        part[1] = f32_to_bf16_rn(r1);
        part[2] = f32_to_bf16_rn(r1 - bf16_to_f32(part[1]));
    } else {
        part[0] = f32_to_f16_rn(v);
        part[1] = f32_to_f16_rn(v - f16_to_f32(part[0]));
        part[2] = 0;
    }
    u16* row = out + t * ld + k;
    for (int s = 0; s < slots; ++s) row[(u64)s * K] = part[(pattern >> (2 * s)) & 3];
}

// gemm_split_x with four consecutive elements per thread (K % 4 == 0): one 16-byte load, one
// 8-byte store per slot, and a quarter of the index divisions (the thread-per-element kernel
// spent ~9 µs on a 512 × 2560 x, about three times its memory traffic's worth).
extern "C" __global__ void __launch_bounds__(256)
    gemm_split_x4(const float* __restrict__ x, u16* __restrict__ out, u64 n, int K, u64 ld, int slots, int pattern, int bf16) {
    pdl_entry();
    const u64 i = 4 * ((u64)blockIdx.x * blockDim.x + threadIdx.x);
    if (i >= n) return;
    const u64 t = i / (u64)K, k = i - t * (u64)K;
    const float4 f = *(const float4*)(x + i);
    const float v[4] = {f.x, f.y, f.z, f.w};
    u32 part[3][2];
#pragma unroll
    for (int p = 0; p < 2; ++p) {
        u16 h[3][2];
#pragma unroll
        for (int e = 0; e < 2; ++e) {
            const float vv = v[2 * p + e];
            if (bf16) {
                h[0][e] = f32_to_bf16_rn(vv);
                const float r1 = vv - bf16_to_f32(h[0][e]);
                h[1][e] = f32_to_bf16_rn(r1);
                h[2][e] = f32_to_bf16_rn(r1 - bf16_to_f32(h[1][e]));
            } else {
                h[0][e] = f32_to_f16_rn(vv);
                h[1][e] = f32_to_f16_rn(vv - f16_to_f32(h[0][e]));
                h[2][e] = 0;
            }
        }
#pragma unroll
        for (int q = 0; q < 3; ++q) part[q][p] = (u32)h[q][0] | ((u32)h[q][1] << 16);
    }
    u16* row = out + t * ld + k;
    for (int s = 0; s < slots; ++s) {
        const int q = (pattern >> (2 * s)) & 3;
        *(uint2*)(row + (u64)s * K) = make_uint2(part[q][0], part[q][1]);
    }
}

extern "C" __global__ void __launch_bounds__(256)
    gemm_epilogue(float* __restrict__ out, int M, u64 n, int epi, const float* __restrict__ bias,
                  const float* __restrict__ parts, int nparts) {
    pdl_entry();
    const u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float acc = 0.0f;
    if (nparts > 0) {
        for (int s = 0; s < nparts; ++s) acc += parts[(u64)s * n + i];
    } else {
        acc = out[i];
    }
    const float b = bias ? bias[i % (u64)M] : 0.0f;
    float y;
    switch (epi) {
        case 1: y = tanhf(acc); break;
        case 2: y = sigmoidf_(acc); break;
        case 3: y = expf(-0.60653065971263342f * sigmoidf_(acc + b)); break;
        case 4: y = sigmoidf_(acc + b); break;
        default: y = acc + b; break;
    }
    out[i] = y;
}
