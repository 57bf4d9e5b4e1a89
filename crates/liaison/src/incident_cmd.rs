//! `liaison incident …`: supply-chain incidents, through the running node.

use anyhow::Result;
use liaison_api::incidents::{IncidentView, OpenIncidentRequest};
use liaison_api::joint::{NewItemRequest, ReviseItemRequest, ShareJointRequest};
use liaison_core::joint::Item;
use serde_json::{json, Value};

use crate::client::{path_segment, Client};
use crate::remote::{decode, emit, emit_bytes, non_empty, pretty, table, when};

/// `incident open …`: prints `incident: ID`.
pub fn open(client: &Client, req: &OpenIncidentRequest, json: bool) -> Result<()> {
    let answer: Value = client.post_json("/api/incidents", req)?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let i: IncidentView = decode("/api/incidents", answer)?;
    let mut out = format!("incident: {}\n", i.id);
    out += &facts(&i);
    out += "link shares to it with `liaison share create --incident ID …`\n";
    emit(&out)
}

fn facts(i: &IncidentView) -> String {
    let mut out = String::new();
    if i.exercise {
        out += "EXERCISE — not a real incident\n";
    }
    out += &format!("title:        {}\n", i.title);
    out += &format!("severity:     {}\n", i.severity);
    out += &format!(
        "supply chain: {}\n",
        match (i.supply_chain, i.trigger) {
            (true, Some(t)) => format!("yes: {}", t.describe()),
            (true, None) => "yes".to_string(),
            (false, _) => "no".to_string(),
        }
    );
    if !i.peers.is_empty() {
        out += &format!("peers:        {}\n", i.peers.join(", "));
    }
    if !i.dependencies.is_empty() {
        let deps: Vec<String> = i.dependencies.iter().map(|d| d.to_string()).collect();
        out += &format!("dependencies: {}\n", deps.join(", "));
    }
    out += &format!(
        "opened:       {} by {} (ledger #{})\n",
        when(&i.opened_at),
        i.opened_by,
        i.ledger_seq
    );
    if let Some(c) = &i.closed_at {
        out += &format!("closed:       {}\n", when(c));
    }
    out
}

/// `incident list`.
pub fn list(client: &Client, json: bool) -> Result<()> {
    let answer: Value = client.get_json("/api/incidents")?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let items: Vec<IncidentView> = decode("/api/incidents", answer)?;
    if items.is_empty() {
        return emit("no incidents (open one with `liaison incident open`)\n");
    }
    let rows = items
        .iter()
        .map(|i| {
            vec![
                i.id.to_string(),
                format!(
                    "{}{}",
                    i.severity,
                    if i.exercise { " (EXERCISE)" } else { "" }
                ),
                if i.closed_at.is_some() {
                    "closed"
                } else {
                    "open"
                }
                .to_string(),
                i.notifications.len().to_string(),
                i.escalations.len().to_string(),
                i.title.clone(),
            ]
        })
        .collect::<Vec<_>>();
    emit(&table(
        &["ID", "SEVERITY", "STATE", "NOTIFIED", "ESCALATED", "TITLE"],
        &rows,
    ))
}

