//! Behaviour of `SqliteStore` on real database files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;

use chrono::{Duration, SubsecRound, Utc};
use liaison_core::identity::{NodeId, NodeKeys};
use liaison_core::ledger::{kinds, leaf_hash, Entry};
use liaison_core::{Kind, Tlp};
use liaison_store::{
    token_hash, AgreementRecord, AgreementState, DeliveryState, Event, NewDelivery, NewInbound,
    NewRejection, NewShare, Payload, PeerRecord, Role, ShareState, SqliteStore, Store, StoreError,
    StoredReceipt,
};
use serde_json::json;
use tempfile::TempDir;
use uuid::Uuid;

fn open() -> (TempDir, PathBuf, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("liaison.db");
    let store = SqliteStore::open(&path).unwrap();
    (dir, path, store)
}

fn node_id() -> NodeId {
    NodeKeys::generate().unwrap().node_id()
}

fn peer(name: &str) -> PeerRecord {
    let keys = NodeKeys::generate().unwrap();
    let endpoints = vec![format!("{name}.example:7443")];
    let card = keys.issue_card(&format!("{name} org"), endpoints.clone(), Utc::now());
    PeerRecord {
        name: name.to_string(),
        node_id: keys.node_id(),
        org: card.card.org.clone(),
        card_json: card.to_json(),
        endpoints,
        age_recipient: card.card.age_recipient.clone(),
        tier: 2,
        added_at: Utc::now().trunc_subsecs(6),
        last_contact: None,
    }
}

fn event(kind: &'static str, body: serde_json::Value) -> Event {
    Event {
        kind,
        actor: "tester".into(),
        body,
    }
}

fn new_share(peers: &[NodeId]) -> NewShare {
    NewShare {
        id: Uuid::new_v4(),
        created_by: "analyst-1".into(),
        tlp: Tlp::Amber,
        kind: Kind::Stix,
        content: b"{\"type\":\"bundle\"}".to_vec().into(),
        manifest: b"{\"v\":1}".to_vec(),
        manifest_sha256: "ab".repeat(32),
        dsse: b"{}".to_vec(),
        deliveries: peers
            .iter()
            .map(|p| NewDelivery {
                peer: *p,
                envelope: format!("ciphertext for {p}").into_bytes().into(),
                envelope_sha256: "cd".repeat(32),
            })
            .collect(),
        state: ShareState::Released,
        approvals_required: 0,
        policy: None,
        incident: None,
        supersedes: None,
        not_after: None,
    }
}

fn released(share: &NewShare) -> Event {
    event(kinds::SHARE_RELEASED, json!({ "share_id": share.id }))
}

fn receipt(accepted: bool, json: &[u8]) -> StoredReceipt {
    StoredReceipt {
        json: json.to_vec(),
        accepted,
        reason: (!accepted).then(|| "not_a_recipient".to_string()),
        received_at: Utc::now().trunc_subsecs(6),
    }
}

fn inbound(sender: NodeId) -> NewInbound {
    NewInbound {
        bundle_id: Uuid::new_v4(),
        sender,
        sender_org: "Org A".into(),
        tlp: Tlp::Green,
        kind: Kind::Csaf,
        manifest: b"{\"manifest\":true}".to_vec(),
        manifest_sha256: "ef".repeat(32),
        dsse: b"{\"dsse\":true}".to_vec(),
        content: b"{\"document\":{}}".to_vec().into(),
        envelope_sha256: "01".repeat(32),
        exercise: false,
        joint: None,
        supersedes: None,
        not_after: None,
    }
}

fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

fn count(path: &Path, table: &str) -> i64 {
    raw(path)
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn assert_ledger_sound(store: &SqliteStore) -> u64 {
    let len = store.ledger_len().unwrap();
    let rows = store.ledger(0, u32::MAX).unwrap();
    assert_eq!(rows.len() as u64, len);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.seq, i as u64, "sequence numbers have no gaps");
        assert_eq!(row.leaf_hash, leaf_hash(&row.entry));
        let entry = Entry::from_bytes(&row.entry).unwrap();
        assert_eq!(entry.seq, row.seq);
        assert_eq!(entry.time, row.time);
        assert_eq!(entry.kind, row.kind);
        assert_eq!(entry.actor, row.actor);
        assert_eq!(entry.body, row.body);
    }
    len
}

#[test]
fn init_node_creates_admin_and_ledgers_without_the_hash() {
    let (_dir, _path, store) = open();
    let node = node_id();
    let hash = token_hash("admin-token");
    let admin = store.init_node(&node, "Org A", &hash).unwrap();
    assert_eq!(admin.name, "admin");
    assert_eq!(admin.role, Role::Admin);
    assert!(Uuid::parse_str(&admin.id).is_ok());

    assert_eq!(
        store.user_by_token_hash(&hash).unwrap(),
        Some(admin.clone())
    );
    assert_eq!(
        store.user_by_token_hash(&token_hash("other")).unwrap(),
        None
    );

    let again = store.init_node(&node, "Org A", &token_hash("x"));
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");

    let rows = store.ledger(0, 10).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].kind, kinds::NODE_INITIALIZED);
    assert_eq!(rows[0].actor, "node");
    assert_eq!(
        rows[0].body,
        json!({"node_id": node.to_string(), "org": "Org A"})
    );
    assert!(!String::from_utf8_lossy(&rows[0].entry).contains(&hash));
}

