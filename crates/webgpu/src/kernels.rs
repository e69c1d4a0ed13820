//! The WGSL kernels: one file per op under `shaders/`, one weight decoder per type under
//! `shaders/quant/`, assembled into a module per (op, type, variant) and compiled once.

use std::collections::HashMap;

use gguf::GgmlType;

use crate::context::Gpu;
pub(crate) use crate::matvec_gen::MvKernel;
use crate::WebGpuError;

/// One compiled kernel variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kernel {
    /// Weight type and tokens per tile: the generic matmul, any type and shape.
    Matmul(GgmlType, u32),
    /// The vectorized one-token matvec (`matvec_type`) for one or several independent jobs
    /// (`matvec_gen`).
    Matvec(MvKernel),
    /// Weight type and rows per tile (64 or 128): the tiled many-token matmul of prefill.
    MatmulTiled(GgmlType, u32),
    Embed(GgmlType),
    LayerNorm,
    /// layer_norm then token_shift_lerp of one token, fused (decode).
    LayerNormLerp,
    TokenShiftLerp,
    /// Head size (threads per workgroup).
    Wkv7(u32),
    /// Head size: wkv7 with wkv7_output applied to each token's y (decode; `wkv7_unrolled`).
    Wkv7WithOutput(u32),
    Wkv7Output,
    Add,
    ReluSquare,
    ValueResidual,
    CopyRows,
    /// Threads per workgroup (a power of two, 256 to 1024).
    Argmax(u32),
    /// Head size (threads per workgroup): the WKV of RWKV-6 and RWKV-5.
    Wkv6(u32),
    Wkv4,
    GroupNorm,
    /// Type of W2: one output of RWKV-6's token-shift LoRA.
    TokenShiftLora6(GgmlType),
    SigmoidMul,
    SiluMul,
    Scale,
}

/// Threads per matmul workgroup (one weight row each).
pub(crate) const MATMUL_WG: u32 = 64;
/// Tokens per matmul tile when a step has more than one token.
pub(crate) const MATMUL_TILE: u32 = 8;
/// Rows (and tokens) of one matmul_tiled tile; tiles of large matmuls may take twice the rows
/// (`tiled_rows`).
pub(crate) const TILED_BLOCK: u32 = 64;

/// Rows per matmul_tiled tile for a part of `rows` rows and `t` tokens: `choice` (64 or 128) when
/// set, else 128 once the GPU still gets at least 256 tiles that way (8 rows per thread halve
/// workgroup-memory reads per multiply-add, but halve the tiles too).
pub(crate) fn tiled_rows(choice: u32, rows: usize, t: usize) -> u32 {
    match choice {
        64 | 128 => choice,
        _ if rows.div_ceil(128) * t.div_ceil(TILED_BLOCK as usize) >= 256 => 128,
        _ => TILED_BLOCK,
    }
}
/// Tokens from which a step's matmuls use matmul_tiled rather than the generic kernel.
pub(crate) const TILED_MIN_TOKENS: usize = 16;
/// Whether matmul_tiled beats the generic kernel for a part of `rows` rows, `t` tokens and `k`
/// columns, by a cost model fitted to the H200 profile of a 64-token chunk (2.9B Q4_K_M): a tile
/// walks the K axis alone, ~4 us per 32-column unit when the GPU holds at most ~2 tiles per SM
/// (2560 x 10240 at T = 64: 40 tiles, 1307 us), while the generic kernel costs ~5.7 ps per
/// row·token·column (96 x 2560 at T = 64: 89 us), so skinny LoRA down-projections stay generic on
/// short chunks and go tiled on long ones. Rows of K ≤ 256 (a few units) are always tiled.
pub(crate) fn tiled_pays(rows: usize, t: usize, k: usize) -> bool {
    if k <= 256 {
        return true;
    }
    let tiles = rows.div_ceil(TILED_BLOCK as usize) * t.div_ceil(TILED_BLOCK as usize);
    let waves = tiles.div_ceil(264) as f64;
    let tiled_us = k.div_ceil(32) as f64 * 4.0 * waves;
    let generic_us = 5.7e-6 * (rows * t * k) as f64;
    tiled_us < generic_us
}

