//! A small blocking client for the node's local JSON API (`liaison serve`).
//!
//! The CLI commands that act on a running node (`peer`, `share`, `inbox`)
//! go through here rather than opening the store themselves, so the daemon
//! stays the only writer and its hooks (wake the delivery worker, refresh
//! pins) always run.
//!
//! The bearer token is kept in zeroizing memory and never appears in an
//! error message: errors name the address, the HTTP status and the API's
//! own `{"error": {"code", "message"}}`, nothing from the request.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use ureq::http::{Response, StatusCode};
use ureq::{Agent, Body, RequestBuilder};
use zeroize::Zeroizing;

/// Bound on an ordinary API call, from connect to the last byte.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Extra time granted per MiB of request body, so that a large share is
/// not cut off while a small call still fails fast.
const PER_MIB: Duration = Duration::from_secs(1);

/// Bound on a content download: 30 s plus a second per MiB of the largest
/// content the node accepts (1 GiB), as the size is unknown in advance.
const CONTENT_TIMEOUT: Duration = Duration::from_secs(30 + 1024);

/// Largest JSON answer read: a listing of 10 000 shares with their receipts
/// stays well below it, and a confused server cannot exhaust our memory.
const MAX_JSON_BYTES: u64 = 256 * 1024 * 1024;

/// Largest content body read; matches the envelope's default content limit.
const MAX_CONTENT_BYTES: u64 = 1024 * 1024 * 1024;

/// Largest error body read; the API's error shape is a few hundred bytes.
const MAX_ERROR_BYTES: u64 = 64 * 1024;

/// Why a call to the node API failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No token was given for an endpoint that needs one.
    #[error("no API token: pass --token or set LIAISON_TOKEN")]
    NoToken,
    /// The token cannot be sent in an HTTP header. Its value is not shown.
    #[error(
        "the API token is malformed: use the token `liaison init` printed (`admin token: ...`)"
    )]
    BadToken,
    /// The configured API address is not `host:port`.
    #[error("`{0}` is not a usable API address (expected host:port, e.g. 127.0.0.1:7080)")]
    BadAddress(String),
    /// Nothing listens at the address, or it cannot be reached at all.
    #[error("cannot reach the node API at {addr} (is `liaison serve` running?): {reason}")]
    Unreachable {
        /// The API address.
        addr: String,
        /// What the connection attempt reported.
        reason: String,
    },
    /// The node did not answer in time.
    #[error("the node API at {addr} did not answer within {secs} s ({what})")]
    Timeout {
        /// The API address.
        addr: String,
        /// The bound that was hit, in seconds.
        secs: u64,
        /// Which phase timed out.
        what: String,
    },
    /// The node answered with the API's error shape.
    #[error("the node refused: {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The API's stable error code (`not_found`, `unauthorized`, ...).
        code: String,
        /// The API's message.
        message: String,
    },
    /// The node answered an error status without the API's error shape
    /// (something else listens there, or a proxy intervened).
    #[error("the node API at {addr} answered HTTP {status}: {body}")]
    Unexpected {
        /// The API address.
        addr: String,
        /// HTTP status.
        status: u16,
        /// The start of the body, for diagnosis.
        body: String,
    },
    /// A transport failure after the connection was made.
    #[error("talking to the node API at {addr} failed: {reason}")]
    Transport {
        /// The API address.
        addr: String,
        /// What failed.
        reason: String,
    },
    /// A successful answer that does not have the expected shape.
    #[error("the node API's answer to {path} is not what this client expects: {reason}")]
    Decode {
        /// The request path.
        path: String,
        /// What did not parse.
        reason: String,
    },
}

