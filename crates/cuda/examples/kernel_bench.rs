//! Times the CUDA backend's kernels on realistic shapes and prints a table (a report, not a test).
//!
//!   kernel_bench [--quick] [--types q4_k,q6_k,f16] [--no-small] [--no-prefill] [--only-models] [--model PATH ...]
//!
//! 1. One-token matvecs (decode) per weight type on 2560×2560, 10240×2560, 2560×10240 and
//!    65536×2560, for each kernel variant: time per product and GB/s of weight bytes against the
//!    H200's 4.4 TB/s. Several copies of the weights are cycled so that they do not sit in L2.
//! 2. Multi-token matmuls (prefill, 256 tokens): matmul.cu against mma.cu; TFLOP/s.
//! 3. The small ops at C = 2560 (40 heads of 64), one token and 256 tokens.
//! 4. With --model: a real model's decode step and 512-token prefill broken down by kernel (CUDA
//!    events around every launch; no graphs while profiling).
//!
//! Each figure is the mean over many launches replayed as CUDA graphs (one-token shapes) or issued
//! back to back, after a warm-up, timed with the host clock around a device synchronize.

use std::sync::Arc;
use std::time::Instant;

use cuda::{CudaAct, CudaBackend, CudaWeight, Tuning};
use gguf::{GgmlType, GgufFile};
use model::{LogitsMode, LoraKind, Model, Ops, Rwkv7Runner};

const PEAK_GBS: f64 = 4400.0;

/// xorshift64*: reproducible filler.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn f32s(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| lo + (hi - lo) * ((self.next() >> 40) as f32 / (1u64 << 24) as f32)).collect()
    }
}

/// Random weight bytes of a type, with every f16 scale a modest finite number.
fn weight_bytes(rng: &mut Rng, ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
    let row_bytes = quant::row_bytes(ty, cols).expect("whole blocks");
    let mut b: Vec<u8> = (0..rows * row_bytes).map(|_| rng.next() as u8).collect();
    let f16_at = |b: &mut [u8], at: usize, r: u64| {
        let h = 0x2000u16 | (r as u16 & 0x0fff) | if r & 0x8000 != 0 { 0x8000 } else { 0 };
        b[at..at + 2].copy_from_slice(&h.to_le_bytes());
    };
    match ty {
        GgmlType::F16 => (0..b.len() / 2).for_each(|i| f16_at(&mut b, 2 * i, rng.next())),
        GgmlType::Q4_K => (0..b.len() / 144).for_each(|i| {
            f16_at(&mut b, 144 * i, rng.next());
            f16_at(&mut b, 144 * i + 2, rng.next());
        }),
        GgmlType::Q6_K => (0..b.len() / 210).for_each(|i| f16_at(&mut b, 210 * i + 208, rng.next())),
        GgmlType::Q8_0 => (0..b.len() / 34).for_each(|i| f16_at(&mut b, 34 * i, rng.next())),
        _ => {}
    }
    b
}

fn act(b: &mut CudaBackend, rng: &mut Rng, rows: usize, cols: usize) -> CudaAct {
    let mut a = b.alloc(rows, cols).expect("alloc");
    b.write(&mut a, &rng.f32s(rows * cols, -1.0, 1.0)).expect("write");
    a
}

/// Seconds per call of `op`, run `per_step` times per step (a graph when `graphs`), after warm-up.
fn time_steps(b: &mut CudaBackend, per_step: usize, steps: usize, graphs: bool, mut op: impl FnMut(&mut CudaBackend, usize)) -> f64 {
    b.set_use_graphs(graphs);
    let mut run = |b: &mut CudaBackend, n: usize| {
        for _ in 0..n {
            b.begin_step().expect("begin");
            for i in 0..per_step {
                op(b, i);
            }
            b.end_step().expect("end");
        }
    };
    run(b, 2);
    b.synchronize().expect("sync");
    let t = Instant::now();
    run(b, steps);
    b.synchronize().expect("sync");
    t.elapsed().as_secs_f64() / (steps * per_step) as f64
}

fn set(b: &mut CudaBackend, spec: &str) {
    let mut t = Tuning::default();
    t.apply(spec).expect("tuning");
    b.set_tuning(t);
}

