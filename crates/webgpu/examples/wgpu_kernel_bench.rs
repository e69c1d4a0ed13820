//! Where the wgpu backend's time goes, measured with GPU timestamps.
//!
//! `wgpu_kernel_bench matvec [--bw GB/s]`: one-token matmuls of the RWKV-7 2.9B shapes (2560x2560,
//! 10240x2560, 2560x10240, 65536x2560) and the 0.4B ones (1024x1024, 4096x1024, 1024x4096) per
//! weight type and kernel variant (the generic kernel, the matvec with 1, 2 and 4 rows per thread
//! group), each timed over dispatches recorded in one pass. Enough copies of each weight are cycled that they do not fit in L2, so the figures are
//! DRAM bandwidth. Prints GB/s and the fraction of `--bw` (default 4400, the H200's).
//!
//! `wgpu_kernel_bench gemm [--tokens N]`: the prefill matmul (matmul_tiled) on the 2.9B shapes at N
//! tokens (default 512) per weight type and tile height (64, 128 rows), timed with GPU timestamps;
//! prints TFLOP/s (2·M·K·N per matmul).
//!
//! `wgpu_kernel_bench model FILE.gguf [--decode N] [--prefill N]`: wall-clock greedy decode (GPU argmax,
//! one id read back per step) and prefill on a real model, then the same steps again with every
//! dispatch timed, printed per kernel and shape.
//!
//! Run with WGPU_BACKEND=vulkan; on lavapipe use small shapes only (`--scale 0.02`). `--types
//! Q4_K,F16` limits the matvec table to those types. (Named apart from the cuda crate's
//! kernel_bench: examples of one workspace share target/<profile>/examples/.)

use std::sync::Arc;
use std::time::Instant;

