//! Large bundles (DESIGN §4, §6): content streams from `share create` to
//! the recipient's inbox (multipart upload spooled to disk, STIX checked one
//! object at a time, sealed file to file, sent in 1 MiB parts that the
//! receiver stores as they arrive, opened and checked from the stored
//! parts), so each node's memory stays bounded; and a transfer cut halfway
//! resumes from the parts the receiver holds.
//!
//! Two real `liaison serve` processes on 127.0.0.1. Peak RSS is the kernel's
//! `VmHWM` of each daemon, and of the `share create` CLI, which streams the
//! file from disk too. The figures are printed (`--nocapture`).

mod support;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest, Sha256};
use support::{pin_and_agree, printed, wait_until, TestNode, FAST_DELIVERY, OPEN_AGREEMENT};

const MIB: f64 = 1024.0 * 1024.0;

/// Write a valid STIX 2.1 bundle of `n` indicators to `path`, returning
/// its size and SHA-256 (hex).
fn write_bundle(path: &Path, n: usize) -> (u64, String) {
    struct Out {
        file: std::io::BufWriter<std::fs::File>,
        hasher: Sha256,
        size: u64,
    }
    impl Out {
        fn put(&mut self, s: &str) {
            self.file.write_all(s.as_bytes()).unwrap();
            self.hasher.update(s.as_bytes());
            self.size += s.len() as u64;
        }
    }
    let mut out = Out {
        file: std::io::BufWriter::new(std::fs::File::create(path).unwrap()),
        hasher: Sha256::new(),
        size: 0,
    };
    out.put(&format!(
        "{{\"type\":\"bundle\",\"id\":\"bundle--{}\",\"objects\":[",
        uuid::Uuid::new_v4()
    ));
    for i in 0..n {
        out.put(&format!(
            "{}{{\"type\":\"indicator\",\"spec_version\":\"2.1\",\"id\":\"indicator--{}\",\
             \"created\":\"2026-11-30T09:00:00.000Z\",\"modified\":\"2026-11-30T09:00:00.000Z\",\
             \"name\":\"C2 {i}\",\"indicator_types\":[\"malicious-activity\"],\
             \"pattern\":\"[ipv4-addr:value = '10.{}.{}.{}']\",\"pattern_type\":\"stix\",\
             \"valid_from\":\"2026-11-30T09:00:00.000000Z\"}}",
            if i > 0 { "," } else { "" },
            uuid::Uuid::new_v4(),
            (i >> 16) & 0xff,
            (i >> 8) & 0xff,
            i & 0xff
        ));
    }
    out.put("]}");
    out.file.flush().unwrap();
    (
        out.size,
        data_encoding::HEXLOWER.encode(&out.hasher.finalize()),
    )
}

/// A `/proc/PID/status` figure in MiB (e.g. `VmHWM`, the peak RSS).
fn status_mib(pid: u32, key: &str) -> f64 {
    try_status_mib(pid, key).unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
}

fn try_status_mib(pid: u32, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    Some(kib / 1024.0)
}

