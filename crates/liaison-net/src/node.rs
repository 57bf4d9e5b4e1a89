//! A running node's network side: the QUIC endpoint answering pinned peers
//! (the [`Receiver`]) and the [`DeliveryWorker`] sending the outbox, over one
//! store. The HTTP API and the process (signals, config) live in the binary.

use std::net::SocketAddr;
use std::sync::Arc;

use liaison_core::envelope::OpenLimits;
use liaison_core::identity::{NodeId, NodeKeys};
use liaison_core::roster::ContactSchedule;
use liaison_core::wire::{FrameLimits, FrameType, Pong};
use liaison_store::Store;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::agreements::AgreementDesk;
use crate::checkpointer::{CheckpointConfig, Checkpointer};
use crate::contacts::{CheckResult, ContactChecker, Pinger};
use crate::delivery::{DeliveryConfig, DeliveryWorker};
use crate::directory::PeerDirectory;
use crate::escalations::{EscalationConfig, EscalationWorker};
use crate::messages::MessageWorker;
use crate::receiver::{MessageHandler, Receiver};
use crate::transport::{Endpoint, NetError};

/// Settings of a node's network side.
#[derive(Clone)]
pub struct NodeConfig {
    /// UDP address to listen on and dial from.
    pub listen: SocketAddr,
    /// Frame size limits.
    pub frames: FrameLimits,
    /// Limits applied when opening delivered envelopes.
    pub open: OpenLimits,
    /// Delivery worker settings.
    pub delivery: DeliveryConfig,
    /// What answers `Message` frames; by default an [`AgreementDesk`]
    /// over the node's store.
    pub messages: Option<Arc<dyn MessageHandler>>,
    /// When to sign ledger checkpoints.
    pub checkpoints: CheckpointConfig,
    /// How often to check each tier's contact path (`None`: never by
    /// itself; `check_contacts` still works).
    pub contacts: Option<ContactSchedule>,
    /// Incident deadlines and escalation webhooks.
    pub escalation: EscalationConfig,
    /// Where the content of large envelopes is spooled while it is checked
    /// (`None`: the system temporary directory).
    pub spool: Option<std::path::PathBuf>,
}

impl NodeConfig {
    /// Defaults, listening on `listen`.
    pub fn new(listen: SocketAddr) -> NodeConfig {
        NodeConfig {
            listen,
            frames: FrameLimits::default(),
            open: OpenLimits::default(),
            delivery: DeliveryConfig::default(),
            messages: None,
            checkpoints: CheckpointConfig::default(),
            contacts: Some(ContactSchedule::default()),
            escalation: EscalationConfig::default(),
            spool: None,
        }
    }
}

/// The network side of a running node.
pub struct Node {
    store: Arc<dyn Store>,
    endpoint: Endpoint<Receiver>,
    directory: Arc<PeerDirectory>,
    wake: Arc<Notify>,
    wake_messages: Arc<Notify>,
    stop: watch::Sender<bool>,
    /// Stops the checkpointer, last, once nothing appends any more.
    stop_checkpoints: watch::Sender<bool>,
    worker: std::sync::Mutex<Option<JoinHandle<()>>>,
    message_worker: std::sync::Mutex<Option<JoinHandle<()>>>,
    checkpointer: std::sync::Mutex<Option<JoinHandle<()>>>,
    contact_checker: std::sync::Mutex<Option<JoinHandle<()>>>,
    escalation_worker: std::sync::Mutex<Option<JoinHandle<()>>>,
    pinger: Pinger,
    timeout: std::time::Duration,
}

