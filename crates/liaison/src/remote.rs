//! Commands that act on a running node through its local API: `peer`,
//! `share` and `inbox`. They never open the store themselves, so the
//! daemon stays its only writer and its hooks (wake the delivery worker,
//! refresh the pinned peers) always run.
//!
//! Every command renders its whole output first and writes it at once: a
//! failure half-way never leaves a truncated table or content on stdout.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Utc};
use liaison_api::views::{
    AddPeerRequest, CreateShareRequest, DeliveryView, InboxDetail, InboxView, PeerView,
    PreviewView, ReceiptView, RejectionView, ShareView,
};
use liaison_core::dsse::Envelope;
use liaison_core::identity::NodeId;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::client::{path_segment, Client, ClientError};
use crate::home::{load_card, Home};
use crate::upload::ShareInput;

/// A client for the node at `home`, whose config names the API address.
/// The token is checked first: without one nothing else is worth doing.
pub fn connect(home: &Home, token: Option<&str>) -> Result<Client> {
    let token = token
        .filter(|t| !t.trim().is_empty())
        .ok_or(ClientError::NoToken)?;
    let config = home.config()?;
    Ok(Client::new(&config.node.api, Some(token))?)
}

/// `peer add CARD`: pin a partner's signed identity card.
pub fn peer_add(
    client: &Client,
    card: &Path,
    name: Option<&str>,
    tier: Option<u8>,
    json: bool,
) -> Result<()> {
    // Verify locally first: a wrong file is then named as such, before the
    // node is asked anything.
    load_card(card)?;
    let raw = fs::read(card).with_context(|| format!("cannot read card {}", card.display()))?;
    let card_json: Value = serde_json::from_slice(&raw)
        .with_context(|| format!("card {} is not JSON", card.display()))?;
    let request = AddPeerRequest {
        card: card_json,
        name: name.map(str::to_string),
        tier,
    };
    let answer: Value = client.post_json("/api/peers", &request)?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let peer: PeerView = decode("/api/peers", answer)?;
    let mut out = format!("pinned peer {}\n", peer.name);
    out += &peer_details(&peer);
    out += "compare the fingerprint with the partner out of band (e.g. by phone)\n";
    emit(&out)
}

/// `peer list`.
pub fn peer_list(client: &Client, json: bool) -> Result<()> {
    let answer: Value = client.get_json("/api/peers")?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let peers: Vec<PeerView> = decode("/api/peers", answer)?;
    if peers.is_empty() {
        return emit("no pinned peers (add one with `liaison peer add CARD`)\n");
    }
    let rows = peers
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                p.org.clone(),
                p.tier.to_string(),
                p.node_id.clone(),
                p.last_contact.as_ref().map_or_else(|| "never".into(), when),
                contact_state(p),
            ]
        })
        .collect::<Vec<_>>();
    let mut out = table(
        &[
            "NAME",
            "ORG",
            "TIER",
            "NODE ID",
            "LAST CONTACT",
            "CONTACT PATH",
        ],
        &rows,
    );
    let stale = peers.iter().filter(|p| p.contact.stale).count();
    if stale > 0 {
        out += &format!(
            "{stale} peer(s) UNVERIFIED: contact path not verified within the tier's interval (`liaison peer check`)\n"
        );
    }
    emit(&out)
}

/// The contact-path column: verified or flagged, with the last check.
fn contact_state(p: &PeerView) -> String {
    let c = &p.contact;
    let verified = c.verified_at.as_ref().map_or_else(
        || "never verified".to_string(),
        |t| format!("verified {}", when(t)),
    );
    let flag = if c.stale { "UNVERIFIED, " } else { "" };
    match (c.last_check_ok, &c.last_error) {
        (Some(false), Some(e)) => format!("{flag}{verified}; last check failed: {e}"),
        _ => format!("{flag}{verified}"),
    }
}