/// Threads per argmax workgroup: up to 1024, as the adapter allows (at least 256, checked at open).
pub(crate) fn argmax_threads(limits: &wgpu::Limits) -> u32 {
    let most = limits.max_compute_invocations_per_workgroup.min(limits.max_compute_workgroup_size_x).min(1024);
    let mut wg = 256;
    while wg * 2 <= most {
        wg *= 2;
    }
    wg
}

/// Threads per matvec workgroup (shaders/matvec.wgsl).
pub(crate) const MATVEC_WG: u32 = 256;

/// Lanes per matvec row group for rows of `items` work items: the most (32 to 256) that still
/// leaves each lane about two items, so long rows are spread over more threads.
pub(crate) fn matvec_lanes(items: u32) -> u32 {
    let mut tpr = 32;
    while tpr < MATVEC_WG && items >= 4 * tpr {
        tpr *= 2;
    }
    tpr
}

/// Work items of one matvec row of `cols` elements, when the type has a matvec kernel and `cols`
/// fits its item size (float rows must fill whole 16-byte words).
pub(crate) fn matvec_type(ty: GgmlType, cols: usize) -> Option<u32> {
    let items = match ty {
        GgmlType::F32 if cols.is_multiple_of(4) => cols / 4,
        GgmlType::F16 if cols.is_multiple_of(8) => cols / 8,
        GgmlType::Q4_K => cols / 256 * 8,
        GgmlType::Q6_K => cols / 256 * 4,
        // Rows of whole vec4<u32>s: four 36-byte blocks (shaders/matvec/q8_0.wgsl).
        GgmlType::Q8_0 if cols.is_multiple_of(128) => cols / 8,
        _ => return None,
    };
    Some(items as u32)
}

/// State rows wkv7 moves through its workgroup tile at a time: all N when the padded tile of
/// N × (N + 1) floats fits in ~16 KiB (head size 64 and below), else the largest power of two that does.
pub(crate) fn wkv7_tile_rows(n: u32) -> u32 {
    const TILE_FLOATS: u32 = 64 * 65;
    if n * (n + 1) <= TILE_FLOATS {
        return n.max(1);
    }
    let mut tr = 1;
    while 2 * tr * (n + 1) <= TILE_FLOATS {
        tr *= 2;
    }
    tr
}

fn decoder(ty: GgmlType) -> Option<&'static str> {
    use GgmlType as T;
    Some(match ty {
        T::F32 => include_str!("shaders/quant/f32.wgsl"),
        T::F16 => include_str!("shaders/quant/f16.wgsl"),
        T::BF16 => include_str!("shaders/quant/bf16.wgsl"),
        T::Q4_0 => include_str!("shaders/quant/q4_0.wgsl"),
        T::Q4_1 => include_str!("shaders/quant/q4_1.wgsl"),
        T::Q5_0 => include_str!("shaders/quant/q5_0.wgsl"),
        T::Q5_1 => include_str!("shaders/quant/q5_1.wgsl"),
        T::Q8_0 => include_str!("shaders/quant/q8_0.wgsl"),
        T::Q2_K => include_str!("shaders/quant/q2_k.wgsl"),
        T::Q3_K => include_str!("shaders/quant/q3_k.wgsl"),
        T::Q4_K => include_str!("shaders/quant/q4_k.wgsl"),
        T::Q5_K => include_str!("shaders/quant/q5_k.wgsl"),
        T::Q6_K => include_str!("shaders/quant/q6_k.wgsl"),
        _ => return None,
    })
}

