// matvec: decode-time matrix-vector products (one token), several independent ones per launch.
//   out[m] = epi(Σ_k W[m][k] · x[k] + bias[m]),  W [M, K] in a block format (blocks.cuh), x [K] f32.
// After the epilogue, optionally (fused ops that would otherwise be launches of their own):
//   add_to[m] += out[m]                                  (the residual add after a projection)
//   vr_v[m]   += (vr_first[m] − vr_v[m]) · out[m]        (RWKV-7's value residual, out = the mix)
// Epilogues: 0 none, 1 tanh, 2 sigmoid, 3 exp(−e^(−1/2)·σ(acc + bias)) (decay), 4 σ(acc + bias),
//            5 max(acc + bias, 0)² (relu², the channel mix's activation).
//
// The launch takes a table of up to MV_MAX descriptors in device memory (built once by the host and
// cached, so a replayed CUDA graph sees the same table). Descriptor i owns blocks block_start[i] ..
// block_start[i+1] − 1.
//
// Thread mapping: a block of blockDim threads is cut into groups of `tpr` threads (a power of two,
// 1 .. 256); a group owns R consecutive rows and its threads take the row's "units" (blocks.cuh) in
// turn, so consecutive threads read consecutive bytes. The R rows share each x load (for 4-bit
// weights, x traffic would otherwise be 8× the weight traffic). Partial sums are reduced with
// shuffles inside a warp and through shared memory across the warps of a group (tpr > 32). Rows
// past M are read clamped to row M − 1 and never written, so no thread leaves early (every lane
// takes part in the shuffles and barriers).
//
// x: when the launch has dynamic shared memory (K·4 bytes, every K a multiple of 4), each block
// first copies x there, swizzled (float4 f stored at f ^ ((f >> 4) & 3)) so that the Q4_K and
// Q6_K units' reads spread over all banks. Read from global memory instead, those scattered 16-byte
// pieces cost ~16 L1 wavefronts per warp load, which capped 4-bit matvecs at ~25% of bandwidth.
// The first unit's weights are requested before the copy, and each later unit's one iteration
// ahead of its use (`Frag`s), so every thread keeps two units' bytes in flight.
//
// Fast paths: Q4_K and the padded Q6_K layout decode with the float "magic number" trick instead of
// integer-to-float conversions (a quarter-rate instruction on the GPU):
//   as_float(0x4B000000 | q) − 2^23 == q exactly for 0 ≤ q < 2^23,
// and fold the block scales in once per run of 16 or 32 values: d·sc·Σ q·x − dmin·m·Σ x.
// mv_mix_r1 serves F16 and F32 descriptors in one launch (`fmt` 0 / 1): a layer's LoRAs mix both.
// Precision: f32 throughout; equal to the CPU reference up to summation order.

struct MvDesc {
    u64 w, x, out, bias, add_to, vr_v, vr_first, row_bytes;
    u64 M, K, epi, tpr, block_start, fmt, pad1, pad2;
};

__device__ __forceinline__ uint4 ldg_u4(const u8* p) { return __ldg((const uint4*)p); }
__device__ __forceinline__ uint2 ldg_u2(const u8* p) { return __ldg((const uint2*)p); }
__device__ __forceinline__ float4 ldg_f4(const float* p) { return __ldg((const float4*)p); }

__device__ __forceinline__ int swz(int f) { return f ^ ((f >> 4) & 3); }

// Where x is read from: the block's shared copy (swizzled), or global memory.
struct XSrc {
    const float* g;
    const float4* s;
    __device__ __forceinline__ float4 f4(int f) const { return s ? s[swz(f)] : ldg_f4(g + 4 * f); }
    __device__ __forceinline__ float f1(int e) const {
        return s ? ((const float*)(s + swz(e >> 2)))[e & 3] : __ldg(g + e);
    }
};

// Byte j of w as a float in 0 .. 255 (see the header).
__device__ __forceinline__ float byte_float(u32 w, int j) {
    return __int_as_float(__byte_perm(w, 0x4B000000u, 0x7540u | (u32)j)) - 8388608.0f;
}