#[test]
fn users_are_added_and_found_by_token_hash() {
    let (_dir, _path, store) = open();
    let admin = store
        .init_node(&node_id(), "Org A", &token_hash("a"))
        .unwrap();
    let hash = token_hash("analyst-token");
    let ana = store
        .add_user("ana", Role::Analyst, &hash, &admin.id)
        .unwrap();
    assert_eq!(store.user_by_token_hash(&hash).unwrap(), Some(ana.clone()));
    assert_eq!(store.users().unwrap(), vec![admin.clone(), ana]);

    let dup_name = store.add_user("ana", Role::Auditor, &token_hash("b"), &admin.id);
    assert!(matches!(dup_name, Err(StoreError::Conflict(_))));
    let dup_token = store.add_user("bob", Role::Auditor, &hash, &admin.id);
    match dup_token {
        Err(StoreError::Conflict(m)) => assert!(!m.contains(&hash), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }

    let rows = store.ledger(1, 10).unwrap();
    assert_eq!(rows.len(), 1, "failed adds write no ledger entry");
    assert_eq!(rows[0].kind, kinds::USER_ADDED);
    assert_eq!(rows[0].actor, admin.id);
    assert_eq!(rows[0].body, json!({"name": "ana", "role": "analyst"}));
}

#[test]
fn peers_add_conflict_lookup_touch_remove() {
    let (_dir, _path, store) = open();
    let b = peer("bravo");
    let c = peer("charlie");
    store.add_peer(&b, "admin").unwrap();
    store.add_peer(&c, "admin").unwrap();

    let mut same_name = peer("bravo");
    same_name.org = "Other".into();
    match store.add_peer(&same_name, "admin") {
        Err(StoreError::Conflict(m)) => assert!(m.contains("named `bravo`"), "{m}"),
        other => panic!("{other:?}"),
    }
    let mut same_id = b.clone();
    same_id.name = "bravo-2".into();
    match store.add_peer(&same_id, "admin") {
        Err(StoreError::Conflict(m)) => assert!(m.contains("already pinned"), "{m}"),
        other => panic!("{other:?}"),
    }

    assert_eq!(store.peer("bravo").unwrap(), Some(b.clone()));
    assert_eq!(store.peer(&c.node_id.to_string()).unwrap(), Some(c.clone()));
    assert_eq!(store.peer("delta").unwrap(), None);
    assert_eq!(store.peers().unwrap(), vec![b.clone(), c.clone()]);

    let t1 = Utc::now().trunc_subsecs(6);
    store.touch_peer(&b.node_id, t1).unwrap();
    store
        .touch_peer(&b.node_id, t1 - Duration::hours(1))
        .unwrap();
    let touched = store.peer("bravo").unwrap().unwrap();
    assert_eq!(touched.last_contact, Some(t1), "never moves backwards");

    store.remove_peer(&b.node_id, "admin").unwrap();
    assert_eq!(store.peer("bravo").unwrap(), None);
    assert!(matches!(
        store.remove_peer(&b.node_id, "admin"),
        Err(StoreError::NotFound(_))
    ));
    store.touch_peer(&b.node_id, t1).unwrap();

    let kinds_seen: Vec<String> = store
        .ledger(0, 100)
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(
        kinds_seen,
        [kinds::PEER_ADDED, kinds::PEER_ADDED, kinds::PEER_REMOVED]
    );
    let added = &store.ledger(0, 1).unwrap()[0];
    assert_eq!(
        added.body,
        json!({"name": "bravo", "node_id": b.node_id.to_string(), "org": "bravo org", "tier": 2})
    );
}

#[test]
fn create_share_writes_share_outbox_and_one_ledger_entry() {
    let (_dir, path, store) = open();
    let pinned = peer("bravo");
    store.add_peer(&pinned, "admin").unwrap();
    let before = store.ledger_len().unwrap();

    let recipients = [pinned.node_id, node_id(), node_id()];
    let share = new_share(&recipients);
    store.create_share(&share, &released(&share)).unwrap();

    assert_eq!(store.ledger_len().unwrap(), before + 1);
    assert_eq!(count(&path, "shares"), 1);
    assert_eq!(count(&path, "outbox"), 3);
    assert_eq!(store.pending_deliveries().unwrap(), 3);

    let rec = store.share(share.id).unwrap().unwrap();
    assert_eq!(rec.tlp, Tlp::Amber);
    assert_eq!(rec.kind, Kind::Stix);
    assert_eq!(rec.size, share.content.len());
    assert_eq!(rec.manifest_sha256, share.manifest_sha256);
    assert_eq!(rec.deliveries.len(), 3);
    for (d, want) in rec.deliveries.iter().zip(recipients) {
        assert_eq!(d.peer, want);
        assert_eq!(d.share_id, share.id);
        assert_eq!(d.state, DeliveryState::Pending);
        assert_eq!(d.attempts, 0);
        assert!(d.next_attempt_at <= Utc::now());
        assert_eq!(d.receipt, None);
    }
    assert_eq!(rec.deliveries[0].peer_name.as_deref(), Some("bravo"));
    assert_eq!(rec.deliveries[1].peer_name, None);

    let second = new_share(&[pinned.node_id]);
    store.create_share(&second, &released(&second)).unwrap();
    let listed: Vec<Uuid> = store.shares(10).unwrap().iter().map(|s| s.id).collect();
    assert_eq!(listed, vec![second.id, share.id], "newest first");
    assert_eq!(store.shares(1).unwrap().len(), 1);
    assert_eq!(store.share(Uuid::new_v4()).unwrap(), None);
    assert_ledger_sound(&store);
}

#[test]
fn a_failed_create_share_leaves_nothing_behind() {
    let (_dir, path, store) = open();
    let share = new_share(&[node_id()]);
    store.create_share(&share, &released(&share)).unwrap();
    let ledger_before = store.ledger_len().unwrap();

    // Same share id: refused at the first insert.
    let mut dup = new_share(&[node_id(), node_id()]);
    dup.id = share.id;
    match store.create_share(&dup, &released(&dup)) {
        Err(StoreError::Conflict(m)) => assert!(m.contains(&share.id.to_string()), "{m}"),
        other => panic!("{other:?}"),
    }

    // A peer listed twice: refused midway, after the share row and one
    // outbox row were written inside the transaction.
    let twice = node_id();
    let midway = new_share(&[node_id(), twice, twice]);
    assert!(matches!(
        store.create_share(&midway, &released(&midway)),
        Err(StoreError::Conflict(_))
    ));

    assert_eq!(count(&path, "shares"), 1);
    assert_eq!(count(&path, "outbox"), 1);
    assert_eq!(store.share(midway.id).unwrap(), None);
    assert_eq!(store.ledger_len().unwrap(), ledger_before);
    assert_ledger_sound(&store);
}

#[test]
fn due_retry_and_next_due_ordering() {
    let (_dir, _path, store) = open();
    assert_eq!(store.next_due_at().unwrap(), None);
    let share = new_share(&[node_id(), node_id()]);
    store.create_share(&share, &released(&share)).unwrap();
    let now = Utc::now();

    let due = store.due_deliveries(now, 10).unwrap();
    assert_eq!(due.len(), 2);
    assert!(due[0].id < due[1].id);
    assert_eq!(due[0].peer, share.deliveries[0].peer);
    let envelope = store.envelope_chunk(due[0].id, 0, 1 << 20).unwrap();
    assert_eq!(Some(&envelope[..]), share.deliveries[0].envelope.as_bytes());
    assert_eq!(due[0].envelope_size, envelope.len() as u64);
    assert_eq!(due[0].attempts, 0);
    assert_eq!(store.due_deliveries(now, 1).unwrap().len(), 1);
    let (first, second) = (due[0].id, due[1].id);

    let ledger_before = store.ledger_len().unwrap();
    let retry_event = event(kinds::DELIVERY_RETRY, json!({ "delivery": first }));
    store
        .delivery_retry(
            first,
            "connection refused",
            now + Duration::seconds(60),
            Some(&retry_event),
        )
        .unwrap();
    assert_eq!(store.ledger_len().unwrap(), ledger_before + 1);
    store
        .delivery_retry(second, "timed out", now + Duration::seconds(30), None)
        .unwrap();
    assert_eq!(
        store.ledger_len().unwrap(),
        ledger_before + 1,
        "no event, no entry"
    );

    assert!(store.due_deliveries(now, 10).unwrap().is_empty());
    let next = store.next_due_at().unwrap().unwrap();
    assert_eq!(next, (now + Duration::seconds(30)).trunc_subsecs(6));

    let due = store
        .due_deliveries(now + Duration::seconds(45), 10)
        .unwrap();
    assert_eq!(due.iter().map(|d| d.id).collect::<Vec<_>>(), vec![second]);
    assert_eq!(due[0].attempts, 1);
    let due = store
        .due_deliveries(now + Duration::seconds(90), 10)
        .unwrap();
    assert_eq!(
        due.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![second, first],
        "the longest-waiting first"
    );

    let rec = store.share(share.id).unwrap().unwrap();
    assert_eq!(
        rec.deliveries[0].last_error.as_deref(),
        Some("connection refused")
    );
    assert_eq!(rec.deliveries[0].attempts, 1);
    assert!(matches!(
        store.delivery_retry(9999, "x", now, None),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn defer_deliveries_postpones_only_that_peers_pending_rows() {
    let (_dir, _path, store) = open();
    let (down, up) = (node_id(), node_id());
    let one = new_share(&[down, up]);
    let two = new_share(&[down]);
    store.create_share(&one, &released(&one)).unwrap();
    store.create_share(&two, &released(&two)).unwrap();
    let now = Utc::now();
    let ledger_before = store.ledger_len().unwrap();

    let later = now + Duration::seconds(60);
    assert_eq!(store.defer_deliveries(&down, later).unwrap(), 2);
    let due = store.due_deliveries(now, 10).unwrap();
    assert_eq!(due.iter().map(|d| d.peer).collect::<Vec<_>>(), vec![up]);
    assert_eq!(store.ledger_len().unwrap(), ledger_before, "schedule only");
    // Never pulls a later attempt earlier.
    assert_eq!(
        store
            .defer_deliveries(&down, now + Duration::seconds(30))
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .due_deliveries(later + Duration::seconds(1), 10)
            .unwrap()
            .len(),
        3
    );
}

fn agreement(id: Uuid, version: u32, peer: NodeId, state: AgreementState) -> AgreementRecord {
    let now = Utc::now();
    AgreementRecord {
        id,
        version,
        peer,
        state,
        document: format!("{{\"v\":{version}}}").into_bytes(),
        sha256: format!("{version:064x}"),
        valid_from: now,
        valid_until: now + Duration::days(365),
        notice: None,
        created_at: now,
        updated_at: now,
    }
}

#[test]
fn agreements_are_versioned_and_a_version_in_force_supersedes() {
    let (_dir, path, store) = open();
    let (peer, other) = (node_id(), node_id());
    let id = Uuid::new_v4();
    let ev = || event(kinds::AGREEMENT_PROPOSED, json!({}));
    let before = store.ledger_len().unwrap();

    store
        .save_agreement(
            &agreement(id, 1, peer, AgreementState::ProposedByUs),
            &ev(),
            None,
        )
        .unwrap();
    store
        .save_agreement(
            &agreement(id, 1, peer, AgreementState::InForce),
            &ev(),
            None,
        )
        .unwrap();
    assert_eq!(
        store.ledger_len().unwrap(),
        before + 2,
        "one entry per change"
    );
    assert_eq!(
        count(&path, "agreements"),
        1,
        "same version updated in place"
    );
    let v1 = store.agreement(id, 1).unwrap().unwrap();
    assert_eq!(v1.state, AgreementState::InForce);
    assert_eq!(v1.peer, peer);

    // Version 2 is proposed: v1 stays in force until v2 is.
    store
        .save_agreement(
            &agreement(id, 2, peer, AgreementState::ProposedByPeer),
            &ev(),
            None,
        )
        .unwrap();
    assert_eq!(
        store.agreement(id, 1).unwrap().unwrap().state,
        AgreementState::InForce
    );
    store
        .save_agreement(
            &agreement(id, 2, peer, AgreementState::InForce),
            &ev(),
            None,
        )
        .unwrap();
    assert_eq!(
        store.agreement(id, 1).unwrap().unwrap().state,
        AgreementState::Superseded
    );
    assert_eq!(store.latest_agreement(id).unwrap().unwrap().version, 2);

    let with = store.agreements_with(&peer).unwrap();
    assert_eq!(
        with.iter().map(|a| a.version).collect::<Vec<_>>(),
        vec![2, 1]
    );
    assert!(store.agreements_with(&other).unwrap().is_empty());
    assert_eq!(store.agreements(10).unwrap().len(), 2);

    // A revocation keeps its signed notice.
    let mut revoked = agreement(id, 2, peer, AgreementState::Revoked);
    revoked.notice = Some(b"signed revocation".to_vec());
    store.save_agreement(&revoked, &ev(), None).unwrap();
    let back = store.agreement(id, 2).unwrap().unwrap();
    assert_eq!(back.state, AgreementState::Revoked);
    assert_eq!(back.notice.as_deref(), Some(&b"signed revocation"[..]));
    assert!(store.agreement(Uuid::new_v4(), 1).unwrap().is_none());
}

#[test]
fn delivery_completed_is_idempotent() {
    let (_dir, path, store) = open();
    let share = new_share(&[node_id(), node_id()]);
    store.create_share(&share, &released(&share)).unwrap();
    let due = store.due_deliveries(Utc::now(), 10).unwrap();
    let (ok_id, rej_id) = (due[0].id, due[1].id);
    let stored = event(kinds::RECEIPT_STORED, json!({ "delivery": ok_id }));

    let first = receipt(true, b"signed receipt 1");
    assert!(store.delivery_completed(ok_id, &first, &stored).unwrap());
    let ledger_after = store.ledger_len().unwrap();

    let second = receipt(false, b"a different receipt");
    assert!(!store.delivery_completed(ok_id, &second, &stored).unwrap());
    assert_eq!(store.ledger_len().unwrap(), ledger_after);
    assert_eq!(count(&path, "receipts"), 1);
    assert_eq!(store.receipts_count().unwrap(), 1);

    // A late retry of a completed delivery changes nothing.
    let retry = event(kinds::DELIVERY_RETRY, json!({}));
    store
        .delivery_retry(ok_id, "late", Utc::now(), Some(&retry))
        .unwrap();
    assert_eq!(store.ledger_len().unwrap(), ledger_after);

    assert!(store
        .delivery_completed(rej_id, &receipt(false, b"no"), &stored)
        .unwrap());
    assert_eq!(store.pending_deliveries().unwrap(), 0);
    assert!(store.due_deliveries(Utc::now(), 10).unwrap().is_empty());
    assert_eq!(store.next_due_at().unwrap(), None);

    let rec = store.share(share.id).unwrap().unwrap();
    let (ok, rej) = (&rec.deliveries[0], &rec.deliveries[1]);
    assert_eq!(ok.state, DeliveryState::Delivered);
    assert_eq!(ok.attempts, 0);
    assert_eq!(ok.last_error, None);
    assert!(ok.completed_at.is_some());
    assert_eq!(ok.receipt, Some(first));
    assert_eq!(rej.state, DeliveryState::Rejected);
    assert_eq!(
        rej.receipt.as_ref().and_then(|r| r.reason.as_deref()),
        Some("not_a_recipient")
    );
    assert!(matches!(
        store.delivery_completed(9999, &second, &stored),
        Err(StoreError::NotFound(_))
    ));
    assert_ledger_sound(&store);
}

#[test]
fn accept_inbound_deduplicates_and_returns_the_original_receipt() {
    let (_dir, _path, store) = open();
    let item = inbound(node_id());
    let accepted = event(
        kinds::INBOUND_ACCEPTED,
        json!({ "bundle_id": item.bundle_id }),
    );

    let first = store
        .accept_inbound(&item, b"receipt A", &accepted)
        .unwrap();
    assert_eq!(first, b"receipt A");
    let ledger_after = store.ledger_len().unwrap();

    let again = store
        .accept_inbound(&item, b"receipt B", &accepted)
        .unwrap();
    assert_eq!(again, b"receipt A", "redelivery gets the original receipt");
    assert_eq!(store.inbox_len().unwrap(), 1);
    assert_eq!(store.ledger_len().unwrap(), ledger_after);
    assert_eq!(
        store.inbound_receipt(item.bundle_id).unwrap().as_deref(),
        Some(&b"receipt A"[..])
    );
    assert_eq!(store.inbound_receipt(Uuid::new_v4()).unwrap(), None);

    let (rec, content) = store.inbox_item(item.bundle_id).unwrap().unwrap();
    assert_eq!(Some(&content[..]), item.content.as_bytes());
    assert_eq!(rec.sender, item.sender);
    assert_eq!(rec.sender_org, "Org A");
    assert_eq!(rec.tlp, Tlp::Green);
    assert_eq!(rec.kind, Kind::Csaf);
    assert_eq!(rec.size, item.content.len());
    assert_eq!(rec.receipt_json, b"receipt A");
    assert_eq!(
        store.inbox_manifest(item.bundle_id).unwrap(),
        Some(item.manifest.clone())
    );

    let later = inbound(node_id());
    store
        .accept_inbound(&later, b"receipt C", &accepted)
        .unwrap();
    let listed: Vec<Uuid> = store
        .inbox(10)
        .unwrap()
        .iter()
        .map(|r| r.bundle_id)
        .collect();
    assert_eq!(
        listed,
        vec![later.bundle_id, item.bundle_id],
        "newest first"
    );
    assert_eq!(store.inbox_item(Uuid::new_v4()).unwrap(), None);
}

#[test]
fn reject_inbound_is_recorded_with_its_ledger_entry() {
    let (_dir, _path, store) = open();
    let sender = node_id();
    let bundle = Uuid::new_v4();
    for bundle_id in [None, Some(bundle)] {
        let r = NewRejection {
            envelope_sha256: "99".repeat(32),
            sender,
            bundle_id,
            reason: "bad_signature".into(),
            detail: "signature does not verify".into(),
            receipt_json: b"negative receipt".to_vec(),
        };
        let ev = event(kinds::INBOUND_REJECTED, json!({ "reason": r.reason }));
        store.reject_inbound(&r, &ev).unwrap();
    }
    let rows = store.rejections(10).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].bundle_id, Some(bundle), "newest first");
    assert_eq!(rows[1].bundle_id, None);
    assert_eq!(rows[0].sender, sender);
    assert_eq!(rows[0].reason, "bad_signature");
    assert_eq!(rows[0].receipt_json, b"negative receipt");
    assert_eq!(store.inbox_len().unwrap(), 0);
    let ledger = store.ledger(0, 10).unwrap();
    assert_eq!(ledger.len(), 2);
    assert!(ledger.iter().all(|r| r.kind == kinds::INBOUND_REJECTED));
}

#[test]
fn ledger_is_gapless_hashed_and_append_only() {
    let (_dir, path, store) = open();
    for i in 0..5 {
        let row = store
            .append(&event(kinds::SHARE_REFUSED, json!({ "i": i, "z": [1, 2] })))
            .unwrap();
        assert_eq!(row.seq, i);
        assert_eq!(row.leaf_hash, leaf_hash(&row.entry));
    }
    assert_eq!(assert_ledger_sound(&store), 5);
    let page: Vec<u64> = store.ledger(2, 2).unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(page, vec![2, 3]);
    assert!(store.ledger(5, 10).unwrap().is_empty());

    let conn = raw(&path);
    let update = conn.execute("UPDATE ledger SET actor = 'mallory' WHERE seq = 1", []);
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = conn.execute("DELETE FROM ledger", []);
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert_eq!(store.ledger_len().unwrap(), 5);
}

#[test]
fn data_survives_reopening_the_file() {
    let (_dir, path, store) = open();
    let admin = store
        .init_node(&node_id(), "Org A", &token_hash("t"))
        .unwrap();
    let b = peer("bravo");
    store.add_peer(&b, &admin.id).unwrap();
    let share = new_share(&[b.node_id]);
    store.create_share(&share, &released(&share)).unwrap();
    let item = inbound(b.node_id);
    store
        .accept_inbound(&item, b"r", &event(kinds::INBOUND_ACCEPTED, json!({})))
        .unwrap();
    let ledger = store.ledger(0, 100).unwrap();
    let share_rec = store.share(share.id).unwrap();
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.user_by_token_hash(&token_hash("t")).unwrap(),
        Some(admin)
    );
    assert_eq!(store.peer("bravo").unwrap(), Some(b));
    assert_eq!(store.share(share.id).unwrap(), share_rec);
    assert_eq!(store.inbox_len().unwrap(), 1);
    assert_eq!(store.ledger(0, 100).unwrap(), ledger);
    let next = store
        .append(&event(kinds::SHARE_REFUSED, json!({})))
        .unwrap();
    assert_eq!(next.seq, ledger.len() as u64);

    let conn = raw(&path);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 13);
}

