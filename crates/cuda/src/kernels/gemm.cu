// gemm: the small kernels around the cuBLAS path for multi-token matmuls (src/gemm.rs), which
// computes out[t][m] = epi(Σ_k W[m][k] · x[t][k]) as cublasGemmEx calls on f16 (or bf16) operands
// with f32 accumulation.
//
// dequant_f16_<fmt>: rows [row0, row0 + rows) of a block-format weight W (blocks.cuh) into a
// transient f16 panel [rows, K], row-major (what cuBLAS reads as a K × rows column-major matrix).
// Decoding is blocks.cuh's, bit for bit equal to crates/quant; the one rounding is f32 → f16
// (round to nearest even), so a panel value is exactly hi = f16(dequantize(W)). With a second
// panel `lo` (else null) it also writes lo = f16(w − hi) (w − hi is exact in f32): hi + lo carry
// ~22 bits of w, which GEMMs over both parts need for f32-level accuracy (f16 alone rounds each
// weight by up to 2^-11 relative). Thread per unit of work (8..32 elements, see blocks.cuh); grid
// (ceil(units per row / 128), rows), 128 threads. Panels must be 16-byte aligned (fresh
// allocations) for the vector stores.
//
// gemm_split_x: x [n] f32 → parts in f16 (or bf16): hi = r(x), lo = r(x − hi), lo2 = r(x − hi − lo)
// (lo2 only for bf16: three bf16 parts carry 24 bits, two f16 parts ~22). Summed GEMMs over the
// parts (beta = 1 after the first) then see x at f32-level accuracy. Thread per element.
//
// gemm_epilogue: out[t][m] = epi(out[t][m] + bias) in place, with matmul.cu's epilogues (epi ≠ 0 or
// a bias). Thread per element.

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

template <class F>
__device__ __forceinline__ void dequant_body(const u8* __restrict__ w, u64 row_bytes, u16* __restrict__ panel,
                                             u16* __restrict__ lo, int row0, int K) {
    constexpr int ELEMS = F::GROUPS * F::GLEN;
    const int units = (K / F::BLOCK_ELEMS) * F::UNITS;
    const int g = blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= units) return;
    const int r = blockIdx.y;
    const int b = g / F::UNITS, u = g - b * F::UNITS;
    float v[ELEMS];
    F::decode(w + (u64)(row0 + r) * row_bytes + (u64)b * F::BLOCK_BYTES, u, v);
    const u64 off = (u64)r * K + (u64)b * F::BLOCK_ELEMS + F::base(u);
#pragma unroll
    for (int gi = 0; gi < F::GROUPS; ++gi) store_f16<F::GLEN>(panel + off + gi * F::GSTRIDE, v + gi * F::GLEN);
    if (lo) {
#pragma unroll
        for (int i = 0; i < ELEMS; ++i) v[i] -= f16_to_f32(f32_to_f16_rn(v[i]));
#pragma unroll
        for (int gi = 0; gi < F::GROUPS; ++gi) store_f16<F::GLEN>(lo + off + gi * F::GSTRIDE, v + gi * F::GLEN);
    }
}

#define DEQUANT_KERNEL(NAME, F)                                                                               \
    extern "C" __global__ void __launch_bounds__(128)                                                         \
        dequant_f16_##NAME(const u8* w, u64 row_bytes, u16* panel, u16* lo, int row0, int K) {               \
        dequant_body<F>(w, row_bytes, panel, lo, row0, K);                                                    \
    }

FORMAT_SET(DEQUANT_KERNEL)

__device__ __forceinline__ float f16_bits_to_f32(u16 h) { return f16_to_f32(h); }

extern "C" __global__ void __launch_bounds__(256)
    gemm_split_x(const float* __restrict__ x, u16* __restrict__ hi, u16* __restrict__ lo, u16* __restrict__ lo2,
                 u64 n, int bf16) {
    const u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float v = x[i];
    if (bf16) {
        const u16 h = f32_to_bf16_rn(v);
        const float r1 = v - bf16_to_f32(h);
        hi[i] = h;
        if (lo) {
            const u16 l = f32_to_bf16_rn(r1);
            lo[i] = l;
            if (lo2) lo2[i] = f32_to_bf16_rn(r1 - bf16_to_f32(l));
        }
    } else {
        const u16 h = f32_to_f16_rn(v);
        hi[i] = h;
        if (lo) lo[i] = f32_to_f16_rn(v - f16_bits_to_f32(h));
    }
}

extern "C" __global__ void __launch_bounds__(256)
    gemm_epilogue(float* __restrict__ out, int M, u64 n, int epi, const float* __restrict__ bias) {
    const u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float acc = out[i];
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