/// `peer check [PEER]`: ping now; non-zero exit if any check fails.
pub fn peer_check(client: &Client, peer: Option<&str>, json: bool) -> Result<()> {
    let answer: Value = match peer {
        Some(p) => {
            let p = non_empty(p, "PEER")?;
            let one: Value =
                client.post_json(&format!("/api/peers/{}/check", path_segment(p)), &json!({}))?;
            Value::Array(vec![one])
        }
        None => client.post_json("/api/contacts/check", &json!({}))?,
    };
    let checks: Vec<liaison_api::views::CheckView> = decode("/api/contacts/check", answer.clone())?;
    if json {
        emit(&pretty(&answer)?)?;
    } else if checks.is_empty() {
        emit("no pinned peers to check\n")?;
    } else {
        let mut out = String::new();
        for c in &checks {
            match (c.ok, c.rtt_ms, &c.error) {
                (true, Some(ms), _) => {
                    out += &format!(
                        "{}: contact path verified (signed pong, {ms:.2} ms)\n",
                        c.peer
                    )
                }
                (true, None, _) => out += &format!("{}: contact path verified\n", c.peer),
                (false, _, e) => {
                    out += &format!(
                        "{}: FAILED: {}\n",
                        c.peer,
                        e.as_deref().unwrap_or("no answer")
                    )
                }
            }
        }
        emit(&out)?;
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed > 0 {
        bail!("{failed} contact-path check(s) failed");
    }
    Ok(())
}

/// `peer roster PEER [--tier …] [--contact …] …`: show, or replace.
pub fn peer_roster(
    client: &Client,
    peer: &str,
    set: Option<liaison_api::views::RosterRequest>,
    json: bool,
) -> Result<()> {
    let peer = non_empty(peer, "PEER")?;
    let path = format!("/api/peers/{}", path_segment(peer));
    let answer: Value = match &set {
        Some(req) => client.put_json(&format!("{path}/roster"), req)?,
        None => client.get_json(&path)?,
    };
    if json {
        return emit(&pretty(&answer)?);
    }
    let p: PeerView = decode(&path, answer)?;
    let r = &p.roster;
    let list = |v: &[String]| {
        if v.is_empty() {
            "—".to_string()
        } else {
            v.join("; ")
        }
    };
    let or_dash = |s: &str| {
        if s.is_empty() {
            "—".to_string()
        } else {
            s.to_string()
        }
    };
    let mut out = if set.is_some() {
        format!("roster of {} updated\n", p.name)
    } else {
        String::new()
    };
    out += &format!(
        "peer:              {} ({})\ntier:              {}\n24x7 contact:      {}\nbackups:           {}\nescalation path:   {}\nfallback channel:  {}\ncontracts:         {}\ncontact path:      {}\n",
        p.name,
        p.org,
        p.tier,
        or_dash(&r.security_contact),
        list(&r.backup_contacts),
        list(&r.escalation_path),
        or_dash(&r.fallback_channel),
        list(&r.contract_refs),
        contact_state(&p),
    );
    emit(&out)
}

/// `peer remove PEER`: unpin by local name or node id.
pub fn peer_remove(client: &Client, peer: &str) -> Result<()> {
    let peer = non_empty(peer, "PEER")?;
    client.delete(&format!("/api/peers/{}", path_segment(peer)))?;
    emit(&format!("removed peer {peer}\n"))
}

/// `share create`: run policy on the node; then sign and encrypt there and
/// queue one delivery per recipient, or hold the share for approval.
pub fn share_create(client: &Client, input: ShareInput, json: bool) -> Result<()> {
    let answer = input.upload.post(client, "/api/shares", &input.request)?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let share: ShareView = decode("/api/shares", answer)?;
    let mut out = format!("share: {}\n", share.id);
    out += &format!("tlp:       {}\n", share.tlp);
    out += &format!("kind:      {} ({} bytes)\n", share.kind, share.size);
    if share.state == "awaiting_approval" {
        out += &format!(
            "state:     awaiting approval: {} distinct approval(s) needed before it is sealed\n",
            share.approvals_required
        );
        return emit(&out);
    }
    out += &format!("manifest:  sha256:{}\n", share.manifest_sha256);
    out += &redaction_lines(share.policy.as_ref());
    let rows = share
        .deliveries
        .iter()
        .map(|d| vec![recipient_name(d), d.state.clone(), d.peer.clone()])
        .collect::<Vec<_>>();
    out += &table(&["RECIPIENT", "STATE", "NODE ID"], &rows);
    out += &format!(
        "follow the receipts with `liaison share show {}`\n",
        share.id
    );
    emit(&out)
}

/// `share preview`: what `share create` would send, and what it removes,
/// per recipient; nothing is stored.
pub fn share_preview(
    client: &Client,
    request: &CreateShareRequest,
    json: bool,
    content: bool,
) -> Result<()> {
    let answer: Value = client.post_json("/api/shares/preview", request)?;
    let p: PreviewView = decode("/api/shares/preview", answer.clone())?;
    if content {
        return emit(p.content.as_deref().unwrap_or_default());
    }
    if json {
        return emit(&pretty(&answer)?);
    }
    let mut out = format!("decision: {}\n", decision_words(&p.decision));
    for r in &p.recipients {
        out += &format!(
            "recipient {}: {}\n",
            r["name"].as_str().unwrap_or("?"),
            decision_words(&r["decision"])
        );
        match r["agreement"].as_object() {
            Some(a) => {
                out += &format!(
                    "  agreement: {} v{}\n",
                    a.get("id").and_then(Value::as_str).unwrap_or("?"),
                    a.get("version").and_then(Value::as_u64).unwrap_or(0)
                )
            }
            None => out += "  agreement: none in force\n",
        }
        for reason in r["decision"]["reasons"].as_array().into_iter().flatten() {
            out += &format!("  - {}\n", reason["message"].as_str().unwrap_or("?"));
        }
        let removals = r["removals"].as_array().cloned().unwrap_or_default();
        if removals.is_empty() {
            out += "  its agreement removes nothing from this content\n";
        }
        for m in &removals {
            out += &format!("  {}\n", removal_words(m));
        }
    }
    out += &format!(
        "content to send: {} bytes, sha256:{}{}\n",
        p.size,
        p.sha256,
        if p.removals.is_empty() {
            " (unchanged)"
        } else {
            " (redacted; `--content` prints it)"
        }
    );
    emit(&out)
}

/// "allow", "needs N approval(s)" or "deny (N reasons)".
fn decision_words(d: &Value) -> String {
    match d["decision"].as_str() {
        Some("allow") => "allow".into(),
        Some("needs_approval") => format!(
            "needs {} approval(s) before release",
            d["approvals"].as_u64().unwrap_or(0)
        ),
        Some("deny") => {
            let reasons = d["reasons"].as_array().map_or(0, Vec::len);
            format!("deny ({reasons} reason(s))")
        }
        _ => "?".into(),
    }
}

fn removal_words(m: &Value) -> String {
    format!(
        "{} {} × {} (rule {})",
        m["action"].as_str().unwrap_or("?"),
        m["count"].as_u64().unwrap_or(0),
        m["target"].as_str().unwrap_or("?"),
        m["rule"].as_str().unwrap_or("?"),
    )
}

/// One line per redaction in a stored plan, or nothing.
fn redaction_lines(policy: Option<&Value>) -> String {
    let Some(list) = policy.and_then(|p| p["redacted"].as_array()) else {
        return String::new();
    };
    list.iter()
        .map(|m| format!("redacted:  {}\n", removal_words(m)))
        .collect()
}

/// `inbox export ID -o FILE`: a received STIX bundle as STIX 2.1, every
/// object marked with its TLP 2.0 marking and the official marking
/// definitions inside (`GET /api/inbox/{id}/stix`). The file is written
/// readable by the owner only: it holds TLP-labelled content.
pub fn inbox_export(client: &Client, id: &str, output: &Path) -> Result<()> {
    let id = non_empty(id, "ID")?;
    let bytes = client.get_bytes(&format!("/api/inbox/{}/stix", path_segment(id)))?;
    let objects = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|b| b["objects"].as_array().map(Vec::len))
        .unwrap_or(0);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(output)
        .with_context(|| format!("cannot create {}", output.display()))?;
    #[cfg(unix)]
    {
        // An existing file keeps its mode on open: tighten it.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", output.display()))?;
    }
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", output.display()))?;
    emit(&format!(
        "wrote {} (STIX 2.1 bundle, {objects} objects with their TLP 2.0 markings)\n",
        output.display()
    ))
}

