//! Evidence archives on real nodes (`liaison serve` on 127.0.0.1): an
//! archive exported from node A verifies offline with nothing but A's node
//! id, says who approved, under which agreement and what the recipient
//! signed; changing any file in it, or verifying it under another node's
//! id, fails and names the file. Every wait is bounded.

mod support;

use std::io::{Cursor, Read};
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use support::{liaison, pin_and_agree, wait_until, TestNode, FAST_DELIVERY, STIX};

/// ACME → Bolt: AMBER and above need one approval.
const ONE_APPROVER: &str = r#"
title = "evidence test"
valid_from = "2020-01-01T00:00:00Z"
valid_until = "2100-01-01T00:00:00Z"
[outbound]
max_tlp = "amber"
content = { kinds = ["stix", "note"], stix_types = ["*"] }
approval = { from_tlp = "amber", approvers = 1 }
[inbound]
max_tlp = "green"
content = { kinds = ["note"] }
"#;

/// `liaison evidence verify FILE --node-id ID`, with no home and no token.
fn verify(file: &Path, node_id: &str) -> (bool, String, String) {
    let out = liaison()
        .args(["evidence", "verify"])
        .arg(file)
        .args(["--node-id", node_id])
        .env_remove("LIAISON_TOKEN")
        .env("LIAISON_HOME", "/nonexistent/liaison-home")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The files of a tar archive, in order.
fn untar(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(Cursor::new(bytes));
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (path, data)
        })
        .collect()
}

/// A tar archive of `files`.
fn retar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, path, data.as_slice())
            .unwrap();
    }
    builder.into_inner().unwrap()
}

#[test]
fn an_exported_archive_verifies_offline_and_any_change_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = TestNode::init(tmp.path(), "acme");
    let mut b = TestNode::init(tmp.path(), "bolt");
    a.configure(FAST_DELIVERY);
    a.configure("\n[ledger]\ncheckpoint_every = 1\n");
    a.start();
    b.start();
    let (agreement_id, _) = pin_and_agree(&a, &b, ONE_APPROVER);
    let ana = a.add_user("ana", "analyst");
    let alice = a.add_user("alice", "approver");
    let audrey = a.add_user("audrey", "auditor");

    // Ana drafts an AMBER share, Alice approves it, Bolt receives it.
    let (status, share) = a.call_as(
        &ana,
        "POST",
        "/api/shares",
        Some(json!({"tlp": "amber", "to": ["bolt"], "content": STIX})),
    );
    assert_eq!(status, 201, "{share}");
    assert_eq!(share["state"], "awaiting_approval");
    let id = share["id"].as_str().unwrap().to_string();
    let (status, body) = a.call_as(
        &alice,
        "POST",
        &format!("/api/approvals/{id}/approve"),
        Some(json!({"comment": "checked the indicators"})),
    );
    assert_eq!(status, 200, "{body}");
    wait_until(Duration::from_secs(30), "delivery with a receipt", || {
        a.share_view(&id)["deliveries"][0]["state"] == "delivered"
    });
    // A checkpoint covering the receipt, so that every entry is provable.
    let receipt_seq = a.ledger_kinds("receipt.stored")[0]["seq"].as_u64().unwrap();
    a.wait_for_checkpoint_over(receipt_seq);

    // Only auditors (and admins) export.
    let (status, body) = a.call_as(&ana, "GET", "/api/evidence", None);
    assert_eq!(status, 403, "{body}");
    let reply = a.call(
        "GET",
        &format!("/api/evidence?share={id}"),
        Some(&audrey),
        None,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.content_type, "application/x-tar");
    let (status, body) = a.call_as(&audrey, "GET", "/api/evidence?since=never", None);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_since")),
        "{body}"
    );

    // Export one share, and everything.
    let one = tmp.path().join("share.tar");
    let all = tmp.path().join("all.tar");
    let (ok, out, err) = a.cli(&[
        "evidence",
        "export",
        "--share",
        &id,
        "-o",
        one.to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("releases:    1"), "{out}");
    let (ok, out, err) = a.cli(&["evidence", "export", "-o", all.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let since = tmp.path().join("since.tar");
    let (ok, out, err) = a.cli(&[
        "evidence",
        "export",
        "--since",
        "2000-01-01",
        "-o",
        since.to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&one).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Offline, with A's node id only: it verifies and says what happened.
    let node_a = a.node_id();
    for file in [&one, &all, &since] {
        let (ok, out, err) = verify(file, &node_a);
        assert!(ok, "{}: {out}{err}", file.display());
        assert!(out.contains("evidence verified"), "{out}");
        assert!(out.contains(&format!("release {id}")), "{out}");
        assert!(out.contains("approved:  by alice"), "{out}");
        assert!(out.contains("checked the indicators"), "{out}");
        assert!(
            out.contains(&format!("agreement: {agreement_id} v1")),
            "{out}"
        );
        assert!(out.contains("to bolt"), "{out}");
        assert!(out.contains("receipt:   accepted"), "{out}");
        assert!(out.contains("sent:"), "{out}");
    }

    // Under B's node id: refused.
    let (ok, out, err) = verify(&one, &b.node_id());
    assert!(!ok, "{out}");
    assert!(err.contains("evidence.json.sig"), "{err}");

    // Any file changed by one byte: refused, naming that file.
    let bytes = std::fs::read(&one).unwrap();
    let files = untar(&bytes);
    let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    for expected in [
        "evidence.json",
        "evidence.json.sig",
        "ledger/entries.jsonl",
        "ledger/checkpoint.txt",
        "ledger/checkpoints.jsonl",
        "ledger/proofs.jsonl",
        "ledger/consistency.jsonl",
    ] {
        assert!(paths.contains(&expected), "{expected} in {paths:?}");
    }
    assert!(
        paths.iter().any(|p| p.starts_with("releases/")),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.starts_with("receipts/")),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.starts_with("agreements/")),
        "{paths:?}"
    );
    let changed = tmp.path().join("changed.tar");
    for (i, (path, data)) in files.iter().enumerate() {
        assert!(!data.is_empty(), "{path} is empty");
        let mut copy = files.clone();
        let at = data.len() / 2;
        copy[i].1[at] ^= 0x01;
        std::fs::write(&changed, retar(&copy)).unwrap();
        let (ok, out, err) = verify(&changed, &node_a);
        assert!(!ok, "changing {path} went unnoticed: {out}");
        assert!(
            err.contains(&format!("{path}:")),
            "changing {path}: the error does not name it: {err}"
        );
    }
    // The untouched archive, rewritten the same way, still verifies.
    std::fs::write(&changed, retar(&files)).unwrap();
    let (ok, out, err) = verify(&changed, &node_a);
    assert!(ok, "{out}{err}");

    a.stop();
    b.stop();
}
