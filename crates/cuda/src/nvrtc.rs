//! The kernel sources (`src/kernels/*.cu`, embedded at build time) and their compilation to PTX with
//! NVRTC at run time, once per process and architecture.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use std::ffi::{c_char, CString};

use cudarc::nvrtc::{result, sys, Ptx};

use crate::formats::{self, Format};
use crate::CudaError;

/// One `.cu` file: its name, its text, and whether it instantiates kernels per block format.
pub struct KernelSource {
    pub file: &'static str,
    pub text: &'static str,
    pub per_format: PerFormat,
}

/// How a source uses the block formats of blocks.cuh.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PerFormat {
    /// Not at all.
    No,
    /// One program with every format.
    AllInOne,
    /// One program per format (big kernels: they compile in parallel).
    OneEach,
}

const COMMON: &str = include_str!("kernels/common.cuh");
const BLOCKS: &str = include_str!("kernels/blocks.cuh");

/// Every kernel source, one per op (elementwise.cu holds the four small ops; lora runs on matmul.cu
/// and matvec.cu; matvec.cu serves one-token steps, mma.cu multi-token steps on the tensor cores).
pub const SOURCES: &[KernelSource] = &[
    KernelSource { file: "embed.cu", text: include_str!("kernels/embed.cu"), per_format: PerFormat::AllInOne },
    KernelSource { file: "matmul.cu", text: include_str!("kernels/matmul.cu"), per_format: PerFormat::OneEach },
    KernelSource { file: "layer_norm.cu", text: include_str!("kernels/layer_norm.cu"), per_format: PerFormat::No },
    KernelSource { file: "token_shift_lerp.cu", text: include_str!("kernels/token_shift_lerp.cu"), per_format: PerFormat::No },
    KernelSource { file: "elementwise.cu", text: include_str!("kernels/elementwise.cu"), per_format: PerFormat::No },
    KernelSource { file: "wkv7.cu", text: include_str!("kernels/wkv7.cu"), per_format: PerFormat::No },
    KernelSource { file: "wkv7_output.cu", text: include_str!("kernels/wkv7_output.cu"), per_format: PerFormat::No },
    KernelSource { file: "matvec.cu", text: include_str!("kernels/matvec.cu"), per_format: PerFormat::OneEach },
    KernelSource { file: "mma.cu", text: include_str!("kernels/mma.cu"), per_format: PerFormat::No },
    KernelSource { file: "wkv7_h64.cu", text: include_str!("kernels/wkv7_h64.cu"), per_format: PerFormat::No },
    // Multi-token WKV-7 (head size 64) with a head's rows over several blocks (wkv_split.rs).
    KernelSource { file: "wkv7_split.cu", text: include_str!("kernels/wkv7_split.cu"), per_format: PerFormat::No },
    // Batched decode.
    KernelSource { file: "token_shift_lerp_rows.cu", text: include_str!("kernels/token_shift_lerp_rows.cu"), per_format: PerFormat::No },
    // RWKV-4, 5 and 6 only.
    KernelSource { file: "rwkv_v456.cu", text: include_str!("kernels/rwkv_v456.cu"), per_format: PerFormat::No },
    KernelSource { file: "token_shift_lora6.cu", text: include_str!("kernels/token_shift_lora6.cu"), per_format: PerFormat::AllInOne },
    // Multi-token matmuls through cuBLAS (gemm.rs): weight dequantization, activation split, epilogue.
    KernelSource { file: "gemm.cu", text: include_str!("kernels/gemm.cu"), per_format: PerFormat::AllInOne },
];

/// One NVRTC program: a source, with the block formats it instantiates.
pub struct Program {
    pub source: &'static KernelSource,
    pub formats: Vec<&'static Format>,
}

impl Program {
    /// `matmul.cu[q4_k]`, or the file name.
    pub fn label(&self) -> String {
        match self.source.per_format {
            PerFormat::OneEach => format!("{}[{}]", self.source.file, self.formats[0].name),
            _ => self.source.file.to_string(),
        }
    }

    /// The text NVRTC compiles: the shared headers, the format list, then the file, with `#line`
    /// marks so that compiler messages name the right file and line.
    pub fn full_source(&self) -> String {
        let mut text = String::from("#line 1 \"common.cuh\"\n");
        text.push_str(COMMON);
        if self.source.per_format != PerFormat::No {
            text.push_str("\n#line 1 \"blocks.cuh\"\n");
            text.push_str(BLOCKS);
            if self.source.file == "matvec.cu" && self.formats.iter().any(|f| f.name == "f16v") {
                text.push_str("\n#define MV_MIXED 1");
            }
            text.push_str("\n#define FORMAT_SET(X)");
            for f in &self.formats {
                text.push_str(&format!(" X({}, {})", f.name, f.cuda_struct));
            }
        }
        text.push_str(&format!("\n#line 1 \"{}\"\n", self.source.file));
        text.push_str(self.source.text);
        text
    }