__device__ __forceinline__ float sum4(float4 v) { return (v.x + v.y) + (v.z + v.w); }

__device__ __forceinline__ float comp(float4 v, int j) { return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w; }

__device__ __forceinline__ float dot4(float4 a, float4 b) { return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w; }

// Any format of blocks.cuh: decode the unit (loads inside decode; no prefetch), dot it with x.
template <class F>
struct GenericDot {
    static constexpr int BLOCK_ELEMS = F::BLOCK_ELEMS, UNITS = F::UNITS;
    struct Frag {};
    template <int R>
    __device__ static void load(const u8* const*, int, Frag*) {}
    template <int R>
    __device__ static void dot(const u8* const* rows, const Frag*, int g, const XSrc& x, float* acc) {
        constexpr int ELEMS = F::GROUPS * F::GLEN;
        constexpr bool V4 = (F::GLEN % 4 == 0);
        const int b = g / F::UNITS, u = g - b * F::UNITS;
        const int e0 = b * F::BLOCK_ELEMS + F::base(u);
        float xv[ELEMS];
#pragma unroll
        for (int gi = 0; gi < F::GROUPS; ++gi) {
            if (V4) {
#pragma unroll
                for (int j = 0; j < F::GLEN; j += 4) {
                    const float4 f = x.f4((e0 + gi * F::GSTRIDE + j) >> 2);
                    xv[gi * F::GLEN + j] = f.x;
                    xv[gi * F::GLEN + j + 1] = f.y;
                    xv[gi * F::GLEN + j + 2] = f.z;
                    xv[gi * F::GLEN + j + 3] = f.w;
                }
            } else {
#pragma unroll
                for (int j = 0; j < F::GLEN; ++j) xv[gi * F::GLEN + j] = x.f1(e0 + gi * F::GSTRIDE + j);
            }
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
            float v[ELEMS];
            F::decode(rows[r] + (u64)b * F::BLOCK_BYTES, u, v);
            float s = 0.0f;
#pragma unroll
            for (int e = 0; e < ELEMS; ++e) s += v[e] * xv[e];
            acc[r] += s;
        }
    }
};

// F16 rows (K a multiple of 8): a unit is 8 values, one 16-byte load.
struct DotF16 {
    static constexpr int BLOCK_ELEMS = 8, UNITS = 1;
    struct Frag {
        uint4 w;
    };
    template <int R>
    __device__ static void load(const u8* const* rows, int g, Frag* f) {
#pragma unroll
        for (int r = 0; r < R; ++r) f[r].w = ldg_u4(rows[r] + 16 * (u64)g);
    }
    template <int R>
    __device__ static void dot(const u8* const*, const Frag* f, int g, const XSrc& x, float* acc) {
        const float4 xa = x.f4(2 * g), xb = x.f4(2 * g + 1);
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const u32 w[4] = {f[r].w.x, f[r].w.y, f[r].w.z, f[r].w.w};
            float v[8];
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                v[2 * i] = f16_to_f32((u16)(w[i] & 0xFFFFu));
                v[2 * i + 1] = f16_to_f32((u16)(w[i] >> 16));
            }
            acc[r] += dot4(make_float4(v[0], v[1], v[2], v[3]), xa) + dot4(make_float4(v[4], v[5], v[6], v[7]), xb);
        }
    }
};

// F32 rows (K a multiple of 4): a unit is 4 values, one 16-byte load.
struct DotF32 {
    static constexpr int BLOCK_ELEMS = 4, UNITS = 1;
    struct Frag {
        float4 w;
    };
    template <int R>
    __device__ static void load(const u8* const* rows, int g, Frag* f) {
#pragma unroll
        for (int r = 0; r < R; ++r) f[r].w = ldg_f4((const float*)(rows[r] + 16 * (u64)g));
    }
    template <int R>
    __device__ static void dot(const u8* const*, const Frag* f, int g, const XSrc& x, float* acc) {
        const float4 xv = x.f4(g);
#pragma unroll
        for (int r = 0; r < R; ++r) acc[r] += dot4(f[r].w, xv);
    }
};

