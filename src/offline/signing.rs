//! Ed25519 signatures of offline bundles (aws-lc-rs, the library the JWT
//! code already links). Ed25519 rather than HS256: an app checks a bundle
//! with the public key alone, so no app holds anything that could sign one.

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub struct BundleKey {
    pair: Ed25519KeyPair,
}

impl BundleKey {
    pub fn from_seed(seed: &[u8; 32]) -> BundleKey {
        BundleKey {
            pair: Ed25519KeyPair::from_seed_unchecked(seed)
                .expect("any 32 bytes are an Ed25519 seed"),
        }
    }

    /// The 32-byte public key, hex: what an app pins.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.pair.public_key().as_ref())
    }

    /// The first 16 hex digits of SHA-256(public key): names the key in a signature.
    pub fn key_id(&self) -> String {
        hex::encode(Sha256::digest(self.pair.public_key().as_ref()))[..16].to_owned()
    }

    /// The `signature` object of an envelope over exactly `payload`.
    pub fn sign(&self, payload: &[u8]) -> Value {
        json!({
            "alg": "Ed25519",
            "key_id": self.key_id(),
            "public_key": self.public_key_hex(),
            "value": hex::encode(self.pair.sign(payload).as_ref()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};

    #[test]
    fn a_signature_verifies_with_the_public_key_and_only_over_the_payload() {
        let key = BundleKey::from_seed(&[7; 32]);
        let sig = key.sign(b"{\"version\":\"v1\"}");
        let public = hex::decode(sig["public_key"].as_str().unwrap()).unwrap();
        let value = hex::decode(sig["value"].as_str().unwrap()).unwrap();
        let verifier = UnparsedPublicKey::new(&ED25519, public);
        assert!(verifier.verify(b"{\"version\":\"v1\"}", &value).is_ok());
        assert!(verifier.verify(b"{\"version\":\"v2\"}", &value).is_err());
        assert_eq!(sig["key_id"].as_str().unwrap().len(), 16);
        // RFC 8032 test 1: the seed 9d61b1… has the public key d75a98….
        let rfc = BundleKey::from_seed(
            &hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap(),
        );
        assert_eq!(
            rfc.public_key_hex(),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
    }
}
