//! Pinned-key TLS 1.3 for QUIC (DESIGN §3).
//!
//! Every node presents an X.509 certificate self-signed by its Ed25519 node
//! key. Nobody trusts the certificate as such: the only thing read from it is
//! the Ed25519 key in its SubjectPublicKeyInfo, which must equal a pinned node
//! id. The handshake signature (`CertificateVerify`) is always checked with
//! rustls' [`verify_tls13_signature`], so holding a peer's public certificate
//! is not enough to impersonate it.
//!
//! * The listener uses [`PinnedClientVerifier`]: the client's key must be in
//!   the *current* [`SharedPins`] (mutable at runtime).
//! * The dialer uses [`PinnedServerVerifier`]: the server's key must be the one
//!   node id it dialed.
//! * TLS 1.3 only, ALPN [`ALPN`] required, ring provider passed explicitly.
//! * No session resumption on the listener (no tickets, no session cache):
//!   a resumed session skips the verifier, so a peer unpinned since its last
//!   handshake would get back in (DESIGN §3, trap 2). The transport also
//!   re-checks the pin after every handshake and on every stream.
//!
//! Why X.509 rather than RFC 7250 raw public keys: both work with rustls, but
//! peers are other organizations and may one day run another implementation;
//! self-signed X.509 works with every TLS 1.3 stack, raw public keys do not
//! (Go's crypto/tls and Java lack them). The parse surface stays small: the
//! certificate is parsed by the webpki parser rustls already uses, and only
//! the SPKI is read from it.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use ed25519_dalek::pkcs8::DecodePublicKey;
use liaison_core::identity::{NodeId, NodeKeys};
use liaison_core::wire::ALPN;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::ParsedCertificate;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, Error as TlsError,
    ServerConfig, SignatureScheme,
};

/// Server name the dialer puts in its ClientHello. The listener ignores it
/// and the dialer's verifier checks the key, not the name; a constant keeps
/// the dialed node id out of the cleartext ClientHello.
pub const SERVER_NAME: &str = "liaison";

/// The rustls crypto provider used everywhere: ring, passed explicitly
/// because with both ring and aws-lc-rs compiled in, rustls' process-default
/// builder panics (DESIGN §3).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Failure to build this node's certificate or TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The node's signing key could not be turned into a certificate.
    #[error("cannot build the node certificate: {0}")]
    Certificate(String),
    /// rustls refused the configuration.
    #[error("cannot build the TLS configuration: {0}")]
    Config(String),
}

/// Why a peer certificate does not name a node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertKeyError {
    /// Not a DER X.509 v3 certificate.
    #[error("peer certificate is not a well-formed X.509 certificate")]
    Malformed,
    /// The certificate's key is not an Ed25519 public key.
    #[error("peer certificate key is not an Ed25519 public key")]
    NotEd25519,
}

/// The node id named by a certificate: the Ed25519 key in its
/// SubjectPublicKeyInfo, parsed as DER (algorithm OID 1.3.101.112, no
/// parameters, a valid 32-byte point).
///
/// Validity dates, issuer and the certificate's own signature are ignored on
/// purpose: trust comes from the pin, and possession of the key is proven by
/// the TLS handshake signature, not by the self-signature.
pub fn node_id_of_certificate(cert: &CertificateDer<'_>) -> Result<NodeId, CertKeyError> {
    let parsed = ParsedCertificate::try_from(cert).map_err(|_| CertKeyError::Malformed)?;
    let spki = parsed.subject_public_key_info();
    let key = ed25519_dalek::VerifyingKey::from_public_key_der(spki.as_ref())
        .map_err(|_| CertKeyError::NotEd25519)?;
    Ok(NodeId::from(key))
}

/// This node's TLS identity: a certificate self-signed by its Ed25519 key,
/// with the key loaded for rustls.
pub fn node_certificate(keys: &NodeKeys) -> Result<Arc<CertifiedKey>, SetupError> {
    let pkcs8 = keys.signing_key_pkcs8_der();
    let key_pair = rcgen::KeyPair::try_from(pkcs8.as_slice())
        .map_err(|e| SetupError::Certificate(format!("signing key: {e}")))?;
    if key_pair.algorithm() != &rcgen::PKCS_ED25519 {
        return Err(SetupError::Certificate(
            "signing key is not an Ed25519 key".into(),
        ));
    }
    let node_id = keys.node_id();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| SetupError::Certificate(e.to_string()))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("liaison node {node_id}"));
    let cert = params
        .self_signed(&key_pair)
        .map_err(|e| SetupError::Certificate(e.to_string()))?;
    // Borrow the zeroizing buffer rather than copying the key into a
    // `PrivateKeyDer` that would not be wiped on drop.
    let signing_key =
        rustls::crypto::ring::sign::any_eddsa_type(&PrivatePkcs8KeyDer::from(pkcs8.as_slice()))
            .map_err(|e| SetupError::Certificate(format!("signing key: {e}")))?;
    let certified = CertifiedKey::new(vec![cert.der().clone()], signing_key);
    // Belt and braces: the certificate must name exactly this node.
    match node_id_of_certificate(&certified.cert[0]) {
        Ok(id) if id == node_id => Ok(Arc::new(certified)),
        _ => Err(SetupError::Certificate(
            "generated certificate does not carry the node key".into(),
        )),
    }
}