// The 6-bit (scale, min) of sub-block s of a Q4_K block whose scale bytes 0-3, 4-7, 8-11 are the
// words y, z, w (see k4_scale_min in blocks.cuh).
__device__ __forceinline__ void k4_sm(u32 y, u32 z, u32 w, int s, float* sc, float* mn) {
    const int t = 8 * (s & 3);
    const u32 Y = (y >> t) & 0xFFu, Z = (z >> t) & 0xFFu, W = (w >> t) & 0xFFu;
    u32 a, m;
    if (s < 4) {
        a = Y & 63u;
        m = Z & 63u;
    } else {
        a = (W & 15u) | ((Y >> 6) << 4);
        m = (W >> 4) | ((Z >> 6) << 4);
    }
    *sc = (float)a;
    *mn = (float)m;
}

// Q4_K (144-byte blocks, 16-byte aligned when K is a multiple of 256, which the format requires).
// Unit u = (p = u/2, h = u%2): qs bytes 32p+16h .. +16 hold elements 64p+16h+i (low nibbles,
// sub-block 2p) and 64p+32+16h+i (high nibbles, sub-block 2p+1).
struct DotQ4K {
    static constexpr int BLOCK_ELEMS = 256, UNITS = 8;
    struct Frag {
        uint4 hd, qv;
    };
    template <int R>
    __device__ static void load(const u8* const* rows, int g, Frag* f) {
        const int b = g >> 3, u = g & 7;
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const u8* blk = rows[r] + (u64)b * 144;
            f[r].hd = ldg_u4(blk);
            f[r].qv = ldg_u4(blk + 16 + 16 * u);
        }
    }
    template <int R>
    __device__ static void dot(const u8* const*, const Frag* f, int g, const XSrc& x, float* acc) {
        const int b = g >> 3, u = g & 7, p = u >> 1, h = u & 1;
        const int f0 = 64 * b + 16 * p + 4 * h;
        float4 xa[4], xb[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            xa[i] = x.f4(f0 + i);
            xb[i] = x.f4(f0 + 8 + i);
        }
        const float sxa = (sum4(xa[0]) + sum4(xa[1])) + (sum4(xa[2]) + sum4(xa[3]));
        const float sxb = (sum4(xb[0]) + sum4(xb[1])) + (sum4(xb[2]) + sum4(xb[3]));
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const u32 qw[4] = {f[r].qv.x, f[r].qv.y, f[r].qv.z, f[r].qv.w};
            float sa = 0.0f, sb = 0.0f;
#pragma unroll
            for (int wi = 0; wi < 4; ++wi) {
                const u32 lo = qw[wi] & 0x0F0F0F0Fu, hi = (qw[wi] >> 4) & 0x0F0F0F0Fu;
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    sa = fmaf(byte_float(lo, j), comp(xa[wi], j), sa);
                    sb = fmaf(byte_float(hi, j), comp(xb[wi], j), sb);
                }
            }
            const uint4 hd = f[r].hd;
            const float d = f16_to_f32((u16)(hd.x & 0xFFFFu)), dmin = f16_to_f32((u16)(hd.x >> 16));
            float sc0, m0, sc1, m1;
            k4_sm(hd.y, hd.z, hd.w, 2 * p, &sc0, &m0);
            k4_sm(hd.y, hd.z, hd.w, 2 * p + 1, &sc1, &m1);
            acc[r] += ((d * sc0) * sa - (dmin * m0) * sxa) + ((d * sc1) * sb - (dmin * m1) * sxb);
        }
    }
};

