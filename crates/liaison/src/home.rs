//! The node home directory: keys, identity card and configuration.
//!
//! ```text
//! HOME/
//!   config.toml    node settings (public)
//!   card.json      this node's signed identity card (public; hand it to partners)
//!   signing.key    Ed25519 PKCS#8 PEM      (0600)
//!   age.key        age X25519 identity     (0600, readable by `age -d -i`)
//!   liaison.db     the store: users (token hashes), peers, shares, inbox, ledger (0600)
//! ```

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use liaison_core::identity::{NodeKeys, SignedCard};
use liaison_store::{token_hash, SqliteStore, Store};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Settings stored in `config.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// This node.
    pub node: NodeConfig,
    /// Delivery worker tuning (all optional).
    #[serde(default, skip_serializing_if = "DeliverySettings::is_default")]
    pub delivery: DeliverySettings,
    /// Ledger checkpoints (all optional).
    #[serde(default, skip_serializing_if = "LedgerSettings::is_default")]
    pub ledger: LedgerSettings,
    /// Contact-path checks by tier (all optional).
    #[serde(default, skip_serializing_if = "ContactSettings::is_default")]
    pub contacts: ContactSettings,
    /// Incident deadlines and the escalation webhook (all optional).
    #[serde(default, skip_serializing_if = "IncidentSettings::is_default")]
    pub incidents: IncidentSettings,
    /// Size limits (all optional).
    #[serde(default, skip_serializing_if = "LimitSettings::is_default")]
    pub limits: LimitSettings,
}

/// The optional `[limits]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Largest bundle content this node shares or accepts, in bytes.
    /// Default [`DEFAULT_BUNDLE_BYTES`], at most [`MAX_BUNDLE_BYTES`].
    /// Content streams (upload, seal, transfer in parts, open, check), so
    /// memory does not grow with it.
    pub max_bundle_bytes: Option<u64>,
}

/// The default `[limits] max_bundle_bytes`: 256 MiB.
pub const DEFAULT_BUNDLE_BYTES: u64 = 256 * 1024 * 1024;

/// The largest `[limits] max_bundle_bytes`: 1 GiB.
pub const MAX_BUNDLE_BYTES: u64 = 1024 * 1024 * 1024;

impl LimitSettings {
    fn is_default(&self) -> bool {
        *self == LimitSettings::default()
    }

    /// The limit in force, checked.
    pub fn max_bundle_bytes(&self) -> anyhow::Result<u64> {
        match self.max_bundle_bytes {
            None => Ok(DEFAULT_BUNDLE_BYTES),
            Some(0) => anyhow::bail!("[limits] max_bundle_bytes must be at least 1"),
            Some(n) if n > MAX_BUNDLE_BYTES => anyhow::bail!(
                "[limits] max_bundle_bytes = {n} is above the ceiling of {MAX_BUNDLE_BYTES} bytes"
            ),
            Some(n) => Ok(n),
        }
    }
}

/// The optional `[incidents]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentSettings {
    /// Where escalations are POSTed as JSON (e.g. a local chat bridge or
    /// paging endpoint). No webhook: escalations are ledgered and shown only.
    pub webhook: Option<String>,
    /// How often deadlines are checked, milliseconds. Default 5000.
    pub check_interval_ms: Option<u64>,
    /// Deadline rows `{ severity, tier, receipt_s, ack_s }` overriding the
    /// defaults (see `liaison_core::incident::DeadlinePolicy`).
    pub deadlines: Option<liaison_core::incident::DeadlinePolicy>,
}

impl IncidentSettings {
    fn is_default(&self) -> bool {
        *self == IncidentSettings::default()
    }

    /// The escalation settings, checked: a bad webhook address or deadline
    /// table is an error naming what is wrong.
    pub fn to_config(&self) -> anyhow::Result<liaison_net::EscalationConfig> {
        let mut c = liaison_net::EscalationConfig::default();
        if let Some(url) = &self.webhook {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                anyhow::bail!("[incidents] webhook must be an http:// or https:// URL");
            }
            c.webhook = Some(url.clone());
        }
        if let Some(ms) = self.check_interval_ms {
            c.tick = std::time::Duration::from_millis(ms.max(50));
        }
        if let Some(d) = &self.deadlines {
            if let Err(errors) = d.validate() {
                let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                anyhow::bail!("[incidents] deadlines: {}", text.join("; "));
            }
            c.deadlines = d.clone();
        }
        Ok(c)
    }
}