#[test]
fn a_version_1_database_is_migrated_and_keeps_its_data() {
    let (_dir, path, store) = open();
    let bolt = peer("bolt");
    store.add_peer(&bolt, "admin").unwrap();
    let share = new_share(&[bolt.node_id]);
    store.create_share(&share, &released(&share)).unwrap();
    drop(store);
    // What the first release left on disk: schema 1, without agreements,
    // share states, policy or the message outbox.
    let conn = raw(&path);
    conn.execute_batch(
        "DROP TABLE inbound_parts; DROP INDEX inbox_by_envelope; DROP INDEX rejections_by_envelope;
         ALTER TABLE outbox DROP COLUMN bytes_sent; DROP TABLE payloads;
         ALTER TABLE shares DROP COLUMN content_payload; ALTER TABLE outbox DROP COLUMN envelope_payload;
         ALTER TABLE inbox DROP COLUMN content_payload;
         DROP TABLE recalls_in; DROP TABLE recalls_out; DROP TABLE incident_items; DROP TABLE webhooks_out; DROP TABLE incident_shares; DROP TABLE incidents;
         DROP TABLE acknowledgements; DROP TABLE peer_contacts; DROP TABLE approvals; DROP TABLE checkpoints;
         DROP TABLE agreements; DROP TABLE messages_out;
         DROP INDEX inbox_by_supersedes; DROP INDEX shares_by_supersedes;
         ALTER TABLE inbox DROP COLUMN supersedes; ALTER TABLE inbox DROP COLUMN not_after;
         ALTER TABLE shares DROP COLUMN supersedes; ALTER TABLE shares DROP COLUMN not_after;
         DROP INDEX ledger_by_incident; DROP INDEX ledger_by_share;
         ALTER TABLE users DROP COLUMN revoked_at;
         ALTER TABLE inbox DROP COLUMN exercise;
         ALTER TABLE shares DROP COLUMN policy;
         ALTER TABLE shares DROP COLUMN approvals_required;
         ALTER TABLE shares DROP COLUMN state;
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.peers().unwrap().len(), 1);
    assert!(store.agreements(10).unwrap().is_empty());
    let back = store.share(share.id).unwrap().unwrap();
    assert_eq!(back.state, ShareState::Released, "old shares were released");
    assert_eq!(back.approvals_required, 0);
    assert_eq!(back.deliveries.len(), 1);
    assert_eq!(store.contacts().unwrap()[0].roster, Default::default());
    let version: u32 = raw(&path)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 13);
}

