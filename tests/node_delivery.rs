//! Delivery between real nodes (`liaison serve` processes) on 127.0.0.1:
//! fan-out with verified receipts, store-and-forward to a peer that is down,
//! and crash safety under SIGKILL on either side.

mod support;

use std::time::{Duration, Instant};

use liaison_core::identity::NodeId;
use liaison_core::receipt::{Outcome, SignedReceipt};
use serde_json::Value;
use support::{
    agree, pinned_pair, printed, unique_stix, wait_until, TestNode, OPEN_AGREEMENT, STIX,
};

/// Deliveries of a share in state `state`.
fn deliveries_in(share: &Value, state: &str) -> usize {
    share["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["state"] == state)
        .count()
}

#[test]
fn a_shares_to_b_and_c_and_holds_two_verified_receipts() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = TestNode::init(tmp.path(), "acme");
    let mut b = TestNode::init(tmp.path(), "bolt");
    let mut c = TestNode::init(tmp.path(), "cobalt");
    for n in [&mut a, &mut b, &mut c] {
        n.start();
    }
    a.pin(&b);
    a.pin(&c);
    b.pin(&a);
    c.pin(&a);
    agree(&a, &b, OPEN_AGREEMENT);
    agree(&a, &c, OPEN_AGREEMENT);

    let id = a.share("amber", &["bolt", "cobalt"], STIX);
    wait_until(Duration::from_secs(30), "both receipts", || {
        deliveries_in(&a.share_view(&id), "delivered") == 2
    });

    for peer in [&b, &c] {
        assert_eq!(peer.inbox_ids(), vec![id.clone()], "{} inbox", peer.name);
        // The content arrives byte for byte.
        let resp = ureq::get(&format!("http://{}/api/inbox/{id}/content", peer.api))
            .header("Authorization", &format!("Bearer {}", peer.token))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        assert_eq!(resp, STIX);
        assert_eq!(peer.ledger_kinds("inbound.accepted").len(), 1);
    }

    // A's stored receipts verify under each recipient's pinned key and
    // answer this bundle.
    let share = a.share_view(&id);
    let a_id: NodeId = a.node_id().parse().unwrap();
    for d in share["deliveries"].as_array().unwrap() {
        let peer: NodeId = d["peer"].as_str().unwrap().parse().unwrap();
        let json = serde_json::to_vec(&d["receipt"]["signed"]).unwrap();
        let receipt = SignedReceipt::verify(&json, &peer).expect("receipt verifies");
        assert_eq!(receipt.receipt.outcome, Outcome::Accepted);
        assert_eq!(receipt.receipt.sender, a_id);
        assert_eq!(receipt.receipt.bundle_id.unwrap().to_string(), id);
        assert_eq!(d["attempts"], 0, "delivered at the first attempt");
    }
    assert_eq!(a.ledger_kinds("receipt.stored").len(), 2);
    // Both sides recorded the contact.
    let (_, peers) = a.get("/api/peers");
    for p in peers.as_array().unwrap() {
        assert!(p["last_contact"].is_string(), "A's view: {p}");
    }
    let (_, peers) = b.get("/api/peers");
    assert!(peers[0]["last_contact"].is_string(), "B's view: {peers}");
    for n in [&mut a, &mut b, &mut c] {
        n.stop();
    }
}

/// GET `path` on `node`'s API as raw bytes.
fn get_bytes(node: &TestNode, path: &str) -> Vec<u8> {
    ureq::get(&format!("http://{}{path}", node.api))
        .header("Authorization", &format!("Bearer {}", node.token))
        .call()
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap()
}

