//! What `share create`, `share revise` and `share preview` send from a
//! file: its kind told here, so that messages name the file, and MISP
//! events, IOC lists and CSV converted to a STIX bundle here, client-side,
//! with the import report on stderr.
//!
//! A STIX bundle or CSAF advisory goes as it is, and then it is never held
//! in memory: its kind is told in one streamed pass
//! ([`content::detect_json_reader`]) and the file is read again as it is
//! uploaded, so `share create` of a bundle of any size runs in a few MiB.
//! Only what must be looked at whole (a conversion, a note) is read whole.

use std::fs;
use std::io::{self, Seek};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use liaison_api::views::CreateShareRequest;
use liaison_core::import::{self, Format, ImportError, Imported};
use liaison_core::{content, Kind, Tlp};
use serde::Serialize;
use serde_json::Value;

use crate::client::{Client, ClientError};

/// A share to send: the request without its content, and the content.
pub struct ShareInput {
    /// `content` and `content_base64` are `None`: the content is `upload`.
    pub request: CreateShareRequest,
    pub upload: Upload,
}

/// The content of a share.
pub enum Upload {
    /// A file that goes as it is, read as it is sent.
    File { file: fs::File, len: u64 },
    /// Bytes read whole, or made by a conversion.
    Bytes(Vec<u8>),
}

impl Upload {
    /// `POST path` as multipart: `meta` as the `request` part and the
    /// content as a raw part, which the node spools to disk and checks as
    /// it streams (no JSON escaping or base64, and no size ceiling but the
    /// node's `[limits] max_bundle_bytes`).
    pub fn post<B: Serialize>(
        self,
        client: &Client,
        path: &str,
        meta: &B,
    ) -> Result<Value, ClientError> {
        match self {
            Upload::File { mut file, len } => client.post_multipart(path, meta, &mut file, len),
            Upload::Bytes(bytes) => {
                client.post_multipart(path, meta, &mut &bytes[..], bytes.len() as u64)
            }
        }
    }

    /// The content in memory: for requests that carry it inside JSON.
    fn into_bytes(self, file: &Path) -> Result<Vec<u8>> {
        match self {
            Upload::Bytes(bytes) => Ok(bytes),
            Upload::File {
                file: mut handle, ..
            } => {
                let mut bytes = Vec::new();
                io::Read::read_to_end(&mut handle, &mut bytes)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                Ok(bytes)
            }
        }
    }
}

impl ShareInput {
    /// The request with its content inside, for `POST /api/shares/preview`
    /// (JSON). Text goes as text (readable in logs and the ledger); anything
    /// else as base64, so that every byte survives JSON.
    pub fn into_json_request(self, file: &Path) -> Result<CreateShareRequest> {
        let mut request = self.request;
        match String::from_utf8(self.upload.into_bytes(file)?) {
            Ok(text) => request.content = Some(text),
            Err(e) => request.content_base64 = Some(data_encoding::BASE64.encode(e.as_bytes())),
        }
        Ok(request)
    }
}

/// The share of `file` under `tlp` to the peers `to` (by name or id).
pub fn share_request(
    tlp: Tlp,
    to: &[String],
    kind: Option<Kind>,
    format: Format,
    individuals: &[String],
    file: &Path,
) -> Result<ShareInput> {
    let to: Vec<String> = to
        .iter()
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    if to.is_empty() {
        bail!("--to must name at least one peer");
    }
    let (kind, upload) = read_content(kind, format, tlp, file)?;
    Ok(ShareInput {
        request: CreateShareRequest {
            tlp: tlp.to_string(),
            to,
            kind: Some(kind.to_string()),
            content: None,
            content_base64: None,
            individuals: individuals.to_vec(),
            incident: None,
            not_after: None,
        },
        upload,
    })
}

/// The kind and content to share from `file`.
fn read_content(
    kind: Option<Kind>,
    format: Format,
    tlp: Tlp,
    file: &Path,
) -> Result<(Kind, Upload)> {
    let cannot_read = || format!("cannot read {}", file.display());
    let mut handle = fs::File::open(file).with_context(cannot_read)?;
    let meta = handle.metadata().with_context(cannot_read)?;
    // A pipe (`/dev/stdin`, `<(…)`) can be read only once, and has no
    // length: it is read whole.
    if meta.is_file() {
        if let Some(kind) = as_it_is(kind, format, &handle)? {
            handle.rewind().with_context(cannot_read)?;
            let len = meta.len();
            return Ok((kind, Upload::File { file: handle, len }));
        }
    }
    let bytes = fs::read(file).with_context(cannot_read)?;
    let (bytes, kind) = prepare_content(bytes, kind, format, tlp, file)?;
    let kind = kind_or_detected(kind, &bytes, file)?;
    Ok((kind, Upload::Bytes(bytes)))
}