/// Bytes of envelopes the node holds in parts (read from its database,
/// which the running daemon shares in WAL mode).
fn parts_held(node: &TestNode) -> u64 {
    let db = rusqlite::Connection::open_with_flags(
        node.dir.join("liaison.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    let held: i64 = db
        .query_row(
            "SELECT COALESCE(SUM(length(data)), 0) FROM inbound_parts",
            [],
            |r| r.get(0),
        )
        .unwrap();
    held as u64
}

/// Acme (fast retries, and `acme_config` appended to its `[delivery]`) and
/// Bolt, started, pinned to each other, with `agreement` in force.
fn pair(root: &Path, agreement: &str, acme_config: &str) -> (TestNode, TestNode) {
    let mut a = TestNode::init(root, "acme");
    let mut b = TestNode::init(root, "bolt");
    a.configure(FAST_DELIVERY);
    a.configure(acme_config);
    a.start();
    b.start();
    pin_and_agree(&a, &b, agreement);
    (a, b)
}

fn share(a: &TestNode, file: &Path) -> String {
    share_as(a, &a.token, "green", file)
}

fn share_as(a: &TestNode, token: &str, tlp: &str, file: &Path) -> String {
    let (ok, out, err) = a.cli_as(
        token,
        &[
            "share",
            "create",
            "--tlp",
            tlp,
            "--kind",
            "stix",
            "--to",
            "bolt",
            file.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}{err}");
    printed(&out, "share")
}

/// `share create FILE` with no `--kind` (the CLI tells a STIX bundle in a
/// streamed pass), and the CLI's own peak RSS in MiB, read from /proc
/// while it runs (a zombie has no `VmHWM`, so the last reading counts).
fn share_watching_the_cli(a: &TestNode, file: &Path) -> (String, f64) {
    let args = ["share", "create", "--tlp", "green", "--to", "bolt"];
    let mut child = a
        .command_as(&a.token, &[&args[..], &[file.to_str().unwrap()]].concat())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0.0f64;
    let deadline = Instant::now() + Duration::from_secs(600);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "share create did not end");
        if let Some(mib) = try_status_mib(pid, "VmHWM") {
            peak = peak.max(mib);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(peak > 0.0, "no VmHWM read for the CLI");
    (printed(&stdout, "share"), peak)
}

fn delivery(a: &TestNode, id: &str) -> serde_json::Value {
    a.share_view(id)["deliveries"][0].clone()
}

#[test]
fn a_150_000_indicator_bundle_reaches_the_inbox_with_each_node_under_64_mib() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut a, mut b) = pair(tmp.path(), OPEN_AGREEMENT, "");
    let file = tmp.path().join("big.json");
    let (size, sha256) = write_bundle(&file, 150_000);
    assert!(size > 48 * 1024 * 1024, "{size} bytes");

    let t = Instant::now();
    let (id, hwm_cli) = share_watching_the_cli(&a, &file);
    let posted = t.elapsed();
    wait_until(
        Duration::from_secs(600),
        "the bundle in bolt's inbox",
        || b.inbox_ids().contains(&id),
    );
    let took = t.elapsed();
    // Before anything reads the content back (an inbox download holds it).
    let (pa, pb) = (a.pid().unwrap(), b.pid().unwrap());
    let (hwm_a, hwm_b) = (status_mib(pa, "VmHWM"), status_mib(pb, "VmHWM"));
    wait_until(Duration::from_secs(60), "the receipt at acme", || {
        delivery(&a, &id)["state"] == "delivered"
    });
    let d = delivery(&a, &id);
    println!(
        "large bundle: 150000 indicators, {:.1} MB: share→inbox {:.1} s (upload and seal {:.1} s); \
         peak RSS sender {hwm_a:.1} MiB, receiver {hwm_b:.1} MiB, CLI {hwm_cli:.1} MiB; \
         envelope {} bytes, {} sent",
        size as f64 / 1e6,
        took.as_secs_f64(),
        posted.as_secs_f64(),
        d["envelope_size"],
        d["bytes_sent"],
    );
    assert!(hwm_a < 64.0, "sender peak RSS {hwm_a:.1} MiB");
    assert!(hwm_b < 64.0, "receiver peak RSS {hwm_b:.1} MiB");
    // The CLI streams the file too: it never holds the 51 MB bundle.
    assert!(hwm_cli < 32.0, "share create peak RSS {hwm_cli:.1} MiB");

    // Tools pull it: TAXII pages through its objects, marked with the
    // bundle's TLP; the STIX export streams all of them.
    let t = Instant::now();
    let (status, c) = b.taxii_as(&b.token, "/taxii2/liaison/collections/");
    assert_eq!(status, 200, "{c}");
    let all = c["collections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["title"]
                .as_str()
                .is_some_and(|t| t.contains("Everything"))
        })
        .unwrap_or(&c["collections"][0])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let page =
        format!("/taxii2/liaison/collections/{all}/objects/?limit=100&match[type]=indicator");
    let (status, objects) = b.taxii_as(&b.token, &page);
    assert_eq!(status, 200, "{objects}");
    let objects = objects["objects"].as_array().unwrap().clone();
    assert_eq!(objects.len(), 100);
    let green = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
    assert!(objects.iter().all(|o| o["type"] == "indicator"
        && o["object_marking_refs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == green)));
    let taxii_s = t.elapsed().as_secs_f64();
    let hwm_taxii = status_mib(pb, "VmHWM");
    let t = Instant::now();
    let export: serde_json::Value =
        serde_json::from_slice(&b.raw_bytes(&format!("/api/inbox/{id}/stix"))).unwrap();
    assert_eq!(
        export["objects"].as_array().unwrap().len(),
        150_001,
        "+ TLP:GREEN"
    );
    println!(
        "pulled: first TAXII page {taxii_s:.1} s (receiver peak RSS then {hwm_taxii:.1} MiB), \
         STIX export {:.1} s; receiver peak RSS now {:.1} MiB",
        t.elapsed().as_secs_f64(),
        status_mib(pb, "VmHWM")
    );

    // Byte for byte what was shared, and nothing left half received.
    let (status, item) = b.get(&format!("/api/inbox/{id}"));
    assert_eq!(status, 200, "{item}");
    assert_eq!(item["size"].as_u64(), Some(size), "{item}");
    let content = b.raw_bytes(&format!("/api/inbox/{id}/content"));
    assert_eq!(content.len() as u64, size);
    assert_eq!(
        data_encoding::HEXLOWER.encode(&Sha256::digest(&content)),
        sha256
    );
    assert_eq!(parts_held(&b), 0);
    a.stop();
    b.stop();
}

#[test]
fn a_transfer_killed_halfway_resumes_and_sends_less_than_60_percent_again() {
    let tmp = tempfile::tempdir().unwrap();
    // Paced, so that the receiver can be killed halfway.
    let (mut a, mut b) = pair(tmp.path(), OPEN_AGREEMENT, "part_interval_ms = 100\n");
    let file = tmp.path().join("bundle.json");
    let (size, sha256) = write_bundle(&file, 40_000);

    let id = share(&a, &file);
    let envelope = delivery(&a, &id)["envelope_size"].as_u64().unwrap();
    assert!(
        envelope > 10 * 1024 * 1024,
        "{envelope} bytes: ten parts or more"
    );
    wait_until(
        Duration::from_secs(120),
        "half the envelope at bolt",
        || parts_held(&b) >= envelope / 2,
    );
    b.kill();
    let held = parts_held(&b);
    assert!(
        held >= envelope / 2 && held < envelope,
        "{held} of {envelope}"
    );
    // Down for longer than acme's request timeout (3 s): its attempt fails,
    // and the next one asks bolt how much it holds.
    std::thread::sleep(Duration::from_secs(4));
    b.start();

    wait_until(
        Duration::from_secs(120),
        "the bundle in bolt's inbox",
        || b.inbox_ids().contains(&id),
    );
    wait_until(Duration::from_secs(30), "the receipt at acme", || {
        delivery(&a, &id)["state"] == "delivered"
    });
    let d = delivery(&a, &id);
    let sent = d["bytes_sent"].as_u64().unwrap();
    let resent = sent - envelope;
    println!(
        "resumed transfer: envelope {envelope} bytes ({:.1} MiB), receiver killed holding {held} \
         ({:.0}%); {sent} bytes sent in all, {resent} again ({:.1}% of the envelope), {} failed \
         attempt(s)",
        envelope as f64 / MIB,
        100.0 * held as f64 / envelope as f64,
        100.0 * resent as f64 / envelope as f64,
        d["attempts"],
    );
    assert!(
        (resent as f64) < 0.6 * envelope as f64,
        "{resent} of {envelope} bytes sent again"
    );
    assert!(d["attempts"].as_u64().unwrap() >= 1, "{d}");
    // The same figures for Prometheus.
    let metrics = String::from_utf8(a.raw_bytes("/metrics")).unwrap();
    assert!(
        metrics.contains(&format!("\nliaison_delivery_bytes_sent_total {sent}\n")),
        "{metrics}"
    );
    let metrics = String::from_utf8(b.raw_bytes("/metrics")).unwrap();
    assert!(
        metrics.contains("\nliaison_inbound_part_bytes 0\n"),
        "{metrics}"
    );
    let content = b.raw_bytes(&format!("/api/inbox/{id}/content"));
    assert_eq!(content.len() as u64, size);
    assert_eq!(
        data_encoding::HEXLOWER.encode(&Sha256::digest(&content)),
        sha256
    );
    assert_eq!(parts_held(&b), 0, "the parts went with the accepted bundle");
    a.stop();
    b.stop();
}

/// AMBER needs one approval; the rest as [`OPEN_AGREEMENT`].
const ONE_APPROVER: &str = r#"
valid_from = "2020-01-01T00:00:00Z"
valid_until = "2100-01-01T00:00:00Z"
[outbound]
max_tlp = "amber"
content = { kinds = ["stix"], stix_types = ["*"] }
approval = { from_tlp = "amber", approvers = 1 }
[inbound]
max_tlp = "amber"
content = { kinds = ["stix"], stix_types = ["*"] }
"#;

#[test]
fn a_large_share_waits_for_approval_and_is_sealed_from_disk_when_approved() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut a, mut b) = pair(tmp.path(), ONE_APPROVER, "");
    let analyst = a.add_user("ana", "analyst");
    let approver = a.add_user("bob", "approver");
    let file = tmp.path().join("bundle.json");
    // Several parts' worth: above what is re-read into memory.
    let (size, sha256) = write_bundle(&file, 12_000);
    assert!(size > 3 * 1024 * 1024, "{size} bytes");

    let id = share_as(&a, &analyst, "amber", &file);
    let share = a.share_view(&id);
    assert_eq!(share["state"], "awaiting_approval", "{share}");
    assert_eq!(share["size"].as_u64(), Some(size));
    // The approver's view describes it without holding it.
    let (status, item) = a.call_as(&approver, "GET", &format!("/api/approvals/{id}"), None);
    assert_eq!(status, 200, "{item}");
    assert_eq!(item["preview"]["size"].as_u64(), Some(size), "{item}");
    assert_eq!(item["preview"]["sha256"], sha256.as_str());
    assert!(item["preview"]["content"].is_null());
    let (status, body) = a.call_as(
        &approver,
        "POST",
        &format!("/api/approvals/{id}/approve"),
        Some(json!({"comment": "checked"})),
    );
    assert_eq!(status, 200, "{body}");
    wait_until(
        Duration::from_secs(120),
        "the bundle in bolt's inbox",
        || b.inbox_ids().contains(&id),
    );
    let d = delivery(&a, &id);
    assert!(d["envelope_size"].as_u64().unwrap() > size);
    let content = b.raw_bytes(&format!("/api/inbox/{id}/content"));
    assert_eq!(
        data_encoding::HEXLOWER.encode(&Sha256::digest(&content)),
        sha256
    );
    // The signed manifest carries the approval and the content digest.
    let (_, got) = b.get(&format!("/api/inbox/{id}"));
    assert_eq!(
        got["manifest"]["approvals"].as_array().map(Vec::len),
        Some(1),
        "{got}"
    );
    assert_eq!(got["manifest"]["content"]["sha256"], sha256.as_str());
    a.stop();
    b.stop();
}
