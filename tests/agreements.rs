//! Sharing agreements and policy on real nodes (`liaison serve` processes
//! on 127.0.0.1, negotiating over QUIC): propose → countersign → share;
//! expired and revoked agreements refuse shares with that reason; the
//! receiver enforces its own copy inbound; redaction keeps internal
//! indicators at home. Every wait is bounded.

mod support;

use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use support::{
    agree, liaison, pin_and_agree, printed, wait_until, TestNode, FAST_DELIVERY, OPEN_AGREEMENT,
    STIX,
};

/// A started node with fast retries.
fn node(root: &std::path::Path, name: &str) -> TestNode {
    let mut n = TestNode::init(root, name);
    n.configure(FAST_DELIVERY);
    n.start();
    n
}

/// Run the CLI against `node`'s API; (success, stdout, stderr).
fn cli(node: &TestNode, args: &[&str]) -> (bool, String, String) {
    let out = liaison()
        .args(args)
        .arg("--home")
        .arg(&node.dir)
        .env("LIAISON_TOKEN", &node.token)
        .output()
        .expect("run liaison");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn deliveries_in(share: &Value, state: &str) -> usize {
    share["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["state"] == state)
        .count()
}

/// The policy refusal of `POST /api/shares`: every reason's code.
fn refused_codes(node: &TestNode, tlp: &str, to: &str, content: &str) -> (Vec<String>, String) {
    let (status, body) = node.post(
        "/api/shares",
        &json!({"tlp": tlp, "to": [to], "content": content}),
    );
    assert_eq!(status, 422, "refused: {body}");
    assert_eq!(body["error"]["code"], "policy_denied", "{body}");
    let codes = body["error"]["details"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_string())
        .collect();
    (
        codes,
        body["error"]["message"].as_str().unwrap().to_string(),
    )
}

const ACME_TO_BOLT: &str = r#"
title = "ACME ↔ Bolt IOC exchange"
valid_from = "2020-01-01T00:00:00Z"
valid_until = "2100-01-01T00:00:00Z"
[outbound]
max_tlp = "amber"
content = { kinds = ["stix"], stix_types = ["indicator", "ipv4-addr", "identity", "malware", "relationship"] }
[outbound.handling]
retention_days = 90
attribution = "must-not"
[inbound]
max_tlp = "green"
content = { kinds = ["csaf", "note"] }
"#;

#[test]
fn propose_countersign_then_share_and_policy_refuses_with_every_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = node(tmp.path(), "acme");
    let mut b = node(tmp.path(), "bolt");
    a.pin(&b);
    b.pin(&a);

    // Before any agreement nothing leaves A, and the refusal is ledgered.
    let (codes, _) = refused_codes(&a, "green", "bolt", STIX);
    assert_eq!(codes, vec!["no_agreement"]);
    assert_eq!(a.ledger_kinds("share.refused").len(), 1);

    // A proposes with the CLI; B sees it, reads it in plain words, signs it.
    let file = tmp.path().join("acme-bolt.toml");
    std::fs::write(&file, ACME_TO_BOLT).unwrap();
    let (ok, out, err) = cli(
        &a,
        &[
            "agreement",
            "propose",
            "--peer",
            "bolt",
            file.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}{err}");
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("agreement: "))
        .and_then(|l| l.split_whitespace().next())
        .expect("propose prints the id")
        .to_string();
    assert!(out.contains("acknowledged by bolt"), "{out}");
    wait_until(Duration::from_secs(20), "B to hold the proposal", || {
        b.agreement_state(&id, 1).as_deref() == Some("proposed_by_peer")
    });
    let (ok, listed, err) = cli(&b, &["agreement", "list"]);
    assert!(
        ok && listed.contains(&id) && listed.contains("proposed by the peer"),
        "{listed}{err}"
    );
    let (ok, shown, err) = cli(&b, &["agreement", "show", &id]);
    assert!(ok, "{err}");
    for words in [
        "acme → bolt:",
        "bolt → acme:",
        "up to TLP:AMBER may be sent",
        "up to TLP:GREEN may be sent",
        "STIX objects and indicator types: indicator, ipv4-addr",
        "CSAF 2.0 advisories, text notes",
        "keep at most 90 days",
        "must not attribute acme",
        "signed by 1 of 2 parties",
    ] {
        assert!(shown.contains(words), "`{words}` in:\n{shown}");
    }
    // A share under a proposal that is not countersigned is refused.
    let (codes, _) = refused_codes(&a, "green", "bolt", STIX);
    assert_eq!(codes, vec!["not_in_force"]);

    let (ok, out, err) = cli(&b, &["agreement", "sign", &id]);
    assert!(ok && out.contains("countersigned: in force"), "{out}{err}");
    wait_until(
        Duration::from_secs(20),
        "A to hold the countersignature",
        || a.agreement_state(&id, 1).as_deref() == Some("in_force"),
    );
    for n in [&a, &b] {
        assert_eq!(n.agreements()[0]["signed_by"].as_array().unwrap().len(), 2);
        assert_eq!(n.agreements()[0]["in_force_now"], true);
    }
    assert_eq!(a.ledger_kinds("agreement.proposed").len(), 1);
    assert_eq!(a.ledger_kinds("agreement.in_force").len(), 1);
    assert_eq!(b.ledger_kinds("agreement.received").len(), 1);
    assert_eq!(b.ledger_kinds("agreement.in_force").len(), 1);
    // Both hold the same signed bytes.
    assert_eq!(a.agreements()[0]["sha256"], b.agreements()[0]["sha256"]);

    // Now the share goes, naming the agreement in the signed manifest.
    let share = a.share("amber", &["bolt"], STIX);
    wait_until(Duration::from_secs(20), "the receipt", || {
        deliveries_in(&a.share_view(&share), "delivered") == 1
    });
    let (_, item) = b.get(&format!("/api/inbox/{share}"));
    let named = &item["manifest"]["recipients"][0]["agreement"];
    assert_eq!(named["id"], id.as_str(), "{item}");
    assert_eq!(named["sha256"], a.agreements()[0]["sha256"]);

    // Every reason at once: TLP above the maximum, a kind and a STIX
    // object type the agreement does not allow.
    let (codes, message) = refused_codes(&a, "red", "bolt", "a plain note");
    assert!(codes.contains(&"tlp_above_max".to_string()), "{codes:?}");
    assert!(codes.contains(&"kind_not_allowed".to_string()), "{codes:?}");
    assert!(
        codes.contains(&"red_needs_individuals".to_string()),
        "{codes:?}"
    );
    assert!(message.contains("TLP:RED is above TLP:AMBER"), "{message}");
    let mut stix: Value = serde_json::from_str(STIX).unwrap();
    stix["objects"].as_array_mut().unwrap().push(json!({
        "type": "indicator", "spec_version": "2.1",
        "id": "indicator--0b7a9b4a-4a8c-4d4f-9a5e-8e2f3c1d0a11",
        "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z",
        "pattern": "[email-addr:value = 'ceo@victim.example']", "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z"
    }));
    let (codes, message) = refused_codes(&a, "amber", "bolt", &stix.to_string());
    assert_eq!(codes, vec!["pattern_type_not_allowed"], "{message}");
    assert!(
        message.contains("indicator type `email-addr` (1 indicator(s)) not allowed to peer `bolt` under agreement v1"),
        "{message}"
    );
    let refused = a.ledger_kinds("share.refused");
    assert_eq!(refused.len(), 4, "every refusal is ledgered");
    assert_eq!(refused[3]["body"]["reason"], "policy_denied");
    a.stop();
    b.stop();
}

#[test]
fn expired_and_revoked_agreements_refuse_shares_and_revocation_reaches_the_peer() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = node(tmp.path(), "acme");
    let mut b = node(tmp.path(), "bolt");
    let mut c = node(tmp.path(), "cobalt");
    for (x, y) in [(&a, &b), (&b, &a), (&a, &c), (&c, &a)] {
        x.pin(y);
    }

    // A short agreement with Cobalt: in force, then expired.
    let until = chrono::Utc::now() + chrono::Duration::seconds(6);
    let short = OPEN_AGREEMENT.replace(
        "valid_until = \"2100-01-01T00:00:00Z\"",
        &format!("valid_until = \"{}\"", until.to_rfc3339()),
    );
    agree(&a, &c, &short);
    let first = a.share("green", &["cobalt"], STIX);
    wait_until(Duration::from_secs(20), "delivery before expiry", || {
        deliveries_in(&a.share_view(&first), "delivered") == 1
    });
    let wait = (until - chrono::Utc::now()).to_std().unwrap_or_default();
    std::thread::sleep(wait + Duration::from_millis(500));
    let (codes, message) = refused_codes(&a, "green", "cobalt", STIX);
    assert_eq!(codes, vec!["expired"], "{message}");
    assert!(message.contains("expired at"), "{message}");

    // With Bolt: in force, then B revokes while A is down; A learns of it
    // when it is back, and refuses to share under it.
    let (id, version) = agree(&a, &b, OPEN_AGREEMENT);
    a.stop();
    let (ok, out, err) = cli(
        &b,
        &["agreement", "revoke", &id, "--reason", "contract ended"],
    );
    assert!(ok && out.contains("revoked"), "{out}{err}");
    assert!(out.contains("queued for acme"), "A is down: {out}");
    assert_eq!(b.agreement_state(&id, version).as_deref(), Some("revoked"));
    a.start();
    wait_until(Duration::from_secs(30), "the revocation to reach A", || {
        a.agreement_state(&id, version).as_deref() == Some("revoked")
    });
    let revoked = a.ledger_kinds("agreement.revoked");
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["actor"], format!("peer:{}", b.node_id()));
    assert_eq!(revoked[0]["body"]["reason"], "contract ended");
    wait_until(
        Duration::from_secs(10),
        "B to see A's acknowledgement",
        || {
            let (_, v) = b.get(&format!("/api/agreements/{id}"));
            v[0]["messages"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["kind"] == "agreement.revoke" && m["state"] == "sent")
        },
    );
    let (codes, message) = refused_codes(&a, "green", "bolt", STIX);
    assert_eq!(codes, vec!["not_in_force"], "{message}");
    assert!(message.contains("is revoked"), "{message}");

    // A new version supersedes: proposed, countersigned, and shares flow.
    let (id2, v2) = agree(&a, &b, OPEN_AGREEMENT);
    assert_eq!(
        (id2.as_str(), v2),
        (id.as_str(), version + 1),
        "a new version"
    );
    let second = a.share("green", &["bolt"], STIX);
    wait_until(Duration::from_secs(20), "delivery under v2", || {
        deliveries_in(&a.share_view(&second), "delivered") == 1
    });
    for n in [&mut a, &mut b, &mut c] {
        n.stop();
    }
}

