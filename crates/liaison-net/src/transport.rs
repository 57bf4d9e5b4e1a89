//! The QUIC endpoint: one UDP socket that listens for pinned peers and dials
//! them (DESIGN §3, §6).
//!
//! Every exchange is one bidirectional stream carrying one request frame and
//! one response frame ([`liaison_core::wire`]). A fresh outbound connection
//! first exchanges `Hello`/`HelloAck`: QUIC's `connect()` completes before the
//! listener has judged our certificate, so only the `HelloAck` proves that the
//! listener accepted us. Connections are cached per peer and reused, because a
//! mutual Ed25519 handshake costs far more than a request.
//!
//! The listener re-checks the peer's key against the current pin set after
//! every handshake and before every stream, so unpinning takes effect even on
//! connections that are already open.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use liaison_core::identity::{IdentityCard, NodeId, NodeKeys};
use liaison_core::wire::{
    self, FrameLimits, FrameType, Hello, WireError, WireErrorBody, ALPN, FRAME_HEADER_LEN,
};
use quinn::crypto::rustls::{HandshakeData, QuicClientConfig, QuicServerConfig};
use quinn::{ConnectionError, RecvStream, SendStream, TransportErrorCode, VarInt};
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use rustls::AlertDescription;
use tokio::sync::watch;
use tokio::time::{timeout, timeout_at, Instant};

use crate::tls::{self, PinnedServerVerifier, RefusalHook, SetupError, SharedPins};

/// Software string sent in `Hello`/`HelloAck`, for diagnostics only.
pub const SOFTWARE: &str = concat!("liaison-net/", env!("CARGO_PKG_VERSION"));

/// A connection with no traffic for this long is dropped.
const IDLE_TIMEOUT_MS: u32 = 30_000;
/// Keep-alives keep cached connections open well inside the idle timeout.
const KEEP_ALIVE: Duration = Duration::from_secs(10);
/// Concurrent request streams a peer may open on one connection; more wait
/// for QUIC stream credit instead of costing us tasks and memory.
const MAX_STREAMS_PER_CONNECTION: u32 = 64;
/// Inbound connections beyond this are refused before the handshake.
const MAX_INBOUND_CONNECTIONS: usize = 1024;
/// A request header must arrive this soon after its stream opens.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Slowest body transfer tolerated (bytes per second), on top of
/// `HEADER_TIMEOUT`: a stalled stream must not hold its slot forever.
const MIN_BODY_RATE: u64 = 64 * 1024;
/// How long `shutdown` waits for requests being served to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long `shutdown` waits for peers to acknowledge the close.
const SHUTDOWN_IDLE_WAIT: Duration = Duration::from_secs(2);

/// Application close codes (QUIC `CONNECTION_CLOSE`, application space).
const CLOSE_SHUTDOWN: u32 = 0;
/// The peer is not (or no longer) pinned, or broke the handshake rules.
const CLOSE_REFUSED: u32 = 1;
/// The peer was forgotten locally (`forget_peer`).
const CLOSE_FORGOTTEN: u32 = 2;
/// Stream reset/stop code: the request was refused or could not be served.
const STREAM_REFUSED: u32 = 1;

/// Answers requests from pinned peers and hears about refused connections.
pub trait Handler: Send + Sync + 'static {
    /// Answer one request frame from an authenticated, currently pinned peer.
    ///
    /// Each request runs on its own task; at most 64 per connection run at
    /// once. A handler that never returns holds one of those slots, so bound
    /// slow work yourself.
    ///
    /// `Hello` is answered by the transport and never reaches the handler,
    /// nor do response-only frame types (`HelloAck`, `Receipt`, `Pong`,
    /// `MessageAck`, `Error`), which are refused with `unexpected_frame`.
    fn handle(
        &self,
        peer: NodeId,
        frame_type: FrameType,
        body: Vec<u8>,
    ) -> impl Future<Output = (FrameType, Vec<u8>)> + Send;

    /// A connection was refused (unpinned key, bad ALPN, unpinned after
    /// handshake...). `peer` when known.
    ///
    /// Called on a network task, possibly from inside the TLS handshake:
    /// return quickly and do not block. Anyone on the network can trigger it
    /// at will, so aggregate or rate-limit before writing anything durable.
    fn on_refused(&self, peer: Option<NodeId>, reason: &str);
}

/// Why a request failed. Messages name the peer and what failed, never key
/// material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The peer's identity card lists no endpoint to dial.
    #[error("the peer's card lists no endpoint")]
    NoEndpoint,
    /// The peer could not be reached or the connection broke.
    #[error("cannot reach peer: {0}")]
    Connect(String),
    /// The TLS handshake or the pin check refused the connection (either
    /// side).
    #[error("connection refused: {0}")]
    Refused(String),
    /// The exchange did not complete within its time limit.
    #[error("request timed out")]
    Timeout,
    /// The peer's answer is malformed.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The peer answered with an `Error` frame.
    #[error("peer refused the request: {code}: {message}")]
    Remote {
        /// Stable error code (e.g. `frame_too_large`).
        code: String,
        /// The peer's explanation.
        message: String,
    },
    /// A local I/O failure (socket, runtime).
    #[error("I/O error: {0}")]
    Io(String),
    /// This node's certificate or TLS configuration could not be built.
    #[error("setup error: {0}")]
    Setup(String),
}

