//! End-to-end tests of the QUIC transport on 127.0.0.1 (port 0 only).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use liaison_core::identity::{IdentityCard, NodeId, NodeKeys};
use liaison_core::wire::{self, FrameLimits, FrameType, Hello, WireErrorBody};
use liaison_net::tls::{self, PinnedServerVerifier, RefusalHook};
use liaison_net::{Endpoint, Handler, NetError, SharedPins};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::ClientSessionMemoryCache;
use rustls::pki_types::ServerName;
use rustls::sign::CertifiedKey;

/// Every test is bounded so a hang fails instead of stalling the suite.
const TEST_LIMIT: Duration = Duration::from_secs(20);
/// Request timeout where the peer is expected to answer.
const T: Duration = Duration::from_secs(5);

async fn bounded<F: Future<Output = ()>>(test: F) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    tokio::time::timeout(TEST_LIMIT, test)
        .await
        .expect("test exceeded its time limit");
}

/// Answers `Ping` with `Pong`, `Deliver` with `Receipt`, `Message` with
/// `MessageAck`, echoing the body; records refusals.
#[derive(Default)]
struct Echo {
    handled: AtomicUsize,
    refused: Mutex<Vec<(Option<NodeId>, String)>>,
}

impl Echo {
    fn refusals(&self) -> Vec<(Option<NodeId>, String)> {
        self.refused.lock().unwrap().clone()
    }

