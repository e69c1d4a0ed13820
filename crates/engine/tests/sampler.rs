//! Sampler behaviour: greedy, seeding, the statistics of the draw, each filter against an independent
//! reference, penalties and decay computed by hand, bad inputs and bad configs.

use engine::sampler::argmax;
use engine::{Sampler, SamplerConfig, SamplerError};
use testkit::{TestRng, ODD_SIZES};

fn sampler(cfg: SamplerConfig) -> Sampler {
    Sampler::new(cfg).expect("valid config")
}

fn temp1(seed: u64) -> SamplerConfig {
    SamplerConfig { temperature: 1.0, seed, ..SamplerConfig::default() }
}

/// Softmax in f64 of `logits / temperature`.
fn softmax(logits: &[f32], temperature: f64) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let e: Vec<f64> = logits.iter().map(|&l| ((l as f64 - max) / temperature).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

/// The spec, step by step, with full sorts and renormalisation after every filter.
fn reference_distribution(logits: &[f32], cfg: &SamplerConfig) -> Vec<(u32, f64)> {
    let p = softmax(logits, cfg.temperature as f64);
    let mut c: Vec<(u32, f64)> = p.iter().enumerate().map(|(i, &p)| (i as u32, p)).collect();
    c.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let renorm = |c: &mut Vec<(u32, f64)>| {
        let s: f64 = c.iter().map(|x| x.1).sum();
        c.iter_mut().for_each(|x| x.1 /= s);
    };
    if cfg.top_k > 0 {
        c.truncate(cfg.top_k);
        renorm(&mut c);
    }
    if cfg.top_p < 1.0 {
        let mut cum = 0.0;
        let n = c.iter().position(|x| {
            cum += x.1;
            cum >= cfg.top_p as f64
        });
        c.truncate(n.map_or(c.len(), |i| i + 1));
        renorm(&mut c);
    }
    if cfg.min_p > 0.0 {
        let pmax = c[0].1;
        c.retain(|x| x.1 >= cfg.min_p as f64 * pmax);
        renorm(&mut c);
    }
    c
}

fn assert_same_distribution(got: &[(u32, f32)], want: &[(u32, f64)], what: &str) {
    let got_ids: Vec<u32> = got.iter().map(|x| x.0).collect();
    let want_ids: Vec<u32> = want.iter().map(|x| x.0).collect();
    assert_eq!(got_ids, want_ids, "{what}: kept tokens differ");
    for (g, w) in got.iter().zip(want) {
        assert!((g.1 as f64 - w.1).abs() < 1e-5, "{what}: token {} has p {} expected {}", g.0, g.1, w.1);
    }
    let sum: f64 = got.iter().map(|x| x.1 as f64).sum();
    assert!((sum - 1.0).abs() < 1e-5, "{what}: probabilities sum to {sum}");
}

#[test]
fn greedy_is_argmax_on_odd_sizes() {
    let seed = 11;
    println!("seed {seed}");
    let mut rng = TestRng::new(seed);
    let mut s = sampler(SamplerConfig::default());
    let mut cases = 0;
    for &n in ODD_SIZES {
        for _ in 0..5 {
            let logits = rng.vec(n, -10.0, 10.0);
            let want = argmax(&logits).unwrap();
            assert_eq!(s.sample(&logits).unwrap(), want, "n = {n}");
            assert_eq!(s.distribution(&logits).unwrap(), vec![(want, 1.0)]);
            cases += 1;
        }
    }
    assert!(cases > 0);
    // Ties go to the lowest id.
    assert_eq!(s.sample(&[0.5, 2.0, 1.0, 2.0]).unwrap(), 1);
}

#[test]
fn same_seed_same_sequence_different_seed_differs() {
    let mut rng = TestRng::new(3);
    let logits = rng.vec(257, -1.0, 1.0);
    let run = |seed: u64| -> Vec<u32> {
        let mut s = sampler(temp1(seed));
        (0..500).map(|_| s.sample(&logits).unwrap()).collect()
    };
    let a = run(42);
    assert_eq!(a, run(42));
    let b = run(43);
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
    // Near-uniform over 257 tokens: two independent streams agree on a handful of the 500 draws.
    assert!(same < 50, "seeds 42 and 43 agree on {same} of 500 draws");
}

#[test]
fn reset_replays_the_same_sequence() {
    let mut rng = TestRng::new(5);
    let logits = rng.vec(65, -1.0, 1.0);
    let cfg = SamplerConfig { presence_penalty: 0.5, frequency_penalty: 0.2, ..temp1(9) };
    let mut s = sampler(cfg);
    let run = |s: &mut Sampler| -> Vec<u32> {
        (0..100)
            .map(|_| {
                let t = s.sample(&logits).unwrap();
                s.accept(t);
                t
            })
            .collect()
    };
    let first = run(&mut s);
    assert!(s.occurrence_count(first[99]) > 0.0);
    s.reset();
    assert_eq!(s.occurrence_count(first[99]), 0.0);
    assert_eq!(run(&mut s), first);
}

/// Draws `n` tokens and returns their empirical frequencies over `vocab` ids.
fn frequencies(s: &mut Sampler, logits: &[f32], n: usize) -> Vec<f64> {
    let mut counts = vec![0usize; logits.len()];
    for _ in 0..n {
        counts[s.sample(logits).unwrap() as usize] += 1;
    }
    counts.iter().map(|&c| c as f64 / n as f64).collect()
}

#[test]
fn unfiltered_draws_match_softmax() {
    let seed = 2024;
    println!("seed {seed}");
    let mut rng = TestRng::new(seed);
    let logits = rng.vec(7, -2.0, 2.0);
    let want = softmax(&logits, 1.0);
    let got = frequencies(&mut sampler(temp1(seed)), &logits, 20_000);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        // One standard error is at most sqrt(0.25 / 20000) = 0.0035; allow about four.
        assert!((g - w).abs() < 0.015, "token {i}: frequency {g}, softmax {w}");
    }
}

