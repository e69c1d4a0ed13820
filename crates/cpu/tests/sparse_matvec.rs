//! The zero-skipping FFN value matvec (`cpu::fast::sparse_matvec`) against an f64 dot product of
//! the same F16 weights, on seeded random relu²-like inputs of odd lengths; dense inputs must fall
//! back (return false, output untouched). Skipped where the CPU or `AVIARY_SIMD` has no AVX-512.

use cpu::fast::sparse_matvec::{Transposed, COLS};
use cpu::pool::Pool;
use gguf::GgmlType;
use testkit::TestRng;

#[test]
fn sparse_matvec_matches_the_dense_product() {
    let isa = quant::fast::active();
    if !Transposed::usable(GgmlType::F16, COLS, isa) {
        eprintln!("no AVX-512 at level {isa}: sparse path not used, nothing to test");
        return;
    }
    assert!(!Transposed::usable(GgmlType::F16, COLS + 16, isa), "rows of partial cache lines are not taken");
    assert!(!Transposed::usable(GgmlType::Q8_0, COLS, isa), "only F16 is transposed exactly");
    let pool = Pool::new(3).unwrap();
    let mut rng = TestRng::new(0x5BA5E);
    let mut nz = Vec::new();
    for (m, k) in [(COLS, 1), (COLS, 33), (3 * COLS, 257), (5 * COLS, 1023), (32 * COLS, 2049)] {
        let wf: Vec<f32> = rng.vec(m * k, -1.0, 1.0);
        let w: Vec<u8> = wf.iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect();
        let wq: Vec<f64> = w.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f64()).collect();
        let tr = Transposed::new(&w, m, k);
        // relu²-like: about 60% zeros, the rest positive.
        let x: Vec<f32> = (0..k).map(|_| rng.uniform(-1.5, 1.0).max(0.0).powi(2)).collect();
        let mut out = vec![f32::NAN; m];
        let used = tr.matvec(&pool, &x, &mut out, &mut nz);
        let density = x.iter().filter(|&&v| v != 0.0).count() as f64 / k as f64;
        assert_eq!(used, density <= 0.7, "m={m} k={k}: density {density}");
        if !used {
            assert!(out.iter().all(|v| v.is_nan()), "a declined call leaves the output alone");
            continue;
        }
        for (r, &g) in out.iter().enumerate() {
            let want: f64 = (0..k).map(|j| wq[r * k + j] * x[j] as f64).sum();
            let mag: f64 = (0..k).map(|j| (wq[r * k + j] * x[j] as f64).abs()).sum();
            assert!((g as f64 - want).abs() <= 1e-6 * mag + 1e-6, "m={m} k={k} row {r}: {g} vs {want}");
        }
    }
    // A dense input declines.
    let (m, k) = (COLS, 64);
    let tr = Transposed::new(&vec![0u8; m * k * 2], m, k);
    let mut out = vec![1.0f32; m];
    assert!(!tr.matvec(&pool, &vec![1.0; k], &mut out, &mut nz));
    assert!(out.iter().all(|&v| v == 1.0));
}
