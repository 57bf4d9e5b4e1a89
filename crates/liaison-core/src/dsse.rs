//! DSSE (Dead Simple Signing Envelope) v1 with Ed25519.
//!
//! Liaison signs exact bytes, never a re-serialization: the signature is over
//! `PAE(payloadType, payload)` and a verifier hands back the verified bytes
//! so that callers parse only what was signed (STANDARDS §7.3).

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::{DecodePaddingMode, Engine};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// DSSE's pre-authentication encoding:
/// `"DSSEv1" SP len(type) SP type SP len(body) SP body`.
pub fn pae(payload_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + payload_type.len() + body.len());
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(body);
    out
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// Unauthenticated hint naming the signing key (a node id). Used only to
    /// pick a key and to word errors, never for a security decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
    /// Base64 Ed25519 signature over the PAE.
    pub sig: String,
}

/// A DSSE JSON envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Base64 of the signed body.
    pub payload: String,
    /// Media type of the body; part of what is signed.
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// At least one signature.
    pub signatures: Vec<EnvelopeSignature>,
}

/// Why an envelope did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsseError {
    /// The envelope is not valid DSSE JSON or its base64 is broken.
    #[error("malformed DSSE envelope: {0}")]
    Malformed(String),
    /// The payload type is not the one the caller expects.
    #[error("unexpected DSSE payload type `{found}` (expected `{expected}`)")]
    WrongType {
        /// What the caller expected.
        expected: String,
        /// What the envelope carries.
        found: String,
    },
    /// No signature verifies under the given key.
    #[error("no DSSE signature verifies under the expected key")]
    BadSignature,
}

// DSSE verifiers must accept both standard and URL-safe base64, padded or not.
const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(false);
const STD_LENIENT: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_LENIENT: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    STD_LENIENT
        .decode(s)
        .ok()
        .or_else(|| URL_LENIENT.decode(s).ok())
}

impl Envelope {
    /// Sign `body` as `payload_type` with `key`, tagging the signature with `keyid`.
    pub fn sign(payload_type: &str, body: &[u8], key: &SigningKey, keyid: &str) -> Envelope {
        let sig = key.sign(&pae(payload_type, body));
        Envelope {
            payload: STANDARD.encode(body),
            payload_type: payload_type.to_string(),
            signatures: vec![EnvelopeSignature {
                keyid: Some(keyid.to_string()),
                sig: STANDARD.encode(sig.to_bytes()),
            }],
        }
    }

    /// Parse an envelope from JSON. Unknown fields are ignored, as DSSE asks.
    pub fn from_json(bytes: &[u8]) -> Result<Envelope, DsseError> {
        let env: Envelope =
            serde_json::from_slice(bytes).map_err(|e| DsseError::Malformed(e.to_string()))?;
        if env.signatures.is_empty() {
            return Err(DsseError::Malformed("no signatures".into()));
        }
        Ok(env)
    }

    /// Serialize to compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // A struct of strings always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The key ids the signatures claim (unauthenticated hints).
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.signatures.iter().filter_map(|s| s.keyid.as_deref())
    }

    /// Verify under `key` and `expected_type`; return the verified body bytes.
    ///
    /// Order follows DSSE: decode, check the signature over the PAE, check the
    /// type; the caller then parses the returned bytes, never `self.payload`.
    pub fn verify(&self, expected_type: &str, key: &VerifyingKey) -> Result<Vec<u8>, DsseError> {
        let body = b64_decode(&self.payload)
            .ok_or_else(|| DsseError::Malformed("payload is not base64".into()))?;
        let message = pae(&self.payload_type, &body);
        let verified = self.signatures.iter().any(|s| {
            b64_decode(&s.sig)
                .and_then(|raw| Signature::from_slice(&raw).ok())
                .is_some_and(|sig| key.verify_strict(&message, &sig).is_ok())
        });
        if !verified {
            return Err(DsseError::BadSignature);
        }
        if self.payload_type != expected_type {
            return Err(DsseError::WrongType {
                expected: expected_type.to_string(),
                found: self.payload_type.clone(),
            });
        }
        Ok(body)
    }

    /// The payload bytes *without* verification. Only for self-certifying
    /// documents (an identity card names its own key) and for display.
    pub fn unverified_payload(&self) -> Result<Vec<u8>, DsseError> {
        b64_decode(&self.payload)
            .ok_or_else(|| DsseError::Malformed("payload is not base64".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn pae_matches_the_dsse_test_vector() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn sign_verify_round_trip_and_json() {
        let k = key(7);
        let env = Envelope::sign("application/x-test", b"body", &k, "kid");
        let parsed = Envelope::from_json(&env.to_json()).unwrap();
        assert_eq!(parsed, env);
        assert_eq!(
            parsed
                .verify("application/x-test", &k.verifying_key())
                .unwrap(),
            b"body"
        );
        assert_eq!(parsed.key_ids().collect::<Vec<_>>(), vec!["kid"]);
    }

    #[test]
    fn wrong_key_type_or_body_fails() {
        let k = key(7);
        let env = Envelope::sign("t/1", b"body", &k, "kid");
        assert_eq!(
            env.verify("t/1", &key(8).verifying_key()),
            Err(DsseError::BadSignature)
        );
        assert!(matches!(
            env.verify("t/2", &k.verifying_key()),
            Err(DsseError::WrongType { .. })
        ));
        let mut swapped = env.clone();
        swapped.payload = STANDARD.encode(b"bodY");
        assert_eq!(
            swapped.verify("t/1", &k.verifying_key()),
            Err(DsseError::BadSignature)
        );
        // The type is inside the PAE: relabelling breaks the signature.
        let mut relabelled = env.clone();
        relabelled.payload_type = "t/2".into();
        assert_eq!(
            relabelled.verify("t/2", &k.verifying_key()),
            Err(DsseError::BadSignature)
        );
    }

    #[test]
    fn accepts_url_safe_and_unpadded_base64() {
        let k = key(9);
        let body = [0xfb_u8, 0xff, 0xfe, 0x01];
        let env = Envelope::sign("t", &body, &k, "kid");
        let mut url = env.clone();
        url.payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body);
        assert_eq!(url.verify("t", &k.verifying_key()).unwrap(), body);
    }

    #[test]
    fn rejects_envelopes_without_signatures() {
        let json = br#"{"payload":"","payloadType":"t","signatures":[]}"#;
        assert!(matches!(
            Envelope::from_json(json),
            Err(DsseError::Malformed(_))
        ));
        assert!(matches!(
            Envelope::from_json(b"not json"),
            Err(DsseError::Malformed(_))
        ));
    }
}
