//! Share content as the API holds it: in memory (from a JSON request) or
//! spooled to an anonymous file (from a `multipart/form-data` upload), so
//! that a large bundle is never in memory whole on its way to the outbox.
//!
//! A multipart `POST /api/shares` has two parts: `request`, the JSON of
//! [`CreateShareRequest`] without `content`, and `content`, the raw bundle.
//! The content is written to the spool as it arrives, hashed on the way,
//! and refused with 413 the moment it passes the node's limit.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use axum::extract::Multipart;
use axum::http::StatusCode;
use liaison_core::content::Inventory;
use liaison_core::manifest::sha256_hex;
use liaison_core::release::Drafted;
use liaison_store::{from_start, ChunkReader, Payload};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::views::{CreateShareRequest, ReviseShareRequest};

/// A request that may carry its content inline (JSON) or beside it
/// (multipart).
pub(crate) trait WithContent: serde::de::DeserializeOwned {
    /// Whether the content is inline.
    fn has_content(&self) -> bool;
}

impl WithContent for CreateShareRequest {
    fn has_content(&self) -> bool {
        self.content.is_some() || self.content_base64.is_some()
    }
}

impl WithContent for ReviseShareRequest {
    fn has_content(&self) -> bool {
        self.content.is_some() || self.content_base64.is_some()
    }
}

/// Content that is held in memory only up to this size when a plan needs
/// all of it (redaction, a joint log): beyond, the share is refused with a
/// clear reason instead of the node running out of memory.
pub(crate) const MAX_IN_MEMORY: u64 = 16 * 1024 * 1024;

/// The drafted content of a share.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// In memory.
    Bytes(Vec<u8>),
    /// In an anonymous spool file.
    Spooled {
        file: Arc<File>,
        len: u64,
        sha256: String,
    },
}

impl Body {
    /// Its size in bytes.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::Spooled { len, .. } => *len,
        }
    }

    /// SHA-256 (hex).
    pub(crate) fn sha256(&self) -> String {
        match self {
            Body::Bytes(b) => sha256_hex(b),
            Body::Spooled { sha256, .. } => sha256.clone(),
        }
    }

    /// A reader from its start.
    pub(crate) fn reader(&self) -> io::Result<Box<dyn Read + '_>> {
        Ok(match self {
            Body::Bytes(b) => Box::new(&b[..]),
            Body::Spooled { file, .. } => Box::new(BufReader::new(from_start(file)?)),
        })
    }

    /// The bytes, read into memory if they are spooled (up to
    /// [`MAX_IN_MEMORY`]; `why` says what needs them, for the refusal).
    pub(crate) fn in_memory(&self, why: &str) -> Result<Cow<'_, [u8]>, ApiError> {
        match self {
            Body::Bytes(b) => Ok(Cow::Borrowed(b)),
            Body::Spooled { len, .. } if *len > MAX_IN_MEMORY => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "{why} needs the whole content in memory, and its {len} bytes are more \
                     than the {MAX_IN_MEMORY} bytes this node holds at once"
                ),
            )),
            Body::Spooled { file, len, .. } => {
                let mut out = Vec::with_capacity(usize::try_from(*len).unwrap_or(0));
                from_start(file)
                    .and_then(|mut f| f.read_to_end(&mut out))
                    .map_err(|e| ApiError::internal(format!("reading spooled content: {e}")))?;
                Ok(Cow::Owned(out))
            }
        }
    }

    /// As the release planner sees it (`inventory`: what validation found).
    pub(crate) fn drafted<'a>(&'a self, inventory: &'a Inventory) -> Drafted<'a> {
        match self {
            Body::Bytes(b) => Drafted::Bytes(b),
            Body::Spooled { len, .. } => Drafted::Streamed {
                size: *len,
                inventory,
            },
        }
    }

    /// As the store takes it.
    pub(crate) fn payload(&self) -> Payload {
        match self {
            Body::Bytes(b) => Payload::Bytes(b.clone()),
            Body::Spooled { file, len, .. } => Payload::File(file.clone(), *len),
        }
    }
}

