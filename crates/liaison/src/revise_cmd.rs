//! `liaison share revise` and `liaison share recall`, through the node.

use std::path::Path;

use anyhow::{anyhow, Result};
use chrono::{Duration, Utc};
use liaison_api::views::{RecallRequest, ReviseShareRequest, ShareView};
use liaison_core::{Kind, Tlp};
use serde_json::Value;

use crate::client::{path_segment, Client};
use liaison_core::import::Format;

use crate::remote::{decode, emit, non_empty, pretty};
use crate::upload::share_request;

/// What `share revise` may change besides the content.
pub struct Options {
    /// New TLP (default: the share's).
    pub tlp: Option<Tlp>,
    /// Recipients to add.
    pub to: Vec<String>,
    /// Content kind (default: detected, or the share's).
    pub kind: Option<Kind>,
    /// Input format.
    pub format: Format,
    /// Expiry.
    pub expires: Option<String>,
}

/// `--expires`: an RFC 3339 time, or `+N` with `s`, `m`, `h` or `d`.
pub fn expiry(text: &str) -> Result<String> {
    let t = text.trim();
    if let Some(rel) = t.strip_prefix('+') {
        let (n, unit) = rel.split_at(rel.len().saturating_sub(1));
        let n: i64 = n.parse().map_err(|_| {
            anyhow!("`{t}` is not an expiry: use +30m, +12h, +7d or an RFC 3339 time")
        })?;
        let d = match unit {
            "s" => Duration::seconds(n),
            "m" => Duration::minutes(n),
            "h" => Duration::hours(n),
            "d" => Duration::days(n),
            _ => return Err(anyhow!("`{t}` is not an expiry: the unit is s, m, h or d")),
        };
        return Ok((Utc::now() + d).to_rfc3339());
    }
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.to_rfc3339())
        .map_err(|_| anyhow!("`{t}` is not an expiry: use +30m, +12h, +7d or an RFC 3339 time"))
}

/// `share revise ID FILE …`.
pub fn revise(client: &Client, id: &str, file: &Path, o: Options, json: bool) -> Result<()> {
    let id = non_empty(id, "ID")?;
    let path = format!("/api/shares/{}", path_segment(id));
    let original: ShareView = decode(&path, client.get_json(&path)?)?;
    let tlp = match o.tlp {
        Some(t) => t,
        None => original
            .tlp
            .parse()
            .map_err(|e| anyhow!("share {id} has label {}: {e}", original.tlp))?,
    };
    let kind = o.kind.or_else(|| original.kind.parse().ok());
    // The recipients are the share's (the node adds them); `to` only adds.
    let placeholder = vec![original.id.to_string()];
    let input = share_request(tlp, &placeholder, kind, o.format, &[], file)?;
    let req = ReviseShareRequest {
        tlp: Some(input.request.tlp),
        kind: input.request.kind,
        content: None,
        content_base64: None,
        to: o.to,
        individuals: Vec::new(),
        not_after: o.expires.as_deref().map(expiry).transpose()?,
    };
    // As `share create`: the content streams beside the request.
    let answer = input.upload.post(client, &format!("{path}/revise"), &req)?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let s: ShareView = decode(&path, answer)?;
    let mut out = format!("share: {}\n", s.id);
    out += &format!("revises:   {id}\n");
    out += &format!("tlp:       {}\n", s.tlp);
    out += &format!("state:     {}\n", s.state.replace('_', " "));
    let names: Vec<String> = s
        .deliveries
        .iter()
        .map(|d| d.peer_name.clone().unwrap_or_else(|| d.peer.clone()))
        .collect();
    if !names.is_empty() {
        out += &format!("to:        {}\n", names.join(", "));
    }
    emit(&out)
}

/// `share recall ID --reason TEXT`.
pub fn recall(client: &Client, id: &str, reason: &str, json: bool) -> Result<()> {
    let id = non_empty(id, "ID")?;
    let path = format!("/api/shares/{}/recall", path_segment(id));
    let answer: Value = client.post_json(
        &path,
        &RecallRequest {
            reason: reason.to_string(),
        },
    )?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let s: ShareView = decode(&path, answer)?;
    let n = s.deliveries.len();
    emit(&format!(
        "recalled share {}: a signed recall is on its way to {n} recipient(s); \
         follow their signed receipts with `liaison share show {}`\n",
        s.id, s.id
    ))
}
