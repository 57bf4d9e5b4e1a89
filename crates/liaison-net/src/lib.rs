//! # liaison-net
//!
//! Networking between pinned Liaison nodes (DESIGN §3, §6): QUIC with
//! mutual, pinned-key TLS 1.3.
//!
//! | module | concept |
//! | --- | --- |
//! | [`tls`] | node certificates, pinned-key verifiers, rustls configurations |
//! | [`transport`] | the QUIC endpoint: listener, dialer, request/response frames |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod tls;
pub mod transport;

pub use tls::SharedPins;
pub use transport::{ConnectionCounts, Endpoint, Handler, NetError};