// Q6_K in the padded 224-byte layout (blocks.cuh, FmtQ6_KR). Unit u = (half = u/2, j = u%2): the 64
// elements 128·half + 32·q + 16·j + i (q < 4, i < 16); ql words from 64·half + 16·j (quarters 0, 2)
// and 64·half + 32 + 16·j (quarters 1, 3), qh from 128 + 32·half + 16·j, scales 8·half + 2q + j.
struct DotQ6KR {
    static constexpr int BLOCK_ELEMS = 256, UNITS = 4;
    struct Frag {
        uint4 qa, qb, qh;
        uint2 sc;
        float d;
    };
    template <int R>
    __device__ static void load(const u8* const* rows, int g, Frag* f) {
        const int b = g >> 2, u = g & 3, half = u >> 1, j = u & 1;
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const u8* blk = rows[r] + (u64)b * 224;
            f[r].qa = ldg_u4(blk + 64 * half + 16 * j);
            f[r].qb = ldg_u4(blk + 64 * half + 32 + 16 * j);
            f[r].qh = ldg_u4(blk + 128 + 32 * half + 16 * j);
            f[r].sc = ldg_u2(blk + 192 + 8 * half);
            f[r].d = f16_to_f32(__ldg((const unsigned short*)(blk + 208)));
        }
    }
    template <int R>
    __device__ static void dot(const u8* const*, const Frag* f, int g, const XSrc& x, float* acc) {
        const int b = g >> 2, u = g & 3, half = u >> 1, j = u & 1;
        const int f0 = 64 * b + 32 * half + 4 * j;
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            float4 xv[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) xv[i] = x.f4(f0 + 8 * q + i);
            const float sx = (sum4(xv[0]) + sum4(xv[1])) + (sum4(xv[2]) + sum4(xv[3]));
#pragma unroll
            for (int r = 0; r < R; ++r) {
                const uint4 src = (q & 1) ? f[r].qb : f[r].qa;
                const u32 sw[4] = {src.x, src.y, src.z, src.w};
                const u32 hw[4] = {f[r].qh.x, f[r].qh.y, f[r].qh.z, f[r].qh.w};
                float s = 0.0f;
#pragma unroll
                for (int wi = 0; wi < 4; ++wi) {
                    const u32 low = (q < 2) ? (sw[wi] & 0x0F0F0F0Fu) : ((sw[wi] >> 4) & 0x0F0F0F0Fu);
                    const u32 six = low | (((hw[wi] >> (2 * q)) & 0x03030303u) << 4);
#pragma unroll
                    for (int jj = 0; jj < 4; ++jj) s = fmaf(byte_float(six, jj), comp(xv[wi], jj), s);
                }
                const int byte = 2 * q + j;
                const u32 word = byte < 4 ? f[r].sc.x : f[r].sc.y;
                const float scale = (float)(signed char)((word >> (8 * (byte & 3))) & 0xFFu);
                acc[r] += (f[r].d * scale) * (s - 32.0f * sx);
            }
        }
    }
};

template <class F>
struct DotFor {
    typedef GenericDot<F> T;
};
template <>
struct DotFor<FmtQ4_K> {
    typedef DotQ4K T;
};
template <>
struct DotFor<FmtQ6_KR> {
    typedef DotQ6KR T;
};
template <>
struct DotFor<FmtF16V> {
    typedef DotF16 T;
};
template <>
struct DotFor<FmtF32V> {
    typedef DotF32 T;
};

__device__ __noinline__ void mv_store(const MvDesc* d, int m, float acc) {
    const float* bias = (const float*)d->bias;
    const float b = bias ? bias[m] : 0.0f;
    float v;
    switch ((int)d->epi) {
        case 1: v = tanhf(acc); break;
        case 2: v = sigmoidf_(acc); break;
        case 3: v = expf(-0.60653065971263342f * sigmoidf_(acc + b)); break;
        case 4: v = sigmoidf_(acc + b); break;
        case 5: {
            const float r = fmaxf(acc + b, 0.0f);
            v = r * r;
            break;
        }
        default: v = acc + b;
    }
    ((float*)d->out)[m] = v;
    if (d->add_to) ((float*)d->add_to)[m] += v;
    if (d->vr_v) {
        float* vv = (float*)d->vr_v;
        const float* vf = (const float*)d->vr_first;
        vv[m] += (vf[m] - vv[m]) * v;
    }
}

extern __shared__ float4 mv_x[];

