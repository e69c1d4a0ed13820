//! The RWKV-4/5/6 ops: each scalar reference kernel against an independent formulation (float64,
//! non-recursive where the kernel is recursive), and the cpu backend's ops (fast matmul inside)
//! against the references, on seeded random inputs of odd sizes.

use std::sync::Arc;

use cpu::kernels::lora::MatrixRef;
use cpu::kernels::wkv6::Wkv6Inputs;
use cpu::kernels::{decay6, elementwise, group_norm, layer_norm, token_shift_lora6, wkv4, wkv6};
use cpu::{CpuAct, CpuBackend};
use gguf::{GgmlType, GgufFile, GgufWriter};
use model::{Architecture, Ops, TensorSource, Wkv6Decay};
use testkit::TestRng;

fn close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let d = testkit::max_abs_diff(got, want);
    assert!(d <= tol, "{what}: max abs diff {d} > {tol}");
}

#[test]
fn wkv6_matches_the_unrolled_sum() {
    let mut rng = TestRng::new(61);
    let mut cases = 0;
    for (t, h, n, per_token) in [(1, 1, 4, true), (5, 3, 4, true), (7, 2, 5, false), (9, 1, 3, false)] {
        let c = h * n;
        let (r, k, v) = (rng.vec(t * c, -1.0, 1.0), rng.vec(t * c, -1.0, 1.0), rng.vec(t * c, -1.0, 1.0));
        let decay = rng.vec(if per_token { t * c } else { c }, 0.3, 1.0);
        let u = rng.vec(c, -0.5, 0.5);
        let s0 = rng.vec(h * n * n, -1.0, 1.0);
        let mut state = s0.clone();
        let mut y = vec![0f32; t * c];
        let inp = Wkv6Inputs { r: &r, k: &k, v: &v, decay: &decay, per_token, u: &u };
        wkv6::wkv6(&inp, &mut state, &mut y, n);

        // S_t[i][j] = S0[i][j]·Π_{q<t} w_q[i] + Σ_{s<t} k_s[i]·v_s[j]·Π_{s<q<t} w_q[i].
        let w = |q: usize, ch: usize| decay[if per_token { q * c + ch } else { ch }] as f64;
        let s_before = |tt: usize, hh: usize, i: usize, j: usize| {
            let ch = hh * n + i;
            let mut s = s0[hh * n * n + i * n + j] as f64 * (0..tt).map(|q| w(q, ch)).product::<f64>();
            for s_ in 0..tt {
                let kv = k[s_ * c + ch] as f64 * v[s_ * c + hh * n + j] as f64;
                s += kv * (s_ + 1..tt).map(|q| w(q, ch)).product::<f64>();
            }
            s
        };
        for tt in 0..t {
            for hh in 0..h {
                for j in 0..n {
                    let want: f64 = (0..n)
                        .map(|i| {
                            let ch = hh * n + i;
                            let kv = k[tt * c + ch] as f64 * v[tt * c + hh * n + j] as f64;
                            r[tt * c + ch] as f64 * (u[ch] as f64 * kv + s_before(tt, hh, i, j))
                        })
                        .sum();
                    let got = y[tt * c + hh * n + j];
                    assert!((got as f64 - want).abs() < 1e-4, "wkv6 T={t} t={tt} h={hh} j={j}: {got} vs {want}");
                }
            }
        }
        for hh in 0..h {
            for i in 0..n {
                for j in 0..n {
                    let got = state[hh * n * n + i * n + j] as f64;
                    assert!((got - s_before(t, hh, i, j)).abs() < 1e-4, "wkv6 final state");
                }
            }
        }
        cases += 1;
    }
    assert_eq!(cases, 4);
}

