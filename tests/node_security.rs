//! Security properties of real nodes (`liaison serve` processes) on
//! 127.0.0.1: only pinned peers get in, unpinning takes effect at once,
//! tampered / replayed / relayed envelopes are answered with the right
//! signed receipt, and the local API demands a token and always answers
//! errors in its JSON shape. Every wait is bounded.
//!
//! The envelope tests play the sending peer in-process: a QUIC
//! [`Endpoint`] holding the sender's keys (from its node home) delivers
//! hand-made envelopes to the receiving node's daemon.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use liaison_core::envelope::{self, Draft, SignedBundle};
use liaison_core::identity::{IdentityCard, NodeId, NodeKeys, SignedCard};
use liaison_core::manifest::{sha256_hex, AgreementRef};
use liaison_core::receipt::{Outcome, RejectReason, SignedReceipt};
use liaison_core::wire::{FrameLimits, FrameType};
use liaison_core::{Kind, Tlp};
use liaison_net::{Endpoint, Handler, SharedPins};
use serde_json::{json, Value};
use support::{pinned_pair, unique_stix, wait_until, TestNode, FAST_DELIVERY, STIX};

/// Bound on one in-process QUIC request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The first delivery of a share.
fn delivery(node: &TestNode, share: &str) -> Value {
    node.share_view(share)["deliveries"][0].clone()
}

/// Unpin `name` on `node` with the CLI (`liaison peer remove`), which
/// talks to the running node's API.
fn remove_peer(node: &TestNode, name: &str) {
    let out = support::liaison()
        .args(["peer", "remove", name])
        .arg("--home")
        .arg(&node.dir)
        .env("LIAISON_TOKEN", &node.token)
        .output()
        .expect("run liaison peer remove");
    assert!(
        out.status.success(),
        "{} removes {name}: {} {}",
        node.name,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, body) = node.get(&format!("/api/peers/{name}"));
    assert_eq!(status, 404, "{name} is no longer pinned: {body}");
}

/// Ledger entries of `kind` whose body field `field` equals `value`.
fn ledger_with(node: &TestNode, kind: &str, field: &str, value: &str) -> Vec<Value> {
    node.ledger_kinds(kind)
        .into_iter()
        .filter(|e| e["body"][field] == value)
        .collect()
}

#[test]
fn unpinned_node_cannot_connect() {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = TestNode::init(tmp.path(), "bolt");
    let mut x = TestNode::init(tmp.path(), "xeno");
    x.configure(FAST_DELIVERY);
    b.start();
    x.start();
    // X pins B, but B never pinned X.
    x.pin(&b);
    // Without an agreement X may not even queue a share to B…
    let (status, body) = x.post(
        "/api/shares",
        &json!({"tlp": "green", "to": ["bolt"], "content": STIX}),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "policy_denied", "{body}");
    // …and its proposal of one never gets in.
    let proposal = x.propose(&b, support::OPEN_AGREEMENT);
    let id = proposal["id"].as_str().unwrap().to_string();
    let message = || {
        let (_, versions) = x.get(&format!("/api/agreements/{id}"));
        versions[0]["messages"][0].clone()
    };
    wait_until(
        Duration::from_secs(20),
        "X to be refused at least three times",
        || message()["attempts"].as_u64().unwrap() >= 3,
    );
    let m = message();
    assert_eq!(m["state"], "pending", "{m}");
    let err = m["last_error"].as_str().expect("an error is recorded");
    assert!(
        err.contains("connection refused") && err.contains("not pinned there"),
        "the error says B refused X: {err}"
    );
    assert!(b.agreements().is_empty(), "nothing reached B");
    assert!(b.inbox_ids().is_empty(), "nothing reached B's inbox");
    assert!(b.ledger_kinds("agreement.received").is_empty());

    // B ledgers the refusal, naming X, once per minute however often X
    // tries.
    let x_id = x.node_id();
    wait_until(Duration::from_secs(10), "B's peer.refused entry", || {
        !ledger_with(&b, "peer.refused", "peer", &x_id).is_empty()
    });
    assert_eq!(
        ledger_with(&b, "peer.refused", "peer", &x_id).len(),
        1,
        "refusals of one remote are rate-limited"
    );
    x.stop();
    b.stop();
}

