//! Supply-chain incident coordination on three real nodes (`liaison serve`
//! on 127.0.0.1): ACME opens an incident implicating Bolt and Cobalt and
//! shares a TLP:AMBER advisory (approved by a legal approver); Bolt
//! acknowledges, Cobalt's node receives but nobody acknowledges, Cobalt's
//! deadline passes and ACME escalates (the test's webhook receiver gets the
//! POST), then Cobalt acknowledges; the report shows it all in order with
//! ledger references. A restart of ACME neither loses nor repeats an
//! escalation. Every wait is bounded; the webhook listens on 127.0.0.1.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use support::{pin_and_agree, printed, wait_until, TestNode, FAST_DELIVERY};

/// ACME → peer: advisories up to AMBER, one legal approval from AMBER.
const ADVISORIES: &str = r#"
title = "ACME advisories to suppliers"
valid_from = "2020-01-01T00:00:00Z"
valid_until = "2100-01-01T00:00:00Z"
[outbound]
max_tlp = "amber"
content = { kinds = ["csaf", "stix", "note"], stix_types = ["*"] }
approval = { from_tlp = "amber", approvers = 1 }
"#;

const CSAF: &str = include_str!("data/csaf-bsi-2022-0001.json");

/// A webhook receiver on 127.0.0.1: every JSON body POSTed to it.
struct Hook {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

fn webhook() -> Hook {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/incident", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0u8; len];
            if reader.read_exact(&mut body).is_ok() {
                if let Ok(v) = serde_json::from_slice(&body) {
                    seen.lock().unwrap().push(v);
                }
            }
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        }
    });
    Hook { url, bodies }
}

fn incident(a: &TestNode, id: &str) -> Value {
    let (status, v) = a.get(&format!("/api/incidents/{id}"));
    assert_eq!(status, 200, "{v}");
    v
}

fn notification<'a>(i: &'a Value, peer: &str) -> &'a Value {
    i["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["peer_name"] == peer)
        .unwrap_or_else(|| panic!("no notification for {peer}: {i}"))
}