#[test]
fn wkv4_matches_the_direct_weighted_average_and_runs_in_pieces() {
    let mut rng = TestRng::new(44);
    let (t, c) = (9, 7);
    let (k, v) = (rng.vec(t * c, -2.0, 2.0), rng.vec(t * c, -1.0, 1.0));
    let w: Vec<f32> = rng.vec(c, -3.0, 1.0).iter().map(|d| -d.exp()).collect();
    let u = rng.vec(c, -1.0, 1.0);
    let mut state = vec![0f32; 3 * c];
    let mut y = vec![0f32; t * c];
    wkv4::wkv4(&k, &v, &w, &u, &mut state, &mut y);
    for tt in 0..t {
        for ch in 0..c {
            // y_t = (Σ_{s<t} e^{(t−1−s)w + k_s} v_s + e^{u+k_t} v_t) / (same without v).
            let (mut num, mut den) = (0f64, 0f64);
            for s in 0..tt {
                let e = ((tt - 1 - s) as f64 * w[ch] as f64 + k[s * c + ch] as f64).exp();
                num += e * v[s * c + ch] as f64;
                den += e;
            }
            let e = (u[ch] as f64 + k[tt * c + ch] as f64).exp();
            let want = (num + e * v[tt * c + ch] as f64) / (den + e);
            assert!((y[tt * c + ch] as f64 - want).abs() < 1e-5, "wkv4 t={tt} c={ch}");
        }
    }
    // Token by token from the same start gives the same outputs and state.
    let mut s2 = vec![0f32; 3 * c];
    let mut y2 = vec![0f32; t * c];
    for tt in 0..t {
        let at = tt * c..(tt + 1) * c;
        wkv4::wkv4(&k[at.clone()], &v[at.clone()], &w, &u, &mut s2, &mut y2[at]);
    }
    assert_eq!(y, y2);
    assert_eq!(state, s2);
}

#[test]
fn group_norm_is_layer_norm_per_head() {
    let mut rng = TestRng::new(7);
    for (t, h, n) in [(1, 1, 5), (3, 4, 8), (2, 3, 17)] {
        let c = h * n;
        let y0 = rng.vec(t * c, -3.0, 3.0);
        let (w, b) = (rng.vec(c, 0.5, 1.5), rng.vec(c, -0.5, 0.5));
        let mut got = y0.clone();
        group_norm::group_norm(&mut got, &w, &b, n, 1e-5);
        let mut want = vec![0f32; t * c];
        for (row, out) in y0.chunks_exact(n).zip(want.chunks_exact_mut(n)).enumerate().map(|(i, p)| (i % h, p)) {
            let (x, o) = out;
            layer_norm::layer_norm(x, &w[row * n..(row + 1) * n], &b[row * n..(row + 1) * n], 1e-5, o);
        }
        close(&got, &want, 1e-6, "group_norm");
    }
}

#[test]
fn gates_and_scale() {
    let (mut x, g) = (vec![2.0f32, -1.0, 0.5], vec![0.0f32, 3.0, -2.0]);
    let sig = |v: f32| 1.0 / (1.0 + (-v).exp());
    let want: Vec<f32> = x.iter().zip(&g).map(|(a, b)| a * sig(*b)).collect();
    elementwise::sigmoid_mul(&mut x, &g);
    close(&x, &want, 1e-7, "sigmoid_mul");
    let want: Vec<f32> = x.iter().zip(&g).map(|(a, b)| a * b * sig(*b)).collect();
    elementwise::silu_mul(&mut x, &g);
    close(&x, &want, 1e-7, "silu_mul");
    let want: Vec<f32> = x.iter().map(|a| a * 0.5).collect();
    elementwise::scale(&mut x, 0.5);
    close(&x, &want, 0.0, "scale");
}

/// An in-memory GGUF holding `mats` (name, rows, cols, type, f32 values), quantized as asked.
fn matrices(mats: &[(&str, usize, usize, GgmlType, &[f32])]) -> Arc<GgufFile> {
    let mut w = GgufWriter::new();
    for &(name, rows, cols, ty, data) in mats {
        let rb = quant::row_bytes(ty, cols).unwrap();
        let mut bytes = vec![0u8; rows * rb];
        for (src, dst) in data.chunks_exact(cols).zip(bytes.chunks_exact_mut(rb)) {
            quant::quantize_row(ty, src, dst).unwrap();
        }
        w.add_tensor(name, &[cols as u64, rows as u64], ty, bytes).unwrap();
    }
    Arc::new(GgufFile::from_bytes(w.to_bytes()).unwrap())
}

