//! `liaison bench`: one run on this machine that prints Liaison's figures
//! side by side with the physical limits measured in the same run, and with
//! what teams use today (GnuPG, the OASIS TAXII 2.1 reference server).
//!
//! ```sh
//! cargo run --release -p liaison -- bench            # full, a few minutes
//! cargo run --release -p liaison -- bench --quick    # under a minute
//! cargo run --release -p liaison -- bench --smoke    # seconds: proves every scenario runs
//! cargo run --release -p liaison -- bench --json     # the rows as JSON
//! ```
//!
//! Every row is `scenario, figure, unit, limit, ratio`: the ratio is the
//! fraction of the limit achieved (figure / limit for rates, limit / figure
//! for times and sizes), so 1.0 means "at the limit" and smaller is further
//! from it. For the baselines the "limit" column holds Liaison's
//! comparable figure instead, and the ratio is baseline / Liaison.
//!
//! Scenarios (all on 127.0.0.1 with ephemeral ports, every loop bounded in
//! count and in time; a scenario that fails prints a `skipped` row):
//!
//! - primitives: fdatasync, Ed25519 sign and `verify_strict`, age encrypt and
//!   decrypt (per message for 1, 10 and 100 recipients; MB/s at 1 and
//!   16 MiB), SHA-256, QUIC on loopback through `liaison_net::Endpoint`
//!   (bulk MB/s, small request/answer round trips), SQLite durable commits
//!   with the store's own settings (`Store::append`, one per transaction);
//! - end to end: real `liaison_net::Node`s in this process behind the real
//!   HTTP API, 1 KiB, 64 KiB and 16 MiB STIX bundles to 1 and 10 peers,
//!   durable, with signed receipts; the per-delivery limit is computed from
//!   the primitives above;
//! - a large STIX bundle (100 000 indicators) between two `liaison serve`
//!   processes, with each node's peak RSS (`VmHWM`);
//! - the ledger: durable appends at size, `ledger verify` at 1 000 000
//!   entries;
//! - an idle node: start-up time and RSS;
//! - baselines, when installed: `gpg --sign --encrypt` / `gpg --decrypt`
//!   per bundle, and medallion (PyPI `medallion`, memory backend), found at
//!   `target/bench-venv/bin/medallion` or `$LIAISON_MEDALLION`.
//!
//! `LIAISON_BENCH_ONLY=large,ledger` runs only the named scenarios (for
//! profiling one of them).
//!
//! Child processes (`liaison serve`, gpg, medallion) are started from this
//! very executable (`std::env::current_exe`) or from fixed paths, and are
//! killed through their own handles when their scenario ends.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Utc};
use liaison_api::{AppState, NodeHooks};
use liaison_core::agreement::{AgreementFile, AgreementState, SignedAgreement};
use liaison_core::identity::{IdentityCard, NodeId, NodeKeys, SignedCard};
use liaison_core::ledger::kinds;
use liaison_core::manifest::{sha256_hex, Party};
use liaison_core::wire::{FrameLimits, FrameType};
use liaison_net::{Endpoint, Handler, Node, NodeConfig, SharedPins};
use liaison_store::{
    token_hash, AgreementRecord, DeliveryState, Event, PeerRecord, Role, SqliteStore, Store,
};
use serde_json::{json, Value};

use crate::home::Home;