    /// Wait (bounded) until a refusal matching `pred` has been reported.
    async fn wait_refusal(&self, pred: impl Fn(&(Option<NodeId>, String)) -> bool) -> bool {
        for _ in 0..100 {
            if self.refusals().iter().any(&pred) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

impl Handler for Echo {
    fn handle(
        &self,
        _peer: NodeId,
        frame_type: FrameType,
        body: Vec<u8>,
    ) -> impl Future<Output = (FrameType, Vec<u8>)> + Send {
        self.handled.fetch_add(1, Ordering::SeqCst);
        async move {
            match frame_type {
                FrameType::Ping => (FrameType::Pong, body),
                // A receipt is a small control frame: answer with the size.
                FrameType::Deliver => (FrameType::Receipt, body.len().to_string().into_bytes()),
                _ => (FrameType::MessageAck, body),
            }
        }
    }

    fn on_refused(&self, peer: Option<NodeId>, reason: &str) {
        self.refused
            .lock()
            .unwrap()
            .push((peer, reason.to_string()));
    }
}

struct Node {
    keys: NodeKeys,
    pins: SharedPins,
    echo: Arc<Echo>,
    ep: Endpoint<Echo>,
}

impl Node {
    fn new() -> Node {
        Node::with_keys(
            NodeKeys::generate().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        )
    }

    fn with_keys(keys: NodeKeys, addr: SocketAddr) -> Node {
        let pins = SharedPins::new();
        let echo = Arc::new(Echo::default());
        let ep = Endpoint::bind(
            addr,
            &keys,
            pins.clone(),
            FrameLimits::default(),
            echo.clone(),
        )
        .unwrap();
        Node {
            keys,
            pins,
            echo,
            ep,
        }
    }

    fn id(&self) -> NodeId {
        self.keys.node_id()
    }

    fn card(&self) -> IdentityCard {
        card_for(&self.keys, self.ep.local_addr())
    }

    fn pin(&self, other: &Node) {
        self.pins.pin(other.id());
    }

    async fn ping(&self, other: &Node, body: &[u8]) -> Result<(FrameType, Vec<u8>), NetError> {
        self.ep
            .request(&other.card(), FrameType::Ping, body, T)
            .await
    }
}

fn card_for(keys: &NodeKeys, addr: SocketAddr) -> IdentityCard {
    keys.issue_card("Org", vec![addr.to_string()], chrono::Utc::now())
        .card
}

fn pinned_pair() -> (Node, Node) {
    let (a, b) = (Node::new(), Node::new());
    a.pin(&b);
    b.pin(&a);
    (a, b)
}

// ---------------------------------------------------------------------------
// Raw quinn clients, to speak to an endpoint outside the `Endpoint` API.

/// A raw client endpoint presenting `identity` and expecting `server`.
fn raw_client_config(identity: Arc<CertifiedKey>, server: NodeId) -> rustls::ClientConfig {
    let verifier = Arc::new(PinnedServerVerifier::new(server, &tls::crypto_provider()));
    tls::client_config(identity, verifier).unwrap()
}

async fn raw_connect(
    config: rustls::ClientConfig,
    addr: SocketAddr,
) -> Result<(quinn::Endpoint, quinn::Connection), String> {
    let ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let quic = QuicClientConfig::try_from(config).unwrap();
    let conn = ep
        .connect_with(quinn::ClientConfig::new(Arc::new(quic)), addr, "liaison")
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    Ok((ep, conn))
}

/// Send raw bytes as a request on a new stream; return the raw response.
async fn raw_exchange(conn: &quinn::Connection, request: &[u8]) -> Result<Vec<u8>, String> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    // The listener may stop the stream early (oversize frame): a failed
    // write is fine as long as the answer arrives.
    let _ = send.write_all(request).await;
    let _ = send.finish();
    recv.read_to_end(1 << 20).await.map_err(|e| e.to_string())
}

async fn raw_hello(conn: &quinn::Connection, me: NodeId) -> Result<Hello, String> {
    let hello = serde_json::to_vec(&Hello {
        node_id: me.to_string(),
        software: "raw-test".into(),
    })
    .unwrap();
    let answer = raw_exchange(conn, &wire::encode_frame(FrameType::Hello, &hello)).await?;
    let (t, body) = split_frame(&answer);
    if t != FrameType::HelloAck {
        return Err(format!("answer {t:?}"));
    }
    Ok(serde_json::from_slice(body).unwrap())
}

fn split_frame(raw: &[u8]) -> (FrameType, &[u8]) {
    assert!(raw.len() >= wire::FRAME_HEADER_LEN, "short answer {raw:?}");
    let header: [u8; wire::FRAME_HEADER_LEN] = raw[..wire::FRAME_HEADER_LEN].try_into().unwrap();
    let h = wire::decode_header(&header, &FrameLimits::default()).unwrap();
    let body = &raw[wire::FRAME_HEADER_LEN..];
    assert_eq!(body.len(), h.len as usize);
    (h.frame_type, body)
}

fn error_code(raw: &[u8]) -> String {
    let (t, body) = split_frame(raw);
    assert_eq!(t, FrameType::Error);
    serde_json::from_slice::<WireErrorBody>(body).unwrap().code
}

/// A session store that counts the TLS 1.3 tickets servers hand out and the
/// resumptions attempted with them.
#[derive(Debug)]
struct CountingStore {
    inner: ClientSessionMemoryCache,
    inserted: AtomicUsize,
    taken: AtomicUsize,
}

impl CountingStore {
    fn new() -> Arc<CountingStore> {
        Arc::new(CountingStore {
            inner: ClientSessionMemoryCache::new(32),
            inserted: AtomicUsize::new(0),
            taken: AtomicUsize::new(0),
        })
    }
}

impl rustls::client::ClientSessionStore for CountingStore {
    fn set_kx_hint(&self, n: ServerName<'static>, g: rustls::NamedGroup) {
        self.inner.set_kx_hint(n, g)
    }
    fn kx_hint(&self, n: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.kx_hint(n)
    }
    fn set_tls12_session(
        &self,
        n: ServerName<'static>,
        v: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(n, v)
    }
    fn tls12_session(&self, n: &ServerName<'_>) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(n)
    }
    fn remove_tls12_session(&self, n: &ServerName<'static>) {
        self.inner.remove_tls12_session(n)
    }
    fn insert_tls13_ticket(
        &self,
        n: ServerName<'static>,
        v: rustls::client::Tls13ClientSessionValue,
    ) {
        self.inserted.fetch_add(1, Ordering::SeqCst);
        self.inner.insert_tls13_ticket(n, v)
    }
    fn take_tls13_ticket(
        &self,
        n: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        let t = self.inner.take_tls13_ticket(n);
        if t.is_some() {
            self.taken.fetch_add(1, Ordering::SeqCst);
        }
        t
    }
}

/// A client config that keeps and offers session tickets, as a careless
/// dialer would.
fn resuming_client_config(
    identity: Arc<CertifiedKey>,
    server: NodeId,
    store: Arc<CountingStore>,
) -> rustls::ClientConfig {
    let mut config = raw_client_config(identity, server);
    config.resumption = rustls::client::Resumption::store(store);
    config
}

// ---------------------------------------------------------------------------

/// (a) Two pinned endpoints talk both ways; many concurrent requests share
/// one connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_endpoints_exchange_both_ways_on_one_connection() {
    bounded(async {
        let (a, b) = pinned_pair();
        assert_eq!(
            a.ping(&b, b"from a").await.unwrap(),
            (FrameType::Pong, b"from a".to_vec())
        );
        assert_eq!(
            b.ping(&a, b"from b").await.unwrap(),
            (FrameType::Pong, b"from b".to_vec())
        );
        let (t, body) =
            a.ep.request(&b.card(), FrameType::Deliver, &vec![7u8; 300_000], T)
                .await
                .unwrap();
        assert_eq!((t, body), (FrameType::Receipt, b"300000".to_vec()));

        let card = b.card();
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let ep = a.ep.clone();
                let card = card.clone();
                tokio::spawn(async move {
                    let body = format!("request {i}").into_bytes();
                    let answer = ep.request(&card, FrameType::Message, &body, T).await;
                    assert_eq!(answer.unwrap(), (FrameType::MessageAck, body));
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        // One connection each way, reused by every request.
        assert_eq!(a.ep.connection_counts().outbound, 1);
        assert_eq!(b.ep.connection_counts().inbound, 1);
        assert_eq!(b.ep.connection_counts().outbound, 1);
        assert_eq!(a.ep.connection_counts().inbound, 1);
        assert_eq!(b.echo.handled.load(Ordering::SeqCst), 202);
        assert!(a.echo.refusals().is_empty() && b.echo.refusals().is_empty());

        a.ep.shutdown().await;
        b.ep.shutdown().await;
        assert!(a.ping(&b, b"late").await.is_err());
    })
    .await;
}

/// (b) A dialer the listener has not pinned is refused, and the listener
/// reports it with the dialer's node id.
#[tokio::test]
async fn unpinned_dialer_is_refused_and_reported() {
    bounded(async {
        let (a, b) = (Node::new(), Node::new());
        a.pin(&b); // but b does not pin a
        let err = a.ping(&b, b"x").await.unwrap_err();
        assert!(matches!(err, NetError::Refused(_)), "{err:?}");
        assert!(err.to_string().contains("not pinned there"), "{err}");
        assert!(
            b.echo
                .wait_refusal(
                    |(peer, reason)| *peer == Some(a.id()) && reason.contains("not pinned")
                )
                .await,
            "{:?}",
            b.echo.refusals()
        );
        assert_eq!(b.echo.handled.load(Ordering::SeqCst), 0);
        assert_eq!(b.ep.connection_counts().inbound, 0);
        // Nor may a node dial a peer it has not pinned itself.
        let c = Node::new();
        let err = c.ping(&b, b"x").await.unwrap_err();
        assert!(matches!(err, NetError::Refused(_)), "{err:?}");
    })
    .await;
}

/// (c) Dialing an address where another key answers fails: the dialer pins
/// exactly the card's node id.
#[tokio::test]
async fn wrong_server_key_is_refused() {
    bounded(async {
        let (a, b) = pinned_pair();
        let impostor_keys = NodeKeys::generate().unwrap();
        // A card naming another node, but pointing at b's address.
        let card = card_for(&impostor_keys, b.ep.local_addr());
        a.pins.pin(card.node_id);
        let err =
            a.ep.request(&card, FrameType::Ping, b"x", T)
                .await
                .unwrap_err();
        assert!(matches!(err, NetError::Refused(_)), "{err:?}");
        assert!(err.to_string().contains("not the pinned node"), "{err}");
        assert_eq!(b.echo.handled.load(Ordering::SeqCst), 0);
        // The real b still works.
        assert!(a.ping(&b, b"x").await.is_ok());
    })
    .await;
}

/// Holding a pinned node's public certificate without its private key is
/// not enough, in either direction (the verifiers check the handshake
/// signature).
#[tokio::test]
async fn stolen_certificate_without_its_key_is_refused() {
    bounded(async {
        let (a, b) = pinned_pair();
        let thief = NodeKeys::generate().unwrap();
        let thief_key = tls::node_certificate(&thief).unwrap().key.clone();
        let a_cert = tls::node_certificate(&a.keys).unwrap().cert.clone();
        let forged = Arc::new(CertifiedKey::new(a_cert, thief_key.clone()));

        // As a client posing as a, towards b.
        let config = raw_client_config(forged, b.id());
        let result = match raw_connect(config, b.ep.local_addr()).await {
            Ok((_ep, conn)) => raw_hello(&conn, a.id()).await.map(|_| ()),
            Err(e) => Err(e),
        };
        assert!(result.is_err());
        assert!(
            b.echo
                .wait_refusal(|(peer, reason)| *peer == Some(a.id())
                    && reason.contains("signature"))
                .await,
            "{:?}",
            b.echo.refusals()
        );

        // As a server posing as b, towards a.
        let b_cert = tls::node_certificate(&b.keys).unwrap().cert.clone();
        let forged = Arc::new(CertifiedKey::new(b_cert, thief_key));
        let hook: RefusalHook = Arc::new(|_, _| {});
        let server_tls = tls::server_config(forged, SharedPins::from_ids([a.id()]), hook).unwrap();
        let server = quinn::Endpoint::server(
            quinn::ServerConfig::with_crypto(Arc::new(
                QuicServerConfig::try_from(server_tls).unwrap(),
            )),
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        let accept = {
            let server = server.clone();
            tokio::spawn(async move {
                if let Some(incoming) = server.accept().await {
                    let _ = incoming.await;
                }
            })
        };
        let card = card_for(&b.keys, server.local_addr().unwrap());
        let err =
            a.ep.request(&card, FrameType::Ping, b"x", T)
                .await
                .unwrap_err();
        assert!(matches!(err, NetError::Refused(_)), "{err:?}");
        assert!(err.to_string().contains("signature"), "{err}");
        accept.abort();
    })
    .await;
}

/// (d) Unpinning cuts a peer off, with or without `forget_peer`, and a
/// client that keeps TLS sessions cannot resume its way back in; pinning
/// again lets it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unpinned_peer_is_cut_off_and_cannot_resume() {
    bounded(async {
        let (a, b) = pinned_pair();
        assert!(a.ping(&b, b"1").await.is_ok());

        // A client that would resume if the listener let it.
        let a_identity = tls::node_certificate(&a.keys).unwrap();
        let store = CountingStore::new();
        let resuming = resuming_client_config(a_identity.clone(), b.id(), store.clone());
        let (_ep1, conn) = raw_connect(resuming.clone(), b.ep.local_addr())
            .await
            .unwrap();
        let ack = raw_hello(&conn, a.id()).await.unwrap();
        assert_eq!(ack.node_id, b.id().to_string());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            store.inserted.load(Ordering::SeqCst),
            0,
            "the listener must not issue session tickets"
        );

        // Unpinned without forget_peer: the next stream on the open
        // connection is refused, and the redial is refused at the handshake.
        b.pins.unpin(&a.id());
        let err = a.ping(&b, b"2").await.unwrap_err();
        assert!(matches!(err, NetError::Refused(_)), "{err:?}");
        assert!(
            b.echo
                .wait_refusal(|(peer, reason)| *peer == Some(a.id()) && reason.contains("unpinned"))
                .await
        );
        assert!(raw_hello(&conn, a.id()).await.is_err());
        let handled = b.echo.handled.load(Ordering::SeqCst);

        // A fresh dial with the session-keeping client is refused too.
        let fresh = match raw_connect(resuming.clone(), b.ep.local_addr()).await {
            Ok((_ep, conn)) => raw_hello(&conn, a.id()).await.map(|_| ()),
            Err(e) => Err(e),
        };
        assert!(fresh.is_err(), "unpinned client got back in");

        // Pinned again: both work.
        b.pins.pin(a.id());
        assert!(a.ping(&b, b"3").await.is_ok());
        let (_ep2, conn2) = raw_connect(resuming.clone(), b.ep.local_addr())
            .await
            .unwrap();
        raw_hello(&conn2, a.id()).await.unwrap();

        // Unpinned and forgotten: open connections are closed at once.
        b.pins.unpin(&a.id());
        b.ep.forget_peer(&a.id());
        assert_eq!(b.ep.connection_counts().inbound, 0);
        let err = a.ping(&b, b"4").await.unwrap_err();
        assert!(matches!(err, NetError::Refused(_)), "{err:?}");
        assert!(raw_hello(&conn2, a.id()).await.is_err());
        let fresh = match raw_connect(resuming.clone(), b.ep.local_addr()).await {
            Ok((_ep, conn)) => raw_hello(&conn, a.id()).await.map(|_| ()),
            Err(e) => Err(e),
        };
        assert!(fresh.is_err(), "unpinned client got back in");
        assert_eq!(b.echo.handled.load(Ordering::SeqCst), handled + 1);
        assert_eq!(store.inserted.load(Ordering::SeqCst), 0);
        assert_eq!(store.taken.load(Ordering::SeqCst), 0);

        b.pins.pin(a.id());
        assert!(a.ping(&b, b"5").await.is_ok());
    })
    .await;
}

/// Control for (d): the session-keeping client really does collect tickets
/// and try to resume when a server offers them, so (d) proves something.
#[tokio::test]
async fn resuming_client_resumes_against_a_server_that_allows_it() {
    bounded(async {
        let client_keys = NodeKeys::generate().unwrap();
        let server_keys = NodeKeys::generate().unwrap();
        let hook: RefusalHook = Arc::new(|_, _| {});
        let mut server_tls = tls::server_config(
            tls::node_certificate(&server_keys).unwrap(),
            SharedPins::from_ids([client_keys.node_id()]),
            hook,
        )
        .unwrap();
        // Deliberately misconfigured: what rustls does by default.
        server_tls.send_tls13_tickets = 2;
        server_tls.session_storage = rustls::server::ServerSessionMemoryCache::new(32);
        let server = quinn::Endpoint::server(
            quinn::ServerConfig::with_crypto(Arc::new(
                QuicServerConfig::try_from(server_tls).unwrap(),
            )),
            "127.0.0.1:0".parse().unwrap(),
        )
        .unwrap();
        let addr = server.local_addr().unwrap();
        let accept = {
            let server = server.clone();
            tokio::spawn(async move {
                let mut conns = Vec::new();
                while let Some(incoming) = server.accept().await {
                    if let Ok(conn) = incoming.await {
                        conns.push(conn);
                    }
                }
            })
        };
        let store = CountingStore::new();
        let config = resuming_client_config(
            tls::node_certificate(&client_keys).unwrap(),
            server_keys.node_id(),
            store.clone(),
        );
        let (_ep, _conn) = raw_connect(config.clone(), addr).await.unwrap();
        for _ in 0..100 {
            if store.inserted.load(Ordering::SeqCst) > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(store.inserted.load(Ordering::SeqCst) > 0);
        let (_ep2, _conn2) = raw_connect(config, addr).await.unwrap();
        assert!(store.taken.load(Ordering::SeqCst) > 0);
        accept.abort();
    })
    .await;
}

/// (e) Malformed request frames get an `Error` frame with the right code;
/// the connection and the endpoint keep serving.
#[tokio::test]
async fn bad_frames_get_error_frames_and_the_endpoint_survives() {
    bounded(async {
        let (a, b) = pinned_pair();
        let config = raw_client_config(tls::node_certificate(&a.keys).unwrap(), b.id());
        let (_ep, conn) = raw_connect(config, b.ep.local_addr()).await.unwrap();
        raw_hello(&conn, a.id()).await.unwrap();

        let limits = FrameLimits::default();
        // Oversize: announced beyond the limit, with some body following.
        let mut oversize =
            wire::encode_header(FrameType::Deliver, limits.max_envelope + 1).to_vec();
        oversize.extend_from_slice(&[0u8; 4096]);
        let answer = raw_exchange(&conn, &oversize).await.unwrap();
        assert_eq!(error_code(&answer), "frame_too_large");
        let oversize_control = wire::encode_header(FrameType::Ping, limits.max_control + 1);
        let answer = raw_exchange(&conn, &oversize_control).await.unwrap();
        assert_eq!(error_code(&answer), "frame_too_large");

        let answer = raw_exchange(&conn, &[1, 99, 0, 0, 0, 0]).await.unwrap();
        assert_eq!(error_code(&answer), "unknown_frame");
        let answer = raw_exchange(&conn, &[2, FrameType::Ping as u8, 0, 0, 0, 0])
            .await
            .unwrap();
        assert_eq!(error_code(&answer), "unsupported_version");
        let answer = raw_exchange(&conn, &wire::encode_frame(FrameType::Pong, b"{}"))
            .await
            .unwrap();
        assert_eq!(error_code(&answer), "unexpected_frame");
        let mut truncated = wire::encode_header(FrameType::Ping, 10).to_vec();
        truncated.extend_from_slice(b"abc");
        let answer = raw_exchange(&conn, &truncated).await.unwrap();
        assert_eq!(error_code(&answer), "malformed_frame");
        let answer = raw_exchange(&conn, &wire::encode_frame(FrameType::Hello, b"{"))
            .await
            .unwrap();
        assert_eq!(error_code(&answer), "malformed_frame");
        // A Hello naming another node than the TLS key.
        let other = NodeKeys::generate().unwrap().node_id();
        assert!(raw_hello(&conn, other).await.is_err());
        assert_eq!(b.echo.handled.load(Ordering::SeqCst), 0);

        // Same connection, normal request.
        let answer = raw_exchange(&conn, &wire::encode_frame(FrameType::Ping, b"ok"))
            .await
            .unwrap();
        assert_eq!(split_frame(&answer), (FrameType::Pong, &b"ok"[..]));
        // And the endpoint serves others.
        assert_eq!(
            a.ping(&b, b"still here").await.unwrap(),
            (FrameType::Pong, b"still here".to_vec())
        );
    })
    .await;
}

/// (f) A client without the ALPN (or with another one) is refused.
#[tokio::test]
async fn client_without_alpn_is_refused() {
    bounded(async {
        let (a, b) = pinned_pair();
        for alpn in [vec![], vec![b"h3".to_vec()]] {
            let mut config = raw_client_config(tls::node_certificate(&a.keys).unwrap(), b.id());
            config.alpn_protocols = alpn;
            let result = match raw_connect(config, b.ep.local_addr()).await {
                Ok((_ep, conn)) => raw_hello(&conn, a.id()).await.map(|_| ()),
                Err(e) => Err(e),
            };
            assert!(result.is_err());
        }
        assert!(
            b.echo
                .wait_refusal(|(peer, reason)| peer.is_none() && reason.contains("ALPN"))
                .await,
            "{:?}",
            b.echo.refusals()
        );
        assert_eq!(b.echo.handled.load(Ordering::SeqCst), 0);
        assert_eq!(b.ep.connection_counts().inbound, 0);
    })
    .await;
}

/// (g) Requests to a peer that is down fail within their timeout, and
/// succeed once it is up, reusing the new connection.
#[tokio::test]
async fn peer_down_fails_in_time_then_succeeds_when_up() {
    bounded(async {
        let a = Node::new();
        let b_keys = NodeKeys::generate().unwrap();
        // Learn a free port, then take b down.
        let b = Node::with_keys(clone_keys(&b_keys), "127.0.0.1:0".parse().unwrap());
        let addr = b.ep.local_addr();
        b.ep.shutdown().await;
        drop(b);
        a.pins.pin(b_keys.node_id());
        let card = card_for(&b_keys, addr);

        for _ in 0..2 {
            let started = Instant::now();
            let err =
                a.ep.request(&card, FrameType::Ping, b"x", Duration::from_millis(400))
                    .await
                    .unwrap_err();
            assert!(
                matches!(err, NetError::Timeout | NetError::Connect(_)),
                "{err:?}"
            );
            assert!(started.elapsed() < Duration::from_secs(2));
        }

        let b = bind_retrying(b_keys, addr).await;
        b.pin(&a);
        for i in 0..3 {
            let body = format!("up {i}").into_bytes();
            assert_eq!(
                a.ep.request(&card, FrameType::Ping, &body, T)
                    .await
                    .unwrap(),
                (FrameType::Pong, body)
            );
        }
        assert_eq!(b.ep.connection_counts().inbound, 1);
    })
    .await;
}

/// A peer that crashes (no CONNECTION_CLOSE) and restarts on the same
/// address is reached again at once: its stateless reset, keyed by its node
/// key, kills the stale cached connection and the dialer redials.
#[tokio::test]
async fn crashed_peer_is_redialed_after_restart() {
    bounded(async {
        let a = Node::new();
        let b_keys = NodeKeys::generate().unwrap();

        // b runs on its own runtime so it can be killed without a goodbye.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let b1 = {
            let _enter = rt.enter();
            Node::with_keys(clone_keys(&b_keys), "127.0.0.1:0".parse().unwrap())
        };
        b1.pin(&a);
        a.pin(&b1);
        let card = b1.card();
        assert!(a.ep.request(&card, FrameType::Ping, b"1", T).await.is_ok());

        // Stop b's runtime and wait until its tasks are gone, so nothing
        // (not even dropping `b1` below) can send a CONNECTION_CLOSE.
        tokio::task::spawn_blocking(move || rt.shutdown_timeout(Duration::from_secs(2)))
            .await
            .unwrap();
        drop(b1);
        let b2 = bind_retrying(clone_keys(&b_keys), card.endpoints[0].parse().unwrap()).await;
        b2.pin(&a);
        // Well under the 30 s idle timeout that would otherwise be needed.
        let started = Instant::now();
        let answer = a.ep.request(&card, FrameType::Ping, b"2", T).await;
        assert_eq!(answer.unwrap(), (FrameType::Pong, b"2".to_vec()));
        assert!(started.elapsed() < T);
    })
    .await;
}

/// `NodeKeys` is deliberately not `Clone`; a restarted node reloads its
/// key files.
fn clone_keys(keys: &NodeKeys) -> NodeKeys {
    NodeKeys::from_files(
        &keys.signing_key_pem(),
        &keys.age_identity_file(chrono::Utc::now()),
    )
    .unwrap()
}

/// Bind `addr` again (a just-closed socket may linger for a moment).
async fn bind_retrying(keys: NodeKeys, addr: SocketAddr) -> Node {
    for _ in 0..50 {
        let keys = clone_keys(&keys);
        let pins = SharedPins::new();
        let echo = Arc::new(Echo::default());
        if let Ok(ep) = Endpoint::bind(
            addr,
            &keys,
            pins.clone(),
            FrameLimits::default(),
            echo.clone(),
        ) {
            return Node {
                keys,
                pins,
                echo,
                ep,
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("could not bind {addr} again");
}

/// A card without endpoints fails clearly.
#[tokio::test]
async fn card_without_endpoint_is_an_error() {
    bounded(async {
        let (a, b) = pinned_pair();
        let mut card = b.card();
        card.endpoints.clear();
        assert_eq!(
            a.ep.request(&card, FrameType::Ping, b"x", T).await,
            Err(NetError::NoEndpoint)
        );
    })
    .await;
}
