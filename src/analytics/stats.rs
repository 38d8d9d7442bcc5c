//! Statistics for A/B results: the 95 % Wilson interval of a conversion
//! rate, the two-proportion z-test, and a chi-square goodness-of-fit test
//! for sample-ratio mismatch. No I/O. The distributions' tails come from
//! `statrs` (a well-kept crate, checked here against published tables)
//! rather than our own series.

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal};

/// z for a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The Wilson score interval of `successes / trials` at 95 %.
pub fn wilson(successes: u64, trials: u64) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 0.0);
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = Z95 * Z95;
    let centre = p + z2 / (2.0 * n);
    let margin = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let denominator = 1.0 + z2 / n;
    (
        ((centre - margin) / denominator).max(0.0),
        ((centre + margin) / denominator).min(1.0),
    )
}

/// Two-sided p-value of a standard normal statistic: 2·(1 − Φ(|z|)), from
/// `statrs`'s normal survival function (accurate in the far tail, where
/// 1 − Φ would cancel to zero).
pub fn two_sided_p(z: f64) -> f64 {
    (2.0 * standard_normal().sf(z.abs())).clamp(0.0, 1.0)
}

fn standard_normal() -> Normal {
    Normal::standard()
}

/// Two-proportion z-test (pooled): the difference `b − a` of the rates and
/// its two-sided p-value. `None` when either group is empty or the pooled
/// rate is 0 or 1.
pub fn two_proportion(a: (u64, u64), b: (u64, u64)) -> Option<(f64, f64)> {
    let ((sa, na), (sb, nb)) = (a, b);
    if na == 0 || nb == 0 {
        return None;
    }
    let (pa, pb) = (sa as f64 / na as f64, sb as f64 / nb as f64);
    let pooled = (sa + sb) as f64 / (na + nb) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / na as f64 + 1.0 / nb as f64)).sqrt();
    if se == 0.0 {
        return None;
    }
    Some((pb - pa, two_sided_p((pb - pa) / se)))
}

/// Chi-square goodness of fit of `observed` counts against `weights`:
/// the statistic and its p-value (k − 1 degrees of freedom).
pub fn chi_square(observed: &[u64], weights: &[f64]) -> Option<(f64, f64)> {
    let total: u64 = observed.iter().sum();
    let weight: f64 = weights.iter().sum();
    if observed.len() < 2 || observed.len() != weights.len() || total == 0 || weight <= 0.0 {
        return None;
    }
    let statistic: f64 = observed
        .iter()
        .zip(weights)
        .map(|(&o, &w)| {
            let expected = total as f64 * w / weight;
            (o as f64 - expected).powi(2) / expected
        })
        .sum();
    let df = (observed.len() - 1) as f64;
    // The upper tail of χ²(k − 1), from `statrs`.
    let p = ChiSquared::new(df).ok()?.sf(statistic);
    Some((statistic, p.clamp(0.0, 1.0)))
}

/// Below this p-value the split does not match the weights.
pub const SRM_THRESHOLD: f64 = 0.001;

/// The median of some durations, in seconds.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn wilson_interval_matches_published_values() {
        // 81 of 263: 0.2553 – 0.3662 (Wilson, z = 1.96).
        let (lo, hi) = wilson(81, 263);
        assert!(
            close(lo, 0.2553, 5e-4) && close(hi, 0.3662, 5e-4),
            "{lo} {hi}"
        );
        assert_eq!(wilson(0, 0), (0.0, 0.0));
        let (lo, hi) = wilson(0, 10);
        assert!(lo == 0.0 && close(hi, 0.2775, 5e-4));
    }

    #[test]
    fn two_proportion_test_matches_a_hand_computation() {
        // 200/1000 vs 250/1000: pooled 0.225, se 0.018675, z 2.6774, p 0.00742.
        let (diff, p) = two_proportion((200, 1000), (250, 1000)).unwrap();
        assert!(close(diff, 0.05, 1e-12));
        assert!(close(p, 0.007_42, 5e-5), "{p}");
        assert!(close(two_sided_p(1.959_964), 0.05, 1e-6));
        assert_eq!(two_proportion((0, 0), (1, 2)), None);
    }

    #[test]
    fn chi_square_matches_tables() {
        // 5,000 vs 5,000 against 1:1 is a perfect fit.
        let (stat, p) = chi_square(&[5000, 5000], &[1.0, 1.0]).unwrap();
        assert!(close(stat, 0.0, 1e-12) && close(p, 1.0, 1e-9));
        // 5,300 vs 4,700: chi2 = 36, p = 1.97e-9: a sample-ratio mismatch.
        let (stat, p) = chi_square(&[5300, 4700], &[1.0, 1.0]).unwrap();
        assert!(close(stat, 36.0, 1e-9));
        assert!(p < SRM_THRESHOLD && close(p, 1.973e-9, 1e-11), "{p}");
        // df = 2: Q(1, x/2) = exp(−x/2); 1055/945/1000 gives chi2 = 6.05, p = 0.04856.
        let (stat, p) = chi_square(&[1055, 945, 1000], &[1.0, 1.0, 1.0]).unwrap();
        assert!(close(stat, 6.05, 1e-9));
        assert!(close(p, 0.048_557_8, 1e-6), "{p}");
        // Weighted 1:3.
        let (_, p) = chi_square(&[250, 750], &[1.0, 3.0]).unwrap();
        assert!(close(p, 1.0, 1e-9));
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