fn matvecs(b: &mut CudaBackend, rng: &mut Rng, quick: bool, only: Option<&str>) {
    println!("\n== one-token matvec (decode): time per product, weight GB/s, % of {PEAK_GBS} GB/s");
    let shapes = [(2560usize, 2560usize), (10240, 2560), (2560, 10240), (65536, 2560)];
    let mut types = if quick { vec![GgmlType::Q4_K] } else { vec![GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::F16, GgmlType::Q8_0] };
    if let Some(list) = only {
        // `--types q4_k,q6_k,f16`
        types = [GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q5_K]
            .into_iter()
            .filter(|t| list.split(',').any(|n| n.eq_ignore_ascii_case(t.name())))
            .collect();
    }
    // old: matmul.cu's warp per row; float: matvec.cu's float path (x in shared memory for block
    // formats); new: the defaults (Q4_K on the integer path, big F16 on matmul.cu).
    let variants = [
        ("old", "fast_matvec=0"),
        ("float", "mv_int=0,mv_f16_warp=0"),
        ("new", ""),
        ("new-r1", "mv_rows=1"),
    ];
    for &ty in &types {
        for &(m, k) in &shapes {
            let bytes = weight_bytes(rng, ty, m, k);
            let first = b.upload_raw("w", ty, m, k, &bytes).expect("upload");
            let mat_bytes = first.rows * first.row_bytes;
            // Enough copies to spill L2 (60 MB) several times over.
            let copies = (400_000_000 / mat_bytes).clamp(2, 64);
            let mut ws: Vec<CudaWeight> = vec![first];
            for _ in 1..copies {
                ws.push(b.upload_raw("w", ty, m, k, &bytes).expect("upload"));
            }
            let x = act(b, rng, 1, k);
            let mut out = b.alloc(1, m).expect("alloc");
            let mut line = format!("MATVEC {:<5} {m:>6}x{k:<6} {:>7.1} MB", ty.name(), mat_bytes as f64 / 1e6);
            for (label, spec) in variants {
                set(b, spec);
                let per = 64.max(copies);
                let secs = time_steps(b, per, if quick { 5 } else { 20 }, true, |b, i| b.matmul(&ws[i % ws.len()], &x, &mut out));
                let gbs = mat_bytes as f64 / secs / 1e9;
                line += &format!(" | {label} {:>6.2} us {:>4.0} GB/s {:>2.0}%", secs * 1e6, gbs, 100.0 * gbs / PEAK_GBS);
            }
            println!("{line}");
        }
    }
    set(b, "");
}

fn prefill_matmuls(b: &mut CudaBackend, rng: &mut Rng, quick: bool) {
    println!("\n== multi-token matmul (prefill, T tokens): time per matmul, TFLOP/s");
    let shapes = [(2560usize, 2560usize), (10240, 2560), (2560, 10240), (65536, 2560), (96, 2560), (2560, 96)];
    let types = if quick { vec![GgmlType::Q4_K] } else { vec![GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::F16] };
    for t in [64usize, 256] {
        for &ty in &types {
            for &(m, k) in &shapes {
                if ty.block_size() > k {
                    continue;
                }
                let w = b.upload_raw("w", ty, m, k, &weight_bytes(rng, ty, m, k)).expect("upload");
                let x = act(b, rng, t, k);
                let mut out = b.alloc(t, m).expect("alloc");
                let mut line = format!("PREFILL T={t:<4} {:<5} {m:>6}x{k:<6}", ty.name());
                for (label, spec) in [("matmul.cu", "mma=0"), ("mma noSK", "mma_split_k_max=1"), ("mma", ""), ("mma f16x", "mma_split=1")] {
                    set(b, spec);
                    let secs = time_steps(b, 4, if quick { 3 } else { 10 }, false, |b, _| b.matmul(&w, &x, &mut out));
                    let tflops = 2.0 * (m * k * t) as f64 / secs / 1e12;
                    line += &format!(" | {label} {:>7.1} us {:>5.1} TF/s", secs * 1e6, tflops);
                }
                println!("{line}");
            }
        }
    }
    set(b, "");
}

