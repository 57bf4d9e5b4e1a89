//! The receiving side of a transfer in parts, called directly (no network):
//! what it does with parts that do not continue what it holds, with an
//! envelope too large for it, and with parts that do not make up the
//! envelope they name.

use std::sync::Arc;

use chrono::Utc;
use liaison_core::envelope::{self, Draft, OpenLimits};
use liaison_core::identity::NodeKeys;
use liaison_core::manifest::sha256_hex;
use liaison_core::receipt::SignedReceipt;
use liaison_core::wire::{encode_part, FrameType, PartAck, PartHeader, WireErrorBody};
use liaison_core::{Kind, Tlp};
use liaison_net::{PeerDirectory, Receiver};
use liaison_store::{PeerRecord, SqliteStore, Store};

const STIX: &[u8] = include_bytes!("../../../tests/data/stix-indicator-for-c2-ip-address.json");

struct Setup {
    sender: NodeKeys,
    sender_card: liaison_core::identity::SignedCard,
    receiver_keys: Arc<NodeKeys>,
    store: Arc<dyn Store>,
    receiver: Receiver,
}

fn setup(limits: OpenLimits) -> Setup {
    let sender = NodeKeys::generate().unwrap();
    let sender_card = sender.issue_card("A", vec!["127.0.0.1:9".into()], Utc::now());
    let receiver_keys = Arc::new(NodeKeys::generate().unwrap());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    store
        .init_node(&receiver_keys.node_id(), "B", "hash")
        .unwrap();
    let c = &sender_card.card;
    let peer = PeerRecord {
        name: "A".into(),
        node_id: c.node_id,
        org: c.org.clone(),
        card_json: sender_card.to_json(),
        endpoints: c.endpoints.clone(),
        age_recipient: c.age_recipient.clone(),
        tier: 1,
        added_at: Utc::now(),
        last_contact: None,
    };
    store.add_peer(&peer, "test").unwrap();
    let directory = Arc::new(PeerDirectory::new());
    assert!(directory.reload(&store.peers().unwrap()).is_empty());
    let receiver = Receiver::new(store.clone(), receiver_keys.clone(), directory, limits);
    Setup {
        sender,
        sender_card,
        receiver_keys,
        store,
        receiver,
    }
}

fn header(sha: &str, size: u64, offset: u64) -> PartHeader {
    PartHeader {
        envelope_sha256: sha.to_string(),
        size,
        offset,
    }
}

fn held(answer: (FrameType, Vec<u8>)) -> u64 {
    assert_eq!(
        answer.0,
        FrameType::PartAck,
        "{:?}",
        String::from_utf8_lossy(&answer.1)
    );
    serde_json::from_slice::<PartAck>(&answer.1)
        .unwrap()
        .received
}

#[test]
fn parts_out_of_order_are_not_kept_and_a_whole_envelope_opens() {
    let s = setup(OpenLimits::default());
    let a = s.sender_card.card.node_id;
    let me = s.receiver_keys.issue_card("B", vec![], Utc::now()).card;
    let draft = Draft::new(Kind::Stix, Tlp::Green, vec![me]);
    let signed = envelope::sign(&s.sender, "A", &draft, STIX, Utc::now()).unwrap();
    let mut ct = Vec::new();
    envelope::encrypt_to(&signed, STIX, &[s.receiver_keys.node_id()], &mut ct).unwrap();
    let (sha, size) = (sha256_hex(&ct), ct.len() as u64);
    let half = ct.len() / 2;

    // A part past what is held is not kept; the answer says where to go on.
    let late = s
        .receiver
        .part(
            a,
            &encode_part(&header(&sha, size, half as u64), &ct[half..]),
        )
        .unwrap();
    assert_eq!(held(late), 0);
    let first = s
        .receiver
        .part(a, &encode_part(&header(&sha, size, 0), &ct[..half]))
        .unwrap();
    assert_eq!(held(first), half as u64);
    // A probe (empty part) asks how much is held.
    let probe = s
        .receiver
        .part(a, &encode_part(&header(&sha, size, 0), &[]))
        .unwrap();
    assert_eq!(held(probe), half as u64);
    // The last part is answered with the signed receipt (a refusal here:
    // there is no agreement, but only an envelope that opened names its
    // bundle).
    let (ty, body) = s
        .receiver
        .part(
            a,
            &encode_part(&header(&sha, size, half as u64), &ct[half..]),
        )
        .unwrap();
    assert_eq!(ty, FrameType::Receipt);
    let receipt = SignedReceipt::verify(&body, &s.receiver_keys.node_id()).unwrap();
    assert_eq!(receipt.receipt.bundle_id, Some(signed.manifest.bundle_id));
    assert_eq!(receipt.receipt.envelope_sha256, sha);
    assert_eq!(
        s.store.part_held(&a, &sha).unwrap(),
        0,
        "answered: parts dropped"
    );
    // Asked again (a sender that lost the receipt): the same receipt.
    let (ty, again) = s
        .receiver
        .part(a, &encode_part(&header(&sha, size, 0), &[]))
        .unwrap();
    assert_eq!((ty, again), (FrameType::Receipt, body));
}

#[test]
fn parts_that_do_not_make_up_their_envelope_are_dropped() {
    let s = setup(OpenLimits::default());
    let a = s.sender_card.card.node_id;
    let sha = "ab".repeat(32);
    let answer = s
        .receiver
        .part(a, &encode_part(&header(&sha, 4, 0), b"abcd"))
        .unwrap();
    assert_eq!(answer.0, FrameType::Error);
    let err: WireErrorBody = serde_json::from_slice(&answer.1).unwrap();
    assert_eq!(err.code, "envelope_mismatch");
    assert_eq!(s.store.part_held(&a, &sha).unwrap(), 0);
    assert!(
        s.store.rejections(10).unwrap().is_empty(),
        "not a refusal: sent again"
    );
    // A malformed part is a protocol error, not a refusal either.
    let (ty, _) = s.receiver.part(a, b"\x00").unwrap();
    assert_eq!(ty, FrameType::Error);
}

#[test]
fn an_envelope_above_the_limit_gets_a_final_negative_receipt_before_any_part_is_kept() {
    let s = setup(OpenLimits {
        max_content_bytes: 1000,
        ..OpenLimits::default()
    });
    let a = s.sender_card.card.node_id;
    let sha = "cd".repeat(32);
    let size = 100 * 1024 * 1024;
    let (ty, body) = s
        .receiver
        .part(a, &encode_part(&header(&sha, size, 0), b"x"))
        .unwrap();
    assert_eq!(ty, FrameType::Receipt);
    let receipt = SignedReceipt::verify(&body, &s.receiver_keys.node_id()).unwrap();
    assert_eq!(receipt.receipt.envelope_sha256, sha);
    assert!(
        format!("{:?}", receipt.receipt.outcome).contains("TooLarge"),
        "{:?}",
        receipt.receipt.outcome
    );
    assert_eq!(s.store.part_held(&a, &sha).unwrap(), 0);
    assert_eq!(s.store.rejections(10).unwrap()[0].reason, "too_large");
}