// The descriptor of this block.
__device__ __forceinline__ const MvDesc* mv_desc(const MvDesc* descs, int n) {
    int i = n - 1;
    while (i > 0 && (int)descs[i].block_start > (int)blockIdx.x) --i;
    return descs + i;
}

// One descriptor's rows for this block. `smem`: copy x to shared memory first.
template <class D, int R>
__device__ __forceinline__ void mv_run(const MvDesc* __restrict__ d, bool smem) {
    __shared__ float red[16][R];
    const u8* w = (const u8*)d->w;
    const float* x = (const float*)d->x;
    const u64 row_bytes = d->row_bytes;
    const int M = (int)d->M, K = (int)d->K, tpr = (int)d->tpr;
    const int group = threadIdx.x / tpr, sub = threadIdx.x - group * tpr;
    const int groups = blockDim.x / tpr;
    const int m0 = (((int)blockIdx.x - (int)d->block_start) * groups + group) * R;
    const u8* rows[R];
#pragma unroll
    for (int r = 0; r < R; ++r) rows[r] = w + (u64)min(m0 + r, M - 1) * row_bytes;
    const int units = (K / D::BLOCK_ELEMS) * D::UNITS;
    typename D::Frag cur[R], nxt[R];
    int g = sub;
    if (g < units) D::template load<R>(rows, g, cur);
    XSrc xs{x, nullptr};
    if (smem) {
        const float4* x4 = (const float4*)x;
        for (int f = threadIdx.x; f < K / 4; f += blockDim.x) mv_x[swz(f)] = __ldg(x4 + f);
        __syncthreads();
        xs.s = mv_x;
    }
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; ++r) acc[r] = 0.0f;
    for (; g < units; g += tpr) {
        if (g + tpr < units) D::template load<R>(rows, g + tpr, nxt);
        D::template dot<R>(rows, cur, g, xs, acc);
#pragma unroll
        for (int r = 0; r < R; ++r) cur[r] = nxt[r];
    }
    const int width = tpr < 32 ? tpr : 32;
#pragma unroll
    for (int r = 0; r < R; ++r) {
        for (int o = width >> 1; o > 0; o >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
    }
    if (tpr > 32) {
        const int warp = threadIdx.x >> 5;
        if ((threadIdx.x & 31) == 0) {
#pragma unroll
            for (int r = 0; r < R; ++r) red[warp][r] = acc[r];
        }
        __syncthreads();
        if (sub == 0) {
#pragma unroll
            for (int r = 0; r < R; ++r) {
                float s = 0.0f;
                for (int k = 0; k < tpr / 32; ++k) s += red[warp + k][r];
                acc[r] = s;
            }
        }
    }
    if (sub == 0) {
#pragma unroll
        for (int r = 0; r < R; ++r) {
            if (m0 + r < M) mv_store(d, m0 + r, acc[r]);
        }
    }
}

// ---- The integer path (launch mode 2): Q4_K weights against x as 24-bit fixed point, on dp4a ----
//
// Why: the float path spends ~4 instructions per weight element (byte → float, FMA, scale fix-ups)
// and its short-lived blocks each copy all of x; at ~8 elements per clock per SM it stayed at 20-25%
// of bandwidth. Here a block first writes x to shared memory as integers, then walks many row groups
// (a persistent grid: about one block per SM), and a dp4a does 4 products per instruction.
//
// x in shared memory, per group of 32 elements g: s_g = max|x| / 2^22 and X = rint(x / s_g), so
// |X| ≤ 2^22 and the rounding error is at most s_g / 2 (relative 1.2e-7 of the group's largest
// value, the order of f32 rounding). X is kept as its three low bytes in three planes: bytes 0 and 1
// unsigned, byte 2 signed (X = b2·65536 + b1·256 + b0). A run of 32 products Σ q·X is then
//   S = ((Σ q·b2) << 8 + Σ q·b1) << 8 + Σ q·b0
// in 32-bit integers; intermediate values may wrap, but the arithmetic is modular and the exact
// result fits (|Σ q·X| ≤ 15·32·2^22 < 2^31), so S is exact. Then Σ q·x = s_g·S.
// Also kept: Σ x of each group (f32), for the Q4_K minimums.
//
// Layout (dynamic shared memory, 3K + K/4 bytes): plane p at 16-byte chunk p·K/16, a chunk being 16
// consecutive elements; chunk c is stored at qswz(c) so that 8 lanes reading the chunks 4u .. of
// consecutive units u hit 32 different banks; then (s_g, Σx_g) as float2 per group.

