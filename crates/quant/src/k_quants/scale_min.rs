//! The 12-byte packing of eight 6-bit (scale, min) pairs shared by Q4_K and Q5_K (`get_scale_min_k4`).
//!
//! Bytes 0–3: low 6 bits = scales 0–3, top 2 bits = bits 4–5 of scales 4–7. Bytes 4–7: the same for the
//! mins. Bytes 8–11: low nibble = bits 0–3 of scale 4–7, high nibble = bits 0–3 of min 4–7.

/// (scale, min) of sub-block `s` (0..8).
pub(crate) fn get(packed: &[u8], s: usize) -> (u8, u8) {
    if s < 4 {
        (packed[s] & 63, packed[s + 4] & 63)
    } else {
        let sc = (packed[s + 4] & 0x0F) | ((packed[s - 4] >> 6) << 4);
        let m = (packed[s + 4] >> 4) | ((packed[s] >> 6) << 4);
        (sc, m)
    }
}

/// Packs eight (scale, min) pairs, each in 0..64, into 12 bytes.
pub(crate) fn pack(scales: &[u8; 8], mins: &[u8; 8]) -> [u8; 12] {
    let mut packed = [0u8; 12];
    for s in 0..8 {
        let (ls, lm) = (scales[s] & 63, mins[s] & 63);
        if s < 4 {
            packed[s] |= ls;
            packed[s + 4] |= lm;
        } else {
            packed[s + 4] = (ls & 0x0F) | ((lm & 0x0F) << 4);
            packed[s - 4] |= (ls >> 4) << 6;
            packed[s] |= (lm >> 4) << 6;
        }
    }
    packed
}

#[cfg(test)]
mod tests {
    #[test]
    fn pack_then_get_round_trips() {
        let scales = [0, 1, 17, 63, 32, 5, 48, 63];
        let mins = [63, 0, 9, 33, 1, 62, 16, 31];
        let packed = super::pack(&scales, &mins);
        for s in 0..8 {
            assert_eq!(
                super::get(&packed, s),
                (scales[s], mins[s]),
                "sub-block {s}"
            );
        }
    }
}
