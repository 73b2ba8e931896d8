//! The statistics of the gate, by hand: a seeded PRNG, medians, a bootstrap confidence
//! interval of the ratio (and difference) of medians, and the Mann-Whitney U test.

/// SplitMix64: tiny, fast, good enough for resampling, and the same on every machine.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), without modulo bias worth mentioning for small n.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() >> 11) as u128 * n as u128 >> 53) as usize
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Median of a non-empty slice (mean of the middle two for even lengths); NaN if empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    median_in_place(&mut v)
}

fn median_in_place(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `q`-quantile (0..=1) of sorted values, linear interpolation.
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// A bootstrap estimate of how the median moved from `baseline` to `current`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MedianShift {
    /// median(current) / median(baseline).
    pub ratio: f64,
    /// Two-sided confidence interval of the ratio.
    pub ratio_ci: (f64, f64),
    /// median(current) - median(baseline).
    pub diff: f64,
    /// Two-sided confidence interval of the difference.
    pub diff_ci: (f64, f64),
}

/// Percentile bootstrap of the ratio and difference of medians: both samples are resampled
/// with replacement `resamples` times with a PRNG seeded by `seed`, so the same data always
/// give the same interval. `confidence` is e.g. 0.95. Both samples must be non-empty.
pub fn bootstrap_median_shift(baseline: &[f64], current: &[f64], resamples: usize, confidence: f64, seed: u64) -> MedianShift {
    assert!(!baseline.is_empty() && !current.is_empty(), "bootstrap needs samples on both sides");
    let mb = median(baseline);
    let mc = median(current);
    let mut rng = SplitMix64::new(seed);
    let mut ratios = Vec::with_capacity(resamples);
    let mut diffs = Vec::with_capacity(resamples);
    let mut bs = vec![0.0; baseline.len()];
    let mut cs = vec![0.0; current.len()];
    for _ in 0..resamples.max(1) {
        for x in bs.iter_mut() {
            *x = baseline[rng.below(baseline.len())];
        }
        for x in cs.iter_mut() {
            *x = current[rng.below(current.len())];
        }
        let b = median_in_place(&mut bs);
        let c = median_in_place(&mut cs);
        ratios.push(ratio(c, b));
        diffs.push(c - b);
    }
    ratios.sort_by(|a, b| a.total_cmp(b));
    diffs.sort_by(|a, b| a.total_cmp(b));
    let alpha = (1.0 - confidence).clamp(0.0, 1.0);
    let ci = |v: &[f64]| (quantile_sorted(v, alpha / 2.0), quantile_sorted(v, 1.0 - alpha / 2.0));
    MedianShift { ratio: ratio(mc, mb), ratio_ci: ci(&ratios), diff: mc - mb, diff_ci: ci(&diffs) }
}

/// `current / baseline`, with 0/0 = 1 and x/0 = +-inf.
pub fn ratio(current: f64, baseline: f64) -> f64 {
    if baseline == 0.0 {
        if current == 0.0 {
            1.0
        } else {
            f64::INFINITY.copysign(current)
        }
    } else {
        current / baseline
    }
}

/// Result of a two-sided Mann-Whitney U test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U of the `current` sample (large when `current` tends to be larger).
    pub u: f64,
    /// Two-sided p-value (normal approximation with tie and continuity corrections).
    pub p: f64,
}

/// Two-sided Mann-Whitney U test of `baseline` against `current` (both non-empty).
pub fn mann_whitney(baseline: &[f64], current: &[f64]) -> MannWhitney {
    let n1 = baseline.len() as f64;
    let n2 = current.len() as f64;
    let mut all: Vec<(f64, bool)> = baseline.iter().map(|&x| (x, false)).chain(current.iter().map(|&x| (x, true))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Mid-ranks for ties; collect the tie correction term sum(t^3 - t).
    let mut rank_sum_current = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        rank_sum_current += all[i..=j].iter().filter(|x| x.1).count() as f64 * rank;
        i = j + 1;
    }
    let u = rank_sum_current - n2 * (n2 + 1.0) / 2.0;
    let n = n1 + n2;
    let mean = n1 * n2 / 2.0;
    let var = n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    if var <= 0.0 {
        return MannWhitney { u, p: 1.0 };
    }
    let z = ((u - mean).abs() - 0.5).max(0.0) / var.sqrt();
    MannWhitney { u, p: (2.0 * normal_sf(z)).min(1.0) }
}

/// Upper tail of the standard normal, via erfc (Numerical Recipes' erfc approximation,
/// relative error < 1.2e-7).
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t * (-z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07 + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
        .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn prng_is_seeded_and_uniform_enough() {
        let a: Vec<u64> = { let mut r = SplitMix64::new(7); (0..4).map(|_| r.next_u64()).collect() };
        let b: Vec<u64> = { let mut r = SplitMix64::new(7); (0..4).map(|_| r.next_u64()).collect() };
        assert_eq!(a, b);
        let mut r = SplitMix64::new(1);
        let mut counts = [0usize; 10];
        for _ in 0..100_000 {
            counts[r.below(10)] += 1;
        }
        assert!(counts.iter().all(|&c| (9_500..10_500).contains(&c)), "{counts:?}");
        let xs: Vec<f64> = (0..100_000).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(mean.abs() < 0.02 && (var - 1.0).abs() < 0.02, "{mean} {var}");
    }

    #[test]
    fn normal_tail_known_values() {
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_sf(1.959_964) - 0.025).abs() < 1e-6);
        assert!((normal_sf(-1.0) - 0.841_344_7).abs() < 1e-6);
    }

    #[test]
    fn mann_whitney_known_example() {
        // Completely separated samples of 10: U = 100, p about 1.8e-4 (normal approximation).
        let a: Vec<f64> = (0..10).map(|i| i as f64).collect();
        let b: Vec<f64> = (10..20).map(|i| i as f64).collect();
        let r = mann_whitney(&a, &b);
        assert_eq!(r.u, 100.0);
        assert!(r.p < 0.001 && r.p > 0.0001, "{r:?}");
        let same = mann_whitney(&a, &a);
        assert_eq!(same.u, 50.0);
        assert!(same.p > 0.9);
        // All values tied: no evidence of anything.
        assert_eq!(mann_whitney(&[1.0; 5], &[1.0; 5]).p, 1.0);
    }

    #[test]
    fn bootstrap_is_deterministic_and_brackets_the_shift() {
        let mut r = SplitMix64::new(3);
        let base: Vec<f64> = (0..20).map(|_| 100.0 + r.normal()).collect();
        let cur: Vec<f64> = (0..20).map(|_| 110.0 + r.normal()).collect();
        let a = bootstrap_median_shift(&base, &cur, 2000, 0.95, 42);
        let b = bootstrap_median_shift(&base, &cur, 2000, 0.95, 42);
        assert_eq!(a, b);
        assert!(a.ratio_ci.0 > 1.08 && a.ratio_ci.1 < 1.12, "{a:?}");
        assert!(a.diff_ci.0 > 8.0 && a.diff_ci.1 < 12.0, "{a:?}");
    }
}