impl From<SetupError> for NetError {
    fn from(e: SetupError) -> Self {
        NetError::Setup(e.to_string())
    }
}

/// How many connections are open, for diagnostics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnectionCounts {
    /// Cached connections this node dialed.
    pub outbound: usize,
    /// Accepted connections from pinned peers.
    pub inbound: usize,
}

/// A QUIC endpoint serving and dialing pinned peers. Cheap to clone; when the
/// last clone is dropped the socket is closed (call [`Endpoint::shutdown`]
/// first for a graceful stop).
pub struct Endpoint<H: Handler> {
    inner: Arc<Inner<H>>,
    _guard: Arc<DropGuard>,
}

impl<H: Handler> Clone for Endpoint<H> {
    fn clone(&self) -> Self {
        Endpoint {
            inner: self.inner.clone(),
            _guard: self._guard.clone(),
        }
    }
}

impl<H: Handler> std::fmt::Debug for Endpoint<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("node_id", &self.inner.node_id)
            .field("local_addr", &self.inner.local_addr)
            .finish_non_exhaustive()
    }
}

/// Closes the socket when the last `Endpoint` handle goes away. Tasks hold
/// `Inner`, not this, so they cannot keep the endpoint alive on their own.
struct DropGuard {
    shutdown: Arc<watch::Sender<bool>>,
    quic: quinn::Endpoint,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        self.quic
            .close(VarInt::from_u32(CLOSE_SHUTDOWN), b"endpoint dropped");
    }
}

struct Inner<H: Handler> {
    quic: quinn::Endpoint,
    local_addr: SocketAddr,
    node_id: NodeId,
    identity: Arc<CertifiedKey>,
    pins: SharedPins,
    limits: FrameLimits,
    handler: Arc<H>,
    client_transport: Arc<quinn::TransportConfig>,
    /// One cached outbound connection per peer.
    outbound: Mutex<HashMap<NodeId, quinn::Connection>>,
    /// Serializes dials to the same peer so concurrent requests share one
    /// handshake.
    dial_locks: Mutex<HashMap<NodeId, Arc<tokio::sync::Mutex<()>>>>,
    /// Accepted connections by `stable_id`, with the peer they belong to.
    inbound: Mutex<HashMap<usize, (NodeId, quinn::Connection)>>,
    /// Requests being served, so `shutdown` can let them finish.
    in_flight: Arc<watch::Sender<usize>>,
    shutdown: Arc<watch::Sender<bool>>,
}