#[test]
fn filtered_draws_match_distribution() {
    let seed = 77;
    println!("seed {seed}");
    let mut rng = TestRng::new(seed);
    let logits = rng.vec(33, -3.0, 3.0);
    let cfg = SamplerConfig { temperature: 0.8, top_k: 10, top_p: 0.9, min_p: 0.05, ..temp1(seed) };
    let mut s = sampler(cfg);
    let dist = s.distribution(&logits).unwrap();
    assert!(dist.len() > 2, "the test needs a spread distribution, got {dist:?}");
    let got = frequencies(&mut s, &logits, 20_000);
    for &(t, p) in &dist {
        assert!((got[t as usize] - p as f64).abs() < 0.015, "token {t}: frequency {}, p {p}", got[t as usize]);
    }
    let outside: f64 = (0..33u32).filter(|t| !dist.iter().any(|d| d.0 == *t)).map(|t| got[t as usize]).sum();
    assert_eq!(outside, 0.0, "drew tokens the filters removed");
}

#[test]
fn top_k_one_and_tiny_top_p_are_greedy() {
    let mut rng = TestRng::new(8);
    let mut cases = 0;
    for &n in ODD_SIZES {
        let logits = rng.vec(n, -5.0, 5.0);
        let want = argmax(&logits).unwrap();
        let mut k1 = sampler(SamplerConfig { top_k: 1, ..temp1(n as u64) });
        let mut p0 = sampler(SamplerConfig { top_p: 1e-6, ..temp1(n as u64) });
        for _ in 0..20 {
            assert_eq!(k1.sample(&logits).unwrap(), want, "top_k 1, n = {n}");
            assert_eq!(p0.sample(&logits).unwrap(), want, "top_p 1e-6, n = {n}");
            cases += 1;
        }
    }
    assert!(cases > 0);
}