/// `inbox forward ID --to PEER`: re-share a received CLEAR/GREEN bundle.
/// `inbox ack ID [--comment TEXT]`.
pub fn inbox_ack(client: &Client, id: &str, comment: &str, json: bool) -> Result<()> {
    let id = non_empty(id, "ID")?;
    let path = format!("/api/inbox/{}/ack", path_segment(id));
    let answer: Value = client.post_json(&path, &json!({ "comment": comment }))?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let a: liaison_api::views::AckView = decode(&path, answer)?;
    emit(&format!(
        "acknowledged bundle {id} as {} (ledger #{}); the signed acknowledgement is on its way to the originator\n",
        a.by, a.ledger_seq
    ))
}

pub fn inbox_forward(client: &Client, id: &str, to: &[String], json: bool) -> Result<()> {
    let id = non_empty(id, "ID")?;
    let path = format!("/api/inbox/{}/forward", path_segment(id));
    let answer: Value = client.post_json(&path, &serde_json::json!({ "to": to }))?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let share: ShareView = decode(&path, answer)?;
    let mut out = format!("share: {}\n", share.id);
    out += &format!(
        "re-shares: {id} ({}, unchanged, originator's signature inside)\n",
        share.tlp
    );
    let rows = share
        .deliveries
        .iter()
        .map(|d| vec![recipient_name(d), d.state.clone(), d.peer.clone()])
        .collect::<Vec<_>>();
    out += &table(&["RECIPIENT", "STATE", "NODE ID"], &rows);
    emit(&out)
}