#[test]
fn csaf_under_a_stricter_bundle_label_and_misp_imported_by_the_cli_arrive_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut a, mut b) = pinned_pair(tmp.path());
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data");

    // The advisory says WHITE (CLEAR); the bundle may be more restrictive.
    let csaf_file = data.join("csaf-bsi-2022-0001.json");
    let csaf = std::fs::read_to_string(&csaf_file).unwrap();
    let id = a.share("amber", &["bolt"], &csaf);
    wait_until(Duration::from_secs(30), "the CSAF receipt", || {
        deliveries_in(&a.share_view(&id), "delivered") == 1
    });
    let (_, item) = b.get(&format!("/api/inbox/{id}"));
    assert_eq!(item["kind"], "csaf", "{item}");
    assert_eq!(item["tlp"], "TLP:AMBER", "{item}");
    // The recipient downloads the advisory unchanged, byte for byte.
    assert_eq!(
        get_bytes(&b, &format!("/api/inbox/{id}/content")),
        csaf.as_bytes()
    );

    // Through the CLI: the advisory straight from its file (told to be
    // CSAF in one streamed pass), and a STIX bundle from a pipe, which can
    // be read only once (read whole).
    let cli_share = |file: &std::path::Path, stdin: Option<&str>| {
        use std::io::Write;
        let args = ["share", "create", "--tlp", "amber", "--to", "bolt"];
        let mut child = a
            .command_as(&a.token, &[&args[..], &[file.to_str().unwrap()]].concat())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        printed(&stdout, "share")
    };
    let from_file = cli_share(&csaf_file, None);
    let from_pipe = cli_share(std::path::Path::new("/dev/stdin"), Some(STIX));
    for (id, kind, content) in [
        (&from_file, "csaf", &csaf),
        (&from_pipe, "stix", &STIX.to_string()),
    ] {
        wait_until(Duration::from_secs(30), "the CLI share's receipt", || {
            deliveries_in(&a.share_view(id), "delivered") == 1
        });
        let (_, item) = b.get(&format!("/api/inbox/{id}"));
        assert_eq!(item["kind"], kind, "{item}");
        assert_eq!(
            get_bytes(&b, &format!("/api/inbox/{id}/content")),
            content.as_bytes()
        );
    }

    // A MISP event through `share create`: converted client-side, refused
    // below the TLP of its own tags, sent as STIX at or above it.
    let misp = data.join("misp-supplier-compromise.json");
    let cli = |tlp: &str| {
        support::liaison()
            .args(["share", "create", "--tlp", tlp, "--to", "bolt"])
            .arg(&misp)
            .arg("--home")
            .arg(&a.dir)
            .env("LIAISON_TOKEN", &a.token)
            .output()
            .unwrap()
    };
    let low = cli("amber");
    let stderr = String::from_utf8_lossy(&low.stderr);
    assert!(!low.status.success(), "{stderr}");
    assert!(
        stderr.contains("--tlp TLP:AMBER is lower than TLP:AMBER+STRICT"),
        "{stderr}"
    );
    assert!(
        stderr.contains("15 indicator(s) converted"),
        "the report: {stderr}"
    );
    let ok = cli("amber+strict");
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let share = printed(&stdout, "share");
    wait_until(Duration::from_secs(30), "the MISP receipt", || {
        deliveries_in(&a.share_view(&share), "delivered") == 1
    });
    let bundle: Value =
        serde_json::from_slice(&get_bytes(&b, &format!("/api/inbox/{share}/content"))).unwrap();
    assert_eq!(bundle["type"], "bundle");
    let indicators = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "indicator")
        .count();
    assert_eq!(indicators, 15);
    a.stop();
    b.stop();
}

#[test]
fn a_share_waits_for_a_peer_that_is_down_and_completes_unattended() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut a, mut b) = pinned_pair(tmp.path());
    b.stop();

    let id = a.share("green", &["bolt"], STIX);
    std::thread::sleep(Duration::from_secs(30));
    let share = a.share_view(&id);
    let d = &share["deliveries"][0];
    assert_eq!(d["state"], "pending", "{share}");
    assert!(
        d["attempts"].as_u64().unwrap() >= 2,
        "A kept trying: {share}"
    );
    assert!(d["last_error"].is_string(), "{share}");

    b.start();
    wait_until(
        Duration::from_secs(30),
        "the delivery after B came back",
        || deliveries_in(&a.share_view(&id), "delivered") == 1,
    );
    assert_eq!(b.inbox_ids(), vec![id]);
    assert!(!a.ledger_kinds("delivery.retry").is_empty());
    a.stop();
    b.stop();
}

/// A number in `lo..hi` from the clock: where to crash. Printed, so a
/// failure can be replayed by reading the test output.
fn crash_point(lo: usize, hi: usize) -> usize {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as usize;
    let point = lo + nanos % (hi - lo);
    eprintln!("crash point: after {point} bundles");
    point
}

/// Queue `n` distinct bundles from `a` to `to`; their ids.
fn queue(a: &TestNode, to: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| a.share("green", &[to], &unique_stix(i)))
        .collect()
}

