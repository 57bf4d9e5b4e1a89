//! # liaison-core
//!
//! The sans-IO heart of Liaison: every rule, format and piece of cryptography
//! as pure functions over bytes and values. No async runtime, no sockets, no
//! SQL (DESIGN §8); storage and networking live in the crates above this one.
//!
//! | module | concept |
//! | --- | --- |
//! | [`ack`] | signed human acknowledgements of received bundles |
//! | [`tlp`] | TLP 2.0 labels and their order |
//! | [`agreement`] | signed bilateral sharing agreements, their TOML form and notices |
//! | [`policy`] | the pure policy function: may this bundle flow, now? |
//! | [`redact`] | rule-driven redaction before sealing |
//! | [`forward`] | re-sharing CLEAR/GREEN bundles with the originator's signature intact |
//! | [`release`] | a share's plan: redaction by every recipient's rules, then policy |
//! | [`roster`] | peers' incident-response rosters and the contact-path check schedule by tier |
//! | [`incident`] | supply-chain incidents: severity, trigger, dependencies, notification deadlines and escalations |
//! | [`report`] | the incident coordination report: timeline tied to ledger entries, summary, Markdown |
//! | [`identity`] | node keys, node ids, fingerprints, self-signed identity cards |
//! | [`dsse`] | DSSE envelopes: the exact bytes Liaison signs |
//! | [`manifest`] | the signed bundle manifest (DESIGN §4) |
//! | [`envelope`] | sign-then-encrypt sealing and opening of bundles |
//! | [`content`] | STIX 2.1 / CSAF 2.0 validation and the TLP they carry |
//! | [`coordination`] | an incident's notifications, escalations and timeline, read from the ledger |
//! | [`import`] | MISP events, IOC lists and CSV converted to STIX 2.1 bundles, with a report |
//! | [`receipt`] | signed delivery receipts |
//! | [`ledger`] | ledger entries and their RFC 9162 leaf hashes |
//! | [`merkle`] | RFC 9162 Merkle tree heads, inclusion and consistency proofs |
//! | [`checkpoint`] | signed ledger checkpoints (C2SP tlog-checkpoint, signed note) |
//! | [`evidence`] | signed evidence archives for auditors, verified offline |
//! | [`wire`] | node-to-node frames, sans IO |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ack;
pub mod agreement;
pub mod audit;
pub mod checkpoint;
pub mod content;
pub mod coordination;
pub mod dsse;
pub mod envelope;
pub mod evidence;
pub mod forward;
pub mod identity;
pub mod import;
pub mod incident;
pub mod joint;
pub mod ledger;
pub mod manifest;
pub mod merkle;
pub mod policy;
pub mod recall;
pub mod receipt;
pub mod redact;
pub mod release;
pub mod report;
pub mod roster;
pub mod tlp;
pub mod wire;

pub use content::Kind;
pub use tlp::Tlp;

/// The `v` field of a versioned JSON document, read before the full parse so
/// that a newer version is reported as such rather than as malformed.
pub(crate) fn format_version(bytes: &[u8]) -> Result<u32, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct VersionOnly {
        v: u32,
    }
    serde_json::from_slice::<VersionOnly>(bytes).map(|d| d.v)
}
