//! The node-to-node wire protocol, sans IO (DESIGN §6).
//!
//! QUIC with ALPN `liaison/1`. Every exchange is one bidirectional stream
//! carrying one request frame and one response frame:
//!
//! ```text
//! frame = version:u8 (1) | type:u8 | length:u32be | body[length]
//! Hello    -> HelloAck      first stream of a connection: the dialer learns
//!                           that the listener accepted its certificate
//! Deliver  -> Receipt       body: one age envelope -> body: DSSE receipt JSON
//! Part     -> PartAck       a large envelope, one chunk at a time (resumable):
//!             | Receipt       body: u16be(len) PartHeader JSON, then the chunk
//!                             -> body: PartAck JSON; the last part -> Receipt
//! Ping     -> Pong          body: JSON nonce       -> body: DSSE pong JSON
//! any      -> Error         body: JSON {code, message}
//! ```
//! Frame lengths are checked against [`FrameLimits`] before any body byte is
//! read, so an oversize frame costs the receiver nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::dsse::Envelope;
use crate::identity::{NodeId, NodeKeys};

/// ALPN protocol id; connections without it are refused.
pub const ALPN: &[u8] = b"liaison/1";
/// Wire format version carried in every frame header.
pub const WIRE_VERSION: u8 = 1;
/// Bytes in a frame header.
pub const FRAME_HEADER_LEN: usize = 6;

/// Frame types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameType {
    /// Dialer's greeting, body `Hello` JSON.
    Hello = 1,
    /// Listener's answer, body `Hello` JSON.
    HelloAck = 2,
    /// A bundle delivery; body is the age envelope.
    Deliver = 3,
    /// A signed receipt (DSSE JSON).
    Receipt = 4,
    /// Contact-path check; body `Ping` JSON.
    Ping = 5,
    /// Signed answer to a ping (DSSE JSON).
    Pong = 6,
    /// Generic signed message for higher layers (agreements, acknowledgements);
    /// body is DSSE JSON whose payload type says what it is.
    Message = 7,
    /// Answer to `Message` (DSSE JSON).
    MessageAck = 8,
    /// One chunk of a large envelope; body [`encode_part`].
    Part = 9,
    /// How much of an envelope the receiver holds; body [`PartAck`] JSON.
    PartAck = 10,
    /// A refusal; body `WireErrorBody` JSON.
    Error = 15,
}

impl FrameType {
    fn from_u8(b: u8) -> Option<FrameType> {
        Some(match b {
            1 => FrameType::Hello,
            2 => FrameType::HelloAck,
            3 => FrameType::Deliver,
            4 => FrameType::Receipt,
            5 => FrameType::Ping,
            6 => FrameType::Pong,
            7 => FrameType::Message,
            8 => FrameType::MessageAck,
            9 => FrameType::Part,
            10 => FrameType::PartAck,
            15 => FrameType::Error,
            _ => return None,
        })
    }

    /// Whether the body is a small control document (not an envelope).
    pub fn is_control(self) -> bool {
        !matches!(self, FrameType::Deliver | FrameType::Part)
    }
}

/// Size limits for frames.
#[derive(Debug, Clone, Copy)]
pub struct FrameLimits {
    /// Largest control frame body.
    pub max_control: u32,
    /// Largest `Deliver` body (the whole envelope).
    pub max_envelope: u32,
}

impl FrameLimits {
    /// Largest `Part` body: one chunk and its header.
    pub const MAX_PART: u32 = PART_SIZE + 4096;
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits {
            max_control: 256 * 1024,
            max_envelope: 256 * 1024 * 1024,
        }
    }
}

/// Envelopes larger than this go in `Part` frames of this size: each part
/// is stored by the receiver as it arrives, so a transfer cut halfway
/// resumes from the last stored part, and neither side holds more than one
/// part of it in memory.
pub const PART_SIZE: u32 = 1024 * 1024;

/// The header of a `Part` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartHeader {
    /// SHA-256 (hex) of the whole envelope: names the transfer.
    pub envelope_sha256: String,
    /// Size of the whole envelope.
    pub size: u64,
    /// Where this chunk starts. A sender that does not know how much the
    /// receiver holds sends an empty chunk at offset 0 and is told.
    pub offset: u64,
}

/// Body of a `PartAck`: how many bytes of the envelope the receiver holds
/// (durably). The sender continues from there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartAck {
    /// Bytes held, from the start of the envelope.
    pub received: u64,
}