/// Wait until `a` holds `n` accepted receipts and `b` exactly those `n`
/// bundles, then check there are no duplicates anywhere.
fn assert_all_delivered_once(a: &TestNode, b: &TestNode, ids: &[String]) {
    let n = ids.len();
    let started = Instant::now();
    wait_until(Duration::from_secs(300), "every receipt", || {
        let (_, shares) = a.get("/api/shares?limit=10000");
        shares
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| deliveries_in(s, "delivered") == 1)
            .count()
            == n
    });
    eprintln!("all {n} receipts after {:?}", started.elapsed());
    let mut inbox = b.inbox_ids();
    assert_eq!(inbox.len(), n, "B's inbox holds exactly {n} bundles");
    inbox.sort();
    inbox.dedup();
    assert_eq!(inbox.len(), n, "no bundle twice");
    let mut want = ids.to_vec();
    want.sort();
    assert_eq!(inbox, want, "exactly the bundles A sent");
    assert_eq!(
        a.ledger_kinds("receipt.stored").len(),
        n,
        "one receipt each"
    );
    assert_eq!(
        b.ledger_kinds("inbound.accepted").len(),
        n,
        "one acceptance each"
    );
}

#[test]
fn receiver_killed_mid_stream_ends_with_exactly_1000_bundles() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut a, mut b) = pinned_pair(tmp.path());

    let point = crash_point(50, 700);
    let ids = std::thread::scope(|s| {
        let sender = s.spawn(|| queue(&a, "bolt", 1000));
        wait_until(
            Duration::from_secs(120),
            "B to receive up to the crash point",
            || b.inbox_ids().len() >= point,
        );
        b.kill();
        std::thread::sleep(Duration::from_millis(500));
        b.start();
        let at_crash = b.inbox_ids().len();
        eprintln!("B restarted holding {at_crash} bundles");
        assert!(at_crash < 1000, "the crash must interrupt the stream");
        sender.join().unwrap()
    });
    assert_all_delivered_once(&a, &b, &ids);
    a.stop();
    b.stop();
}

#[test]
fn sender_killed_mid_stream_ends_with_exactly_1000_bundles() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut a, mut b) = pinned_pair(tmp.path());
    // Queue everything while B is away, then let A send and kill it mid-way.
    b.stop();
    let ids = queue(&a, "bolt", 1000);
    let point = crash_point(50, 600);
    b.start();
    wait_until(
        Duration::from_secs(120),
        "B to receive up to the crash point",
        || b.inbox_ids().len() >= point,
    );
    a.kill();
    let at_crash = b.inbox_ids().len();
    eprintln!("A killed after B held {at_crash} bundles");
    assert!(at_crash < 1000, "the crash must interrupt the stream");
    a.start();
    assert_all_delivered_once(&a, &b, &ids);
    a.stop();
    b.stop();
}

#[test]
fn demo_negotiates_refuses_redacts_delivers_and_exits_zero() {
    let out = support::liaison()
        .arg("demo")
        .output()
        .expect("run liaison demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.matches(" serving: quic 127.0.0.1:").count(),
        4,
        "{text}"
    );
    assert!(text.contains("TLP:GREEN refused"), "{text}");
    // Agreements first, signed by both; then a refusal by policy, with
    // every reason; then redaction before sealing.
    assert_eq!(
        text.matches("countersigned; in force on both nodes")
            .count(),
        2,
        "{text}"
    );
    assert!(text.contains("ACME Corp → Bolt Supplies:"), "{text}");
    assert!(
        text.contains("policy_denied: refused by policy (2 reason(s))"),
        "{text}"
    );
    assert!(text.contains("TLP:RED is above TLP:AMBER"), "{text}");
    assert!(
        text.contains("redacted: removed 1 × indicator (rule internal_cidrs)"),
        "{text}"
    );
    assert!(
        !text.contains("indicator: [ipv4-addr:value = '10.12.0.7']"),
        "{text}"
    );
    assert!(
        text.contains("both signed receipts verified and stored"),
        "{text}"
    );
    assert!(text.contains("indicator: ["), "{text}");
    assert!(text.contains("refused the unpinned node"), "{text}");
    // The release waited for the legal approver, not the analyst.
    assert!(text.contains("waits: awaiting_approval"), "{text}");
    assert!(text.contains("ana cannot approve it"), "{text}");
    assert!(text.contains("lena approved: released"), "{text}");
    assert!(
        text.contains("released with the approval of lena"),
        "{text}"
    );
    assert!(text.contains("ledger verified:"), "{text}");
    assert!(text.contains("demo complete"), "{text}");
}