/// The API's error body: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// A blocking client for one node's local API.
pub struct Client {
    agent: Agent,
    /// `http://host:port`, without a trailing slash.
    base: String,
    /// The address as shown in messages.
    addr: String,
    /// `Bearer TOKEN`, wiped from memory on drop.
    authorization: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Client {
    // By hand, so that the token never reaches a debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.addr)
            .field("token", &self.authorization.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Client {
    /// A client for the API at `api_addr` (`host:port`, as in the node's
    /// `[node] api`). An unspecified bind address (`0.0.0.0`, `[::]`) is
    /// reached on loopback. Without a token only unauthenticated endpoints
    /// (`/api/health`) can be called; the others fail with
    /// [`ClientError::NoToken`] before anything is sent.
    pub fn new(api_addr: &str, token: Option<&str>) -> Result<Client, ClientError> {
        let addr = connect_addr(api_addr)?;
        let authorization = match token.map(str::trim) {
            None => None,
            Some("") => return Err(ClientError::NoToken),
            // Visible ASCII only: anything else cannot go into a header (and
            // a stray newline would be header injection).
            Some(t) if !t.bytes().all(|b| b.is_ascii_graphic()) => {
                return Err(ClientError::BadToken)
            }
            Some(t) => Some(Zeroizing::new(format!("Bearer {t}"))),
        };
        let config = Agent::config_builder()
            // Read the API's JSON error body instead of getting a bare status.
            .http_status_as_error(false)
            // The API is local and the request carries the bearer token: it
            // must not go through an HTTP(S)_PROXY from the environment.
            .proxy(None)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .timeout_connect(Some(Duration::from_secs(5)))
            // The API never redirects; following one could leak the token.
            .max_redirects(0)
            .user_agent(concat!("liaison/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent: config.into(),
            base: format!("http://{addr}"),
            addr,
            authorization,
        })
    }

    /// `GET path` and parse the JSON answer (`path` starts with `/api/`;
    /// user-supplied parts must go through [`path_segment`]).
    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let req = self.authorize(path, self.agent.get(self.url(path)))?;
        let resp = self.check(req.call())?;
        self.read_json(path, resp)
    }

    /// `POST path` with a JSON body and parse the JSON answer.
    pub fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Decode {
            path: path.to_string(),
            reason: format!("cannot encode the request: {e}"),
        })?;
        self.send_json(path, self.agent.post(self.url(path)), &bytes)
    }