#[test]
fn min_p_keeps_exactly_tokens_above_threshold() {
    let min_p = 0.3_f32;
    let boundary = (min_p as f64).ln();
    let mut rng = TestRng::new(31);
    let mut cases = 0;
    for &n in ODD_SIZES {
        let mut logits = rng.vec(n, -3.0, 3.0);
        // Move any logit off the threshold so f32 rounding cannot decide the test.
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        for l in logits.iter_mut() {
            if ((*l as f64 - max) - boundary).abs() < 1e-3 {
                *l += 0.01;
            }
        }
        let p = softmax(&logits, 1.0);
        let pmax = p.iter().copied().fold(0.0, f64::max);
        let mut want: Vec<u32> = (0..n as u32).filter(|&t| p[t as usize] >= min_p as f64 * pmax).collect();
        let mut s = sampler(SamplerConfig { min_p, ..temp1(1) });
        let mut got: Vec<u32> = s.distribution(&logits).unwrap().iter().map(|x| x.0).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "n = {n}");
        cases += 1;
    }
    assert!(cases > 0);
}

#[test]
fn filters_match_reference_on_random_logits() {
    let seed = 4242;
    println!("seed {seed}");
    let mut rng = TestRng::new(seed);
    let mut cases = 0;
    for &n in ODD_SIZES.iter().chain(&[1000, 4099]) {
        for (top_k, top_p, min_p, temperature) in [
            (0, 1.0, 0.0, 1.0),
            (5, 1.0, 0.0, 1.0),
            (0, 0.5, 0.0, 1.0),
            (0, 0.95, 0.0, 3.0), // a flat distribution: the nucleus is far wider than the first 64 guessed
            (0, 1.0, 0.1, 0.7),
            (40, 0.9, 0.0, 1.3),
            (40, 0.9, 0.02, 1.3),
            (0, 0.8, 0.2, 2.0),
        ] {
            let logits = rng.vec(n, -4.0, 4.0);
            let cfg = SamplerConfig { temperature, top_k, top_p, min_p, ..temp1(0) };
            let want = reference_distribution(&logits, &cfg);
            let got = sampler(cfg.clone()).distribution(&logits).unwrap();
            assert_same_distribution(&got, &want, &format!("n = {n}, {cfg:?}"));
            cases += 1;
        }
    }
    assert!(cases > 0);
}

#[test]
fn top_k_keeps_the_k_largest() {
    let logits = [0.1, 3.0, -1.0, 2.0, 2.5, 0.0, 1.0];
    let got = sampler(SamplerConfig { top_k: 3, ..temp1(0) }).distribution(&logits).unwrap();
    let ids: Vec<u32> = got.iter().map(|x| x.0).collect();
    assert_eq!(ids, vec![1, 4, 3]);
    let z = 3.0f64.exp() + 2.5f64.exp() + 2.0f64.exp();
    assert!((got[0].1 as f64 - 3.0f64.exp() / z).abs() < 1e-6);
}

#[test]
fn temperature_scales_logits() {
    let logits = [1.0, 2.0, 0.5, -1.0];
    for t in [0.25_f32, 0.5, 1.0, 2.0, 10.0] {
        let got = sampler(SamplerConfig { temperature: t, ..temp1(0) }).distribution(&logits).unwrap();
        let want = softmax(&logits, t as f64);
        assert_eq!(got.len(), 4);
        for &(tok, p) in &got {
            assert!((p as f64 - want[tok as usize]).abs() < 1e-6, "T = {t}, token {tok}: {p} vs {}", want[tok as usize]);
        }
    }
    // Lower temperature is sharper.
    let p_max = |t: f32| sampler(SamplerConfig { temperature: t, ..temp1(0) }).distribution(&logits).unwrap()[0].1;
    assert!(p_max(0.5) > p_max(1.0) && p_max(1.0) > p_max(2.0));
}

#[test]
fn presence_penalty_changes_argmax() {
    let logits = [1.0, 0.8, 0.5];
    let mut s = sampler(SamplerConfig { presence_penalty: 0.3, ..SamplerConfig::default() });
    assert_eq!(s.sample(&logits).unwrap(), 0);
    s.accept(0); // token 0: 1.0 - 0.3 = 0.7 < 0.8
    assert_eq!(s.sample(&logits).unwrap(), 1);
    s.accept(0); // presence is paid once, not per occurrence: still 0.7
    assert_eq!(s.sample(&logits).unwrap(), 1);
    s.accept(1); // token 1: 0.5, token 0: 0.7
    assert_eq!(s.sample(&logits).unwrap(), 0);
}

