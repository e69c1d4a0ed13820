// mma: prefill matmuls on the tensor cores, out[t][m] = epi(Σ_k W[m][k] · x[t][k]) (epilogues as in
// matmul.cu), for Q4_K, Q6_K (padded 224-byte layout) and F16 weights.
//
// Exactness: the products run as f16 × f16 → f32 (mma.sync m16n8k16). x is split by `x_split` into
// x_hi = f16(x) and x_lo = f16(x − x_hi), two MMAs per tile (split = 2), which carries ~22 bits of
// each activation. Quantized weights enter the MMA as their integer codes (exact in f16) and their
// block scales are applied in f32 to the per-sub-block partial sums: Q4_K d·sc·Σq·x − dmin·m·Σx
// (Σx per 16 columns comes from x_split), Q6_K d·sc·Σ(q − 32)·x. F16 weights enter as they are.
// So the only rounding beyond the CPU's f32 sums is x_lo's (~2^-22 relative) and the order of sums.
// Activations must stay below 65504 in magnitude (f16 range); RWKV-7's do by a wide margin.
//
// Tiles: a block of 8 warps computes 128 rows × 64 tokens over a slice of K (split K when the
// grid would be too small to fill the GPU: partial tiles go to a workspace, mm_reduce sums them); warp (wm = w % 4, wn = w / 4) computes
// rows 32·wm .. +32 (two m16 tiles) × tokens 32·wn .. +32 (four n8 tiles). Fragments are loaded
// straight from global memory (L1 serves the reuse between warps); rows past M are read clamped
// and not written; x_split pads tokens to a multiple of 64 with zeros.
//
// The K order inside each 16-wide k step is permuted (the sum does not care, as long as A and B
// agree): thread c = lane % 4 holds columns 4c .. 4c+3 of the step in both operands, so its A
// bytes are one aligned u32 of a row's quants and its B values one aligned 8-byte load.

__device__ __forceinline__ u32 f32_to_f16_bits(float f) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

// x [T, K] f32 → xh, xl [Tp, K] f16 (tokens ≥ T zero), xs [K/16, Tp]: Σ of each 16 columns.
// Thread per (token, 16 columns); grid (ceil(K/16 / 64), Tp), 64 threads.
extern "C" __global__ void __launch_bounds__(64)
    x_split(const float* x, u16* xh, u16* xl, float* xs, int T, int Tp, int K) {
    pdl_entry();
    const int chunk = blockIdx.x * 64 + threadIdx.x, t = blockIdx.y;
    if (chunk * 16 >= K) return;
    const u64 off = (u64)t * K + chunk * 16;
    u32 hw[8], lw[8];
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        float4 v = t < T ? *(const float4*)(x + off + 4 * i) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        const float e[4] = {v.x, v.y, v.z, v.w};
        u32 h[4], l[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            h[j] = f32_to_f16_bits(e[j]);
            l[j] = f32_to_f16_bits(e[j] - f16_to_f32((u16)h[j]));
        }
        s += (e[0] + e[1]) + (e[2] + e[3]);
        hw[2 * i] = h[0] | (h[1] << 16);
        hw[2 * i + 1] = h[2] | (h[3] << 16);
        lw[2 * i] = l[0] | (l[1] << 16);
        lw[2 * i + 1] = l[2] | (l[3] << 16);
    }
    *(uint4*)(xh + off) = make_uint4(hw[0], hw[1], hw[2], hw[3]);
    *(uint4*)(xh + off + 8) = make_uint4(hw[4], hw[5], hw[6], hw[7]);
    *(uint4*)(xl + off) = make_uint4(lw[0], lw[1], lw[2], lw[3]);
    *(uint4*)(xl + off + 8) = make_uint4(lw[4], lw[5], lw[6], lw[7]);
    xs[(u64)chunk * Tp + t] = s;
}