/// `share list`.
pub fn share_list(client: &Client, json: bool) -> Result<()> {
    let answer: Value = client.get_json("/api/shares")?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let shares: Vec<ShareView> = decode("/api/shares", answer)?;
    if shares.is_empty() {
        return emit("no shares yet\n");
    }
    let rows = shares
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                when(&s.created_at),
                s.tlp.clone(),
                s.kind.clone(),
                s.size.to_string(),
                delivery_counts(&s.deliveries),
                s.deliveries
                    .iter()
                    .map(recipient_name)
                    .collect::<Vec<_>>()
                    .join(","),
            ]
        })
        .collect::<Vec<_>>();
    emit(&table(
        &["ID", "CREATED", "TLP", "KIND", "SIZE", "DELIVERY", "TO"],
        &rows,
    ))
}

/// `share show ID`: per-recipient delivery state and signed receipts.
pub fn share_show(client: &Client, id: &str, json: bool) -> Result<()> {
    let id = non_empty(id, "ID")?;
    let path = format!("/api/shares/{}", path_segment(id));
    let answer: Value = client.get_json(&path)?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let s: ShareView = decode(&path, answer)?;
    let mut out = format!("share: {}\n", s.id);
    out += &format!("created:   {} by {}\n", when(&s.created_at), s.created_by);
    out += &format!("tlp:       {}\n", s.tlp);
    out += &format!("kind:      {} ({} bytes)\n", s.kind, s.size);
    if s.state == "awaiting_approval" {
        out += &format!(
            "state:     awaiting approval ({} distinct approval(s) needed); not sealed yet\n",
            s.approvals_required
        );
    } else {
        out += &format!("manifest:  sha256:{}\n", s.manifest_sha256);
    }
    out += &redaction_lines(s.policy.as_ref());
    if let Some(prev) = s.supersedes {
        out += &format!("revises:   {prev}\n");
    }
    if let Some(next) = s.superseded_by {
        out += &format!("revised by: {next}\n");
    }
    if let Some(t) = &s.not_after {
        out += &format!("expires:   {}\n", when(t));
    }
    if let Some(r) = &s.recall {
        out += &format!(
            "RECALLED:  {} by {}: {}\n",
            when(&r.requested_at),
            r.requested_by,
            r.reason
        );
    }
    out += &format!("delivery:  {}\n", delivery_counts(&s.deliveries));
    for d in &s.deliveries {
        out += &format!("recipient {}\n", recipient_name(d));
        out += &format!("  node id:      {}\n", d.peer);
        out += &format!("  state:        {}\n", d.state);
        out += &format!("  attempts:     {}\n", d.attempts);
        if d.bytes_sent > 0 {
            // More than the envelope: a transfer that was cut and resumed.
            out += &format!(
                "  sent:         {} of a {}-byte envelope\n",
                d.bytes_sent, d.envelope_size
            );
        }
        if d.state == "pending" {
            out += &format!("  next attempt: {}\n", when(&d.next_attempt_at));
        }
        if let Some(e) = &d.last_error {
            out += &format!("  last error:   {e}\n");
        }
        if let Some(t) = &d.completed_at {
            out += &format!("  completed:    {}\n", when(t));
        }
        out += &format!("  receipt:      {}\n", delivery_receipt(d.receipt.as_ref()));
        if let Some(r) = &d.recall {
            out += &match (&r.received_at, &r.outcome) {
                (Some(t), Some(o)) => {
                    format!("  recall:       received {} ({o}, signed)\n", when(t))
                }
                _ => "  recall:       on its way (store and forward)\n".to_string(),
            };
        }
        if let Some(a) = &d.acknowledgement {
            out += &format!(
                "  acknowledged: {} by {}{}\n",
                when(&a.at),
                a.by,
                if a.comment.is_empty() {
                    String::new()
                } else {
                    format!(": {}", a.comment)
                }
            );
        }
    }
    emit(&out)
}

