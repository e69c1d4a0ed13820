//! Decayed occurrence counts for the presence and frequency penalties.
//!
//! Every accepted token multiplies *all* counts by `decay`. Doing that literally costs O(tokens seen)
//! per step; instead each stored value is kept relative to one global `scale` (true count =
//! `stored * scale`), so a decay step only touches `scale`, and adding 1 to a count stores `1 / scale`.
//! When `scale` gets small the stored values are folded back in (O(tokens seen), rarely).

use std::collections::HashMap;

/// Below this the stored values are renormalised, long before `1 / scale` could overflow an f64.
const RENORMALISE_BELOW: f64 = 1e-100;

#[derive(Clone, Debug)]
pub(crate) struct Occurrences {
    stored: HashMap<u32, f64>,
    scale: f64,
}

impl Occurrences {
    pub(crate) fn new() -> Self {
        Occurrences { stored: HashMap::new(), scale: 1.0 }
    }

    pub(crate) fn clear(&mut self) {
        self.stored.clear();
        self.scale = 1.0;
    }

    /// Decays every count by `decay`, then adds one occurrence of `token`.
    pub(crate) fn accept(&mut self, token: u32, decay: f64) {
        self.scale *= decay;
        if self.scale < RENORMALISE_BELOW {
            let scale = self.scale;
            for v in self.stored.values_mut() {
                *v *= scale;
            }
            self.scale = 1.0;
        }
        *self.stored.entry(token).or_insert(0.0) += 1.0 / self.scale;
    }

    /// The decayed count of `token` (0 when it never appeared).
    pub(crate) fn count(&self, token: u32) -> f64 {
        self.stored.get(&token).map_or(0.0, |v| v * self.scale)
    }

    /// Tokens that have appeared, with their decayed counts (in no particular order).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, f64)> + '_ {
        let scale = self.scale;
        self.stored.iter().map(move |(&t, &v)| (t, v * scale))
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.stored.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decays_then_counts() {
        let mut occ = Occurrences::new();
        occ.accept(5, 0.5);
        occ.accept(5, 0.5);
        occ.accept(7, 0.5);
        // token 5: (1 * 0.5 + 1) * 0.5 = 0.75; token 7: 1.
        assert!((occ.count(5) - 0.75).abs() < 1e-12);
        assert!((occ.count(7) - 1.0).abs() < 1e-12);
        assert_eq!(occ.count(9), 0.0);
        assert_eq!(occ.len(), 2);
    }

    #[test]
    fn survives_many_renormalisations() {
        let decay = 0.9_f64;
        let mut occ = Occurrences::new();
        let mut naive: HashMap<u32, f64> = HashMap::new();
        // 0.9^n falls below 1e-100 every ~2186 steps, so this crosses several renormalisations.
        for step in 0..10_000u32 {
            let token = step % 13;
            for v in naive.values_mut() {
                *v *= decay;
            }
            *naive.entry(token).or_insert(0.0) += 1.0;
            occ.accept(token, decay);
        }
        assert_eq!(occ.len(), naive.len());
        for (t, want) in naive {
            let got = occ.count(t);
            assert!((got - want).abs() <= 1e-9 * want.max(1.0), "token {t}: got {got}, want {want}");
        }
    }
}
