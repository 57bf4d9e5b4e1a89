//! Release approvals on real nodes (`liaison serve` on 127.0.0.1): roles
//! enforced by the server, no self-approval, one decision per person, N
//! distinct approvals before a share is sealed, and the approvals inside
//! the signed bundle the recipient stores. Every wait is bounded.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{liaison, pin_and_agree, wait_until, TestNode, FAST_DELIVERY, STIX};

/// ACME → Bolt: AMBER and above need two distinct approvals.
const TWO_APPROVERS: &str = r#"
valid_from = "2020-01-01T00:00:00Z"
valid_until = "2100-01-01T00:00:00Z"
[outbound]
max_tlp = "amber"
content = { kinds = ["stix", "note"], stix_types = ["*"] }
approval = { from_tlp = "amber", approvers = 2 }
[inbound]
max_tlp = "green"
content = { kinds = ["note"] }
"#;

fn approve(node: &TestNode, token: &str, share: &str) -> (u16, Value) {
    node.call_as(
        token,
        "POST",
        &format!("/api/approvals/{share}/approve"),
        Some(json!({"comment": "checked the indicators"})),
    )
}

#[test]
fn a_share_needing_two_approvals_is_released_after_the_second_distinct_one() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = TestNode::init(tmp.path(), "acme");
    let mut b = TestNode::init(tmp.path(), "bolt");
    a.configure(FAST_DELIVERY);
    a.start();
    b.start();
    pin_and_agree(&a, &b, TWO_APPROVERS);
    let ana = a.add_user("ana", "analyst");
    let alice = a.add_user("alice", "approver");
    let bob = a.add_user("bob", "approver");
    let carol = a.add_user("carol", "approver");
    let audrey = a.add_user("audrey", "auditor");

    // Alice (an approver) drafts an AMBER share: it waits, unsealed.
    let (status, share) = a.call_as(
        &alice,
        "POST",
        "/api/shares",
        Some(json!({"tlp": "amber", "to": ["bolt"], "content": STIX})),
    );
    assert_eq!(status, 201, "{share}");
    assert_eq!(share["state"], "awaiting_approval");
    assert_eq!(share["approvals_required"], 2);
    assert_eq!(
        share["deliveries"].as_array().unwrap().len(),
        0,
        "not sealed"
    );
    let id = share["id"].as_str().unwrap().to_string();
    assert_eq!(a.ledger_kinds("share.awaiting_approval").len(), 1);

    // The queue shows it, with the policy decision.
    let (status, queue) = a.call_as(&bob, "GET", "/api/approvals", None);
    assert_eq!(status, 200, "{queue} {}", a.log());
    assert_eq!(queue[0]["share"]["id"], id.as_str());
    assert_eq!(queue[0]["still_needed"], 2);
    assert_eq!(
        queue[0]["share"]["policy"]["decision"]["decision"],
        "needs_approval"
    );

    // The drafter cannot approve, nor can analysts, auditors or admins.
    let (status, body) = approve(&a, &alice, &id);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("self_approval")),
        "{body}"
    );
    for token in [&ana, &audrey, &a.token] {
        let (status, body) = approve(&a, token, &id);
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let (status, _) = a.call_as(&ana, "GET", "/api/approvals", None);
    assert_eq!(status, 403, "analysts do not see the queue");

    // Bob's approval counts once; his second does not count.
    let (status, after) = approve(&a, &bob, &id);
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["approvals"], 1);
    assert_eq!(after["still_needed"], 1);
    assert_eq!(after["share"]["state"], "awaiting_approval");
    let (status, again) = approve(&a, &bob, &id);
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("already_decided")),
        "{again}"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        b.inbox_ids().is_empty(),
        "nothing is released after one approval"
    );
    let (_, still) = a.call_as(&bob, "GET", &format!("/api/approvals/{id}"), None);
    assert_eq!(still["approvals"], 1);
    assert!(
        still["preview"]["content"].is_string(),
        "the preview shows what would go"
    );

    // Carol's is the second distinct approval: sealed, delivered.
    let out = liaison()
        .args(["approve", &id, "--comment", "ok to release", "--home"])
        .arg(&a.dir)
        .env("LIAISON_TOKEN", &carol)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("released: 2 approval(s)"),
        "{text}"
    );
    wait_until(
        Duration::from_secs(20),
        "delivery after the second approval",
        || a.share_view(&id)["deliveries"][0]["state"] == "delivered",
    );
    assert_eq!(b.inbox_ids(), vec![id.clone()]);

    // Who approved travels in the signed manifest and is ledgered on both sides.
    let (_, item) = b.get(&format!("/api/inbox/{id}"));
    let approvals = item["manifest"]["approvals"].as_array().unwrap();
    let mut names: Vec<&str> = approvals
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["bob", "carol"], "{item}");
    assert!(approvals
        .iter()
        .all(|x| x["decision_sha256"].as_str().unwrap().len() == 64));
    let accepted = b.ledger_kinds("inbound.accepted");
    assert_eq!(
        accepted[0]["body"]["approvals"].as_array().unwrap().len(),
        2
    );
    let approved = a.ledger_kinds("share.approved");
    assert_eq!(approved.len(), 2, "{approved:?}");
    assert_eq!(approved[0]["body"]["approver_name"], "bob");
    assert_eq!(approved[0]["body"]["comment"], "checked the indicators");
    let released = a.ledger_kinds("share.released");
    assert_eq!(released.len(), 1);
    assert_eq!(
        released[0]["body"]["approvals"].as_array().unwrap().len(),
        2
    );
    a.stop();
    b.stop();
}

#[test]
fn a_rejection_ends_the_share_and_needs_a_comment() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = TestNode::init(tmp.path(), "acme");
    let mut b = TestNode::init(tmp.path(), "bolt");
    a.start();
    b.start();
    pin_and_agree(&a, &b, TWO_APPROVERS);
    let ana = a.add_user("ana", "analyst");
    let bob = a.add_user("bob", "approver");
    let carol = a.add_user("carol", "approver");
    // Below AMBER no approval is needed: released at once.
    let (status, green) = a.call_as(
        &ana,
        "POST",
        "/api/shares",
        Some(json!({"tlp": "green", "to": ["bolt"], "content": "patch now"})),
    );
    assert_eq!(status, 201, "{green}");
    assert_eq!(green["state"], "released");

    let (_, share) = a.call_as(&ana,
        "POST",
        "/api/shares",
        Some(
            json!({"tlp": "amber", "to": ["bolt"], "content": "the supplier's build host is compromised"}),
        ),
    );
    let id = share["id"].as_str().unwrap().to_string();
    let path = format!("/api/approvals/{id}/reject");
    let (status, body) = a.call_as(&bob, "POST", &path, Some(json!({})));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("comment_required"))
    );
    let (status, body) = a.call_as(
        &bob,
        "POST",
        &path,
        Some(json!({"comment": "not before legal review"})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["share"]["state"], "rejected");
    let (status, body) = approve(&a, &carol, &id);
    assert_eq!(status, 409, "a rejected share cannot be approved: {body}");
    let rejected = a.ledger_kinds("share.rejected");
    assert_eq!(rejected[0]["body"]["comment"], "not before legal review");
    assert_eq!(rejected[0]["body"]["approver_name"], "bob");
    let (_, queue) = a.call_as(&carol, "GET", "/api/approvals", None);
    assert_eq!(queue.as_array().unwrap().len(), 0);
    a.stop();
    b.stop();
}
