//! A read-only TAXII 2.1 server over the inbox, under `/taxii2/`.
//!
//! One API root, `/taxii2/liaison/`, whose collections are views of the
//! verified, accepted STIX bundles in the inbox: everything received, one
//! per sending organization (the originator, verified) and one per TLP 2.0
//! label. Every object carries its bundle's TLP 2.0 marking (added to
//! `object_marking_refs`), and each collection also serves the official
//! TLP 2.0 marking-definition objects its objects refer to. An object's
//! "date added" is the time its bundle was accepted into the inbox; its
//! version is `modified`, else `created`, else the date added (cyber
//! observables). The same object version arriving in several bundles is
//! served once, from the earliest. CSAF advisories and notes are not STIX
//! and are not served.
//!
//! Collections are computed from the inbox on each request: one query for
//! the inbox summaries, then each bundle's content is parsed once and kept
//! in a process-wide cache keyed by bundle id and manifest hash (bundles
//! are immutable). A request then costs O(objects in the collection) in
//! memory work; an index table would make it O(page) and is the next
//! step when inboxes grow past a few hundred thousand objects.
//!
//! Authentication: the node's own tokens, as `Authorization: Bearer TOKEN`
//! or HTTP Basic with the token as the password (any user name), role
//! analyst (admins pass). Nothing can be written: writes answer 403.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use liaison_core::{Kind, Tlp};
use liaison_store::{InboxRecord, PeerRecord, Role, Store};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::stix_export::{mark_object, tlp2_marking_definition, STIX_MEDIA_TYPE};
use crate::{auth, blocking, ApiError, AppState};

/// The TAXII 2.1 media type, on every response of the TAXII server.
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// The most objects one page may hold (`limit` above it is lowered).
pub const MAX_PAGE: usize = 10_000;
/// The page size when the client names none.
pub const DEFAULT_PAGE: usize = 1_000;
/// The one API root's path segment.
const ROOT: &str = "liaison";
/// Stop caching parsed bundles past this many objects (the cache is then
/// emptied and refilled by the next requests).
const CACHE_MAX_OBJECTS: usize = 500_000;

/// The TAXII routes; `lib.rs` merges them outside `/api` and outside the
/// JSON error layer (TAXII has its own error shape and media type).
pub(crate) fn router(state: AppState) -> Router<AppState> {
    let root = format!("/taxii2/{ROOT}");
    Router::new()
        .route("/taxii2/", get(discovery))
        .route(&format!("{root}/"), get(api_root))
        .route(&format!("{root}/status/{{id}}/"), any(no_status))
        .route(&format!("{root}/collections/"), get(collections))
        .route(&format!("{root}/collections/{{id}}/"), get(collection))
        .route(
            &format!("{root}/collections/{{id}}/objects/"),
            get(objects).post(read_only),
        )
        .route(
            &format!("{root}/collections/{{id}}/objects/{{object_id}}/"),
            get(object).delete(read_only),
        )
        .route(
            &format!("{root}/collections/{{id}}/objects/{{object_id}}/versions/"),
            get(versions),
        )
        .route(
            &format!("{root}/collections/{{id}}/manifest/"),
            get(manifest),
        )
        .route("/taxii2/{*rest}", any(unknown))
        .route_layer(axum::middleware::from_fn_with_state(state, gate))
        .layer(axum::middleware::map_response(taxii_errors))
}

// ---------------------------------------------------------------- errors

/// A TAXII 2.1 error message (`{title, description, http_status}`).
#[derive(Debug, Clone)]
pub(crate) struct TaxiiError {
    status: StatusCode,
    title: String,
    description: String,
    code: Option<&'static str>,
}

impl TaxiiError {
    fn new(status: StatusCode, description: impl Into<String>) -> TaxiiError {
        TaxiiError {
            status,
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            description: description.into(),
            code: None,
        }
    }
    fn bad_request(description: impl Into<String>) -> TaxiiError {
        TaxiiError::new(StatusCode::BAD_REQUEST, description)
    }
    fn not_found(description: impl Into<String>) -> TaxiiError {
        TaxiiError::new(StatusCode::NOT_FOUND, description)
    }
    fn unauthorized(description: impl Into<String>) -> TaxiiError {
        TaxiiError::new(StatusCode::UNAUTHORIZED, description)
    }
}

impl From<ApiError> for TaxiiError {
    fn from(e: ApiError) -> Self {
        TaxiiError {
            code: Some(e.code),
            ..TaxiiError::new(e.status, e.message)
        }
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "title": self.title,
            "description": self.description,
            "http_status": self.status.as_u16().to_string(),
        });
        if let Some(code) = self.code {
            body["error_code"] = json!(code);
        }
        let mut response = taxii_body(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Basic realm=\"liaison-taxii\", Bearer realm=\"liaison-taxii\"",
                ),
            );
        }
        response
    }
}