__device__ __forceinline__ void mma16816(float* c, const u32* a, u32 b0, u32 b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ u32 hsub2(u32 a, u32 b) {
    u32 d;
    asm("sub.rn.f16x2 %0, %1, %2;" : "=r"(d) : "r"(a), "r"(b));
    return d;
}

// Bytes 0, 1 (pair 0) or 2, 3 (pair 1) of w, each < 2^10, as an f16x2 of (byte − off) where
// magic = 0x6400 + off per half (0x6400 is 1024.0 in f16; 1024 + byte is exact).
__device__ __forceinline__ u32 bytes_to_h2(u32 w, int pair, u32 magic) {
    const u32 spread = __byte_perm(w, 0u, pair ? 0x4342u : 0x4140u);
    return hsub2(spread | 0x64006400u, magic);
}

__device__ __forceinline__ uint2 ldg8(const u16* p) { return __ldg((const uint2*)p); }

// The tile loop, shared by the formats: `A::kstep` adds one K block of the warp's 32 × 32 tile.
struct Tile {
    float c[2][4][4];  // [m tile][n tile][fragment]
    int row[2][2];     // [m tile][+0 / +8]: clamped row index
    const u16* xh[4];  // per n tile: this thread's token row of x_hi (token n0 + 8·nt + g)
    const u16* xl[4];
    int tok_pair[4];  // per n tile: token n0 + 8·nt + 2c (the first of this thread's two C columns)
};

// tmp += A · x[:, k0 .. k0+16] for all four n tiles, A given per m tile.
__device__ __forceinline__ void mma_kstep(float (*acc)[4][4], const u32 (*a)[4], const Tile& t, int k0, int c,
                                          int split) {
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
        const uint2 bh = ldg8(t.xh[nt] + k0 + 4 * c);
#pragma unroll
        for (int mt = 0; mt < 2; ++mt) mma16816(acc[mt][nt], a[mt], bh.x, bh.y);
        if (split > 1) {
            const uint2 bl = ldg8(t.xl[nt] + k0 + 4 * c);
#pragma unroll
            for (int mt = 0; mt < 2; ++mt) mma16816(acc[mt][nt], a[mt], bl.x, bl.y);
        }
    }
}

__device__ __forceinline__ void zero_tmp(float (*tmp)[4][4]) {
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int nt = 0; nt < 4; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) tmp[mt][nt][e] = 0.0f;
}

// Q4_K: one 256-column block per step. For sub-block s = 2p + nib the two 16-column steps are
// h = 0, 1: columns 64p + 32·nib + 16h + i ← nibble `nib` of qs byte 32p + 16h + i.
struct MmQ4K {
    static constexpr int KB = 256;
    __device__ static void step(Tile& t, const u8* w, u64 row_bytes, const float* xs, int Tp, int kb, int c,
                                int split) {
        uint4 hd[2][2];
        const u8* blk[2][2];
#pragma unroll
        for (int mt = 0; mt < 2; ++mt)
#pragma unroll
            for (int hh = 0; hh < 2; ++hh) {
                blk[mt][hh] = w + (u64)t.row[mt][hh] * row_bytes + (u64)kb * 144;
                hd[mt][hh] = __ldg((const uint4*)blk[mt][hh]);
            }
#pragma unroll 1
        for (int p = 0; p < 4; ++p) {
            u32 qw[2][2][2];  // [h][mt][hh]
#pragma unroll
            for (int h = 0; h < 2; ++h)
#pragma unroll
                for (int mt = 0; mt < 2; ++mt)
#pragma unroll
                    for (int hh = 0; hh < 2; ++hh)
                        qw[h][mt][hh] = __ldg((const u32*)(blk[mt][hh] + 16 + 32 * p + 16 * h + 4 * c));
#pragma unroll
            for (int nib = 0; nib < 2; ++nib) {
                const int s = 2 * p + nib;
                float tmp[2][4][4];
                zero_tmp(tmp);
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    u32 a[2][4];
#pragma unroll
                    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
                        for (int hh = 0; hh < 2; ++hh) {
                            const u32 q = (qw[h][mt][hh] >> (4 * nib)) & 0x0F0F0F0Fu;
                            a[mt][hh] = bytes_to_h2(q, 0, 0x64006400u);
                            a[mt][2 + hh] = bytes_to_h2(q, 1, 0x64006400u);
                        }
                    mma_kstep(tmp, a, t, kb * 256 + 64 * p + 32 * nib + 16 * h, c, split);
                }
                // Scales of sub-block s for this thread's four rows; Σx of its columns per token.
                float dl[2][2], ml[2][2];
#pragma unroll
                for (int mt = 0; mt < 2; ++mt)
#pragma unroll
                    for (int hh = 0; hh < 2; ++hh) {
                        const uint4 q = hd[mt][hh];
                        float sc, mn;
                        const int sh = 8 * (s & 3);
                        const u32 Y = (q.y >> sh) & 0xFFu, Z = (q.z >> sh) & 0xFFu, W = (q.w >> sh) & 0xFFu;
                        if (s < 4) {
                            sc = (float)(Y & 63u);
                            mn = (float)(Z & 63u);
                        } else {
                            sc = (float)((W & 15u) | ((Y >> 6) << 4));
                            mn = (float)((W >> 4) | ((Z >> 6) << 4));
                        }
                        dl[mt][hh] = f16_to_f32((u16)(q.x & 0xFFFFu)) * sc;
                        ml[mt][hh] = f16_to_f32((u16)(q.x >> 16)) * mn;
                    }
                const int chunk = kb * 16 + 2 * s;
#pragma unroll
                for (int nt = 0; nt < 4; ++nt) {
                    const float2 s0 = __ldg((const float2*)(xs + (u64)chunk * Tp + t.tok_pair[nt]));
                    const float2 s1 = __ldg((const float2*)(xs + (u64)(chunk + 1) * Tp + t.tok_pair[nt]));
                    const float sx0 = s0.x + s1.x, sx1 = s0.y + s1.y;
#pragma unroll
                    for (int mt = 0; mt < 2; ++mt) {
                        float* cc = t.c[mt][nt];
                        const float* tt = tmp[mt][nt];
                        cc[0] += dl[mt][0] * tt[0] - ml[mt][0] * sx0;
                        cc[1] += dl[mt][0] * tt[1] - ml[mt][0] * sx1;
                        cc[2] += dl[mt][1] * tt[2] - ml[mt][1] * sx0;
                        cc[3] += dl[mt][1] * tt[3] - ml[mt][1] * sx1;
                    }
                }
            }
        }
    }
};