#[test]
fn removed_peer_cannot_reconnect() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut a, mut b) = pinned_pair(tmp.path());

    let first = a.share("green", &["bolt"], &unique_stix(1));
    wait_until(Duration::from_secs(20), "the first delivery", || {
        delivery(&a, &first)["state"] == "delivered"
    });
    // A now holds a live, cached QUIC connection to B.

    remove_peer(&b, "acme");
    assert_eq!(b.ledger_kinds("peer.removed").len(), 1);

    // B closed A's open connection when it unpinned A, and refuses every
    // new handshake from A. (A resumed TLS session is refused too: covered
    // by crates/liaison-net/tests/transport.rs,
    // `unpinned_peer_is_cut_off_and_cannot_resume`.)
    let second = a.share("green", &["bolt"], &unique_stix(2));
    wait_until(
        Duration::from_secs(20),
        "A's attempts to be refused",
        || delivery(&a, &second)["attempts"].as_u64().unwrap() >= 2,
    );
    std::thread::sleep(Duration::from_secs(3));
    let d = delivery(&a, &second);
    assert_eq!(d["state"], "pending", "{d}");
    assert!(d["attempts"].as_u64().unwrap() >= 3, "A kept trying: {d}");
    let err = d["last_error"].as_str().expect("an error is recorded");
    assert!(
        err.contains("connection refused") && err.contains("not pinned there"),
        "the error says B refused A: {err}"
    );
    assert_eq!(b.inbox_ids(), vec![first.clone()], "only the first bundle");
    assert_eq!(b.ledger_kinds("inbound.accepted").len(), 1);
    let a_id = a.node_id();
    wait_until(Duration::from_secs(10), "B's peer.refused entry", || {
        !ledger_with(&b, "peer.refused", "peer", &a_id).is_empty()
    });

    // Pinned again: the waiting delivery completes unattended.
    b.pin(&a);
    wait_until(
        Duration::from_secs(30),
        "the pending delivery after B re-pinned A",
        || delivery(&a, &second)["state"] == "delivered",
    );
    let mut inbox = b.inbox_ids();
    inbox.sort();
    let mut want = vec![first, second];
    want.sort();
    assert_eq!(inbox, want);
    a.stop();
    b.stop();
}

/// A handler for the in-process sender: it serves nothing.
struct Silent;

impl Handler for Silent {
    async fn handle(&self, _: NodeId, _: FrameType, _: Vec<u8>) -> (FrameType, Vec<u8>) {
        (FrameType::Error, b"{}".to_vec())
    }

    fn on_refused(&self, _: Option<NodeId>, _: &str) {}
}

/// A node's keys, read from its home like the daemon does.
fn keys_of(node: &TestNode) -> NodeKeys {
    let pem = std::fs::read_to_string(node.dir.join("signing.key")).unwrap();
    let age = std::fs::read_to_string(node.dir.join("age.key")).unwrap();
    NodeKeys::from_files(&pem, &age).unwrap()
}

/// A node's verified identity card.
fn card_of(node: &TestNode) -> IdentityCard {
    SignedCard::from_json(&std::fs::read(node.dir.join("card.json")).unwrap())
        .unwrap()
        .card
}

/// A peer played in-process: its keys on a QUIC endpoint that pins only
/// the receiver.
struct FakePeer {
    endpoint: Option<Endpoint<Silent>>,
    rt: tokio::runtime::Runtime,
}

impl FakePeer {
    fn new(keys: &NodeKeys, receiver: &IdentityCard) -> FakePeer {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let endpoint = {
            let _guard = rt.enter();
            let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
            Endpoint::bind(
                addr,
                keys,
                SharedPins::from_ids([receiver.node_id]),
                FrameLimits::default(),
                Arc::new(Silent),
            )
            .unwrap()
        };
        FakePeer {
            endpoint: Some(endpoint),
            rt,
        }
    }

    /// Deliver `envelope` to `to`; the answer must be a `Receipt` frame.
    fn deliver(&self, to: &IdentityCard, envelope: &[u8]) -> Vec<u8> {
        let endpoint = self.endpoint.as_ref().unwrap();
        let (frame, body) = self
            .rt
            .block_on(endpoint.request(to, FrameType::Deliver, envelope, REQUEST_TIMEOUT))
            .expect("the receiver answers");
        assert_eq!(
            frame,
            FrameType::Receipt,
            "answer: {}",
            String::from_utf8_lossy(&body)
        );
        body
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        let _guard = self.rt.enter();
        self.endpoint.take();
    }
}

