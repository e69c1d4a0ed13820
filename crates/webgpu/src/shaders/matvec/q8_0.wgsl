// matvec items for Q8_0 (re-packed to 36-byte blocks = 9 words: word 0 = d in its low half, words
// 1..8 = qs[32] as i8; layout.rs). Rows of a multiple of 128 elements, so that each row is whole
// vec4<u32>s (4 blocks = 144 bytes). Item i = elements 8i .. 8i + 7 = quarter c = i % 4 of block
// b = i / 4, from words 1 + 2c and 2 + 2c: four consecutive lanes share a block (one scale load,
// broadcast) and read x in consecutive 32-byte pieces. y = d · q.

// ---- per job ----
// Word `i` of the row whose first vec4 is `base`.
fn q8_0_word$J(base: u32, i: u32) -> u32 {
    return w$J[base + i / 4u][i % 4u];
}

fn accumulate$J(acc: ptr<function, array<f32, NR>>, base: ptr<function, array<u32, NR>>, it: u32) {
    let x0 = x$J[2u * it];
    let x1 = x$J[2u * it + 1u];
    let b = it / 4u;
    let c = it % 4u;
    for (var r = 0u; r < NR; r++) {
        let at = 9u * b;
        let d = unpack2x16float(q8_0_word$J((*base)[r], at)).x;
        let lo = q8_0_word$J((*base)[r], at + 1u + 2u * c);
        let hi = q8_0_word$J((*base)[r], at + 2u + 2u * c);
        let ql = vec4<f32>(vec4<i32>(bitcast<i32>(lo << 24u), bitcast<i32>(lo << 16u), bitcast<i32>(lo << 8u), bitcast<i32>(lo)) >> vec4<u32>(24u));
        let qh = vec4<f32>(vec4<i32>(bitcast<i32>(hi << 24u), bitcast<i32>(hi << 16u), bitcast<i32>(hi << 8u), bitcast<i32>(hi)) >> vec4<u32>(24u));
        (*acc)[r] += d * (dot(ql, x0) + dot(qh, x1));
    }
}