/// Encode a `Part` body.
pub fn encode_part(header: &PartHeader, chunk: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(header).unwrap_or_default();
    let mut out = Vec::with_capacity(2 + json.len() + chunk.len());
    out.extend_from_slice(&(json.len() as u16).to_be_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(chunk);
    out
}

/// Decode a `Part` body into its header and chunk, checking that the
/// chunk lies inside the envelope and the digest is 64 hex digits.
pub fn decode_part(body: &[u8]) -> Result<(PartHeader, &[u8]), WireError> {
    let bad = |m: &str| WireError::BadBody(FrameType::Part, m.to_string());
    let (len, rest) = body
        .split_first_chunk::<2>()
        .ok_or_else(|| bad("shorter than its header length"))?;
    let len = usize::from(u16::from_be_bytes(*len));
    if rest.len() < len {
        return Err(bad("shorter than its header"));
    }
    let (json, chunk) = rest.split_at(len);
    let header: PartHeader = parse_body(FrameType::Part, json)?;
    let hex = header.envelope_sha256.as_bytes();
    if hex.len() != 64 || !hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(bad("envelope_sha256 must be 64 lowercase hex digits"));
    }
    let end = header.offset.checked_add(chunk.len() as u64);
    if end.is_none_or(|end| end > header.size) {
        return Err(bad("the chunk runs past the end of the envelope"));
    }
    Ok((header, chunk))
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Type.
    pub frame_type: FrameType,
    /// Body length.
    pub len: u32,
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Unknown wire version.
    #[error("unsupported wire version {0} (this node speaks {WIRE_VERSION})")]
    Version(u8),
    /// Unknown frame type.
    #[error("unknown frame type {0}")]
    UnknownType(u8),
    /// Body larger than allowed for its type.
    #[error("{frame_type:?} frame of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Type.
        frame_type: FrameType,
        /// Announced length.
        len: u32,
        /// Limit.
        limit: u32,
    },
    /// A frame of a type not valid here.
    #[error("unexpected {got:?} frame (expected {expected})")]
    Unexpected {
        /// What arrived.
        got: FrameType,
        /// What was expected.
        expected: &'static str,
    },
    /// A control body that does not parse.
    #[error("malformed {0:?} frame body: {1}")]
    BadBody(FrameType, String),
}

impl WireError {
    /// Stable code for the `Error` frame.
    pub fn code(&self) -> &'static str {
        match self {
            WireError::Version(_) => "unsupported_version",
            WireError::UnknownType(_) => "unknown_frame",
            WireError::TooLarge { .. } => "frame_too_large",
            WireError::Unexpected { .. } => "unexpected_frame",
            WireError::BadBody(..) => "malformed_frame",
        }
    }
}

/// Encode a frame header.
pub fn encode_header(frame_type: FrameType, len: u32) -> [u8; FRAME_HEADER_LEN] {
    let l = len.to_be_bytes();
    [WIRE_VERSION, frame_type as u8, l[0], l[1], l[2], l[3]]
}

/// Encode a whole frame (header and body).
pub fn encode_frame(frame_type: FrameType, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + body.len());
    out.extend_from_slice(&encode_header(frame_type, body.len() as u32));
    out.extend_from_slice(body);
    out
}

/// Decode and bound-check a frame header.
pub fn decode_header(
    raw: &[u8; FRAME_HEADER_LEN],
    limits: &FrameLimits,
) -> Result<FrameHeader, WireError> {
    if raw[0] != WIRE_VERSION {
        return Err(WireError::Version(raw[0]));
    }
    let frame_type = FrameType::from_u8(raw[1]).ok_or(WireError::UnknownType(raw[1]))?;
    let len = u32::from_be_bytes([raw[2], raw[3], raw[4], raw[5]]);
    let limit = match frame_type {
        FrameType::Deliver => limits.max_envelope,
        FrameType::Part => FrameLimits::MAX_PART,
        _ => limits.max_control,
    };
    if len > limit {
        return Err(WireError::TooLarge {
            frame_type,
            len,
            limit,
        });
    }
    Ok(FrameHeader { frame_type, len })
}

/// Body of `Hello` and `HelloAck`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The speaker's node id (must match its TLS key; informational).
    pub node_id: String,
    /// Software version, for diagnostics.
    pub software: String,
}

/// Body of a `Ping`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// Random nonce (hex) the pong must echo.
    pub nonce: String,
}

/// DSSE payload type of a signed pong.
pub const PONG_TYPE: &str = "application/vnd.liaison.pong+json;v=1";

/// What a node signs when it answers a ping: proof that the node holding the
/// pinned key is reachable at the dialled address now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pong {
    /// Format version (1).
    pub v: u32,
    /// The ping's nonce, echoed.
    pub nonce: String,
    /// The answering node.
    pub node_id: NodeId,
    /// When it answered.
    pub time: DateTime<Utc>,
}

/// Largest ping nonce echoed (hex characters).
pub const MAX_NONCE_LEN: usize = 128;

impl Pong {
    /// Answer `ping` as the node holding `keys`: DSSE JSON.
    pub fn sign(keys: &NodeKeys, ping: &Ping, time: DateTime<Utc>) -> Result<Vec<u8>, WireError> {
        if ping.nonce.is_empty()
            || ping.nonce.len() > MAX_NONCE_LEN
            || !ping.nonce.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(WireError::BadBody(
                FrameType::Ping,
                format!("nonce must be 1 to {MAX_NONCE_LEN} hex characters"),
            ));
        }
        let pong = Pong {
            v: 1,
            nonce: ping.nonce.clone(),
            node_id: keys.node_id(),
            time,
        };
        let bytes = serde_json::to_vec(&pong).unwrap_or_default();
        let env = Envelope::sign(
            PONG_TYPE,
            &bytes,
            keys.signing_key(),
            &keys.node_id().to_string(),
        );
        Ok(env.to_json())
    }

    /// Verify a pong from `signer` that answers `nonce`.
    pub fn verify(json: &[u8], signer: &NodeId, nonce: &str) -> Result<Pong, WireError> {
        let bad = |m: String| WireError::BadBody(FrameType::Pong, m);
        let env = Envelope::from_json(json).map_err(|e| bad(e.to_string()))?;
        let bytes = env
            .verify(PONG_TYPE, &signer.verifying_key())
            .map_err(|e| bad(format!("pong from {signer}: {e}")))?;
        let pong: Pong = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if pong.v != 1 || pong.node_id != *signer || pong.nonce != nonce {
            return Err(bad(format!("pong does not answer this ping from {signer}")));
        }
        Ok(pong)
    }
}