#[test]
fn an_incident_notifies_escalates_and_reports_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let hook = webhook();
    let mut a = TestNode::init(tmp.path(), "acme");
    let mut b = TestNode::init(tmp.path(), "bolt");
    let mut c = TestNode::init(tmp.path(), "cobalt");
    // Critical incidents, tier 3 (Cobalt): receipt within 3 s and
    // acknowledgement within 4 s; tier 1 (Bolt): 30 s and 120 s. A test's
    // minutes are seconds.
    a.configure(&format!(
        "{FAST_DELIVERY}\n[incidents]\nwebhook = \"{}\"\ncheck_interval_ms = 200\n\
         [[incidents.deadlines]]\nseverity = \"critical\"\ntier = 3\nreceipt_s = 3\nack_s = 4\n\
         [[incidents.deadlines]]\nseverity = \"critical\"\ntier = 1\nreceipt_s = 30\nack_s = 120\n",
        hook.url
    ));
    for n in [&mut a, &mut b, &mut c] {
        n.start();
    }
    for (x, y) in [(&a, &b), (&a, &c)] {
        pin_and_agree(x, y, ADVISORIES);
    }
    let (ok, out, err) = a.cli_as(&a.token, &["peer", "roster", "bolt", "--tier", "1"]);
    assert!(ok, "{out}{err}");
    let ana = a.add_user("ana", "analyst");
    let lena = a.add_user("lena", "approver");
    let bea = b.add_user("bea", "analyst");
    let cem = c.add_user("cem", "analyst");

    // ACME opens the incident and shares the advisory with both.
    let (ok, out, err) = a.cli_as(
        &ana,
        &[
            "incident",
            "open",
            "--title",
            "Compromised build of acme-updater",
            "--severity",
            "critical",
            "--trigger",
            "upstream_dependency_suspected",
            "--peer",
            "bolt,cobalt",
            "--dependency",
            "acme-updater@4.2.1",
        ],
    );
    assert!(ok, "{out}{err}");
    let id = printed(&out, "incident");
    assert!(
        out.contains("yes: an upstream dependency is suspected"),
        "{out}"
    );
    let (status, share) = a.call_as(
        &ana,
        "POST",
        "/api/shares",
        Some(json!({"tlp": "amber", "to": ["bolt", "cobalt"], "content": CSAF, "incident": id})),
    );
    assert_eq!(status, 201, "{share}");
    assert_eq!(share["state"], "awaiting_approval");
    let share_id = share["id"].as_str().unwrap().to_string();
    assert!(
        incident(&a, &id)["notifications"]
            .as_array()
            .unwrap()
            .is_empty(),
        "not notified before approval"
    );
    let (status, v) = a.call_as(
        &lena,
        "POST",
        &format!("/api/approvals/{share_id}/approve"),
        Some(json!({"comment": "cleared by legal"})),
    );
    assert_eq!(status, 200, "{v}");

    // Both nodes receive.
    wait_until(Duration::from_secs(30), "both receipts", || {
        let i = incident(&a, &id);
        i["notifications"].as_array().unwrap().len() == 2
            && i["notifications"]
                .as_array()
                .unwrap()
                .iter()
                .all(|n| !n["received_at"].is_null())
    });
    // Bolt acknowledges at once.
    let (ok, out, err) = b.cli_as(
        &bea,
        &["inbox", "ack", &share_id, "--comment", "patching now"],
    );
    assert!(ok, "{out}{err}");
    wait_until(Duration::from_secs(30), "bolt's acknowledgement", || {
        !notification(&incident(&a, &id), "bolt")["acknowledged_at"].is_null()
    });
    // Cobalt's acknowledgement deadline passes: escalated, and the webhook
    // gets the POST, naming the peer and the deadline.
    wait_until(Duration::from_secs(30), "the escalation webhook", || {
        !hook.bodies.lock().unwrap().is_empty()
    });
    let posted = hook.bodies.lock().unwrap()[0].clone();
    assert_eq!(posted["event"], "incident.escalated", "{posted}");
    assert_eq!(posted["incident_id"], id.as_str());
    assert_eq!(posted["peer_name"], "cobalt");
    assert_eq!(posted["deadline"], "ack");
    assert!(posted["ledger_seq"].is_u64(), "{posted}");
    let i = incident(&a, &id);
    let escalations = i["escalations"].as_array().unwrap();
    assert_eq!(escalations.len(), 1, "only cobalt, only once: {i}");
    assert_eq!(escalations[0]["peer"], "cobalt");
    let (ok, out, _) = a.cli_as(&ana, &["incident", "show", &id]);
    assert!(ok);
    assert!(out.contains("ESCALATED"), "{out}");

    // A restart of ACME: the escalation is neither lost nor repeated.
    a.stop();
    a.start();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        incident(&a, &id)["escalations"].as_array().unwrap().len(),
        1
    );
    assert_eq!(a.ledger_kinds("incident.escalated").len(), 1);

    // Then Cobalt acknowledges.
    let (ok, out, err) = c.cli_as(
        &cem,
        &["inbox", "ack", &share_id, "--comment", "sorry, on it"],
    );
    assert!(ok, "{out}{err}");
    wait_until(Duration::from_secs(30), "cobalt's acknowledgement", || {
        !notification(&incident(&a, &id), "cobalt")["acknowledged_at"].is_null()
    });

    // The report: everything, in order, each line with its ledger entry.
    let (status, report) = a.get(&format!("/api/incidents/{id}/report"));
    assert_eq!(status, 200, "{report}");
    let timeline = report["timeline"].as_array().unwrap();
    let line = |kind: &str, peer: Option<&str>| -> usize {
        timeline
            .iter()
            .position(|e| e["kind"] == kind && peer.is_none_or(|p| e["peer"] == p))
            .unwrap_or_else(|| panic!("no {kind} {peer:?} in {report}"))
    };
    let order = [
        line("opened", None),
        line("approved", None),
        line("notified", Some("cobalt")),
        line("received", Some("cobalt")),
        line("acknowledged", Some("bolt")),
        line("escalated", Some("cobalt")),
        line("acknowledged", Some("cobalt")),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}: {report}");
    let times: Vec<&str> = timeline.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(
        timeline.iter().all(|e| e["ledger_seq"].is_u64()),
        "{report}"
    );
    assert_eq!(report["summary"]["peers_notified"], 2);
    assert_eq!(report["summary"]["peers_received"], 2);
    assert_eq!(report["summary"]["peers_acknowledged"], 2);
    assert_eq!(report["summary"]["escalations"], 1);
    // Each referenced entry is the ledger's own.
    let (_, ledger) = a.get("/api/ledger?limit=10000");
    for e in timeline {
        let seq = e["ledger_seq"].as_u64().unwrap();
        let entry = ledger
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["seq"] == seq)
            .unwrap_or_else(|| panic!("ledger #{seq} missing"));
        assert_eq!(
            entry["time"].as_str().map(|t| &t[..19]),
            e["at"].as_str().map(|t| &t[..19])
        );
    }
    let (ok, md, err) = a.cli_as(&ana, &["incident", "report", &id]);
    assert!(ok, "{err}");
    assert!(md.contains("Compromised build of acme-updater"), "{md}");
    assert!(md.contains("acme-updater@4.2.1"), "{md}");
    assert!(md.contains("| #"), "ledger references: {md}");
    for n in [&mut a, &mut b, &mut c] {
        n.stop();
    }
}