/// Nodes `acme` (stopped: the tests play it in-process with its keys) and
/// `bolt` (running), pinned to each other with [`OPEN_AGREEMENT`] in force;
/// and the agreement's reference, as a manifest names it.
fn agreed_pair(root: &std::path::Path) -> (TestNode, TestNode, AgreementRef) {
    let (mut a, b) = pinned_pair(root);
    a.stop();
    let agreement = &b.agreements()[0];
    let reference = AgreementRef {
        id: agreement["id"].as_str().unwrap().parse().unwrap(),
        version: agreement["version"].as_u64().unwrap() as u32,
        sha256: agreement["sha256"].as_str().unwrap().to_string(),
    };
    (a, b, reference)
}

/// A STIX bundle signed by `keys` (org `org`) for `to` under `agreement`,
/// and its envelope encrypted to `to` alone.
fn envelope_for(
    keys: &NodeKeys,
    org: &str,
    to: &IdentityCard,
    agreement: &AgreementRef,
) -> (SignedBundle, Vec<u8>) {
    envelope_at(keys, org, to, agreement, Tlp::Green)
}

/// [`envelope_for`] at any TLP.
fn envelope_at(
    keys: &NodeKeys,
    org: &str,
    to: &IdentityCard,
    agreement: &AgreementRef,
    tlp: Tlp,
) -> (SignedBundle, Vec<u8>) {
    let mut draft = Draft::new(Kind::Stix, tlp, vec![to.clone()]);
    draft.agreements.insert(to.node_id, agreement.clone());
    let signed = envelope::sign(keys, org, &draft, STIX.as_bytes(), Utc::now()).unwrap();
    let mut ct = Vec::new();
    envelope::encrypt_to(&signed, STIX.as_bytes(), &[to.node_id], &mut ct).unwrap();
    (signed, ct)
}

/// Verify a receipt signed by `receiver`.
fn verify_receipt(json: &[u8], receiver: &IdentityCard) -> SignedReceipt {
    SignedReceipt::verify(json, &receiver.node_id).expect("the receipt verifies")
}

fn rejection_reason(r: &SignedReceipt) -> RejectReason {
    match &r.receipt.outcome {
        Outcome::Rejected { reason, .. } => *reason,
        Outcome::Accepted => panic!("expected a rejection: {:?}", r.receipt),
    }
}

#[test]
fn tampered_envelope_gets_a_negative_receipt() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, mut b, agreement) = agreed_pair(tmp.path());
    let (a_keys, b_card) = (keys_of(&a), card_of(&b));
    let (_, good) = envelope_for(&a_keys, "acme", &b_card, &agreement);

    // Flip one byte of the age payload, well after the header (which ends
    // with the `--- MAC` line) and its 16-byte nonce.
    let mac_line = good
        .windows(5)
        .position(|w| w == b"\n--- ")
        .expect("age header");
    let header_end = mac_line
        + 1
        + good[mac_line + 1..]
            .iter()
            .position(|&c| c == b'\n')
            .unwrap();
    let at = header_end + 17 + (good.len() - header_end - 17) / 2;
    let mut tampered = good.clone();
    tampered[at] ^= 0x01;

    let peer = FakePeer::new(&a_keys, &b_card);
    let answer = peer.deliver(&b_card, &tampered);
    let receipt = verify_receipt(&answer, &b_card);
    assert_eq!(rejection_reason(&receipt), RejectReason::Corrupted);
    assert_eq!(receipt.receipt.sender, a_keys.node_id());
    assert_eq!(receipt.receipt.bundle_id, None, "nothing could be opened");
    assert_eq!(receipt.receipt.envelope_sha256, sha256_hex(&tampered));
    assert!(b.inbox_ids().is_empty());
    let rejected = b.ledger_kinds("inbound.rejected");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["body"]["reason"], "corrupted");
    assert_eq!(rejected[0]["body"]["sender"], a.node_id());
    assert!(b.ledger_kinds("inbound.accepted").is_empty());
    // The refusal is listed for the operator, with its signed receipt.
    let (status, listed) = b.get("/api/rejections");
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["reason"], "corrupted");
    assert_eq!(listed[0]["envelope_sha256"], sha256_hex(&tampered));
    let cli = support::liaison()
        .args(["inbox", "rejected", "--token", &b.token, "--home"])
        .arg(&b.dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&cli.stdout);
    assert!(cli.status.success() && text.contains("corrupted"), "{text}");

    // The same envelope untouched is accepted: the flipped byte was the
    // only problem.
    let receipt = verify_receipt(&peer.deliver(&b_card, &good), &b_card);
    assert_eq!(receipt.receipt.outcome, Outcome::Accepted);
    assert_eq!(b.inbox_ids().len(), 1);
    drop(peer);
    b.stop();
}

