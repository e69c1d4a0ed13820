//! Times the fast wkv7 (one chunk of T tokens, C = 768, head size 64 by default) on a pool, best
//! of several repetitions (robust on a shared machine):
//! `cargo run --release -p cpu --example wkv7_bench -- [threads] [tokens] [channels] [head]`.

use std::time::Instant;

use cpu::fast::wkv7::wkv7;
use cpu::kernels::wkv7::Wkv7Inputs;
use cpu::pool::Pool;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let threads = args.first().copied().unwrap_or(1);
    let t = args.get(1).copied().unwrap_or(256);
    let c = args.get(2).copied().unwrap_or(768);
    let n = args.get(3).copied().unwrap_or(64);
    let pool = Pool::new(threads).unwrap();
    let mut seed = 7u32;
    let mut rnd = move |lo: f32, hi: f32| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        lo + (hi - lo) * (seed as f32 / u32::MAX as f32)
    };
    let mut vec = |len: usize, lo: f32, hi: f32| -> Vec<f32> { (0..len).map(|_| rnd(lo, hi)).collect() };
    let (r, decay, v, a) = (vec(t * c, -1.0, 1.0), vec(t * c, 0.5, 1.0), vec(t * c, -1.0, 1.0), vec(t * c, 0.0, 1.0));
    let (k_k, k_a) = (vec(c, 0.5, 1.5), vec(c, 0.0, 1.0));
    let k0 = vec(t * c, -1.0, 1.0);
    let mut state = vec(c * n, -0.1, 0.1);
    let inp = Wkv7Inputs { r: &r, decay: &decay, v: &v, a: &a, k_k: &k_k, k_a: &k_a };
    let mut y = vec![0f32; t * c];
    let mut best = f64::MAX;
    for _ in 0..20 {
        let mut k = k0.clone();
        let t0 = Instant::now();
        wkv7(&pool, quant::fast::active(), &inp, &mut k, &mut state, &mut y, n);
        best = best.min(t0.elapsed().as_secs_f64());
        state.iter_mut().for_each(|s| *s *= 0.5);
    }
    println!("wkv7 T={t} C={c} N={n} threads={threads}: best {:.3} ms ({:.1} ns per token-head)", best * 1e3, best * 1e9 / (t * c / n) as f64);
}