fn small_ops(b: &mut CudaBackend, rng: &mut Rng) {
    println!("\n== small ops at C = 2560 (40 heads of 64): time per call");
    let (c, h, n) = (2560usize, 40usize, 64usize);
    let lw = b.upload_vectors(1, c, rng.f32s(c, 0.5, 1.5)).unwrap();
    let lb = b.upload_vectors(1, c, rng.f32s(c, -0.5, 0.5)).unwrap();
    let mu = b.upload_vectors(6, c, rng.f32s(6 * c, 0.0, 1.0)).unwrap();
    let kk = b.upload_vectors(1, c, rng.f32s(c, 0.5, 1.5)).unwrap();
    let ka = b.upload_vectors(1, c, rng.f32s(c, 0.0, 1.0)).unwrap();
    let rk = b.upload_vectors(1, c, rng.f32s(c, -1.0, 1.0)).unwrap();
    for t in [1usize, 256] {
        let x = act(b, rng, t, c);
        let mut xn = act(b, rng, t, c);
        let mut shift = act(b, rng, 1, c);
        let mut outs: Vec<CudaAct> = (0..6).map(|_| act(b, rng, t, c)).collect();
        let (r, dec, v, a, g) = (act(b, rng, t, c), act(b, rng, t, c), act(b, rng, t, c), act(b, rng, t, c), act(b, rng, t, c));
        let mut k = act(b, rng, t, c);
        let mut y = act(b, rng, t, c);
        let mut state = act(b, rng, h, n * n);
        let graphs = t == 1;
        let reps = if t == 1 { 50 } else { 5 };
        let report = |label: &str, secs: f64| println!("SMALL T={t:<4} {label:<34} {:>9.2} us", secs * 1e6);
        set(b, "fuse=0");
        report("layer_norm", time_steps(b, 20, reps, graphs, |b, _| b.layer_norm(&x, &lw, &lb, 1e-5, &mut xn)));
        report("token_shift_lerp (6 outputs)", time_steps(b, 20, reps, graphs, |b, _| {
            let mut refs: Vec<&mut CudaAct> = outs.iter_mut().collect();
            b.token_shift_lerp(&x, &mut shift, &mu, &mut refs)
        }));
        set(b, "");
        report("layer_norm + lerp (fused when T=1)", time_steps(b, 20, reps, graphs, |b, _| {
            b.layer_norm(&x, &lw, &lb, 1e-5, &mut xn);
            let mut refs: Vec<&mut CudaAct> = outs.iter_mut().collect();
            b.token_shift_lerp(&xn, &mut shift, &mu, &mut refs)
        }));
        for (label, spec) in [("wkv7 (wkv7.cu)", "fast_wkv=0"), ("wkv7 (wkv7_h64.cu)", "fuse=0")] {
            set(b, spec);
            report(label, time_steps(b, 10, reps, graphs, |b, _| b.wkv7(&r, &dec, &mut k, &v, &a, &kk, &ka, &mut state, &mut y)));
        }
        set(b, "fuse=0");
        report("wkv7_output (wkv7_output.cu)", time_steps(b, 10, reps, graphs, |b, _| {
            b.wkv7_output(&mut y, &r, &k, &v, &g, &rk, &lw, &lb, n, 64e-5)
        }));
        for (label, spec) in [("wkv7 + output, separate", "fast_wkv=0"), ("wkv7 + output, fused", "")] {
            set(b, spec);
            report(label, time_steps(b, 10, reps, graphs, |b, _| {
                b.wkv7(&r, &dec, &mut k, &v, &a, &kk, &ka, &mut state, &mut y);
                b.wkv7_output(&mut y, &r, &k, &v, &g, &rk, &lw, &lb, n, 64e-5)
            }));
        }
        set(b, "fuse=0");
        report("add", time_steps(b, 20, reps, graphs, |b, _| b.add(&mut xn, &x)));
    }
    // The LoRA chain of one layer (2.9B ranks: decay 96 f32, iclr 96, value 64, gate 320 f16).
    let mut lora_ws = Vec::new();
    for (ty, rank) in [(GgmlType::F32, 96usize), (GgmlType::F16, 96), (GgmlType::F16, 64), (GgmlType::F16, 320)] {
        let a = b.upload_raw("a", ty, rank, c, &weight_bytes(rng, ty, rank, c)).unwrap();
        let bb = b.upload_raw("b", ty, c, rank, &weight_bytes(rng, ty, c, rank)).unwrap();
        lora_ws.push((a, bb, rank));
    }
    let x = act(b, rng, 1, c);
    let mut mids: Vec<CudaAct> = lora_ws.iter().map(|(_, _, r)| act(b, rng, 1, *r)).collect();
    let mut outs: Vec<CudaAct> = (0..4).map(|_| act(b, rng, 1, c)).collect();
    for (label, spec) in [("4 LoRAs of a layer, separate", "fuse=0"), ("4 LoRAs of a layer, batched", "")] {
        set(b, spec);
        let secs = time_steps(b, 10, 50, true, |b, _| {
            for (i, (aw, bw, _)) in lora_ws.iter().enumerate() {
                let kind = [LoraKind::Decay, LoraKind::SigmoidOut, LoraKind::SigmoidOut, LoraKind::Gate][i];
                let bias = if kind == LoraKind::Gate { None } else { Some(&lw) };
                b.lora(kind, &x, aw, bw, bias, &mut mids[i], &mut outs[i]);
            }
        });
        println!("SMALL T=1    {label:<34} {:>9.2} us", secs * 1e6);
    }
    set(b, "");
}