/// The set of node ids whose connections the listener accepts, shared between
/// the TLS verifier, the transport and whoever manages peers. Cheap to clone;
/// changes apply to the next handshake and the next stream.
#[derive(Clone, Default)]
pub struct SharedPins(Arc<RwLock<HashSet<NodeId>>>);

impl fmt::Debug for SharedPins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedPins")
            .field("len", &self.len())
            .finish()
    }
}

impl SharedPins {
    /// An empty set.
    pub fn new() -> SharedPins {
        SharedPins::default()
    }

    /// A set holding `ids`.
    pub fn from_ids(ids: impl IntoIterator<Item = NodeId>) -> SharedPins {
        SharedPins(Arc::new(RwLock::new(ids.into_iter().collect())))
    }

    // A panic while holding the lock cannot leave a `HashSet` half-updated
    // in a way that matters here (every operation is a single call), so a
    // poisoned lock is used as is rather than taking the node down.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashSet<NodeId>> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashSet<NodeId>> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Pin `id`; true if it was not pinned before.
    pub fn pin(&self, id: NodeId) -> bool {
        self.write().insert(id)
    }

    /// Unpin `id`; true if it was pinned. Existing connections of that peer
    /// stop being served at their next stream; call
    /// `Endpoint::forget_peer` to close them at once.
    pub fn unpin(&self, id: &NodeId) -> bool {
        self.write().remove(id)
    }

    /// Whether `id` is pinned now.
    pub fn contains(&self, id: &NodeId) -> bool {
        self.read().contains(id)
    }

    /// Replace the whole set (e.g. after reloading peers from the store).
    pub fn replace(&self, ids: impl IntoIterator<Item = NodeId>) {
        let fresh: HashSet<NodeId> = ids.into_iter().collect();
        *self.write() = fresh;
    }

    /// The pinned ids, in no particular order.
    pub fn ids(&self) -> Vec<NodeId> {
        self.read().iter().copied().collect()
    }

    /// How many ids are pinned.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no id is pinned.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }
}

impl From<&liaison_core::identity::PinSet> for SharedPins {
    fn from(set: &liaison_core::identity::PinSet) -> Self {
        SharedPins::from_ids(set.iter().map(|card| card.node_id))
    }
}

/// Called when the listener refuses a peer during the handshake, with the
/// peer's node id when its certificate parsed. Runs on a network task: it must
/// return quickly and must not block.
pub type RefusalHook = Arc<dyn Fn(Option<NodeId>, &str) + Send + Sync>;

/// The single error every verifier refusal is reported to rustls as. It maps
/// to the TLS alert `access_denied`, which the transport uses to tell a
/// refusal already reported by the verifier from other handshake failures.
fn refused() -> TlsError {
    TlsError::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
}

/// Only Ed25519 signatures: node keys are Ed25519, so any other scheme in a
/// `CertificateVerify` cannot come from a node key.
fn ed25519_only() -> Vec<SignatureScheme> {
    vec![SignatureScheme::ED25519]
}

/// Listener-side verifier: accepts a client certificate only if its Ed25519
/// key is in the current pin set, and checks the handshake signature.
pub struct PinnedClientVerifier {
    pins: SharedPins,
    algorithms: WebPkiSupportedAlgorithms,
    on_refused: RefusalHook,
}

impl fmt::Debug for PinnedClientVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedClientVerifier")
            .field("pins", &self.pins)
            .finish_non_exhaustive()
    }
}

impl PinnedClientVerifier {
    /// A verifier over `pins` that reports refusals to `on_refused`.
    pub fn new(
        pins: SharedPins,
        provider: &CryptoProvider,
        on_refused: RefusalHook,
    ) -> PinnedClientVerifier {
        PinnedClientVerifier {
            pins,
            algorithms: provider.signature_verification_algorithms,
            on_refused,
        }
    }

    fn refuse(&self, peer: Option<NodeId>, reason: &str) -> TlsError {
        match peer {
            Some(id) => tracing::warn!(peer = %id, reason, "refused peer at TLS handshake"),
            None => tracing::warn!(reason, "refused peer at TLS handshake"),
        }
        (self.on_refused)(peer, reason);
        refused()
    }
}