    /// The names of the `extern "C"` kernels the program defines.
    pub fn kernel_names(&self) -> Vec<String> {
        match self.source.file {
            "matmul.cu" => self.formats.iter().flat_map(|f| [format!("matmul_{}_t1", f.name), format!("matmul_{}_t8", f.name)]).collect(),
            "matvec.cu" => {
                let mut names: Vec<String> =
                    self.formats.iter().flat_map(|f| [format!("mv_{}_r1", f.name), format!("mv_{}_r2", f.name)]).collect();
                if self.formats.iter().any(|f| f.name == "f16v") {
                    names.push("mv_mix_r1".into());
                }
                names
            }
            "embed.cu" => self.formats.iter().map(|f| format!("embed_{}", f.name)).collect(),
            "token_shift_lora6.cu" => self.formats.iter().map(|f| format!("ts6_up_{}", f.name)).collect(),
            "gemm.cu" => {
                let mut names: Vec<String> = self.formats.iter().map(|f| format!("dequant_f16_{}", f.name)).collect();
                names.extend(["gemm_split_x", "gemm_split_x4", "gemm_epilogue"].map(String::from));
                names
            }
            // The matmul kernels come from a macro the parser below cannot see through.
            "mma.cu" => ["x_split", "mm_reduce", "mm_q4_k", "mm_q6_kr", "mm_f16v"].map(String::from).to_vec(),
            "wkv7_split.cu" => ["wkv7_split_prep", "wkv7_split_r8", "wkv7_split_r16", "wkv7_split_r32"].map(String::from).to_vec(),
            _ => self
                .source
                .text
                .split("extern \"C\" __global__ void")
                .skip(1)
                .filter_map(|rest| {
                    let rest = rest.trim_start();
                    // Skip `__launch_bounds__(...)` between `void` and the name.
                    let rest = match rest.strip_prefix("__launch_bounds__") {
                        Some(bounds) => &bounds[bounds.find(')')? + 1..],
                        None => rest,
                    };
                    Some(rest.split('(').next()?.trim().to_string())
                })
                .collect(),
        }
    }
}

/// Every program to compile, in a fixed order.
pub fn programs() -> Vec<Program> {
    let mut out = Vec::new();
    for source in SOURCES {
        match source.per_format {
            PerFormat::No => out.push(Program { source, formats: Vec::new() }),
            PerFormat::AllInOne => out.push(Program { source, formats: formats::ALL.to_vec() }),
            PerFormat::OneEach => out.extend(formats::ALL.iter().map(|&f| Program { source, formats: vec![f] })),
        }
    }
    out
}

/// Checks that libnvrtc can be loaded and returns its version.
pub fn nvrtc_version() -> Result<(i32, i32), CudaError> {
    // SAFETY: only probes for the library with dlopen.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(CudaError::NvrtcNotFound(
            "install the CUDA toolkit or the PyPI wheel nvidia-cuda-nvrtc, and put the directory holding \
             libnvrtc.so.13 on LD_LIBRARY_PATH"
                .into(),
        ));
    }
    let (mut major, mut minor) = (0, 0);
    // SAFETY: the library is present; nvrtcVersion writes two ints.
    let status = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    status.result().map_err(|e| CudaError::NvrtcNotFound(format!("nvrtcVersion failed: {e:?}")))?;
    Ok((major, minor))
}

/// What NVRTC made of one source: a CUBIN (machine code, target `sm_XY`) or PTX (`compute_XY`).
pub struct Compiled {
    /// The program's label (`matmul.cu[q4_k]`).
    pub label: String,
    pub image: Vec<u8>,
    pub is_cubin: bool,
}

impl Compiled {
    /// The image as cudarc loads it.
    pub fn to_ptx(&self) -> Ptx {
        if self.is_cubin {
            Ptx::from_binary(self.image.clone())
        } else {
            Ptx::from_src(String::from_utf8_lossy(&self.image).into_owned())
        }
    }

    /// Whether the image defines kernel `name` (a `.entry` in PTX, a symbol name in a CUBIN).
    pub fn has_kernel(&self, name: &str) -> bool {
        let needle = if self.is_cubin { format!("\0{name}\0") } else { format!(".entry {name}(") };
        self.image.windows(needle.len()).any(|w| w == needle.as_bytes())
    }
}

/// Every program compiled for one target, in `programs()` order.
pub type CompiledSources = Arc<Vec<Compiled>>;