/// A response body of `len` bytes read with `read(offset, max)` on the
/// blocking pool, 1 MiB at a time: a large body is never in memory whole.
pub(crate) fn chunked_body(
    len: u64,
    read: impl Fn(u64, usize) -> io::Result<Vec<u8>> + Send + Sync + 'static,
) -> axum::body::Body {
    let read = Arc::new(read);
    let chunks = futures_util::stream::unfold(0u64, move |offset| {
        let read = read.clone();
        async move {
            if offset >= len {
                return None;
            }
            let got = tokio::task::spawn_blocking(move || read(offset, CHUNK))
                .await
                .map_err(io::Error::other)
                .and_then(|r| r);
            match got {
                Ok(buf) if !buf.is_empty() => {
                    let next = offset + buf.len() as u64;
                    Some((Ok(axum::body::Bytes::from(buf)), next))
                }
                // Shorter than announced: end (the client sees it short).
                Ok(_) => None,
                Err(e) => Some((Err(e), len)),
            }
        }
    });
    axum::body::Body::from_stream(chunks)
}

/// A response body streaming the first `len` bytes of `file`.
pub(crate) fn file_body(file: File, len: u64) -> axum::body::Body {
    chunked_body(len, move |offset, max| {
        let mut f: &File = &file;
        f.seek(SeekFrom::Start(offset))?;
        let want = usize::try_from(len - offset).map_or(max, |l| l.min(max));
        let mut buf = vec![0u8; want];
        f.read_exact(&mut buf)?;
        Ok(buf)
    })
}

/// Bytes read from the store, or streamed in a response, at a time.
pub(crate) const CHUNK: usize = 1024 * 1024;

/// Stored content above this size is worked on through a spool file on
/// disk (re-planned, re-sealed, exported as STIX, served over TAXII);
/// below, in memory.
pub(crate) const SPOOL_ABOVE: u64 = 1024 * 1024;

/// Content of `size` bytes kept in the store, read with `chunk(offset)`: in
/// memory when small, else copied chunk by chunk into a spool file in `dir`.
pub(crate) fn from_store(
    dir: &Path,
    size: u64,
    chunk: impl FnMut(u64) -> Result<Vec<u8>, liaison_store::StoreError>,
) -> Result<Body, ApiError> {
    let failed = |e: io::Error| ApiError::internal(format!("spooling stored content: {e}"));
    let mut reader = ChunkReader::new(chunk);
    if size <= SPOOL_ABOVE {
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let copied = reader.read_to_end(&mut bytes);
        reader.take_error()?;
        copied.map_err(failed)?;
        return complete(bytes.len() as u64, size).map(|()| Body::Bytes(bytes));
    }
    let file = spool_file(dir)?;
    let mut out = Hashing::new(BufWriter::new(&file));
    let copied = io::copy(&mut reader, &mut out);
    reader.take_error()?;
    copied.map_err(failed)?;
    out.flush().map_err(failed)?;
    let (len, sha256) = (out.len, out.digest());
    drop(out);
    complete(len, size)?;
    Ok(Body::Spooled {
        file: Arc::new(file),
        len,
        sha256,
    })
}

/// Stored content must be as long as its record says.
fn complete(got: u64, size: u64) -> Result<(), ApiError> {
    if got == size {
        return Ok(());
    }
    Err(ApiError::internal(format!(
        "stored content ends at {got} of {size} bytes"
    )))
}

/// Writes through to `inner`, hashing and counting what passes.
pub(crate) struct Hashing<W> {
    pub inner: W,
    pub hasher: Sha256,
    pub len: u64,
}