/// `incident show ID`.
pub fn show(client: &Client, id: &str, json: bool) -> Result<()> {
    let id = non_empty(id, "ID")?;
    let path = format!("/api/incidents/{}", path_segment(id));
    let answer: Value = client.get_json(&path)?;
    if json {
        return emit(&pretty(&answer)?);
    }
    let i: IncidentView = decode(&path, answer)?;
    let mut out = facts(&i);
    if i.notifications.is_empty() {
        out += "no peer notified yet\n";
    } else {
        let opt = |t: &Option<chrono::DateTime<chrono::Utc>>| {
            t.as_ref().map_or_else(|| "—".to_string(), when)
        };
        let rows = i
            .notifications
            .iter()
            .map(|n| {
                vec![
                    n.peer_name.clone(),
                    n.tier.to_string(),
                    when(&n.notified_at),
                    format!("{} (due {})", opt(&n.received_at), when(&n.receipt_due)),
                    format!("{} (due {})", opt(&n.acknowledged_at), when(&n.ack_due)),
                ]
            })
            .collect::<Vec<_>>();
        out += &table(
            &["PEER", "TIER", "NOTIFIED", "NODE RECEIPT", "ACKNOWLEDGED"],
            &rows,
        );
    }
    if let Some(origin) = &i.origin {
        out += &format!("opened by:    {origin} (this node takes part through its joint log)\n");
    }
    if !i.items.is_empty() {
        let rows = i
            .items
            .iter()
            .map(|it| {
                vec![
                    it.id.to_string(),
                    it.kind.as_str().to_string(),
                    it.status.as_str().to_string(),
                    it.owner.clone(),
                    it.due.map(|d| d.to_string()).unwrap_or_else(|| "—".into()),
                    format!("{} (r{}, {})", it.text, it.revision, it.updated_by),
                ]
            })
            .collect::<Vec<_>>();
        out += "joint actions and decisions:\n";
        out += &table(&["ITEM", "KIND", "STATUS", "OWNER", "DUE", "TEXT"], &rows);
    }
    for e in &i.escalations {
        out += &format!(
            "ESCALATED {}: {} deadline of {} (due {}), ledger #{}\n",
            when(&e.at),
            e.deadline,
            e.peer.as_deref().unwrap_or("?"),
            e.due_at.as_deref().unwrap_or("?"),
            e.ledger_seq
        );
    }
    emit(&out)
}

/// `incident report ID [--json]`.
pub fn report(client: &Client, id: &str, json: bool) -> Result<()> {
    let id = non_empty(id, "ID")?;
    let path = format!("/api/incidents/{}/report", path_segment(id));
    if json {
        let answer: Value = client.get_json(&path)?;
        return emit(&pretty(&answer)?);
    }
    let bytes = client.get_bytes(&format!("{path}?format=markdown"))?;
    emit_bytes(&bytes)
}

/// `incident close ID`.
pub fn close(client: &Client, id: &str) -> Result<()> {
    let id = non_empty(id, "ID")?;
    let _: Value = client.post_json(
        &format!("/api/incidents/{}/close", path_segment(id)),
        &json!({}),
    )?;
    emit(&format!("closed incident {id}\n"))
}

/// `incident action|decide ID TEXT`: prints `item: ID`.
pub fn add_item(
    client: &Client,
    id: &str,
    kind: &str,
    text: String,
    owner: Option<String>,
    due: Option<String>,
) -> Result<()> {
    let id = non_empty(id, "ID")?;
    let req = NewItemRequest {
        kind: kind.into(),
        text,
        owner,
        due,
    };
    let item: Item =
        client.post_json(&format!("/api/incidents/{}/items", path_segment(id)), &req)?;
    emit(&format!(
        "item: {}\n{} {} for {} (revision {})\nshare the list with `liaison incident share {id}`\n",
        item.id,
        item.kind.as_str(),
        item.status.as_str(),
        item.owner,
        item.revision
    ))
}

/// `incident update ID ITEM …`.
pub fn update_item(client: &Client, id: &str, item: &str, req: &ReviseItemRequest) -> Result<()> {
    let id = non_empty(id, "ID")?;
    let item = non_empty(item, "ITEM")?;
    let it: Item = client.post_json(
        &format!(
            "/api/incidents/{}/items/{}",
            path_segment(id),
            path_segment(item)
        ),
        req,
    )?;
    emit(&format!(
        "item {}: {} (revision {} by {})\n",
        it.id,
        it.status.as_str(),
        it.revision,
        it.updated_by
    ))
}

/// `incident share ID [--tlp]`.
pub fn share(client: &Client, id: &str, tlp: &str) -> Result<()> {
    let id = non_empty(id, "ID")?;
    let s: Value = client.post_json(
        &format!("/api/incidents/{}/share", path_segment(id)),
        &ShareJointRequest { tlp: tlp.into() },
    )?;
    emit(&format!(
        "share: {}\nstate: {}\n",
        s["id"].as_str().unwrap_or("?"),
        s["state"].as_str().unwrap_or("?")
    ))
}