/// `inbox` / `inbox list`: bundles this node accepted.
pub fn inbox_list(client: &Client, all: bool, json: bool) -> Result<()> {
    let path = if all {
        "/api/inbox?all=true"
    } else {
        "/api/inbox"
    };
    let answer: Value = client.get_json(path)?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let items: Vec<InboxView> = decode("/api/inbox", answer)?;
    if items.is_empty() {
        return emit("the inbox is empty\n");
    }
    let rows = items
        .iter()
        .map(|i| {
            let mut state = if i.recalled.is_some() {
                "RECALLED".to_string()
            } else if i.expired {
                "EXPIRED".to_string()
            } else if let Some(next) = i.superseded_by {
                format!("superseded by {}", &next.to_string()[..8])
            } else if let Some(prev) = i.supersedes {
                format!("revises {}", &prev.to_string()[..8])
            } else {
                String::new()
            };
            if i.exercise {
                state = format!("EXERCISE {state}").trim_end().to_string();
            }
            vec![
                i.bundle_id.to_string(),
                when(&i.received_at),
                i.sender_org.clone(),
                i.tlp.clone(),
                i.kind.clone(),
                i.size.to_string(),
                state,
            ]
        })
        .collect::<Vec<_>>();
    emit(&table(
        &["ID", "RECEIVED", "FROM", "TLP", "KIND", "SIZE", "NOTE"],
        &rows,
    ))
}

/// `inbox rejected`.
pub fn inbox_rejected(client: &Client, json: bool) -> Result<()> {
    let answer: Value = client.get_json("/api/rejections")?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let items: Vec<RejectionView> = decode("/api/rejections", answer)?;
    if items.is_empty() {
        return emit("no delivery was refused\n");
    }
    let rows = items
        .iter()
        .map(|r| {
            vec![
                when(&r.received_at),
                r.sender.chars().take(12).collect::<String>() + "…",
                r.bundle_id.map_or("-".to_string(), |b| b.to_string()),
                r.reason.clone(),
                r.detail.clone(),
            ]
        })
        .collect::<Vec<_>>();
    emit(&table(
        &["REFUSED", "FROM NODE", "BUNDLE", "REASON", "DETAIL"],
        &rows,
    ))
}