/// The sample every small bundle is made from.
const STIX: &str = include_str!("../../../tests/data/stix-indicator-for-c2-ip-address.json");
/// The analyst token of every bench node.
const ANALYST_TOKEN: &str = "bench-analyst-token-0123456789abcdef0123456789abcdef";
/// The peak-RSS goal for a node moving a large bundle.
const RSS_GOAL_MIB: f64 = 64.0;
const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// What `liaison bench` was asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// A shorter run (under a minute).
    pub quick: bool,
    /// A few iterations of each scenario (seconds; for tests): no large
    /// bundle, a small ledger.
    pub smoke: bool,
    /// Print the rows as JSON instead of a table.
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Smoke,
    Quick,
    Full,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Smoke => "smoke",
            Mode::Quick => "quick",
            Mode::Full => "full",
        }
    }

    /// Pick by mode.
    fn pick<T>(self, smoke: T, quick: T, full: T) -> T {
        match self {
            Mode::Smoke => smoke,
            Mode::Quick => quick,
            Mode::Full => full,
        }
    }

    /// Time budget of one primitive measurement.
    fn budget(self) -> Duration {
        self.pick(
            Duration::from_millis(60),
            Duration::from_millis(300),
            Duration::from_millis(1000),
        )
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
struct Row {
    group: &'static str,
    scenario: String,
    figure: Option<f64>,
    unit: &'static str,
    limit: Option<f64>,
    /// What the limit is.
    basis: String,
    /// Lower figures are better (times, sizes): ratio = limit / figure.
    lower_better: bool,
    note: String,
}

impl Row {
    fn ratio(&self) -> Option<f64> {
        let (f, l) = (self.figure?, self.limit?);
        if !(f > 0.0 && l > 0.0) {
            return None;
        }
        Some(if self.lower_better { l / f } else { f / l })
    }

    fn to_json(&self) -> Value {
        json!({
            "group": self.group,
            "scenario": self.scenario,
            "figure": self.figure,
            "unit": self.unit,
            "limit": self.limit,
            "limit_basis": self.basis,
            "ratio": self.ratio(),
            "note": self.note,
            "skipped": self.figure.is_none(),
        })
    }
}

/// Primitive costs measured in this run, in seconds (per operation) or
/// bytes per second; what the limits are computed from.
#[derive(Debug, Default, Clone)]
struct Prims {
    sign: Option<f64>,
    verify: Option<f64>,
    /// age encrypt / decrypt to one recipient, by size.
    enc: BTreeMap<usize, f64>,
    dec: BTreeMap<usize, f64>,
    sha_bps: Option<f64>,
    /// One SHA-256 of a ~100-byte input (a ledger leaf or node).
    sha_small: Option<f64>,
    quic_bps: Option<f64>,
    rtt: Option<f64>,
    commit: Option<f64>,
}

impl Prims {
    /// The limit for one delivery of `size` bytes: sign + verify + encrypt +
    /// decrypt + two durable commits + one round trip, plus hashing the
    /// content twice and moving it once over QUIC (negligible below 64 KiB).
    fn one_delivery(&self, size: usize) -> Option<f64> {
        let s = size as f64;
        Some(
            self.sign?
                + self.verify?
                + self.enc.get(&size)?
                + self.dec.get(&size)?
                + 2.0 * self.commit?
                + self.rtt?
                + s / self.quic_bps?
                + 2.0 * s / self.sha_bps?,
        )
    }

    /// Liaison's seal + open of one 1 KiB bundle, in process (no I/O).
    fn seal_open_1k(&self) -> Option<f64> {
        Some(self.sign? + self.enc.get(&KIB)? + self.dec.get(&KIB)? + self.verify?)
    }
}

/// The run: its mode, rows and what later rows compare against.
struct Suite {
    mode: Mode,
    json: bool,
    rows: Vec<Row>,
    prims: Prims,
    /// Liaison 1 KiB 1→1 unloaded bundles/s, for the TAXII baseline.
    e2e_1k_rate: Option<f64>,
    rt: tokio::runtime::Runtime,
}

impl Suite {
    #[allow(clippy::too_many_arguments)]
    fn row(
        &mut self,
        group: &'static str,
        scenario: impl Into<String>,
        figure: f64,
        unit: &'static str,
        limit: Option<f64>,
        basis: impl Into<String>,
        lower_better: bool,
        note: impl Into<String>,
    ) {
        let row = Row {
            group,
            scenario: scenario.into(),
            figure: Some(figure),
            unit,
            limit,
            basis: basis.into(),
            lower_better,
            note: note.into(),
        };
        if !self.json {
            print_row(&row);
        }
        self.rows.push(row);
    }

    fn skip(&mut self, group: &'static str, scenario: impl Into<String>, why: impl Into<String>) {
        let row = Row {
            group,
            scenario: scenario.into(),
            figure: None,
            unit: "",
            limit: None,
            basis: String::new(),
            lower_better: false,
            note: format!("skipped: {}", why.into()),
        };
        if !self.json {
            print_row(&row);
        }
        self.rows.push(row);
    }

    /// Run one scenario; an error becomes a `skipped` row.
    /// `LIAISON_BENCH_ONLY=name,name` (e.g. `large`, `ledger`) runs only
    /// the scenarios whose names contain one of them: for profiling.
    fn scenario(&mut self, group: &'static str, name: &str, f: fn(&mut Suite) -> Result<()>) {
        if let Ok(only) = std::env::var("LIAISON_BENCH_ONLY") {
            if !only
                .split(',')
                .any(|o| !o.is_empty() && name.contains(o.trim()))
            {
                return;
            }
        }
        let t = Instant::now();
        if let Err(e) = f(self) {
            self.skip(group, name, format!("{e:#}"));
        }
        if !self.json {
            eprintln!("  [{name}: {:.1} s]", t.elapsed().as_secs_f64());
        }
    }
}

/// Run the suite and print its table (or JSON).
pub fn run(opts: &Options) -> Result<()> {
    let mode = if opts.smoke {
        Mode::Smoke
    } else if opts.quick {
        Mode::Quick
    } else {
        Mode::Full
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let started = Instant::now();
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    let mut suite = Suite {
        mode,
        json: opts.json,
        rows: Vec::new(),
        prims: Prims::default(),
        e2e_1k_rate: None,
        rt,
    };
    if !opts.json {
        println!(
            "Liaison bench ({} mode): {cores} cores (1-min load average at start: {load}), {} build, \
             temp dir {}",
            mode.name(),
            if cfg!(debug_assertions) {
                "DEBUG"
            } else {
                "release"
            },
            std::env::temp_dir().display()
        );
        println!(
            "ratio = fraction of the limit achieved (figure/limit for rates, limit/figure for \
             times and sizes); baselines: limit = Liaison's comparable figure, ratio = baseline/Liaison"
        );
        println!();
        print_header();
    }
    suite.scenario("primitive", "primitives", primitives);
    suite.scenario("primitive", "quic", quic);
    suite.scenario("end-to-end", "end to end", end_to_end);
    if mode == Mode::Smoke {
        suite.skip(
            "large",
            "large STIX bundle, two processes",
            "not in --smoke",
        );
    } else {
        suite.scenario("large", "large bundle", large_bundle);
    }
    suite.scenario("ledger", "ledger", ledger);
    suite.scenario("node", "idle node", idle_node);
    suite.scenario("baseline", "gpg", gpg_baseline);
    suite.scenario("baseline", "medallion", medallion_baseline);

    if opts.json {
        let rows: Vec<Value> = suite.rows.iter().map(Row::to_json).collect();
        let out = json!({
            "mode": mode.name(),
            "cores": cores,
            "load_average_at_start": load,
            "release": !cfg!(debug_assertions),
            "elapsed_s": started.elapsed().as_secs_f64(),
            "rows": rows,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!();
        println!("  total {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

// ---------------------------------------------------------------- output

fn print_header() {
    println!(
        "{:<11} {:<44} {:>11} {:<6} {:>11} {:>7}  limit basis / note",
        "group", "scenario", "figure", "unit", "limit", "ratio"
    );
    println!("{}", "-".repeat(130));
}

fn fmt_num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if !v.is_finite() => "-".into(),
        Some(v) if v.abs() >= 100_000.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 100.0 => format!("{v:.1}"),
        Some(v) if v.abs() >= 1.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.4}"),
    }
}

fn print_row(r: &Row) {
    let mut tail = r.basis.clone();
    if !r.note.is_empty() {
        if !tail.is_empty() {
            tail.push_str("; ");
        }
        tail.push_str(&r.note);
    }
    let ratio = r.ratio().map_or("-".to_string(), |x| format!("{x:.3}"));
    println!(
        "{:<11} {:<44} {:>11} {:<6} {:>11} {:>7}  {}",
        r.group,
        r.scenario,
        fmt_num(r.figure),
        r.unit,
        fmt_num(r.limit),
        ratio,
        tail
    );
}

// ---------------------------------------------------------------- timing

/// Run `f` until `max` iterations or `budget` (at least `min` iterations):
/// seconds per iteration.
fn per_op(
    min: usize,
    max: usize,
    budget: Duration,
    mut f: impl FnMut() -> Result<()>,
) -> Result<f64> {
    let t = Instant::now();
    let mut n = 0usize;
    while n < max && (n < min || t.elapsed() < budget) {
        f()?;
        n += 1;
    }
    Ok(t.elapsed().as_secs_f64() / n.max(1) as f64)
}

/// Like [`per_op`], but the median of single timings: robust to the
/// scheduling and disk hiccups of a shared machine (used for fsyncs,
/// commits and round trips). The first `warm` runs are not counted.
fn median_op(
    warm: usize,
    min: usize,
    max: usize,
    budget: Duration,
    mut f: impl FnMut() -> Result<()>,
) -> Result<f64> {
    for _ in 0..warm {
        f()?;
    }
    let t = Instant::now();
    let mut times = Vec::new();
    while times.len() < max && (times.len() < min || t.elapsed() < budget) {
        let one = Instant::now();
        f()?;
        times.push(one.elapsed().as_secs_f64());
    }
    Ok(quantile(&times, 0.5))
}

/// A random UUID v4 string.
fn uuid4() -> String {
    let mut b = [0u8; 16];
    if getrandom::getrandom(&mut b).is_err() {
        // Not security relevant here: a counter keeps ids unique.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        b[..8].copy_from_slice(&n.to_be_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = data_encoding::HEXLOWER.encode(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn quantile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

// ---------------------------------------------------------------- primitives

fn primitives(s: &mut Suite) -> Result<()> {
    let m = s.mode;
    let b = m.budget();
    let dir = tempfile::Builder::new()
        .prefix("liaison-bench-")
        .tempdir()
        .context("temporary directory")?;

    // The disk: one small write + fdatasync, the floor under any durable
    // commit.
    // Overwrite in place, as a WAL reused after a checkpoint is: an
    // appending write would also sync the file size.
    let f = std::fs::File::create(dir.path().join("fsync")).context("create a file")?;
    f.set_len(4096)?;
    f.sync_all()?;
    let fsync = median_op(5, 5, 20_000, b, || {
        std::os::unix::fs::FileExt::write_all_at(&f, &[0u8; 100], 0)?;
        f.sync_data()?;
        Ok(())
    })?;
    s.row(
        "primitive",
        "disk: 100 B overwrite + fdatasync",
        1.0 / fsync,
        "/s",
        None,
        "",
        false,
        "the floor under a durable commit",
    );

    // Ed25519.
    let keys = NodeKeys::generate().context("node keys")?;
    let msg = vec![7u8; 1024];
    let sign = per_op(10, 1_000_000, b, || {
        std::hint::black_box(keys.sign(std::hint::black_box(&msg)));
        Ok(())
    })?;
    let sig = keys.sign(&msg);
    let vk = keys.node_id().verifying_key();
    let verify = per_op(10, 1_000_000, b, || {
        vk.verify_strict(std::hint::black_box(&msg), &sig)
            .map_err(|e| anyhow!("verify: {e}"))
    })?;
    s.prims.sign = Some(sign);
    s.prims.verify = Some(verify);
    s.row(
        "primitive",
        "Ed25519 sign (1 KiB message)",
        1.0 / sign,
        "/s",
        Some(46_000.0),
        "DESIGN §6",
        false,
        "",
    );
    s.row(
        "primitive",
        "Ed25519 verify_strict (1 KiB message)",
        1.0 / verify,
        "/s",
        Some(25_000.0),
        "DESIGN §6",
        false,
        "",
    );

    // age, per message.
    let ids: Vec<age::x25519::Identity> = (0..100)
        .map(|_| age::x25519::Identity::generate())
        .collect();
    let recips: Vec<age::x25519::Recipient> = ids.iter().map(|i| i.to_public()).collect();
    let small = vec![0x41u8; KIB];
    for (n, reference) in [
        (1usize, Some(73e-6)),
        (10, Some(0.75e-3)),
        (100, Some(6.2e-3)),
    ] {
        let to = &recips[..n];
        let enc = per_op(3, 100_000, b, || age_encrypt(to, &small).map(|_| ()))?;
        let ct = age_encrypt(to, &small)?;
        // The recipient whose stanza is last tries every stanza.
        let dec = per_op(3, 100_000, b, || age_decrypt(&ids[n - 1], &ct).map(|_| ()))?;
        if n == 1 {
            s.prims.enc.insert(KIB, enc);
            s.prims.dec.insert(KIB, dec);
        }
        s.row(
            "primitive",
            format!("age encrypt 1 KiB to {n} recipient(s)"),
            enc * 1e6,
            "µs",
            reference.map(|r| r * 1e6),
            "DESIGN §6",
            true,
            "",
        );
        s.row(
            "primitive",
            format!("age decrypt 1 KiB, {n} stanza(s)"),
            dec * 1e6,
            "µs",
            (n == 1).then_some(70.0),
            if n == 1 { "DESIGN §6" } else { "" },
            true,
            if n > 1 { "as the last recipient" } else { "" },
        );
    }
    let big_sizes: Vec<usize> = m.pick(
        vec![64 * KIB, MIB],
        vec![64 * KIB, MIB, 16 * MIB],
        vec![64 * KIB, MIB, 16 * MIB],
    );
    for size in big_sizes {
        let data = vec![0x42u8; size];
        let iters = (256 * MIB / size).max(2);
        let enc = per_op(2, iters, b, || age_encrypt(&recips[..1], &data).map(|_| ()))?;
        let ct = age_encrypt(&recips[..1], &data)?;
        let dec = per_op(2, iters, b, || age_decrypt(&ids[0], &ct).map(|_| ()))?;
        s.prims.enc.insert(size, enc);
        s.prims.dec.insert(size, dec);
        if size >= MIB {
            let label = format!("{} MiB", size / MIB);
            let reference = (size == MIB).then_some(930.0);
            s.row(
                "primitive",
                format!("age encrypt {label}"),
                size as f64 / enc / 1e6,
                "MB/s",
                reference,
                if reference.is_some() {
                    "DESIGN §6"
                } else {
                    ""
                },
                false,
                "",
            );
            s.row(
                "primitive",
                format!("age decrypt {label}"),
                size as f64 / dec / 1e6,
                "MB/s",
                reference,
                if reference.is_some() {
                    "DESIGN §6"
                } else {
                    ""
                },
                false,
                "",
            );
        }
    }
    if m == Mode::Smoke {
        // Estimated from 1 MiB so the end-to-end limits exist.
        if let (Some(&e), Some(&d)) = (s.prims.enc.get(&MIB), s.prims.dec.get(&MIB)) {
            s.prims.enc.insert(16 * MIB, 16.0 * e);
            s.prims.dec.insert(16 * MIB, 16.0 * d);
        }
    }

    // SHA-256.
    let data = vec![0x43u8; m.pick(MIB, 16 * MIB, 16 * MIB)];
    let sha = per_op(2, 1000, b, || {
        std::hint::black_box(sha256_hex(std::hint::black_box(&data)));
        Ok(())
    })?;
    let sha_bps = data.len() as f64 / sha;
    s.prims.sha_bps = Some(sha_bps);
    s.row(
        "primitive",
        "SHA-256 bulk",
        sha_bps / 1e6,
        "MB/s",
        Some(1650.0),
        "DESIGN §6",
        false,
        "",
    );
    let leaf = [0x44u8; 100];
    let small_sha = per_op(10, 5_000_000, b, || {
        std::hint::black_box(sha256_hex(std::hint::black_box(&leaf)));
        Ok(())
    })?;
    s.prims.sha_small = Some(small_sha);
    s.row(
        "primitive",
        "SHA-256 of 100 B (a ledger leaf)",
        1.0 / small_sha,
        "/s",
        None,
        "",
        false,
        "",
    );

    // SQLite durable commits, the store's own settings.
    let store = SqliteStore::open(dir.path().join("liaison.db")).context("open the store")?;
    let event = Event {
        kind: "share.released",
        actor: "bench".into(),
        body: json!({"share_id": "5d0092c5-5f74-4287-9642-33f4c354e56d", "tlp": "TLP:AMBER"}),
    };
    let commit = median_op(20, 5, 50_000, b, || {
        store.append(&event)?;
        Ok(())
    })?;
    s.prims.commit = Some(commit);
    s.row(
        "primitive",
        "SQLite durable commit (Store::append)",
        1.0 / commit,
        "/s",
        Some(1.0 / fsync),
        "fdatasync/s above",
        false,
        "WAL, synchronous=FULL, 1 entry per transaction",
    );
    Ok(())
}

fn age_encrypt(to: &[age::x25519::Recipient], data: &[u8]) -> Result<Vec<u8>> {
    let enc = age::Encryptor::with_recipients(to.iter().map(|r| r as &dyn age::Recipient))
        .map_err(|e| anyhow!("age: {e}"))?;
    let mut out = Vec::with_capacity(data.len() + 256 + 200 * to.len());
    let mut w = enc.wrap_output(&mut out)?;
    w.write_all(data)?;
    w.finish()?;
    Ok(out)
}

fn age_decrypt(id: &age::x25519::Identity, ct: &[u8]) -> Result<Vec<u8>> {
    let d = age::Decryptor::new_buffered(ct).map_err(|e| anyhow!("age: {e}"))?;
    let mut r = d
        .decrypt(std::iter::once(id as &dyn age::Identity))
        .map_err(|e| anyhow!("age: {e}"))?;
    let mut out = Vec::with_capacity(ct.len());
    r.read_to_end(&mut out)?;
    Ok(out)
}

// ---------------------------------------------------------------- QUIC

/// Answers `Deliver` with its length (a small `Receipt`) and `Ping` with
/// its body.
struct Echo;

impl Handler for Echo {
    async fn handle(
        &self,
        _peer: NodeId,
        frame_type: FrameType,
        body: Vec<u8>,
    ) -> (FrameType, Vec<u8>) {
        match frame_type {
            FrameType::Deliver => (FrameType::Receipt, body.len().to_string().into_bytes()),
            _ => (FrameType::Pong, body),
        }
    }

    fn on_refused(&self, _peer: Option<NodeId>, _reason: &str) {}
}

fn quic(s: &mut Suite) -> Result<()> {
    let m = s.mode;
    let budget = m.budget();
    let bulk_size = m.pick(MIB, 16 * MIB, 16 * MIB);
    let (bulk, rtt) = s.rt.block_on(async move {
        let a_keys = NodeKeys::generate().context("keys")?;
        let b_keys = NodeKeys::generate().context("keys")?;
        let loopback: SocketAddr = ([127, 0, 0, 1], 0).into();
        let a_pins = SharedPins::new();
        let b_pins = SharedPins::new();
        a_pins.pin(b_keys.node_id());
        b_pins.pin(a_keys.node_id());
        let a = Endpoint::bind(
            loopback,
            &a_keys,
            a_pins,
            FrameLimits::default(),
            Arc::new(Echo),
        )?;
        let b = Endpoint::bind(
            loopback,
            &b_keys,
            b_pins,
            FrameLimits::default(),
            Arc::new(Echo),
        )?;
        let card: IdentityCard = b_keys
            .issue_card("B", vec![b.local_addr().to_string()], Utc::now())
            .card;
        let t = Duration::from_secs(30);
        // Warm up: handshake and congestion window.
        a.request(&card, FrameType::Ping, b"hi", t).await?;
        let body = vec![0x55u8; bulk_size];
        a.request(&card, FrameType::Deliver, &body, t).await?;
        let start = Instant::now();
        let mut n = 0u64;
        while n < 2 || (start.elapsed() < budget && n < 500) {
            let (ft, _) = a.request(&card, FrameType::Deliver, &body, t).await?;
            if ft != FrameType::Receipt {
                bail!("unexpected answer {ft:?}");
            }
            n += 1;
        }
        let bulk = (n as f64 * bulk_size as f64) / start.elapsed().as_secs_f64();
        let small = vec![0x56u8; KIB];
        let start = Instant::now();
        let mut n = 0u64;
        while n < 20 || (start.elapsed() < budget && n < 1_000_000) {
            a.request(&card, FrameType::Deliver, &small, t).await?;
            n += 1;
        }
        let rtt = start.elapsed().as_secs_f64() / n as f64;
        a.shutdown().await;
        b.shutdown().await;
        Ok::<_, anyhow::Error>((bulk, rtt))
    })?;
    s.prims.quic_bps = Some(bulk);
    s.prims.rtt = Some(rtt);
    s.row(
        "primitive",
        format!("QUIC loopback bulk ({} MiB request)", bulk_size / MIB),
        bulk / 1e6,
        "MB/s",
        Some(570.0),
        "DESIGN §6 (480-660)",
        false,
        "liaison_net::Endpoint, node TLS config",
    );
    s.row(
        "primitive",
        "QUIC 1 KiB request/answer, sequential",
        1.0 / rtt,
        "/s",
        Some(43_000.0),
        "DESIGN §6",
        false,
        "",
    );
    Ok(())
}

// ---------------------------------------------------------------- nodes

/// One organization's node home: keys, card and store.
struct Org {
    keys: Arc<NodeKeys>,
    card: SignedCard,
    store: Arc<dyn Store>,
    admin: String,
    addr: SocketAddr,
    _home: tempfile::TempDir,
}

impl Org {
    fn new(name: &str) -> Result<Org> {
        let home = tempfile::Builder::new()
            .prefix("liaison-bench-")
            .tempdir()
            .context("temporary node home")?;
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(home.path().join("liaison.db"))?);
        let keys = Arc::new(NodeKeys::generate().context("node keys")?);
        // `Node::start` binds itself and the card must carry the real port.
        let addr = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .context("a free UDP port")?;
        let card = keys.issue_card(name, vec![addr.to_string()], Utc::now());
        let admin = store.init_node(
            &keys.node_id(),
            name,
            &token_hash(&format!("admin-{}", uuid4())),
        )?;
        Ok(Org {
            keys,
            card,
            store,
            admin: admin.id,
            addr,
            _home: home,
        })
    }
}

fn pin(store: &dyn Store, admin: &str, other: &SignedCard) -> Result<()> {
    let c = &other.card;
    let record = PeerRecord {
        name: c.org.clone(),
        node_id: c.node_id,
        org: c.org.clone(),
        card_json: other.to_json(),
        endpoints: c.endpoints.clone(),
        age_recipient: c.age_recipient.clone(),
        tier: 1,
        added_at: Utc::now(),
        last_contact: None,
    };
    store.add_peer(&record, admin)?;
    Ok(())
}

/// One side of an agreement: its keys, org, store and admin user id.
struct Side<'a> {
    keys: &'a NodeKeys,
    org: &'a str,
    store: &'a dyn Store,
    admin: &'a str,
}

/// An agreement letting STIX flow both ways, signed by both and stored in
/// force on both nodes, as negotiation over QUIC leaves it.
fn agree(a: &Side<'_>, b: &Side<'_>) -> Result<()> {
    let file = AgreementFile::from_toml(
        r#"
valid_from = "2020-01-01T00:00:00Z"
valid_until = "2100-01-01T00:00:00Z"
[outbound]
max_tlp = "amber"
content = { kinds = ["stix"], stix_types = ["*"] }
[inbound]
max_tlp = "amber"
content = { kinds = ["stix"], stix_types = ["*"] }
"#,
    )
    .map_err(|e| anyhow!("the bench agreement: {e}"))?;
    let party = |s: &Side<'_>| Party {
        org: s.org.to_string(),
        node_id: s.keys.node_id(),
    };
    let id = uuid4()
        .parse()
        .map_err(|e| anyhow!("agreement id: {e:?}"))?;
    let agreement = file
        .to_agreement(id, 1, party(a), party(b), Utc::now())
        .map_err(|e| anyhow!("the bench agreement: {e}"))?;
    let signed = SignedAgreement::propose(a.keys, agreement)
        .and_then(|s| s.countersign(b.keys))
        .map_err(|e| anyhow!("signing the agreement: {e}"))?;
    for (me, peer) in [(a, b), (b, a)] {
        let rec = AgreementRecord::of(&signed, peer.keys.node_id(), AgreementState::InForce, None);
        let event = Event {
            kind: kinds::AGREEMENT_IN_FORCE,
            actor: me.admin.to_string(),
            body: json!({"agreement_id": signed.agreement.id}),
        };
        me.store.save_agreement(&rec, &event, None)?;
    }
    Ok(())
}

impl Org {
    fn side(&self) -> Side<'_> {
        Side {
            keys: &self.keys,
            org: &self.card.card.org,
            store: self.store.as_ref(),
            admin: &self.admin,
        }
    }
}

/// The API hooks of `liaison serve`: wake the sender's workers.
#[derive(Default)]
struct Hooks {
    node: OnceLock<Arc<Node>>,
}

impl NodeHooks for Hooks {
    fn share_queued(&self) {
        if let Some(node) = self.node.get() {
            node.wake();
        }
    }

    fn messages_queued(&self) {
        if let Some(node) = self.node.get() {
            node.wake_messages();
        }
    }

    fn peers_changed(&self, removed: Option<NodeId>) {
        if let Some(node) = self.node.get() {
            let _ = node.reload_peers(removed);
        }
    }
}

/// A sender and its receivers, started, and the sender's API.
struct Cluster {
    sender: Org,
    receivers: Vec<Org>,
    nodes: Vec<Arc<Node>>,
    api: SocketAddr,
    stop_api: tokio::sync::oneshot::Sender<()>,
    api_task: tokio::task::JoinHandle<()>,
}

impl Cluster {
    fn start(rt: &tokio::runtime::Runtime, peers: usize) -> Result<Cluster> {
        let sender = Org::new("Sender")?;
        let receivers = (1..=peers)
            .map(|i| Org::new(&format!("Peer {i:02}")))
            .collect::<Result<Vec<Org>>>()?;
        for r in &receivers {
            pin(sender.store.as_ref(), &sender.admin, &r.card)?;
            pin(r.store.as_ref(), &r.admin, &sender.card)?;
            agree(&sender.side(), &r.side())?;
        }
        sender.store.add_user(
            "analyst",
            Role::Analyst,
            &token_hash(ANALYST_TOKEN),
            &sender.admin,
        )?;
        rt.block_on(async {
            let mut nodes = Vec::with_capacity(peers + 1);
            for org in std::iter::once(&sender).chain(&receivers) {
                let node = Node::start(
                    org.store.clone(),
                    org.keys.clone(),
                    NodeConfig::new(org.addr),
                )
                .await
                .map_err(|e| anyhow!("start a node: {e}"))?;
                nodes.push(Arc::new(node));
            }
            let hooks = Arc::new(Hooks::default());
            let _ = hooks.node.set(nodes[0].clone());
            let state = AppState {
                store: sender.store.clone(),
                keys: sender.keys.clone(),
                card: Arc::new(sender.card.clone()),
                hooks,
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .context("bind the API")?;
            let api = listener.local_addr()?;
            let (stop_api, stopped) = tokio::sync::oneshot::channel::<()>();
            let api_task = tokio::spawn(async move {
                let _ = axum::serve(listener, liaison_api::router(state))
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
            Ok(Cluster {
                sender,
                receivers,
                nodes,
                api,
                stop_api,
                api_task,
            })
        })
    }

    fn recipients(&self) -> Vec<String> {
        self.receivers
            .iter()
            .map(|r| r.card.card.org.clone())
            .collect()
    }

    fn stop(self, rt: &tokio::runtime::Runtime) {
        let Cluster {
            sender,
            receivers,
            nodes,
            stop_api,
            api_task,
            ..
        } = self;
        rt.block_on(async {
            let _ = stop_api.send(());
            let _ = tokio::time::timeout(Duration::from_secs(5), api_task).await;
            for node in &nodes {
                node.shutdown().await;
            }
        });
        drop(nodes);
        drop((sender, receivers));
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// POST one share; its id.
fn post_share(agent: &ureq::Agent, api: &str, body: &[u8]) -> Result<String> {
    let mut resp = agent
        .post(format!("{api}/api/shares"))
        .header("Authorization", &format!("Bearer {ANALYST_TOKEN}"))
        .header("Content-Type", "application/json")
        .send(body)
        .context("POST /api/shares")?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string()?;
    if status != 201 {
        bail!(
            "POST /api/shares answered {status}: {}",
            text.chars().take(300).collect::<String>()
        );
    }
    let v: Value = serde_json::from_str(&text)?;
    v["id"]
        .as_str()
        .map(str::to_string)
        .context("the share view has no id")
}

/// A valid STIX 2.1 bundle of exactly `size` bytes with fresh ids.
fn stix_bundle(size: usize) -> Result<String> {
    let mut v: Value = serde_json::from_str(STIX)?;
    v["id"] = json!(format!("bundle--{}", uuid4()));
    v["objects"][0]["id"] = json!(format!("indicator--{}", uuid4()));
    v["objects"][0]["description"] = json!("");
    let base = serde_json::to_string(&v)?.len();
    let pad = size
        .checked_sub(base)
        .context("the sample does not fit the size")?;
    let text = "Test description C2 channel, padded for the benchmark. ";
    let filler: String = text.chars().cycle().take(pad).collect();
    v["objects"][0]["description"] = json!(filler);
    Ok(serde_json::to_string(&v)?)
}

fn share_body(to: &[String], content: &str) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(
        &json!({"tlp": "amber", "kind": "stix", "to": to, "content": content}),
    )?)
}

/// Wait until the sender has stored `count` receipts in all.
fn wait_receipts(store: &dyn Store, count: u64, timeout: Duration, poll: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if store.receipts_count()? >= count {
            return Ok(());
        }
        if Instant::now() > deadline {
            let pending = store.pending_deliveries().unwrap_or_default();
            let errors: Vec<String> = store
                .shares(20)
                .unwrap_or_default()
                .iter()
                .flat_map(|s| s.deliveries.iter())
                .filter_map(|d| d.last_error.clone())
                .take(3)
                .collect();
            bail!("timed out after {timeout:?} waiting for receipts: {pending} pending; errors: {errors:?}");
        }
        std::thread::sleep(poll);
    }
}

fn since(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).to_std().unwrap_or_default().as_secs_f64()
}

/// Per-delivery latencies (s) and the time of the last receipt of these
/// shares, from the sender's records.
fn collect(
    store: &dyn Store,
    ids: &HashSet<String>,
    limit: u32,
) -> Result<(Vec<f64>, Option<DateTime<Utc>>)> {
    let mut lat = Vec::new();
    let mut last: Option<DateTime<Utc>> = None;
    for share in store.shares(limit)? {
        if !ids.contains(&share.id.to_string()) {
            continue;
        }
        for d in &share.deliveries {
            if d.state != DeliveryState::Delivered {
                bail!("share {} to {}: {:?}", share.id, d.peer, d.state);
            }
            let done = d.completed_at.context("a delivered delivery has no time")?;
            lat.push(since(share.created_at, done));
            last = Some(last.map_or(done, |l| l.max(done)));
        }
    }
    Ok((lat, last))
}

/// Counts per mode for one bundle size: unloaded shares, loaded shares for
/// 1 and for 10 peers (0: no loaded run).
fn e2e_plan(mode: Mode, size: usize) -> (usize, [usize; 2]) {
    match size {
        s if s <= KIB => mode.pick((5, [20, 5]), (30, [200, 40]), (200, [2000, 300])),
        s if s <= 64 * KIB => mode.pick((3, [10, 3]), (15, [60, 15]), (100, [500, 100])),
        _ => mode.pick((0, [0, 0]), (2, [0, 0]), (4, [0, 0])),
    }
}

fn end_to_end(s: &mut Suite) -> Result<()> {
    for peers in [1usize, 10] {
        let cluster = match Cluster::start(&s.rt, peers) {
            Ok(c) => c,
            Err(e) => {
                s.skip("end-to-end", format!("1→{peers} cluster"), format!("{e:#}"));
                continue;
            }
        };
        let mut made = 0u32;
        for size in [KIB, 64 * KIB, 16 * MIB] {
            let label = match size {
                KIB => "1 KiB".to_string(),
                s if s < MIB => format!("{} KiB", s / KIB),
                s => format!("{} MiB", s / MIB),
            };
            let (unloaded, loaded) = e2e_plan(s.mode, size);
            if unloaded == 0 {
                s.skip("end-to-end", format!("{label} 1→{peers}"), "not in --smoke");
                continue;
            }
            let loaded = loaded[usize::from(peers > 1)];
            if let Err(e) = e2e_size(s, &cluster, &mut made, size, &label, unloaded, loaded) {
                s.skip("end-to-end", format!("{label} 1→{peers}"), format!("{e:#}"));
            }
        }
        cluster.stop(&s.rt);
    }
    Ok(())
}

fn e2e_size(
    s: &mut Suite,
    cluster: &Cluster,
    made: &mut u32,
    size: usize,
    label: &str,
    unloaded: usize,
    loaded: usize,
) -> Result<()> {
    let peers = cluster.receivers.len();
    let store = cluster.sender.store.as_ref();
    let api = format!("http://{}", cluster.api);
    let to = cluster.recipients();
    let client = agent(Duration::from_secs(120));
    let wait = Duration::from_secs(if size > MIB { 120 } else { 60 });
    let budget = s.mode.pick(
        Duration::from_secs(2),
        Duration::from_secs(5),
        Duration::from_secs(25),
    );
    let one = s.prims.one_delivery(size);

    // Warm-up share: connections, caches.
    let mut receipts = store.receipts_count()?;
    post_share(&client, &api, &share_body(&to, &stix_bundle(size)?)?)?;
    *made += 1;
    receipts += peers as u64;
    wait_receipts(store, receipts, wait, Duration::from_millis(1))?;

    // Unloaded: one share at a time.
    let mut ids = HashSet::new();
    let mut posts = Vec::new();
    let t0 = Instant::now();
    for i in 0..unloaded {
        if i >= 2 && t0.elapsed() > budget {
            break;
        }
        let body = share_body(&to, &stix_bundle(size)?)?;
        let t = Instant::now();
        ids.insert(post_share(&client, &api, &body)?);
        posts.push(t.elapsed().as_secs_f64());
        *made += 1;
        receipts += peers as u64;
        wait_receipts(store, receipts, wait, Duration::from_micros(200))?;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let (lat, _) = collect(store, &ids, *made + 10)?;
    let n = ids.len();
    let rate = n as f64 / elapsed;
    if size == KIB && peers == 1 {
        s.e2e_1k_rate = Some(rate);
    }
    let scen = |what: &str| format!("{label} 1→{peers} {what}");
    let serial_rate = one.map(|t| 1.0 / (t * peers as f64));
    s.row(
        "end-to-end",
        scen("unloaded"),
        rate,
        "bndl/s",
        serial_rate,
        "1/(peers x one-delivery limit)",
        false,
        format!(
            "{n} shares one at a time; POST p50 {:.2} ms",
            quantile(&posts, 0.5) * 1e3
        ),
    );
    // Serial model: a share's deliveries one after another, so with N
    // peers the median delivery waits for ceil(N/2) of them and the last
    // for N (for one peer both are the one-delivery limit).
    let (p50_basis, p99_basis) = if peers == 1 {
        (
            "one-delivery limit".to_string(),
            "one-delivery limit".to_string(),
        )
    } else {
        (
            format!("{} x one-delivery limit (serial)", peers.div_ceil(2)),
            format!("{peers} x one-delivery limit (serial)"),
        )
    };
    s.row(
        "end-to-end",
        scen("p50 share→receipt"),
        quantile(&lat, 0.5) * 1e3,
        "ms",
        one.map(|t| t * 1e3 * peers.div_ceil(2) as f64),
        p50_basis,
        true,
        "per delivery, unloaded",
    );
    s.row(
        "end-to-end",
        scen("p99 share→receipt"),
        quantile(&lat, 0.99) * 1e3,
        "ms",
        one.map(|t| t * 1e3 * peers as f64),
        p99_basis,
        true,
        "",
    );

    if loaded == 0 {
        return Ok(());
    }
    // Loaded: 4 clients post as fast as they can, then wait for every receipt.
    let clients = 4usize;
    let bodies: Vec<Vec<Vec<u8>>> = (0..clients)
        .map(|c| {
            let count = loaded / clients + usize::from(c < loaded % clients);
            (0..count)
                .map(|_| stix_bundle(size).and_then(|b| share_body(&to, &b)))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<_>>()?;
    let expected = store.receipts_count()? + (loaded * peers) as u64;
    let t0 = Utc::now();
    let started = Instant::now();
    let deadline = started + budget * 2;
    let posted: Vec<Result<Vec<String>>> = std::thread::scope(|sc| {
        let handles: Vec<_> = bodies
            .iter()
            .map(|bs| {
                let api = api.clone();
                sc.spawn(move || {
                    let client = agent(Duration::from_secs(60));
                    let mut ids = Vec::new();
                    for b in bs {
                        if Instant::now() > deadline {
                            break;
                        }
                        ids.push(post_share(&client, &api, b)?);
                    }
                    Ok(ids)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a client thread panicked")))
            })
            .collect()
    });
    let mut ids = HashSet::new();
    for p in posted {
        ids.extend(p?);
    }
    *made += ids.len() as u32;
    let expected = expected - ((loaded - ids.len()) * peers) as u64;
    wait_receipts(
        store,
        expected,
        Duration::from_secs(300),
        Duration::from_millis(5),
    )?;
    let (lat, last) = collect(store, &ids, *made + 10)?;
    let elapsed = last.map_or(f64::NAN, |l| since(t0, l));
    let rate = ids.len() as f64 / elapsed;
    s.row(
        "end-to-end",
        scen("loaded"),
        rate,
        "bndl/s",
        serial_rate,
        "1/(peers x one-delivery limit)",
        false,
        format!(
            "{} shares from {clients} clients; {:.0} deliveries/s; p50 {:.1} ms p99 {:.1} ms",
            ids.len(),
            rate * peers as f64,
            quantile(&lat, 0.5) * 1e3,
            quantile(&lat, 0.99) * 1e3
        ),
    );
    Ok(())
}

// ---------------------------------------------------------------- processes

/// A `liaison serve` child, killed when dropped.
struct Daemon {
    child: Child,
    api: String,
    startup: Duration,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// Start `liaison serve` on `home` and wait (bounded) for its
    /// ` serving: ` line.
    fn start(home: &Path) -> Result<Daemon> {
        let exe = std::env::current_exe().context("cannot find the liaison binary")?;
        let log = std::fs::File::create(home.join("serve.log")).context("the node log")?;
        let t = Instant::now();
        let mut child = Command::new(exe)
            .arg("--home")
            .arg(home)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("cannot start `liaison serve`")?;
        let stdout = child.stdout.take().context("no stdout from the node")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut daemon = Daemon {
            child,
            api: String::new(),
            startup: Duration::ZERO,
        };
        let deadline = t + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(" serving: ") => {
                    daemon.startup = t.elapsed();
                    let api = line
                        .split("api ")
                        .nth(1)
                        .context("no API address in the serving line")?;
                    daemon.api = api
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    return Ok(daemon);
                }
                Ok(_) => continue,
                Err(_) => bail!(
                    "`liaison serve` did not report ` serving: ` within 30 s (log: {})",
                    home.join("serve.log").display()
                ),
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// A field of /proc/PID/status, in KiB.
fn proc_status_kib(pid: u32, field: &str) -> Result<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// A bench node home: the home, its keys, card, open store and admin id.
type HomeParts = (Home, NodeKeys, SignedCard, Arc<dyn Store>, String);

/// A fresh node home at `dir`, with an analyst holding [`ANALYST_TOKEN`].
fn bench_home(dir: &Path, org: &str) -> Result<HomeParts> {
    let home = Home::new(dir);
    let (card, _token) = home.init(org, "127.0.0.1:0", "127.0.0.1:0")?;
    let keys = home.keys()?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(home.db_path())?);
    let admin = store
        .users()?
        .into_iter()
        .find(|u| u.name == "admin")
        .context("no admin user")?
        .id;
    store.add_user("analyst", Role::Analyst, &token_hash(ANALYST_TOKEN), &admin)?;
    Ok((home, keys, card, store, admin))
}

/// A STIX 2.1 bundle of `n` distinct indicators.
fn big_stix(n: usize) -> String {
    let mut out = String::with_capacity(n * 330 + 100);
    out.push_str(&format!(
        "{{\"type\":\"bundle\",\"id\":\"bundle--{}\",\"objects\":[",
        uuid4()
    ));
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "{{\"type\":\"indicator\",\"spec_version\":\"2.1\",\"id\":\"indicator--{}\",\
             \"created\":\"2014-05-08T09:00:00.000Z\",\"modified\":\"2014-05-08T09:00:00.000Z\",\
             \"name\":\"C2 {i}\",\"indicator_types\":[\"malicious-activity\"],\
             \"pattern\":\"[ipv4-addr:value = '198.{}.{}.{}']\",\"pattern_type\":\"stix\",\
             \"valid_from\":\"2014-05-08T09:00:00.000000Z\"}}",
            uuid4(),
            (i >> 16) & 0xff,
            (i >> 8) & 0xff,
            i & 0xff
        ));
    }
    out.push_str("]}");
    out
}

fn large_bundle(s: &mut Suite) -> Result<()> {
    let n = s.mode.pick(1_000, 20_000, 150_000);
    let root = tempfile::Builder::new()
        .prefix("liaison-bench-large-")
        .tempdir()?;
    let (_ha, ka, ca, sa, aa) = bench_home(&root.path().join("sender"), "Sender")?;
    let (_hb, kb, cb, sb, ab) = bench_home(&root.path().join("receiver"), "Receiver")?;
    pin(sa.as_ref(), &aa, &cb)?;
    pin(sb.as_ref(), &ab, &ca)?;
    agree(
        &Side {
            keys: &ka,
            org: "Sender",
            store: sa.as_ref(),
            admin: &aa,
        },
        &Side {
            keys: &kb,
            org: "Receiver",
            store: sb.as_ref(),
            admin: &ab,
        },
    )?;
    drop((sa, sb));
    let sender = Daemon::start(&root.path().join("sender"))?;
    let receiver = Daemon::start(&root.path().join("receiver"))?;

    let content = big_stix(n);
    let size = content.len();
    let client = agent(Duration::from_secs(300));
    // As `liaison share create` sends it: multipart, streamed to the spool.
    let api = crate::client::Client::new(
        sender.api.trim_start_matches("http://"),
        Some(ANALYST_TOKEN),
    )?;
    let meta = json!({"tlp": "amber", "kind": "stix", "to": ["Receiver"]});
    let t = Instant::now();
    let _: Value =
        api.post_multipart("/api/shares", &meta, &mut content.as_bytes(), size as u64)?;
    let posted = t.elapsed();
    drop(content);
    let deadline = t + Duration::from_secs(300);
    loop {
        let mut resp = client
            .get(format!("{}/api/inbox", receiver.api))
            .header("Authorization", &format!("Bearer {ANALYST_TOKEN}"))
            .call()
            .context("GET /api/inbox")?;
        let text = resp.body_mut().read_to_string()?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if v.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the bundle did not reach the inbox within 300 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = t.elapsed().as_secs_f64();
    let hwm_s = proc_status_kib(sender.pid(), "VmHWM")? / 1024.0;
    let hwm_r = proc_status_kib(receiver.pid(), "VmHWM")? / 1024.0;
    let p = &s.prims;
    let serial = match (
        p.enc.get(&(16 * MIB)),
        p.dec.get(&(16 * MIB)),
        p.quic_bps,
        p.sha_bps,
        p.commit,
    ) {
        (Some(e), Some(d), Some(q), Some(h), Some(c)) => {
            let per_byte = e / (16 * MIB) as f64 + d / (16 * MIB) as f64 + 1.0 / q + 2.0 / h;
            Some(size as f64 * per_byte + 2.0 * c)
        }
        _ => None,
    };
    let mb = size as f64 / 1e6;
    s.row(
        "large",
        format!("{n} indicators ({mb:.1} MB) share→inbox"),
        took,
        "s",
        serial,
        "serial encrypt+QUIC+decrypt+2 SHA-256+2 commits",
        true,
        format!(
            "two `liaison serve` processes; POST took {:.2} s",
            posted.as_secs_f64()
        ),
    );
    let verdict = |v: f64| {
        if v <= RSS_GOAL_MIB {
            "goal met"
        } else {
            "goal NOT met"
        }
    };
    s.row(
        "large",
        "sender peak RSS (VmHWM)",
        hwm_s,
        "MiB",
        Some(RSS_GOAL_MIB),
        "64 MiB goal",
        true,
        verdict(hwm_s),
    );
    s.row(
        "large",
        "receiver peak RSS (VmHWM)",
        hwm_r,
        "MiB",
        Some(RSS_GOAL_MIB),
        "64 MiB goal",
        true,
        verdict(hwm_r),
    );
    drop((sender, receiver));
    Ok(())
}

// ---------------------------------------------------------------- ledger

fn ledger(s: &mut Suite) -> Result<()> {
    use liaison_core::checkpoint::{origin_for, Checkpoint};
    use liaison_core::ledger::{leaf_hash, Entry};
    use liaison_core::merkle::Frontier;
    use liaison_store::CheckpointRecord;

    let n: u64 = s.mode.pick(5_000, 100_000, 1_000_000);
    let every: u64 = 1000;
    let dir = tempfile::Builder::new()
        .prefix("liaison-bench-ledger-")
        .tempdir()?;
    let path = dir.path().join("liaison.db");
    let keys = NodeKeys::generate().context("keys")?;
    drop(SqliteStore::open(&path)?);

    // Fill in large transactions, exactly as `Store::append` encodes
    // entries, with a signed checkpoint every `every`.
    let t = Instant::now();
    let mut frontier = Frontier::default();
    let mut checkpoints = Vec::new();
    {
        let mut db = rusqlite::Connection::open(&path)?;
        db.pragma_update(None, "synchronous", "OFF")?;
        let mut seq = 0u64;
        while seq < n {
            let tx = db.transaction()?;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO ledger (seq, time, kind, actor, body, entry, leaf_hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for _ in 0..50_000 {
                    if seq >= n {
                        break;
                    }
                    let body =
                        json!({"share_id": format!("share-{seq}"), "peer": "bolt", "n": seq});
                    let e = Entry::new(seq, Utc::now(), "receipt.stored", "node", body);
                    let bytes = e.to_bytes();
                    let leaf = leaf_hash(&bytes);
                    insert.execute(rusqlite::params![
                        seq as i64,
                        e.time,
                        e.kind,
                        e.actor,
                        e.body.to_string(),
                        bytes,
                        leaf
                    ])?;
                    frontier.push(leaf);
                    seq += 1;
                    if seq % every == 0 || seq == n {
                        let c = Checkpoint {
                            origin: origin_for(&keys.node_id()),
                            size: seq,
                            root: frontier.root(),
                            extensions: Vec::new(),
                        };
                        checkpoints.push(CheckpointRecord {
                            size: seq,
                            root_hash: c.root,
                            note: c.sign(&keys),
                            created_at: Utc::now(),
                        });
                    }
                }
            }
            tx.commit()?;
        }
    }
    let store = SqliteStore::open(&path)?;
    for c in &checkpoints {
        store.add_checkpoint(c)?;
    }
    let fill = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let report = liaison_api::ledger::verify_store(&store, &keys.node_id())?;
    let verify = t.elapsed().as_secs_f64();
    if !report.ok {
        bail!("ledger verify failed: {:?}", report.fault);
    }
    let limit = match (s.prims.sha_small, s.prims.verify) {
        (Some(h), Some(v)) => Some(2.0 * n as f64 * h + checkpoints.len() as f64 * v),
        _ => None,
    };
    s.row(
        "ledger",
        format!("ledger verify, {n} entries"),
        verify,
        "s",
        limit,
        "2n SHA-256 (leaves+nodes) + checkpoint verifies",
        true,
        format!(
            "{:.0} entries/s; {} checkpoints; filled in {fill:.1} s",
            n as f64 / verify,
            report.checkpoints
        ),
    );

    // Durable appends at that size.
    let event = Event {
        kind: "share.released",
        actor: "bench".into(),
        body: json!({"share_id": "5d0092c5-5f74-4287-9642-33f4c354e56d", "tlp": "TLP:AMBER"}),
    };
    let per = median_op(20, 5, 20_000, s.mode.budget(), || {
        store.append(&event)?;
        Ok(())
    })?;
    s.row(
        "ledger",
        format!("durable appends at {n} entries"),
        1.0 / per,
        "/s",
        s.prims.commit.map(|c| 1.0 / c),
        "SQLite durable commit on an empty store",
        false,
        "one fsync'd transaction each",
    );
    Ok(())
}

// ---------------------------------------------------------------- idle node

fn idle_node(s: &mut Suite) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the liaison binary")?;
    let root = tempfile::Builder::new()
        .prefix("liaison-bench-idle-")
        .tempdir()?;
    let home = root.path().join("node");
    let out = Command::new(&exe)
        .arg("--home")
        .arg(&home)
        .args([
            "init",
            "--org",
            "Idle",
            "--listen",
            "127.0.0.1:0",
            "--api",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .output()
        .context("liaison init")?;
    if !out.status.success() {
        bail!(
            "liaison init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The floor: exec'ing this binary at all.
    let t = Instant::now();
    let mut runs = 0u32;
    while runs < 3 || (runs < 20 && t.elapsed() < Duration::from_millis(300)) {
        Command::new(&exe)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .context("liaison --version")?;
        runs += 1;
    }
    let exec_floor = t.elapsed().as_secs_f64() / f64::from(runs);
    let daemon = Daemon::start(&home)?;
    let idle = s.mode.pick(
        Duration::from_millis(500),
        Duration::from_secs(2),
        Duration::from_secs(2),
    );
    std::thread::sleep(idle);
    let rss = proc_status_kib(daemon.pid(), "VmRSS")? / 1024.0;
    let startup = daemon.startup.as_secs_f64() * 1e3;
    drop(daemon);
    s.row(
        "node",
        "start-up: spawn to ` serving: `",
        startup,
        "ms",
        Some(exec_floor * 1e3),
        "exec of `liaison --version`",
        true,
        "fresh home, SQLite open + QUIC bind + API bind",
    );
    s.row(
        "node",
        format!("idle RSS after {:.1} s", idle.as_secs_f64()),
        rss,
        "MiB",
        None,
        "",
        true,
        "VmRSS of `liaison serve`",
    );
    Ok(())
}

// ---------------------------------------------------------------- baselines

fn gpg_baseline(s: &mut Suite) -> Result<()> {
    let name = "gpg sign+encrypt, decrypt+verify, 1 KiB";
    let version = Command::new("gpg").arg("--version").output();
    let Ok(version) = version.map_err(|e| e.to_string()).and_then(|o| {
        if o.status.success() {
            Ok(o)
        } else {
            Err("gpg --version failed".into())
        }
    }) else {
        s.skip("baseline", name, "gpg not found (apt-get install -y gnupg)");
        return Ok(());
    };
    let ver = String::from_utf8_lossy(&version.stdout)
        .lines()
        .next()
        .unwrap_or("gpg")
        .to_string();
    let gnupghome = tempfile::Builder::new()
        .prefix("lb-gpg-")
        .tempdir_in("/tmp")?;
    let gpg = |args: &[&str]| -> Result<std::process::Output> {
        let out = Command::new("gpg")
            .env("GNUPGHOME", gnupghome.path())
            .args([
                "--batch",
                "--yes",
                "--quiet",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
            ])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context("run gpg")?;
        if !out.status.success() {
            bail!(
                "gpg {args:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(out)
    };
    gpg(&[
        "--quick-gen-key",
        "Bench Sender <sender@bench.invalid>",
        "future-default",
        "default",
        "never",
    ])?;
    gpg(&[
        "--quick-gen-key",
        "Bench Recipient <recipient@bench.invalid>",
        "future-default",
        "default",
        "never",
    ])?;
    let plain = gnupghome.path().join("bundle.json");
    let sealed = gnupghome.path().join("bundle.gpg");
    let n = s.mode.pick(3, 20, 100);
    let budget = s.mode.pick(
        Duration::from_secs(2),
        Duration::from_secs(4),
        Duration::from_secs(15),
    );
    let (p, q) = (
        plain.to_string_lossy().to_string(),
        sealed.to_string_lossy().to_string(),
    );
    let t = Instant::now();
    let mut done = 0;
    while done < n && (done < 2 || t.elapsed() < budget) {
        std::fs::write(&plain, stix_bundle(KIB)?)?;
        gpg(&[
            "--trust-model",
            "always",
            "--local-user",
            "sender@bench.invalid",
            "--recipient",
            "recipient@bench.invalid",
            "--sign",
            "--encrypt",
            "-o",
            &q,
            &p,
        ])?;
        let out = gpg(&["--decrypt", &q])?;
        if out.stdout.len() != KIB {
            bail!("gpg --decrypt returned {} bytes", out.stdout.len());
        }
        done += 1;
    }
    let rate = f64::from(done) / t.elapsed().as_secs_f64();
    let liaison = s.prims.seal_open_1k().map(|t| 1.0 / t);
    s.row(
        "baseline",
        name,
        rate,
        "bndl/s",
        liaison,
        "Liaison seal+open 1 KiB in process",
        false,
        format!("{ver}, ed25519/cv25519, two process runs per bundle, {done} bundles"),
    );
    if let Some(e2e) = s.e2e_1k_rate {
        s.row(
            "baseline",
            "gpg vs Liaison durable delivery+receipt",
            rate,
            "bndl/s",
            Some(e2e),
            "Liaison 1 KiB 1→1 unloaded",
            false,
            "gpg: no transport, no storage, no receipt",
        );
    }
    Ok(())
}

fn medallion_baseline(s: &mut Suite) -> Result<()> {
    let name = "medallion TAXII 2.1 add+get, 1 KiB";
    // `$LIAISON_MEDALLION`, else the workspace's `target/bench-venv`
    // (from the current directory, or from where this crate was built).
    let exe = match std::env::var_os("LIAISON_MEDALLION") {
        Some(p) => PathBuf::from(p),
        None => [
            PathBuf::from("target/bench-venv/bin/medallion"),
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-venv/bin/medallion"),
        ]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("target/bench-venv/bin/medallion")),
    };
    if !exe.is_file() {
        s.skip("baseline", name, format!("{} not found (python3 -m venv target/bench-venv && target/bench-venv/bin/pip install medallion, or set LIAISON_MEDALLION)", exe.display()));
        return Ok(());
    }
    let dir = tempfile::Builder::new()
        .prefix("liaison-bench-taxii-")
        .tempdir()?;
    let collection = uuid4();
    let data = json!({
        "/discovery": {
            "title": "Liaison bench TAXII server",
            "default": "http://127.0.0.1/bench/",
            "api_roots": ["http://127.0.0.1/bench/"]
        },
        "bench": {
            "information": {
                "title": "bench",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 9_765_625
            },
            "status": [],
            "collections": [{
                "id": collection,
                "title": "bench",
                "can_read": true,
                "can_write": true,
                "media_types": ["application/stix+json;version=2.1"],
                "objects": [],
                "manifest": []
            }]
        }
    });
    let password = uuid4();
    let data_path = dir.path().join("data.json");
    std::fs::write(&data_path, serde_json::to_vec(&data)?)?;
    let config = json!({
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": data_path,
        },
        "users": {"bench": password},
        "taxii": {"max_page_size": 100}
    });
    let config_path = dir.path().join("config.json");
    std::fs::write(&config_path, serde_json::to_vec(&config)?)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let log = std::fs::File::create(dir.path().join("medallion.log"))?;
    let child = Command::new(&exe)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--log-level",
            "ERROR",
        ])
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", exe.display()))?;
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _child = Kill(child);
    let base = format!("http://127.0.0.1:{port}");
    use base64::Engine as _;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("bench:{password}"))
    );
    const TAXII: &str = "application/taxii+json;version=2.1";
    let client = agent(Duration::from_secs(20));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = client
            .get(format!("{base}/taxii2/"))
            .header("Authorization", &auth)
            .header("Accept", TAXII)
            .call()
            .is_ok_and(|r| r.status().as_u16() == 200);
        if ok {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "medallion did not answer within 30 s (log: {})",
                dir.path().join("medallion.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let objects = format!("{base}/bench/collections/{collection}/objects/");
    let n = s.mode.pick(5, 50, 300);
    let budget = s.mode.pick(
        Duration::from_secs(2),
        Duration::from_secs(5),
        Duration::from_secs(20),
    );
    let mut lat = Vec::new();
    let t = Instant::now();
    while lat.len() < n && (lat.len() < 2 || t.elapsed() < budget) {
        let bundle = stix_bundle(KIB)?;
        let v: Value = serde_json::from_str(&bundle)?;
        let id = v["objects"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let one = Instant::now();
        let mut resp = client
            .post(&objects)
            .header("Authorization", &auth)
            .header("Accept", TAXII)
            .header("Content-Type", TAXII)
            .send(bundle.as_bytes())
            .context("POST objects")?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string()?;
        if status != 202 {
            bail!("medallion add answered {status}: {text}");
        }
        let mut resp = client
            .get(format!("{objects}?match[id]={id}"))
            .header("Authorization", &auth)
            .header("Accept", TAXII)
            .call()
            .context("GET objects")?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string()?;
        if status != 200 || !text.contains(&id) {
            bail!("medallion get answered {status} without the object");
        }
        lat.push(one.elapsed().as_secs_f64());
    }
    let rate = lat.len() as f64 / t.elapsed().as_secs_f64();
    s.row(
        "baseline",
        name,
        rate,
        "bndl/s",
        s.e2e_1k_rate,
        "Liaison 1 KiB 1→1 unloaded",
        false,
        format!(
            "memory backend, no signature/encryption/durability; p50 {:.2} ms, {} bundles",
            quantile(&lat, 0.5) * 1e3,
            lat.len()
        ),
    );
    Ok(())
}
