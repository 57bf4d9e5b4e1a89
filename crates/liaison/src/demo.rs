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

use crate::client::Client;
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

    println!("\n-- ACME shares its IOC bundle with Bolt and Cobalt --");
    let too_low = acme.api.post_json::<_, Value>(
        "/api/shares",
        &json!({"tlp": "green", "to": [bolt.name, cobalt.name], "content": BUNDLE}),
    );
    match too_low {
        Err(e) => println!("[{}] TLP:GREEN refused: {e:#}", acme.name),
        Ok(_) => bail!("a TLP:AMBER bundle was shared as TLP:GREEN"),
    }
    let started = Instant::now();
    let share = acme.api.post_json::<_, Value>(
        "/api/shares",
        &json!({"tlp": "amber", "to": [bolt.name, cobalt.name], "content": BUNDLE}),
    )?;
    let id = share["id"]
        .as_str()
        .context("share without id")?
        .to_string();
    println!(
        "[{}] share {id} signed, encrypted per recipient and queued ({}, {} bytes)",
        acme.name,
        share["tlp"].as_str().unwrap_or("?"),
        share["size"]
    );
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
    if content != BUNDLE.as_bytes() {
        bail!("Bolt's copy differs from what ACME shared");
    }
    let bundle: Value = serde_json::from_slice(&content)?;
    for o in bundle["objects"].as_array().into_iter().flatten() {
        if o["type"] == "indicator" {
            println!("    indicator: {}", o["pattern"].as_str().unwrap_or("?"));
        }
    }

    println!("\n-- an outsider tries to deliver to Bolt --");
    let share = mallory.api.post_json::<_, Value>(
        "/api/shares",
        &json!({"tlp": "green", "to": [bolt.name], "content": "Please install this totally legitimate update."}),
    )?;
    let mid = share["id"]
        .as_str()
        .context("share without id")?
        .to_string();
    let error = wait_for("the refusal", || {
        let s = mallory
            .api
            .get_json::<Value>(&format!("/api/shares/{mid}"))?;
        Ok(s["deliveries"][0]["last_error"]
            .as_str()
            .map(str::to_string))
    })?;
    println!("[{}] delivery pending: {error}", mallory.name);
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

    println!("\n-- nodes stop (SIGTERM) --");
    for org in [&mut acme, &mut bolt, &mut cobalt, &mut mallory] {
        org.stop()?;
    }
    println!("\n== demo complete: 2 deliveries with signed receipts, 1 outsider refused ==");
    Ok(())
}