/// GET a TAXII 2.1 resource on `node` as `token`: the JSON answer.
fn taxii(node: &TestNode, token: &str, path: &str) -> Value {
    let (status, body) = node.taxii_as(token, path);
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// A STIX bundle whose indicator has a fresh id, named `name`.
fn bundle_with_indicator(name: &str) -> (String, String) {
    let indicator = format!("indicator--{}", uuid::Uuid::new_v4());
    let stix = support::stix_with_indicator(&indicator, "2014-05-08T09:00:00.000Z", name);
    (stix, indicator)
}

#[test]
fn exercise_content_is_labelled_and_never_in_the_real_taxii_feeds() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut a, mut b) = support::pinned_pair(tmp.path());
    let ana = a.add_user("ana", "analyst");
    let bea = b.add_user("bea", "analyst");
    let (status, drill) = a.call_as(
        &ana,
        "POST",
        "/api/incidents",
        Some(
            json!({"title": "Quarterly supplier drill", "severity": "high",
                    "trigger": "third_party_implicated", "peers": ["bolt"], "exercise": true}),
        ),
    );
    assert_eq!(status, 201, "{drill}");
    assert_eq!(drill["exercise"], true);
    let drill_id = drill["id"].as_str().unwrap();
    let (exercise_stix, exercise_indicator) = bundle_with_indicator("drill indicator");
    let (real_stix, real_indicator) = bundle_with_indicator("real indicator");
    let (status, ex) = a.call_as(
        &ana,
        "POST",
        "/api/shares",
        Some(
            json!({"tlp": "green", "to": ["bolt"], "content": exercise_stix, "incident": drill_id}),
        ),
    );
    assert_eq!(status, 201, "{ex}");
    let (status, real) = a.call_as(
        &ana,
        "POST",
        "/api/shares",
        Some(json!({"tlp": "green", "to": ["bolt"], "content": real_stix})),
    );
    assert_eq!(status, 201, "{real}");
    let (ex_id, real_id) = (ex["id"].as_str().unwrap(), real["id"].as_str().unwrap());
    wait_until(Duration::from_secs(30), "both bundles at bolt", || {
        let ids = b.inbox_ids();
        ids.iter().any(|i| i == ex_id) && ids.iter().any(|i| i == real_id)
    });
    // Labelled in the recipient's inbox, from the signed manifest.
    let (status, inbox) = b.call_as(&bea, "GET", "/api/inbox", None);
    assert_eq!(status, 200);
    let flag = |id: &str| {
        inbox
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["bundle_id"] == id)
            .unwrap()["exercise"]
            .clone()
    };
    assert_eq!(flag(ex_id), true);
    assert_eq!(flag(real_id), false);
    let (_, detail) = b.call_as(&bea, "GET", &format!("/api/inbox/{ex_id}"), None);
    assert_eq!(detail["manifest"]["exercise"], true, "{detail}");
    // …in the CLI's inbox list and show, not on the real bundle.
    let (ok, list, err) = b.cli_as(&bea, &["inbox", "list"]);
    assert!(ok, "{err}");
    let line = |id: &str| {
        list.lines()
            .find(|l| l.contains(id))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line(ex_id).contains("EXERCISE"), "{list}");
    assert!(!line(real_id).contains("EXERCISE"), "{list}");
    let (ok, shown, _) = b.cli_as(&bea, &["inbox", "show", ex_id]);
    assert!(ok);
    assert!(shown.starts_with("EXERCISE"), "{shown}");
    // TAXII: the real indicator is served, the exercise one in no collection.
    let collections = taxii(&b, &bea, "/taxii2/liaison/collections/");
    let mut served = Vec::new();
    for c in collections["collections"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        let objects = taxii(
            &b,
            &bea,
            &format!("/taxii2/liaison/collections/{id}/objects/"),
        );
        for o in objects["objects"].as_array().into_iter().flatten() {
            served.push(o["id"].as_str().unwrap_or_default().to_string());
        }
    }
    assert!(served.contains(&real_indicator), "{served:?}");
    assert!(!served.contains(&exercise_indicator), "{served:?}");
    // The report says it is an exercise.
    let (ok, md, err) = a.cli_as(&ana, &["incident", "report", drill_id]);
    assert!(ok, "{err}");
    assert!(md.contains("EXERCISE"), "{md}");
    a.stop();
    b.stop();
}

