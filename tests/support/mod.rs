//! Real nodes for integration tests: each `TestNode` is a node home created
//! with `liaison init` and, while started, a `liaison serve` child process
//! on 127.0.0.1 with ephemeral ports. Every wait is bounded.
#![allow(dead_code)] // each test binary uses a different part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The `liaison` binary under test.
pub fn liaison() -> Command {
    Command::new(env!("CARGO_BIN_EXE_liaison"))
}

/// A STIX bundle to share.
pub const STIX: &str = include_str!("../data/stix-indicator-for-c2-ip-address.json");

/// Fast retries so tests wait seconds, not minutes.
pub const FAST_DELIVERY: &str =
    "\n[delivery]\nrequest_timeout_ms = 3000\nbackoff_base_ms = 200\nbackoff_max_ms = 2000\n";

/// A loopback port no other node of this test binary has, free now for
/// both UDP and TCP.
///
/// Why not `liaison init --listen 127.0.0.1:0`: init checks the port is free
/// when the node is made, but tests run in parallel threads and a node
/// binds its ports only when started, so two nodes made close together (or
/// one made while another was stopped for a restart) could get the same
/// port. Ports handed out here stay reserved for the life of the process.
/// They lie below the range `liaison init` picks from for port 0
/// (20000–32767, used by `liaison demo` run from a test) and below Linux's
/// ephemeral range (32768–60999), where outgoing connections and `bind(0)`
/// do not reach.
pub fn reserve_port() -> u16 {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static TAKEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    const FIRST: u16 = 10_000;
    const SPAN: u16 = 10_000;
    let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
    // Start where this process's id points, so test binaries run one after
    // another (or by two CI jobs) do not walk the same ports.
    let start = (std::process::id() % u32::from(SPAN)) as u16;
    for step in 0..SPAN {
        let port = FIRST + (start + step) % SPAN;
        if taken.contains(&port) {
            continue;
        }
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let free =
            std::net::UdpSocket::bind(addr).is_ok() && std::net::TcpListener::bind(addr).is_ok();
        if free {
            taken.insert(port);
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{}", FIRST + SPAN);
}

/// A node home, and its daemon while started.
pub struct TestNode {
    pub name: String,
    pub dir: PathBuf,
    pub token: String,
    pub api: String,
    pub listen: String,
    child: Option<Child>,
    agent: ureq::Agent,
}

impl TestNode {
    /// `liaison init` a node named `name` under `root` (not started).
    pub fn init(root: &Path, name: &str) -> TestNode {
        let dir = root.join(name);
        let listen = format!("127.0.0.1:{}", reserve_port());
        let api = format!("127.0.0.1:{}", reserve_port());
        let out = liaison()
            .args(["init", "--org", name, "--listen", &listen, "--api", &api])
            .arg("--home")
            .arg(&dir)
            .output()
            .expect("run liaison init");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "init {name}: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = stdout
            .lines()
            .find_map(|l| l.strip_prefix("admin token: "))
            .expect("init prints the admin token")
            .trim()
            .to_string();
        let config: toml::Value =
            toml::from_str(&std::fs::read_to_string(dir.join("config.toml")).unwrap()).unwrap();
        let api = config["node"]["api"].as_str().unwrap().to_string();
        let listen = config["node"]["listen"].as_str().unwrap().to_string();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        TestNode {
            name: name.to_string(),
            dir,
            token,
            api,
            listen,
            child: None,
            agent,
        }
    }

    /// Append text (e.g. a `[delivery]` table) to the node's config.toml.
    pub fn configure(&self, extra: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("config.toml"))
            .unwrap();
        f.write_all(extra.as_bytes()).unwrap();
    }

    /// Start `liaison serve` and wait (bounded) until it says it is ready.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} already started", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("serve.log"))
            .unwrap();
        let mut child = liaison()
            .arg("serve")
            .arg("--home")
            .arg(&self.dir)
            .env("RUST_LOG", "info,liaison_net=debug")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn liaison serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains(" serving: ") {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = child.kill();
            panic!("{} did not start in 30 s; log:\n{}", self.name, self.log());
        }
        self.child = Some(child);
    }

    /// SIGTERM, and wait (bounded) for a clean exit.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "{} exited with {status} after SIGTERM",
                    self.name
                );
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{} did not stop within 40 s of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// GET with the admin token: the raw body of a 200 answer.
    pub fn raw_bytes(&self, path: &str) -> Vec<u8> {
        let mut resp = self
            .agent
            .get(&self.url(path))
            .header("Authorization", &self.auth())
            .config()
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .call()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "GET {path}");
        resp.body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .unwrap()
    }

    /// The daemon's process id, while started.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
    }

    pub fn card_json(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.dir.join("card.json")).unwrap()).unwrap()
    }

    pub fn node_id(&self) -> String {
        let card = self.card_json();
        let payload = card["payload"].as_str().unwrap();
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .unwrap();
        let inner: Value = serde_json::from_slice(&bytes).unwrap();
        inner["node_id"].as_str().unwrap().to_string()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api)
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// GET with the admin token: (status, JSON body or Null).
    pub fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .agent
            .get(&self.url(path))
            .header("Authorization", &self.auth())
            .call();
        read(resp)
    }

    /// GET a TAXII 2.1 resource as `token`: status and JSON.
    pub fn taxii_as(&self, token: &str, path: &str) -> (u16, Value) {
        let resp = self
            .agent
            .get(&self.url(path))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Accept", "application/taxii+json;version=2.1")
            .call();
        read(resp)
    }

    /// Wait (bounded) until a signed checkpoint covers ledger entry `seq`,
    /// so that every entry up to it is provable.
    pub fn wait_for_checkpoint_over(&self, seq: u64) {
        wait_until(
            Duration::from_secs(30),
            "a checkpoint covering the entry",
            || {
                let (status, cps) = self.get("/api/ledger/checkpoints");
                status == 200
                    && cps
                        .as_array()
                        .and_then(|c| c.last())
                        .and_then(|c| c["size"].as_u64())
                        .is_some_and(|size| size > seq)
            },
        );
    }

    /// POST JSON with the admin token.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .agent
            .post(&self.url(path))
            .header("Authorization", &self.auth())
            .send_json(body);
        read(resp)
    }

    /// DELETE with the admin token.
    pub fn delete(&self, path: &str) -> (u16, Value) {
        let resp = self
            .agent
            .delete(&self.url(path))
            .header("Authorization", &self.auth())
            .call();
        read(resp)
    }

    /// A request without or with another token: (status, body).
    pub fn raw(&self, method: &str, path: &str, token: Option<&str>) -> (u16, Value) {
        let url = self.url(path);
        let resp = match (method, token) {
            ("GET", None) => self.agent.get(&url).call(),
            ("GET", Some(t)) => self
                .agent
                .get(&url)
                .header("Authorization", &format!("Bearer {t}"))
                .call(),
            ("DELETE", None) => self.agent.delete(&url).call(),
            ("DELETE", Some(t)) => self
                .agent
                .delete(&url)
                .header("Authorization", &format!("Bearer {t}"))
                .call(),
            ("POST", None) => self.agent.post(&url).send_json(json!({})),
            ("POST", Some(t)) => self
                .agent
                .post(&url)
                .header("Authorization", &format!("Bearer {t}"))
                .send_json(json!({})),
            _ => panic!("method {method}"),
        };
        read(resp)
    }

    /// Pin `other` under its name.
    pub fn pin(&self, other: &TestNode) {
        let (status, body) = self.post(
            "/api/peers",
            &json!({"card": other.card_json(), "name": other.name}),
        );
        assert_eq!(status, 201, "{} pins {}: {body}", self.name, other.name);
    }

    /// Share `content` at `tlp` to peers named in `to`; the share id.
    pub fn share(&self, tlp: &str, to: &[&str], content: &str) -> String {
        let (status, body) = self.post(
            "/api/shares",
            &json!({"tlp": tlp, "to": to, "content": content}),
        );
        assert_eq!(status, 201, "{} shares: {body}", self.name);
        body["id"].as_str().unwrap().to_string()
    }

    pub fn share_view(&self, id: &str) -> Value {
        let (status, body) = self.get(&format!("/api/shares/{id}"));
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Inbox bundle ids (up to `limit`).
    pub fn inbox_ids(&self) -> Vec<String> {
        let (status, body) = self.get("/api/inbox?limit=100000");
        assert_eq!(status, 200, "{body}");
        body.as_array()
            .unwrap()
            .iter()
            .map(|i| i["bundle_id"].as_str().unwrap().to_string())
            .collect()
    }

    /// Ledger entries of `kind`.
    pub fn ledger_kinds(&self, kind: &str) -> Vec<Value> {
        let (status, body) = self.get("/api/ledger?limit=100000");
        assert_eq!(status, 200, "{body}");
        body.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == kind)
            .cloned()
            .collect()
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Value) {
    let mut resp = resp.expect("HTTP request to the node API");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// Poll `f` every 100 ms until it returns true; panic with `what` after
/// `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A unique STIX bundle (fresh bundle and indicator ids) built from `STIX`.
pub fn unique_stix(n: usize) -> String {
    let mut v: Value = serde_json::from_str(STIX).unwrap();
    v["id"] = json!(format!("bundle--{}", uuid::Uuid::new_v4()));
    if let Some(objs) = v["objects"].as_array_mut() {
        for o in objs.iter_mut() {
            if o["type"] == "indicator" {
                o["name"] = json!(format!("test indicator {n}"));
            }
        }
    }
    v.to_string()
}

/// A STIX bundle (from [`STIX`]) whose indicator is `id` at version
/// `modified`, named `name`, without relationships.
pub fn stix_with_indicator(id: &str, modified: &str, name: &str) -> String {
    let mut v: Value = serde_json::from_str(STIX).unwrap();
    v["id"] = json!(format!("bundle--{}", uuid::Uuid::new_v4()));
    for o in v["objects"].as_array_mut().unwrap() {
        if o["type"] == "indicator" {
            o["id"] = json!(id);
            o["modified"] = json!(modified);
            o["name"] = json!(name);
        }
    }
    // Relationships pointing at the old indicator would dangle.
    v["objects"]
        .as_array_mut()
        .unwrap()
        .retain(|o| o["type"] != "relationship");
    v.to_string()
}

/// An HTTP answer with its content type, for checking error shapes.
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

impl TestNode {
    /// Any `method` on `path`, with an optional bearer token and an optional
    /// raw body `(content type, bytes)`.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, &[u8])>,
    ) -> Reply {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let resp = match body {
            Some((content_type, bytes)) => self.agent.run(
                req.header("Content-Type", content_type)
                    .body(bytes.to_vec())
                    .unwrap(),
            ),
            None => self.agent.run(req.body(()).unwrap()),
        };
        let mut resp = resp.expect("HTTP request to the node API");
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            content_type,
            body,
        }
    }
}