#[test]
fn frequency_penalty_changes_argmax() {
    let logits = [1.0, 0.8, 0.5];
    let mut s = sampler(SamplerConfig { frequency_penalty: 0.15, ..SamplerConfig::default() });
    s.accept(0); // 1.0 - 0.15 = 0.85 > 0.8
    assert_eq!(s.sample(&logits).unwrap(), 0);
    s.accept(0); // 1.0 - 0.30 = 0.70 < 0.8
    assert_eq!(s.sample(&logits).unwrap(), 1);
    // Tokens outside the logits (an id past the vocabulary) are ignored, not a panic.
    s.accept(1_000_000);
    assert_eq!(s.sample(&logits).unwrap(), 1);
}

#[test]
fn decay_applies_per_accept() {
    let cfg = SamplerConfig { frequency_penalty: 1.0, penalty_decay: 0.5, ..temp1(0) };
    let mut s = sampler(cfg);
    s.accept(0); // c0 = 1
    s.accept(1); // c0 = 0.5, c1 = 1
    s.accept(1); // c0 = 0.25, c1 = 1.5
    assert!((s.occurrence_count(0) - 0.25).abs() < 1e-6);
    assert!((s.occurrence_count(1) - 1.5).abs() < 1e-6);
    assert_eq!(s.occurrence_count(2), 0.0);
    let dist = s.distribution(&[0.0; 4]).unwrap();
    let p = |t: u32| dist.iter().find(|x| x.0 == t).unwrap().1 as f64;
    assert!((p(0) / p(2) - (-0.25f64).exp()).abs() < 1e-5, "p0/p2 = {}", p(0) / p(2));
    assert!((p(1) / p(2) - (-1.5f64).exp()).abs() < 1e-5, "p1/p2 = {}", p(1) / p(2));
    assert!((p(3) - p(2)).abs() < 1e-7);
    // Presence stays paid however far the count decays.
    let mut s = sampler(SamplerConfig { presence_penalty: 1.0, penalty_decay: 0.5, ..SamplerConfig::default() });
    s.accept(0);
    for _ in 0..2000 {
        s.accept(1);
    }
    assert_eq!(s.sample(&[1.0, 0.0, 0.5]).unwrap(), 2);
}

#[test]
fn decay_is_stable_over_long_runs() {
    // ChatRWKV's decay over 50000 tokens: counts must stay the closed-form geometric sums.
    let decay = 0.996_f32;
    let mut s = sampler(SamplerConfig { penalty_decay: decay, ..SamplerConfig::default() });
    let n = 50_000;
    for _ in 0..n {
        s.accept(7);
    }
    let d = decay as f64;
    let want = (1.0 - d.powi(n)) / (1.0 - d);
    assert!((s.occurrence_count(7) as f64 - want).abs() < 1e-3, "got {} want {want}", s.occurrence_count(7));
}

#[test]
fn nan_and_infinite_logits() {
    let nan = f32::NAN;
    let inf = f32::INFINITY;
    let greedy = || sampler(SamplerConfig::default());

    // NaN never wins and is never a candidate.
    assert_eq!(greedy().sample(&[nan, 1.0, 2.0, nan]).unwrap(), 2);
    let dist = sampler(temp1(0)).distribution(&[nan, 1.0, f32::NEG_INFINITY, 1.0]).unwrap();
    assert_eq!(dist.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 3]);
    assert!((dist[0].1 - 0.5).abs() < 1e-6);

    // +inf tokens take all the mass, shared equally.
    assert_eq!(greedy().sample(&[1.0, inf, 2.0]).unwrap(), 1);
    let mut s = sampler(temp1(0));
    for _ in 0..50 {
        assert_eq!(s.sample(&[1.0, inf, 2.0]).unwrap(), 1);
    }
    let dist = s.distribution(&[inf, 0.0, inf]).unwrap();
    assert_eq!(dist, vec![(0, 0.5), (2, 0.5)]);

    // Nothing finite left: an error, never a panic, whatever the settings.
    for cfg in [SamplerConfig::default(), temp1(0), SamplerConfig { top_k: 3, top_p: 0.5, min_p: 0.5, ..temp1(0) }] {
        for logits in [vec![nan; 5], vec![f32::NEG_INFINITY; 3], vec![nan, f32::NEG_INFINITY]] {
            let mut s = sampler(cfg.clone());
            assert_eq!(s.sample(&logits), Err(SamplerError::NoCandidates { n_vocab: logits.len() }));
            assert!(matches!(s.distribution(&logits), Err(SamplerError::NoCandidates { .. })));
        }
    }
}

