//! End-to-end durable delivery on loopback: bundles per second and
//! share→receipt latency for 1 KiB STIX 2.1 bundles, one sender to 1 peer and
//! to 10 peers.
//!
//! ```sh
//! cargo bench -p liaison --bench delivery                        # full, ~1–3 min
//! LIAISON_BENCH_QUICK=1 cargo bench -p liaison --bench delivery  # smoke run
//! cargo bench -p liaison --bench delivery -- --quick             # the same
//! ```
//!
//! `LIAISON_BENCH_CLIENTS=N` sets the number of HTTP clients posting at once
//! in the loaded runs (default 4).
//!
//! Everything runs in this one process, on one multi-thread tokio runtime:
//! real nodes (`liaison_net::Node`: QUIC endpoint, receiver and delivery
//! worker, default settings) over real SQLite stores in temporary directories
//! (WAL, `synchronous=FULL`), and the sender's real HTTP API
//! (`liaison_api::router` served by axum on 127.0.0.1). Shares are POSTed to
//! `/api/shares` with an analyst's bearer token, as the CLI does, and the
//! API's hooks wake the sender's delivery worker, as `liaison serve` does.
//! The HTTP clients are plain threads (ureq) outside the runtime.
//!
//! Latency is read from the sender's own records: a delivery's `completed_at`
//! (stamped when its verified receipt commits) minus the share's `created_at`
//! (stamped when the sealed share and its outbox rows commit), so the polling
//! done here to pace the runs adds no error. It does not include the signing
//! and encryption done inside the POST before that commit; the client-side
//! POST round trip is reported beside it.
//!
//! - unloaded: one share at a time; the next is posted once every receipt of
//!   the previous one is stored;
//! - loaded: every share is posted as fast as the clients can, then the run
//!   waits for all receipts; bundles/s = shares / (last receipt stored − first
//!   POST sent).

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use liaison_api::views::ShareView;
use liaison_api::{AppState, NodeHooks};
use liaison_core::agreement::{AgreementFile, AgreementState, SignedAgreement};
use liaison_core::identity::{NodeId, NodeKeys, SignedCard};
use liaison_core::ledger::kinds;
use liaison_core::manifest::Party;
use liaison_net::{Node, NodeConfig};
use liaison_store::{
    token_hash, AgreementRecord, DeliveryState, Event, PeerRecord, Role, SqliteStore, Store,
};
use serde_json::{json, Value};
use uuid::Uuid;

/// The sample every bundle is made from (a fresh id per share).
const STIX: &str = include_str!("../../../tests/data/stix-indicator-for-c2-ip-address.json");
/// Size of each shared bundle, in bytes.
const BUNDLE_SIZE: usize = 1024;
const ANALYST_TOKEN: &str = "bench-analyst-token-0123456789abcdef0123456789abcdef";
/// Bound on waiting for one unloaded share's receipts.
const UNLOADED_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on waiting for every receipt of a loaded run.
const LOADED_TIMEOUT: Duration = Duration::from_secs(300);