/// Joint actions and decisions both ways: ACME ↔ Bolt may exchange
/// coordination bundles (ACME's need one legal approval from AMBER, Bolt's
/// none); Cobalt may send ACME coordination bundles too, but is not part of
/// the incident.
const JOINT: &str = r#"
title = "ACME and supplier: incident coordination"
valid_from = "2020-01-01T00:00:00Z"
valid_until = "2100-01-01T00:00:00Z"
[outbound]
max_tlp = "amber"
content = { kinds = ["csaf", "coordination"] }
approval = { from_tlp = "amber", approvers = 1 }
[inbound]
max_tlp = "amber"
content = { kinds = ["coordination"] }
"#;

fn item<'a>(i: &'a Value, text: &str) -> &'a Value {
    i["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["text"].as_str().is_some_and(|t| t.contains(text)))
        .unwrap_or_else(|| panic!("no item {text:?}: {i}"))
}

#[test]
fn joint_actions_and_decisions_flow_both_ways_under_the_agreements() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = TestNode::init(tmp.path(), "acme");
    let mut b = TestNode::init(tmp.path(), "bolt");
    let mut c = TestNode::init(tmp.path(), "cobalt");
    a.configure(FAST_DELIVERY);
    b.configure(FAST_DELIVERY);
    c.configure(FAST_DELIVERY);
    for n in [&mut a, &mut b, &mut c] {
        n.start();
    }
    for (x, y) in [(&a, &b), (&a, &c)] {
        pin_and_agree(x, y, JOINT);
    }
    let ana = a.add_user("ana", "analyst");
    let lena = a.add_user("lena", "approver");
    let bea = b.add_user("bea", "analyst");

    let (ok, out, err) = a.cli_as(
        &ana,
        &[
            "incident",
            "open",
            "--title",
            "Malicious acme-sdk release",
            "--severity",
            "high",
            "--trigger",
            "third_party_implicated",
            "--peer",
            "bolt",
        ],
    );
    assert!(ok, "{out}{err}");
    let id = printed(&out, "incident");
    // Nothing to share yet: a clear refusal.
    let (ok, _, err) = a.cli_as(&ana, &["incident", "share", &id]);
    assert!(!ok);
    assert!(err.contains("has no actions or decisions yet"), "{err}");

    // An action for Bolt and a decision, each one ledger entry.
    let (ok, out, err) = a.cli_as(
        &ana,
        &[
            "incident",
            "action",
            &id,
            "Yank acme-sdk 3.1.0 from the mirror",
            "--owner",
            "bolt",
            "--due",
            "2026-12-05",
        ],
    );
    assert!(ok, "{out}{err}");
    let action = printed(&out, "item");
    let (ok, out, err) = a.cli_as(
        &ana,
        &[
            "incident",
            "decide",
            &id,
            "Pause automatic SDK updates until the rebuild",
        ],
    );
    assert!(ok, "{out}{err}");
    assert_eq!(a.ledger_kinds("incident.item_updated").len(), 2);
    // Bad input is named.
    let (ok, _, err) = a.cli_as(
        &ana,
        &["incident", "update", &id, &action, "--status", "recorded"],
    );
    assert!(!ok);
    assert!(err.contains("an action cannot be recorded"), "{err}");

    // Shared under the agreement: AMBER needs ACME's legal approval first.
    let (ok, out, err) = a.cli_as(&ana, &["incident", "share", &id]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("state: awaiting_approval"), "{out}");
    let share = printed(&out, "share");
    let (status, v) = a.call_as(
        &lena,
        "POST",
        &format!("/api/approvals/{share}/approve"),
        Some(json!({"comment": "ok to share the action list"})),
    );
    assert_eq!(status, 200, "{v}");

    // Bolt files ACME's incident with both items.
    wait_until(Duration::from_secs(30), "the joint list at bolt", || {
        let (status, v) = b.get(&format!("/api/incidents/{id}"));
        status == 200 && v["items"].as_array().is_some_and(|i| i.len() == 2)
    });
    let at_b = incident(&b, &id);
    assert_eq!(at_b["origin"], "acme", "{at_b}");
    assert_eq!(at_b["title"], "Malicious acme-sdk release");
    assert_eq!(item(&at_b, "Yank")["owner"], "bolt");
    assert_eq!(item(&at_b, "Yank")["due"], "2026-12-05");
    assert_eq!(item(&at_b, "Pause")["status"], "recorded");
    assert_eq!(b.ledger_kinds("incident.joined").len(), 1);
    // Sharing the list is not a notification with deadlines.
    assert!(incident(&a, &id)["notifications"]
        .as_array()
        .unwrap()
        .is_empty());

    // Bolt closes its action and shares back (its flow needs no approval).
    let (ok, out, err) = b.cli_as(
        &bea,
        &["incident", "update", &id, &action, "--status", "done"],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("done (revision 2 by bolt: bea)"), "{out}");
    let (ok, out, err) = b.cli_as(&bea, &["incident", "show", &id]);
    assert!(ok, "{err}");
    assert!(out.contains("opened by:    acme"), "{out}");
    assert!(out.contains("done"), "{out}");
    let (ok, out, err) = b.cli_as(&bea, &["incident", "share", &id]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("state: released"), "{out}");
    wait_until(Duration::from_secs(30), "bolt's update at acme", || {
        item(&incident(&a, &id), "Yank")["status"] == "done"
    });
    let at_a = incident(&a, &id);
    assert_eq!(item(&at_a, "Yank")["revision"], 2);
    assert_eq!(item(&at_a, "Yank")["updated_by"], "bolt: bea");
    assert_eq!(item(&at_a, "Pause")["status"], "recorded");
    // One list: both sides hold the same items.
    let sorted = |v: &Value| {
        let mut items = v["items"].as_array().unwrap().clone();
        items.sort_by_key(|i| i["id"].as_str().unwrap().to_string());
        items
    };
    assert_eq!(sorted(&at_a), sorted(&incident(&b, &id)));

    // The report: the action opened and closed, the decision, each with
    // its ledger entry.
    let (status, report) = a.get(&format!("/api/incidents/{id}/report"));
    assert_eq!(status, 200, "{report}");
    let timeline = report["timeline"].as_array().unwrap();
    let find = |kind: &str| {
        timeline
            .iter()
            .position(|e| e["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}: {report}"))
    };
    assert!(find("action_opened") < find("action_closed"), "{report}");
    assert!(timeline[find("action_closed")]["text"]
        .as_str()
        .unwrap()
        .contains("from bolt's joint log"));
    assert!(timeline.iter().all(|e| e["ledger_seq"].is_u64()));
    assert_eq!(report["summary"]["decisions"], 1);
    assert_eq!(report["summary"]["actions_closed"], 1);
    assert_eq!(report["summary"]["actions_open"], 0);

    // Cobalt is not part of the incident: its joint log for it is refused
    // by ACME's node, recorded with the reason, and changes nothing.
    let forged = json!({
        "v": 1,
        "incident": {"id": id, "origin": a.node_id(), "title": "x", "severity": "high"},
        "items": [{
            "id": action, "kind": "action", "text": "nothing to do", "status": "cancelled",
            "revision": 9, "updated_at": "2026-12-01T00:00:00Z", "updated_by": "cobalt: eve"
        }]
    });
    let (status, v) = c.post(
        "/api/shares",
        &json!({"tlp": "amber", "to": ["acme"], "kind": "coordination", "content": forged.to_string()}),
    );
    assert_eq!(status, 201, "{v}");
    wait_until(
        Duration::from_secs(30),
        "acme's refusal of cobalt's log",
        || {
            let (_, r) = a.get("/api/rejections");
            r.as_array().unwrap().iter().any(|x| {
                x["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("does not implicate"))
            })
        },
    );
    assert_eq!(item(&incident(&a, &id), "Yank")["revision"], 2);
    for n in [&mut a, &mut b, &mut c] {
        n.stop();
    }
}