/// Rewrite, in `node`'s own database, the signed agreement it holds so that
/// its copy allows more than what the peer signed (a buggy or tampered
/// sender). The node must be stopped.
fn loosen_stored_agreement(node: &TestNode, max_tlp: &str) {
    let db = rusqlite::Connection::open(node.dir.join("liaison.db")).unwrap();
    let doc: Vec<u8> = db
        .query_row(
            "SELECT document FROM agreements WHERE state = 'in_force'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut envelope: Value = serde_json::from_slice(&doc).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut agreement: Value =
        serde_json::from_slice(&b64.decode(envelope["payload"].as_str().unwrap()).unwrap())
            .unwrap();
    for flow in agreement["flows"].as_array_mut().unwrap() {
        flow["terms"]["max_tlp"] = json!(max_tlp);
    }
    envelope["payload"] = json!(b64.encode(serde_json::to_vec(&agreement).unwrap()));
    db.execute(
        "UPDATE agreements SET document = ?1 WHERE state = 'in_force'",
        [serde_json::to_vec(&envelope).unwrap()],
    )
    .unwrap();
}

#[test]
fn a_stricter_receiver_refuses_what_a_looser_sender_sends() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = node(tmp.path(), "acme");
    let mut b = node(tmp.path(), "bolt");
    a.pin(&b);
    b.pin(&a);
    let strict = OPEN_AGREEMENT.replace("max_tlp = \"red\"", "max_tlp = \"green\"");
    agree(&a, &b, &strict);
    // A's own policy refuses AMBER…
    let (codes, _) = refused_codes(&a, "amber", "bolt", STIX);
    assert_eq!(codes, vec!["tlp_above_max"]);

    // …until A's copy says more than B signed.
    a.stop();
    loosen_stored_agreement(&a, "red");
    a.start();
    let share = a.share("amber", &["bolt"], STIX);
    wait_until(Duration::from_secs(20), "B's signed refusal", || {
        deliveries_in(&a.share_view(&share), "rejected") == 1
    });
    let d = &a.share_view(&share)["deliveries"][0];
    assert_eq!(d["receipt"]["reason"], "policy_denied", "{d}");
    let detail = d["receipt"]["signed"]["payload"].as_str().unwrap();
    let receipt: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(detail)
            .unwrap(),
    )
    .unwrap();
    let why = receipt["outcome"]["detail"].as_str().unwrap();
    assert!(
        why.contains("TLP:AMBER is above TLP:GREEN, the most allowed from peer `acme`"),
        "{why}"
    );
    // Ledgered on both sides; never in B's inbox.
    assert!(b.inbox_ids().is_empty());
    let rejected = b.ledger_kinds("inbound.rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["body"]["reason"], "policy_denied");
    let (_, listed) = b.get("/api/rejections");
    assert_eq!(listed[0]["reason"], "policy_denied");
    let stored = a.ledger_kinds("receipt.stored");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["body"]["reason"], "policy_denied");
    a.stop();
    b.stop();
}