    /// `POST path` as `multipart/form-data` with two parts, `request` (the
    /// JSON of `body`) and `content` (`len` raw bytes read from `content`),
    /// and parse the JSON answer. The content streams: the node spools it
    /// to disk, so neither side holds a large bundle in memory as JSON.
    pub fn post_multipart<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        content: &mut dyn std::io::Read,
        len: u64,
    ) -> Result<T, ClientError> {
        let json = serde_json::to_vec(body).map_err(|e| ClientError::Decode {
            path: path.to_string(),
            reason: format!("cannot encode the request: {e}"),
        })?;
        let boundary = format!("liaison-{}", uuid::Uuid::new_v4().simple());
        let mut head = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"request\"\r\n\
             Content-Type: application/json\r\n\r\n"
        )
        .into_bytes();
        head.extend_from_slice(&json);
        head.extend_from_slice(
            format!(
                "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; \
                 filename=\"content\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        let tail = format!("\r\n--{boundary}--\r\n").into_bytes();
        let total = head.len() as u64 + len + tail.len() as u64;
        let mut reader = std::io::Read::chain(
            std::io::Read::chain(&head[..], std::io::Read::take(content, len)),
            &tail[..],
        );
        let timeout = REQUEST_TIMEOUT + PER_MIB * mib(total);
        let req = self
            .agent
            .post(self.url(path))
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header("Content-Length", total.to_string())
            .config()
            .timeout_global(Some(timeout))
            .build();
        let req = self.authorize(path, req)?;
        let resp = self.check_with(req.send(ureq::SendBody::from_reader(&mut reader)), timeout)?;
        self.read_json(path, resp)
    }

    /// `PUT path` with a JSON body and parse the JSON answer.
    pub fn put_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Decode {
            path: path.to_string(),
            reason: format!("cannot encode the request: {e}"),
        })?;
        self.send_json(path, self.agent.put(self.url(path)), &bytes)
    }

    fn send_json<T: DeserializeOwned>(
        &self,
        path: &str,
        req: ureq::RequestBuilder<ureq::typestate::WithBody>,
        bytes: &[u8],
    ) -> Result<T, ClientError> {
        let timeout = REQUEST_TIMEOUT + PER_MIB * mib(bytes.len() as u64);
        let req = req
            .header("Content-Type", "application/json")
            .config()
            .timeout_global(Some(timeout))
            .build();
        let req = self.authorize(path, req)?;
        let resp = self.check_with(req.send(bytes), timeout)?;
        self.read_json(path, resp)
    }

    /// `DELETE path`; any 2xx answer is success.
    pub fn delete(&self, path: &str) -> Result<(), ClientError> {
        let req = self.authorize(path, self.agent.delete(self.url(path)))?;
        self.check(req.call()).map(drop)
    }

    /// `GET path` and return the raw body, byte-exact (up to 1 GiB). The
    /// whole body is read before returning, so a caller never writes out a
    /// truncated download.
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        let req = self
            .agent
            .get(self.url(path))
            .config()
            .timeout_global(Some(CONTENT_TIMEOUT))
            .build();
        let req = self.authorize(path, req)?;
        let mut resp = self.check_with(req.call(), CONTENT_TIMEOUT)?;
        resp.body_mut()
            .with_config()
            .limit(MAX_CONTENT_BYTES)
            .read_to_vec()
            .map_err(|e| self.transport(e, CONTENT_TIMEOUT))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Add the bearer token, or refuse before sending anything.
    fn authorize<B>(
        &self,
        path: &str,
        req: RequestBuilder<B>,
    ) -> Result<RequestBuilder<B>, ClientError> {
        match &self.authorization {
            Some(value) => Ok(req.header("Authorization", value.as_str())),
            None if path == "/api/health" => Ok(req),
            None => Err(ClientError::NoToken),
        }
    }

    fn check(
        &self,
        result: Result<Response<Body>, ureq::Error>,
    ) -> Result<Response<Body>, ClientError> {
        self.check_with(result, REQUEST_TIMEOUT)
    }

    /// Turn transport failures and non-2xx answers into [`ClientError`].
    fn check_with(
        &self,
        result: Result<Response<Body>, ureq::Error>,
        timeout: Duration,
    ) -> Result<Response<Body>, ClientError> {
        let mut resp = result.map_err(|e| self.transport(e, timeout))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        // Best effort: the error body explains the refusal, but a failure to
        // read it must not hide the status.
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_ERROR_BYTES)
            .read_to_vec()
            .unwrap_or_default();
        Err(self.refusal(status, &body))
    }

    fn refusal(&self, status: StatusCode, body: &[u8]) -> ClientError {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(b) => ClientError::Api {
                status: status.as_u16(),
                code: b.error.code,
                message: b.error.message,
            },
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let mut snippet: String = text.trim().chars().take(200).collect();
                if snippet.is_empty() {
                    snippet = status.canonical_reason().unwrap_or("no body").to_string();
                }
                ClientError::Unexpected {
                    addr: self.addr.clone(),
                    status: status.as_u16(),
                    body: snippet,
                }
            }
        }
    }

    fn read_json<T: DeserializeOwned>(
        &self,
        path: &str,
        mut resp: Response<Body>,
    ) -> Result<T, ClientError> {
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_JSON_BYTES)
            .read_to_vec()
            .map_err(|e| self.transport(e, REQUEST_TIMEOUT))?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode {
            path: path.to_string(),
            reason: e.to_string(),
        })
    }

    fn transport(&self, e: ureq::Error, timeout: Duration) -> ClientError {
        let addr = self.addr.clone();
        match e {
            ureq::Error::Io(io) if unreachable(&io) => ClientError::Unreachable {
                addr,
                reason: io.to_string(),
            },
            ureq::Error::HostNotFound => ClientError::Unreachable {
                addr,
                reason: "host not found".into(),
            },
            ureq::Error::ConnectionFailed => ClientError::Unreachable {
                addr,
                reason: "connection failed".into(),
            },
            ureq::Error::Timeout(t) => ClientError::Timeout {
                addr,
                secs: timeout.as_secs(),
                what: t.to_string(),
            },
            other => ClientError::Transport {
                addr,
                reason: other.to_string(),
            },
        }
    }
}

/// Whether a connect error means "nobody is there" rather than a fault
/// in the middle of an exchange.
fn unreachable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable
    )
}

/// Whole MiB in `bytes`, rounded up.
fn mib(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(1024 * 1024)).unwrap_or(u32::MAX)
}

/// The address to connect to for a configured API address. The daemon may
/// bind the unspecified address to serve every interface; a client on the
/// same host then reaches it on loopback.
fn connect_addr(api: &str) -> Result<String, ClientError> {
    let api = api.trim();
    let bad = || ClientError::BadAddress(api.to_string());
    if let Ok(sock) = api.parse::<SocketAddr>() {
        if sock.port() == 0 {
            return Err(bad());
        }
        let ip = match sock.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        return Ok(SocketAddr::new(ip, sock.port()).to_string());
    }
    // A host name: `name:port`, nothing that would change the URL's meaning.
    let (host, port) = api.rsplit_once(':').ok_or_else(bad)?;
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    match port.parse::<u16>() {
        Ok(p) if p != 0 && host_ok => Ok(api.to_string()),
        _ => Err(bad()),
    }
}