impl Node {
    /// Load the pinned peers, bind the QUIC endpoint and start the delivery
    /// worker on the current tokio runtime. Deliveries left pending by an
    /// earlier run (or a crash) are sent at once.
    pub async fn start(
        store: Arc<dyn Store>,
        keys: Arc<NodeKeys>,
        config: NodeConfig,
    ) -> Result<Node, NetError> {
        let directory = Arc::new(PeerDirectory::new());
        let peers = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || store.peers())
                .await
                .map_err(|e| NetError::Io(e.to_string()))?
                .map_err(|e| NetError::Io(format!("cannot read the pinned peers: {e}")))?
        };
        for (peer, why) in directory.reload(&peers) {
            tracing::error!(%peer, %why, "pinned peer ignored: its stored card is not valid");
        }
        let handler = config.messages.clone().unwrap_or_else(|| {
            Arc::new(AgreementDesk::with_keys(store.clone(), keys.clone()))
                as Arc<dyn MessageHandler>
        });
        let mut receiver =
            Receiver::new(store.clone(), keys.clone(), directory.clone(), config.open)
                .with_messages(handler);
        if let Some(dir) = &config.spool {
            receiver = receiver.with_spool(dir.clone());
        }
        let endpoint = Endpoint::bind(
            config.listen,
            &keys,
            directory.pins(),
            config.frames,
            Arc::new(receiver),
        )?;
        let wake = Arc::new(Notify::new());
        let (stop, stopped) = watch::channel(false);
        let (stop_checkpoints, checkpoints_stopped) = watch::channel(false);
        let timeout = config.delivery.request_timeout;
        let wake_messages = Arc::new(Notify::new());
        let messages = MessageWorker {
            store: store.clone(),
            endpoint: endpoint.clone(),
            directory: directory.clone(),
            wake: wake_messages.clone(),
            config: config.delivery.clone(),
        };
        let message_worker = tokio::spawn(messages.run(stopped.clone()));
        let checkpointer = tokio::spawn(
            Checkpointer {
                store: store.clone(),
                keys: keys.clone(),
                config: config.checkpoints.clone(),
            }
            .run(checkpoints_stopped),
        );
        let pinger = Pinger {
            store: store.clone(),
            endpoint: endpoint.clone(),
            directory: directory.clone(),
            timeout,
        };
        let contact_checker = config.contacts.map(|schedule| {
            tokio::spawn(
                ContactChecker {
                    pinger: pinger.clone(),
                    schedule,
                }
                .run(stopped.clone()),
            )
        });
        let escalation_worker = tokio::spawn(
            EscalationWorker {
                store: store.clone(),
                config: config.escalation.clone(),
            }
            .run(stopped.clone()),
        );
        let worker = DeliveryWorker::new(
            store.clone(),
            endpoint.clone(),
            directory.clone(),
            wake.clone(),
            config.delivery,
        );
        let worker = tokio::spawn(worker.run(stopped));
        Ok(Node {
            store,
            endpoint,
            directory,
            wake,
            wake_messages,
            stop,
            stop_checkpoints,
            worker: std::sync::Mutex::new(Some(worker)),
            message_worker: std::sync::Mutex::new(Some(message_worker)),
            checkpointer: std::sync::Mutex::new(Some(checkpointer)),
            contact_checker: std::sync::Mutex::new(contact_checker),
            escalation_worker: std::sync::Mutex::new(Some(escalation_worker)),
            pinger,
            timeout,
        })
    }

    /// The bound QUIC address.
    pub fn local_addr(&self) -> SocketAddr {
        self.endpoint.local_addr()
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.endpoint.node_id()
    }

    /// Wake the delivery worker (a share was queued).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Wake the message worker (a signed message was queued).
    pub fn wake_messages(&self) {
        self.wake_messages.notify_one();
    }

    /// Re-read the pinned peers from the store (blocking; call from a
    /// blocking thread). With `removed`, also close that peer's connections,
    /// so it cannot go on using one opened while it was pinned.
    pub fn reload_peers(&self, removed: Option<NodeId>) -> Result<(), NetError> {
        let peers = self
            .store
            .peers()
            .map_err(|e| NetError::Io(format!("cannot read the pinned peers: {e}")))?;
        for (peer, why) in self.directory.reload(&peers) {
            tracing::error!(%peer, %why, "pinned peer ignored: its stored card is not valid");
        }
        if let Some(peer) = removed {
            self.endpoint.forget_peer(&peer);
        }
        // Deliveries to a re-pinned peer may be waiting: look again.
        self.wake();
        self.wake_messages();
        Ok(())
    }

    /// Send a signed message (DSSE JSON) to a pinned peer and return its
    /// `MessageAck` body. A refusal by the peer is [`NetError::Remote`].
    pub async fn send_message(&self, peer: &NodeId, body: &[u8]) -> Result<Vec<u8>, NetError> {
        let card = self
            .directory
            .card(peer)
            .ok_or_else(|| NetError::Refused(format!("{peer} is not pinned")))?;
        let (ty, answer) = self
            .endpoint
            .request(&card, FrameType::Message, body, self.timeout)
            .await?;
        if ty != FrameType::MessageAck {
            return Err(NetError::Protocol(format!(
                "expected a MessageAck frame, got {ty:?}"
            )));
        }
        Ok(answer)
    }

    /// Check the contact path to a pinned peer: send a random nonce and
    /// verify the signed pong. Returns the pong and the round-trip time.
    /// Not recorded as a check (see [`Node::check_contacts`]).
    pub async fn ping(&self, peer: &NodeId) -> Result<(Pong, std::time::Duration), NetError> {
        self.pinger.ping(peer).await
    }

    /// Check the contact paths to `peers` now, concurrently, and record
    /// each result in the store (and its ledger) as the schedule would.
    pub async fn check_contacts(&self, peers: Vec<NodeId>) -> Vec<CheckResult> {
        let tasks: Vec<_> = peers
            .into_iter()
            .map(|peer| {
                let pinger = self.pinger.clone();
                tokio::spawn(async move { pinger.check(peer).await })
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            match t.await {
                Ok(r) => out.push(r),
                Err(e) => tracing::error!(error = %e, "contact check task failed"),
            }
        }
        out
    }

    /// Stop: the worker starts no new attempts and finishes those in flight
    /// (each bounded by its timeout; unfinished ones stay in the outbox),
    /// then the endpoint lets requests being served finish and closes, and
    /// a last checkpoint is signed.
    /// Later calls return at once.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let worker = self
            .worker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(worker) = worker else { return };
        if let Err(e) = worker.await {
            tracing::error!(error = %e, "delivery worker failed");
        }
        let messages = self
            .message_worker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(Err(e)) = match messages {
            Some(m) => Some(m.await),
            None => None,
        } {
            tracing::error!(error = %e, "message worker failed");
        }
        for (name, slot) in [
            ("contact checker", &self.contact_checker),
            ("escalation worker", &self.escalation_worker),
        ] {
            let task = slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(Err(e)) = match task {
                Some(t) => Some(t.await),
                None => None,
            } {
                tracing::error!(error = %e, "{name} failed");
            }
        }
        self.endpoint.shutdown().await;
        // Last: every entry of this run (the final deliveries and requests
        // served included) is covered by a signed checkpoint.
        self.stop_checkpoints.send_replace(true);
        let checkpointer = self
            .checkpointer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(Err(e)) = match checkpointer {
            Some(c) => Some(c.await),
            None => None,
        } {
            tracing::error!(error = %e, "checkpointer failed");
        }
    }
}