/// A real-looking STIX bundle from a supplier-compromise investigation:
/// external C2 indicators that may be shared, and internal hosts and a
/// reporter's address that must not leave the sender.
fn investigation_bundle() -> String {
    json!({
        "type": "bundle",
        "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "objects": [
            {"type": "identity", "spec_version": "2.1",
             "id": "identity--b38dfe21-7477-40d1-aa90-5c8671ce51ca",
             "created": "2024-03-01T09:00:00.000Z", "modified": "2024-03-01T09:00:00.000Z",
             "name": "ACME CSIRT", "identity_class": "organization",
             "contact_information": "soc-lead@acme.example"},
            {"type": "indicator", "spec_version": "2.1",
             "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
             "created_by_ref": "identity--b38dfe21-7477-40d1-aa90-5c8671ce51ca",
             "created": "2024-03-01T09:00:00.000Z", "modified": "2024-03-01T09:00:00.000Z",
             "name": "C2 server of the trojanised updater",
             "pattern": "[ipv4-addr:value = '198.51.100.7']", "pattern_type": "stix",
             "valid_from": "2024-03-01T09:00:00Z"},
            {"type": "indicator", "spec_version": "2.1",
             "id": "indicator--2f8f3c1e-bb1c-4d0d-9b8e-3a8a9c0f5e21",
             "created_by_ref": "identity--b38dfe21-7477-40d1-aa90-5c8671ce51ca",
             "created": "2024-03-01T09:00:00.000Z", "modified": "2024-03-01T09:00:00.000Z",
             "name": "Build server that ran the trojanised updater",
             "pattern": "[ipv4-addr:value = '10.20.30.40']", "pattern_type": "stix",
             "valid_from": "2024-03-01T09:00:00Z"},
            {"type": "ipv4-addr", "spec_version": "2.1",
             "id": "ipv4-addr--f6e5a5d2-3b8c-5d4e-9a1b-7c6d5e4f3a2b", "value": "10.20.30.41"},
            {"type": "ipv4-addr", "spec_version": "2.1",
             "id": "ipv4-addr--0c7c1a8e-8b5d-5f2a-9c3e-1d2e3f4a5b6c", "value": "203.0.113.9"},
            {"type": "relationship", "spec_version": "2.1",
             "id": "relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad",
             "created": "2024-03-01T09:00:00.000Z", "modified": "2024-03-01T09:00:00.000Z",
             "relationship_type": "related-to",
             "source_ref": "indicator--2f8f3c1e-bb1c-4d0d-9b8e-3a8a9c0f5e21",
             "target_ref": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}
        ]
    })
    .to_string()
}

