//! Scale searches of ggml's K-quant reference quantizers (`make_qx_quants`, `make_q3_quants`,
//! `make_qkx2_quants` in ggml-quants.c), restricted to the variants the `*_ref` quantizers use.
//! Arithmetic keeps ggml's operation order so results match up to compiler FMA contraction.

/// Blocks whose largest |x| is below this are treated as all zero.
pub(crate) const GROUP_MAX_EPS: f32 = 1e-15;

/// Round to nearest, ties to even (ggml's `nearest_int` float trick); saturates instead of overflowing.
pub(crate) fn nearest_int(v: f32) -> i32 {
    v.round_ties_even() as i32
}

/// Sums Σw·x·l and Σw·l² for levels l = clamp(nearest(iscale·x), −nmax, nmax−1), with weights w = x².
fn weighted_sums(nmax: i32, iscale: f32, x: &[f32]) -> (f32, f32) {
    let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
    for &xi in x {
        let l = nearest_int(iscale * xi).clamp(-nmax, nmax - 1) as f32;
        let w = xi * xi;
        sumlx += w * xi * l;
        suml2 += w * l * l;
    }
    (sumlx, suml2)
}

/// Signed levels in [0, 2·nmax) (stored with +nmax) and the scale minimising Σx²·(x − scale·(L−nmax))²
/// over 19 candidate inverse scales around −nmax/max (`make_qx_quants`, rmse_type 1, no weights).
pub(crate) fn make_qx_quants(nmax: i32, x: &[f32], levels: &mut [i8]) -> f32 {
    let (mut max, mut amax) = (0.0f32, 0.0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        levels.fill(0);
        return 0.0;
    }
    let set_levels = |iscale: f32, levels: &mut [i8]| {
        for (l, &xi) in levels.iter_mut().zip(x) {
            *l = (nmax + nearest_int(iscale * xi).clamp(-nmax, nmax - 1)) as i8;
        }
    };
    let iscale = -(nmax as f32) / max;
    set_levels(iscale, levels);
    let (sumlx, suml2) = weighted_sums(nmax, iscale, x);
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in -9..=9 {
        if is == 0 {
            continue;
        }
        let iscale = -(nmax as f32 + 0.1 * is as f32) / max;
        let (sumlx, suml2) = weighted_sums(nmax, iscale, x);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            set_levels(iscale, levels);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// Levels in [0, 2·nmax) (stored with +nmax) and scale for Q3_K: start from −nmax/max, then up to five
/// passes of coordinate descent on each level under weights x² (`make_q3_quants` with do_rmse).
pub(crate) fn make_q3_quants(nmax: i32, x: &[f32], levels: &mut [i8]) -> f32 {
    let (mut max, mut amax) = (0.0f32, 0.0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        levels.fill(0);
        return 0.0;
    }
    let iscale = -(nmax as f32) / max;
    let mut l_signed = [0i32; 16];
    let l_signed = &mut l_signed[..x.len()];
    let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
    for (l, &xi) in l_signed.iter_mut().zip(x) {
        *l = nearest_int(iscale * xi).clamp(-nmax, nmax - 1);
        let w = xi * xi;
        sumlx += w * xi * *l as f32;
        suml2 += w * *l as f32 * *l as f32;
    }
    for _ in 0..5 {
        let mut n_changed = 0;
        for (l, &xi) in l_signed.iter_mut().zip(x) {
            let w = xi * xi;
            let mut slx = sumlx - w * xi * *l as f32;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * *l as f32 * *l as f32;
                let new_l = nearest_int(xi * sl2 / slx).clamp(-nmax, nmax - 1);
                if new_l != *l {
                    slx += w * xi * new_l as f32;
                    sl2 += w * new_l as f32 * new_l as f32;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        *l = new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed += 1;
                    }
                }
            }
        }
        if n_changed == 0 {
            break;
        }
    }
    for (out, &l) in levels.iter_mut().zip(l_signed.iter()) {
        *out = (l + nmax) as i8;
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

/// Search parameters of `make_qkx2_quants`: candidate inverse scales (nmax + rmin + rdelta·i)/(max − min)
/// for i in 0..=nstep, error measured as weighted |diff| (`use_mad`) or squared diff.
pub(crate) struct Qkx2Search {
    pub rmin: f32,
    pub rdelta: f32,
    pub nstep: i32,
    pub use_mad: bool,
}

/// Asymmetric levels in [0, nmax] with y = scale·L − min: returns (scale, min), min ≥ 0 being the
/// amount subtracted. Fits scale and offset by weighted least squares for each candidate rounding and
/// keeps the one with the lowest weighted error (`make_qkx2_quants`).
pub(crate) fn make_qkx2_quants(
    nmax: i32,
    x: &[f32],
    weights: &[f32],
    levels: &mut [u8],
    search: &Qkx2Search,
) -> (f32, f32) {
    let n = x.len();
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        levels.fill(0);
        return (0.0, -min);
    }
    let err = |diff: f32| {
        if search.use_mad {
            diff.abs()
        } else {
            diff * diff
        }
    };
    let mut iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
        levels[i] = l as u8;
        best_error += weights[i] * err(scale * l as f32 + min - x[i]);
    }
    if search.nstep < 1 {
        return (scale, -min);
    }
    let mut laux = [0u8; 32];
    let laux = &mut laux[..n];
    for is in 0..=search.nstep {
        iscale = (search.rmin + search.rdelta * is as f32 + nmax as f32) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            laux[i] = l as u8;
            let (w, l) = (weights[i], l as f32);
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0.0f32;
            for i in 0..n {
                cur_error += weights[i] * err(this_scale * laux[i] as f32 + this_min - x[i]);
            }
            if cur_error < best_error {
                levels.copy_from_slice(laux);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}
