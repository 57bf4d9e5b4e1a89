//! Updates, recall and expiry on three real nodes (`liaison serve` on
//! 127.0.0.1): ACME revises a share and both recipients see version 2
//! superseding version 1 (TAXII serves both as object versions); ACME
//! recalls it while Cobalt is down: Bolt withholds it at once, Cobalt when
//! it is back, and ACME holds both signed recall receipts; the recalled
//! bundle leaves the recipients' inbox listings and TAXII collections, is
//! ledgered on both sides and is in the evidence export. A share with an
//! expiry is treated as recalled once it passes. Every wait is bounded.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{
    liaison, pin_and_agree, printed, stix_with_indicator, wait_until, TestNode, FAST_DELIVERY,
    OPEN_AGREEMENT, STIX,
};

fn inbox(node: &TestNode, all: bool) -> Vec<Value> {
    let path = if all {
        "/api/inbox?all=true"
    } else {
        "/api/inbox"
    };
    let (status, v) = node.get(path);
    assert_eq!(status, 200, "{v}");
    v.as_array().unwrap().clone()
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["bundle_id"].as_str().unwrap().to_string())
        .collect()
}

/// Every object TAXII serves on `node` in its "Everything received"
/// collection (latest versions); and, for `object`, its versions.
fn served(node: &TestNode, object: &str) -> (Vec<Value>, Vec<String>) {
    let (status, c) = node.taxii_as(&node.token, "/taxii2/liaison/collections/");
    assert_eq!(status, 200, "{c}");

    let mut objects = Vec::new();
    let mut versions = Vec::new();
    let everything = c["collections"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|col| col["title"] == "Everything received");
    for col in everything {
        let id = col["id"].as_str().unwrap();
        let (_, o) = node.taxii_as(
            &node.token,
            &format!("/taxii2/liaison/collections/{id}/objects/"),
        );
        objects.extend(o["objects"].as_array().cloned().unwrap_or_default());
        let (status, v) = node.taxii_as(
            &node.token,
            &format!("/taxii2/liaison/collections/{id}/objects/{object}/versions/"),
        );
        if status == 200 {
            for x in v["versions"].as_array().into_iter().flatten() {
                versions.push(x.as_str().unwrap().to_string());
            }
        }
    }
    versions.sort();
    versions.dedup();
    (objects, versions)
}

