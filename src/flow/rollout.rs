//! The rollout bucket: which users a staged rollout sends to the new
//! version (docs/src/mobile-api.md "The rollout bucket"; `tests/fixtures/
//! rollout_vectors.json` pins it, produced by an independent Python
//! implementation, `scripts/rollout_vectors.py`).
//!
//! 1. `input` = the byte 0x00, then the UTF-8 bytes of `"rollout:" +
//!    version + ":" + user_id`. A user id never holds a NUL (the boundary
//!    refuses it), so no A/B input (`user_id:step:condition`, see
//!    [`super::bucket`]) starts with 0x00: the two bucketings are hashes of
//!    disjoint inputs, independent of each other.
//! 2. `bucket` = the first 8 bytes of SHA-256(`input`) as an unsigned
//!    big-endian integer, mod 10000.
//! 3. At `P` percent (0 < P ≤ 100) the user is inside when `bucket <
//!    floor(P × 100 + 0.5)`.
//!
//! The version salts the bucket, so each rollout samples its own users,
//! and a rollout keeps its users as it widens: inside at 10 % is inside at
//! 50 % (the threshold only grows).

use sha2::{Digest, Sha256};

use super::bucket::BUCKETS;

/// The rollout bucket, in `0..10000`, of a user for the rollout of `version`.
pub fn bucket(user_id: &str, version: &str) -> u64 {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(b"rollout:");
    hasher.update(version.as_bytes());
    hasher.update(b":");
    hasher.update(user_id.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % BUCKETS
}

/// The buckets below which a user is inside at `percent` (0 to 100).
pub fn threshold(percent: f64) -> u64 {
    (percent.clamp(0.0, 100.0) * 100.0 + 0.5).floor() as u64
}

/// Whether the rollout of `version` at `percent` sends `user_id`'s new run
/// to it.
pub fn inside(user_id: &str, version: &str, percent: f64) -> bool {
    bucket(user_id, version) < threshold(percent)
}

/// The version a new run of `user_id` starts on: `current` (what the
/// channel points at), unless a rollout of `rolling` at `percent` is
/// running and the user is [`inside`] it.
pub fn route<'a>(user_id: &str, current: &'a str, rollout: Option<(&'a str, f64)>) -> &'a str {
    match rollout {
        Some((rolling, percent)) if inside(user_id, rolling, percent) => rolling,
        _ => current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_reference_vectors_hold() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/rollout_vectors.json"))
                .unwrap();
        let cases = vectors["cases"].as_array().unwrap();
        assert!(cases.len() >= 27);
        for case in cases {
            let user = case["user_id"].as_str().unwrap();
            let version = case["version"].as_str().unwrap();
            assert_eq!(
                bucket(user, version),
                case["bucket"].as_u64().unwrap(),
                "{case}"
            );
            for (percent, expected) in case["inside"].as_object().unwrap() {
                let p: f64 = percent.parse().unwrap();
                assert_eq!(
                    inside(user, version, p),
                    expected.as_bool().unwrap(),
                    "{case} at {p}"
                );
            }
        }
    }

    #[test]
    fn a_rollout_reaches_about_its_share() {
        let inside = (0..20_000)
            .filter(|n| super::inside(&format!("user-{n}"), "4cdf2923d95f", 10.0))
            .count();
        assert!(
            (1_800..2_200).contains(&inside),
            "{inside} of 20,000 at 10 %"
        );
    }

    proptest! {
        #[test]
        fn widening_keeps_everyone_inside(user in "\\PC{1,40}", low in 0.0f64..100.0, more in 0.0f64..100.0) {
            let high = (low + more).min(100.0);
            if inside(&user, "e69a42561f48", low) {
                prop_assert!(inside(&user, "e69a42561f48", high));
            }
            prop_assert!(inside(&user, "e69a42561f48", 100.0));
            prop_assert!(!inside(&user, "e69a42561f48", 0.0));
        }
    }
}