// Q6_K, padded layout (ql @0, qh @128, scales @192, d @208; 224 bytes). For half, j (16-column
// range) and quarter q the step covers columns 128·half + 32q + 16j + i, scale 8·half + 2q + j.
struct MmQ6KR {
    static constexpr int KB = 256;
    __device__ static void step(Tile& t, const u8* w, u64 row_bytes, const float*, int, int kb, int c, int split) {
        const u8* blk[2][2];
        float d[2][2];
#pragma unroll
        for (int mt = 0; mt < 2; ++mt)
#pragma unroll
            for (int hh = 0; hh < 2; ++hh) {
                blk[mt][hh] = w + (u64)t.row[mt][hh] * row_bytes + (u64)kb * 224;
                d[mt][hh] = f16_to_f32(__ldg((const unsigned short*)(blk[mt][hh] + 208)));
            }
#pragma unroll 1
        for (int hj = 0; hj < 4; ++hj) {
            const int half = hj >> 1, j = hj & 1;
            u32 qa[2][2], qb[2][2], qh[2][2];
            uint2 sc[2][2];
#pragma unroll
            for (int mt = 0; mt < 2; ++mt)
#pragma unroll
                for (int hh = 0; hh < 2; ++hh) {
                    const u8* b = blk[mt][hh];
                    qa[mt][hh] = __ldg((const u32*)(b + 64 * half + 16 * j + 4 * c));
                    qb[mt][hh] = __ldg((const u32*)(b + 64 * half + 32 + 16 * j + 4 * c));
                    qh[mt][hh] = __ldg((const u32*)(b + 128 + 32 * half + 16 * j + 4 * c));
                    sc[mt][hh] = __ldg((const uint2*)(b + 192 + 8 * half));
                }
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                u32 a[2][4];
                float dl[2][2];
#pragma unroll
                for (int mt = 0; mt < 2; ++mt)
#pragma unroll
                    for (int hh = 0; hh < 2; ++hh) {
                        const u32 src = (q & 1) ? qb[mt][hh] : qa[mt][hh];
                        const u32 low = (q < 2) ? (src & 0x0F0F0F0Fu) : ((src >> 4) & 0x0F0F0F0Fu);
                        const u32 six = low | (((qh[mt][hh] >> (2 * q)) & 0x03030303u) << 4);
                        // 0x6420 is 1056 = 1024 + 32 in f16: (1024 + q) − 1056 = q − 32, exact.
                        a[mt][hh] = bytes_to_h2(six, 0, 0x64206420u);
                        a[mt][2 + hh] = bytes_to_h2(six, 1, 0x64206420u);
                        const int byte = 2 * q + j;
                        const u32 word = byte < 4 ? sc[mt][hh].x : sc[mt][hh].y;
                        dl[mt][hh] = d[mt][hh] * (float)(signed char)((word >> (8 * (byte & 3))) & 0xFFu);
                    }
                float tmp[2][4][4];
                zero_tmp(tmp);
                mma_kstep(tmp, a, t, kb * 256 + 128 * half + 32 * q + 16 * j, c, split);
#pragma unroll
                for (int mt = 0; mt < 2; ++mt)
#pragma unroll
                    for (int nt = 0; nt < 4; ++nt) {
                        float* cc = t.c[mt][nt];
                        const float* tt = tmp[mt][nt];
                        cc[0] += dl[mt][0] * tt[0];
                        cc[1] += dl[mt][0] * tt[1];
                        cc[2] += dl[mt][1] * tt[2];
                        cc[3] += dl[mt][1] * tt[3];
                    }
            }
        }
    }
};