__device__ __forceinline__ int dp4a_s(int a, int b, int c) {
    int d;
    asm("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}
__device__ __forceinline__ int dp4a_u(int a, int b, int c) {
    int d;
    asm("dp4a.u32.u32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

__device__ __forceinline__ int qswz(int c) { return c ^ ((c >> 3) & 7); }

// Byte k of each of a, b, c, d, packed into one word.
__device__ __forceinline__ u32 plane_word(int a, int b, int c, int d, u32 k) {
    const u32 sel = k | ((4u + k) << 4);
    return __byte_perm(__byte_perm((u32)a, (u32)b, sel), __byte_perm((u32)c, (u32)d, sel), 0x5410u);
}

// Writes x [K] (K a multiple of 256) to shared memory in the layout above. Every lane of a warp
// takes part (K / 4 is a multiple of 64, blockDim a multiple of 32).
__device__ void qx_fill(const float* __restrict__ x, int K, uint4* sm) {
    const int chunks = K >> 4;
    u32* planes = (u32*)sm;
    float2* gs = (float2*)(sm + 3 * chunks);
    for (int t = threadIdx.x; t < (K >> 2); t += blockDim.x) {
        const float4 v = ldg_f4(x + 4 * t);
        float m = fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w)));
        float s = sum4(v);
#pragma unroll
        for (int o = 1; o < 8; o <<= 1) {
            m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
            s += __shfl_xor_sync(0xffffffffu, s, o);
        }
        // Groups whose largest |x| is under 1e-30 count as zero (their products are below f32's
        // reach anyway), so that 2^22 / m stays finite.
        const float inv = m > 1e-30f ? 4194304.0f / m : 0.0f;
        const int a = __float2int_rn(v.x * inv), b = __float2int_rn(v.y * inv);
        const int c = __float2int_rn(v.z * inv), d = __float2int_rn(v.w * inv);
        const int at = (qswz(t >> 2) << 2) | (t & 3);
#pragma unroll
        for (u32 k = 0; k < 3; ++k) planes[4 * chunks * k + at] = plane_word(a, b, c, d, k);
        if ((t & 7) == 0) gs[t >> 3] = make_float2(m * (1.0f / 4194304.0f), s);
    }
}

// Q4_K on the integer path. Unit u = (block b = u/4, p = u%4): qs bytes 32p .. 32p+32, i.e. all of
// sub-block 2p (low nibbles, elements 64u .. 64u+31 of the row) and of 2p+1 (high nibbles, the next 32).
struct IntQ4K {
    static constexpr int UNIT_ELEMS = 64;
    struct Frag {
        uint4 hd, qa, qb;
    };
    template <int R>
    __device__ static void load(const u8* const* rows, int u, Frag* f) {
        const int b = u >> 2, p = u & 3;
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const u8* blk = rows[r] + (u64)b * 144;
            f[r].hd = ldg_u4(blk);
            f[r].qa = ldg_u4(blk + 16 + 32 * p);
            f[r].qb = ldg_u4(blk + 32 + 32 * p);
        }
    }
    // Σ q·X over one group: q[i] the 8 nibble words, x the group's 2 chunks in each plane.
    __device__ static int run(const u32* q, const uint4* x2, const uint4* x1, const uint4* x0) {
        const u32 w2[8] = {x2[0].x, x2[0].y, x2[0].z, x2[0].w, x2[1].x, x2[1].y, x2[1].z, x2[1].w};
        const u32 w1[8] = {x1[0].x, x1[0].y, x1[0].z, x1[0].w, x1[1].x, x1[1].y, x1[1].z, x1[1].w};
        const u32 w0[8] = {x0[0].x, x0[0].y, x0[0].z, x0[0].w, x0[1].x, x0[1].y, x0[1].z, x0[1].w};
        int s = 0;
#pragma unroll
        for (int i = 0; i < 8; ++i) s = dp4a_s((int)q[i], (int)w2[i], s);
        s <<= 8;
#pragma unroll
        for (int i = 0; i < 8; ++i) s = dp4a_u((int)q[i], (int)w1[i], s);
        s <<= 8;
#pragma unroll
        for (int i = 0; i < 8; ++i) s = dp4a_u((int)q[i], (int)w0[i], s);
        return s;
    }
    template <int R>
    __device__ static void dot(const Frag* f, int u, const uint4* sm, int chunks, float* acc) {
        uint4 xl2[2], xl1[2], xl0[2], xh2[2], xh1[2], xh0[2];
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            xl2[i] = sm[2 * chunks + qswz(4 * u + i)];
            xl1[i] = sm[chunks + qswz(4 * u + i)];
            xl0[i] = sm[qswz(4 * u + i)];
            xh2[i] = sm[2 * chunks + qswz(4 * u + 2 + i)];
            xh1[i] = sm[chunks + qswz(4 * u + 2 + i)];
            xh0[i] = sm[qswz(4 * u + 2 + i)];
        }
        const float4 g = ((const float4*)(sm + 3 * chunks))[u];  // (s, Σx) of sub-blocks 2p, 2p+1
        const int p = u & 3;
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const u32 q[8] = {f[r].qa.x, f[r].qa.y, f[r].qa.z, f[r].qa.w, f[r].qb.x, f[r].qb.y, f[r].qb.z, f[r].qb.w};
            u32 lo[8], hi[8];
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                lo[i] = q[i] & 0x0F0F0F0Fu;
                hi[i] = (q[i] >> 4) & 0x0F0F0F0Fu;
            }
            const int sl = run(lo, xl2, xl1, xl0), sh = run(hi, xh2, xh1, xh0);
            const uint4 hd = f[r].hd;
            const float d = f16_to_f32((u16)(hd.x & 0xFFFFu)), dmin = f16_to_f32((u16)(hd.x >> 16));
            float sc0, m0, sc1, m1;
            k4_sm(hd.y, hd.z, hd.w, 2 * p, &sc0, &m0);
            k4_sm(hd.y, hd.z, hd.w, 2 * p + 1, &sc1, &m1);
            acc[r] += ((d * sc0) * (g.x * (float)sl) - (dmin * m0) * g.y) + ((d * sc1) * (g.z * (float)sh) - (dmin * m1) * g.w);
        }
    }
};