/// Lock a map, using it as is if a panicking thread poisoned the lock: each
/// critical section is a single map operation, so the map stays consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<H: Handler> Endpoint<H> {
    /// Bind one UDP socket at `addr`, used both to listen for pinned peers and
    /// to dial them, and spawn the accept loop on the current tokio runtime.
    ///
    /// `pins` is consulted live: changes apply to the next handshake and the
    /// next stream. Refusals are reported to `handler.on_refused`.
    pub fn bind(
        addr: SocketAddr,
        keys: &NodeKeys,
        pins: SharedPins,
        limits: FrameLimits,
        handler: Arc<H>,
    ) -> Result<Self, NetError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| NetError::Io("Endpoint::bind must run inside a tokio runtime".into()))?;
        let identity = tls::node_certificate(keys)?;

        let hook: RefusalHook = {
            let handler = handler.clone();
            Arc::new(move |peer, reason: &str| handler.on_refused(peer, reason))
        };
        let server_tls = tls::server_config(identity.clone(), pins.clone(), hook)?;
        let server_tls = QuicServerConfig::try_from(server_tls)
            .map_err(|e| NetError::Setup(format!("QUIC server TLS: {e}")))?;
        let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(server_tls));
        server_config.transport_config(Arc::new(transport_config(true)));

        let socket = std::net::UdpSocket::bind(addr)
            .map_err(|e| NetError::Io(format!("cannot bind UDP socket {addr}: {e}")))?;
        let quic = quinn::Endpoint::new(
            endpoint_config(keys),
            Some(server_config),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(|e| NetError::Io(format!("cannot start QUIC endpoint on {addr}: {e}")))?;
        let local_addr = quic
            .local_addr()
            .map_err(|e| NetError::Io(format!("cannot read local address: {e}")))?;

        let shutdown = Arc::new(watch::Sender::new(false));
        let inner = Arc::new(Inner {
            quic: quic.clone(),
            local_addr,
            node_id: keys.node_id(),
            identity,
            pins,
            limits,
            handler,
            client_transport: Arc::new(transport_config(false)),
            outbound: Mutex::new(HashMap::new()),
            dial_locks: Mutex::new(HashMap::new()),
            inbound: Mutex::new(HashMap::new()),
            in_flight: Arc::new(watch::Sender::new(0)),
            shutdown: shutdown.clone(),
        });
        runtime.spawn(inner.clone().accept_loop());
        tracing::info!(node = %inner.node_id, addr = %local_addr, "QUIC endpoint listening");
        Ok(Endpoint {
            inner,
            _guard: Arc::new(DropGuard { shutdown, quic }),
        })
    }

    /// The address the socket is bound to (with the real port if 0 was
    /// asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    /// Send one request frame to `peer` and return its response frame.
    ///
    /// Dials `peer.endpoints[0]` (an `ip:port`, or `host:port` resolved
    /// here), accepting only `peer.node_id`, which must be pinned locally.
    /// Reuses one cached connection per peer and redials once if the cached
    /// connection turns out to be dead. The whole exchange (dial, hello,
    /// request, response) is bounded by `timeout`. A response of type `Error`
    /// becomes [`NetError::Remote`]; any other type is returned as is for the
    /// caller to check.
    ///
    /// If a cached connection breaks after the request was sent, the redial
    /// sends it again: the peer may see a request twice and must deduplicate
    /// (deliveries are deduplicated by bundle id, DESIGN §6).
    pub async fn request(
        &self,
        peer: &IdentityCard,
        frame_type: FrameType,
        body: &[u8],
        timeout: Duration,
    ) -> Result<(FrameType, Vec<u8>), NetError> {
        let deadline = Instant::now() + timeout;
        match timeout_at(deadline, self.inner.request(peer, frame_type, body)).await {
            Ok(result) => result,
            Err(_) => {
                tracing::debug!(peer = %peer.node_id, ?frame_type, "request timed out");
                Err(NetError::Timeout)
            }
        }
    }

    /// Close the cached and inbound connections of `node_id` (call after
    /// unpinning it). Requests being served on them are cut off.
    pub fn forget_peer(&self, node_id: &NodeId) {
        let inner = &self.inner;
        if let Some(conn) = lock(&inner.outbound).remove(node_id) {
            conn.close(VarInt::from_u32(CLOSE_FORGOTTEN), b"peer forgotten");
        }
        lock(&inner.dial_locks).remove(node_id);
        let closed: Vec<quinn::Connection> = {
            let mut inbound = lock(&inner.inbound);
            let ids: Vec<usize> = inbound
                .iter()
                .filter(|(_, (peer, _))| peer == node_id)
                .map(|(id, _)| *id)
                .collect();
            ids.iter()
                .filter_map(|id| inbound.remove(id).map(|(_, conn)| conn))
                .collect()
        };
        for conn in &closed {
            conn.close(VarInt::from_u32(CLOSE_REFUSED), b"not pinned");
        }
        tracing::info!(peer = %node_id, inbound = closed.len(), "forgot peer: connections closed");
    }

    /// Open connections, for diagnostics.
    pub fn connection_counts(&self) -> ConnectionCounts {
        let outbound = lock(&self.inner.outbound)
            .values()
            .filter(|c| c.close_reason().is_none())
            .count();
        let inbound = lock(&self.inner.inbound).len();
        ConnectionCounts { outbound, inbound }
    }

    /// Stop accepting connections and streams, let requests being served
    /// finish (bounded), close every connection and wait (bounded) for peers
    /// to acknowledge. Later requests fail.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        inner.shutdown.send_replace(true);
        inner.quic.set_server_config(None);
        let mut in_flight = inner.in_flight.subscribe();
        if timeout(SHUTDOWN_GRACE, in_flight.wait_for(|n| *n == 0))
            .await
            .is_err()
        {
            tracing::warn!("shutdown: requests still being served after the grace period");
        }
        inner
            .quic
            .close(VarInt::from_u32(CLOSE_SHUTDOWN), b"shutdown");
        lock(&inner.outbound).clear();
        lock(&inner.dial_locks).clear();
        lock(&inner.inbound).clear();
        if timeout(SHUTDOWN_IDLE_WAIT, inner.quic.wait_idle())
            .await
            .is_err()
        {
            tracing::debug!("shutdown: peers did not acknowledge the close in time");
        }
        tracing::info!(node = %inner.node_id, "QUIC endpoint shut down");
    }
}

/// QUIC transport settings. The listener accepts up to
/// `MAX_STREAMS_PER_CONNECTION` concurrent request streams; a dialer accepts
/// none (listeners never open streams towards it). No unidirectional streams,
/// no datagrams.
fn transport_config(listener: bool) -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(VarInt::from_u32(IDLE_TIMEOUT_MS).into()));
    t.keep_alive_interval(Some(KEEP_ALIVE));
    let streams = if listener {
        MAX_STREAMS_PER_CONNECTION
    } else {
        0
    };
    t.max_concurrent_bidi_streams(VarInt::from_u32(streams));
    t.max_concurrent_uni_streams(VarInt::from_u32(0));
    t.datagram_receive_buffer_size(None);
    t
}