/// Give errors axum makes by itself (a 405, a bad path segment) the TAXII
/// error shape and media type; other headers (`Allow`) are kept.
async fn taxii_errors(response: Response) -> Response {
    let status = response.status();
    let is_taxii = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/taxii+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_taxii {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let description = match (text.is_empty(), status) {
        (false, _) => text,
        (true, StatusCode::METHOD_NOT_ALLOWED) => {
            "this TAXII endpoint does not accept that method (see the Allow header)".to_string()
        }
        (true, s) => s.canonical_reason().unwrap_or("request failed").to_string(),
    };
    let (taxii_parts, taxii_body) = TaxiiError::new(status, description)
        .into_response()
        .into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.extend(taxii_parts.headers);
    Response::from_parts(parts, taxii_body)
}

/// A JSON body with the TAXII media type.
fn taxii_body<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(TAXII_MEDIA_TYPE),
            )],
            bytes,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a TAXII response");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, HeaderValue::from_static(TAXII_MEDIA_TYPE))],
                r#"{"title":"Internal Server Error","description":"cannot encode the response","http_status":"500"}"#,
            )
                .into_response()
        }
    }
}

// ------------------------------------------------------ auth and Accept

/// Authenticate (Bearer or Basic), demand the analyst role, check Accept.
async fn gate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, TaxiiError> {
    let token = credentials(request.headers()).ok_or_else(|| {
        TaxiiError::unauthorized(
            "missing credentials: send `Authorization: Bearer TOKEN`, or HTTP Basic with the \
             node token as the password",
        )
    })?;
    let user = auth::user_for_token(&state, &token)
        .await?
        .ok_or_else(|| TaxiiError::unauthorized("unknown or revoked token"))?;
    auth::require_role(&user, &[Role::Analyst])?;
    if !acceptable(request.headers()) {
        return Err(TaxiiError::new(
            StatusCode::NOT_ACCEPTABLE,
            format!("this server answers with `{TAXII_MEDIA_TYPE}` (or `application/json`) only"),
        ));
    }
    request.extensions_mut().insert(user);
    Ok(next.run(request).await)
}

/// The token: a bearer token, or the password of HTTP Basic credentials.
fn credentials(headers: &HeaderMap) -> Option<String> {
    if let Some(token) = auth::bearer_token(headers) {
        return Some(token.to_string());
    }
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_user, password) = text.split_once(':')?;
    let password = password.trim();
    (!password.is_empty()).then(|| password.to_string())
}

/// Whether the request's Accept allows a TAXII 2.1 answer. No Accept (or
/// an empty one) allows anything.
fn acceptable(headers: &HeaderMap) -> bool {
    let items: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .collect();
    items.is_empty() || items.iter().any(|i| accepts(i))
}

fn accepts(item: &str) -> bool {
    let mut parts = item.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default().to_ascii_lowercase();
    let mut version = None;
    for param in parts {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        match key.trim().to_ascii_lowercase().as_str() {
            "version" => version = Some(value.to_string()),
            "q" if value.parse::<f32>().is_ok_and(|q| q <= 0.0) => return false,
            _ => {}
        }
    }
    match media.as_str() {
        "application/taxii+json" => version.is_none_or(|v| v == "2.1"),
        "application/json" | "application/*" | "*/*" => true,
        _ => false,
    }
}

// ------------------------------------------------------------ resources

/// The server's base URL as the client reached it (from `Host`), so that
/// `api_roots` are absolute URLs; relative when there is no usable Host.
fn base_url(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c))
        })
        .map(|h| format!("http://{h}"))
        .unwrap_or_default()
}

/// `GET /taxii2/`: discovery.
async fn discovery(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let root = format!("{}/taxii2/{ROOT}/", base_url(&headers));
    taxii_body(
        StatusCode::OK,
        &json!({
            "title": format!("Liaison node of {}", state.org()),
            "description": "Read-only TAXII 2.1 view of the STIX 2.1 bundles this Liaison node \
                            received, verified and accepted from its partners, each object \
                            carrying the TLP 2.0 marking it was shared under.",
            "default": root,
            "api_roots": [root],
        }),
    )
}

/// `GET /taxii2/liaison/`: the API root.
async fn api_root(State(state): State<AppState>) -> Response {
    taxii_body(
        StatusCode::OK,
        &json!({
            "title": format!("Received intelligence of {}", state.org()),
            "description": "Everything received, one collection per sending organization and \
                            one per TLP 2.0 label. Nothing can be written here.",
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": crate::MAX_SHARE_REQUEST,
        }),
    )
}

async fn no_status(Path(id): Path<String>) -> TaxiiError {
    TaxiiError::not_found(format!(
        "no status `{id}`: this server accepts no writes, so it has no status resources"
    ))
}

async fn unknown() -> TaxiiError {
    TaxiiError::not_found("no such TAXII endpoint")
}