template <class F>
struct IntDotFor {
    static constexpr bool OK = false;
    typedef IntQ4K T;  // unused
};
template <>
struct IntDotFor<FmtQ4_K> {
    static constexpr bool OK = true;
    typedef IntQ4K T;
};

// One descriptor's rows for this block on the integer path: x to shared memory once, then row
// groups blk, blk + nb, ... (nb = the descriptor's blocks, word `pad1`), each a group of `tpr`
// lanes over R rows. The (row group, unit) pairs of a thread form one sequence, and the next pair's
// weights are requested before the current pair's dot, also across row groups (the dot reads
// only the fragments, so `rows` can run one row group ahead). A second step ahead for one-row
// groups measured no better (decode profile 1.28 ms against 1.16 ms of Q4_K, within noise of
// a run whose other timings also moved). Every lane of the
// block runs the same number of steps (rows past M are read clamped and not written), so the
// shuffles see whole warps.
template <class D, int R>
__device__ __forceinline__ void mvq_run(const MvDesc* __restrict__ d) {
    const u8* w = (const u8*)d->w;
    const u64 row_bytes = d->row_bytes;
    const int M = (int)d->M, K = (int)d->K, tpr = (int)d->tpr, nb = (int)d->pad1;
    const int group = threadIdx.x / tpr, sub = threadIdx.x - group * tpr;
    const int gpb = blockDim.x / tpr;
    const int units = K / D::UNIT_ELEMS;
    const int ipr = (units + tpr - 1) / tpr;
    const int total_groups = (M + R - 1) / R;
    const int first = ((int)blockIdx.x - (int)d->block_start) * gpb;
    const int stride = nb * gpb;
    const int nk = first < total_groups ? (total_groups - first + stride - 1) / stride : 0;
    const int steps = nk * ipr;
    const u8* rows[R];
    auto set_rows = [&](int k) {
        const int m0 = (first + k * stride + group) * R;
#pragma unroll
        for (int r = 0; r < R; ++r) rows[r] = w + (u64)min(m0 + r, M - 1) * row_bytes;
    };
    typename D::Frag cur[R], nxt[R];
    set_rows(0);
    if (steps > 0 && sub < units) D::template load<R>(rows, sub, cur);
    uint4* sm = (uint4*)mv_x;
    qx_fill((const float*)d->x, K, sm);
    __syncthreads();
    const int chunks = K >> 4;
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; ++r) acc[r] = 0.0f;
    int k = 0, j = 0, rows_k = 0;  // rows[] point at row group rows_k (that of the latest load)
    for (int it = 0; it < steps; ++it) {
        // The next step's (row group, unit), and its loads.
        int k1 = k, j1 = j + 1;
        if (j1 == ipr) {
            j1 = 0;
            ++k1;
        }
        const int u1 = sub + j1 * tpr;
        if (it + 1 < steps && u1 < units) {
            if (k1 != rows_k) {
                set_rows(k1);
                rows_k = k1;
            }
            D::template load<R>(rows, u1, nxt);
        }
        const int u = sub + j * tpr;
        if (u < units) D::template dot<R>(cur, u, sm, chunks, acc);
        if (j == ipr - 1) {
            const int width = tpr < 32 ? tpr : 32;
#pragma unroll
            for (int r = 0; r < R; ++r) {
                for (int o = width >> 1; o > 0; o >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
            }
            const int m0 = (first + k * stride + group) * R;
            if (sub == 0) {
#pragma unroll
                for (int r = 0; r < R; ++r) {
                    if (m0 + r < M) mv_store(d, m0 + r, acc[r]);
                }
            }
#pragma unroll
            for (int r = 0; r < R; ++r) acc[r] = 0.0f;
        }
        k = k1;
        j = j1;
#pragma unroll
        for (int r = 0; r < R; ++r) cur[r] = nxt[r];
    }
}

