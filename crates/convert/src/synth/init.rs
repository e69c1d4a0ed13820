//! Deterministic random values: every row of every tensor has its own seed, derived from the model
//! seed, the tensor's name and the row index, so any part of any tensor can be generated on its own
//! and in parallel with the same result.

/// How a tensor's values are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Uniform in [lo, hi).
    Uniform { lo: f32, hi: f32 },
    /// Uniform with mean 0 and this standard deviation (bounded, unlike a normal distribution).
    Centered { std: f32 },
}

impl Init {
    fn range(self) -> (f32, f32) {
        match self {
            Init::Uniform { lo, hi } => (lo, hi),
            Init::Centered { std } => {
                let half = std * 3f32.sqrt();
                (-half, half)
            }
        }
    }
}

/// FNV-1a: a stable hash of a tensor name (Rust's `Hash` is not stable across versions).
pub fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

/// SplitMix64's output function: a strong 64-bit mixer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Fills `out` with the values of consecutive rows of a tensor, starting at `first_row`; rows have
/// `row_len` values. `tensor_seed` comes from [`tensor_seed`].
pub fn fill_rows(init: Init, tensor_seed: u64, first_row: usize, row_len: usize, out: &mut [f32]) {
    let (lo, hi) = init.range();
    let scale = (hi - lo) / (1u32 << 24) as f32;
    for (r, row) in out.chunks_mut(row_len).enumerate() {
        let mut state = mix(tensor_seed ^ mix((first_row + r) as u64 ^ 0x5851_F42D_4C95_7F2D));
        for v in row {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let bits = (mix(state) >> 40) as u32;
            *v = lo + scale * bits as f32;
        }
    }
}

/// The seed of one tensor of a model.
pub fn tensor_seed(model_seed: u64, name: &str) -> u64 {
    mix(model_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ name_hash(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_independent_of_how_they_are_split() {
        let init = Init::Centered { std: 0.5 };
        let seed = tensor_seed(0, "blk.0.time_mix_key.weight");
        let mut whole = vec![0f32; 7 * 33];
        fill_rows(init, seed, 0, 33, &mut whole);
        let mut part = vec![0f32; 3 * 33];
        fill_rows(init, seed, 4, 33, &mut part);
        assert_eq!(&whole[4 * 33..], &part[..]);
        assert_ne!(whole[..33], whole[33..66], "rows differ");
    }

    #[test]
    fn statistics_match_the_init() {
        let mut v = vec![0f32; 1 << 16];
        fill_rows(Init::Centered { std: 0.5 }, tensor_seed(1, "x"), 0, 256, &mut v);
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        let std = (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / v.len() as f32).sqrt();
        assert!(mean.abs() < 0.01 && (std - 0.5).abs() < 0.01, "mean {mean} std {std}");
        let bound = 0.5 * 3f32.sqrt();
        assert!(v.iter().all(|x| x.abs() <= bound));

        fill_rows(Init::Uniform { lo: 0.5, hi: 1.0 }, tensor_seed(1, "y"), 0, 256, &mut v);
        assert!(v.iter().all(|&x| (0.5..1.0).contains(&x)));
        assert_ne!(tensor_seed(0, "a"), tensor_seed(1, "a"));
    }
}