/// The optional `[contacts]` table: how often each tier's contact path is
/// checked (a signed ping over QUIC) and must have been verified.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactSettings {
    /// `false` turns the scheduled checks off (`liaison peer check` still works).
    pub enabled: Option<bool>,
    /// Tier 1 (critical) interval, seconds. Default 3600.
    pub tier1_interval_s: Option<u64>,
    /// Tier 2 (important) interval, seconds. Default 21600.
    pub tier2_interval_s: Option<u64>,
    /// Tier 3 (other) interval, seconds. Default 86400.
    pub tier3_interval_s: Option<u64>,
}

impl ContactSettings {
    fn is_default(&self) -> bool {
        *self == ContactSettings::default()
    }

    /// The schedule: defaults overridden by what is set.
    pub fn schedule(&self) -> liaison_core::roster::ContactSchedule {
        let mut s = liaison_core::roster::ContactSchedule::default();
        let set = [
            self.tier1_interval_s,
            self.tier2_interval_s,
            self.tier3_interval_s,
        ];
        for (slot, v) in s.intervals.iter_mut().zip(set) {
            if let Some(secs) = v {
                *slot = std::time::Duration::from_secs(secs.max(1));
            }
        }
        s
    }

    /// Whether the node checks on its own.
    pub fn enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }
}

/// The optional `[ledger]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerSettings {
    /// Sign a checkpoint every this many new entries. Default 1000.
    pub checkpoint_every: Option<u64>,
    /// …and at least this often while entries arrive, seconds. Default 60.
    pub checkpoint_interval_s: Option<u64>,
}

impl LedgerSettings {
    fn is_default(&self) -> bool {
        *self == LedgerSettings::default()
    }

    /// The checkpointer configuration: defaults overridden by what is set.
    pub fn to_config(&self) -> liaison_net::CheckpointConfig {
        let mut c = liaison_net::CheckpointConfig::default();
        if let Some(n) = self.checkpoint_every {
            c.every = n.max(1);
        }
        if let Some(s) = self.checkpoint_interval_s {
            c.interval = std::time::Duration::from_secs(s.max(1));
        }
        c
    }
}

/// The optional `[delivery]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// Bound on one attempt (dial, send, receipt), milliseconds. Default 20000.
    pub request_timeout_ms: Option<u64>,
    /// First retry delay, milliseconds; doubles per failure. Default 1000.
    pub backoff_base_ms: Option<u64>,
    /// Longest retry delay, milliseconds. Default 300000.
    pub backoff_max_ms: Option<u64>,
    /// Deliveries in flight at once. Default 64.
    pub max_in_flight: Option<usize>,
    /// Pause after each 1 MiB part of a large envelope, milliseconds.
    /// Default 0 (none); paces bulk transfers on a shared link.
    pub part_interval_ms: Option<u64>,
}

impl DeliverySettings {
    fn is_default(&self) -> bool {
        *self == DeliverySettings::default()
    }

    /// The worker configuration: defaults overridden by what is set.
    pub fn to_config(&self) -> liaison_net::DeliveryConfig {
        use std::time::Duration;
        let mut c = liaison_net::DeliveryConfig::default();
        if let Some(ms) = self.request_timeout_ms {
            c.request_timeout = Duration::from_millis(ms.max(1));
        }
        if let Some(ms) = self.backoff_base_ms {
            c.backoff_base = Duration::from_millis(ms.max(1));
        }
        if let Some(ms) = self.backoff_max_ms {
            c.backoff_max = Duration::from_millis(ms.max(1));
        }
        if let Some(n) = self.max_in_flight {
            c.max_in_flight = n.max(1);
        }
        if let Some(ms) = self.part_interval_ms {
            c.part_interval = Duration::from_millis(ms);
        }
        c
    }
}

/// The `[node]` table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeConfig {
    /// Organization name, as shown to peers.
    pub org: String,
    /// QUIC listen address; it is published on the identity card.
    pub listen: String,
    /// Local HTTP API address (keep it on loopback).
    #[serde(default = "default_api")]
    pub api: String,
}