/// QUIC endpoint settings whose secrets derive from the node's signing key
/// (HMAC-SHA256 with fixed labels) instead of quinn's per-process random
/// defaults: the stateless-reset key, and the key of the connection-id
/// generator (quinn only answers CIDs that generator validates).
///
/// Why: after a node restarts (even after kill -9), packets its peers send on
/// their old cached connections are answered with a stateless reset the peers
/// recognize, so they redial at once instead of waiting out the idle timeout.
/// The labels separate these keys from every other use of the signing key,
/// and HMAC does not reveal its key.
fn endpoint_config(keys: &NodeKeys) -> quinn::EndpointConfig {
    let seed = zeroize::Zeroizing::new(keys.signing_key().to_bytes());
    let prk = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, seed.as_ref());
    let reset = ring::hmac::sign(&prk, b"liaison/1 QUIC stateless reset key");
    let cid = ring::hmac::sign(&prk, b"liaison/1 QUIC connection id key");
    let mut cid_key = [0u8; 8];
    cid_key.copy_from_slice(&cid.as_ref()[..8]);
    let cid_key = u64::from_le_bytes(cid_key);

    let mut config = quinn::EndpointConfig::new(Arc::new(ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        reset.as_ref(),
    )));
    config.cid_generator(move || {
        Box::new(quinn_proto::HashedConnectionIdGenerator::from_key(cid_key))
    });
    config
}

/// The node id of the peer's TLS certificate, if it has one that parses.
fn peer_node_id(conn: &quinn::Connection) -> Option<NodeId> {
    let identity = conn.peer_identity()?;
    let certs = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    certs
        .first()
        .and_then(|c| tls::node_id_of_certificate(c).ok())
}

/// Whether the connection negotiated our ALPN.
fn has_alpn(conn: &quinn::Connection) -> bool {
    conn.handshake_data()
        .and_then(|d| d.downcast::<HandshakeData>().ok())
        .and_then(|d| d.protocol)
        .is_some_and(|p| p == ALPN)
}

fn crypto_code(alert: AlertDescription) -> TransportErrorCode {
    TransportErrorCode::crypto(u8::from(alert))
}

fn error_body(code: &str, message: &str) -> Vec<u8> {
    // Serializing two strings cannot fail.
    serde_json::to_vec(&WireErrorBody {
        code: code.to_string(),
        message: message.to_string(),
    })
    .unwrap_or_default()
}

fn wire_error_frame(e: &WireError) -> (FrameType, Vec<u8>) {
    (FrameType::Error, error_body(e.code(), &e.to_string()))
}

/// Frame types that only ever answer a request.
fn is_response_type(t: FrameType) -> bool {
    matches!(
        t,
        FrameType::HelloAck
            | FrameType::Receipt
            | FrameType::Pong
            | FrameType::MessageAck
            | FrameType::Error
    )
}

/// Counts a request being served while alive.
struct InFlight(Arc<watch::Sender<usize>>);