#[test]
fn revise_then_recall_reaches_every_recipient_online_or_not() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = TestNode::init(tmp.path(), "acme");
    let mut b = TestNode::init(tmp.path(), "bolt");
    let mut c = TestNode::init(tmp.path(), "cobalt");
    a.configure(FAST_DELIVERY);
    a.configure("\n[ledger]\ncheckpoint_every = 1\n");
    for n in [&mut a, &mut b, &mut c] {
        n.start();
    }
    for (x, y) in [(&a, &b), (&a, &c)] {
        pin_and_agree(x, y, OPEN_AGREEMENT);
    }
    let indicator = format!("indicator--{}", uuid::Uuid::new_v4());
    let v1_file = tmp.path().join("v1.json");
    let v2_file = tmp.path().join("v2.json");
    std::fs::write(
        &v1_file,
        stix_with_indicator(&indicator, "2026-12-01T10:00:00.000Z", "C2 v1"),
    )
    .unwrap();
    std::fs::write(
        &v2_file,
        stix_with_indicator(&indicator, "2026-12-01T12:00:00.000Z", "C2 v2"),
    )
    .unwrap();

    // Version 1 to Bolt and Cobalt.
    let (ok, out, err) = a.cli(&[
        "share",
        "create",
        "--tlp",
        "green",
        "--to",
        "bolt,cobalt",
        v1_file.to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    let v1 = printed(&out, "share");
    for n in [&b, &c] {
        wait_until(Duration::from_secs(30), "version 1", || {
            ids(&inbox(n, false)).contains(&v1)
        });
    }

    // Version 2: the same recipients, naming the one it supersedes.
    let (ok, out, err) = a.cli(&["share", "revise", &v1, v2_file.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains(&format!("revises:   {v1}")), "{out}");
    assert!(out.contains("state:     released"), "{out}");
    assert!(out.contains("bolt") && out.contains("cobalt"), "{out}");
    let v2 = printed(&out, "share");
    // A version that was revised cannot be revised again.
    let (ok, _, err) = a.cli(&["share", "revise", &v1, v2_file.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains(&format!("already revised by {v2}")), "{err}");
    for n in [&b, &c] {
        wait_until(Duration::from_secs(30), "version 2", || {
            ids(&inbox(n, false)).contains(&v2)
        });
        // The listing shows the latest version; all of them on request.
        let current = inbox(n, false);
        assert_eq!(ids(&current), vec![v2.clone()], "{current:?}");
        assert_eq!(current[0]["supersedes"], v1.as_str());
        let every = inbox(n, true);
        assert_eq!(every.len(), 2);
        let old = every
            .iter()
            .find(|i| i["bundle_id"] == v1.as_str())
            .unwrap();
        assert_eq!(old["superseded_by"], v2.as_str(), "{old}");
        let (_, detail) = n.get(&format!("/api/inbox/{v2}"));
        assert_eq!(detail["manifest"]["supersedes"], v1.as_str(), "{detail}");
        assert_eq!(detail["history"][0]["bundle_id"], v1.as_str(), "{detail}");
    }
    // TAXII: the latest version by default, both under versions/.
    let (objects, versions) = served(&b, &indicator);
    let mine: Vec<&Value> = objects
        .iter()
        .filter(|o| o["id"] == indicator.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "{objects:?}");
    assert_eq!(mine[0]["modified"], "2026-12-01T12:00:00.000Z");
    assert_eq!(
        versions,
        vec!["2026-12-01T10:00:00.000Z", "2026-12-01T12:00:00.000Z"]
    );
    let (ok, out, _) = b.cli(&["inbox", "list", "--all"]);
    assert!(ok);
    assert!(
        out.contains(&format!("superseded by {}", &v2[..8])),
        "{out}"
    );

    // Cobalt goes down; ACME recalls version 2.
    c.stop();
    let (ok, _, err) = a.cli(&["share", "recall", &v2, "--reason", ""]);
    assert!(!ok);
    assert!(err.contains("needs a `reason`"), "{err}");
    let (ok, out, err) = a.cli(&[
        "share",
        "recall",
        &v2,
        "--reason",
        "wrong customer's infrastructure",
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("2 recipient(s)"), "{out}");
    let (ok, _, err) = a.cli(&["share", "recall", &v2, "--reason", "again"]);
    assert!(!ok);
    assert!(err.contains("already recalled"), "{err}");
    // Bolt, online, at once: the bundle and its earlier version are gone
    // from the listing and from TAXII; the content answers 410.
    let recall_of = |peer: &str| -> Value {
        let s = a.share_view(&v2);
        s["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["peer_name"] == peer)
            .unwrap()["recall"]
            .clone()
    };
    wait_until(Duration::from_secs(30), "bolt's recall receipt", || {
        !recall_of("bolt")["received_at"].is_null()
    });
    assert_eq!(recall_of("bolt")["outcome"], "withheld");
    assert!(
        recall_of("cobalt")["received_at"].is_null(),
        "cobalt is down"
    );
    assert!(inbox(&b, false).is_empty(), "{:?}", inbox(&b, false));
    let every = inbox(&b, true);
    assert!(
        every
            .iter()
            .all(|i| i["recalled"]["reason"] == "wrong customer's infrastructure"),
        "{every:?}"
    );
    let (status, body) = b.get(&format!("/api/inbox/{v2}/content"));
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["error"]["code"], "recalled");
    let (objects, _) = served(&b, &indicator);
    assert!(
        objects.iter().all(|o| o["id"] != indicator.as_str()),
        "{objects:?}"
    );
    let tombstones = b.ledger_kinds("inbound.recalled");
    assert_eq!(
        tombstones.len(),
        2,
        "v2 and the v1 it revises: {tombstones:?}"
    );
    assert!(tombstones
        .iter()
        .all(|t| t["body"]["content_sha256"].is_string()));

    // Cobalt comes back: store and forward delivers the recall.
    c.start();
    wait_until(Duration::from_secs(60), "cobalt's recall receipt", || {
        !recall_of("cobalt")["received_at"].is_null()
    });
    assert!(inbox(&c, false).is_empty());
    let (objects, _) = served(&c, &indicator);
    assert!(objects.iter().all(|o| o["id"] != indicator.as_str()));
    // ACME holds both signed receipts, in its ledger and its share view.
    assert_eq!(a.ledger_kinds("share.recalled").len(), 1);
    assert_eq!(a.ledger_kinds("recall.receipt_stored").len(), 2);
    let (ok, out, _) = a.cli(&["share", "show", &v2]);
    assert!(ok);
    assert!(out.contains("RECALLED:"), "{out}");
    assert_eq!(out.matches("recall:       received").count(), 2, "{out}");
    // The evidence export carries the recall and both receipts' entries.
    let last = a.ledger_kinds("recall.receipt_stored")[1]["seq"]
        .as_u64()
        .unwrap();
    a.wait_for_checkpoint_over(last);
    let auditor = a.add_user("audrey", "auditor");
    let file = tmp.path().join("evidence.tar");
    let out = liaison()
        .args(["evidence", "export", "--share", &v2, "-o"])
        .arg(&file)
        .arg("--home")
        .arg(&a.dir)
        .env("LIAISON_TOKEN", &auditor)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tar = std::fs::read(&file).unwrap();
    let mut archive = tar::Archive::new(std::io::Cursor::new(tar));
    let mut lines = String::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy() == "ledger/entries.jsonl" {
            std::io::Read::read_to_string(&mut e, &mut lines).unwrap();
        }
    }
    let kinds: Vec<String> = lines
        .lines()
        .map(|l| {
            use base64::Engine as _;
            let line: Value = serde_json::from_str(l).unwrap();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(line["entry"].as_str().unwrap())
                .unwrap();
            let entry: Value = serde_json::from_slice(&bytes).unwrap();
            entry["kind"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(kinds.iter().any(|k| k == "share.recalled"), "{kinds:?}");
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "recall.receipt_stored")
            .count(),
        2,
        "{kinds:?}"
    );
    let out = liaison()
        .args(["evidence", "verify"])
        .arg(&file)
        .args(["--node-id", &a.node_id()])
        .env_remove("LIAISON_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for n in [&mut a, &mut b, &mut c] {
        n.stop();
    }
}

#[test]
fn an_expired_share_is_treated_as_recalled_and_a_recall_can_come_first() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut a, mut b) = support::pinned_pair(tmp.path());
    let indicator = format!("indicator--{}", uuid::Uuid::new_v4());
    let file = tmp.path().join("ioc.json");
    std::fs::write(
        &file,
        stix_with_indicator(&indicator, "2026-12-01T10:00:00.000Z", "short-lived"),
    )
    .unwrap();
    let (ok, _, err) = a.cli(&[
        "share",
        "create",
        "--tlp",
        "green",
        "--to",
        "bolt",
        "--expires",
        "+1h",
        "--expires",
        "x",
        file.to_str().unwrap(),
    ]);
    assert!(!ok, "--expires given twice");
    assert!(!err.is_empty());
    let (ok, _, err) = a.cli(&[
        "share",
        "create",
        "--tlp",
        "green",
        "--to",
        "bolt",
        "--expires",
        "yesterday",
        file.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains("is not an expiry"), "{err}");
    let (ok, out, err) = a.cli(&[
        "share",
        "create",
        "--tlp",
        "green",
        "--to",
        "bolt",
        "--expires",
        "+4s",
        file.to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    let id = printed(&out, "share");
    wait_until(Duration::from_secs(30), "the bundle at bolt", || {
        ids(&inbox(&b, false)).contains(&id)
    });
    let (objects, _) = served(&b, &indicator);
    assert!(objects.iter().any(|o| o["id"] == indicator.as_str()));
    wait_until(Duration::from_secs(30), "the expiry", || {
        inbox(&b, false).is_empty()
    });
    assert_eq!(inbox(&b, true)[0]["expired"], true);
    let (status, body) = b.get(&format!("/api/inbox/{id}/content"));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (410, Some("expired")),
        "{body}"
    );
    let (objects, _) = served(&b, &indicator);
    assert!(objects.iter().all(|o| o["id"] != indicator.as_str()));

    // A recall that overtakes its bundle: the bundle is refused on arrival.
    b.stop();
    let (ok, out, err) = a.cli(&[
        "share",
        "create",
        "--tlp",
        "green",
        "--to",
        "bolt",
        file.to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    let late = printed(&out, "share");
    let (ok, out, err) = a.cli(&["share", "recall", &late, "--reason", "sent by mistake"]);
    assert!(ok, "{out}{err}");
    b.start();
    wait_until(Duration::from_secs(60), "the delivery's outcome", || {
        a.share_view(&late)["deliveries"][0]["state"] != "pending"
            && !a.share_view(&late)["deliveries"][0]["recall"]["received_at"].is_null()
    });
    let d = &a.share_view(&late)["deliveries"][0];
    // Whichever arrived first, the bundle is not in Bolt's inbox.
    assert!(!ids(&inbox(&b, false)).contains(&late), "{d}");
    assert!(
        ["withheld", "not_received"].contains(&d["recall"]["outcome"].as_str().unwrap()),
        "{d}"
    );
    a.stop();
    b.stop();
}

#[test]
fn bundles_above_the_configured_maximum_are_refused_clearly_on_both_sides() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = TestNode::init(tmp.path(), "acme");
    let mut b = TestNode::init(tmp.path(), "bolt");
    a.configure(&format!(
        "{FAST_DELIVERY}\n[limits]\nmax_bundle_bytes = 4096\n"
    ));
    b.configure("\n[limits]\nmax_bundle_bytes = 300\n");
    for n in [&mut a, &mut b] {
        n.start();
    }
    pin_and_agree(&a, &b, OPEN_AGREEMENT);
    // Above ACME's own limit: refused before anything is parsed or sealed.
    let big = format!("{{\"note\": \"{}\"}}", "x".repeat(5000));
    let (status, v) = a.post(
        "/api/shares",
        &json!({"tlp": "green", "to": ["bolt"], "kind": "note", "content": big}),
    );
    assert_eq!(status, 413, "{v}");
    assert_eq!(v["error"]["code"], "too_large");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("up to 4096 bytes ([limits] max_bundle_bytes)"),
        "{v}"
    );
    assert_eq!(a.ledger_kinds("share.refused").len(), 1);
    // The same from the CLI, whose upload streams: refused as it arrives.
    let file = tmp.path().join("big.note");
    std::fs::write(&file, &big).unwrap();
    let (ok, out, err) = a.cli(&[
        "share",
        "create",
        "--tlp",
        "green",
        "--kind",
        "note",
        "--to",
        "bolt",
        file.to_str().unwrap(),
    ]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("more than 4096 bytes") && err.contains("max_bundle_bytes"),
        "{err}"
    );
    assert_eq!(a.ledger_kinds("share.refused").len(), 2);
    // Within ACME's limit but above Bolt's: a signed negative receipt.
    let id = a.share("green", &["bolt"], STIX);
    wait_until(Duration::from_secs(30), "bolt's refusal", || {
        a.share_view(&id)["deliveries"][0]["state"] == "rejected"
    });
    assert_eq!(
        a.share_view(&id)["deliveries"][0]["receipt"]["reason"],
        "too_large"
    );
    let (_, r) = b.get("/api/rejections");
    assert!(
        r[0]["detail"]
            .as_str()
            .unwrap()
            .contains("exceeds the limit of 300 bytes"),
        "{r}"
    );
    // A limit above the ceiling is a clear start-up error.
    b.stop();
    let config = b.dir.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("max_bundle_bytes = 300", "max_bundle_bytes = 99999999999"),
    )
    .unwrap();
    let mut child = liaison()
        .args(["serve", "--home"])
        .arg(&b.dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve started with a limit above the ceiling");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains("is above the ceiling"), "{err}");
    a.stop();
}
