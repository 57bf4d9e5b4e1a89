//! `liaison user …`, `liaison approvals`, `liaison approve`, `liaison reject`:
//! users and release approvals, through the running node.

use anyhow::Result;
use liaison_api::approvals::{ApprovalItem, DecisionRequest};
use liaison_api::users::{AddUserRequest, UserView};
use serde_json::Value;

use crate::client::{path_segment, Client};
use crate::remote::{decode, emit, non_empty, pretty, table, when};

/// `user add NAME --role ROLE`: prints the new token once.
pub fn user_add(client: &Client, name: &str, role: &str, json: bool) -> Result<()> {
    let name = non_empty(name, "NAME")?;
    let answer: Value = client.post_json(
        "/api/users",
        &AddUserRequest {
            name: name.to_string(),
            role: role.to_string(),
        },
    )?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let u: UserView = decode("/api/users", answer)?;
    let mut out = format!("user: {} ({}), id {}\n", u.name, u.role, u.id);
    out += &format!(
        "token: {}\n",
        u.token.as_deref().unwrap_or("(none returned)")
    );
    out += "give the token to its owner now: the node keeps only its SHA-256 and cannot show it again\n";
    emit(&out)
}

/// `user list`.
pub fn user_list(client: &Client, json: bool) -> Result<()> {
    let answer: Value = client.get_json("/api/users")?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let users: Vec<UserView> = decode("/api/users", answer)?;
    let rows = users
        .iter()
        .map(|u| {
            vec![
                u.name.clone(),
                u.role.to_string(),
                when(&u.created_at),
                u.revoked_at
                    .as_ref()
                    .map_or_else(|| "active".to_string(), |t| format!("revoked {}", when(t))),
                u.id.clone(),
            ]
        })
        .collect::<Vec<_>>();
    emit(&table(&["NAME", "ROLE", "CREATED", "TOKEN", "ID"], &rows))
}

/// `user revoke NAME`.
pub fn user_revoke(client: &Client, name: &str) -> Result<()> {
    let name = non_empty(name, "NAME")?;
    let path = format!("/api/users/{}/revoke", crate::client::path_segment(name));
    let u: UserView = decode(&path, client.post_json(&path, &serde_json::json!({}))?)?;
    emit(&format!(
        "revoked the token of {} ({}): it authenticates nothing from now on\n",
        u.name, u.role
    ))
}

/// `approvals`: the queue, with each share's decision and redaction.
pub fn list(client: &Client, json: bool) -> Result<()> {
    let answer: Value = client.get_json("/api/approvals")?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let items: Vec<ApprovalItem> = decode("/api/approvals", answer)?;
    if items.is_empty() {
        return emit("no share is waiting for approval\n");
    }
    let mut out = String::new();
    for i in &items {
        out += &render(i);
        out.push('\n');
    }
    emit(&out)
}

/// `approvals show ID`: one share, with what would be sent now.
pub fn show(client: &Client, id: &str, json: bool) -> Result<()> {
    let id = non_empty(id, "ID")?;
    let path = format!("/api/approvals/{}", path_segment(id));
    let answer: Value = client.get_json(&path)?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let i: ApprovalItem = decode(&path, answer)?;
    let mut out = render(&i);
    if let Some(p) = &i.preview {
        out += &format!("would send now: {} bytes, sha256:{}\n", p.size, p.sha256);
        for r in &p.recipients {
            for m in r["removals"].as_array().into_iter().flatten() {
                out += &format!(
                    "  {}: {} {} × {} (rule {})\n",
                    r["name"].as_str().unwrap_or("?"),
                    m["action"].as_str().unwrap_or("?"),
                    m["count"],
                    m["target"].as_str().unwrap_or("?"),
                    m["rule"].as_str().unwrap_or("?")
                );
            }
        }
    }
    emit(&out)
}

/// `approve ID` / `reject ID`.
pub fn decide(client: &Client, id: &str, action: &str, comment: &str, json: bool) -> Result<()> {
    let id = non_empty(id, "ID")?;
    let path = format!("/api/approvals/{}/{action}", path_segment(id));
    let answer: Value = client.post_json(
        &path,
        &DecisionRequest {
            comment: comment.to_string(),
        },
    )?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let i: ApprovalItem = decode(&path, answer)?;
    let mut out = format!("share: {}\n", i.share.id);
    out += &match i.share.state.as_str() {
        "released" => format!(
            "released: {} approval(s); signed, encrypted and queued for delivery\n",
            i.approvals
        ),
        "awaiting_approval" => format!(
            "approved ({} so far); {} more distinct approval(s) needed\n",
            i.approvals, i.still_needed
        ),
        "rejected" => "rejected: the share ends here and is never sealed\n".to_string(),
        "refused" => "approved, but policy now refuses it (see `liaison share show`)\n".to_string(),
        other => format!("state: {other}\n"),
    };
    emit(&out)
}

fn render(i: &ApprovalItem) -> String {
    let s = &i.share;
    let mut out = format!("share {}\n", s.id);
    out += &format!("  drafted:   {} by {}\n", when(&s.created_at), s.created_by);
    out += &format!("  tlp:       {}\n", s.tlp);
    out += &format!("  kind:      {} ({} bytes)\n", s.kind, s.size);
    out += &format!(
        "  approvals: {} of {} ({} still needed)\n",
        i.approvals, s.approvals_required, i.still_needed
    );
    if let Some(p) = &s.policy {
        for r in p["recipients"].as_array().into_iter().flatten() {
            out += &format!(
                "  to {} under agreement {} v{}\n",
                r["name"].as_str().unwrap_or("?"),
                r["agreement"]["id"].as_str().unwrap_or("?"),
                r["agreement"]["version"]
            );
        }
        for m in p["redacted"].as_array().into_iter().flatten() {
            out += &format!(
                "  redacted:  {} {} × {} (rule {})\n",
                m["action"].as_str().unwrap_or("?"),
                m["count"],
                m["target"].as_str().unwrap_or("?"),
                m["rule"].as_str().unwrap_or("?")
            );
        }
    }
    for d in &i.decisions {
        out += &format!(
            "  {} by {} at {}: {}\n",
            d.decision.as_str(),
            d.approver_name,
            when(&d.at),
            d.comment
        );
    }
    out
}