impl InFlight {
    fn new(counter: &Arc<watch::Sender<usize>>) -> InFlight {
        counter.send_modify(|n| *n += 1);
        InFlight(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Why reading a frame failed.
enum ReadFailure {
    /// The frame broke the wire rules; answer with an `Error` frame.
    Wire(WireError),
    /// The stream or connection failed; nothing can be answered.
    Stream(String),
    /// The connection is gone (worth a redial on the dialing side).
    Connection(ConnectionError),
}

fn read_error(e: quinn::ReadError) -> ReadFailure {
    match e {
        quinn::ReadError::ConnectionLost(c) => ReadFailure::Connection(c),
        other => ReadFailure::Stream(other.to_string()),
    }
}

/// Read a frame header and check it against `limits`, before a single body
/// byte is read.
async fn read_header(
    recv: &mut RecvStream,
    limits: &FrameLimits,
) -> Result<wire::FrameHeader, ReadFailure> {
    let mut raw = [0u8; FRAME_HEADER_LEN];
    recv.read_exact(&mut raw).await.map_err(|e| match e {
        quinn::ReadExactError::FinishedEarly(n) => {
            ReadFailure::Stream(format!("stream ended after {n} header bytes"))
        }
        quinn::ReadExactError::ReadError(e) => read_error(e),
    })?;
    wire::decode_header(&raw, limits).map_err(ReadFailure::Wire)
}

/// Read exactly the body announced by `header`. The buffer grows with what
/// actually arrives, so an announced length costs nothing by itself, and the
/// sender need not finish its stream.
async fn read_body(
    recv: &mut RecvStream,
    header: &wire::FrameHeader,
) -> Result<Vec<u8>, ReadFailure> {
    let len = header.len as usize;
    let mut body = Vec::with_capacity(len.min(64 * 1024));
    while body.len() < len {
        match recv.read_chunk(len - body.len(), true).await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk.bytes),
            Ok(None) => {
                return Err(ReadFailure::Wire(WireError::BadBody(
                    header.frame_type,
                    format!("stream ended after {} of {len} body bytes", body.len()),
                )))
            }
            Err(e) => return Err(read_error(e)),
        }
    }
    Ok(body)
}

/// Read one whole frame (dialing side; the caller bounds the time).
async fn read_frame(
    recv: &mut RecvStream,
    limits: &FrameLimits,
) -> Result<(FrameType, Vec<u8>), ReadFailure> {
    let header = read_header(recv, limits).await?;
    let body = read_body(recv, &header).await?;
    Ok((header.frame_type, body))
}

/// Read one request frame (listening side): the header within
/// `HEADER_TIMEOUT`, then the body within a time that grows with its
/// announced size, so a stalled stream cannot hold its slot forever.
async fn read_request(
    recv: &mut RecvStream,
    limits: &FrameLimits,
) -> Result<(FrameType, Vec<u8>), ReadFailure> {
    let header = timeout(HEADER_TIMEOUT, read_header(recv, limits))
        .await
        .map_err(|_| ReadFailure::Stream("request header timed out".into()))??;
    let budget = HEADER_TIMEOUT + Duration::from_secs(u64::from(header.len) / MIN_BODY_RATE);
    let body = timeout(budget, read_body(recv, &header))
        .await
        .map_err(|_| ReadFailure::Stream("request body arrived too slowly".into()))??;
    Ok((header.frame_type, body))
}

/// Write one frame and finish the stream.
async fn write_frame(
    send: &mut SendStream,
    frame_type: FrameType,
    body: &[u8],
) -> Result<(), quinn::WriteError> {
    let fallback;
    let (frame_type, body) = if u32::try_from(body.len()).is_ok() {
        (frame_type, body)
    } else {
        // Not representable on the wire: say so instead of truncating.
        fallback = error_body("internal", "response too large for one frame");
        (FrameType::Error, fallback.as_slice())
    };
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    send.write_all(&wire::encode_header(frame_type, len))
        .await?;
    send.write_all(body).await?;
    // Finishing fails only if the stream is already closed, which the writes
    // above would have reported.
    let _ = send.finish();
    Ok(())
}

/// A failed exchange on the dialing side.
enum ExchangeError {
    /// The connection is gone: the caller may redial.
    Connection(ConnectionError),
    /// Anything else.
    Net(NetError),
}

/// Listener side.
impl<H: Handler> Inner<H> {
    fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    async fn accept_loop(self: Arc<Self>) {
        let mut shutdown = self.shutdown.subscribe();
        loop {
            let incoming = tokio::select! {
                biased;
                _ = shutdown.wait_for(|s| *s) => break,
                incoming = self.quic.accept() => match incoming {
                    Some(incoming) => incoming,
                    None => break,
                },
            };
            if lock(&self.inbound).len() >= MAX_INBOUND_CONNECTIONS {
                tracing::warn!(remote = %incoming.remote_address(), "too many inbound connections: refusing");
                incoming.refuse();
                continue;
            }
            tokio::spawn(self.clone().serve_connection(incoming));
        }
        tracing::debug!(node = %self.node_id, "accept loop stopped");
    }

    async fn serve_connection(self: Arc<Self>, incoming: quinn::Incoming) {
        let remote = incoming.remote_address();
        let conn = match incoming.accept() {
            Ok(connecting) => connecting.await,
            Err(e) => Err(e),
        };
        let conn = match conn {
            Ok(conn) => conn,
            Err(e) => return self.handshake_failed(remote, &e),
        };
        let Some(peer) = self.admit(&conn, remote) else {
            return;
        };
        let id = conn.stable_id();
        lock(&self.inbound).insert(id, (peer, conn.clone()));
        tracing::debug!(%peer, %remote, "accepted connection");
        self.clone().serve_streams(&conn, peer).await;
        lock(&self.inbound).remove(&id);
    }

    /// Report a handshake that failed on our side. Refusals by the pin
    /// verifier (`access_denied`) were already reported, with the node id,
    /// by the verifier itself; peers that went away are not refusals.
    fn handshake_failed(&self, remote: SocketAddr, e: &ConnectionError) {
        let ConnectionError::TransportError(te) = e else {
            tracing::debug!(%remote, error = %e, "inbound handshake did not complete");
            return;
        };
        if te.code == crypto_code(AlertDescription::AccessDenied) {
            return;
        }
        let reason = if te.code == crypto_code(AlertDescription::NoApplicationProtocol) {
            "client did not offer ALPN liaison/1".to_string()
        } else if te.code == crypto_code(AlertDescription::CertificateRequired) {
            "client sent no certificate".to_string()
        } else if te.code == crypto_code(AlertDescription::ProtocolVersion) {
            "client does not offer TLS 1.3".to_string()
        } else {
            format!("TLS handshake failed: {}", te.reason)
        };
        tracing::warn!(%remote, reason = %reason, "refused inbound connection");
        self.handler.on_refused(None, &reason);
    }