/// Percent-encode one URL path segment (a peer name, a node id, a share
/// id). Only RFC 3986 unreserved characters pass as they are; `.` is
/// encoded too, so that `.` or `..` cannot climb out of the route.
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("bolt"), "bolt");
        assert_eq!(path_segment("ACME Corp/é"), "ACME%20Corp%2F%C3%A9");
        assert_eq!(path_segment(".."), "%2E%2E");
        assert_eq!(path_segment("a?b#c%"), "a%3Fb%23c%25");
    }

    #[test]
    fn api_addresses_resolve_for_connecting() {
        assert_eq!(
            connect_addr("127.0.0.1:7080").ok(),
            Some("127.0.0.1:7080".into())
        );
        assert_eq!(
            connect_addr("0.0.0.0:7080").ok(),
            Some("127.0.0.1:7080".into())
        );
        assert_eq!(connect_addr("[::]:7080").ok(), Some("[::1]:7080".into()));
        assert_eq!(
            connect_addr("localhost:7080").ok(),
            Some("localhost:7080".into())
        );
        for bad in [
            "",
            "7080",
            "127.0.0.1:0",
            "http://x:1",
            "a/b:1",
            "host:port",
            "x@y:1",
        ] {
            assert!(connect_addr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_are_checked_and_never_shown() {
        assert!(matches!(
            Client::new("127.0.0.1:1", Some("  ")),
            Err(ClientError::NoToken)
        ));
        let err = Client::new("127.0.0.1:1", Some("sec ret\n")).unwrap_err();
        assert!(matches!(err, ClientError::BadToken));
        assert!(!err.to_string().contains("sec"));
        let c = Client::new("127.0.0.1:1", Some("s3cr3t")).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn a_missing_token_fails_before_connecting() {
        let c = Client::new("127.0.0.1:1", None).unwrap();
        let err = c.get_json::<serde_json::Value>("/api/peers").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no API token: pass --token or set LIAISON_TOKEN"
        );
    }

    #[test]
    fn a_closed_port_says_the_node_is_not_running() {
        // Bind and drop to find a port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let c = Client::new(&format!("127.0.0.1:{port}"), Some("t")).unwrap();
        let err = c.get_json::<serde_json::Value>("/api/peers").unwrap_err();
        assert!(matches!(err, ClientError::Unreachable { .. }), "{err:?}");
        assert!(
            err.to_string().contains("is `liaison serve` running?"),
            "{err}"
        );
    }

    /// Serve one canned HTTP answer and hand back the request head.
    fn one_shot(answer: &'static str) -> (String, thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let handle = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut stream = stream;
            stream.write_all(answer.as_bytes()).unwrap();
            head
        });
        (addr, handle)
    }

    #[test]
    fn the_api_error_shape_becomes_a_refusal() {
        let body = r#"{"error":{"code":"not_found","message":"no such peer"}}"#;
        let answer: &'static str = Box::leak(
            format!(
                "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_boxed_str(),
        );
        let (addr, server) = one_shot(answer);
        let c = Client::new(&addr, Some("tok")).unwrap();
        let err = c
            .delete(&format!("/api/peers/{}", path_segment("a b")))
            .unwrap_err();
        assert_eq!(err.to_string(), "the node refused: not_found: no such peer");
        assert!(
            matches!(err, ClientError::Api { status: 404, .. }),
            "{err:?}"
        );
        let head = server.join().unwrap();
        assert!(
            head.starts_with("DELETE /api/peers/a%20b HTTP/1.1"),
            "{head}"
        );
        assert!(
            head.contains("authorization: Bearer tok")
                || head.contains("Authorization: Bearer tok")
        );
    }

    #[test]
    fn json_bodies_go_out_and_come_back() {
        let answer = "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n\
                      content-length: 11\r\nconnection: close\r\n\r\n{\"ok\":true}";
        let (addr, server) = one_shot(answer);
        let c = Client::new(&addr, Some("tok")).unwrap();
        let v: serde_json::Value = c
            .post_json("/api/shares", &serde_json::json!({"tlp": "amber"}))
            .unwrap();
        assert_eq!(v["ok"], true);
        let head = server.join().unwrap().to_ascii_lowercase();
        assert!(head.starts_with("post /api/shares http/1.1"), "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
    }

    #[test]
    fn a_foreign_error_page_is_reported_with_its_status() {
        let answer = "HTTP/1.1 502 Bad Gateway\r\ncontent-length: 8\r\n\
                      connection: close\r\n\r\nupstream";
        let (addr, server) = one_shot(answer);
        let c = Client::new(&addr, Some("tok")).unwrap();
        let err = c.get_bytes("/api/inbox/x/content").unwrap_err();
        assert!(
            matches!(err, ClientError::Unexpected { status: 502, .. }),
            "{err:?}"
        );
        server.join().unwrap();
    }
}
