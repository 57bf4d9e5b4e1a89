//! `liaison demo`: the story of DESIGN §1 on real nodes. Four node homes are
//! created in a temporary directory; three partner nodes and one outsider run
//! as `liaison serve` child processes on 127.0.0.1 with ephemeral ports, and
//! the demo drives them through their HTTP APIs, as an operator would. The
//! homes and processes are removed at the end.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::client::{Client, ClientError};
use crate::home::Home;

const BUNDLE: &str = include_str!("../assets/demo-supplier-iocs.json");
/// Bound on every wait in the demo.
const WAIT: Duration = Duration::from_secs(30);

/// One organization's node: its home, API client and daemon.
struct Org {
    name: &'static str,
    home: Home,
    api: Client,
    daemon: Option<Child>,
}

impl Org {
    fn create(root: &std::path::Path, name: &'static str, dir: &str) -> Result<Org> {
        let home = Home::new(root.join(dir));
        let (card, token) = home.init(name, "127.0.0.1:0", "127.0.0.1:0")?;
        // Checkpoints within a second of each change, so the demo's short
        // story is covered by signed tree heads.
        let mut config = std::fs::OpenOptions::new()
            .append(true)
            .open(home.config_path())
            .context("cannot open the node config")?;
        std::io::Write::write_all(&mut config, b"\n[ledger]\ncheckpoint_interval_s = 1\n")
            .context("cannot write the node config")?;
        let api = Client::new(&home.config()?.node.api, Some(token.as_str()))?;
        println!(
            "[{name}] node created: id {}…, fingerprint {}",
            &card.node_id().to_string()[..12],
            card.node_id().fingerprint()
        );
        Ok(Org {
            name,
            home,
            api,
            daemon: None,
        })
    }

    /// Start `liaison serve` for this home and wait until it is ready.
    fn start(&mut self) -> Result<()> {
        let exe = std::env::current_exe().context("cannot find the liaison binary")?;
        let log_path = self.home.dir().join("serve.log");
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let mut child = Command::new(exe)
            .arg("--home")
            .arg(self.home.dir())
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("cannot start `liaison serve`")?;
        let stdout = child.stdout.take().context("no stdout from the node")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(" serving: ") => {
                    println!("[{}] {}", self.name, line.trim_start_matches("liaison "));
                    break;
                }
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    bail!("{} did not start within {WAIT:?}:\n{log}", self.name);
                }
            }
        }
        self.daemon = Some(child);
        Ok(())
    }

    /// SIGTERM and wait for a clean exit.
    fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.daemon.take() else {
            return Ok(());
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    bail!("{} stopped with {status}", self.name);
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        bail!("{} did not stop within {WAIT:?}", self.name)
    }

    /// Pin `other`'s identity card, as read from its home.
    fn pin(&self, other: &Org) -> Result<()> {
        let card: Value = serde_json::from_str(&other.home.card()?.to_json())?;
        let peer = self
            .api
            .post_json::<_, Value>("/api/peers", &json!({"card": card, "name": other.name}))?;
        println!(
            "[{}] pinned {} ({})",
            self.name,
            other.name,
            peer["fingerprint"].as_str().unwrap_or("?")
        );
        Ok(())
    }
}