/// `kind` when given, else what `bytes` (read from `file`) look like.
pub fn kind_or_detected(kind: Option<Kind>, bytes: &[u8], file: &Path) -> Result<Kind> {
    match kind {
        Some(k) => Ok(k),
        None => content::detect(bytes).ok_or_else(|| {
            anyhow!(
                "cannot tell what {} holds; pass --kind stix|csaf|note|log",
                file.display()
            )
        }),
    }
}

/// The kind of a file that goes as it is, told without reading it into
/// memory; `None` when it must be read whole (to convert it, or to tell a
/// note from a list). Agrees with [`prepare_content`] on what goes as it is.
fn as_it_is(kind: Option<Kind>, format: Format, file: &fs::File) -> Result<Option<Kind>> {
    Ok(match (format, kind) {
        // `--kind` alone says what the file is.
        (Format::Auto, Some(k)) => Some(k),
        (Format::Auto, None) => content::detect_json_reader(file),
        (f, k) if !f.is_convertible() => Some(format_kind(f, k)?),
        _ => None,
    })
}

/// The kind `format` gives, refused when `--kind` says another.
fn format_kind(format: Format, kind: Option<Kind>) -> Result<Kind> {
    let want = match format {
        Format::Stix => Kind::Stix,
        Format::Csaf => Kind::Csaf,
        Format::Misp | Format::List | Format::Csv | Format::Auto => Kind::Stix,
    };
    if let Some(k) = kind.filter(|k| *k != want) {
        bail!(
            "--format {format} gives {} content, but --kind says {k}",
            want.as_str()
        );
    }
    Ok(want)
}

/// The bytes to share and their kind (`None`: detect them as before):
/// STIX and CSAF as they are; MISP, lists and CSV converted to STIX, the
/// import report written to stderr, and refused when `tlp` is lower than
/// the TLP their own tags carry.
fn prepare_content(
    bytes: Vec<u8>,
    kind: Option<Kind>,
    format: Format,
    tlp: Tlp,
    file: &Path,
) -> Result<(Vec<u8>, Option<Kind>)> {
    let format = match (format, kind) {
        (Format::Auto, Some(_)) => return Ok((bytes, kind)),
        (Format::Auto, None) => match import::detect(&bytes) {
            Ok(f) => f,
            Err(e @ ImportError::NotJson { .. }) => {
                eprintln!(
                    "note: {}: {e}; sending it as it is (pass --format to insist)",
                    file.display()
                );
                return Ok((bytes, None));
            }
            // Not STIX, CSAF, MISP, CSV or an IOC list: a note (or refused
            // below when it is not text).
            Err(_) => return Ok((bytes, None)),
        },
        (f, _) => f,
    };
    let want = format_kind(format, kind)?;
    if !format.is_convertible() {
        return Ok((bytes, Some(want)));
    }
    let imported = convert(&bytes, format, &import::Options::default(), file)?;
    eprint!("{}", imported.report);
    if let Some(inner) = imported.report.suggested_tlp.filter(|t| *t > tlp) {
        bail!(
            "--tlp {tlp} is lower than {inner}, the TLP the content itself carries ({}): a bundle may not be labelled below its content, and the node would refuse it; pass --tlp {} or higher",
            imported
                .report
                .tlp_source
                .as_deref()
                .unwrap_or("its tags"),
            inner.stix_value()
        );
    }
    Ok((imported.bundle, Some(Kind::Stix)))
}

/// Convert MISP, list or CSV `bytes` to a STIX bundle, with a progress bar
/// on stderr for inputs over 1 MiB when stderr is a terminal.
pub fn convert(
    bytes: &[u8],
    format: Format,
    options: &import::Options,
    file: &Path,
) -> Result<Imported> {
    use std::io::IsTerminal;
    const SHOW_ABOVE: usize = 1 << 20;
    let bar = if bytes.len() > SHOW_ABOVE && io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(bytes.len() as u64);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{msg:>10} [{bar:40}] {percent:>3}% {elapsed}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let result = import::import_with_progress(bytes, format, options, &mut |p| {
        bar.set_message(match p.stage {
            import::Stage::Parse => "reading",
            import::Stage::Convert => "converting",
        });
        bar.set_length(p.total.max(1));
        bar.set_position(p.done);
    });
    bar.finish_and_clear();
    result.map_err(|e| anyhow!("cannot import {}: {e}", file.display()))
}
