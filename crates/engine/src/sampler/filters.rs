//! The candidate list and the filters that narrow it: softmax weights, top-k, min-p and top-p.
//!
//! Candidates are `(token, weight)` pairs whose weights are softmax numerators `exp((l - l_max) / T)`,
//! so the most likely token has weight exactly 1 and nothing is normalised until the end.
//! With a 65536-token vocabulary a full sort per step is avoidable work: top-k uses a selection, and
//! top-p sorts only a growing prefix until that prefix holds enough mass.

use std::cmp::Ordering;

pub(crate) type Candidate = (u32, f32);

/// Most likely first; equal weights by lowest token id, so every result is deterministic.
pub(crate) fn by_weight_desc(a: &Candidate, b: &Candidate) -> Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// First index of the largest value, skipping NaN; `None` for empty or all-NaN input.
pub fn argmax(logits: &[f32]) -> Option<u32> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in logits.iter().enumerate() {
        if v.is_nan() {
            continue;
        }
        match best {
            Some((_, b)) if v <= b => {}
            _ => best = Some((i, v)),
        }
    }
    best.map(|(i, _)| i as u32)
}

/// Fills `out` with the tokens of non-zero probability after `temperature` (> 0) and softmax.
///
/// `logits` must have NaN already replaced by -inf. If any logit is +inf those tokens share all the
/// mass equally (the limit of the softmax); otherwise -inf logits and weights that underflow are left out.
pub(crate) fn softmax_candidates(logits: &[f32], temperature: f32, out: &mut Vec<Candidate>) {
    out.clear();
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return;
    }
    if max == f32::INFINITY {
        out.extend(logits.iter().enumerate().filter(|(_, &l)| l == f32::INFINITY).map(|(i, _)| (i as u32, 1.0)));
        return;
    }
    let inv_t = 1.0 / temperature;
    for (i, &l) in logits.iter().enumerate() {
        // (l - max) <= 0 so the exponent never overflows; a tiny temperature just sends it to -inf.
        let w = ((l - max) * inv_t).exp();
        if w > 0.0 {
            out.push((i as u32, w));
        }
    }
}

/// Keeps the `k` most likely candidates (order afterwards: unspecified). `k == 0` means off.
pub(crate) fn top_k(cands: &mut Vec<Candidate>, k: usize) {
    if k == 0 || k >= cands.len() {
        return;
    }
    cands.select_nth_unstable_by(k - 1, by_weight_desc);
    cands.truncate(k);
}

/// Keeps candidates with `weight >= min_p * max_weight` (the max weight is the largest in `cands`).
pub(crate) fn min_p(cands: &mut Vec<Candidate>, min_p: f32) {
    if min_p <= 0.0 {
        return;
    }
    let max = cands.iter().map(|c| c.1).fold(0.0_f32, f32::max);
    let threshold = min_p * max;
    cands.retain(|c| c.1 >= threshold);
}

/// Nucleus filter: keeps the smallest most-likely-first prefix whose weight reaches `top_p * total`,
/// where `total` is passed in (the mass before min-p, so that applying min-p first gives the same result
/// as applying it after). Leaves `cands` sorted most likely first. `top_p >= 1` means off (order kept).
pub(crate) fn top_p(cands: &mut Vec<Candidate>, top_p: f32, total: f64) {
    if top_p >= 1.0 || cands.is_empty() {
        return;
    }
    let target = f64::from(top_p) * total;
    // Usually a few dozen tokens carry the nucleus: select and sort a prefix, widen it if it falls short.
    let mut prefix = 64.min(cands.len());
    loop {
        if prefix < cands.len() {
            cands.select_nth_unstable_by(prefix - 1, by_weight_desc);
        }
        cands[..prefix].sort_unstable_by(by_weight_desc);
        let mut cum = 0.0_f64;
        for i in 0..prefix {
            cum += f64::from(cands[i].1);
            if cum >= target {
                cands.truncate(i + 1);
                return;
            }
        }
        if prefix == cands.len() {
            // Rounding kept the sum just short of the target: the whole (sorted) list is the nucleus.
            return;
        }
        prefix = (prefix * 4).min(cands.len());
    }
}

/// Sum of the weights, in f64 so 65536 small terms do not lose the tail.
pub(crate) fn total_weight(cands: &[Candidate]) -> f64 {
    cands.iter().map(|c| f64::from(c.1)).sum()
}

/// Picks the candidate where the cumulative weight first exceeds `u * total`, `u` uniform in [0, 1).
pub(crate) fn draw(cands: &[Candidate], u: f64) -> Option<u32> {
    let total = total_weight(cands);
    let target = u * total;
    let mut cum = 0.0_f64;
    for &(t, w) in cands {
        cum += f64::from(w);
        if target < cum {
            return Some(t);
        }
    }
    // Only reachable through rounding (u close to 1): fall back to the last token that has weight.
    cands.iter().rev().find(|c| c.1 > 0.0).map(|c| c.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_p_prefix_widens_past_first_guess() {
        // 1000 equal weights: the nucleus for top_p 0.5 is 500 tokens, more than the first 64-token guess.
        let mut cands: Vec<Candidate> = (0..1000u32).map(|t| (t, 1.0)).collect();
        let total = total_weight(&cands);
        top_p(&mut cands, 0.5, total);
        assert_eq!(cands.len(), 500);
        // Ties are broken by lowest id, so the kept tokens are 0..500 in order.
        assert!(cands.iter().enumerate().all(|(i, c)| c.0 == i as u32));
    }

    #[test]
    fn draw_never_picks_zero_weight() {
        let cands = [(0u32, 0.0f32), (1, 1.0), (2, 0.0)];
        for u in [0.0, 0.3, 0.999_999_999, 1.0] {
            assert_eq!(draw(&cands, u), Some(1));
        }
    }

    #[test]
    fn argmax_first_on_ties_and_skips_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), Some(1));
        assert_eq!(argmax(&[f32::NAN, -1.0, f32::NAN]), Some(1));
        assert_eq!(argmax(&[f32::NAN, f32::NAN]), None);
        assert_eq!(argmax(&[]), None);
        assert_eq!(argmax(&[f32::NEG_INFINITY, f32::NEG_INFINITY]), Some(0));
    }
}