impl Drop for Org {
    fn drop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Poll `f` every 100 ms until it yields a value, for at most `WAIT`.
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f()? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {WAIT:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// ACME's agreement with Bolt, from ACME's side: AMBER IOCs out (internal
/// networks removed first), GREEN advisories and notes in, and the joint
/// list of an incident both ways.
const ACME_BOLT: &str = r#"
title = "ACME ↔ Bolt: supplier-compromise IOC exchange"
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2030-01-01T00:00:00Z"
[outbound]
max_tlp = "amber"
content = { kinds = ["stix", "coordination"], stix_types = ["indicator", "identity", "ipv4-addr", "domain-name", "file"] }
redact = { internal_cidrs = ["10.0.0.0/8"], remove_email_addresses = true }
approval = { from_tlp = "amber", approvers = 1 }
handling = { retention_days = 365, permitted_actions = "internally-visible-actions", attribution = "must-not" }
[inbound]
max_tlp = "green"
content = { kinds = ["csaf", "note", "coordination"] }
"#;

/// ACME's agreement with Cobalt: AMBER IOCs and the incident's joint list
/// out, nothing in; no TLP:RED.
const ACME_COBALT: &str = r#"
title = "ACME → Cobalt: IOCs for a logistics partner"
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2030-01-01T00:00:00Z"
[outbound]
max_tlp = "amber"
content = { kinds = ["stix", "coordination"], stix_types = ["indicator", "identity", "ipv4-addr", "domain-name", "file"] }
redact = { internal_cidrs = ["10.0.0.0/8"] }
"#;

impl Org {
    /// Create a local user with `role`; a client holding its token.
    fn user(&self, name: &str, role: &str) -> Result<Client> {
        let u = self
            .api
            .post_json::<_, Value>("/api/users", &json!({"name": name, "role": role}))?;
        let token = u["token"].as_str().context("no token for the new user")?;
        println!("[{}] user {name} ({role}) created", self.name);
        Ok(Client::new(&self.home.config()?.node.api, Some(token))?)
    }

    /// Propose `toml` to `other`, have `other` countersign, and wait until
    /// both nodes hold it in force.
    fn agree(&self, other: &Org, toml: &str) -> Result<String> {
        let proposed = self.api.post_json::<_, Value>(
            "/api/agreements",
            &json!({"peer": other.name, "toml": toml}),
        )?;
        let id = proposed["id"]
            .as_str()
            .context("agreement without id")?
            .to_string();
        println!(
            "[{}] proposed agreement {id} to {} (signed, sent over QUIC)",
            self.name, other.name
        );
        // The state of the newest version on `org`; empty while unknown there.
        let state_at = |org: &Org| -> Result<String> {
            match org.api.get_json::<Value>(&format!("/api/agreements/{id}")) {
                Ok(v) => Ok(v[0]["state"].as_str().unwrap_or("").to_string()),
                Err(ClientError::Api { status: 404, .. }) => Ok(String::new()),
                Err(e) => Err(e.into()),
            }
        };
        wait_for("the proposal to arrive", || {
            Ok((state_at(other)? == "proposed_by_peer").then_some(()))
        })?;
        let shown = other
            .api
            .get_json::<Value>(&format!("/api/agreements/{id}"))?;
        println!("[{}] reads it in plain words:", other.name);
        for line in shown[0]["description"].as_str().unwrap_or("").lines() {
            println!("    {line}");
        }
        other
            .api
            .post_json::<_, Value>(&format!("/api/agreements/{id}/sign"), &json!({}))?;
        wait_for("the countersignature to arrive", || {
            Ok((state_at(self)? == "in_force").then_some(()))
        })?;
        println!("[{}] countersigned; in force on both nodes", other.name);
        Ok(id)
    }
}

pub fn run() -> Result<()> {
    let tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
    println!("== Liaison demo: a supplier compromise, shared under TLP 2.0 ==\n");
    let mut acme = Org::create(tmp.path(), "ACME Corp", "acme")?;
    let mut bolt = Org::create(tmp.path(), "Bolt Supplies", "bolt")?;
    let mut cobalt = Org::create(tmp.path(), "Cobalt Logistics", "cobalt")?;
    let mut mallory = Org::create(tmp.path(), "Mallory Ltd", "mallory")?;

    println!("\n-- nodes start (QUIC and API on loopback, ephemeral ports) --");
    for org in [&mut acme, &mut bolt, &mut cobalt, &mut mallory] {
        org.start()?;
    }

    println!("\n-- identity cards exchanged out of band and pinned --");
    acme.pin(&bolt)?;
    acme.pin(&cobalt)?;
    bolt.pin(&acme)?;
    cobalt.pin(&acme)?;
    // The outsider pins Bolt, but Bolt never pinned it.
    mallory.pin(&bolt)?;

    println!("\n-- sharing agreements negotiated in advance, signed by both sides --");
    acme.agree(&bolt, ACME_BOLT)?;
    acme.agree(&cobalt, ACME_COBALT)?;

    println!("\n-- policy: what the agreements do not allow never leaves ACME --");
    let too_low = acme.api.post_json::<_, Value>(
        "/api/shares",
        &json!({"tlp": "green", "to": [bolt.name, cobalt.name], "content": BUNDLE}),
    );
    match too_low {
        Err(e) => println!("[{}] TLP:GREEN refused: {e:#}", acme.name),
        Ok(_) => bail!("a TLP:AMBER bundle was shared as TLP:GREEN"),
    }
    let too_high = acme.api.post_json::<_, Value>(
        "/api/shares",
        &json!({"tlp": "red", "to": [cobalt.name], "content": BUNDLE}),
    );
    match too_high {
        Err(e) => println!("[{}] TLP:RED to Cobalt {e:#}", acme.name),
        Ok(_) => bail!("a TLP:RED share passed an agreement that stops at AMBER"),
    }

    println!("\n-- ACME's analyst drafts the share; ACME's legal approver releases it --");
    let analyst = acme.user("ana", "analyst")?;
    let legal = acme.user("lena", "approver")?;
    let incident = analyst.post_json::<_, Value>(
        "/api/incidents",
        &json!({
            "title": "Compromised build of acme-updater reached suppliers",
            "severity": "critical",
            "trigger": "upstream_dependency_suspected",
            "peers": [bolt.name, cobalt.name],
            "dependencies": ["acme-updater@4.2.1"],
        }),
    )?;
    let incident_id = incident["id"]
        .as_str()
        .context("incident without id")?
        .to_string();
    println!(
        "[{}] ana opened supply-chain incident {incident_id} (critical; an upstream dependency is suspected; Bolt and Cobalt implicated)",
        acme.name
    );
    let started = Instant::now();
    let draft = analyst.post_json::<_, Value>(
        "/api/shares",
        &json!({"tlp": "amber", "to": [bolt.name, cobalt.name], "content": BUNDLE, "incident": incident_id}),
    )?;
    let id = draft["id"]
        .as_str()
        .context("share without id")?
        .to_string();
    println!(
        "[{}] ana's share {id} passed policy and waits: {} ({} approval needed under the Bolt agreement)",
        acme.name,
        draft["state"].as_str().unwrap_or("?"),
        draft["approvals_required"]
    );
    match analyst.post_json::<_, Value>(&format!("/api/approvals/{id}/approve"), &json!({})) {
        Err(e) => println!("[{}] ana cannot approve it: {e:#}", acme.name),
        Ok(_) => bail!("an analyst approved a release"),
    }
    let decided = legal.post_json::<_, Value>(
        &format!("/api/approvals/{id}/approve"),
        &json!({"comment": "IOCs reviewed; internal host removed; OK under the agreement"}),
    )?;
    let share = &decided["share"];
    println!(
        "[{}] lena approved: {} ({}, {} bytes), redacted, signed once with the approval inside, encrypted per recipient and queued",
        acme.name,
        share["state"].as_str().unwrap_or("?"),
        share["tlp"].as_str().unwrap_or("?"),
        share["size"]
    );
    for r in share["policy"]["redacted"].as_array().into_iter().flatten() {
        println!(
            "    redacted: {} {} × {} (rule {})",
            r["action"].as_str().unwrap_or("?"),
            r["count"],
            r["target"].as_str().unwrap_or("?"),
            r["rule"].as_str().unwrap_or("?")
        );
    }
    let done = wait_for("both receipts", || {
        let s = acme.api.get_json::<Value>(&format!("/api/shares/{id}"))?;
        let all = s["deliveries"]
            .as_array()
            .is_some_and(|d| d.iter().all(|d| d["state"] == "delivered"));
        Ok(all.then_some(s))
    })?;
    println!(
        "[{}] both signed receipts verified and stored after {:?}:",
        acme.name,
        started.elapsed()
    );
    for d in done["deliveries"].as_array().into_iter().flatten() {
        println!(
            "    {:<18} accepted at {}",
            d["peer_name"].as_str().unwrap_or("?"),
            d["receipt"]["received_at"].as_str().unwrap_or("?")
        );
    }

    println!("\n-- Bolt's inbox --");
    let inbox = bolt.api.get_json::<Value>("/api/inbox")?;
    for item in inbox.as_array().into_iter().flatten() {
        println!(
            "[{}] {} {} from {} ({} bytes, {})",
            bolt.name,
            item["bundle_id"].as_str().unwrap_or("?"),
            item["tlp"].as_str().unwrap_or("?"),
            item["sender_org"].as_str().unwrap_or("?"),
            item["size"],
            item["kind"].as_str().unwrap_or("?"),
        );
    }
    let content = bolt.api.get_bytes(&format!("/api/inbox/{id}/content"))?;
    let text = String::from_utf8_lossy(&content);
    if text.contains("10.12.0.7") || !text.contains("203.0.113.45") {
        bail!("Bolt's copy is not ACME's bundle with its internal host removed");
    }
    let item = bolt.api.get_json::<Value>(&format!("/api/inbox/{id}"))?;
    for a in item["manifest"]["approvals"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "    released with the approval of {} at {} (in the signed manifest)",
            a["name"].as_str().unwrap_or("?"),
            a["at"].as_str().unwrap_or("?")
        );
    }
    let bundle: Value = serde_json::from_slice(&content)?;
    for o in bundle["objects"].as_array().into_iter().flatten() {
        if o["type"] == "indicator" {
            println!("    indicator: {}", o["pattern"].as_str().unwrap_or("?"));
        }
    }
    println!("    (ACME's internal build server 10.12.0.7 never left ACME)");

    println!("\n-- an outsider tries to reach Bolt --");
    match mallory.api.post_json::<_, Value>(
        "/api/shares",
        &json!({"tlp": "green", "to": [bolt.name], "content": "Please install this totally legitimate update."}),
    ) {
        Err(e) => println!("[{}] share refused at home: {e:#}", mallory.name),
        Ok(_) => bail!("Mallory shared without an agreement"),
    }
    let proposal = mallory.api.post_json::<_, Value>(
        "/api/agreements",
        &json!({"peer": bolt.name, "toml": ACME_COBALT}),
    )?;
    let pid = proposal["id"]
        .as_str()
        .context("agreement without id")?
        .to_string();
    let error = wait_for("the refusal", || {
        let v = mallory
            .api
            .get_json::<Value>(&format!("/api/agreements/{pid}"))?;
        Ok(v[0]["messages"][0]["last_error"]
            .as_str()
            .map(str::to_string))
    })?;
    println!(
        "[{}] its agreement proposal cannot be delivered: {error}",
        mallory.name
    );
    let refused = bolt
        .api
        .get_json::<Value>("/api/ledger?limit=1000")?
        .as_array()
        .map_or(0, |l| {
            l.iter().filter(|e| e["kind"] == "peer.refused").count()
        });
    if refused == 0 {
        bail!("Bolt did not ledger the refused connection");
    }
    println!(
        "[{}] refused the unpinned node during the TLS handshake (ledgered)",
        bolt.name
    );
    if bolt
        .api
        .get_json::<Value>("/api/inbox")?
        .as_array()
        .map_or(0, Vec::len)
        != 1
    {
        bail!("Bolt's inbox should hold exactly ACME's bundle");
    }

    println!("\n-- a person at Bolt acknowledges; the signed acknowledgement travels back --");
    let bolt_analyst = bolt.user("bea", "analyst")?;
    bolt_analyst.post_json::<_, Value>(
        &format!("/api/inbox/{id}/ack"),
        &json!({"comment": "Patching the build hosts now"}),
    )?;
    wait_for("Bolt's acknowledgement", || {
        let i = acme
            .api
            .get_json::<Value>(&format!("/api/incidents/{incident_id}"))?;
        let acked = i["notifications"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| n["peer_name"] == bolt.name && !n["acknowledged_at"].is_null());
        Ok(acked.then_some(()))
    })?;
    println!(
        "[{}] Bolt's signed acknowledgement arrived (bea: \"Patching the build hosts now\"); Cobalt's is still due",
        acme.name
    );

    println!("\n-- joint actions and decisions: one list, updated from both sides --");
    let action = analyst.post_json::<_, Value>(
        &format!("/api/incidents/{incident_id}/items"),
        &json!({"kind": "action", "text": "Rebuild and re-sign acme-updater 4.2.2; revoke the leaked key",
                "owner": bolt.name, "due": "2026-12-05"}),
    )?;
    let action_id = action["id"]
        .as_str()
        .context("item without id")?
        .to_string();
    analyst.post_json::<_, Value>(
        &format!("/api/incidents/{incident_id}/items"),
        &json!({"kind": "decision", "text": "Hold automatic updates of acme-updater until 4.2.2 is verified"}),
    )?;
    // GREEN: the agreement asks for no approval below AMBER.
    let shared = analyst.post_json::<_, Value>(
        &format!("/api/incidents/{incident_id}/share"),
        &json!({"tlp": "green"}),
    )?;
    println!(
        "[{}] ana recorded an action for Bolt and a decision, and shared the list (TLP:GREEN, share {}, {})",
        acme.name,
        shared["id"].as_str().unwrap_or("?"),
        shared["state"].as_str().unwrap_or("?")
    );
    wait_for("the joint list at Bolt", || {
        let i = bolt_analyst.get_json::<Value>(&format!("/api/incidents/{incident_id}"));
        Ok(i.ok()
            .filter(|i| i["items"].as_array().is_some_and(|a| a.len() == 2))
            .map(drop))
    })?;
    bolt_analyst.post_json::<_, Value>(
        &format!("/api/incidents/{incident_id}/items/{action_id}"),
        &json!({"status": "done"}),
    )?;
    bolt_analyst.post_json::<_, Value>(
        &format!("/api/incidents/{incident_id}/share"),
        &json!({"tlp": "green"}),
    )?;
    println!(
        "[{}] filed ACME's incident from its joint list; bea marked the action done and shared the list back",
        bolt.name
    );
    wait_for("Bolt's update at ACME", || {
        let i = analyst.get_json::<Value>(&format!("/api/incidents/{incident_id}"))?;
        let done = i["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|it| it["id"] == action_id.as_str() && it["status"] == "done");
        Ok(done.then_some(()))
    })?;
    println!(
        "[{}] the action shows done (revision 2, by Bolt)",
        acme.name
    );

    println!("\n-- ACME's auditor checks the tamper-evident ledger --");
    let checkpoint = wait_for("a signed checkpoint", || {
        let cps = acme.api.get_json::<Value>("/api/ledger/checkpoints")?;
        Ok(cps.as_array().and_then(|c| c.last()).cloned())
    })?;
    println!(
        "[{}] latest checkpoint (C2SP signed note):\n    {}",
        acme.name,
        checkpoint["note"]
            .as_str()
            .unwrap_or("?")
            .trim_end()
            .replace('\n', "\n    ")
    );
    let verified = acme.api.get_json::<Value>("/api/ledger/verify")?;
    if verified["ok"] != true {
        bail!("ACME's ledger does not verify: {}", verified["fault"]);
    }
    println!(
        "[{}] ledger verified: {} entries, every leaf, the Merkle tree and {} signed checkpoint(s)",
        acme.name, verified["entries"], verified["checkpoints"]
    );
    let kinds: Vec<String> = acme
        .api
        .get_json::<Value>("/api/ledger?limit=1000")?
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["body"]["share_id"] == id.as_str())
        .map(|e| format!("{} ({})", e["kind"].as_str().unwrap_or("?"), e["seq"]))
        .collect();
    println!("    the release's story: {}", kinds.join(" → "));

    println!("\n-- the incident's coordination report (every line names its ledger entry) --");
    let report = acme.api.get_bytes(&format!(
        "/api/incidents/{incident_id}/report?format=markdown"
    ))?;
    println!("{}", String::from_utf8_lossy(&report).trim_end());

    println!("\n-- nodes stop (SIGTERM) --");
    for org in [&mut acme, &mut bolt, &mut cobalt, &mut mallory] {
        org.stop()?;
    }
    println!("\n== demo complete: 2 agreements signed by both sides, 3 shares refused before sealing (with every reason), 1 release approved by legal, 2 deliveries with signed receipts, 1 outsider refused, 1 human acknowledgement, a joint action closed from the other side, the ledger verified, the incident report ==");
    Ok(())
}