fn mref<'a>(file: &'a GgufFile, name: &str) -> MatrixRef<'a> {
    let info = file.tensor(name).unwrap();
    let cols = info.ne(0) as usize;
    MatrixRef { ty: info.ty, bytes: file.tensor_data(info), row_bytes: quant::row_bytes(info.ty, cols).unwrap(), cols }
}

fn upload(cpu: &mut CpuBackend, file: &Arc<GgufFile>, name: &str) -> cpu::CpuWeight {
    cpu.upload_matrix(&TensorSource { file: file.clone(), info: file.tensor(name).unwrap().clone() }).unwrap()
}

#[test]
fn backend_decay6_and_token_shift_lora6_match_the_references() {
    let mut rng = TestRng::new(606);
    let mut cpu = CpuBackend::new(2).unwrap();
    assert!(Architecture::ALL.iter().all(|&a| cpu.supports(a)));
    let mut cases = 0;
    for (ty, c, d) in [(GgmlType::F32, 33, 5), (GgmlType::F16, 64, 32), (GgmlType::Q8_0, 64, 32)] {
        let k = 5;
        // Quantized types need rows of whole blocks: W1 [5D, C] and W2 [5C, D] share one type here.
        let (ty1, ty2) = (ty, if d % ty.block_size() == 0 { ty } else { GgmlType::F32 });
        let (w1, w2) = (rng.vec(k * d * c, -0.3, 0.3), rng.vec(k * c * d, -0.3, 0.3));
        let (a, b) = (rng.vec(d * c, -0.3, 0.3), rng.vec(c * d, -0.3, 0.3));
        let file = matrices(&[("w1", k * d, c, ty1, &w1), ("w2", k * c, d, ty2, &w2), ("a", d, c, ty1, &a), ("b", c, d, ty2, &b)]);
        let (mu_x, mu, bias) = (rng.vec(c, 0.0, 1.0), rng.vec(k * c, 0.0, 1.0), rng.vec(c, -2.0, 1.0));
        let weights = ["w1", "w2", "a", "b"].map(|n| upload(&mut cpu, &file, n));
        let mu_x_w = cpu.upload_vectors(1, c, mu_x.clone()).unwrap();
        let mu_w = cpu.upload_vectors(k, c, mu.clone()).unwrap();
        let bias_w = cpu.upload_vectors(1, c, bias.clone()).unwrap();
        // Fast matmul quantizes activations for integer dots: a looser bound for quantized types.
        let tol = if ty == GgmlType::F32 { 1e-5 } else { 2e-2 };
        for t in [1, 4, 11] {
            let x = rng.vec(t * c, -1.0, 1.0);
            let shift0 = rng.vec(c, -1.0, 1.0);

            // Reference.
            let mut shift = shift0.clone();
            let mut mid = vec![0f32; t * k * d];
            let mut outs: Vec<Vec<f32>> = (0..k).map(|_| vec![0f32; t * c]).collect();
            let mut refs: Vec<&mut [f32]> = outs.iter_mut().map(|o| o.as_mut_slice()).collect();
            token_shift_lora6::token_shift_lora6(&x, &mut shift, &mu_x, &mu, &mref(&file, "w1"), &mref(&file, "w2"), &mut mid, &mut refs);
            let mut dmid = vec![0f32; t * d];
            let mut decay = vec![0f32; t * c];
            decay6::decay6(&outs[0], &mref(&file, "a"), &mref(&file, "b"), &bias, &mut dmid, &mut decay);

            // Backend.
            let xa = CpuAct::from_vec(t, c, x.clone());
            let mut bshift = CpuAct::from_vec(1, c, shift0.clone());
            let mut bmid = CpuAct::zeros(t, k * d);
            let mut bouts: Vec<CpuAct> = (0..k).map(|_| CpuAct::zeros(t, c)).collect();
            let mut brefs: Vec<&mut CpuAct> = bouts.iter_mut().collect();
            cpu.token_shift_lora6(&xa, &mut bshift, &mu_x_w, &mu_w, &weights[0], &weights[1], &mut bmid, &mut brefs);
            assert_eq!(bshift.data, shift, "shift after {t} tokens");
            for (i, (g, r)) in bouts.iter().zip(&outs).enumerate() {
                close(&g.data, r, tol, &format!("token_shift_lora6 {ty:?} T={t} out {i}"));
            }
            let mut bdmid = CpuAct::zeros(t, d);
            let mut bdecay = CpuAct::zeros(t, c);
            cpu.decay6(&bouts[0], &weights[2], &weights[3], &bias_w, &mut bdmid, &mut bdecay);
            close(&bdecay.data, &decay, tol, &format!("decay6 {ty:?} T={t}"));
            assert!(decay.iter().all(|&w| w > 0.0 && w < 1.0), "decays lie in (0, 1)");
            cases += 1;
        }
    }
    assert_eq!(cases, 9);
}

