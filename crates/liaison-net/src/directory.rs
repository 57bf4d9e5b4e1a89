//! The pinned peers as the network layer needs them: node ids for the TLS
//! verifiers and verified identity cards for dialling and opening envelopes.
//!
//! The store is the source of truth; the directory is a cache rebuilt from it
//! whenever the peer set changes (`reload`). Cards are verified once here, not
//! on every delivery.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use liaison_core::identity::{IdentityCard, NodeId, PinSet, SignedCard};
use liaison_store::PeerRecord;

use crate::tls::SharedPins;

/// Pinned peers: the live pin set shared with the TLS verifiers, and their
/// verified cards.
#[derive(Debug, Default)]
pub struct PeerDirectory {
    pins: SharedPins,
    cards: RwLock<Arc<Snapshot>>,
    /// When each peer's `last_contact` was last written.
    contacts: Mutex<HashMap<NodeId, Instant>>,
}

/// How often a peer's `last_contact` is written while it is in contact:
/// once a minute is enough, and a write per delivery would double the
/// commits.
const CONTACT_INTERVAL: Duration = Duration::from_secs(60);

/// One consistent view of the pinned cards.
#[derive(Debug, Default)]
struct Snapshot {
    pins: Arc<PinSet>,
    cards: HashMap<NodeId, IdentityCard>,
}

impl PeerDirectory {
    /// An empty directory.
    pub fn new() -> PeerDirectory {
        PeerDirectory::default()
    }

    /// Replace the directory with `peers` (as stored). A stored card that no
    /// longer verifies, or whose key differs from the row's node id, is left
    /// out, so that peer is neither dialled nor accepted; its node id and the
    /// reason are returned so the caller can report them.
    pub fn reload(&self, peers: &[PeerRecord]) -> Vec<(NodeId, String)> {
        let mut pins = PinSet::new();
        let mut cards = HashMap::new();
        let mut refused = Vec::new();
        for peer in peers {
            match SignedCard::from_json(peer.card_json.as_bytes()) {
                Ok(signed) if signed.node_id() == peer.node_id => {
                    pins.pin(signed.card.clone());
                    cards.insert(peer.node_id, signed.card);
                }
                Ok(signed) => refused.push((
                    peer.node_id,
                    format!("stored card is for node {}", signed.node_id()),
                )),
                Err(e) => refused.push((peer.node_id, e.to_string())),
            }
        }
        self.pins.replace(cards.keys().copied());
        let snapshot = Snapshot {
            pins: Arc::new(pins),
            cards,
        };
        *self.cards.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
        refused
    }

    /// The live pin set, shared with the QUIC endpoint's TLS verifiers.
    pub fn pins(&self) -> SharedPins {
        self.pins.clone()
    }

    /// The pinned card of `node`, if pinned.
    pub fn card(&self, node: &NodeId) -> Option<IdentityCard> {
        self.snapshot().cards.get(node).cloned()
    }

    /// Every pinned card, for verifying envelopes.
    pub fn pin_set(&self) -> Arc<PinSet> {
        self.snapshot().pins.clone()
    }

    /// Whether `node` is pinned.
    pub fn contains(&self, node: &NodeId) -> bool {
        self.pins.contains(node)
    }

    /// Whether contact with `peer` should be recorded now (at most once per
    /// minute per peer); the caller then calls `Store::touch_peer`.
    pub fn contact_due(&self, peer: &NodeId) -> bool {
        let mut seen = self.contacts.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match seen.get(peer) {
            Some(at) if now.duration_since(*at) < CONTACT_INTERVAL => false,
            _ => {
                seen.insert(*peer, now);
                true
            }
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.cards
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