/// Nodes `acme` (with `FAST_DELIVERY`) and `bolt`, started, pinned to
/// each other, with [`OPEN_AGREEMENT`] in force between them.
pub fn pinned_pair(root: &Path) -> (TestNode, TestNode) {
    let mut a = TestNode::init(root, "acme");
    let mut b = TestNode::init(root, "bolt");
    a.configure(FAST_DELIVERY);
    a.start();
    b.start();
    pin_and_agree(&a, &b, OPEN_AGREEMENT);
    (a, b)
}

/// An agreement that lets anything up to TLP:RED flow both ways, with no
/// redaction and no approval: for tests about delivery rather than policy.
pub const OPEN_AGREEMENT: &str = r#"
title = "test: everything both ways"
valid_from = "2020-01-01T00:00:00Z"
valid_until = "2100-01-01T00:00:00Z"
[outbound]
max_tlp = "red"
content = { kinds = ["stix", "csaf", "note", "log"], stix_types = ["*"] }
[inbound]
max_tlp = "red"
content = { kinds = ["stix", "csaf", "note", "log"], stix_types = ["*"] }
"#;

impl TestNode {
    /// Agreements of this node (every version).
    pub fn agreements(&self) -> Vec<Value> {
        let (status, body) = self.get("/api/agreements");
        assert_eq!(status, 200, "{body}");
        body.as_array().unwrap().clone()
    }