#[cfg(unix)]
#[test]
fn the_database_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, path, _store) = open();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
}

#[test]
fn a_newer_schema_is_refused() {
    let (_dir, path, store) = open();
    drop(store);
    raw(&path).pragma_update(None, "user_version", 99).unwrap();
    match SqliteStore::open(&path) {
        Err(StoreError::Db(m)) => assert!(m.contains("newer"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unparsable_stored_values_are_corrupt() {
    let (_dir, path, store) = open();
    let share = new_share(&[node_id()]);
    store.create_share(&share, &released(&share)).unwrap();
    raw(&path)
        .execute("UPDATE shares SET tlp = 'TLP:PURPLE'", [])
        .unwrap();
    match store.share(share.id) {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("TLP:PURPLE"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn concurrent_appends_keep_the_ledger_gapless() {
    let (_dir, path, store) = open();
    let a = Arc::new(store);
    // A second connection to the same file, as another process would have.
    let b = Arc::new(SqliteStore::open(&path).unwrap());
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let store = if t % 2 == 0 { a.clone() } else { b.clone() };
            thread::spawn(move || {
                for i in 0..25 {
                    if i % 5 == 0 {
                        let share = new_share(&[node_id()]);
                        store.create_share(&share, &released(&share)).unwrap();
                    } else {
                        store
                            .append(&event(kinds::PEER_REFUSED, json!({ "t": t, "i": i })))
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(assert_ledger_sound(&a), 200);
    assert_eq!(b.ledger_len().unwrap(), 200);
    assert_eq!(a.pending_deliveries().unwrap(), 40);
}

#[test]
fn in_memory_store_works_for_unit_tests() {
    let store = SqliteStore::open_in_memory().unwrap();
    store
        .append(&event(kinds::PEER_REFUSED, json!({})))
        .unwrap();
    assert_eq!(store.ledger_len().unwrap(), 1);
}

#[test]
fn the_trait_is_object_safe_and_shareable() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let clone = store.clone();
    thread::spawn(move || clone.ledger_len().unwrap())
        .join()
        .unwrap();
    assert_eq!(store.inbox_len().unwrap(), 0);
}

#[test]
fn incidents_link_shares_and_read_their_story_from_the_ledger() {
    use liaison_core::incident::{Severity, Trigger};
    let (_dir, _path, store) = open();
    let bolt = peer("bolt");
    store.add_peer(&bolt, "admin").unwrap();
    let inc = store
        .open_incident(&liaison_store::NewIncident {
            id: Uuid::new_v4(),
            title: "compromised updater".into(),
            severity: Severity::Critical,
            supply_chain: true,
            trigger: Some(Trigger::UpstreamDependencySuspected),
            exercise: false,
            peers: vec![bolt.node_id],
            dependencies: vec!["acme-updater@4.2.1".parse().unwrap()],
            opened_by: "u1".into(),
        })
        .unwrap();
    assert_eq!(inc.peers, vec![bolt.node_id]);
    assert_eq!(inc.dependencies[0].to_string(), "acme-updater@4.2.1");
    // A share linked to it, in the same transaction; and one that is not.
    let mut linked = new_share(&[bolt.node_id]);
    linked.incident = Some(inc.id);
    store.create_share(&linked, &released(&linked)).unwrap();
    let other = new_share(&[bolt.node_id]);
    store.create_share(&other, &released(&other)).unwrap();
    // A share for an unknown incident is refused and leaves nothing.
    let mut orphan = new_share(&[bolt.node_id]);
    orphan.incident = Some(Uuid::new_v4());
    assert!(matches!(
        store.create_share(&orphan, &released(&orphan)),
        Err(StoreError::NotFound(_))
    ));
    assert!(store.share(orphan.id).unwrap().is_none());
    assert_eq!(
        store.incident(inc.id).unwrap().unwrap().shares,
        vec![linked.id]
    );
    assert_eq!(store.incident_of_share(linked.id).unwrap(), Some(inc.id));
    // Its facts: the opening and the linked share's release, not the other.
    let body = json!({"incident_id": inc.id, "share_id": linked.id, "peer": bolt.node_id.to_string(), "deadline": "ack"});
    let esc = store.escalate(inc.id, &body, true).unwrap();
    let facts = store.incident_facts(inc.id).unwrap();
    let kinds_seen: Vec<&str> = facts.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(
        kinds_seen,
        vec![
            kinds::INCIDENT_OPENED,
            "share.released",
            kinds::INCIDENT_ESCALATED
        ]
    );
    assert!(facts.iter().all(|f| f.fact().is_some()));
    // The webhook waits, is retried, then sent.
    let due = store.due_webhooks(Utc::now(), 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].payload["ledger_seq"], esc.seq);
    let later = Utc::now() + Duration::seconds(60);
    store
        .webhook_result(due[0].id, &Err("HTTP 500".into()), Some(later))
        .unwrap();
    assert!(store.due_webhooks(Utc::now(), 10).unwrap().is_empty());
    let again = store.due_webhooks(later, 10).unwrap();
    assert_eq!(again[0].attempts, 1);
    store.webhook_result(again[0].id, &Ok(()), None).unwrap();
    assert!(store.due_webhooks(later, 10).unwrap().is_empty());
    // Closed: no more shares.
    store.close_incident(inc.id, "u1").unwrap();
    assert!(matches!(
        store.close_incident(inc.id, "u1"),
        Err(StoreError::Conflict(_))
    ));
    let mut late = new_share(&[bolt.node_id]);
    late.incident = Some(inc.id);
    assert!(matches!(
        store.create_share(&late, &released(&late)),
        Err(StoreError::Conflict(_))
    ));
}

#[test]
fn joint_items_are_revised_here_and_merged_from_peers_with_their_ledger_entries() {
    use liaison_core::incident::Severity;
    use liaison_core::joint::{IncidentRef, Item, ItemKind, JointLog, Status};
    let (_dir, _path, store) = open();
    let acme = peer("acme");
    let item = |rev: u32, status: Status, by: &str| Item {
        id: Uuid::from_u128(42),
        kind: ItemKind::Action,
        text: "rotate the updater's signing key".into(),
        owner: "Bolt".into(),
        due: None,
        status,
        revision: rev,
        updated_at: Utc::now(),
        updated_by: by.into(),
    };
    let incident = Uuid::new_v4();
    let log = |items: Vec<Item>| JointLog {
        v: 1,
        incident: IncidentRef {
            id: incident,
            origin: acme.node_id,
            title: "compromised updater".into(),
            severity: Severity::High,
            supply_chain: true,
            trigger: None,
            exercise: false,
        },
        items,
    };
    // The first joint log from ACME files its incident here.
    let mut first = inbound(acme.node_id);
    first.kind = Kind::Coordination;
    first.joint = Some(log(vec![item(1, Status::Open, "ACME: ana")]));
    store
        .accept_inbound(
            &first,
            b"receipt",
            &event(kinds::INBOUND_ACCEPTED, json!({})),
        )
        .unwrap();
    let inc = store.incident(incident).unwrap().unwrap();
    assert_eq!(inc.origin, Some(acme.node_id));
    assert_eq!(inc.peers, vec![acme.node_id]);
    assert_eq!(
        store.incident_items(incident).unwrap()[0].status,
        Status::Open
    );
    // A revision made here; an older one is refused.
    store
        .save_incident_item(incident, &item(2, Status::Done, "Bolt: bea"), "u2")
        .unwrap();
    assert!(matches!(
        store.save_incident_item(incident, &item(1, Status::Cancelled, "x"), "u2"),
        Err(StoreError::Conflict(_))
    ));
    // A stale log from ACME changes nothing; a newer one wins.
    let mut stale = inbound(acme.node_id);
    stale.joint = Some(log(vec![item(1, Status::Open, "ACME: ana")]));
    store
        .accept_inbound(
            &stale,
            b"receipt",
            &event(kinds::INBOUND_ACCEPTED, json!({})),
        )
        .unwrap();
    assert_eq!(
        store.incident_items(incident).unwrap()[0].status,
        Status::Done
    );
    let mut newer = inbound(acme.node_id);
    newer.joint = Some(log(vec![item(3, Status::InProgress, "ACME: ana")]));
    store
        .accept_inbound(
            &newer,
            b"receipt",
            &event(kinds::INBOUND_ACCEPTED, json!({})),
        )
        .unwrap();
    let items = store.incident_items(incident).unwrap();
    assert_eq!((items.len(), items[0].revision), (1, 3));
    // Every revision held is one ledger entry of the incident.
    let facts = store.incident_facts(incident).unwrap();
    let kinds_seen: Vec<&str> = facts.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(
        kinds_seen,
        vec![
            kinds::INCIDENT_JOINED,
            kinds::INCIDENT_ITEM_UPDATED,
            kinds::INCIDENT_ITEM_UPDATED,
            kinds::INCIDENT_ITEM_UPDATED
        ]
    );
    // Unknown incident: not found.
    assert!(matches!(
        store.save_incident_item(Uuid::new_v4(), &item(1, Status::Open, "x"), "u2"),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn recalls_leave_tombstones_for_a_bundle_and_its_earlier_versions_once() {
    use liaison_core::recall::RecallOutcome;
    use liaison_store::NewRecallIn;
    let (_dir, path, store) = open();
    let acme = peer("acme");
    let other = peer("other");
    let v1 = inbound(acme.node_id);
    let mut v2 = inbound(acme.node_id);
    v2.supersedes = Some(v1.bundle_id);
    // A large one: its content is in `payloads`.
    let (payload, v2_bytes) = file_payload(300_000, 9);
    v2.content = payload;
    for b in [&v1, &v2] {
        store
            .accept_inbound(b, b"receipt", &event(kinds::INBOUND_ACCEPTED, json!({})))
            .unwrap();
    }
    let listed = store.inbox(10).unwrap();
    let old = listed.iter().find(|r| r.bundle_id == v1.bundle_id).unwrap();
    assert_eq!(old.superseded_by, Some(v2.bundle_id));
    let recall = |bundle: Uuid, sender: NodeId| NewRecallIn {
        bundle_id: bundle,
        sender,
        reason: "wrong customer".into(),
        recalled_at: Utc::now(),
        recall_json: b"signed recall".to_vec(),
        purge: false,
    };
    let signed = std::cell::Cell::new(0);
    let sign = |o: RecallOutcome, _at: chrono::DateTime<Utc>| {
        signed.set(signed.get() + 1);
        format!("receipt:{}", o.as_str()).into_bytes()
    };
    // Only the sender may recall it.
    assert!(matches!(
        store.recall_inbound(&recall(v2.bundle_id, other.node_id), &sign),
        Err(StoreError::Conflict(_))
    ));
    let (outcome, receipt) = store
        .recall_inbound(&recall(v2.bundle_id, acme.node_id), &sign)
        .unwrap();
    assert_eq!(outcome, RecallOutcome::Withheld);
    assert_eq!(receipt, b"receipt:withheld");
    // Both versions: tombstoned, content gone, ledgered.
    for b in [v1.bundle_id, v2.bundle_id] {
        let (rec, content) = store.inbox_item(b).unwrap().unwrap();
        assert!(rec.recall.is_some() && rec.is_withdrawn(Utc::now()));
        assert!(content.is_empty());
    }
    assert_eq!(count(&path, "recalls_in"), 2);
    assert_eq!(count(&path, "payloads"), 0, "the large content went too");
    // The tombstone keeps the hash of what was withheld.
    let recalled = store.ledger(0, 100).unwrap();
    let hashes: Vec<String> = recalled
        .iter()
        .filter(|r| r.kind == kinds::INBOUND_RECALLED)
        .filter_map(|r| r.body["content_sha256"].as_str().map(str::to_string))
        .collect();
    assert!(
        hashes.contains(&liaison_core::manifest::sha256_hex(&v2_bytes)),
        "{hashes:?}"
    );
    // A repeated recall gets the first receipt and signs nothing new.
    let again = store
        .recall_inbound(&recall(v2.bundle_id, acme.node_id), &sign)
        .unwrap();
    assert_eq!(again.1, receipt);
    assert_eq!(signed.get(), 1);
    // A recall ahead of its bundle leaves a tombstone that refuses it later.
    let ahead = Uuid::new_v4();
    let (outcome, _) = store
        .recall_inbound(&recall(ahead, acme.node_id), &sign)
        .unwrap();
    assert_eq!(outcome, RecallOutcome::NotReceived);
    assert!(store.inbound_recall(ahead).unwrap().is_some());
}

#[test]
fn a_share_is_recalled_once_and_each_receipt_is_ledgered_once() {
    use liaison_core::recall::RecallOutcome;
    use liaison_store::NewRecallOut;
    let (_dir, _path, store) = open();
    let bolt = peer("bolt");
    store.add_peer(&bolt, "admin").unwrap();
    let share = new_share(&[bolt.node_id]);
    store.create_share(&share, &released(&share)).unwrap();
    let recall = NewRecallOut {
        share_id: share.id,
        reason: "sent by mistake".into(),
        requested_by: "u1".into(),
        recall_json: b"signed recall".to_vec(),
        peers: vec![bolt.node_id],
    };
    let ev = event(kinds::SHARE_RECALLED, json!({"share_id": share.id}));
    store.recall_share(&recall, &ev).unwrap();
    assert!(matches!(
        store.recall_share(&recall, &ev),
        Err(StoreError::Conflict(_))
    ));
    let s = store.share(share.id).unwrap().unwrap();
    assert_eq!(s.recalls.len(), 1);
    assert!(s.recalls[0].received_at.is_none());
    // The recall went out as a message, store and forward.
    let due = store.due_messages(Utc::now(), 10).unwrap();
    assert_eq!((due.len(), due[0].kind.as_str()), (1, "recall"));
    let at = Utc::now();
    for _ in 0..2 {
        store
            .store_recall_receipt(
                due[0].id,
                share.id,
                &bolt.node_id,
                b"receipt",
                at,
                RecallOutcome::Withheld,
            )
            .unwrap();
    }
    let s = store.share(share.id).unwrap().unwrap();
    assert_eq!(s.recalls[0].outcome.as_deref(), Some("withheld"));
    assert!(s.recalls[0].received_at.is_some());
    let stored = store
        .ledger(0, 100)
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == kinds::RECALL_RECEIPT_STORED)
        .count();
    assert_eq!(stored, 1);
    assert!(store.due_messages(Utc::now(), 10).unwrap().is_empty());
    // An unknown share cannot be recalled.
    let mut unknown = recall.clone();
    unknown.share_id = Uuid::new_v4();
    assert!(matches!(
        store.recall_share(&unknown, &ev),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn lookups_by_incident_share_and_revision_use_their_indexes() {
    let (_dir, path, store) = open();
    drop(store);
    let conn = raw(&path);
    let plan: Vec<String> = conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT seq FROM ledger
             WHERE json_extract(body, '$.incident_id') = 'x'
                OR json_extract(body, '$.share_id') IN ('y')",
        )
        .unwrap()
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let text = plan.join("\n");
    assert!(text.contains("ledger_by_incident"), "{text}");
    assert!(text.contains("ledger_by_share"), "{text}");
    assert!(!text.contains("SCAN ledger"), "{text}");
    // Finding a later version of a share or a received bundle is a lookup.
    for (table, id, index) in [
        ("shares", "id", "shares_by_supersedes"),
        ("inbox", "bundle_id", "inbox_by_supersedes"),
    ] {
        let plan: Vec<String> = conn
            .prepare(&format!(
                "EXPLAIN QUERY PLAN SELECT (SELECT n.{id} FROM {table} n
                 WHERE n.supersedes = t.{id} LIMIT 1) FROM {table} t"
            ))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let text = plan.join("\n");
        assert!(text.contains(index), "{text}");
    }
}

/// A payload of `len` bytes in an (anonymous) file, with its bytes.
fn file_payload(len: usize, seed: u8) -> (Payload, Vec<u8>) {
    use std::io::Write;
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect();
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(&bytes).unwrap();
    (Payload::File(Arc::new(file), len as u64), bytes)
}

#[test]
fn file_payloads_are_stored_in_chunks_and_read_back_in_parts() {
    let (_dir, path, store) = open();
    let bolt = peer("bolt");
    store.add_peer(&bolt, "admin").unwrap();
    // Larger than one BLOB chunk (256 KiB) and not a multiple of it.
    let (content, content_bytes) = file_payload(700_001, 1);
    let (envelope, envelope_bytes) = file_payload(900_003, 2);
    let mut share = new_share(&[bolt.node_id]);
    share.content = content;
    share.deliveries[0].envelope = envelope;
    store.create_share(&share, &released(&share)).unwrap();

    assert_eq!(
        store.share_content(share.id).unwrap().unwrap(),
        content_bytes
    );
    let due = store.due_deliveries(Utc::now(), 10).unwrap();
    assert_eq!(due[0].envelope_size, envelope_bytes.len() as u64);
    let mut back = Vec::new();
    while (back.len() as u64) < due[0].envelope_size {
        let part = store
            .envelope_chunk(due[0].id, back.len() as u64, 65_536)
            .unwrap();
        assert!(!part.is_empty() && part.len() <= 65_536);
        back.extend_from_slice(&part);
    }
    assert_eq!(back, envelope_bytes);
    assert!(store
        .envelope_chunk(due[0].id, envelope_bytes.len() as u64, 10)
        .unwrap()
        .is_empty());
    assert!(store
        .envelope_chunk(due[0].id, envelope_bytes.len() as u64 + 1, 10)
        .is_err());

    store.delivery_sent(due[0].id, 1000).unwrap();
    store.delivery_sent(due[0].id, 24).unwrap();
    let rec = store.share(share.id).unwrap().unwrap();
    assert_eq!(rec.deliveries[0].bytes_sent, 1024);
    assert_eq!(rec.deliveries[0].envelope_size, envelope_bytes.len() as u64);

    let (inbound_content, inbound_bytes) = file_payload(300_000, 3);
    let mut item = inbound(bolt.node_id);
    item.content = inbound_content;
    let accepted = event(kinds::INBOUND_ACCEPTED, json!({}));
    store.accept_inbound(&item, b"receipt", &accepted).unwrap();
    let (rec, content) = store.inbox_item(item.bundle_id).unwrap().unwrap();
    assert_eq!(content, inbound_bytes);
    assert_eq!(rec.size, 300_000);
    let mut streamed = Vec::new();
    loop {
        let part = store
            .inbox_content_chunk(item.bundle_id, streamed.len() as u64, 100_000)
            .unwrap();
        if part.is_empty() {
            break;
        }
        streamed.extend_from_slice(&part);
    }
    assert_eq!(streamed, inbound_bytes);
    assert!(matches!(
        store.inbox_content_chunk(Uuid::new_v4(), 0, 10),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(count(&path, "inbox"), 1);
    // Files go to `payloads` (content, envelope, inbound content); the rows
    // keep an empty BLOB.
    assert_eq!(count(&path, "payloads"), 3);
    let inline: i64 = raw(&path)
        .query_row("SELECT length(content) FROM inbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(inline, 0);
    // A redelivery copies nothing.
    let (again, _) = file_payload(300_000, 3);
    let mut twice = item.clone();
    twice.content = again;
    let back = store.accept_inbound(&twice, b"other", &accepted).unwrap();
    assert_eq!(back, b"receipt");
    assert_eq!(count(&path, "payloads"), 3);
}

#[test]
fn parts_are_held_as_a_gapless_prefix_and_found_again_by_envelope() {
    let (_dir, path, store) = open();
    let bolt = node_id();
    let other = node_id();
    let sha = "ab".repeat(32);
    assert_eq!(store.part_held(&bolt, &sha).unwrap(), 0);
    // Only a part that continues what is held is kept.
    assert_eq!(store.part_append(&bolt, &sha, 10, 4, b"late").unwrap(), 0);
    assert_eq!(store.part_append(&bolt, &sha, 10, 0, b"0123").unwrap(), 4);
    assert_eq!(store.part_append(&bolt, &sha, 10, 0, b"0123").unwrap(), 4);
    assert_eq!(store.part_append(&bolt, &sha, 10, 8, b"89").unwrap(), 4);
    assert_eq!(store.part_append(&bolt, &sha, 10, 4, b"4567").unwrap(), 8);
    // An empty part asks how much is held.
    assert_eq!(store.part_append(&bolt, &sha, 10, 0, b"").unwrap(), 8);
    // Parts are per peer.
    assert_eq!(store.part_held(&other, &sha).unwrap(), 0);
    assert_eq!(store.part_append(&bolt, &sha, 10, 8, b"89").unwrap(), 10);
    let mut whole = Vec::new();
    while let Some(part) = store.part_read(&bolt, &sha, whole.len() as u64).unwrap() {
        whole.extend_from_slice(&part);
    }
    assert_eq!(whole, b"0123456789");
    // The same digest with another size is another envelope: start over.
    assert_eq!(store.part_append(&bolt, &sha, 12, 0, b"ab").unwrap(), 2);
    store.parts_remove(&bolt, &sha).unwrap();
    assert_eq!(store.part_held(&bolt, &sha).unwrap(), 0);

    // A peer leaves at most four transfers half done.
    let shas: Vec<String> = (0..6).map(|i| format!("{i:0>64}")).collect();
    for s in &shas {
        store.part_append(&bolt, s, 100, 0, b"x").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let held: Vec<u64> = shas
        .iter()
        .map(|s| store.part_held(&bolt, s).unwrap())
        .collect();
    assert_eq!(held, [0, 0, 1, 1, 1, 1], "the oldest are dropped");

    // A transfer no part reached for a week goes when any other starts.
    let db = rusqlite::Connection::open(&path).unwrap();
    let age = |sha: &str, days: i64| {
        let at = (chrono::Utc::now() - chrono::Duration::days(days))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        db.execute(
            "UPDATE inbound_parts SET received_at = ?1 WHERE envelope_sha256 = ?2",
            rusqlite::params![at, sha],
        )
        .unwrap();
    };
    age(&shas[2], 8);
    age(&shas[3], 6);
    assert_eq!(store.part_append(&bolt, &shas[4], 100, 1, b"y").unwrap(), 2);
    assert_eq!(
        store.part_held(&bolt, &shas[2]).unwrap(),
        1,
        "only new transfers sweep"
    );
    store.part_append(&other, &sha, 10, 0, b"0").unwrap();
    let held: Vec<u64> = shas[2..]
        .iter()
        .map(|s| store.part_held(&bolt, s).unwrap())
        .collect();
    assert_eq!(
        held,
        [0, 1, 2, 1],
        "the week-old one is dropped, whoever starts"
    );

    // The receipt given for an envelope, accepted or refused.
    let mut item = inbound(bolt);
    item.envelope_sha256 = "e1".repeat(32);
    store
        .accept_inbound(
            &item,
            b"accepted",
            &event(kinds::INBOUND_ACCEPTED, json!({})),
        )
        .unwrap();
    let rejection = NewRejection {
        envelope_sha256: "e2".repeat(32),
        sender: bolt,
        bundle_id: None,
        reason: "bad_signature".into(),
        detail: "no".into(),
        receipt_json: b"refused".to_vec(),
    };
    store
        .reject_inbound(&rejection, &event(kinds::INBOUND_REJECTED, json!({})))
        .unwrap();
    let found = |peer: &NodeId, sha: &str| store.envelope_receipt(peer, sha).unwrap();
    assert_eq!(
        found(&bolt, &"e1".repeat(32)).as_deref(),
        Some(&b"accepted"[..])
    );
    assert_eq!(
        found(&bolt, &"e2".repeat(32)).as_deref(),
        Some(&b"refused"[..])
    );
    assert_eq!(found(&other, &"e1".repeat(32)), None, "only to its sender");
    assert_eq!(found(&bolt, &"e3".repeat(32)), None);
}