const QUANT_COMMON: &str = include_str!("shaders/quant/common.wgsl");
const EPILOGUE: &str = include_str!("shaders/epilogue.wgsl");
const WORKGROUP_SUM: &str = include_str!("shaders/workgroup_sum.wgsl");

/// The WGSL source of a kernel variant.
pub(crate) fn source(kernel: Kernel, subgroups: bool) -> Option<String> {
    Some(match kernel {
        Kernel::Matmul(ty, tile) => {
            let reduce = if subgroups {
                include_str!("shaders/reduce_subgroup.wgsl")
            } else {
                include_str!("shaders/reduce_shared.wgsl")
            };
            [
                &format!("const WG: u32 = {MATMUL_WG}u;\nconst TT: u32 = {tile}u;\n"),
                reduce,
                QUANT_COMMON,
                decoder(ty)?,
                EPILOGUE,
                include_str!("shaders/lora.wgsl"),
                include_str!("shaders/matmul.wgsl"),
            ]
            .join("\n")
        }
        Kernel::Matvec(k) => crate::matvec_gen::source(&k, subgroups)?,
        Kernel::MatmulTiled(ty, bm) => {
            [&format!("const BM: u32 = {bm}u;\n"), QUANT_COMMON, decoder(ty)?, EPILOGUE, include_str!("shaders/lora.wgsl"), include_str!("shaders/matmul_tiled.wgsl")].join("\n")
        }
        Kernel::Embed(ty) => [QUANT_COMMON, decoder(ty)?, include_str!("shaders/embed.wgsl")].join("\n"),
        Kernel::Wkv7(n) if crate::wkv7_unrolled::supports(n) => crate::wkv7_unrolled::source(n, false),
        Kernel::Wkv7WithOutput(n) if crate::wkv7_unrolled::supports(n) => crate::wkv7_unrolled::source(n, true),
        Kernel::Wkv7WithOutput(_) => return None,
        Kernel::Wkv7(n) => format!("const N: u32 = {n}u;\nconst TR: u32 = {}u;\n{}", wkv7_tile_rows(n), include_str!("shaders/wkv7.wgsl")),
        Kernel::LayerNorm => [include_str!("shaders/layer_norm.wgsl"), WORKGROUP_SUM].join("\n"),
        Kernel::LayerNormLerp => [include_str!("shaders/layer_norm_lerp.wgsl"), WORKGROUP_SUM].join("\n"),
        Kernel::TokenShiftLerp => include_str!("shaders/token_shift_lerp.wgsl").into(),
        Kernel::Wkv7Output => [include_str!("shaders/wkv7_output.wgsl"), WORKGROUP_SUM].join("\n"),
        Kernel::Add => include_str!("shaders/add.wgsl").into(),
        Kernel::ReluSquare => include_str!("shaders/relu_square.wgsl").into(),
        Kernel::ValueResidual => include_str!("shaders/value_residual.wgsl").into(),
        Kernel::CopyRows => include_str!("shaders/copy_rows.wgsl").into(),
        Kernel::Argmax(wg) => format!("const WG: u32 = {wg}u;\n{}", include_str!("shaders/argmax.wgsl")),
        Kernel::Wkv6(n) => format!("const N: u32 = {n}u;\n{}", include_str!("shaders/wkv6.wgsl")),
        Kernel::Wkv4 => include_str!("shaders/wkv4.wgsl").into(),
        Kernel::GroupNorm => [include_str!("shaders/group_norm.wgsl"), WORKGROUP_SUM].join("\n"),
        Kernel::TokenShiftLora6(ty) => [QUANT_COMMON, decoder(ty)?, include_str!("shaders/token_shift_lora6.wgsl")].join("\n"),
        Kernel::SigmoidMul => include_str!("shaders/sigmoid_mul.wgsl").into(),
        Kernel::SiluMul => include_str!("shaders/silu_mul.wgsl").into(),
        Kernel::Scale => include_str!("shaders/scale.wgsl").into(),
    })
}