use gguf::GgmlType;
use model::{LogitsMode, Model, Ops, Rwkv7Runner};
use webgpu::{GpuWeight, WebGpuBackend, WebGpuOptions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str, default: f64| -> f64 {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    let result = match args.first().map(String::as_str) {
        Some("matvec") => {
            let types = args.iter().position(|a| a == "--types").and_then(|i| args.get(i + 1)).cloned();
            matvec(flag("--bw", 4400.0), flag("--scale", 1.0), types.as_deref())
        }
        Some("gemm") => gemm(flag("--tokens", 512.0) as usize, flag("--scale", 1.0)),
        Some("model") if args.len() >= 2 => model_steps(&args[1], flag("--decode", 64.0) as usize, flag("--prefill", 512.0) as usize),
        _ => Err("usage: wgpu_kernel_bench matvec [--bw GB/s] [--scale F] [--types T,..] | wgpu_kernel_bench gemm [--tokens N] [--scale F] | wgpu_kernel_bench model FILE.gguf [--decode N] [--prefill N]".into()),
    };
    if let Err(e) = result {
        eprintln!("wgpu_kernel_bench: {e}");
        std::process::exit(1);
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Cheap deterministic bytes (xorshift), then every f16 scale set to a small finite value: values
/// do not matter for timing, NaN/inf scales only must not appear.
fn fake_weights(ty: GgmlType, rows: usize, cols: usize, seed: u64) -> Vec<u8> {
    let row_bytes = quant::row_bytes(ty, cols).expect("whole blocks");
    let mut out = vec![0u8; rows * row_bytes];
    let mut s = seed | 1;
    for chunk in out.chunks_mut(8) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let b = s.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
    let half = half::f16::from_f32(0.01).to_bits().to_le_bytes();
    let block = ty.type_size();
    let scale_at: &[usize] = match ty {
        GgmlType::F16 => &[],
        GgmlType::Q4_K => &[0, 2],
        GgmlType::Q6_K => &[208],
        GgmlType::Q8_0 | GgmlType::Q4_0 => &[0],
        _ => &[],
    };
    if ty == GgmlType::F16 {
        for h in out.chunks_mut(2) {
            h[1] &= 0x3B; // exponent below 1.0
        }
    }
    for b in out.chunks_mut(block) {
        for &at in scale_at {
            b[at..at + 2].copy_from_slice(&half);
        }
    }
    out
}

fn matvec(bw: f64, scale: f64, only: Option<&str>) -> Res<()> {
    let mut b = WebGpuBackend::new(&WebGpuOptions { profile: true, ..Default::default() })?;
    println!("adapter: {} (subgroups: {})", b.adapter_name(), b.uses_subgroups());
    // The 2.9B shapes, then the 0.4B ones (1024-wide).
    let shapes = [(2560usize, 2560usize), (10240, 2560), (2560, 10240), (65536, 2560), (1024, 1024), (4096, 1024), (1024, 4096)];
    let types = [GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::F16, GgmlType::Q8_0, GgmlType::F32];
    // More than L2 (60 MiB on the H200) per shape, so the timed reads come from DRAM.
    let working_set = (256.0 * scale * (1 << 20) as f64) as usize;
    const REPS: usize = 24;
    println!("{:<6} {:>12} {:>14} {:>9} {:>10} {:>9} {:>7}", "type", "shape", "kernel", "MB", "mean us", "GB/s", "of bw");
    for ty in types {
        if only.is_some_and(|o| !o.split(',').any(|t| t.eq_ignore_ascii_case(ty.name()))) {
            continue;
        }
        for &(rows0, cols0) in &shapes {
            let rows = ((rows0 as f64 * scale) as usize).max(8);
            let cols = (((cols0 as f64 * scale) as usize) / 256).max(1) * 256;
            let bytes = fake_weights(ty, rows, cols, (rows * 31 + cols) as u64);
            let copies = (working_set / bytes.len()).clamp(1, 64);
            let weights: Vec<GpuWeight> =
                (0..copies).map(|i| b.upload_raw(&format!("w{i}"), ty, rows, cols, &bytes)).collect::<Result<_, _>>()?;
            let gpu_bytes: u64 = match &weights[0] {
                GpuWeight::Matrix { row_words, rows, .. } => (*row_words * *rows * 4) as u64,
                GpuWeight::Vectors { .. } => unreachable!(),
            };
            let mut x = b.alloc(1, cols)?;
            let xs: Vec<f32> = (0..cols).map(|i| ((i % 7) as f32 - 3.0) * 0.1).collect();
            b.write(&mut x, &xs)?;
            let mut out = b.alloc(1, rows)?;
            for (label, fast, nr) in [("generic", false, 1), ("matvec nr1", true, 1), ("matvec nr2", true, 2), ("matvec nr4", true, 4)] {
                if fast && ty != GgmlType::F32 && !matches!(ty, GgmlType::F16 | GgmlType::Q4_K | GgmlType::Q6_K) {
                    continue;
                }
                b.set_fast_kernels(fast);
                b.set_matvec_rows(nr);
                // Warm-up (pipelines, bind groups), then the timed recording.
                for pass in 0..2 {
                    b.reset_profile();
                    b.begin_step()?;
                    for i in 0..REPS.max(copies) {
                        b.matmul(&weights[i % copies], &x, &mut out);
                    }
                    b.end_step()?;
                    if pass == 1 {
                        let rows_p = b.profile_rows();
                        let (calls, ns) = rows_p.iter().fold((0u64, 0.0), |a, r| (a.0 + r.calls, a.1 + r.total_ns));
                        let mean_ns = ns / calls.max(1) as f64;
                        let gbs = gpu_bytes as f64 / mean_ns;
                        println!(
                            "{:<6} {:>12} {:>14} {:>9.1} {:>10.2} {:>9.0} {:>6.1}%",
                            ty.name(),
                            format!("{rows}x{cols}"),
                            label,
                            gpu_bytes as f64 / 1e6,
                            mean_ns / 1e3,
                            gbs,
                            100.0 * gbs / bw
                        );
                    }
                }
            }
        }
    }
    b.reset_profile();
    Ok(())
}

fn gemm(tokens: usize, scale: f64) -> Res<()> {
    let mut b = WebGpuBackend::new(&WebGpuOptions { profile: true, ..Default::default() })?;
    println!("adapter: {} (subgroups: {}), {tokens} tokens", b.adapter_name(), b.uses_subgroups());
    let shapes = [(2560usize, 2560usize), (10240, 2560), (2560, 10240)];
    const REPS: usize = 8;
    println!("{:<6} {:>12} {:>6} {:>10} {:>9}", "type", "shape", "BM", "mean us", "TFLOP/s");
    for ty in [GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::F16, GgmlType::Q8_0] {
        for &(rows0, cols0) in &shapes {
            let rows = ((rows0 as f64 * scale) as usize).max(8);
            let cols = (((cols0 as f64 * scale) as usize) / 256).max(1) * 256;
            let bytes = fake_weights(ty, rows, cols, (rows * 17 + cols) as u64);
            let w = b.upload_raw("w", ty, rows, cols, &bytes)?;
            let mut x = b.alloc(tokens, cols)?;
            let xs: Vec<f32> = (0..tokens * cols).map(|i| ((i % 7) as f32 - 3.0) * 0.1).collect();
            b.write(&mut x, &xs)?;
            let mut out = b.alloc(tokens, rows)?;
            for bm in [64, 128] {
                b.set_tiled(bm, true);
                for pass in 0..2 {
                    b.reset_profile();
                    b.begin_step()?;
                    for _ in 0..REPS {
                        b.matmul(&w, &x, &mut out);
                    }
                    b.end_step()?;
                    if pass == 1 {
                        let rows_p = b.profile_rows();
                        let (calls, ns) = rows_p.iter().fold((0u64, 0.0), |a, r| (a.0 + r.calls, a.1 + r.total_ns));
                        let mean_ns = ns / calls.max(1) as f64;
                        let flop = 2.0 * rows as f64 * cols as f64 * tokens as f64;
                        println!("{:<6} {:>12} {:>6} {:>10.1} {:>9.2}", ty.name(), format!("{rows}x{cols}"), bm, mean_ns / 1e3, flop / mean_ns / 1e3);
                    }
                }
            }
        }
    }
    b.set_tiled(0, false);
    b.reset_profile();
    Ok(())
}

fn open_runner(path: &str, profile: bool) -> Res<Rwkv7Runner<WebGpuBackend>> {
    let file = Arc::new(gguf::GgufFile::open(std::path::Path::new(path))?);
    let gpu = WebGpuBackend::new(&WebGpuOptions { profile, ..Default::default() })?;
    Ok(Rwkv7Runner::load(file, gpu)?)
}

fn model_steps(path: &str, decode: usize, prefill: usize) -> Res<()> {
    let t = Instant::now();
    let mut m = open_runner(path, false)?;
    let info = m.info().clone();
    println!(
        "model {path}: {} layers, C {}, {} on {} (loaded in {:.1} s; {:?})",
        info.hparams.n_layer,
        info.hparams.n_embd,
        info.quant,
        info.device,
        t.elapsed().as_secs_f64(),
        m.ops().options()
    );
    let n_vocab = info.hparams.n_vocab as u64;
    let prompt: Vec<u32> = (0..prefill as u64).map(|i| ((i * 2654435761) % n_vocab) as u32).collect();
    // Prefill: warm-up, then timed.
    for pass in 0..2 {
        let id = m.new_state()?;
        let c0 = m.ops().counters();
        let t = Instant::now();
        m.forward(id, &prompt, LogitsMode::Last)?;
        let s = t.elapsed().as_secs_f64();
        let c1 = m.ops().counters();
        if pass == 1 {
            println!("prefill {prefill} tokens: {:.1} ms, {:.1} tok/s", s * 1e3, prefill as f64 / s);
            println!(
                "  {} dispatches, {} submits, {} bind groups created, host encode+submit {:.3} ms, waiting {:.3} ms",
                c1.dispatches - c0.dispatches,
                c1.submits - c0.submits,
                c1.bind_groups_created - c0.bind_groups_created,
                (c1.encode_ns - c0.encode_ns) as f64 / 1e6,
                (c1.wait_ns - c0.wait_ns) as f64 / 1e6
            );
        }
        m.drop_state(id);
    }
    // Decode: greedy with the device argmax, warm-up steps untimed.
    let id = m.new_state()?;
    let mut tok = m.forward_argmax(id, &prompt[..prompt.len().min(8)])?;
    for _ in 0..4 {
        tok = m.forward_argmax(id, &[tok])?;
    }
    // New matvec groupings compile in the background (their jobs run unfolded meanwhile): keep
    // stepping for a while (not sleeping: an idle GPU clocks down) so the timed steps run the
    // final kernels.
    let warm = Instant::now();
    while warm.elapsed().as_secs_f64() < 3.0 {
        tok = m.forward_argmax(id, &[tok])?;
    }
    let c0 = m.ops().counters();
    let t = Instant::now();
    for _ in 0..decode {
        tok = m.forward_argmax(id, &[tok])?;
    }
    let s = t.elapsed().as_secs_f64();
    let c1 = m.ops().counters();
    let per = |a: u64, b: u64| (b - a) as f64 / decode as f64;
    println!("decode {decode} tokens (device argmax): {:.3} ms/token, {:.1} tok/s", s * 1e3 / decode as f64, decode as f64 / s);
    println!(
        "  per token: {:.1} dispatches, {:.2} submits, {:.1} bind groups created, host encode+submit {:.3} ms, waiting {:.3} ms, rest (recording) {:.3} ms",
        per(c0.dispatches, c1.dispatches),
        per(c0.submits, c1.submits),
        per(c0.bind_groups_created, c1.bind_groups_created),
        per(c0.encode_ns, c1.encode_ns) / 1e6,
        per(c0.wait_ns, c1.wait_ns) / 1e6,
        s * 1e3 / decode as f64 - (per(c0.encode_ns, c1.encode_ns) + per(c0.wait_ns, c1.wait_ns)) / 1e6
    );
    // The same with the whole logits row read back, as before.
    let t = Instant::now();
    for _ in 0..decode.min(32) {
        let l = m.forward(id, &[tok], LogitsMode::Last)?;
        tok = l[0].iter().enumerate().fold((0, f32::MIN), |a, (i, &v)| if v > a.1 { (i, v) } else { a }).0 as u32;
    }
    let s = t.elapsed().as_secs_f64();
    println!("decode {} tokens (logits read back): {:.3} ms/token", decode.min(32), s * 1e3 / decode.min(32) as f64);
    drop(m);

    // Profiled: a few decode steps, then one prefill chunk.
    let mut m = open_runner(path, true)?;
    let id = m.new_state()?;
    let mut tok = m.forward_argmax(id, &prompt[..prompt.len().min(8)])?;
    let warm = Instant::now();
    while warm.elapsed().as_secs_f64() < 3.0 {
        tok = m.forward_argmax(id, &[tok])?; // background compiles (see above)
    }
    for _ in 0..8 {
        tok = m.forward_argmax(id, &[tok])?;
    }
    println!("--- profile: decode steps for 3 s and 8 more (+ one 8-token step; the first steps may run unfolded matvecs while their kernels compile) ---");
    print!("{}", m.ops().profile_report());
    let id2 = m.new_state()?;
    m.forward(id2, &prompt, LogitsMode::Last)?;
    println!("--- profile: the above plus a prefill of {} tokens (shapes with t = {0}) ---", prompt.len());
    print!("{}", m.ops().profile_report());
    std::mem::forget(m); // the report is printed; skip the drop-time copy
    Ok(())
}