/// `inbox show ID`: the verified manifest and this node's receipt, or with
/// `content` the content itself, byte-exact, on stdout.
pub fn inbox_show(client: &Client, id: &str, json: bool, content: bool) -> Result<()> {
    let id = non_empty(id, "ID")?;
    let path = format!("/api/inbox/{}", path_segment(id));
    if content {
        let bytes = client.get_bytes(&format!("{path}/content"))?;
        return emit_bytes(&bytes);
    }
    let answer: Value = client.get_json(&path)?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let d: InboxDetail = decode(&path, answer)?;
    let i = &d.item;
    let m = &d.manifest;
    let mut out = String::new();
    if i.exercise {
        out += "EXERCISE — part of an exercise, not a real incident\n";
    }
    if let Some(r) = &i.recalled {
        out += &format!(
            "RECALLED by its originator at {}: {} (content {})\n",
            when(&r.recalled_at),
            r.reason,
            r.outcome
        );
    } else if i.expired {
        out += "EXPIRED: treated as recalled; the content is withheld\n";
    }
    out += &format!("bundle:     {}\n", i.bundle_id);
    out += &format!("received:   {}\n", when(&i.received_at));
    if let Some(prev) = i.supersedes {
        out += &format!("revises:    {prev}\n");
    }
    if let Some(next) = i.superseded_by {
        out += &format!("revised by: {next}\n");
    }
    out += &format!(
        "from:       {} (node {}, fingerprint {})\n",
        i.sender_org,
        i.sender,
        fingerprint(&i.sender)
    );
    out += &format!("tlp:        {}\n", i.tlp);
    out += &format!("kind:       {}\n", i.kind);
    if let Some(created) = m["created"].as_str() {
        out += &format!("created:    {created}\n");
    }
    if let Some(not_after) = m["not_after"].as_str() {
        out += &format!("not after:  {not_after}\n");
    }
    if let Some(community) = m["community"].as_str() {
        out += &format!("community:  {community}\n");
    }
    for r in m["recipients"].as_array().into_iter().flatten() {
        out += &format!(
            "audience:   {} (node {})\n",
            r["org"].as_str().unwrap_or("?"),
            r["node_id"].as_str().unwrap_or("?")
        );
    }
    let c = &m["content"];
    out += &format!(
        "content:    {} bytes, {}, sha256:{}\n",
        i.size,
        c["media_type"].as_str().unwrap_or("?"),
        c["sha256"].as_str().unwrap_or("?")
    );
    out += &format!("manifest:   sha256:{}\n", i.manifest_sha256);
    out += &format!("receipt:    {}\n", signed_receipt(&d.receipt));
    out += &format!(
        "read the content with `liaison inbox show {} --content`\n",
        i.bundle_id
    );
    emit(&out)
}

fn peer_details(p: &PeerView) -> String {
    let endpoints = if p.endpoints.is_empty() {
        "(none)".to_string()
    } else {
        p.endpoints.join(", ")
    };
    format!(
        "name:        {}\norg:         {}\nnode id:     {}\nfingerprint: {}\ntier:        {}\nendpoints:   {}\n",
        p.name, p.org, p.node_id, p.fingerprint, p.tier, endpoints
    )
}

/// The local name of a delivery's recipient, or its node id once unpinned.
fn recipient_name(d: &DeliveryView) -> String {
    d.peer_name.clone().unwrap_or_else(|| d.peer.clone())
}

/// `2 delivered, 1 pending`.
fn delivery_counts(ds: &[DeliveryView]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for d in ds {
        match counts.iter_mut().find(|(s, _)| *s == d.state) {
            Some((_, n)) => *n += 1,
            None => counts.push((&d.state, 1)),
        }
    }
    if counts.is_empty() {
        return "no recipients".into();
    }
    counts
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `accepted at T` / `rejected (reason: detail) at T` / `none yet`.
fn delivery_receipt(r: Option<&ReceiptView>) -> String {
    let Some(r) = r else {
        return "none yet".into();
    };
    let at = when(&r.received_at);
    if r.accepted {
        return format!("accepted, stored {at}");
    }
    let reason = r.reason.as_deref().unwrap_or("unspecified");
    match receipt_payload(&r.signed).and_then(|p| p["outcome"]["detail"].as_str().map(String::from))
    {
        Some(detail) if !detail.is_empty() => {
            format!("rejected ({reason}: {detail}), stored {at}")
        }
        _ => format!("rejected ({reason}), stored {at}"),
    }
}

/// Summary of a receipt this node signed (the DSSE JSON the API returns).
fn signed_receipt(signed: &Value) -> String {
    let Some(p) = receipt_payload(signed) else {
        return "(not readable)".into();
    };
    let status = p["outcome"]["status"].as_str().unwrap_or("?");
    let at = p["received_at"].as_str().unwrap_or("?");
    match p["outcome"]["reason"].as_str() {
        Some(reason) => format!("{status} ({reason}), signed by this node, {at}"),
        None => format!("{status}, signed by this node, {at}"),
    }
}

/// The body of a signed receipt, for display only: the node verified (or
/// itself signed) it before storing, and `--json` shows the signed form.
fn receipt_payload(signed: &Value) -> Option<Value> {
    let envelope: Envelope = serde_json::from_value(signed.clone()).ok()?;
    let body = envelope.unverified_payload().ok()?;
    serde_json::from_slice(&body).ok()
}

fn fingerprint(node_id: &str) -> String {
    node_id
        .parse::<NodeId>()
        .map(|n| n.fingerprint())
        .unwrap_or_else(|_| "?".into())
}

/// RFC 3339 to the second, in UTC.
pub(crate) fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(crate) fn non_empty<'a>(value: &'a str, what: &str) -> Result<&'a str> {
    let v = value.trim();
    if v.is_empty() {
        bail!("{what} must not be empty");
    }
    Ok(v)
}