impl ClientCertVerifier for PinnedClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, TlsError> {
        let id =
            node_id_of_certificate(end_entity).map_err(|e| self.refuse(None, &e.to_string()))?;
        if !self.pins.contains(&id) {
            return Err(self.refuse(Some(id), "peer key is not pinned"));
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        // Unreachable: the configuration enables TLS 1.3 only. Refuse anyway.
        Err(self.refuse(None, "TLS 1.2 is not accepted"))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        // Without this check anyone holding a peer's (public) certificate
        // could pose as that peer (DESIGN §3, trap 1).
        verify_tls13_signature(message, cert, dss, &self.algorithms).map_err(|_| {
            self.refuse(
                node_id_of_certificate(cert).ok(),
                "handshake signature does not verify under the certificate key",
            )
        })
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        ed25519_only()
    }
}

/// Dialer-side verifier: accepts only the one node id being dialed, and
/// checks the handshake signature. One per dial; it remembers why it refused
/// so the dialer can say so.
pub struct PinnedServerVerifier {
    expected: NodeId,
    algorithms: WebPkiSupportedAlgorithms,
    refusal: Mutex<Option<String>>,
}

impl fmt::Debug for PinnedServerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedServerVerifier")
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl PinnedServerVerifier {
    /// A verifier that accepts only `expected`.
    pub fn new(expected: NodeId, provider: &CryptoProvider) -> PinnedServerVerifier {
        PinnedServerVerifier {
            expected,
            algorithms: provider.signature_verification_algorithms,
            refusal: Mutex::new(None),
        }
    }

    /// Why this verifier refused the server, if it did.
    pub fn refusal(&self) -> Option<String> {
        self.refusal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn refuse(&self, reason: String) -> TlsError {
        tracing::warn!(expected = %self.expected, reason = %reason, "refused listener at TLS handshake");
        *self.refusal.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
        refused()
    }
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        match node_id_of_certificate(end_entity) {
            Ok(id) if id == self.expected => Ok(ServerCertVerified::assertion()),
            Ok(id) => Err(self.refuse(format!(
                "listener presented node {id}, not the pinned node {}",
                self.expected
            ))),
            Err(e) => Err(self.refuse(e.to_string())),
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        Err(self.refuse("TLS 1.2 is not accepted".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls13_signature(message, cert, dss, &self.algorithms).map_err(|_| {
            self.refuse("listener's handshake signature does not verify under its key".into())
        })
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        ed25519_only()
    }
}

/// The listener's rustls configuration: TLS 1.3, ALPN `liaison/1`, client
/// certificates checked against `pins`, no session resumption, no 0-RTT.
pub fn server_config(
    identity: Arc<CertifiedKey>,
    pins: SharedPins,
    on_refused: RefusalHook,
) -> Result<ServerConfig, SetupError> {
    let provider = crypto_provider();
    let verifier = Arc::new(PinnedClientVerifier::new(pins, &provider, on_refused));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| SetupError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(identity)));
    config.alpn_protocols = vec![ALPN.to_vec()];
    // No resumption of any kind: a resumed handshake does not call the
    // verifier, so an unpinned peer would get back in (DESIGN §3, trap 2).
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    // The builder's default ticketer never issues tickets; it is left as is.
    config.max_early_data_size = 0;
    Ok(config)
}

/// The dialer's rustls configuration for one dial: TLS 1.3, ALPN
/// `liaison/1`, our certificate as client certificate, the server checked by
/// `verifier`, resumption and 0-RTT off (the listener refuses them anyway).
pub fn client_config(
    identity: Arc<CertifiedKey>,
    verifier: Arc<PinnedServerVerifier>,
) -> Result<ClientConfig, SetupError> {
    let mut config = ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| SetupError::Config(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(identity)));
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    config.enable_early_data = false;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_names_the_node() {
        let keys = NodeKeys::generate().unwrap();
        let cert = node_certificate(&keys).unwrap();
        assert_eq!(node_id_of_certificate(&cert.cert[0]), Ok(keys.node_id()));
        assert!(cert.keys_match().is_ok());
    }

    #[test]
    fn garbage_and_other_key_types_are_not_node_ids() {
        assert_eq!(
            node_id_of_certificate(&CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00])),
            Err(CertKeyError::Malformed)
        );
        let p256 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["x".to_string()])
            .unwrap()
            .self_signed(&p256)
            .unwrap();
        assert_eq!(
            node_id_of_certificate(cert.der()),
            Err(CertKeyError::NotEd25519)
        );
    }

    #[test]
    fn shared_pins_is_shared() {
        let a = NodeKeys::generate().unwrap().node_id();
        let b = NodeKeys::generate().unwrap().node_id();
        let pins = SharedPins::new();
        let view = pins.clone();
        assert!(pins.pin(a));
        assert!(!pins.pin(a));
        assert!(view.contains(&a));
        pins.replace([b]);
        assert!(!view.contains(&a) && view.contains(&b));
        assert!(view.unpin(&b));
        assert!(pins.is_empty());
    }
}