/// Compiled pipelines, made on first use, or on a background thread (`get_or_start`).
#[derive(Default)]
pub(crate) struct Pipelines {
    map: HashMap<Kernel, wgpu::ComputePipeline>,
    /// Variants compiling on a background thread.
    compiling: HashMap<Kernel, std::thread::JoinHandle<Result<wgpu::ComputePipeline, WebGpuError>>>,
    /// Zero-initialize workgroup memory (wgpu's default); every kernel writes its workgroup memory
    /// before reading it, so this is off unless asked for (it costs a store pass and a barrier per
    /// workgroup).
    pub zero_workgroup_memory: bool,
}

impl Pipelines {
    pub fn get(&mut self, gpu: &Gpu, kernel: Kernel) -> Result<&wgpu::ComputePipeline, WebGpuError> {
        if let Some(h) = self.compiling.remove(&kernel) {
            let p = h.join().map_err(|_| WebGpuError::Shader { adapter: gpu.name.clone(), shader: format!("{kernel:?}"), reason: "compiler thread panicked".into() })??;
            self.map.insert(kernel, p);
        }
        let zero = self.zero_workgroup_memory;
        match self.map.entry(kernel) {
            std::collections::hash_map::Entry::Occupied(e) => Ok(e.into_mut()),
            std::collections::hash_map::Entry::Vacant(e) => Ok(e.insert(compile(&gpu.device, &gpu.name, gpu.subgroups, zero, kernel)?)),
        }
    }

    /// The pipeline if it is compiled; else starts compiling it on a background thread (once) and
    /// returns `None`, so the caller can record something already compiled meanwhile: a driver
    /// may take a good part of a second for a large variant, a stall in the middle of a decode.
    pub fn get_or_start(&mut self, gpu: &Gpu, kernel: Kernel) -> Result<Option<&wgpu::ComputePipeline>, WebGpuError> {
        let done = match self.compiling.get(&kernel) {
            Some(h) => h.is_finished(),
            None => self.map.contains_key(&kernel),
        };
        if done {
            return self.get(gpu, kernel).map(Some);
        }
        if !self.compiling.contains_key(&kernel) {
            let (device, name, subgroups, zero) = (gpu.device.clone(), gpu.name.clone(), gpu.subgroups, self.zero_workgroup_memory);
            let handle = std::thread::Builder::new()
                .name("wgpu-compile".into())
                .spawn(move || compile(&device, &name, subgroups, zero, kernel))
                .map_err(|e| WebGpuError::Shader { adapter: gpu.name.clone(), shader: format!("{kernel:?}"), reason: format!("starting a compiler thread: {e}") })?;
            self.compiling.insert(kernel, handle);
        }
        Ok(None)
    }

    /// Waits for every background compilation to finish.
    pub fn finish(&mut self, gpu: &Gpu) -> Result<(), WebGpuError> {
        let pending: Vec<Kernel> = self.compiling.keys().copied().collect();
        for k in pending {
            self.get(gpu, k)?;
        }
        Ok(())
    }
}

fn compile(device: &wgpu::Device, adapter: &str, subgroups: bool, zero: bool, kernel: Kernel) -> Result<wgpu::ComputePipeline, WebGpuError> {
    let label = format!("{kernel:?}");
    let fail = |reason: String| WebGpuError::Shader { adapter: adapter.to_string(), shader: label.clone(), reason };
    let src = source(kernel, subgroups).ok_or_else(|| fail("no kernel for this weight type".into()))?;
    // Error scopes belong to the calling thread, so this works on a compiler thread too.
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(&label),
        source: wgpu::ShaderSource::Wgsl(src.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(&label),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: wgpu::PipelineCompilationOptions { zero_initialize_workgroup_memory: zero, ..Default::default() },
        cache: None,
    });
    match pollster::block_on(scope.pop()) {
        Some(e) => Err(fail(e.to_string())),
        None => Ok(pipeline),
    }
}