/// The default local API address.
pub fn default_api() -> String {
    "127.0.0.1:7080".to_string()
}

/// A node home directory.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
}

impl Home {
    pub fn new(dir: impl Into<PathBuf>) -> Home {
        Home { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    pub fn card_path(&self) -> PathBuf {
        self.dir.join("card.json")
    }

    pub fn signing_key_path(&self) -> PathBuf {
        self.dir.join("signing.key")
    }

    pub fn age_key_path(&self) -> PathBuf {
        self.dir.join("age.key")
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.join("liaison.db")
    }

    /// Where content on its way into the store is spooled (anonymous files,
    /// gone when closed): uploads, envelopes being sealed, content of
    /// envelopes received in parts while it is checked.
    pub fn spool_dir(&self) -> PathBuf {
        self.dir.join("spool")
    }

    /// Create the spool directory, owner-only.
    pub fn ensure_spool(&self) -> anyhow::Result<PathBuf> {
        use anyhow::Context as _;
        let dir = self.spool_dir();
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .with_context(|| format!("cannot make {} private", dir.display()))?;
        }
        Ok(dir)
    }

    /// Create a new home with fresh keys, the store and an admin user.
    /// Refuses to touch an existing one. Returns the card and the admin
    /// token, which exists nowhere else (the store keeps only its hash).
    pub fn init(
        &self,
        org: &str,
        listen: &str,
        api: &str,
    ) -> Result<(SignedCard, Zeroizing<String>)> {
        if org.trim().is_empty() {
            bail!("--org must not be empty");
        }
        if self.config_path().exists()
            || self.signing_key_path().exists()
            || self.db_path().exists()
        {
            bail!(
                "{} already holds a Liaison node; refusing to overwrite it (choose another --home)",
                self.dir.display()
            );
        }
        // Port 0 means "pick a free port now": the QUIC address goes on the
        // signed card that partners pin, so it must be concrete and stay the
        // same across restarts.
        let listen = &resolve_port(listen, "--listen", Proto::Udp)?;
        let api = &resolve_port(api, "--api", Proto::Tcp)?;
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", self.dir.display()))?;

        let keys = NodeKeys::generate()?;
        let now = Utc::now();
        write_new(
            &self.signing_key_path(),
            keys.signing_key_pem().as_bytes(),
            0o600,
        )?;
        write_new(
            &self.age_key_path(),
            keys.age_identity_file(now).as_bytes(),
            0o600,
        )?;
        let card = keys.issue_card(org, vec![listen.to_string()], now);
        write_new(&self.card_path(), card.to_json().as_bytes(), 0o644)?;
        let config = Config {
            node: NodeConfig {
                org: org.to_string(),
                listen: listen.to_string(),
                api: api.to_string(),
            },
            delivery: DeliverySettings::default(),
            ledger: LedgerSettings::default(),
            contacts: ContactSettings::default(),
            incidents: IncidentSettings::default(),
            limits: LimitSettings::default(),
        };
        let text = format!(
            "# Liaison node configuration. Keys live beside this file (mode 0600).\n{}",
            toml::to_string_pretty(&config)?
        );
        write_new(&self.config_path(), text.as_bytes(), 0o644)?;

        let token = new_token()?;
        let store = SqliteStore::open(self.db_path())
            .with_context(|| format!("cannot create the store in {}", self.dir.display()))?;
        store.init_node(&keys.node_id(), org, &token_hash(&token))?;
        Ok((card, token))
    }

    pub fn config(&self) -> Result<Config> {
        let path = self.config_path();
        let text = fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {} (is {} a Liaison home? run `liaison init`)",
                path.display(),
                self.dir.display()
            )
        })?;
        toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
    }

    /// Load the private keys, refusing key files readable by others.
    pub fn keys(&self) -> Result<NodeKeys> {
        let signing = read_private(&self.signing_key_path())?;
        let age = read_private(&self.age_key_path())?;
        Ok(NodeKeys::from_files(&signing, &age)?)
    }

    pub fn card(&self) -> Result<SignedCard> {
        load_card(&self.card_path())
    }
}

#[derive(Clone, Copy)]
enum Proto {
    Udp,
    Tcp,
}