    /// Post-handshake checks: ALPN, a certificate naming a node, and that node
    /// still pinned now (a resumed session would have skipped the verifier,
    /// and the pin may have been removed during the handshake).
    fn admit(&self, conn: &quinn::Connection, remote: SocketAddr) -> Option<NodeId> {
        let peer = peer_node_id(conn);
        let refusal = if !has_alpn(conn) {
            Some("connection did not negotiate ALPN liaison/1")
        } else {
            match peer {
                None => Some("peer presented no Ed25519 certificate"),
                Some(id) if !self.pins.contains(&id) => {
                    Some("peer key is not pinned (checked after the handshake)")
                }
                Some(_) => None,
            }
        };
        match refusal {
            None => peer,
            Some(reason) => {
                tracing::warn!(?peer, %remote, reason, "refused inbound connection");
                conn.close(VarInt::from_u32(CLOSE_REFUSED), b"refused");
                self.handler.on_refused(peer, reason);
                None
            }
        }
    }

    async fn serve_streams(self: Arc<Self>, conn: &quinn::Connection, peer: NodeId) {
        let mut shutdown = self.shutdown.subscribe();
        loop {
            let (send, recv) = tokio::select! {
                biased;
                _ = shutdown.wait_for(|s| *s) => return,
                stream = conn.accept_bi() => match stream {
                    Ok(stream) => stream,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "inbound connection ended");
                        return;
                    }
                },
            };
            // The pin is checked per stream so that unpinning stops service
            // at once, even on a connection that is already open.
            if !self.pins.contains(&peer) {
                let reason = "peer was unpinned: connection closed";
                tracing::warn!(%peer, reason, "refused stream");
                conn.close(VarInt::from_u32(CLOSE_REFUSED), b"not pinned");
                self.handler.on_refused(Some(peer), reason);
                return;
            }
            let guard = InFlight::new(&self.in_flight);
            let this = self.clone();
            tokio::spawn(async move {
                let _guard = guard;
                this.serve_stream(peer, send, recv).await;
            });
        }
    }

    async fn serve_stream(&self, peer: NodeId, mut send: SendStream, mut recv: RecvStream) {
        let (frame_type, body) = match read_request(&mut recv, &self.limits).await {
            Ok(frame) => frame,
            Err(ReadFailure::Wire(e)) => {
                tracing::debug!(%peer, code = e.code(), error = %e, "refused request frame");
                // Tell the peer to stop sending the rest of this frame; the
                // connection itself stays up.
                let _ = recv.stop(VarInt::from_u32(STREAM_REFUSED));
                let (t, b) = wire_error_frame(&e);
                if let Err(e) = write_frame(&mut send, t, &b).await {
                    tracing::debug!(%peer, error = %e, "could not send error frame");
                }
                return;
            }
            Err(ReadFailure::Stream(reason)) => {
                tracing::debug!(%peer, reason = %reason, "request stream failed");
                let _ = send.reset(VarInt::from_u32(STREAM_REFUSED));
                return;
            }
            Err(ReadFailure::Connection(e)) => {
                tracing::debug!(%peer, error = %e, "connection lost while reading a request");
                return;
            }
        };
        let (rtype, rbody) = match frame_type {
            FrameType::Hello => self.answer_hello(peer, &body),
            t if is_response_type(t) => wire_error_frame(&WireError::Unexpected {
                got: t,
                expected: "a request frame",
            }),
            _ => self.handler.handle(peer, frame_type, body).await,
        };
        if let Err(e) = write_frame(&mut send, rtype, &rbody).await {
            tracing::debug!(%peer, error = %e, "could not send response");
        }
    }

    fn answer_hello(&self, peer: NodeId, body: &[u8]) -> (FrameType, Vec<u8>) {
        let hello: Hello = match wire::parse_body(FrameType::Hello, body) {
            Ok(h) => h,
            Err(e) => return wire_error_frame(&e),
        };
        if hello.node_id != peer.to_string() {
            return wire_error_frame(&WireError::BadBody(
                FrameType::Hello,
                "node id does not match the TLS certificate key".into(),
            ));
        }
        // Debug formatting escapes whatever the peer put in the string.
        let software: String = hello.software.chars().take(80).collect();
        tracing::debug!(%peer, ?software, "hello");
        (FrameType::HelloAck, self.hello_body())
    }

    fn hello_body(&self) -> Vec<u8> {
        // Serializing two strings cannot fail.
        serde_json::to_vec(&Hello {
            node_id: self.node_id.to_string(),
            software: SOFTWARE.to_string(),
        })
        .unwrap_or_default()
    }
}