#[test]
fn replayed_envelope_is_not_a_second_inbox_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, mut b, agreement) = agreed_pair(tmp.path());
    let (a_keys, b_card) = (keys_of(&a), card_of(&b));
    let (signed, ct) = envelope_for(&a_keys, "acme", &b_card, &agreement);
    let bundle_id = signed.manifest.bundle_id;

    let peer = FakePeer::new(&a_keys, &b_card);
    let original = peer.deliver(&b_card, &ct);
    let receipt = verify_receipt(&original, &b_card);
    assert_eq!(receipt.receipt.outcome, Outcome::Accepted);
    assert_eq!(receipt.receipt.bundle_id, Some(bundle_id));

    // The same bytes again, on the same connection: the original receipt.
    assert_eq!(peer.deliver(&b_card, &ct), original, "replay");
    // And after B restarted (the sender redials).
    b.stop();
    b.start();
    assert_eq!(peer.deliver(&b_card, &ct), original, "replay after restart");

    assert_eq!(b.inbox_ids(), vec![bundle_id.to_string()]);
    let accepted = b.ledger_kinds("inbound.accepted");
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert_eq!(accepted[0]["body"]["bundle_id"], bundle_id.to_string());
    assert!(b.ledger_kinds("inbound.rejected").is_empty());
    drop(peer);
    b.stop();
}

#[test]
fn envelope_relayed_by_another_peer_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, mut b, agreement) = agreed_pair(tmp.path());
    let c = TestNode::init(tmp.path(), "cobalt");
    b.pin(&c);
    let b_card = card_of(&b);
    let (signed, ct) = envelope_for(&keys_of(&a), "acme", &b_card, &agreement);

    // C (pinned by B) delivers A's envelope over its own connection.
    let c_keys = keys_of(&c);
    let relay = FakePeer::new(&c_keys, &b_card);
    let receipt = verify_receipt(&relay.deliver(&b_card, &ct), &b_card);
    assert_eq!(rejection_reason(&receipt), RejectReason::SenderMismatch);
    assert_eq!(receipt.receipt.sender, c_keys.node_id(), "names the relay");
    assert_eq!(receipt.receipt.bundle_id, Some(signed.manifest.bundle_id));
    assert!(b.inbox_ids().is_empty());
    let rejected = ledger_with(&b, "inbound.rejected", "reason", "sender_mismatch");
    assert_eq!(
        rejected.len(),
        1,
        "{:?}",
        b.ledger_kinds("inbound.rejected")
    );
    assert_eq!(rejected[0]["body"]["sender"], c.node_id());
    drop(relay);

    // The refusal does not stop the originator's own delivery.
    let origin = FakePeer::new(&keys_of(&a), &b_card);
    let receipt = verify_receipt(&origin.deliver(&b_card, &ct), &b_card);
    assert_eq!(receipt.receipt.outcome, Outcome::Accepted);
    assert_eq!(b.inbox_ids(), vec![signed.manifest.bundle_id.to_string()]);
    drop(origin);
    b.stop();
}

