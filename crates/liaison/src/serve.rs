//! `liaison serve`: the node daemon. The QUIC side (receiver and delivery
//! worker) and the local HTTP API run on one tokio runtime over one store,
//! until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use anyhow::{bail, Context, Result};
use liaison_api::{AppState, NodeHooks};
use liaison_core::identity::NodeId;
use liaison_net::{Node, NodeConfig};
use liaison_store::{SqliteStore, Store};

use crate::home::Home;

/// Run the node until SIGTERM or Ctrl-C.
pub fn run(home: &Home) -> Result<()> {
    init_tracing();
    let config = home.config()?;
    let keys = Arc::new(home.keys()?);
    let card = Arc::new(home.card()?);
    if card.node_id() != keys.node_id() {
        bail!(
            "{} names node {} but the keys in {} are node {}",
            home.card_path().display(),
            card.node_id(),
            home.dir().display(),
            keys.node_id()
        );
    }
    let listen: SocketAddr = config.node.listen.parse().with_context(|| {
        format!(
            "[node] listen `{}` in {} is not an ip:port address",
            config.node.listen,
            home.config_path().display()
        )
    })?;
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(home.db_path())
            .with_context(|| format!("cannot open the store {}", home.db_path().display()))?,
    );
    let mut node_config = NodeConfig::new(listen);
    node_config.delivery = config.delivery.to_config();
    node_config.checkpoints = config.ledger.to_config();
    let schedule = config.contacts.schedule();
    node_config.contacts = config.contacts.enabled().then_some(schedule);
    let escalation = config
        .incidents
        .to_config()
        .with_context(|| format!("in {}", home.config_path().display()))?;
    let deadlines = escalation.deadlines.clone();
    node_config.escalation = escalation;
    let max_bundle = config
        .limits
        .max_bundle_bytes()
        .with_context(|| format!("in {}", home.config_path().display()))?;
    node_config.open.max_content_bytes = max_bundle;
    let spool = home.ensure_spool()?;
    node_config.spool = Some(spool.clone());
    // Larger envelopes go in parts (`wire::PART_SIZE`); one `Deliver` frame
    // carries at most one part's worth.
    node_config.frames.max_envelope = liaison_core::wire::PART_SIZE + 64 * 1024;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let node = Arc::new(
            Node::start(store.clone(), keys.clone(), node_config)
                .await
                .context("cannot start the QUIC side")?,
        );
        let hooks = Arc::new(DaemonHooks {
            node: OnceLock::new(),
            schedule,
            deadlines,
            max_bundle,
            spool,
        });
        let _ = hooks.node.set(node.clone());
        let state = AppState {
            store,
            keys,
            card: card.clone(),
            hooks,
        };
        let api = tokio::net::TcpListener::bind(&config.node.api)
            .await
            .with_context(|| format!("cannot listen for the API on {}", config.node.api))?;
        let api_addr = api.local_addr().context("cannot read the API address")?;
        // One line for operators and scripts: the node is ready.
        println!(
            "liaison node {} ({}) serving: quic {} api http://{} (web UI http://{}/ui/)",
            card.card.org,
            card.node_id(),
            node.local_addr(),
            api_addr,
            api_addr
        );
        tracing::info!(quic = %node.local_addr(), api = %api_addr, "node ready");
        let served = axum::serve(api, liaison_api::router(state))
            .with_graceful_shutdown(stop_signal())
            .await;
        tracing::info!("stopping: finishing deliveries in flight");
        node.shutdown().await;
        served.context("the API server failed")?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Tells the running node what the API changed.
struct DaemonHooks {
    node: OnceLock<Arc<Node>>,
    schedule: liaison_core::roster::ContactSchedule,
    deadlines: liaison_core::incident::DeadlinePolicy,
    max_bundle: u64,
    spool: std::path::PathBuf,
}

impl NodeHooks for DaemonHooks {
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

    fn deadline_policy(&self) -> liaison_core::incident::DeadlinePolicy {
        self.deadlines.clone()
    }

    fn contact_schedule(&self) -> liaison_core::roster::ContactSchedule {
        self.schedule
    }

    fn max_bundle_bytes(&self) -> u64 {
        self.max_bundle
    }

    fn spool_dir(&self) -> std::path::PathBuf {
        self.spool.clone()
    }

    fn check_contacts(&self, peers: Vec<NodeId>) -> liaison_api::ContactChecks {
        let node = self.node.get().cloned();
        Box::pin(async move {
            let Some(node) = node else { return Vec::new() };
            node.check_contacts(peers)
                .await
                .into_iter()
                .map(|r| (r.peer, r.outcome))
                .collect()
        })
    }

    fn peers_changed(&self, removed: Option<NodeId>) {
        if let Some(node) = self.node.get() {
            if let Err(e) = node.reload_peers(removed) {
                tracing::error!(error = %e, "cannot reload the pinned peers");
            }
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
async fn stop_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
}

/// Log to stderr; `RUST_LOG` overrides the default (`info`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