/// Ports tried for `ip:0`: below Linux's ephemeral range (32768–60999), so
/// a port handed out here is not also handed to some outgoing connection.
const FREE_PORTS: std::ops::Range<u16> = 20_000..32_768;

/// Ports this process has handed out: `liaison demo` makes all its nodes
/// before starting any, so a port chosen for one is not yet bound when the
/// next is made.
static GIVEN_PORTS: std::sync::Mutex<std::collections::BTreeSet<u16>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// With port 0 (`ip:0`), pick a port that is free now and keep it; anything
/// else (a concrete port, or `host:port`) is kept as given.
///
/// Why not let the kernel choose: binding port 0 and releasing it hands the
/// same port to the next caller, so nodes initialized one after another got
/// the same address. Random ports, each checked by binding it, do not.
fn resolve_port(addr: &str, flag: &str, proto: Proto) -> Result<String> {
    if !addr.ends_with(":0") {
        return Ok(addr.to_string());
    }
    let parsed: std::net::SocketAddr = addr
        .parse()
        .with_context(|| format!("{flag} `{addr}`: port 0 needs an ip:port address"))?;
    for _ in 0..200 {
        let mut raw = [0u8; 2];
        getrandom::getrandom(&mut raw).context("the system random source failed")?;
        let span = FREE_PORTS.end - FREE_PORTS.start;
        let port = FREE_PORTS.start + u16::from_le_bytes(raw) % span;
        let candidate = std::net::SocketAddr::new(parsed.ip(), port);
        let mut given = GIVEN_PORTS.lock().unwrap_or_else(|e| e.into_inner());
        if given.contains(&port) {
            continue;
        }
        let free = match proto {
            Proto::Udp => std::net::UdpSocket::bind(candidate).is_ok(),
            Proto::Tcp => std::net::TcpListener::bind(candidate).is_ok(),
        };
        if free {
            given.insert(port);
            return Ok(candidate.to_string());
        }
    }
    bail!("{flag} {addr}: no free port found in {FREE_PORTS:?}")
}

/// Read and verify an identity card file.
pub fn load_card(path: &Path) -> Result<SignedCard> {
    let bytes = fs::read(path).with_context(|| format!("cannot read card {}", path.display()))?;
    SignedCard::from_json(&bytes).with_context(|| format!("card {}", path.display()))
}

/// A fresh API token: 256 random bits, hex.
pub fn new_token() -> Result<Zeroizing<String>> {
    liaison_store::new_token().context("cannot make an API token")
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn read_private(path: &Path) -> Result<Zeroizing<String>> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "private key file {} has mode {mode:04o}; it must be 0600 (run `chmod 600 {}`)",
            path.display(),
            path.display()
        );
    }
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Zeroizing::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_parses_and_sets_every_delivery_knob() {
        let text = include_str!("../../../config/node.example.toml");
        let config: Config = toml::from_str(text).expect("config/node.example.toml parses");
        assert_eq!(config.node.listen, "127.0.0.1:7443");
        let d = config.delivery.to_config();
        let default = liaison_net::DeliveryConfig::default();
        assert_eq!(d.request_timeout, default.request_timeout);
        assert_eq!(d.backoff_base, default.backoff_base);
        assert_eq!(d.backoff_max, default.backoff_max);
        assert_eq!(d.max_in_flight, default.max_in_flight);
        assert_eq!(d.part_interval, default.part_interval);
        assert_eq!(
            config.limits.max_bundle_bytes().unwrap(),
            DEFAULT_BUNDLE_BYTES,
            "the example shows the default"
        );
        let paced = text.replace("part_interval_ms = 0", "part_interval_ms = 25");
        let paced: Config = toml::from_str(&paced).unwrap();
        assert_eq!(
            paced.delivery.to_config().part_interval,
            std::time::Duration::from_millis(25)
        );
        let too_big = LimitSettings {
            max_bundle_bytes: Some(MAX_BUNDLE_BYTES + 1),
        };
        assert!(too_big.max_bundle_bytes().is_err());
        // A misspelt key is an error, not silently ignored.
        let bad = text.replace("backoff_max_ms", "backoff_maximum_ms");
        assert!(toml::from_str::<Config>(&bad).is_err());
    }
}