async fn read_only(Path(params): Path<Vec<(String, String)>>) -> TaxiiError {
    let id = params
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    TaxiiError {
        code: Some("read_only"),
        ..TaxiiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "collection `{id}` is read-only (can_write: false): share through Liaison \
                 (`liaison share create`) instead"
            ),
        )
    }
}

/// What a collection holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    All,
    Sender(String),
    Tlp(Tlp),
}

impl Scope {
    fn holds(&self, record: &InboxRecord) -> bool {
        match self {
            Scope::All => true,
            Scope::Sender(node) => record.sender.to_string() == *node,
            Scope::Tlp(tlp) => record.tlp == *tlp,
        }
    }
}

/// One collection: a stable id, words for people, what it holds.
#[derive(Debug, Clone)]
struct Collection {
    id: Uuid,
    title: String,
    description: String,
    scope: Scope,
}

impl Collection {
    fn resource(&self) -> Value {
        json!({
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "can_read": true,
            "can_write": false,
            "media_types": [STIX_MEDIA_TYPE],
        })
    }
}

/// A stable collection id from its name: a UUID (version 8, RFC 9562)
/// made of the first 16 bytes of SHA-256 over a fixed prefix and the name.
fn collection_id(name: &str) -> Uuid {
    let hex =
        liaison_core::manifest::sha256_hex(format!("liaison/taxii/collection/{name}").as_bytes());
    let mut bytes = [0u8; 16];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("00"), 16).unwrap_or(0);
    }
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

fn tlp_words(tlp: Tlp) -> &'static str {
    match tlp {
        Tlp::Clear => "may be disclosed without limit",
        Tlp::Green => "for the recipient's community, not for public channels",
        Tlp::Amber => "for the recipient organization and its clients, on a need-to-know basis",
        Tlp::AmberStrict => "for the recipient organization only",
        Tlp::Red => "for the named recipients only",
    }
}

/// Every collection: everything, one per sender (pinned peers and any
/// originator seen in the inbox), one per TLP label.
fn catalog(records: &[InboxRecord], peers: &[PeerRecord]) -> Vec<Collection> {
    let mut out = vec![Collection {
        id: collection_id("all"),
        title: "Everything received".into(),
        description: "Every STIX object in the bundles this node received, verified and \
                      accepted, from every partner and at every TLP label."
            .into(),
        scope: Scope::All,
    }];
    // node id -> (local name, organization)
    let mut senders: Vec<(String, String, String)> = peers
        .iter()
        .map(|p| (p.node_id.to_string(), p.name.clone(), p.org.clone()))
        .collect();
    for r in records {
        let node = r.sender.to_string();
        if !senders.iter().any(|(n, _, _)| *n == node) {
            senders.push((node, r.sender_org.clone(), r.sender_org.clone()));
        }
    }
    senders.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    for (node, name, org) in senders {
        out.push(Collection {
            id: collection_id(&format!("sender/{node}")),
            title: format!("From {name}"),
            description: format!(
                "STIX objects that {org} (node {node}) originated and this node received, \
                 verified and accepted."
            ),
            scope: Scope::Sender(node),
        });
    }
    for tlp in Tlp::ALL {
        out.push(Collection {
            id: collection_id(&format!("tlp/{}", tlp.stix_value())),
            title: format!("Shared as {tlp}"),
            description: format!(
                "STIX objects received in bundles labelled {tlp}: {}.",
                tlp_words(tlp)
            ),
            scope: Scope::Tlp(tlp),
        });
    }
    out
}

// ------------------------------------------------------------ contents

/// One object of a bundle, ready to serve.
#[derive(Debug)]
///
/// A large bundle keeps one of these per object in memory (the cache), so
/// it is kept small: boxed strings, and no copy of the usual `2.1`.
struct Parsed {
    id: Box<str>,
    ty: Box<str>,
    /// `None`: "2.1".
    spec_version: Option<Box<str>>,
    /// `modified`, else `created` (string as written, and parsed).
    version: Option<(Box<str>, DateTime<Utc>)>,
    /// The marked object, as compact JSON.
    object: Kept,
}

/// Where a marked object's JSON is kept.
#[derive(Debug)]
enum Kept {
    /// In memory (a fifth of its size as a tree).
    Inline(Box<serde_json::value::RawValue>),
    /// In the bundle's spool file: a large bundle keeps only what paging
    /// needs in memory, and reads a page's objects back.
    At { offset: u64, len: u32 },
}

/// A bundle's objects, marked, the official TLP 2.0 definitions first.
#[derive(Debug, Default)]
struct ParsedBundle {
    objects: Vec<Parsed>,
    /// Holds the objects kept [`Kept::At`].
    spool: Option<Mutex<std::fs::File>>,
}