fn profile_model(path: &str) {
    let file = Arc::new(GgufFile::open(path).expect("open model"));
    let mut backend = CudaBackend::new(0).expect("cuda");
    let profiler = backend.start_profiling();
    let mut model = Rwkv7Runner::load(file, backend).expect("load");
    let n_vocab = model.info().hparams.n_vocab as u32;
    let tokens: Vec<u32> = (0..512u32).map(|i| (i * 7919) % n_vocab).collect();
    let state = model.new_state().expect("state");
    model.forward(state, &tokens[..32], LogitsMode::Last).expect("prefill");
    profiler.take().expect("profile");
    let steps = 32;
    let t = Instant::now();
    for i in 0..steps {
        model.forward(state, &[tokens[i]], LogitsMode::Last).expect("decode");
    }
    let wall = t.elapsed().as_secs_f64() / steps as f64;
    print_profile(&format!("decode step of {path} (per token; wall {:.3} ms/token while profiling)", wall * 1e3), &profiler, steps as f64);
    let fresh = model.new_state().expect("state");
    profiler.take().expect("profile");
    let t = Instant::now();
    model.forward(fresh, &tokens, LogitsMode::Last).expect("prefill");
    let wall = t.elapsed().as_secs_f64();
    print_profile(&format!("512-token prefill of {path} (wall {:.1} ms while profiling)", wall * 1e3), &profiler, 1.0);
}

fn print_profile(title: &str, profiler: &cuda::Profiler, per: f64) {
    let times = profiler.take().expect("profile");
    let total: f64 = times.iter().map(|k| k.ms).sum();
    println!("\n== {title}: GPU {:.3} ms", total / per);
    for k in &times {
        println!(
            "PROFILE {:<24} {:>6.1} calls {:>9.1} us {:>5.1}%",
            k.name,
            k.calls as f64 / per,
            1e3 * k.ms / per,
            100.0 * k.ms / total.max(1e-12)
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let models: Vec<&String> = args.iter().zip(args.iter().skip(1)).filter(|(a, _)| *a == "--model").map(|(_, m)| m).collect();
    let only_models = args.iter().any(|a| a == "--only-models");
    if !only_models {
        let mut b = CudaBackend::new(0).expect("cuda backend");
        println!("device: {}", b.device_name());
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let types = args.iter().zip(args.iter().skip(1)).find(|(a, _)| *a == "--types").map(|(_, t)| t.as_str());
        matvecs(&mut b, &mut rng, quick, types);
        if !args.iter().any(|a| a == "--no-small") {
            small_ops(&mut b, &mut rng);
        }
        if !args.iter().any(|a| a == "--no-prefill") {
            prefill_matmuls(&mut b, &mut rng, quick);
        }
    }
    for m in models {
        profile_model(m);
    }
}