/// How many shares each run makes.
struct Plan {
    warmup: usize,
    unloaded: usize,
    /// Loaded-run shares for 1 peer and for 10 peers.
    loaded: [usize; 2],
    clients: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        let clients = std::env::var("LIAISON_BENCH_CLIENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or(4);
        if quick {
            Plan {
                warmup: 3,
                unloaded: 20,
                loaded: [100, 30],
                clients,
            }
        } else {
            Plan {
                warmup: 10,
                unloaded: 200,
                loaded: [2000, 500],
                clients,
            }
        }
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick")
        || std::env::var("LIAISON_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let plan = Plan::new(quick);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let tmp = std::env::temp_dir();

    println!(
        "Liaison end-to-end durable delivery on loopback ({} mode)",
        if quick { "quick" } else { "full" }
    );
    println!(
        "  {BUNDLE_SIZE} B STIX 2.1 bundles, TLP:AMBER: POST /api/shares (sign, encrypt per peer, \
         commit) -> QUIC -> open, verify, commit, signed receipt -> receipt verified and committed"
    );
    println!(
        "  one process: {} tokio workers on {cpus} CPUs; SQLite WAL synchronous=FULL under {}; \
         default delivery settings; loaded runs post from {} HTTP clients",
        rt.metrics().num_workers(),
        tmp.display(),
        plan.clients
    );
    println!("  latency = receipt stored - share committed, both on the sender; ms");
    println!();
    println!(
        "{:>5}  {:<8}  {:>6}  {:>6}  {:>8}  {:>9}  {:>8}  {:>7}  {:>7}  {:>7}  {:>8}  {:>8}  {:>8}  {:>7}",
        "peers",
        "run",
        "shares",
        "deliv",
        "elapsed",
        "bundles/s",
        "deliv/s",
        "p50",
        "p99",
        "max",
        "all p50",
        "all p99",
        "POST p50",
        "retries"
    );

    let started = Instant::now();
    for (i, peers) in [1usize, 10].into_iter().enumerate() {
        let cluster = Cluster::start(&rt, peers);
        let client = Client::new(&cluster);
        // Connections, caches and lazy initialisation; not measured.
        let _ = unloaded(&cluster, &client, plan.warmup);
        print_row(
            peers,
            "unloaded",
            &unloaded(&cluster, &client, plan.unloaded),
        );
        print_row(
            peers,
            "loaded",
            &loaded(&cluster, plan.clients, plan.loaded[i]),
        );
        drop(client);
        cluster.stop(&rt);
    }
    println!();
    println!(
        "  p50/p99/max: per delivery; all p50/p99: per share, until its last receipt; \
         POST p50: client-side round trip of POST /api/shares; retries: failed attempts"
    );
    println!("  total {:.1} s", started.elapsed().as_secs_f64());
}

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
    fn new(name: &str) -> Org {
        let home = tempfile::Builder::new()
            .prefix("liaison-bench-")
            .tempdir()
            .expect("temporary node home");
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(home.path().join("liaison.db")).expect("open the store"));
        let keys = Arc::new(NodeKeys::generate().expect("node keys"));
        // `Node::start` binds itself and the card must carry the real port:
        // find a free one first.
        let addr = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("a free UDP port");
        let card = keys.issue_card(name, vec![addr.to_string()], Utc::now());
        let admin = store
            .init_node(
                &keys.node_id(),
                name,
                &token_hash(&format!("admin-{}", Uuid::new_v4())),
            )
            .expect("init the node");
        Org {
            keys,
            card,
            store,
            admin: admin.id,
            addr,
            _home: home,
        }
    }

    fn pin(&self, other: &Org) {
        let c = &other.card.card;
        let record = PeerRecord {
            name: c.org.clone(),
            node_id: c.node_id,
            org: c.org.clone(),
            card_json: other.card.to_json(),
            endpoints: c.endpoints.clone(),
            age_recipient: c.age_recipient.clone(),
            tier: 1,
            added_at: Utc::now(),
            last_contact: None,
        };
        self.store
            .add_peer(&record, &self.admin)
            .expect("pin the peer");
    }

    /// An agreement letting STIX flow both ways, signed by both and stored
    /// in force on both nodes, as negotiation over QUIC leaves it.
    fn agree(&self, other: &Org) {
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
        .expect("the bench agreement parses");
        let party = |o: &Org| Party {
            org: o.card.card.org.clone(),
            node_id: o.keys.node_id(),
        };
        let agreement = file
            .to_agreement(Uuid::new_v4(), 1, party(self), party(other), Utc::now())
            .expect("a valid agreement");
        let signed = SignedAgreement::propose(&self.keys, agreement)
            .and_then(|s| s.countersign(&other.keys))
            .expect("signed by both");
        for (org, peer) in [(self, other), (other, self)] {
            let rec =
                AgreementRecord::of(&signed, peer.keys.node_id(), AgreementState::InForce, None);
            let event = Event {
                kind: kinds::AGREEMENT_IN_FORCE,
                actor: org.admin.clone(),
                body: serde_json::json!({"agreement_id": signed.agreement.id}),
            };
            org.store
                .save_agreement(&rec, &event, None)
                .expect("store the agreement");
        }
    }
}