impl ParsedBundle {
    /// The JSON of object `p` of this bundle.
    fn json(&self, p: &Parsed) -> Result<Box<serde_json::value::RawValue>, ApiError> {
        use std::io::{Read, Seek, SeekFrom};
        let (offset, len) = match &p.object {
            Kept::Inline(raw) => return Ok(raw.clone()),
            Kept::At { offset, len } => (*offset, *len as usize),
        };
        let failed = |e: String| ApiError::internal(format!("reading a spooled TAXII object: {e}"));
        let spool = self
            .spool
            .as_ref()
            .ok_or_else(|| failed("no spool file".into()))?;
        let mut file = spool.lock().unwrap_or_else(|p| p.into_inner());
        let mut buf = vec![0u8; len];
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(&mut buf))
            .map_err(|e| failed(e.to_string()))?;
        let text = String::from_utf8(buf).map_err(|e| failed(e.to_string()))?;
        serde_json::value::RawValue::from_string(text).map_err(|e| failed(e.to_string()))
    }
}

impl Parsed {
    fn spec_version(&self) -> &str {
        self.spec_version.as_deref().unwrap_or("2.1")
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn parsed(object: Value) -> Option<Parsed> {
    parsed_as(object, &mut |v| {
        serde_json::value::to_raw_value(v).ok().map(Kept::Inline)
    })
}

/// [`parsed`], keeping the object's JSON as `keep` says.
fn parsed_as(object: Value, keep: &mut dyn FnMut(&Value) -> Option<Kept>) -> Option<Parsed> {
    let text = |k: &str| object.get(k).and_then(Value::as_str).map(Box::<str>::from);
    let id = text("id")?;
    let ty = text("type")?;
    let spec_version = text("spec_version").filter(|v| &**v != "2.1");
    let version = text("modified")
        .or_else(|| text("created"))
        .and_then(|s| parse_time(&s).map(|t| (s, t)));
    let object = keep(&object)?;
    Some(Parsed {
        id,
        ty,
        spec_version,
        version,
        object,
    })
}

/// The objects of the STIX bundle read from `content`, marked, one at a
/// time (the bundle is never parsed into one tree). With `spool`, their
/// JSON goes there instead of memory.
fn parse_bundle(
    content: impl std::io::Read,
    tlp: Tlp,
    spool: Option<std::fs::File>,
) -> ParsedBundle {
    use std::io::Write;
    let mut used = BTreeSet::from([tlp]);
    let mut marked: Vec<Parsed> = Vec::new();
    let mut out = spool.as_ref().map(std::io::BufWriter::new);
    let mut at = 0u64;
    let mut failed: Option<std::io::Error> = None;
    let mut keep = |v: &Value| -> Option<Kept> {
        let Some(w) = out.as_mut() else {
            return serde_json::value::to_raw_value(v).ok().map(Kept::Inline);
        };
        let bytes = serde_json::to_vec(v).ok()?;
        if let Err(e) = w.write_all(&bytes) {
            failed.get_or_insert(e);
            return None;
        }
        let kept = Kept::At {
            offset: at,
            len: u32::try_from(bytes.len()).ok()?,
        };
        at += bytes.len() as u64;
        Some(kept)
    };
    let read = liaison_core::content::each_stix_object(content, |o| {
        if let Some(p) = mark_object(o, tlp, &mut used).and_then(|o| parsed_as(o, &mut keep)) {
            marked.push(p);
        }
    });
    let flushed = out.as_mut().map_or(Ok(()), std::io::Write::flush);
    drop(out);
    if let Some(e) = failed.or(flushed.err()) {
        tracing::error!(error = %e, "cannot spool a bundle's TAXII objects; TAXII skips it");
        return ParsedBundle::default();
    }
    if let Err(e) = read {
        tracing::warn!(error = %e, "an inbox STIX bundle does not read as one; TAXII skips it");
        return ParsedBundle::default();
    }
    let mut objects: Vec<Parsed> = used
        .into_iter()
        .map(tlp2_marking_definition)
        .filter_map(parsed)
        .collect();
    objects.append(&mut marked);
    ParsedBundle {
        objects,
        spool: spool.map(Mutex::new),
    }
}

#[derive(Default)]
struct Cache {
    bundles: HashMap<(Uuid, String), Arc<ParsedBundle>>,
    objects: usize,
}

fn cache() -> std::sync::MutexGuard<'static, Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The parsed objects of an inbox bundle, from the cache or the store.
fn bundle_objects(
    store: &dyn Store,
    record: &InboxRecord,
    spool_dir: &std::path::Path,
) -> Result<Arc<ParsedBundle>, ApiError> {
    let key = (record.bundle_id, record.manifest_sha256.clone());
    if let Some(hit) = cache().bundles.get(&key) {
        return Ok(hit.clone());
    }
    let id = record.bundle_id;
    let content = liaison_store::ChunkReader::new(|offset| {
        store.inbox_content_chunk(id, offset, crate::body::CHUNK)
    });
    // Large bundles keep their objects' JSON on disk, read back a page at
    // a time.
    let spool = (record.size > crate::body::SPOOL_ABOVE)
        .then(|| crate::body::spool_file(spool_dir))
        .transpose()?;
    let bundle = Arc::new(parse_bundle(content, record.tlp, spool));
    let mut c = cache();
    if c.objects + bundle.objects.len() > CACHE_MAX_OBJECTS {
        c.bundles.clear();
        c.objects = 0;
    }
    c.objects += bundle.objects.len();
    c.bundles.insert(key, bundle.clone());
    Ok(bundle)
}

/// The position of an entry in a collection: date added (µs), bundle,
/// index in the bundle. Total, and stable while the inbox only grows.
type Key = (i64, Uuid, usize);

/// One object version as a collection serves it.
struct Entry {
    key: Key,
    added: DateTime<Utc>,
    bundle: Arc<ParsedBundle>,
    index: usize,
    version_at: DateTime<Utc>,
}

impl Entry {
    fn parsed(&self) -> &Parsed {
        &self.bundle.objects[self.index]
    }

    /// The object's `modified` (else `created`) as written; for an object
    /// with neither, the date it was added.
    fn version(&self) -> String {
        match &self.parsed().version {
            Some((written, _)) => written.to_string(),
            None => ts(&self.added),
        }
    }
}

/// What one request needs: the collection catalog and, for one
/// collection, its entries in order.
struct Snapshot {
    collections: Vec<Collection>,
    entries: Vec<Entry>,
}

/// TAXII timestamps: RFC 3339, UTC, microseconds.
fn ts(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Load the catalog and, when `collection` is given, its entries
/// (404 when there is no such collection).
async fn snapshot(state: &AppState, collection: Option<String>) -> Result<Snapshot, TaxiiError> {
    let store = state.store.clone();
    let spool_dir = state.hooks.spool_dir();
    let result = blocking(move || {
        let mut records = store.inbox(u32::MAX)?;
        // Exercise content never feeds real tools; recalled and expired
        // bundles are withdrawn from them (earlier versions stay: TAXII
        // serves them as object versions).
        let now = Utc::now();
        records.retain(|r| !r.exercise && !r.is_withdrawn(now));
        let peers = store.peers()?;
        let collections = catalog(&records, &peers);
        let Some(wanted) = collection else {
            return Ok(Ok(Snapshot {
                collections,
                entries: Vec::new(),
            }));
        };
        let Some(scope) = collections
            .iter()
            .find(|c| c.id.to_string() == wanted.to_ascii_lowercase())
            .map(|c| c.scope.clone())
        else {
            return Ok(Err(TaxiiError::not_found(format!(
                "no collection `{wanted}` (GET /taxii2/{ROOT}/collections/ lists them)"
            ))));
        };
        records.retain(|r| r.kind == Kind::Stix && scope.holds(r));
        let added = |r: &InboxRecord| {
            let micros = r.received_at.timestamp_micros();
            (
                DateTime::from_timestamp_micros(micros).unwrap_or(r.received_at),
                micros,
            )
        };
        records.sort_by_key(|r| (added(r).1, r.bundle_id));
        let bundles = records
            .iter()
            .map(|r| bundle_objects(store.as_ref(), r, &spool_dir))
            .collect::<Result<Vec<_>, _>>()?;
        // Object versions already listed: borrowed ids, no copies.
        let mut seen: HashSet<(&str, DateTime<Utc>)> = HashSet::new();
        let mut entries = Vec::new();
        for (record, bundle) in records.iter().zip(&bundles) {
            let (at, micros) = added(record);
            for (index, p) in bundle.objects.iter().enumerate() {
                let version_at = p.version.as_ref().map_or(at, |(_, t)| *t);
                if !seen.insert((&p.id, version_at)) {
                    continue;
                }
                entries.push(Entry {
                    key: (micros, record.bundle_id, index),
                    added: at,
                    bundle: bundle.clone(),
                    index,
                    version_at,
                });
            }
        }
        Ok(Ok(Snapshot {
            collections,
            entries,
        }))
    })
    .await?;
    result
}

async fn collections(State(state): State<AppState>) -> Result<Response, TaxiiError> {
    let snap = snapshot(&state, None).await?;
    let list: Vec<Value> = snap.collections.iter().map(Collection::resource).collect();
    Ok(taxii_body(StatusCode::OK, &json!({ "collections": list })))
}

async fn collection(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, TaxiiError> {
    let snap = snapshot(&state, None).await?;
    let found = snap
        .collections
        .iter()
        .find(|c| c.id.to_string() == id.to_ascii_lowercase())
        .ok_or_else(|| TaxiiError::not_found(format!("no collection `{id}`")))?;
    Ok(taxii_body(StatusCode::OK, &found.resource()))
}

// --------------------------------------------------------------- filters

/// One `match[version]` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VersionSel {
    Last,
    First,
    All,
    At(DateTime<Utc>),
}

/// The query parameters of the object endpoints.
#[derive(Debug, Default)]
struct Filters {
    added_after: Option<DateTime<Utc>>,
    ids: Option<HashSet<String>>,
    types: Option<HashSet<String>>,
    spec_versions: Option<HashSet<String>>,
    versions: Option<Vec<VersionSel>>,
    limit: usize,
    next: Option<Key>,
}

fn list_values(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

fn encode_next(key: &Key) -> String {
    format!("{}.{}.{}", key.0, key.1.simple(), key.2)
}

fn decode_next(s: &str) -> Option<Key> {
    let mut parts = s.split('.');
    let micros = parts.next()?.parse().ok()?;
    let bundle = Uuid::parse_str(parts.next()?).ok()?;
    let index = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((micros, bundle, index))
}

fn parse_filters(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Filters, TaxiiError> {
    let Query(params) = query
        .map_err(|e| TaxiiError::bad_request(format!("bad query string: {}", e.body_text())))?;
    let mut f = Filters {
        limit: DEFAULT_PAGE,
        ..Filters::default()
    };
    for (key, value) in &params {
        match key.as_str() {
            "added_after" => {
                f.added_after = Some(parse_time(value).ok_or_else(|| {
                    TaxiiError::bad_request(format!(
                        "added_after `{value}` is not an RFC 3339 timestamp"
                    ))
                })?)
            }
            "limit" => {
                let n: usize = value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    TaxiiError::bad_request(format!("limit `{value}` is not a positive integer"))
                })?;
                f.limit = n.min(MAX_PAGE);
            }
            "next" => {
                f.next = Some(decode_next(value).ok_or_else(|| {
                    TaxiiError::bad_request(format!(
                        "next `{value}` is not a token this server gave"
                    ))
                })?)
            }
            "match[id]" => f
                .ids
                .get_or_insert_with(HashSet::new)
                .extend(list_values(value)),
            "match[type]" => f
                .types
                .get_or_insert_with(HashSet::new)
                .extend(list_values(value)),
            "match[spec_version]" => f
                .spec_versions
                .get_or_insert_with(HashSet::new)
                .extend(list_values(value)),
            "match[version]" => {
                let list = f.versions.get_or_insert_with(Vec::new);
                for v in list_values(value) {
                    list.push(match v.as_str() {
                        "last" => VersionSel::Last,
                        "first" => VersionSel::First,
                        "all" => VersionSel::All,
                        other => VersionSel::At(parse_time(other).ok_or_else(|| {
                            TaxiiError::bad_request(format!(
                                "match[version] `{other}` is not `last`, `first`, `all` or a \
                                 timestamp"
                            ))
                        })?),
                    });
                }
            }
            _ => {} // unknown parameters are ignored (TAXII 2.1 §3.5)
        }
    }
    Ok(f)
}

/// The entries the filters select, in collection order (before paging).
fn select<'e>(entries: &'e [Entry], f: &Filters, default: VersionSel) -> Vec<&'e Entry> {
    let base: Vec<&Entry> = entries
        .iter()
        .filter(|e| f.added_after.is_none_or(|t| e.added > t))
        .filter(|e| f.ids.as_ref().is_none_or(|s| s.contains(&*e.parsed().id)))
        .filter(|e| f.types.as_ref().is_none_or(|s| s.contains(&*e.parsed().ty)))
        .filter(|e| {
            f.spec_versions
                .as_ref()
                .is_none_or(|s| s.contains(e.parsed().spec_version()))
        })
        .collect();
    let wanted = f.versions.clone().unwrap_or_else(|| vec![default]);
    if wanted.contains(&VersionSel::All) {
        return base;
    }
    // Per object id: the first and last version among the selected.
    let mut bounds: HashMap<&str, (DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
    for e in &base {
        let b = bounds
            .entry(&*e.parsed().id)
            .or_insert((e.version_at, e.version_at));
        b.0 = b.0.min(e.version_at);
        b.1 = b.1.max(e.version_at);
    }
    base.into_iter()
        .filter(|e| {
            let (first, last) = bounds
                .get(&*e.parsed().id)
                .copied()
                .unwrap_or((e.version_at, e.version_at));
            wanted.iter().any(|w| match w {
                VersionSel::Last => e.version_at == last,
                VersionSel::First => e.version_at == first,
                VersionSel::All => true,
                VersionSel::At(t) => e.version_at == *t,
            })
        })
        .collect()
}

/// One page: the entries after `next`, at most `limit`; `more` and the
/// token of the next page.
fn page<'e>(selected: Vec<&'e Entry>, f: &Filters) -> (Vec<&'e Entry>, bool, Option<String>) {
    let mut rest = selected
        .into_iter()
        .filter(|e| f.next.is_none_or(|k| e.key > k))
        .peekable();
    let items: Vec<&Entry> = rest.by_ref().take(f.limit).collect();
    let more = rest.peek().is_some();
    let next = if more {
        items.last().map(|e| encode_next(&e.key))
    } else {
        None
    };
    (items, more, next)
}

/// A TAXII envelope (or versions list): every member optional, so that
/// an empty answer is the empty envelope `{}`.
#[derive(Serialize)]
struct Envelope<'a, T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    more: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    objects: Option<&'a [T]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    versions: Option<&'a [T]>,
}