const REDACTING: &str = r#"
valid_from = "2020-01-01T00:00:00Z"
valid_until = "2100-01-01T00:00:00Z"
[outbound]
max_tlp = "amber"
content = { kinds = ["stix"], stix_types = ["*"] }
[outbound.redact]
internal_cidrs = ["10.0.0.0/8"]
personal_data_fields = ["contact_information"]
[inbound]
max_tlp = "amber"
content = { kinds = ["stix"], stix_types = ["*"] }
"#;

#[test]
fn redaction_keeps_internal_indicators_at_home() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = node(tmp.path(), "acme");
    let mut b = node(tmp.path(), "bolt");
    pin_and_agree(&a, &b, REDACTING);
    let bundle = investigation_bundle();
    let file = tmp.path().join("investigation.json");
    std::fs::write(&file, &bundle).unwrap();

    // The preview says what goes and what does not, before anything is sent.
    let args = [
        "share",
        "preview",
        "--tlp",
        "amber",
        "--to",
        "bolt",
        file.to_str().unwrap(),
    ];
    let (ok, preview, err) = cli(&a, &args);
    assert!(ok, "{err}");
    assert!(preview.contains("recipient bolt: allow"), "{preview}");
    assert!(preview.contains("(rule internal_cidrs)"), "{preview}");
    assert!(preview.contains("(rule personal_data_fields)"), "{preview}");
    assert!(preview.contains("(redacted;"), "{preview}");
    let mut with_content = args.to_vec();
    with_content.push("--content");
    let (ok, sent, _) = cli(&a, &with_content);
    assert!(
        ok && !sent.contains("10.20.30.4") && sent.contains("198.51.100.7"),
        "{sent}"
    );
    assert!(
        a.ledger_kinds("share.released").is_empty(),
        "a preview sends nothing"
    );

    let (ok, out, err) = cli(
        &a,
        &[
            "share",
            "create",
            "--tlp",
            "amber",
            "--to",
            "bolt",
            file.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("redacted:  removed"), "{out}");
    let share = printed(&out, "share");
    wait_until(Duration::from_secs(20), "the receipt", || {
        deliveries_in(&a.share_view(&share), "delivered") == 1
    });
    let copy = b
        .call(
            "GET",
            &format!("/api/inbox/{share}/content"),
            Some(&b.token),
            None,
        )
        .body;
    let copy = copy.to_string();
    for internal in ["10.20.30.40", "10.20.30.41", "soc-lead@acme.example"] {
        assert!(
            !copy.contains(internal),
            "B's copy holds {internal}: {copy}"
        );
    }
    for external in ["198.51.100.7", "203.0.113.9", "ACME CSIRT"] {
        assert!(copy.contains(external), "B's copy lost {external}: {copy}");
    }
    assert!(
        !copy.contains("relationship--44298a74"),
        "the dangling relationship went too"
    );

    // The ledger says what was removed, by rule and count, never the values.
    let released = &a.ledger_kinds("share.released")[0];
    let redacted = released["body"]["redacted"].as_array().unwrap();
    assert!(!redacted.is_empty(), "{released}");
    assert!(redacted.iter().any(|r| r["rule"] == "internal_cidrs"));
    let entry = released.to_string();
    for internal in ["10.20.30.4", "soc-lead@"] {
        assert!(
            !entry.contains(internal),
            "the ledger holds {internal}: {entry}"
        );
    }
    a.stop();
    b.stop();
}