    /// The state of agreement `id` version `version` here, if known.
    pub fn agreement_state(&self, id: &str, version: u64) -> Option<String> {
        self.agreements()
            .into_iter()
            .find(|a| a["id"] == id && a["version"] == version)
            .map(|a| a["state"].as_str().unwrap().to_string())
    }

    /// Propose `toml` to `other` (by its name here); the agreement view.
    pub fn propose(&self, other: &TestNode, toml: &str) -> Value {
        let (status, body) = self.post(
            "/api/agreements",
            &json!({"peer": other.name, "toml": toml}),
        );
        assert_eq!(
            status, 201,
            "{} proposes to {}: {body}",
            self.name, other.name
        );
        body
    }
}

/// Pin `a` and `b` to each other and bring `toml` into force between them
/// (see [`agree`]).
pub fn pin_and_agree(a: &TestNode, b: &TestNode, toml: &str) -> (String, u64) {
    a.pin(b);
    b.pin(a);
    agree(a, b, toml)
}

/// What the CLI printed after `label: ` on a line of its own (an id).
pub fn printed(out: &str, label: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{label}: ")))
        .unwrap_or_else(|| panic!("no `{label}:` line in {out}"))
        .to_string()
}

/// `a` proposes `toml` to `b`, `b` countersigns, and both hold it in force
/// (bounded waits). Returns the agreement id and version.
pub fn agree(a: &TestNode, b: &TestNode, toml: &str) -> (String, u64) {
    let proposed = a.propose(b, toml);
    let id = proposed["id"].as_str().unwrap().to_string();
    let version = proposed["version"].as_u64().unwrap();
    wait_until(Duration::from_secs(30), "the proposal to arrive", || {
        b.agreement_state(&id, version).as_deref() == Some("proposed_by_peer")
    });
    let (status, body) = b.post(&format!("/api/agreements/{id}/sign"), &json!({}));
    assert_eq!(status, 200, "{} signs: {body}", b.name);
    wait_until(
        Duration::from_secs(30),
        "the countersignature to arrive",
        || a.agreement_state(&id, version).as_deref() == Some("in_force"),
    );
    (id, version)
}

