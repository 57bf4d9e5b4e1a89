//! # liaison-net
//!
//! Networking between pinned Liaison nodes (DESIGN §3, §6): QUIC with
//! mutual, pinned-key TLS 1.3.
//!
//! | module | concept |
//! | --- | --- |
//! | [`tls`] | node certificates, pinned-key verifiers, rustls configurations |
//! | [`transport`] | the QUIC endpoint: listener, dialer, request/response frames |
//! | [`directory`] | the pinned peers: live pin set and verified cards |
//! | [`receiver`] | answering deliveries (open, decide, store, sign a receipt) and pings |
//! | [`delivery`] | the delivery worker: outbox, retries with backoff, receipts |
//! | [`checkpointer`] | signed ledger checkpoints every N entries or T seconds, and on shutdown |
//! | [`agreements`] | the peer side of agreement negotiation (proposals, countersignatures, notices) |
//! | `messages` | the message worker: signed messages to peers, store and forward |
//! | [`node`] | endpoint + receiver + worker over one store |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod agreements;
pub mod checkpointer;
pub mod contacts;
pub mod delivery;
pub mod directory;
pub mod escalations;
mod messages;
pub mod node;
mod recalls;
pub mod receiver;
pub mod tls;
pub mod transport;

pub use agreements::AgreementDesk;
pub use checkpointer::CheckpointConfig;
pub use contacts::CheckResult;
pub use delivery::{DeliveryConfig, DeliveryWorker};
pub use directory::PeerDirectory;
pub use escalations::EscalationConfig;
pub use node::{Node, NodeConfig};
pub use receiver::{MessageHandler, MessageRefusal, Receiver};
pub use tls::SharedPins;
pub use transport::{ConnectionCounts, Endpoint, Handler, NetError};
