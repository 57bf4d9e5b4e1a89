//! `liaison agreement …`: negotiate sharing agreements through the running
//! node (DESIGN §5). The node signs, stores and sends; these commands show
//! what happened, in plain words.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use liaison_api::agreements::{AgreementView, NoticeRequest, ProposeRequest};
use serde_json::Value;

use crate::client::{path_segment, Client};
use crate::remote::{decode, emit, non_empty, pretty, table, when};

/// How long `propose`, `sign`, `decline` and `revoke` wait to see the peer
/// acknowledge the message before saying it is queued.
const ACK_WAIT: Duration = Duration::from_secs(5);

/// `agreement propose --peer B FILE`.
pub fn propose(client: &Client, peer: &str, file: &Path, json: bool) -> Result<()> {
    let peer = non_empty(peer, "--peer")?;
    let toml =
        fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let request = ProposeRequest {
        peer: peer.to_string(),
        toml,
    };
    let answer: Value = client.post_json("/api/agreements", &request)?;
    let a: AgreementView = decode("/api/agreements", answer)?;
    report(client, a, json, "proposed")
}

/// `agreement list`.
pub fn list(client: &Client, json: bool) -> Result<()> {
    let answer: Value = client.get_json("/api/agreements")?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let all: Vec<AgreementView> = decode("/api/agreements", answer)?;
    if all.is_empty() {
        return emit(
            "no agreements yet: propose one with `liaison agreement propose --peer PEER FILE`\n",
        );
    }
    let rows = all
        .iter()
        .map(|a| {
            vec![
                a.id.to_string(),
                a.version.to_string(),
                a.peer_name.clone().unwrap_or_else(|| short(&a.peer)),
                state_words(a),
                format!("{} – {}", when(&a.valid_from), when(&a.valid_until)),
                a.title.clone(),
            ]
        })
        .collect::<Vec<_>>();
    emit(&table(
        &["ID", "VERSION", "PEER", "STATE", "VALID", "TITLE"],
        &rows,
    ))
}

/// `agreement show ID`: every version, newest first, both directions in words.
pub fn show(client: &Client, id: &str, json: bool) -> Result<()> {
    let id = non_empty(id, "ID")?;
    let path = format!("/api/agreements/{}", path_segment(id));
    let answer: Value = client.get_json(&path)?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let versions: Vec<AgreementView> = decode(&path, answer)?;
    let mut out = String::new();
    for a in &versions {
        out += &render(a);
        out.push('\n');
    }
    emit(&out)
}

/// `agreement sign ID`, `decline ID`, `revoke ID`.
pub fn decide(client: &Client, id: &str, action: &str, reason: &str, json: bool) -> Result<()> {
    let id = non_empty(id, "ID")?;
    let path = format!("/api/agreements/{}/{action}", path_segment(id));
    let answer: Value = client.post_json(
        &path,
        &NoticeRequest {
            reason: reason.to_string(),
        },
    )?;
    let a: AgreementView = decode(&path, answer)?;
    let done = match action {
        "sign" => "countersigned: in force",
        "decline" => "declined",
        _ => "revoked",
    };
    report(client, a, json, done)
}

/// Print the new state, after waiting briefly for the peer's acknowledgement.
fn report(client: &Client, a: AgreementView, json: bool, done: &str) -> Result<()> {
    let path = format!("/api/agreements/{}", a.id);
    let deadline = Instant::now() + ACK_WAIT;
    let mut latest = a;
    loop {
        let pending = latest.messages.iter().any(|m| m.state == "pending");
        if !pending || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        let versions: Vec<AgreementView> = decode(&path, client.get_json(&path)?)?;
        if let Some(v) = versions.into_iter().find(|v| v.version == latest.version) {
            latest = v;
        }
    }
    if json {
        return emit(&pretty(&serde_json::to_value(&latest)?)?);
    }
    let mut out = format!("agreement: {} v{} {done}\n", latest.id, latest.version);
    out += &message_lines(&latest);
    out += &format!(
        "see it in words with `liaison agreement show {}`\n",
        latest.id
    );
    emit(&out)
}

fn message_lines(a: &AgreementView) -> String {
    let peer = a.peer_name.clone().unwrap_or_else(|| short(&a.peer));
    a.messages
        .iter()
        .map(|m| match m.state.as_str() {
            "sent" => format!(
                "  {} acknowledged by {peer} at {}\n",
                m.kind,
                m.completed_at.as_ref().map(when).unwrap_or_default()
            ),
            "failed" => format!(
                "  {} refused by {peer}: {}\n",
                m.kind,
                m.last_error.as_deref().unwrap_or("?")
            ),
            _ => format!(
                "  {} queued for {peer} ({} failed attempt(s){}); it is retried until {peer} answers\n",
                m.kind,
                m.attempts,
                m.last_error
                    .as_deref()
                    .map(|e| format!(", last: {e}"))
                    .unwrap_or_default()
            ),
        })
        .collect()
}

fn render(a: &AgreementView) -> String {
    let mut out = format!("agreement {} version {}\n", a.id, a.version);
    out += &format!("  state:    {}\n", state_words(a));
    out += &format!(
        "  peer:     {} ({})\n",
        a.peer_name.as_deref().unwrap_or("not pinned"),
        a.peer
    );
    out += &format!("  sha256:   {}\n", a.sha256);
    out += &format!("  signed by {} of 2 parties\n", a.signed_by.len());
    out += &message_lines(a);
    out.push('\n');
    for line in a.description.lines() {
        out += "  ";
        out += line;
        out.push('\n');
    }
    out
}

fn state_words(a: &AgreementView) -> String {
    use liaison_core::agreement::AgreementState as S;
    match a.state {
        S::InForce if a.in_force_now => "in force".into(),
        S::InForce => "signed by both, outside its validity window".into(),
        S::ProposedByUs => "proposed by us, waiting for the peer".into(),
        S::ProposedByPeer => "proposed by the peer: `liaison agreement sign` or `decline`".into(),
        other => other.to_string(),
    }
}

fn short(node_id: &str) -> String {
    node_id.chars().take(12).collect::<String>() + "…"
}
