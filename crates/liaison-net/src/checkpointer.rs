//! The checkpointer (DESIGN §7): signs a checkpoint of the ledger every
//! `every` new entries or `interval` (when anything was appended), and once
//! more on shutdown.
//!
//! It keeps the Merkle frontier of the ledger in memory (O(log n) hashes),
//! built once at start from the stored leaf hashes and extended with each
//! new entry. At start it checks the frontier against the latest stored
//! checkpoint: a node never signs a checkpoint over a history that no
//! longer matches what it signed before (a tampered database); it logs the
//! fault and signs nothing until `liaison ledger verify` is clean again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use liaison_core::checkpoint::{origin_for, Checkpoint};
use liaison_core::identity::NodeKeys;
use liaison_core::merkle::Frontier;
use liaison_store::{CheckpointRecord, Store};
use tokio::sync::watch;

/// When to sign checkpoints.
#[derive(Debug, Clone)]
pub struct CheckpointConfig {
    /// Sign once this many entries were appended since the last checkpoint.
    pub every: u64,
    /// Sign at least this often while entries are being appended.
    pub interval: Duration,
    /// How often to look at the ledger.
    pub poll: Duration,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            every: 1000,
            interval: Duration::from_secs(60),
            poll: Duration::from_millis(500),
        }
    }
}

/// Leaf hashes read per query while catching up.
const BATCH: u32 = 20_000;

pub(crate) struct Checkpointer {
    pub store: Arc<dyn Store>,
    pub keys: Arc<NodeKeys>,
    pub config: CheckpointConfig,
}

impl Checkpointer {
    /// Run until `shutdown`, then sign a last checkpoint if anything is new.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let start = this.clone();
        let state = tokio::task::spawn_blocking(move || start.load()).await;
        let mut state = match state {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "checkpoints disabled: the ledger does not match its last signed checkpoint; run `liaison ledger verify`");
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "checkpointer failed to start");
                return;
            }
        };
        let mut last = Instant::now();
        loop {
            let stopping = *shutdown.borrow();
            let this2 = this.clone();
            let due = stopping || last.elapsed() >= this.config.interval;
            let result = tokio::task::spawn_blocking(move || {
                this2.catch_up(&mut state)?;
                let new = state.frontier.len() - state.signed;
                if new > 0 && (due || new >= this2.config.every) {
                    this2.sign(&mut state)?;
                    return Ok::<_, String>((state, true));
                }
                Ok((state, false))
            })
            .await;
            state = match result {
                Ok(Ok((s, signed))) => {
                    // A new interval starts at a checkpoint, or when one was
                    // due but nothing was new.
                    if signed || due {
                        last = Instant::now();
                    }
                    s
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "checkpointer stopped");
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "checkpointer failed");
                    return;
                }
            };
            if stopping {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(this.config.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// The frontier of the whole stored ledger, checked against the latest
    /// checkpoint.
    fn load(&self) -> Result<State, String> {
        let mut state = State {
            frontier: Frontier::new(),
            signed: 0,
        };
        let latest = self.store.latest_checkpoint().map_err(|e| e.to_string())?;
        if let Some(c) = &latest {
            self.extend(&mut state, Some(c.size))?;
            if state.frontier.len() != c.size || state.frontier.root() != c.root_hash {
                return Err(format!(
                    "the first {} entries no longer hash to the checkpoint signed at that size",
                    c.size
                ));
            }
            state.signed = c.size;
        }
        Ok(state)
    }

    fn catch_up(&self, state: &mut State) -> Result<(), String> {
        self.extend(state, None)
    }

    /// Push stored leaves onto the frontier, up to `upto` entries if given.
    fn extend(&self, state: &mut State, upto: Option<u64>) -> Result<(), String> {
        loop {
            let from = state.frontier.len();
            let want = match upto {
                Some(u) if from >= u => return Ok(()),
                Some(u) => u32::try_from(u - from).unwrap_or(BATCH).min(BATCH),
                None => BATCH,
            };
            let leaves = self
                .store
                .leaf_hashes(from, want)
                .map_err(|e| e.to_string())?;
            if leaves.is_empty() {
                return Ok(());
            }
            for leaf in leaves {
                state.frontier.push(leaf);
            }
        }
    }

    fn sign(&self, state: &mut State) -> Result<(), String> {
        let checkpoint = Checkpoint {
            origin: origin_for(&self.keys.node_id()),
            size: state.frontier.len(),
            root: state.frontier.root(),
            extensions: Vec::new(),
        };
        let record = CheckpointRecord {
            size: checkpoint.size,
            root_hash: checkpoint.root,
            note: checkpoint.sign(&self.keys),
            created_at: chrono::Utc::now(),
        };
        self.store
            .add_checkpoint(&record)
            .map_err(|e| format!("cannot store a checkpoint: {e}"))?;
        tracing::debug!(size = checkpoint.size, "ledger checkpoint signed");
        state.signed = checkpoint.size;
        Ok(())
    }
}

struct State {
    frontier: Frontier,
    /// The size of the last checkpoint.
    signed: u64,
}