/// Compiles every source for `target`, or returns the copy compiled earlier in this process.
/// `sm_90` gives machine code for exactly that architecture (no JIT at load time, and no PTX
/// version to agree with the driver); `compute_90` gives PTX.
pub fn compile_all(target: &str) -> Result<CompiledSources, CudaError> {
    static CACHE: OnceLock<Mutex<HashMap<String, CompiledSources>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(hit) = cache.lock().expect("nvrtc cache lock").get(target) {
        return Ok(hit.clone());
    }
    nvrtc_version()?;
    // The programs are independent: compile them side by side, a few per core.
    let programs = programs();
    let workers = std::thread::available_parallelism().map_or(4, |n| n.get()).min(programs.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut slots: Vec<Option<Result<Compiled, CudaError>>> = (0..programs.len()).map(|_| None).collect();
    let done: Vec<Vec<(usize, Result<Compiled, CudaError>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(p) = programs.get(i) else { break mine };
                        mine.push((i, compile_one(p, target)));
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("nvrtc compile thread panicked")).collect()
    });
    for (i, r) in done.into_iter().flatten() {
        slots[i] = Some(r);
    }
    let results = slots.into_iter().map(|r| r.expect("every program compiled"));
    let compiled: CompiledSources = Arc::new(results.collect::<Result<_, _>>()?);
    cache.lock().expect("nvrtc cache lock").insert(target.to_string(), compiled.clone());
    Ok(compiled)
}

/// An NVRTC program handle, destroyed on drop.
struct NvrtcProgram(sys::nvrtcProgram);

impl Drop for NvrtcProgram {
    fn drop(&mut self) {
        // SAFETY: created by create_program and destroyed only here.
        let _ = unsafe { result::destroy_program(self.0) };
    }
}

fn compile_one(program: &Program, target: &str) -> Result<Compiled, CudaError> {
    let label = program.label();
    let fail = |log: String| CudaError::Compile { program: label.clone(), arch: target.to_string(), log };
    let text = CString::new(program.full_source()).map_err(|e| fail(format!("source holds a NUL byte: {e}")))?;
    let name = CString::new(program.source.file).expect("file names have no NUL");
    let prog = NvrtcProgram(result::create_program(&text, Some(&name)).map_err(|e| fail(format!("nvrtcCreateProgram: {e:?}")))?);
    let options = [format!("--gpu-architecture={target}"), "--generate-line-info".to_string()];
    // SAFETY: `prog` is live; `text` and `name` outlive it.
    if let Err(e) = unsafe { result::compile_program(prog.0, &options) } {
        // SAFETY: as above.
        let log = unsafe { result::get_program_log(prog.0) }.map(|l| c_chars_to_string(&l)).unwrap_or_default();
        return Err(fail(format!("{e:?}\n{log}\n(options: {})", options.join(" "))));
    }
    let is_cubin = target.starts_with("sm_");
    let image = if is_cubin {
        let mut size = 0usize;
        // SAFETY: `prog` compiled for a real architecture, so it has a CUBIN of `size` bytes.
        unsafe { sys::nvrtcGetCUBINSize(prog.0, &mut size) }.result().map_err(|e| fail(format!("nvrtcGetCUBINSize: {e:?}")))?;
        let mut image = vec![0u8; size];
        // SAFETY: `image` holds `size` bytes.
        unsafe { sys::nvrtcGetCUBIN(prog.0, image.as_mut_ptr() as *mut c_char) }
            .result()
            .map_err(|e| fail(format!("nvrtcGetCUBIN: {e:?}")))?;
        image
    } else {
        // SAFETY: `prog` compiled.
        let ptx = unsafe { result::get_ptx(prog.0) }.map_err(|e| fail(format!("nvrtcGetPTX: {e:?}")))?;
        c_chars_to_string(&ptx).into_bytes()
    };
    Ok(Compiled { label, image, is_cubin })
}

/// A NUL-terminated C character buffer as a string.
fn c_chars_to_string(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::SOURCES;

    /// With programmatic dependent launch a kernel may start before the previous one finishes, so
    /// each must wait in `pdl_entry` first (matvec.cu's through `mv_entry`): a kernel without it
    /// would read its inputs too early.
    #[test]
    fn every_kernel_waits_for_the_previous_one() {
        for src in SOURCES {
            let text = src.text;
            let mut at = 0;
            while let Some(i) = text[at..].find("__global__") {
                let start = at + i;
                let body = start + text[start..].find('{').expect("a kernel body");
                let end = text[body..].find("__global__").map_or(text.len(), |e| body + e);
                let own = &text[body..end];
                let sig = &text[start..body];
                let sig = sig.find("__launch_bounds__(").map_or(sig, |p| &sig[p + sig[p..].find(')').unwrap_or(0) + 1..]);
                let name: String = sig.split('(').next().unwrap_or("").split_whitespace().last().unwrap_or("").into();
                let first = own.find(';').map_or("", |e| &own[..e]);
                // matvec.cu's kernels call mv_entry first, which starts with pdl_entry().
                let waits = first.contains("pdl_entry()") || first.contains("mv_entry<");
                assert!(waits, "{}: kernel {name} does not start with pdl_entry()", src.file);
                at = body;
            }
        }
    }
}