/// Body of an `Error` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireErrorBody {
    /// Stable code.
    pub code: String,
    /// Human-readable message.
    pub message: String,
}

/// Parse a JSON control body of the given frame type.
pub fn parse_body<T: for<'de> Deserialize<'de>>(
    frame_type: FrameType,
    body: &[u8],
) -> Result<T, WireError> {
    serde_json::from_slice(body).map_err(|e| WireError::BadBody(frame_type, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pong_signs_and_verifies_against_the_nonce() {
        let keys = NodeKeys::generate().unwrap();
        let other = NodeKeys::generate().unwrap();
        let ping = Ping {
            nonce: "00ff".into(),
        };
        let json = Pong::sign(&keys, &ping, Utc::now()).unwrap();
        let pong = Pong::verify(&json, &keys.node_id(), "00ff").unwrap();
        assert_eq!(pong.node_id, keys.node_id());
        assert!(Pong::verify(&json, &keys.node_id(), "00fe").is_err());
        assert!(Pong::verify(&json, &other.node_id(), "00ff").is_err());
        let bad = Ping {
            nonce: "not hex".into(),
        };
        assert!(Pong::sign(&keys, &bad, Utc::now()).is_err());
    }
    use proptest::prelude::*;

    #[test]
    fn header_round_trip_and_limits() {
        let limits = FrameLimits {
            max_control: 100,
            max_envelope: 1000,
        };
        let h = decode_header(&encode_header(FrameType::Deliver, 1000), &limits).unwrap();
        assert_eq!(
            h,
            FrameHeader {
                frame_type: FrameType::Deliver,
                len: 1000
            }
        );
        assert!(matches!(
            decode_header(&encode_header(FrameType::Deliver, 1001), &limits),
            Err(WireError::TooLarge {
                len: 1001,
                limit: 1000,
                ..
            })
        ));
        assert!(matches!(
            decode_header(&encode_header(FrameType::Ping, 101), &limits),
            Err(WireError::TooLarge { limit: 100, .. })
        ));
        assert_eq!(
            decode_header(&[2, 3, 0, 0, 0, 0], &limits),
            Err(WireError::Version(2))
        );
        assert_eq!(
            decode_header(&[1, 99, 0, 0, 0, 0], &limits),
            Err(WireError::UnknownType(99))
        );
    }

    #[test]
    fn bodies_parse_or_name_the_frame() {
        let ping: Ping = parse_body(FrameType::Ping, br#"{"nonce":"ab"}"#).unwrap();
        assert_eq!(ping.nonce, "ab");
        let err = parse_body::<Ping>(FrameType::Ping, b"{").unwrap_err();
        assert!(err.to_string().contains("Ping"));
        assert_eq!(err.code(), "malformed_frame");
    }

    #[test]
    fn parts_round_trip_and_stay_inside_the_envelope() {
        let header = PartHeader {
            envelope_sha256: "ab".repeat(32),
            size: 10,
            offset: 4,
        };
        let body = encode_part(&header, b"chunk!");
        let (h, chunk) = decode_part(&body).unwrap();
        assert_eq!((h, chunk), (header.clone(), &b"chunk!"[..]));
        // 4 + 7 > 10
        let err = decode_part(&encode_part(&header, b"chunk!!")).unwrap_err();
        assert!(err.to_string().contains("past the end"), "{err}");
        let overflow = PartHeader {
            offset: u64::MAX,
            size: u64::MAX,
            ..header.clone()
        };
        assert!(decode_part(&encode_part(&overflow, b"x")).is_err());
        let upper = PartHeader {
            envelope_sha256: "AB".repeat(32),
            ..header
        };
        assert!(decode_part(&encode_part(&upper, b"")).is_err());
        assert!(decode_part(&[0]).is_err());
        assert!(decode_part(&[0, 50, b'{']).is_err());
        let h = decode_header(
            &encode_header(FrameType::Part, FrameLimits::MAX_PART + 1),
            &FrameLimits::default(),
        );
        assert!(matches!(h, Err(WireError::TooLarge { .. })));
    }

    proptest! {
        #[test]
        fn decode_part_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_part(&body);
        }

        #[test]
        fn decode_never_panics(raw in any::<[u8; FRAME_HEADER_LEN]>()) {
            let _ = decode_header(&raw, &FrameLimits::default());
        }
    }
}