/// ACME lets Bolt re-share GREEN (not more) to any of Bolt's peers.
const RESHARE_GREEN: &str = r#"
valid_from = "2020-01-01T00:00:00Z"
valid_until = "2100-01-01T00:00:00Z"
[outbound]
max_tlp = "amber"
content = { kinds = ["stix", "note"], stix_types = ["*"] }
reshare = { allowed = true, max_tlp = "green" }
"#;

#[test]
fn green_is_reshared_with_the_originators_signature_and_amber_never_is() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = node(tmp.path(), "acme");
    let mut b = node(tmp.path(), "bolt");
    let mut c = node(tmp.path(), "cobalt");
    for (x, y) in [(&a, &b), (&b, &a), (&b, &c), (&c, &b)] {
        x.pin(y);
    }
    agree(&a, &b, RESHARE_GREEN);
    agree(&b, &c, OPEN_AGREEMENT);

    let green = a.share("green", &["bolt"], STIX);
    let amber = a.share("amber", &["bolt"], STIX);
    wait_until(Duration::from_secs(20), "both deliveries to B", || {
        b.inbox_ids().len() == 2
    });

    // GREEN goes on to Cobalt, which A never pinned.
    let (ok, out, err) = cli(&b, &["inbox", "forward", &green, "--to", "cobalt"]);
    assert!(ok, "{out}{err}");
    let fwd = printed(&out, "share");
    wait_until(Duration::from_secs(20), "the re-share to C", || {
        deliveries_in(&b.share_view(&fwd), "delivered") == 1
    });
    let (_, item) = c.get(&format!("/api/inbox/{fwd}"));
    assert_eq!(item["sender"], b.node_id(), "B signed the re-share");
    let from = &item["manifest"]["forwarded_from"];
    assert_eq!(from["bundle_id"], green.as_str(), "{item}");
    // A's own signature travels inside, and verifies under A's node id.
    let original: liaison_core::dsse::Envelope =
        serde_json::from_value(from["envelope"].clone()).unwrap();
    let a_id: liaison_core::identity::NodeId = a.node_id().parse().unwrap();
    original
        .verify(liaison_core::manifest::MANIFEST_TYPE, &a_id.verifying_key())
        .expect("the originator's signature is intact");
    let copy = c
        .call(
            "GET",
            &format!("/api/inbox/{fwd}/content"),
            Some(&c.token),
            None,
        )
        .body;
    assert_eq!(
        copy,
        serde_json::from_str::<Value>(STIX).unwrap(),
        "unchanged"
    );
    assert_eq!(b.ledger_kinds("share.forwarded").len(), 1);

    // AMBER never goes beyond its signed audience, whatever agreements say.
    let (status, body) = b.post(
        &format!("/api/inbox/{amber}/forward"),
        &json!({"to": ["cobalt"]}),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "reshare_denied");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("TLP:AMBER never goes beyond its signed audience"),
        "{message}"
    );
    assert_eq!(c.inbox_ids().len(), 1, "only the GREEN re-share reached C");
    // And C cannot pass the re-share on: it is not the originator's bundle.
    let (status, body) = c.post(
        &format!("/api/inbox/{fwd}/forward"),
        &json!({"to": ["bolt"]}),
    );
    assert_eq!(status, 422, "{body}");
    for n in [&mut a, &mut b, &mut c] {
        n.stop();
    }
}