#[test]
fn token_shift_lora6_with_zero_lora_is_the_plain_lerp() {
    let mut rng = TestRng::new(3);
    let (t, c, d, k) = (6, 32, 32, 5);
    let file = matrices(&[("w1", k * d, c, GgmlType::F32, &rng.vec(k * d * c, -1.0, 1.0)), ("w2", k * c, d, GgmlType::F32, &vec![0f32; k * c * d])]);
    let (x, mu_x, mu) = (rng.vec(t * c, -1.0, 1.0), rng.vec(c, 0.0, 1.0), rng.vec(k * c, 0.0, 1.0));
    let shift0 = rng.vec(c, -1.0, 1.0);
    let mut shift = shift0.clone();
    let mut mid = vec![0f32; t * k * d];
    let mut outs: Vec<Vec<f32>> = (0..k).map(|_| vec![0f32; t * c]).collect();
    let mut refs: Vec<&mut [f32]> = outs.iter_mut().map(|o| o.as_mut_slice()).collect();
    token_shift_lora6::token_shift_lora6(&x, &mut shift, &mu_x, &mu, &mref(&file, "w1"), &mref(&file, "w2"), &mut mid, &mut refs);
    let mut shift2 = shift0.clone();
    let mut want: Vec<Vec<f32>> = (0..k).map(|_| vec![0f32; t * c]).collect();
    let mut wrefs: Vec<&mut [f32]> = want.iter_mut().map(|o| o.as_mut_slice()).collect();
    cpu::kernels::token_shift_lerp::token_shift_lerp(&x, &mut shift2, &mu, &mut wrefs);
    assert_eq!(outs, want);
    assert_eq!(shift, shift2);
}

#[test]
fn backend_wkv6_static_and_per_token_decay_agree() {
    let mut rng = TestRng::new(9);
    let mut cpu = CpuBackend::new(1).unwrap();
    let (t, h, n) = (4, 2, 8);
    let c = h * n;
    let act = |rng: &mut TestRng| CpuAct::from_vec(t, c, rng.vec(t * c, -1.0, 1.0));
    let (r, k, v) = (act(&mut rng), act(&mut rng), act(&mut rng));
    let w = rng.vec(c, 0.2, 0.99);
    let per_token = CpuAct::from_vec(t, c, w.repeat(t));
    let static_w = cpu.upload_vectors(1, c, w).unwrap();
    let u = cpu.upload_vectors(1, c, rng.vec(c, -0.5, 0.5)).unwrap();
    let (mut s1, mut s2) = (CpuAct::zeros(h, n * n), CpuAct::zeros(h, n * n));
    let (mut y1, mut y2) = (CpuAct::zeros(t, c), CpuAct::zeros(t, c));
    cpu.wkv6(&r, &k, &v, Wkv6Decay::PerToken(&per_token), &u, &mut s1, &mut y1);
    cpu.wkv6(&r, &k, &v, Wkv6Decay::Static(&static_w), &u, &mut s2, &mut y2);
    assert_eq!(y1, y2);
    assert_eq!(s1, s2);
    assert!(y1.data.iter().any(|&x| x != 0.0));
}
