//! Time to answer as a mergeable log-bucket histogram (the DDSketch
//! mapping): a duration of `d` milliseconds falls in bucket
//! `⌈ln d / ln γ⌉` with `γ = (1 + α) / (1 − α)` and `α = 1 %`, and every
//! value of a bucket is within `α` of the bucket's representative value, so
//! the median read back is within 1 % of the exact one (docs/src/analytics.md "Analytics at
//! scale"). Buckets are counts, so they add and subtract: an aggregate can
//! be corrected when a late event moves a user's first time.

/// Relative accuracy of a bucket's representative value.
pub const ALPHA: f64 = 0.01;

fn gamma() -> f64 {
    (1.0 + ALPHA) / (1.0 - ALPHA)
}

/// The bucket of a duration in milliseconds: 0 for zero, `1 + ⌈log_γ |d|⌉`
/// for positive durations and its negation for negative ones (a clock that
/// went back), so buckets sort like the durations they hold.
pub fn bucket_of(millis: i64) -> i32 {
    if millis == 0 {
        return 0;
    }
    let magnitude = (millis.unsigned_abs() as f64).ln() / gamma().ln();
    let index = 1 + magnitude.ceil().max(0.0) as i32;
    if millis > 0 { index } else { -index }
}

/// The representative value of a bucket, in seconds.
pub fn seconds_of(bucket: i32) -> f64 {
    if bucket == 0 {
        return 0.0;
    }
    let g = gamma();
    let millis = 2.0 * g.powi(bucket.abs() - 1) / (g + 1.0);
    millis.copysign(f64::from(bucket)) / 1000.0
}

/// The median of a histogram given as `(bucket, count)` pairs in any order:
/// the middle value, or the mean of the two middle values for an even count.
pub fn median(histogram: &[(i32, i64)]) -> Option<f64> {
    let mut sorted: Vec<(i32, i64)> = histogram.iter().copied().filter(|h| h.1 > 0).collect();
    sorted.sort_unstable();
    let total: i64 = sorted.iter().map(|h| h.1).sum();
    if total == 0 {
        return None;
    }
    let at = |rank: i64| {
        let mut seen = 0;
        for &(bucket, count) in &sorted {
            seen += count;
            if rank < seen {
                return seconds_of(bucket);
            }
        }
        unreachable!("rank below the total")
    };
    Some(if total % 2 == 1 {
        at(total / 2)
    } else {
        (at(total / 2 - 1) + at(total / 2)) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn buckets_keep_order_and_sign() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 1);
        assert_eq!(bucket_of(-1), -1);
        assert!(bucket_of(1000) < bucket_of(1100));
        assert!(bucket_of(-1100) < bucket_of(-1000));
        assert_eq!(median(&[]), None);
    }

    proptest! {
        #[test]
        fn every_value_is_within_alpha_of_its_bucket(millis in -10_000_000_000i64..10_000_000_000) {
            let exact = millis as f64 / 1000.0;
            let read = seconds_of(bucket_of(millis));
            prop_assert!((read - exact).abs() <= ALPHA * exact.abs() * (1.0 + 1e-9), "{millis}: {read}");
        }

        #[test]
        fn the_median_is_within_two_percent(values in proptest::collection::vec(0i64..3_600_000, 1..200)) {
            let mut exact: Vec<f64> = values.iter().map(|&v| v as f64 / 1000.0).collect();
            let exact = crate::analytics::stats::median(&mut exact).unwrap();
            let mut histogram: std::collections::BTreeMap<i32, i64> = Default::default();
            for v in &values {
                *histogram.entry(bucket_of(*v)).or_default() += 1;
            }
            let pairs: Vec<(i32, i64)> = histogram.into_iter().collect();
            let read = median(&pairs).unwrap();
            prop_assert!((read - exact).abs() <= 0.02 * exact.abs() + 1e-12, "{exact} vs {read}");
        }
    }
}