#[test]
fn tiny_temperature_does_not_break() {
    let mut s = sampler(SamplerConfig { temperature: 1e-30, ..temp1(1) });
    let logits = [0.0, 5.0, 4.999, -3.0e38, 3.0e38];
    assert_eq!(s.sample(&logits).unwrap(), 4);
    assert_eq!(s.distribution(&logits).unwrap(), vec![(4, 1.0)]);
}

#[test]
fn empty_logits_is_an_error() {
    for cfg in [SamplerConfig::default(), temp1(0)] {
        let mut s = sampler(cfg);
        assert_eq!(s.sample(&[]), Err(SamplerError::EmptyLogits));
        assert_eq!(s.distribution(&[]), Err(SamplerError::EmptyLogits));
    }
}

#[test]
fn full_vocabulary_with_nucleus() {
    let mut rng = TestRng::new(65536);
    let logits = rng.vec(65536, -8.0, 8.0);
    let cfg = SamplerConfig { temperature: 0.9, top_p: 0.9, frequency_penalty: 0.1, ..temp1(1) };
    let mut s = sampler(cfg.clone());
    for _ in 0..20 {
        let t = s.sample(&logits).unwrap();
        assert!((t as usize) < logits.len());
        s.accept(t);
    }
    let dist = sampler(cfg.clone()).distribution(&logits).unwrap();
    assert_same_distribution(&dist, &reference_distribution(&logits, &cfg), "65536 tokens, top_p 0.9");
}

#[test]
fn config_validation_names_the_field() {
    assert_eq!(SamplerConfig::default().validate(), Ok(()));
    let d = SamplerConfig::default;
    let bad = [
        ("temperature", SamplerConfig { temperature: -0.5, ..d() }),
        ("temperature", SamplerConfig { temperature: f32::NAN, ..d() }),
        ("temperature", SamplerConfig { temperature: f32::INFINITY, ..d() }),
        ("top_p", SamplerConfig { top_p: 0.0, ..d() }),
        ("top_p", SamplerConfig { top_p: 1.5, ..d() }),
        ("top_p", SamplerConfig { top_p: f32::NAN, ..d() }),
        ("min_p", SamplerConfig { min_p: -0.1, ..d() }),
        ("min_p", SamplerConfig { min_p: 1.1, ..d() }),
        ("presence_penalty", SamplerConfig { presence_penalty: f32::INFINITY, ..d() }),
        ("frequency_penalty", SamplerConfig { frequency_penalty: f32::NAN, ..d() }),
        ("penalty_decay", SamplerConfig { penalty_decay: 0.0, ..d() }),
        ("penalty_decay", SamplerConfig { penalty_decay: 1.01, ..d() }),
    ];
    for (field, cfg) in bad {
        let err = cfg.validate().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(field), "error for {field} does not name it: {msg}");
        match &err {
            SamplerError::InvalidConfig { field: f, .. } => assert_eq!(*f, field),
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
        assert!(Sampler::new(cfg).is_err());
    }
    let msg = SamplerConfig { top_p: 1.5, ..d() }.validate().unwrap_err().to_string();
    assert!(msg.contains("1.5"), "message lacks the value: {msg}");
    // Ranges are inclusive where the spec says so.
    let edge = SamplerConfig { top_p: 1.0, min_p: 1.0, penalty_decay: 1.0, presence_penalty: -2.0, ..d() };
    assert_eq!(edge.validate(), Ok(()));
}