pub(crate) fn decode<T: DeserializeOwned>(path: &str, v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| {
        anyhow!(ClientError::Decode {
            path: path.to_string(),
            reason: e.to_string(),
        })
    })
}

pub(crate) fn pretty(v: &Value) -> Result<String> {
    Ok(serde_json::to_string_pretty(v)? + "\n")
}

/// Left-aligned columns, two spaces apart; the last column is not padded.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(cell);
            if i + 1 < widths.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                s.extend(std::iter::repeat_n(' ', pad));
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(&mut headers.iter().copied());
    for row in rows {
        out += &line(&mut row.iter().map(String::as_str));
    }
    out
}

pub(crate) fn emit(text: &str) -> Result<()> {
    emit_bytes(text.as_bytes())
}

/// Write to stdout; a reader that went away (`| head`) is not an error.
pub(crate) fn emit_bytes(bytes: &[u8]) -> Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e).context("cannot write to stdout"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_do_not_trail_spaces() {
        let t = table(
            &["A", "BB", "C"],
            &[vec!["long".into(), "x".into(), "".into()]],
        );
        assert_eq!(t, "A     BB  C\nlong  x\n");
    }

    #[test]
    fn delivery_counts_keep_first_seen_order() {
        let d = |state: &str| DeliveryView {
            peer: "n".into(),
            peer_name: None,
            state: state.into(),
            attempts: 0,
            envelope_size: 0,
            bytes_sent: 0,
            next_attempt_at: Utc::now(),
            last_error: None,
            completed_at: None,
            receipt: None,
            acknowledgement: None,
            recall: None,
        };
        let ds = [d("delivered"), d("pending"), d("delivered")];
        assert_eq!(delivery_counts(&ds), "2 delivered, 1 pending");
        assert_eq!(delivery_counts(&[]), "no recipients");
    }

    #[test]
    fn receipts_show_the_outcome_and_the_signed_detail() {
        let body = serde_json::json!({
            "received_at": "2030-01-02T03:04:05Z",
            "outcome": {"status": "rejected", "reason": "expired", "detail": "past not_after"},
        });
        let signed = serde_json::json!({
            "payload": data_encoding::BASE64.encode(body.to_string().as_bytes()),
            "payloadType": "application/vnd.liaison.receipt+json;v=1",
            "signatures": [{"sig": "AAAA"}],
        });
        let at: DateTime<Utc> = "2030-01-02T03:04:06Z".parse().unwrap();
        let r = ReceiptView {
            accepted: false,
            reason: Some("expired".into()),
            received_at: at,
            signed: signed.clone(),
        };
        assert_eq!(
            delivery_receipt(Some(&r)),
            "rejected (expired: past not_after), stored 2030-01-02T03:04:06Z"
        );
        assert_eq!(
            signed_receipt(&signed),
            "rejected (expired), signed by this node, 2030-01-02T03:04:05Z"
        );
        assert_eq!(delivery_receipt(None), "none yet");
        assert_eq!(signed_receipt(&Value::Null), "(not readable)");
    }
}