/// Dialing side.
impl<H: Handler> Inner<H> {
    async fn request(
        &self,
        peer: &IdentityCard,
        frame_type: FrameType,
        body: &[u8],
    ) -> Result<(FrameType, Vec<u8>), NetError> {
        if self.shutting_down() {
            return Err(NetError::Connect("this endpoint is shut down".into()));
        }
        let id = peer.node_id;
        if !self.pins.contains(&id) {
            return Err(NetError::Refused(format!("node {id} is not pinned here")));
        }
        if u32::try_from(body.len()).is_err() {
            return Err(NetError::Protocol(
                "request body too large for one frame".into(),
            ));
        }
        let addr = self.resolve(peer).await?;
        let (conn, fresh) = self.connection(id, addr).await?;
        match self.exchange(&conn, frame_type, body).await {
            Ok(answer) => Ok(answer),
            Err(ExchangeError::Connection(e)) if !fresh => {
                // A cached connection can die silently (peer restarted, idle
                // timeout): redial once.
                tracing::debug!(peer = %id, error = %e, "cached connection is dead: redialing");
                self.evict(id, &conn);
                let (conn, _) = self.connection(id, addr).await?;
                self.exchange(&conn, frame_type, body)
                    .await
                    .map_err(|e| self.exchange_error(id, &conn, e))
            }
            Err(e) => Err(self.exchange_error(id, &conn, e)),
        }
    }

    fn exchange_error(&self, id: NodeId, conn: &quinn::Connection, e: ExchangeError) -> NetError {
        match e {
            ExchangeError::Connection(e) => {
                self.evict(id, conn);
                connection_error(id, &e)
            }
            ExchangeError::Net(e) => e,
        }
    }

    async fn resolve(&self, peer: &IdentityCard) -> Result<SocketAddr, NetError> {
        let endpoint = peer.endpoints.first().ok_or(NetError::NoEndpoint)?;
        if let Ok(addr) = endpoint.parse::<SocketAddr>() {
            return Ok(addr);
        }
        let unresolved = || {
            NetError::Connect(format!(
                "endpoint `{}` of node {} does not resolve",
                endpoint.chars().take(100).collect::<String>(),
                peer.node_id
            ))
        };
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(endpoint.as_str())
            .await
            .map_err(|_| unresolved())?
            .collect();
        // Prefer the address family our socket is bound to.
        let local_v4 = self.local_addr.is_ipv4();
        addrs
            .iter()
            .find(|a| a.is_ipv4() == local_v4)
            .or(addrs.first())
            .copied()
            .ok_or_else(unresolved)
    }

    fn cached(&self, id: NodeId) -> Option<quinn::Connection> {
        let mut outbound = lock(&self.outbound);
        match outbound.get(&id) {
            Some(conn) if conn.close_reason().is_none() => Some(conn.clone()),
            Some(_) => {
                outbound.remove(&id);
                None
            }
            None => None,
        }
    }

    fn evict(&self, id: NodeId, conn: &quinn::Connection) {
        let mut outbound = lock(&self.outbound);
        if outbound
            .get(&id)
            .is_some_and(|c| c.stable_id() == conn.stable_id())
        {
            outbound.remove(&id);
        }
    }

    /// The cached connection to `id`, or a new one (`true`). Concurrent
    /// callers for the same peer wait for one dial instead of each dialing.
    async fn connection(
        &self,
        id: NodeId,
        addr: SocketAddr,
    ) -> Result<(quinn::Connection, bool), NetError> {
        if let Some(conn) = self.cached(id) {
            return Ok((conn, false));
        }
        let dial_lock = lock(&self.dial_locks).entry(id).or_default().clone();
        let _dialing = dial_lock.lock().await;
        if let Some(conn) = self.cached(id) {
            return Ok((conn, false));
        }
        let conn = self.dial(id, addr).await?;
        // The peer may have been unpinned (and forgotten) while we dialed.
        if !self.pins.contains(&id) || self.shutting_down() {
            conn.close(VarInt::from_u32(CLOSE_FORGOTTEN), b"peer forgotten");
            return Err(NetError::Refused(format!(
                "node {id} was unpinned while dialing"
            )));
        }
        lock(&self.outbound).insert(id, conn.clone());
        Ok((conn, true))
    }