/// A deadline that passes while the originator is down is escalated when
/// it comes back: deadlines are read from the ledger, not from memory.
#[test]
fn a_deadline_that_passes_while_the_originator_is_down_is_escalated_after_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let hook = webhook();
    let mut a = TestNode::init(tmp.path(), "acme");
    let mut b = TestNode::init(tmp.path(), "bolt");
    a.configure(&format!(
        "{FAST_DELIVERY}\n[incidents]\nwebhook = \"{}\"\ncheck_interval_ms = 200\n\
         [[incidents.deadlines]]\nseverity = \"high\"\ntier = 3\nreceipt_s = 4\nack_s = 5\n",
        hook.url
    ));
    a.start();
    b.start();
    pin_and_agree(&a, &b, JOINT);
    let ana = a.add_user("ana", "analyst");
    let (status, inc) = a.call_as(
        &ana,
        "POST",
        "/api/incidents",
        Some(json!({"title": "Leaked CI token", "severity": "high", "peers": ["bolt"]})),
    );
    assert_eq!(status, 201, "{inc}");
    let id = inc["id"].as_str().unwrap().to_string();
    let (status, share) = a.call_as(
        &ana,
        "POST",
        "/api/shares",
        Some(json!({"tlp": "green", "to": ["bolt"], "content": CSAF, "incident": id})),
    );
    assert_eq!(status, 201, "{share}");
    wait_until(Duration::from_secs(30), "bolt's receipt", || {
        !notification(&incident(&a, &id), "bolt")["received_at"].is_null()
    });
    let due = notification(&incident(&a, &id), "bolt")["ack_due"]
        .as_str()
        .unwrap()
        .to_string();
    // ACME goes down before the acknowledgement deadline, which passes.
    a.stop();
    assert!(hook.bodies.lock().unwrap().is_empty(), "not escalated yet");
    let due_at = chrono::DateTime::parse_from_rfc3339(&due).unwrap();
    while chrono::Utc::now() < due_at + chrono::Duration::seconds(1) {
        std::thread::sleep(Duration::from_millis(200));
    }
    a.start();
    wait_until(
        Duration::from_secs(30),
        "the escalation after restart",
        || !hook.bodies.lock().unwrap().is_empty(),
    );
    let posted = hook.bodies.lock().unwrap()[0].clone();
    assert_eq!(posted["deadline"], "ack", "{posted}");
    assert_eq!(posted["peer_name"], "bolt");
    assert_eq!(
        incident(&a, &id)["escalations"].as_array().unwrap().len(),
        1
    );
    a.stop();
    b.stop();
}
