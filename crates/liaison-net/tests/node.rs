//! Two in-process nodes (`Node`: endpoint + receiver + delivery worker) over
//! real in-memory stores and real QUIC on 127.0.0.1: signed pings, a
//! negative receipt that is final (stored once, never retried), and a large
//! envelope sent in parts that resumes after the receiver restarts.

use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use liaison_core::envelope::{self, Draft};
use liaison_core::identity::NodeId;
use liaison_core::identity::{NodeKeys, SignedCard};
use liaison_core::ledger::kinds;
use liaison_core::manifest::sha256_hex;
use liaison_core::{Kind, Tlp};
use liaison_net::{DeliveryConfig, MessageHandler, MessageRefusal, NetError, Node, NodeConfig};
use liaison_store::{
    DeliveryRecord, DeliveryState, Event, NewDelivery, NewShare, PeerRecord, ShareState,
    SqliteStore, Store,
};
use serde_json::json;

const STIX: &[u8] = include_bytes!("../../../tests/data/stix-indicator-for-c2-ip-address.json");

async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("test timed out");
}

struct Org {
    keys: Arc<NodeKeys>,
    card: SignedCard,
    store: Arc<dyn Store>,
    addr: SocketAddr,
}

impl Org {
    fn new(name: &str) -> Org {
        let keys = Arc::new(NodeKeys::generate().unwrap());
        // The card must carry the real port, so find a free one first.
        let addr = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let card = keys.issue_card(name, vec![addr.to_string()], Utc::now());
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
        store.init_node(&keys.node_id(), name, "hash").unwrap();
        Org {
            keys,
            card,
            store,
            addr,
        }
    }

    fn pin(&self, other: &Org) {
        let c = &other.card.card;
        let record = PeerRecord {
            name: c.org.clone(),
            node_id: c.node_id,
            org: c.org.clone(),
            card_json: other.card.to_json(),
            endpoints: c.endpoints.clone(),
            age_recipient: c.age_recipient.clone(),
            tier: 1,
            added_at: Utc::now(),
            last_contact: None,
        };
        self.store.add_peer(&record, "test").unwrap();
    }

    async fn start(&self) -> Node {
        self.start_with(None).await
    }

    async fn start_with(&self, messages: Option<Arc<dyn MessageHandler>>) -> Node {
        let mut config = NodeConfig::new(self.addr);
        config.messages = messages;
        config.delivery = DeliveryConfig {
            request_timeout: Duration::from_secs(5),
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(500),
            ..DeliveryConfig::default()
        };
        Node::start(self.store.clone(), self.keys.clone(), config)
            .await
            .unwrap()
    }
}

impl Org {
    /// Seal `content` under `draft` for `to` and queue it in the outbox, as
    /// the API would; returns the share id and the envelope.
    fn queue(&self, to: &Org, draft: &Draft, content: &[u8]) -> (uuid::Uuid, Vec<u8>) {
        let signed = envelope::sign(&self.keys, "A", draft, content, Utc::now()).unwrap();
        let mut ct = Vec::new();
        envelope::encrypt_to(&signed, content, &[to.keys.node_id()], &mut ct).unwrap();
        let id = signed.manifest.bundle_id;
        let share = NewShare {
            id,
            created_by: "test".into(),
            tlp: draft.tlp,
            kind: draft.kind,
            content: content.to_vec().into(),
            manifest: signed.manifest_bytes.clone(),
            manifest_sha256: signed.manifest_sha256(),
            dsse: signed.dsse.to_json(),
            deliveries: vec![NewDelivery {
                peer: to.keys.node_id(),
                envelope_sha256: sha256_hex(&ct),
                envelope: ct.clone().into(),
            }],
            state: ShareState::Released,
            approvals_required: 0,
            policy: None,
            incident: None,
            supersedes: None,
            not_after: None,
        };
        let event = Event {
            kind: kinds::SHARE_RELEASED,
            actor: "test".into(),
            body: json!({"share_id": id}),
        };
        self.store.create_share(&share, &event).unwrap();
        (id, ct)
    }