// The kernel argument `mode`: 0 float path, x from global memory; 1 float path, x copied to shared
// memory; 2 the integer path (formats that have one; the host asks for it only for those).
template <class F, int R>
__device__ __forceinline__ void mv_entry(const MvDesc* descs, int n, int mode) {
    pdl_entry();
    const MvDesc* d = mv_desc(descs, n);
    if constexpr (IntDotFor<F>::OK) {
        if (mode == 2) {
            mvq_run<typename IntDotFor<F>::T, R>(d);
            return;
        }
    }
    mv_run<typename DotFor<F>::T, R>(d, mode != 0);
}

#define MV_KERNELS(NAME, F)                                                                                   \
    extern "C" __global__ void __launch_bounds__(512) mv_##NAME##_r1(const MvDesc* descs, int n, int mode) { \
        mv_entry<F, 1>(descs, n, mode);                                                                        \
    }                                                                                                          \
    extern "C" __global__ void __launch_bounds__(512) mv_##NAME##_r2(const MvDesc* descs, int n, int mode) { \
        mv_entry<F, 2>(descs, n, mode);                                                                        \
    }

FORMAT_SET(MV_KERNELS)

#ifdef MV_MIXED
// F16 (fmt 0) and F32 (fmt 1) descriptors in one launch.
extern "C" __global__ void __launch_bounds__(256) mv_mix_r1(const MvDesc* descs, int n, int smem) {
    pdl_entry();
    const MvDesc* d = mv_desc(descs, n);
    if (d->fmt) {
        mv_run<DotF32, 1>(d, smem != 0);
    } else {
        mv_run<DotF16, 1>(d, smem != 0);
    }
}
#endif