/// A paged answer (`list` named `objects`, or `versions` when
/// `versions` is true) with the `X-TAXII-Date-Added-First/Last` headers.
fn paged_response<T: Serialize>(
    items: &[&Entry],
    more: bool,
    next: Option<String>,
    list: &[T],
    versions: bool,
) -> Response {
    let empty = items.is_empty() && !more;
    let list = (!empty).then_some(list);
    let body = Envelope {
        more: (!empty).then_some(more),
        next,
        objects: if versions { None } else { list },
        versions: if versions { list } else { None },
    };
    let mut response = taxii_body(StatusCode::OK, &body);
    if let (Some(first), Some(last)) = (items.first(), items.last()) {
        for (name, at) in [
            ("x-taxii-date-added-first", first.added),
            ("x-taxii-date-added-last", last.added),
        ] {
            if let Ok(v) = HeaderValue::from_str(&ts(&at)) {
                response.headers_mut().insert(name, v);
            }
        }
    }
    response
}

/// An envelope's objects, borrowed (serialized without copying).
fn objects_of(items: &[&Entry]) -> Result<Vec<Box<serde_json::value::RawValue>>, TaxiiError> {
    items
        .iter()
        .map(|e| e.bundle.json(e.parsed()))
        .collect::<Result<_, ApiError>>()
        .map_err(TaxiiError::from)
}

