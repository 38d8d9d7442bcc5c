//! Deterministic, weighted A/B assignment.
//!
//! The algorithm, byte for byte (the book repeats it, docs/src/mobile-api.md
//! "A/B assignment, byte for byte", and `tests/fixtures/bucketing_vectors.json`
//! pins it):
//!
//! 1. `input` = the UTF-8 bytes of `user_id + ":" + step + ":" + condition`.
//!    Step and condition keys never contain `:`, so the string is unambiguous
//!    even when the user id does.
//! 2. `h` = SHA-256(`input`); `x` = the first 8 bytes of `h` as an unsigned
//!    big-endian integer; `bucket` = `x mod 10000`.
//! 3. With the group's scenes in sheet order and weights `w1..wn` summing to
//!    `W`, scene `i` owns the buckets below `floor(10000 * (w1 + … + wi) / W)`
//!    (computed in IEEE double precision) and at or above the previous scene's
//!    bound; the last scene's bound is 10000. The user gets the first scene
//!    whose bound is above their bucket.

use sha2::{Digest, Sha256};

pub const BUCKETS: u64 = 10_000;

/// The bucket, in `0..10000`, of a user in one step's group.
pub fn bucket(user_id: &str, step: &str, condition: &str) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update(user_id.as_bytes());
    hasher.update(b":");
    hasher.update(step.as_bytes());
    hasher.update(b":");
    hasher.update(condition.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % BUCKETS
}

/// The index of the weight (in order) that owns `bucket`. `weights` is not empty.
pub fn pick(bucket: u64, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut cumulative = 0.0;
    for (i, w) in weights.iter().enumerate() {
        cumulative += w;
        let bound = if i + 1 == weights.len() {
            BUCKETS
        } else {
            (BUCKETS as f64 * cumulative / total).floor() as u64
        };
        if bucket < bound {
            return i;
        }
    }
    weights.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn equal_weights_split_the_buckets_in_half() {
        assert_eq!(pick(0, &[1.0, 1.0]), 0);
        assert_eq!(pick(4999, &[1.0, 1.0]), 0);
        assert_eq!(pick(5000, &[1.0, 1.0]), 1);
        assert_eq!(pick(9999, &[1.0, 1.0]), 1);
        assert_eq!(pick(3333, &[1.0, 1.0, 1.0]), 1);
        assert_eq!(pick(9999, &[0.1, 0.2, 0.7]), 2);
    }

    proptest! {
        #[test]
        fn the_same_input_gives_the_same_bucket(user in "\\PC{0,40}", step in "[a-z0-9_]{1,20}") {
            let b = bucket(&user, &step, "pass_through");
            prop_assert!(b < BUCKETS);
            prop_assert_eq!(b, bucket(&user, &step, "pass_through"));
        }

        #[test]
        fn every_bucket_lands_on_a_scene(b in 0..BUCKETS, weights in prop::collection::vec(0.01f64..100.0, 1..6)) {
            prop_assert!(pick(b, &weights) < weights.len());
        }
    }

    #[test]
    fn shares_approach_the_weights() {
        let weights = [1.0, 3.0];
        let mut counts = [0u32; 2];
        for n in 0..20_000 {
            counts[pick(
                bucket(&format!("user-{n}"), "intro", "pass_through"),
                &weights,
            )] += 1;
        }
        let share = f64::from(counts[1]) / 20_000.0;
        assert!(
            (share - 0.75).abs() < 0.015,
            "share of the heavier scene: {share}"
        );
    }
}