// F16 (K a multiple of 32): two 16-column steps per K block, straight into the accumulators.
struct MmF16 {
    static constexpr int KB = 32;
    __device__ static void step(Tile& t, const u8* w, u64 row_bytes, const float*, int, int kb, int c, int split) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const int k0 = kb * 32 + 16 * h;
            u32 a[2][4];
#pragma unroll
            for (int mt = 0; mt < 2; ++mt)
#pragma unroll
                for (int hh = 0; hh < 2; ++hh) {
                    const uint2 v = __ldg((const uint2*)(w + (u64)t.row[mt][hh] * row_bytes + 2 * (u64)(k0 + 4 * c)));
                    a[mt][hh] = v.x;
                    a[mt][2 + hh] = v.y;
                }
            mma_kstep(t.c, a, t, k0, c, split);
        }
    }
};

__device__ __noinline__ float mm_epilogue(float acc, int epi, const float* bias, int m) {
    float b = bias ? bias[m] : 0.0f;
    switch (epi) {
        case 1: return tanhf(acc);
        case 2: return sigmoidf_(acc);
        case 3: return expf(-0.60653065971263342f * sigmoidf_(acc + b));
        case 4: return sigmoidf_(acc + b);
        default: return acc + b;
    }
}

template <class A>
__device__ __forceinline__ void mm_body(const u8* __restrict__ w, u64 row_bytes, const u16* __restrict__ xh,
                                        const u16* __restrict__ xl, const float* __restrict__ xs,
                                        float* __restrict__ out, int M, int K, int T, int Tp, int epi,
                                        const float* __restrict__ bias, int split, float* __restrict__ ws) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, c = lane & 3;
    const int row0 = blockIdx.x * 128 + (warp & 3) * 32;
    const int tok0 = blockIdx.y * 64 + (warp >> 2) * 32;
    Tile t;
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) t.row[mt][hh] = min(row0 + 16 * mt + 8 * hh + g, M - 1);
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
        t.xh[nt] = xh + (u64)(tok0 + 8 * nt + g) * K;
        t.xl[nt] = xl + (u64)(tok0 + 8 * nt + g) * K;
        t.tok_pair[nt] = tok0 + 8 * nt + 2 * c;
    }
    zero_tmp(t.c);
    // Split K: block z of gridDim.z sums K blocks [z·steps/S, (z+1)·steps/S) and leaves its partial
    // tile in ws[z] for mm_reduce (which applies the epilogue); with S = 1 it writes out directly.
    const int steps = K / A::KB, S = gridDim.z, z = blockIdx.z;
    const int kb0 = (int)((long long)steps * z / S), kb1 = (int)((long long)steps * (z + 1) / S);
    for (int kb = kb0; kb < kb1; ++kb) A::step(t, w, row_bytes, xs, Tp, kb, c, split);
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
        for (int nt = 0; nt < 4; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                const int m = row0 + 16 * mt + 8 * (e >> 1) + g;
                const int tok = t.tok_pair[nt] + (e & 1);
                if (m < M && tok < T) {
                    if (S == 1) {
                        out[(u64)tok * M + m] = mm_epilogue(t.c[mt][nt][e], epi, bias, m);
                    } else {
                        ws[((u64)z * T + tok) * M + m] = t.c[mt][nt][e];
                    }
                }
            }
}

// out[t][m] = epi(Σ_z ws[z][t][m]), the partial sums summed in z order (deterministic).
extern "C" __global__ void __launch_bounds__(256)
    mm_reduce(const float* ws, float* out, int M, int T, int S, int epi, const float* bias) {
    pdl_entry();
    const u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x, n = (u64)M * T;
    if (i >= n) return;
    float s = 0.0f;
    for (int z = 0; z < S; ++z) s += ws[(u64)z * n + i];
    out[i] = mm_epilogue(s, epi, bias, (int)(i % M));
}

#define MM_KERNEL(NAME, A)                                                                                     \
    extern "C" __global__ void __launch_bounds__(256)                                                          \
        NAME(const u8* w, u64 row_bytes, const u16* xh, const u16* xl, const float* xs, float* out, int M, int K, \
             int T, int Tp, int epi, const float* bias, int split, float* ws) {                              \
        pdl_entry();                                                                                         \
        mm_body<A>(w, row_bytes, xh, xl, xs, out, M, K, T, Tp, epi, bias, split, ws);                            \
    }

MM_KERNEL(mm_q4_k, MmQ4K)
MM_KERNEL(mm_q6_kr, MmQ6KR)
MM_KERNEL(mm_f16v, MmF16)
