//! Contact-path checks on real nodes (`liaison serve` on 127.0.0.1): the
//! roster set from the CLI, a check run now (`liaison peer check`), a peer
//! that goes down flagged after its tier's interval, cleared by the next
//! scheduled check when it comes back, and the schedule surviving a restart
//! of the checking node. Every wait is bounded.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{wait_until, TestNode, FAST_DELIVERY};

/// Tier 1 must be verified every 2 s (so checks run every second).
const FAST_CONTACTS: &str = "\n[contacts]\ntier1_interval_s = 2\n";

fn contact(node: &TestNode, peer: &str) -> Value {
    let (status, body) = node.get(&format!("/api/peers/{peer}"));
    assert_eq!(status, 200, "{body}");
    body["contact"].clone()
}

#[test]
fn a_down_peer_is_flagged_after_its_interval_and_cleared_when_it_is_back() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = TestNode::init(tmp.path(), "acme");
    let mut b = TestNode::init(tmp.path(), "bolt");
    a.configure(&format!("{FAST_DELIVERY}{FAST_CONTACTS}"));
    a.start();
    b.start();
    a.pin(&b);
    b.pin(&a);

    // The roster, from the CLI: tier 1 with its contacts (ledgered).
    let (ok, out, err) = a.cli(&[
        "peer",
        "roster",
        "bolt",
        "--tier",
        "1",
        "--contact",
        "Bolt SOC, +1 555 0100, soc@bolt.example",
        "--backup",
        "CISO desk +1 555 0101",
        "--escalation",
        "SOC lead",
        "--escalation",
        "CISO",
        "--fallback",
        "Signal group 'bolt-ir'",
        "--contract",
        "MSA-2026-17 §9",
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("tier:              1"), "{out}");
    assert!(out.contains("SOC lead; CISO"), "{out}");
    assert_eq!(a.ledger_kinds("peer.roster_updated").len(), 1);

    // Check now: a signed pong, recorded and ledgered.
    let (ok, out, err) = a.cli(&["peer", "check", "bolt"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("bolt: contact path verified (signed pong"),
        "{out}"
    );
    let c = contact(&a, "bolt");
    assert_eq!(c["last_check_ok"], true, "{c}");
    assert_eq!(c["stale"], false, "{c}");
    assert_eq!(c["interval_s"], 2);
    assert!(!a.ledger_kinds("peer.contact_verified").is_empty());

    // Bolt goes down: the scheduled checks fail, and after the interval
    // the path is flagged, in the API and in `peer list`.
    b.stop();
    wait_until(
        Duration::from_secs(30),
        "bolt to be flagged UNVERIFIED after a failed check",
        || {
            let c = contact(&a, "bolt");
            c["stale"] == true && c["last_check_ok"] == false
        },
    );
    let c = contact(&a, "bolt");
    assert_eq!(c["last_check_ok"], false, "{c}");
    assert!(
        c["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{c}"
    );
    let (ok, out, _) = a.cli(&["peer", "list"]);
    assert!(ok);
    assert!(out.contains("UNVERIFIED"), "{out}");
    assert!(out.contains("1 peer(s) UNVERIFIED"), "{out}");
    // A check now fails, with a non-zero exit naming the peer.
    let (ok, out, err) = a.cli(&["peer", "check"]);
    assert!(!ok, "{out}");
    assert!(out.contains("bolt: FAILED"), "{out}");
    assert!(err.contains("1 contact-path check(s) failed"), "{err}");
    // Repeated failures are ledgered once.
    assert_eq!(a.ledger_kinds("peer.contact_failed").len(), 1);

    // Bolt is back: the next scheduled check clears the flag.
    b.start();
    wait_until(
        Duration::from_secs(30),
        "the flag to clear once bolt is back",
        || {
            let c = contact(&a, "bolt");
            c["stale"] == false && c["last_check_ok"] == true
        },
    );
    let (_, out, _) = a.cli(&["peer", "list"]);
    assert!(!out.contains("UNVERIFIED"), "{out}");

    // The schedule survives a restart of the checking node: with nobody
    // asking, a new verification follows the restart.
    let before = contact(&a, "bolt")["verified_at"].clone();
    a.stop();
    a.start();
    wait_until(
        Duration::from_secs(30),
        "a scheduled check after the restart",
        || contact(&a, "bolt")["verified_at"] != before,
    );
    assert_eq!(contact(&a, "bolt")["stale"], false);

    a.stop();
    b.stop();
}