    /// Dial `addr`, accept only `id`, and exchange Hello/HelloAck.
    async fn dial(&self, id: NodeId, addr: SocketAddr) -> Result<quinn::Connection, NetError> {
        let verifier = Arc::new(PinnedServerVerifier::new(id, &tls::crypto_provider()));
        let client_tls = tls::client_config(self.identity.clone(), verifier.clone())?;
        let client_tls = QuicClientConfig::try_from(client_tls)
            .map_err(|e| NetError::Setup(format!("QUIC client TLS: {e}")))?;
        let mut config = quinn::ClientConfig::new(Arc::new(client_tls));
        config.transport_config(self.client_transport.clone());

        tracing::debug!(peer = %id, %addr, "dialing");
        let connecting = self
            .quic
            .connect_with(config, addr, tls::SERVER_NAME)
            .map_err(|e| NetError::Connect(format!("cannot dial node {id} at {addr}: {e}")))?;
        let conn = connecting
            .await
            .map_err(|e| match (&e, verifier.refusal()) {
                (ConnectionError::TransportError(_), Some(reason)) => {
                    NetError::Refused(format!("node {id} at {addr}: {reason}"))
                }
                _ => connection_error(id, &e),
            })?;
        if !has_alpn(&conn) {
            conn.close(VarInt::from_u32(CLOSE_REFUSED), b"no ALPN");
            return Err(NetError::Refused(format!(
                "node {id} at {addr} did not negotiate ALPN liaison/1"
            )));
        }
        // Only the HelloAck proves the listener accepted our certificate.
        let hello = self.hello_body();
        let answer = self
            .exchange(&conn, FrameType::Hello, &hello)
            .await
            .map_err(|e| match e {
                ExchangeError::Connection(e) => connection_error(id, &e),
                ExchangeError::Net(e) => e,
            });
        let refuse = |e: NetError| {
            conn.close(VarInt::from_u32(CLOSE_REFUSED), b"bad hello");
            e
        };
        match answer.map_err(refuse)? {
            (FrameType::HelloAck, body) => {
                let ack: Hello = wire::parse_body(FrameType::HelloAck, &body)
                    .map_err(|e| refuse(NetError::Protocol(format!("node {id}: {e}"))))?;
                if ack.node_id != id.to_string() {
                    return Err(refuse(NetError::Protocol(format!(
                        "node {id} answered Hello with another node id"
                    ))));
                }
                tracing::debug!(peer = %id, %addr, "connected");
                Ok(conn)
            }
            (other, _) => Err(refuse(NetError::Protocol(format!(
                "node {id} answered Hello with {other:?}"
            )))),
        }
    }

    /// One request/response on a new stream of `conn`.
    async fn exchange(
        &self,
        conn: &quinn::Connection,
        frame_type: FrameType,
        body: &[u8],
    ) -> Result<(FrameType, Vec<u8>), ExchangeError> {
        let (mut send, mut recv) = conn.open_bi().await.map_err(ExchangeError::Connection)?;
        write_frame(&mut send, frame_type, body)
            .await
            .map_err(|e| match e {
                quinn::WriteError::ConnectionLost(c) => ExchangeError::Connection(c),
                other => ExchangeError::Net(NetError::Protocol(format!(
                    "peer stopped the request stream: {other}"
                ))),
            })?;
        let (rtype, rbody) = read_frame(&mut recv, &self.limits)
            .await
            .map_err(|e| match e {
                ReadFailure::Connection(c) => ExchangeError::Connection(c),
                ReadFailure::Wire(e) => {
                    ExchangeError::Net(NetError::Protocol(format!("bad response frame: {e}")))
                }
                ReadFailure::Stream(s) => {
                    ExchangeError::Net(NetError::Protocol(format!("response stream failed: {s}")))
                }
            })?;
        if rtype == FrameType::Error {
            let err: WireErrorBody = wire::parse_body(FrameType::Error, &rbody)
                .map_err(|e| ExchangeError::Net(NetError::Protocol(e.to_string())))?;
            return Err(ExchangeError::Net(NetError::Remote {
                code: err.code.chars().take(100).collect(),
                message: err.message.chars().take(1000).collect(),
            }));
        }
        Ok((rtype, rbody))
    }
}

/// A dead or refused connection, as seen by the dialer.
fn connection_error(id: NodeId, e: &ConnectionError) -> NetError {
    match e {
        ConnectionError::ConnectionClosed(close)
            if close.error_code == crypto_code(AlertDescription::AccessDenied) =>
        {
            NetError::Refused(format!(
                "node {id} refused our certificate (this node is not pinned there)"
            ))
        }
        ConnectionError::ConnectionClosed(close)
            if close.error_code == crypto_code(AlertDescription::NoApplicationProtocol) =>
        {
            NetError::Refused(format!("node {id} does not speak liaison/1"))
        }
        ConnectionError::ConnectionClosed(close) if is_crypto(close.error_code) => {
            NetError::Refused(format!("node {id} refused the TLS handshake: {close}"))
        }
        ConnectionError::TransportError(te) if is_crypto(te.code) => {
            NetError::Refused(format!("TLS handshake with node {id} failed: {te}"))
        }
        ConnectionError::ApplicationClosed(close)
            if close.error_code == VarInt::from_u32(CLOSE_REFUSED) =>
        {
            NetError::Refused(format!(
                "node {id} closed the connection: this node is not pinned there"
            ))
        }
        ConnectionError::ApplicationClosed(close)
            if close.error_code == VarInt::from_u32(CLOSE_SHUTDOWN) =>
        {
            NetError::Connect(format!("node {id} is shutting down"))
        }
        ConnectionError::TimedOut => NetError::Connect(format!("node {id} does not answer")),
        ConnectionError::Reset => NetError::Connect(format!(
            "connection to node {id} was reset (did it restart?)"
        )),
        ConnectionError::LocallyClosed => NetError::Connect(format!(
            "connection to node {id} was closed here (peer forgotten or shutdown)"
        )),
        other => NetError::Connect(format!("connection to node {id} failed: {other}")),
    }
}

/// TLS alerts travel as QUIC transport error codes 0x100–0x1ff.
fn is_crypto(code: TransportErrorCode) -> bool {
    (0x100..0x200).contains(&u64::from(code))
}
