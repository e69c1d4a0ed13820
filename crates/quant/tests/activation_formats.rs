//! Q8_1 and Q8_K, ggml's activation formats (block functions only).

use quant::{q8_1, q8_k};
use testkit::TestRng;

#[test]
fn q8_k_round_trip_and_group_sums() {
    let mut rng = TestRng::new(0x8c);
    for scale in [1e-3f32, 1.0, 300.0] {
        let x: [f32; 256] = std::array::from_fn(|_| rng.uniform(-scale, scale));
        let mut b = [0u8; q8_k::BLOCK_BYTES];
        q8_k::quantize_block(&x, &mut b);
        let mut y = [0.0f32; 256];
        q8_k::dequantize_block(&b, &mut y);
        let amax = x.iter().fold(0.0f32, |a, v| a.max(v.abs()));
        for (i, (a, b)) in x.iter().zip(&y).enumerate() {
            assert!(
                (a - b).abs() <= amax / 127.0 * 0.5001,
                "element {i}: {a} vs {b}"
            );
        }
        for g in 0..16 {
            let sum: i32 = b[4 + 16 * g..20 + 16 * g]
                .iter()
                .map(|&q| q as i8 as i32)
                .sum();
            let stored = i16::from_le_bytes([b[260 + 2 * g], b[261 + 2 * g]]);
            assert_eq!(sum, stored as i32, "group {g}");
        }
    }
    let mut b = [1u8; q8_k::BLOCK_BYTES];
    q8_k::quantize_block(&[0.0; 256], &mut b);
    assert!(b.iter().all(|&v| v == 0));
}

#[test]
fn q8_1_round_trip_and_sum_field() {
    let mut rng = TestRng::new(0x81);
    let x: [f32; 32] = std::array::from_fn(|_| rng.uniform(-2.0, 2.0));
    let mut b = [0u8; q8_1::BLOCK_BYTES];
    q8_1::quantize_block(&x, &mut b);
    let mut y = [0.0f32; 32];
    q8_1::dequantize_block(&b, &mut y);
    let d = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
    for (a, b) in x.iter().zip(&y) {
        assert!((a - b).abs() <= d * 0.5001 + 1e-6, "{a} vs {b}");
    }
    let s = half::f16::from_le_bytes([b[2], b[3]]).to_f32();
    let sum: f32 = b[4..].iter().map(|&q| q as i8 as f32).sum();
    assert!(
        (s - sum * d).abs() <= 1e-3 * (1.0 + s.abs()),
        "s {s} vs d·Σq {}",
        sum * d
    );
}