/// `GET .../collections/{id}/objects/`.
async fn objects(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, TaxiiError> {
    let f = parse_filters(query)?;
    let snap = snapshot(&state, Some(id)).await?;
    let (items, more, next) = page(select(&snap.entries, &f, VersionSel::Last), &f);
    Ok(paged_response(
        &items,
        more,
        next,
        &objects_of(&items)?,
        false,
    ))
}

/// `GET .../collections/{id}/manifest/`.
async fn manifest(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, TaxiiError> {
    let f = parse_filters(query)?;
    let snap = snapshot(&state, Some(id)).await?;
    let (items, more, next) = page(select(&snap.entries, &f, VersionSel::Last), &f);
    let records: Vec<Value> = items
        .iter()
        .map(|e| {
            json!({
                "id": e.parsed().id,
                "date_added": ts(&e.added),
                "version": e.version(),
                "media_type": STIX_MEDIA_TYPE,
            })
        })
        .collect();
    Ok(paged_response(&items, more, next, &records, false))
}

/// The entries of one object id, or 404.
fn only_object(
    entries: Vec<Entry>,
    object_id: &str,
    collection: &str,
) -> Result<Vec<Entry>, TaxiiError> {
    let entries: Vec<Entry> = entries
        .into_iter()
        .filter(|e| &*e.parsed().id == object_id)
        .collect();
    if entries.is_empty() {
        return Err(TaxiiError::not_found(format!(
            "no object `{object_id}` in collection `{collection}`"
        )));
    }
    Ok(entries)
}

/// `GET .../collections/{id}/objects/{object_id}/`.
async fn object(
    State(state): State<AppState>,
    Path((id, object_id)): Path<(String, String)>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, TaxiiError> {
    let f = parse_filters(query)?;
    let snap = snapshot(&state, Some(id.clone())).await?;
    let entries = only_object(snap.entries, &object_id, &id)?;
    let (items, more, next) = page(select(&entries, &f, VersionSel::Last), &f);
    Ok(paged_response(
        &items,
        more,
        next,
        &objects_of(&items)?,
        false,
    ))
}

/// `GET .../collections/{id}/objects/{object_id}/versions/`.
async fn versions(
    State(state): State<AppState>,
    Path((id, object_id)): Path<(String, String)>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, TaxiiError> {
    let mut f = parse_filters(query)?;
    f.versions = None; // not a filter of this endpoint (TAXII 2.1 §5.8)
    let snap = snapshot(&state, Some(id.clone())).await?;
    let entries = only_object(snap.entries, &object_id, &id)?;
    let (items, more, next) = page(select(&entries, &f, VersionSel::All), &f);
    let list: Vec<String> = items.iter().map(|e| e.version()).collect();
    Ok(paged_response(&items, more, next, &list, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn accept_rules() {
        for ok in [
            "application/taxii+json;version=2.1",
            "application/taxii+json; version=\"2.1\"",
            "application/taxii+json",
            "application/json",
            "text/html, */*;q=0.8",
            "",
        ] {
            assert!(acceptable(&headers(&[(header::ACCEPT, ok)])), "{ok}");
        }
        assert!(acceptable(&HeaderMap::new()));
        for bad in [
            "application/taxii+json;version=2.0",
            "text/html",
            "application/xml",
            "application/json;q=0",
        ] {
            assert!(!acceptable(&headers(&[(header::ACCEPT, bad)])), "{bad}");
        }
    }

    #[test]
    fn basic_and_bearer_credentials() {
        let basic = base64::engine::general_purpose::STANDARD.encode("anyone:tok-123");
        assert_eq!(
            credentials(&headers(&[(
                header::AUTHORIZATION,
                &format!("Basic {basic}")
            )]))
            .as_deref(),
            Some("tok-123")
        );
        assert_eq!(
            credentials(&headers(&[(header::AUTHORIZATION, "Bearer tok-9")])).as_deref(),
            Some("tok-9")
        );
        let empty = base64::engine::general_purpose::STANDARD.encode("user:");
        assert_eq!(
            credentials(&headers(&[(
                header::AUTHORIZATION,
                &format!("Basic {empty}")
            )])),
            None
        );
        assert_eq!(
            credentials(&headers(&[(header::AUTHORIZATION, "Basic !!!")])),
            None
        );
        assert_eq!(credentials(&HeaderMap::new()), None);
    }

    #[test]
    fn next_tokens_round_trip_and_refuse_garbage() {
        let key = (1_700_000_000_123_456, Uuid::new_v4(), 7);
        assert_eq!(decode_next(&encode_next(&key)), Some(key));
        for bad in [
            "",
            "1.2.3",
            "x.y.z",
            "1.00000000000000000000000000000000.1.2",
        ] {
            assert_eq!(decode_next(bad), None, "{bad}");
        }
    }

    #[test]
    fn collection_ids_are_stable_uuids() {
        assert_eq!(collection_id("all"), collection_id("all"));
        assert_ne!(collection_id("all"), collection_id("tlp/red"));
        assert_eq!(collection_id("all").get_version_num(), 8);
    }

    fn entry(bundle: &Arc<ParsedBundle>, index: usize, added_s: i64) -> Entry {
        let added = DateTime::from_timestamp(added_s, 0).unwrap();
        let p = &bundle.objects[index];
        let (_, version_at) = p.version.clone().unwrap();
        Entry {
            key: (added.timestamp_micros(), Uuid::nil(), index),
            added,
            bundle: bundle.clone(),
            index,
            version_at,
        }
    }

    #[test]
    fn version_filters_and_paging() {
        let obj = |id: &str, modified: &str| {
            json!({"type": "indicator", "id": id, "created": "2020-01-01T00:00:00.000Z",
                   "modified": modified, "spec_version": "2.1"})
        };
        let a = "indicator--00000000-0000-4000-8000-000000000001";
        let b = "indicator--00000000-0000-4000-8000-000000000002";
        let bundle = Arc::new(ParsedBundle {
            objects: [
                obj(a, "2020-01-01T00:00:00.000Z"),
                obj(a, "2021-01-01T00:00:00.000Z"),
                obj(b, "2020-06-01T00:00:00.000Z"),
            ]
            .into_iter()
            .filter_map(parsed)
            .collect(),
            spool: None,
        });
        let entries: Vec<Entry> = (0..3).map(|i| entry(&bundle, i, 100 + i as i64)).collect();
        let ids = |v: Vec<&Entry>| v.iter().map(|e| e.index).collect::<Vec<_>>();
        let f = Filters {
            limit: 10,
            ..Filters::default()
        };
        assert_eq!(ids(select(&entries, &f, VersionSel::Last)), [1, 2]);
        assert_eq!(ids(select(&entries, &f, VersionSel::First)), [0, 2]);
        assert_eq!(ids(select(&entries, &f, VersionSel::All)), [0, 1, 2]);
        let at = Filters {
            versions: Some(vec![VersionSel::At(
                parse_time("2020-01-01T00:00:00Z").unwrap(),
            )]),
            ..Filters::default()
        };
        assert_eq!(ids(select(&entries, &at, VersionSel::Last)), [0]);
        let after = Filters {
            added_after: Some(DateTime::from_timestamp(100, 0).unwrap()),
            versions: Some(vec![VersionSel::All]),
            ..Filters::default()
        };
        assert_eq!(ids(select(&entries, &after, VersionSel::Last)), [1, 2]);

        let mut paging = Filters {
            limit: 2,
            versions: Some(vec![VersionSel::All]),
            ..Filters::default()
        };
        let (first, more, next) = page(select(&entries, &paging, VersionSel::All), &paging);
        assert_eq!((ids(first), more), (vec![0, 1], true));
        paging.next = next.as_deref().and_then(decode_next);
        let (second, more, next) = page(select(&entries, &paging, VersionSel::All), &paging);
        assert_eq!((ids(second), more, next), (vec![2], false, None));
    }
}