    /// The first delivery of share `id` once it is no longer pending
    /// (the test's `bounded` timeout ends the wait).
    async fn settled(&self, id: uuid::Uuid) -> DeliveryRecord {
        loop {
            let s = self.store.share(id).unwrap().unwrap();
            if s.deliveries[0].state != DeliveryState::Pending {
                return s.deliveries[0].clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn ping_is_answered_with_a_signed_pong_and_stops_when_unpinned() {
    bounded(async {
        let (a, b) = (Org::new("A"), Org::new("B"));
        a.pin(&b);
        b.pin(&a);
        let (na, nb) = (a.start().await, b.start().await);
        let (pong, _rtt) = na.ping(&b.keys.node_id()).await.expect("pong");
        assert_eq!(pong.node_id, b.keys.node_id());

        // B unpins A: A's next ping is refused, even on the open connection.
        b.store.remove_peer(&a.keys.node_id(), "test").unwrap();
        nb.reload_peers(Some(a.keys.node_id())).unwrap();
        let err = na.ping(&b.keys.node_id()).await.unwrap_err();
        assert!(
            matches!(err, NetError::Refused(_) | NetError::Connect(_)),
            "{err:?}"
        );
        // A cannot ping a node it has not pinned.
        let c = Org::new("C");
        assert!(matches!(
            na.ping(&c.keys.node_id()).await,
            Err(NetError::Refused(_))
        ));
        na.shutdown().await;
        nb.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn an_expired_bundle_gets_a_final_negative_receipt() {
    bounded(async {
        let (a, b) = (Org::new("A"), Org::new("B"));
        a.pin(&b);
        b.pin(&a);
        let (na, nb) = (a.start().await, b.start().await);

        // Queue a bundle that expired an hour ago, as the API would.
        let mut draft = Draft::new(Kind::Stix, Tlp::Green, vec![b.card.card.clone()]);
        draft.not_after = Some(Utc::now() - chrono::Duration::hours(1));
        let (id, _) = a.queue(&b, &draft, STIX);
        na.wake();

        let delivery = a.settled(id).await;
        assert_eq!(delivery.state, DeliveryState::Rejected);
        assert_eq!(delivery.attempts, 0, "a negative receipt is not retried");
        let receipt = delivery.receipt.unwrap();
        assert!(!receipt.accepted);
        assert_eq!(receipt.reason.as_deref(), Some("expired"));
        assert_eq!(b.store.inbox_len().unwrap(), 0);
        let rejections = b.store.rejections(10).unwrap();
        assert_eq!(rejections.len(), 1);
        assert_eq!(rejections[0].reason, "expired");
        assert_eq!(rejections[0].bundle_id, Some(id));

        // Stays final: nothing more is sent.
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(b.store.rejections(10).unwrap().len(), 1);
        na.shutdown().await;
        nb.shutdown().await;
    })
    .await;
}

/// Acknowledges `hello` with the sender's id; refuses anything else.
struct Echo;

impl MessageHandler for Echo {
    fn handle_message(&self, peer: NodeId, body: &[u8]) -> Result<Vec<u8>, MessageRefusal> {
        if body == b"hello" {
            Ok(format!("ack from {peer}").into_bytes())
        } else {
            Err(MessageRefusal {
                code: "invalid_message".into(),
                message: "only hello".into(),
            })
        }
    }
}

#[tokio::test]
async fn messages_reach_the_handler_and_refusals_come_back_as_errors() {
    bounded(async {
        let (a, b) = (Org::new("A"), Org::new("B"));
        a.pin(&b);
        b.pin(&a);
        let na = a.start().await;
        let nb = b.start_with(Some(Arc::new(Echo))).await;
        let ack = na.send_message(&b.keys.node_id(), b"hello").await.unwrap();
        assert_eq!(ack, format!("ack from {}", a.keys.node_id()).into_bytes());
        match na.send_message(&b.keys.node_id(), b"other").await {
            Err(NetError::Remote { code, .. }) => assert_eq!(code, "invalid_message"),
            other => panic!("{other:?}"),
        }
        // A node's default handler (agreement negotiation) refuses anything
        // that is not a signed agreement or notice.
        match nb.send_message(&a.keys.node_id(), b"hello").await {
            Err(NetError::Remote { code, .. }) => assert_eq!(code, "unsupported_message"),
            other => panic!("{other:?}"),
        }
        na.shutdown().await;
        nb.shutdown().await;
    })
    .await;
}

/// A valid STIX bundle of `n` indicators (about 330 bytes each).
fn big_stix(n: usize) -> Vec<u8> {
    let mut out = format!(
        "{{\"type\":\"bundle\",\"id\":\"bundle--{}\",\"objects\":[",
        uuid::Uuid::new_v4()
    );
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "{{\"type\":\"indicator\",\"spec_version\":\"2.1\",\"id\":\"indicator--{}\",\
             \"created\":\"2014-05-08T09:00:00.000Z\",\"modified\":\"2014-05-08T09:00:00.000Z\",\
             \"name\":\"C2 {i}\",\"indicator_types\":[\"malicious-activity\"],\
             \"pattern\":\"[ipv4-addr:value = '198.{}.{}.{}']\",\"pattern_type\":\"stix\",\
             \"valid_from\":\"2014-05-08T09:00:00.000000Z\"}}",
            uuid::Uuid::new_v4(),
            (i >> 16) & 0xff,
            (i >> 8) & 0xff,
            i & 0xff
        ));
    }
    out.push_str("]}");
    out.into_bytes()
}

#[tokio::test]
async fn a_large_envelope_goes_in_parts_and_resumes_where_a_restart_cut_it() {
    bounded(async {
        let (a, b) = (Org::new("A"), Org::new("B"));
        a.pin(&b);
        b.pin(&a);
        let mut config = NodeConfig::new(a.addr);
        config.delivery = DeliveryConfig {
            request_timeout: Duration::from_secs(10),
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(300),
            // Slow enough to stop the receiver halfway.
            part_interval: Duration::from_millis(150),
            ..DeliveryConfig::default()
        };
        let na = Node::start(a.store.clone(), a.keys.clone(), config)
            .await
            .unwrap();
        let nb = b.start().await;

        let content = big_stix(20_000);
        let draft = Draft::new(Kind::Stix, Tlp::Green, vec![b.card.card.clone()]);
        let (id, ct) = a.queue(&b, &draft, &content);
        let size = ct.len() as u64;
        assert!(size > 6 * 1024 * 1024, "{size} bytes: more than six parts");
        let envelope_sha256 = sha256_hex(&ct);
        drop(ct);
        na.wake();

        // Stop the receiver once it holds half the envelope.
        let a_id = a.keys.node_id();
        loop {
            if b.store.part_held(&a_id, &envelope_sha256).unwrap() >= size / 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        nb.shutdown().await;
        drop(nb);
        let held = b.store.part_held(&a_id, &envelope_sha256).unwrap();
        assert!(held >= size / 2 && held < size, "{held} of {size}");
        assert_eq!(b.store.inbox_len().unwrap(), 0);
        // The old endpoint lets go of its port shortly after shutdown.
        let mut tries = 0;
        let nb = loop {
            match Node::start(b.store.clone(), b.keys.clone(), NodeConfig::new(b.addr)).await {
                Ok(node) => break node,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot restart the receiver: {e}"),
            }
        };

        let delivery = a.settled(id).await;
        // No agreement between A and B: B refuses it by policy, which it
        // can only do once the reassembled envelope opened (signature and
        // content digest verified).
        assert_eq!(delivery.state, DeliveryState::Rejected);
        let rejections = b.store.rejections(10).unwrap();
        assert_eq!(rejections.len(), 1);
        assert_eq!(rejections[0].reason, "policy_denied");
        assert_eq!(rejections[0].bundle_id, Some(id));
        assert_eq!(rejections[0].envelope_sha256, envelope_sha256);
        // Sent again: at most the parts in flight when it was cut.
        let resent = delivery.bytes_sent - size;
        assert!(
            resent <= 2 * 1024 * 1024,
            "{resent} bytes sent again of {size}"
        );
        assert_eq!(b.store.part_held(&a_id, &envelope_sha256).unwrap(), 0);
        na.shutdown().await;
        nb.shutdown().await;
    })
    .await;
}