impl TestNode {
    /// `liaison ARGS --home DIR` against this node as `token`: (succeeded,
    /// stdout, stderr).
    pub fn cli_as(&self, token: &str, args: &[&str]) -> (bool, String, String) {
        let out = self.command_as(token, args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `liaison ARGS --home DIR` with `token`, not yet run: for tests that
    /// spawn it (to feed its stdin, or watch it while it runs).
    pub fn command_as(&self, token: &str, args: &[&str]) -> Command {
        let mut command = liaison();
        command
            .args(args)
            .arg("--home")
            .arg(&self.dir)
            .env("LIAISON_TOKEN", token);
        command
    }

    /// [`TestNode::cli_as`] with the node's admin token.
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        self.cli_as(&self.token, args)
    }

    /// Create a user with the CLI (`liaison user add`); its token.
    pub fn add_user(&self, name: &str, role: &str) -> String {
        let out = liaison()
            .args(["user", "add", name, "--role", role, "--home"])
            .arg(&self.dir)
            .env("LIAISON_TOKEN", &self.token)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text.lines()
            .find_map(|l| l.strip_prefix("token: "))
            .expect("the token is printed once")
            .to_string()
    }

    /// A JSON request with another user's `token`: (status, body).
    pub fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
        let r = self.call(
            method,
            path,
            Some(token),
            bytes.as_deref().map(|b| ("application/json", b)),
        );
        (r.status, r.body)
    }
}