/// Assert an error reply: `status`, JSON content type, and exactly
/// `{"error": {"code": code, "message": non-empty}}`.
fn assert_error(reply: &support::Reply, status: u16, code: &str, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.body);
    assert!(
        reply.content_type.starts_with("application/json"),
        "{what}: content type `{}`, body {}",
        reply.content_type,
        reply.body
    );
    let top = reply.body.as_object().unwrap_or_else(|| {
        panic!("{what}: not a JSON object: {}", reply.body);
    });
    assert_eq!(top.len(), 1, "{what}: {}", reply.body);
    let err = reply.body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("{what}: no error object: {}", reply.body));
    assert_eq!(err.len(), 2, "{what}: {}", reply.body);
    assert_eq!(reply.body["error"]["code"], code, "{what}: {}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.trim().is_empty(), "{what}: {}", reply.body);
}

#[test]
fn api_requires_a_token_and_errors_are_json() {
    let tmp = tempfile::tempdir().unwrap();
    let mut n = TestNode::init(tmp.path(), "node");
    let p = TestNode::init(tmp.path(), "peer");
    n.start();
    let uuid = "6f1c7a4e-8e0f-4c3b-9a51-2d7e0b9c1f00";
    let json_body: &[u8] = b"{}";

    // Every authenticated route, without a token and with a wrong one.
    let routes: Vec<(&str, String)> = vec![
        ("GET", "/api/node".into()),
        ("GET", "/api/peers".into()),
        ("POST", "/api/peers".into()),
        ("GET", "/api/peers/x".into()),
        ("DELETE", "/api/peers/x".into()),
        ("GET", "/api/shares".into()),
        ("POST", "/api/shares".into()),
        ("GET", format!("/api/shares/{uuid}")),
        ("GET", "/api/inbox".into()),
        ("GET", format!("/api/inbox/{uuid}")),
        ("GET", format!("/api/inbox/{uuid}/content")),
        ("GET", "/api/rejections".into()),
        ("GET", "/api/ledger".into()),
    ];
    let wrong = "0".repeat(64);
    for (method, path) in &routes {
        let body = (*method == "POST").then_some(("application/json", json_body));
        for token in [None, Some(wrong.as_str()), Some(""), Some(&n.token[1..])] {
            let reply = n.call(method, path, token, body);
            assert_error(
                &reply,
                401,
                "unauthorized",
                &format!("{method} {path} {token:?}"),
            );
        }
        // The right token gets past authentication.
        let reply = n.call(method, path, Some(&n.token), body);
        assert_ne!(reply.status, 401, "{method} {path}: {}", reply.body);
    }
    let health = n.call("GET", "/api/health", None, None);
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.body["status"], "ok");
    assert_eq!(health.body["node_id"], n.node_id());

    // Each endpoint's error paths, with a valid token.
    let t = Some(n.token.as_str());
    let post = |path: &str, body: &Value| {
        let bytes = serde_json::to_vec(body).unwrap();
        n.call(
            "POST",
            path,
            t,
            Some(("application/json", bytes.as_slice())),
        )
    };
    let get = |path: &str| n.call("GET", path, t, None);

    // Peers.
    assert_error(
        &post("/api/peers", &json!({"card": {"payload": "x"}})),
        422,
        "invalid_card",
        "not a card",
    );
    let mut forged = p.card_json();
    let sig = forged["signatures"][0]["sig"].as_str().unwrap().to_string();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    forged["signatures"][0]["sig"] = json!(format!("{flipped}{}", &sig[1..]));
    assert_error(
        &post("/api/peers", &json!({"card": forged})),
        422,
        "invalid_card",
        "a card whose signature does not verify",
    );
    assert_error(
        &post("/api/peers", &json!({"card": n.card_json()})),
        422,
        "invalid_card",
        "this node's own card",
    );
    assert_error(
        &post("/api/peers", &json!({"card": p.card_json(), "tier": 7})),
        400,
        "invalid_tier",
        "tier 7",
    );
    assert_error(
        &post("/api/peers", &json!({"name": "no card"})),
        422,
        "invalid_request",
        "no card field",
    );
    assert_error(
        &n.call(
            "POST",
            "/api/peers",
            t,
            Some(("application/json", b"{not json".as_slice())),
        ),
        400,
        "invalid_request",
        "a body that is not JSON",
    );
    assert_error(
        &n.call(
            "POST",
            "/api/peers",
            t,
            Some(("text/plain", b"{}".as_slice())),
        ),
        415,
        "invalid_request",
        "a body that is not declared JSON",
    );
    assert_error(&get("/api/peers/nobody"), 404, "not_found", "unknown peer");
    assert_error(
        &n.call("DELETE", "/api/peers/nobody", t, None),
        404,
        "not_found",
        "removing an unknown peer",
    );
    n.pin(&p);
    assert_error(
        &post(
            "/api/peers",
            &json!({"card": p.card_json(), "name": "peer"}),
        ),
        409,
        "conflict",
        "the same peer again",
    );
    assert_error(
        &post(
            "/api/peers",
            &json!({"card": p.card_json(), "name": "other"}),
        ),
        409,
        "conflict",
        "the same card under another name",
    );
    assert_eq!(get("/api/peers").body.as_array().unwrap().len(), 1);

    // Shares.
    let share = |tlp: &str, to: &[&str], kind: Option<&str>, content: &str| {
        let mut body = json!({"tlp": tlp, "to": to, "content": content});
        if let Some(k) = kind {
            body["kind"] = json!(k);
        }
        post("/api/shares", &body)
    };
    assert_error(
        &share("mauve", &["peer"], None, STIX),
        400,
        "invalid_tlp",
        "bad TLP",
    );
    assert_error(
        &share("green", &["nobody"], None, STIX),
        422,
        "unknown_peer",
        "share to an unknown peer",
    );
    assert_error(
        &share("green", &[], None, STIX),
        400,
        "no_recipients",
        "share to nobody",
    );
    assert_error(
        &share("green", &["peer"], Some("stix"), r#"{"type": "bundle"}"#),
        422,
        "invalid_content",
        "invalid STIX",
    );
    assert_error(
        &share("green", &["peer"], Some("pdf"), STIX),
        400,
        "invalid_kind",
        "unknown kind",
    );
    assert_error(
        &post(
            "/api/shares",
            &json!({"tlp": "green", "to": ["peer"], "content": STIX, "content_base64": "e30="}),
        ),
        400,
        "invalid_content",
        "two contents",
    );
    assert_eq!(
        n.ledger_kinds("share.refused").len(),
        1,
        "the STIX refusal is ledgered"
    );
    assert!(n.ledger_kinds("share.released").is_empty());
    assert_error(
        &get("/api/shares/not-a-uuid"),
        400,
        "invalid_id",
        "share id",
    );
    assert_error(
        &get(&format!("/api/shares/{uuid}")),
        404,
        "not_found",
        "unknown share",
    );
    assert_error(
        &get("/api/shares?limit=-1"),
        400,
        "invalid_request",
        "share limit",
    );

    // Inbox and ledger.
    assert_error(&get("/api/inbox/not-a-uuid"), 400, "invalid_id", "inbox id");
    assert_error(
        &get("/api/inbox/not-a-uuid/content"),
        400,
        "invalid_id",
        "inbox content id",
    );
    assert_error(
        &get(&format!("/api/inbox/{uuid}")),
        404,
        "not_found",
        "unknown inbox bundle",
    );
    assert_error(
        &get(&format!("/api/inbox/{uuid}/content")),
        404,
        "not_found",
        "unknown inbox content",
    );
    assert_error(
        &get("/api/inbox?limit=x"),
        400,
        "invalid_request",
        "inbox limit",
    );
    assert_error(
        &get("/api/ledger?since=abc"),
        400,
        "invalid_request",
        "ledger since",
    );

    // What axum answers by itself is in the same shape.
    assert_error(&get("/api/nothing"), 404, "not_found", "unknown route");
    assert_error(
        &n.call("GET", "/api/nothing", None, None),
        404,
        "not_found",
        "unknown route without a token",
    );
    assert_error(&get("/api/peers/a/b"), 404, "not_found", "too deep a path");
    let put = n.call(
        "PUT",
        "/api/peers",
        t,
        Some(("application/json", json_body)),
    );
    assert_error(&put, 405, "method_not_allowed", "PUT /api/peers");
    assert_error(
        &n.call("DELETE", "/api/node", t, None),
        405,
        "method_not_allowed",
        "DELETE /api/node",
    );
    assert_error(
        &get("/api/peers/%FF"),
        400,
        "invalid_request",
        "a path segment that is not UTF-8",
    );
    assert_error(
        &get("/api/inbox/%FF/content"),
        400,
        "invalid_request",
        "an id that is not UTF-8",
    );
    n.stop();
}