/// The API hooks of `liaison serve`: wake the sender's delivery worker.
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

    fn peers_changed(&self, removed: Option<NodeId>) {
        if let Some(node) = self.node.get() {
            node.reload_peers(removed).expect("reload the pinned peers");
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
    fn start(rt: &tokio::runtime::Runtime, peers: usize) -> Cluster {
        let sender = Org::new("Sender");
        let receivers: Vec<Org> = (1..=peers)
            .map(|i| Org::new(&format!("Peer {i:02}")))
            .collect();
        for r in &receivers {
            sender.pin(r);
            r.pin(&sender);
            sender.agree(r);
        }
        sender
            .store
            .add_user(
                "analyst",
                Role::Analyst,
                &token_hash(ANALYST_TOKEN),
                &sender.admin,
            )
            .expect("add the analyst");

        rt.block_on(async {
            let mut nodes = Vec::with_capacity(peers + 1);
            for org in std::iter::once(&sender).chain(&receivers) {
                let node = Node::start(
                    org.store.clone(),
                    org.keys.clone(),
                    NodeConfig::new(org.addr),
                )
                .await
                .expect("start a node");
                assert_eq!(node.local_addr(), org.addr);
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
                .expect("bind the API");
            let api = listener.local_addr().expect("API address");
            let (stop_api, stopped) = tokio::sync::oneshot::channel::<()>();
            let api_task = tokio::spawn(async move {
                axum::serve(listener, liaison_api::router(state))
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("the API server failed");
            });
            Cluster {
                sender,
                receivers,
                nodes,
                api,
                stop_api,
                api_task,
            }
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

/// An HTTP client of the sender's API.
struct Client {
    agent: ureq::Agent,
    url: String,
    to: Vec<String>,
}

impl Client {
    fn new(cluster: &Cluster) -> Client {
        Client {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(60)))
                .build()
                .into(),
            url: format!("http://{}/api/shares", cluster.api),
            to: cluster.recipients(),
        }
    }

    /// The request body of one share.
    fn body(&self) -> Value {
        json!({"tlp": "amber", "kind": "stix", "to": self.to, "content": stix_bundle()})
    }

    /// POST one share: its id and the round-trip time.
    fn post(&self, body: &Value) -> (Uuid, Duration) {
        let started = Instant::now();
        let mut resp = self
            .agent
            .post(&self.url)
            .header("Authorization", &format!("Bearer {ANALYST_TOKEN}"))
            .send_json(body)
            .expect("POST /api/shares");
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().expect("read the answer");
        let took = started.elapsed();
        assert_eq!(status, 201, "POST /api/shares answered {status}: {text}");
        let view: ShareView = serde_json::from_str(&text).expect("a share view");
        assert_eq!(view.deliveries.len(), self.to.len());
        (view.id, took)
    }
}

/// A valid STIX 2.1 bundle of exactly [`BUNDLE_SIZE`] bytes with fresh ids.
fn stix_bundle() -> String {
    let mut v: Value = serde_json::from_str(STIX).expect("the STIX sample");
    v["id"] = json!(format!("bundle--{}", Uuid::new_v4()));
    v["objects"][0]["id"] = json!(format!("indicator--{}", Uuid::new_v4()));
    v["objects"][0]["description"] = json!("");
    let base = serde_json::to_string(&v).expect("JSON").len();
    let pad = BUNDLE_SIZE
        .checked_sub(base)
        .expect("the sample fits in a bundle");
    let text = "Test description C2 channel, padded for the delivery benchmark. ";
    let filler: String = text.chars().cycle().take(pad).collect();
    v["objects"][0]["description"] = json!(filler);
    let out = serde_json::to_string(&v).expect("JSON");
    assert_eq!(out.len(), BUNDLE_SIZE);
    out
}

/// The figures of one run.
struct Stats {
    shares: usize,
    deliveries: usize,
    elapsed: Duration,
    per_delivery: Vec<Duration>,
    per_share: Vec<Duration>,
    posts: Vec<Duration>,
    retries: u64,
}

/// Post `n` shares one at a time, each after every receipt of the last.
fn unloaded(cluster: &Cluster, client: &Client, n: usize) -> Stats {
    let store = &cluster.sender.store;
    let peers = cluster.receivers.len() as u64;
    let mut receipts = store.receipts_count().expect("count receipts");
    let mut ids = Vec::with_capacity(n);
    let mut posts = Vec::with_capacity(n);
    let t0 = Utc::now();
    for _ in 0..n {
        let body = client.body();
        let (id, took) = client.post(&body);
        receipts += peers;
        wait_for_receipts(
            cluster,
            receipts,
            UNLOADED_TIMEOUT,
            Duration::from_micros(200),
        );
        ids.push(id);
        posts.push(took);
    }
    collect(cluster, &ids, t0, posts)
}

/// Post `n` shares from `clients` threads as fast as they go, then wait for
/// every receipt.
fn loaded(cluster: &Cluster, clients: usize, n: usize) -> Stats {
    let store = &cluster.sender.store;
    let expected =
        store.receipts_count().expect("count receipts") + (n * cluster.receivers.len()) as u64;
    let workers: Vec<(Client, Vec<Value>)> = (0..clients)
        .map(|c| {
            let client = Client::new(cluster);
            let count = n / clients + usize::from(c < n % clients);
            let bodies = (0..count).map(|_| client.body()).collect();
            (client, bodies)
        })
        .collect();
    let t0 = Utc::now();
    let posted: Vec<(Uuid, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = workers
            .iter()
            .map(|(client, bodies)| {
                s.spawn(move || bodies.iter().map(|b| client.post(b)).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("client thread"))
            .collect()
    });
    wait_for_receipts(cluster, expected, LOADED_TIMEOUT, Duration::from_millis(5));
    let (ids, posts): (Vec<Uuid>, Vec<Duration>) = posted.into_iter().unzip();
    collect(cluster, &ids, t0, posts)
}

/// Wait until the sender has stored `count` receipts in all.
fn wait_for_receipts(cluster: &Cluster, count: u64, timeout: Duration, poll: Duration) {
    let store = &cluster.sender.store;
    let deadline = Instant::now() + timeout;
    loop {
        if store.receipts_count().expect("count receipts") >= count {
            return;
        }
        if Instant::now() > deadline {
            let pending = store.pending_deliveries().unwrap_or_default();
            let errors: Vec<String> = store
                .shares(50)
                .unwrap_or_default()
                .iter()
                .flat_map(|s| s.deliveries.iter())
                .filter_map(|d| d.last_error.clone())
                .take(5)
                .collect();
            panic!(
                "timed out after {timeout:?} waiting for receipts: {pending} deliveries pending; \
                 last errors: {errors:?}"
            );
        }
        std::thread::sleep(poll);
    }
}

/// Read the run's shares back from the sender's store.
fn collect(cluster: &Cluster, ids: &[Uuid], t0: DateTime<Utc>, posts: Vec<Duration>) -> Stats {
    let store = &cluster.sender.store;
    let mut per_delivery = Vec::with_capacity(ids.len() * cluster.receivers.len());
    let mut per_share = Vec::with_capacity(ids.len());
    let mut last = t0;
    let mut retries = 0u64;
    for id in ids {
        let share = store
            .share(*id)
            .expect("read a share")
            .expect("the share exists");
        assert_eq!(share.deliveries.len(), cluster.receivers.len());
        let mut share_done = share.created_at;
        for d in &share.deliveries {
            assert_eq!(
                d.state,
                DeliveryState::Delivered,
                "share {id} to {}: {:?}",
                d.peer,
                d.receipt.as_ref().map(|r| &r.reason)
            );
            let done = d.completed_at.expect("a completed delivery has a time");
            per_delivery.push(since(share.created_at, done));
            share_done = share_done.max(done);
            retries += u64::from(d.attempts);
        }
        per_share.push(since(share.created_at, share_done));
        last = last.max(share_done);
    }
    Stats {
        shares: ids.len(),
        deliveries: per_delivery.len(),
        elapsed: since(t0, last),
        per_delivery,
        per_share,
        posts,
        retries,
    }
}

fn since(from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
    (to - from).to_std().unwrap_or_default()
}

/// The `q` quantile (nearest rank) of `v`, in milliseconds.
fn quantile_ms(v: &[Duration], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1].as_secs_f64() * 1e3
}

fn print_row(peers: usize, run: &str, s: &Stats) {
    let secs = s.elapsed.as_secs_f64();
    println!(
        "{:>5}  {:<8}  {:>6}  {:>6}  {:>7.2}s  {:>9.1}  {:>8.1}  {:>7.2}  {:>7.2}  {:>7.2}  {:>8.2}  {:>8.2}  {:>8.2}  {:>7}",
        peers,
        run,
        s.shares,
        s.deliveries,
        secs,
        s.shares as f64 / secs,
        s.deliveries as f64 / secs,
        quantile_ms(&s.per_delivery, 0.50),
        quantile_ms(&s.per_delivery, 0.99),
        quantile_ms(&s.per_delivery, 1.0),
        quantile_ms(&s.per_share, 0.50),
        quantile_ms(&s.per_share, 0.99),
        quantile_ms(&s.posts, 0.50),
        s.retries
    );
}