impl<W: Write> Hashing<W> {
    pub(crate) fn new(inner: W) -> Hashing<W> {
        Hashing {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// The hex digest of what was written.
    pub(crate) fn digest(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.hasher.clone().finalize())
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A new anonymous spool file in `dir`.
pub(crate) fn spool_file(dir: &Path) -> Result<File, ApiError> {
    tempfile::tempfile_in(dir).map_err(|e| {
        ApiError::internal(format!(
            "cannot create a spool file in {}: {e}",
            dir.display()
        ))
    })
}

/// Read a share request sent as JSON (content inside, at most
/// [`crate::MAX_SHARE_REQUEST`] bytes) or as multipart (see the module);
/// the content when it came beside the request.
pub(crate) async fn read_request<T: WithContent>(
    state: &crate::AppState,
    request: axum::extract::Request,
) -> Result<(T, Option<Body>), ApiError> {
    use axum::extract::FromRequest;
    let multipart = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if multipart {
        let form = Multipart::from_request(request, state)
            .await
            .map_err(|e| ApiError::bad_request("invalid_request", e.body_text()))?;
        let (req, body) = read_multipart(
            form,
            &state.hooks.spool_dir(),
            state.hooks.max_bundle_bytes(),
        )
        .await?;
        return Ok((req, Some(body)));
    }
    // The share routes lift axum's body limit for multipart; JSON keeps one.
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, crate::MAX_SHARE_REQUEST)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "a JSON share request is at most {} bytes; send larger content as \
                     multipart/form-data (`liaison share create` does)",
                    crate::MAX_SHARE_REQUEST
                ),
            )
        })?;
    let request = axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes));
    let axum::Json(req) = axum::Json::<T>::from_request(request, state)
        .await
        .map_err(ApiError::from)?;
    Ok((req, None))
}

/// Read a multipart share request: its `request` JSON part and its
/// `content` part, spooled to `dir` (at most `max` bytes).
async fn read_multipart<T: WithContent>(
    mut form: Multipart,
    dir: &Path,
    max: u64,
) -> Result<(T, Body), ApiError> {
    let bad = |m: String| ApiError::bad_request("invalid_request", m);
    let mut request: Option<T> = None;
    let mut body: Option<Body> = None;
    while let Some(mut field) = form
        .next_field()
        .await
        .map_err(|e| bad(format!("multipart: {e}")))?
    {
        match field.name() {
            Some("request") => {
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|e| bad(format!("multipart `request`: {e}")))?;
                if bytes.len() > 1024 * 1024 {
                    return Err(bad("the `request` part is larger than 1 MiB".into()));
                }
                let req: T = serde_json::from_slice(&bytes)
                    .map_err(|e| bad(format!("the `request` part: {e}")))?;
                if req.has_content() {
                    return Err(bad(
                        "a multipart request carries its content in the `content` part, \
                         not in `request`"
                            .into(),
                    ));
                }
                request = Some(req);
            }
            Some("content") => {
                let file = spool_file(dir)?;
                let mut out = Hashing::new(BufWriter::new(&file));
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| bad(format!("multipart `content`: {e}")))?
                {
                    if out.len + chunk.len() as u64 > max {
                        return Err(ApiError::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "too_large",
                            format!(
                                "the content is more than {max} bytes, the most this node \
                                 shares ([limits] max_bundle_bytes)"
                            ),
                        ));
                    }
                    // Small writes into a buffer; the disk wait is brief.
                    out.write_all(&chunk)
                        .map_err(|e| ApiError::internal(format!("spooling content: {e}")))?;
                }
                out.flush()
                    .map_err(|e| ApiError::internal(format!("spooling content: {e}")))?;
                let (len, sha256) = (out.len, out.digest());
                drop(out);
                body = Some(Body::Spooled {
                    file: Arc::new(file),
                    len,
                    sha256,
                });
            }
            Some(other) => {
                return Err(bad(format!(
                    "unknown multipart part `{other}` (expected `request` and `content`)"
                )))
            }
            None => return Err(bad("a multipart part without a name".into())),
        }
    }
    match (request, body) {
        (Some(r), Some(b)) => Ok((r, b)),
        _ => Err(bad(
            "a multipart share request needs a `request` part and a `content` part".into(),
        )),
    }
}
