//! An incident's coordination state, read from the ledger.
//!
//! Everything an incident record, its deadlines and its report show is
//! derived from ledger entries (the incident's own and those of the shares
//! linked to it): when each peer was notified (`share.released`), when its
//! node's signed receipt arrived (`receipt.stored`), when a person there
//! acknowledged (`share.acknowledged`), and which deadlines were already
//! escalated (`incident.escalated`). So every line of a report names the
//! ledger entry that proves it, and a restart loses nothing: the state is
//! the ledger.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::content::Kind;
use crate::incident::{DeadlineKind, Notification};
use crate::joint::{Item, ItemKind};
use crate::ledger::kinds;
use crate::report::{EventKind, TimelineEvent};

/// One ledger entry, as the coordination functions read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    /// Sequence number.
    pub seq: u64,
    /// When it was appended.
    pub at: DateTime<Utc>,
    /// Event kind.
    pub kind: String,
    /// Who caused it.
    pub actor: String,
    /// Details.
    pub body: Value,
}

impl Fact {
    fn share_id(&self) -> Option<Uuid> {
        self.body
            .get("share_id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
    }

    fn str(&self, key: &str) -> Option<&str> {
        self.body.get(key).and_then(Value::as_str)
    }
}

/// What the functions need to know about peers: name and tier by node id.
pub type PeerInfo = HashMap<String, (String, u8)>;

fn name_of(peers: &PeerInfo, node_id: &str) -> String {
    peers
        .get(node_id)
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| node_id.chars().take(12).collect())
}

/// Per (share, recipient): when it was notified, received, acknowledged.
/// Facts may come in any order; each time is the first that happened.
pub fn notifications(facts: &[Fact], peers: &PeerInfo) -> Vec<Notification> {
    let mut map: BTreeMap<(Uuid, String), Notification> = BTreeMap::new();
    let mut sorted: Vec<&Fact> = facts.iter().collect();
    sorted.sort_by_key(|f| f.seq);
    for f in &sorted {
        if f.kind != kinds::SHARE_RELEASED && f.kind != kinds::SHARE_FORWARDED {
            continue;
        }
        // Sharing the joint list is not a notification: no deadlines.
        if f.str("kind") == Some(Kind::Coordination.as_str()) {
            continue;
        }
        let Some(share) = f.share_id() else { continue };
        let recipients = f.body.get("recipients").and_then(Value::as_array);
        for r in recipients.into_iter().flatten() {
            let Some(peer) = r.get("node_id").and_then(Value::as_str) else {
                continue;
            };
            let (name, tier) = peers
                .get(peer)
                .cloned()
                .unwrap_or_else(|| (name_of(peers, peer), 3));
            map.entry((share, peer.to_string()))
                .or_insert(Notification {
                    share_id: share,
                    peer: peer.to_string(),
                    peer_name: name,
                    tier,
                    notified_at: f.at,
                    received_at: None,
                    acknowledged_at: None,
                });
        }
    }
    for f in &sorted {
        let (Some(share), Some(peer)) = (f.share_id(), f.str("peer")) else {
            continue;
        };
        let Some(n) = map.get_mut(&(share, peer.to_string())) else {
            continue;
        };
        if f.kind == kinds::RECEIPT_STORED
            && f.body.get("accepted").and_then(Value::as_bool) == Some(true)
        {
            n.received_at.get_or_insert(f.at);
        } else if f.kind == kinds::SHARE_ACKNOWLEDGED {
            n.acknowledged_at.get_or_insert(f.at);
        }
    }
    map.into_values().collect()
}

/// The deadlines already escalated: (share, peer node id, which).
pub fn escalated(facts: &[Fact]) -> Vec<(Uuid, String, DeadlineKind)> {
    facts
        .iter()
        .filter(|f| f.kind == kinds::INCIDENT_ESCALATED)
        .filter_map(|f| {
            let kind = match f.str("deadline")? {
                "receipt" => DeadlineKind::Receipt,
                "ack" => DeadlineKind::Ack,
                _ => return None,
            };
            Some((f.share_id()?, f.str("peer")?.to_string(), kind))
        })
        .collect()
}

/// The timeline lines of these facts, each naming its ledger entry.
/// `users` maps user ids (ledger actors) to names.
pub fn events(
    facts: &[Fact],
    peers: &PeerInfo,
    users: &HashMap<String, String>,
) -> Vec<TimelineEvent> {
    let who = |actor: &str| {
        users
            .get(actor)
            .cloned()
            .unwrap_or_else(|| actor.to_string())
    };
    let mut out = Vec::new();
    for f in facts {
        let share = f.share_id();
        let peer = f.str("peer").map(|p| name_of(peers, p));
        let ev = |kind: EventKind, peer: Option<String>, text: String| TimelineEvent {
            at: f.at,
            kind,
            peer,
            share_id: share,
            text,
            ledger_seq: Some(f.seq),
        };
        match f.kind.as_str() {
            k if k == kinds::INCIDENT_OPENED => out.push(ev(
                EventKind::Opened,
                None,
                format!("opened by {}", who(&f.actor)),
            )),
            k if k == kinds::INCIDENT_CLOSED => out.push(ev(
                EventKind::Closed,
                None,
                format!("closed by {}", who(&f.actor)),
            )),
            k if k == kinds::SHARE_APPROVED || k == kinds::SHARE_REJECTED => {
                let name = f.str("approver_name").unwrap_or("?").to_string();
                let comment = f.str("comment").unwrap_or_default();
                let (kind, verb) = if k == kinds::SHARE_APPROVED {
                    (EventKind::Approved, "release approved")
                } else {
                    (EventKind::Rejected, "release rejected")
                };
                out.push(ev(kind, None, format!("{verb} by {name}: {comment}")));
            }
            k if k == kinds::SHARE_RELEASED || k == kinds::SHARE_FORWARDED => {
                let tlp = f.str("tlp").unwrap_or("?");
                let what = f.str("kind").unwrap_or("bundle");
                for r in f
                    .body
                    .get("recipients")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let Some(p) = r.get("node_id").and_then(Value::as_str) else {
                        continue;
                    };
                    let what = if what == Kind::Coordination.as_str() {
                        "joint actions and decisions"
                    } else {
                        what
                    };
                    out.push(ev(
                        EventKind::Notified,
                        Some(name_of(peers, p)),
                        format!("{what} {tlp} signed, encrypted and queued"),
                    ));
                }
            }
            k if k == kinds::RECEIPT_STORED => {
                let text = if f.body.get("accepted").and_then(Value::as_bool) == Some(true) {
                    "its node's signed receipt: accepted".to_string()
                } else {
                    format!(
                        "its node's signed receipt: rejected ({})",
                        f.str("reason").unwrap_or("?")
                    )
                };
                out.push(ev(EventKind::Received, peer, text));
            }
            k if k == kinds::SHARE_ACKNOWLEDGED => {
                let by = f.str("by").unwrap_or("?");
                let comment = f.str("comment").unwrap_or_default();
                out.push(ev(
                    EventKind::Acknowledged,
                    peer,
                    format!("acknowledged by {by} (signed): {comment}"),
                ));
            }
            k if k == kinds::INCIDENT_JOINED => out.push(ev(
                EventKind::Opened,
                peer,
                format!(
                    "joined: incident of {} filed here from its joint log",
                    f.str("origin")
                        .map(|o| name_of(peers, o))
                        .unwrap_or_default()
                ),
            )),
            k if k == kinds::INCIDENT_ITEM_UPDATED => {
                let Some(item) = f
                    .body
                    .get("item")
                    .and_then(|i| serde_json::from_value::<Item>(i.clone()).ok())
                else {
                    continue;
                };
                let from = match f.actor.strip_prefix("peer:") {
                    Some(node) => format!(" (from {}'s joint log)", name_of(peers, node)),
                    None => String::new(),
                };
                let due = item.due.map(|d| format!(", due {d}")).unwrap_or_default();
                let (kind, text) = match (item.kind, item.revision, item.status) {
                    (ItemKind::Decision, 1, _) => (
                        EventKind::Decision,
                        format!("decision by {}: {}", item.updated_by, item.text),
                    ),
                    (ItemKind::Decision, _, status) => (
                        EventKind::Decision,
                        format!(
                            "decision {} by {}: {}",
                            status.as_str(),
                            item.updated_by,
                            item.text
                        ),
                    ),
                    (ItemKind::Action, 1, _) => (
                        EventKind::ActionOpened,
                        format!(
                            "action for {}{due}: {} (by {})",
                            item.owner, item.text, item.updated_by
                        ),
                    ),
                    (ItemKind::Action, _, status) if status.is_closed() => (
                        EventKind::ActionClosed,
                        format!(
                            "action {} by {}: {}",
                            status.as_str(),
                            item.updated_by,
                            item.text
                        ),
                    ),
                    (ItemKind::Action, _, status) => (
                        EventKind::ActionUpdated,
                        format!(
                            "action now {} (by {}): {}",
                            status.as_str(),
                            item.updated_by,
                            item.text
                        ),
                    ),
                };
                out.push(ev(kind, None, format!("{text}{from}")));
            }
            k if k == kinds::INCIDENT_ESCALATED => {
                let deadline = match f.str("deadline") {
                    Some("receipt") => "node receipt",
                    _ => "human acknowledgement",
                };
                let due = f.str("due_at").unwrap_or("?");
                out.push(ev(
                    EventKind::Escalated,
                    peer,
                    format!("{deadline} deadline passed (due {due}); escalated"),
                ));
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn fact(seq: u64, at: i64, kind: &str, body: Value) -> Fact {
        Fact {
            seq,
            at: t(at),
            kind: kind.into(),
            actor: "u1".into(),
            body,
        }
    }

    const SHARE: &str = "5d0092c5-5f74-4287-9642-33f4c354e56d";

    fn story() -> Vec<Fact> {
        vec![
            fact(1, 0, kinds::INCIDENT_OPENED, json!({"incident_id": "x"})),
            fact(
                2,
                10,
                kinds::SHARE_RELEASED,
                json!({"share_id": SHARE, "tlp": "TLP:AMBER", "kind": "csaf",
                       "recipients": [{"node_id": "B"}, {"node_id": "C"}]}),
            ),
            fact(
                3,
                11,
                kinds::RECEIPT_STORED,
                json!({"share_id": SHARE, "peer": "B", "accepted": true}),
            ),
            fact(
                4,
                12,
                kinds::RECEIPT_STORED,
                json!({"share_id": SHARE, "peer": "C", "accepted": true}),
            ),
            fact(
                5,
                30,
                kinds::SHARE_ACKNOWLEDGED,
                json!({"share_id": SHARE, "peer": "B", "by": "bea", "comment": "on it"}),
            ),
            fact(
                6,
                90,
                kinds::INCIDENT_ESCALATED,
                json!({"incident_id": "x", "share_id": SHARE, "peer": "C", "deadline": "ack", "due_at": "later"}),
            ),
        ]
    }

    fn peers() -> PeerInfo {
        HashMap::from([
            ("B".to_string(), ("bolt".to_string(), 1)),
            ("C".to_string(), ("cobalt".to_string(), 2)),
        ])
    }

    #[test]
    fn notifications_follow_release_receipt_and_acknowledgement() {
        let n = notifications(&story(), &peers());
        assert_eq!(n.len(), 2);
        let b = n.iter().find(|n| n.peer == "B").unwrap();
        assert_eq!((b.peer_name.as_str(), b.tier), ("bolt", 1));
        assert_eq!(b.notified_at, t(10));
        assert_eq!(b.received_at, Some(t(11)));
        assert_eq!(b.acknowledged_at, Some(t(30)));
        let c = n.iter().find(|n| n.peer == "C").unwrap();
        assert_eq!(c.received_at, Some(t(12)));
        assert_eq!(c.acknowledged_at, None);
    }

    #[test]
    fn a_rejected_receipt_is_not_a_receipt() {
        let mut facts = story();
        facts[2].body["accepted"] = json!(false);
        let n = notifications(&facts, &peers());
        assert_eq!(n.iter().find(|n| n.peer == "B").unwrap().received_at, None);
    }

    #[test]
    fn escalations_already_made_are_read_back() {
        let e = escalated(&story());
        assert_eq!(
            e,
            vec![(SHARE.parse().unwrap(), "C".to_string(), DeadlineKind::Ack)]
        );
    }

    #[test]
    fn every_event_names_its_ledger_entry() {
        let users = HashMap::from([("u1".to_string(), "ana".to_string())]);
        let ev = events(&story(), &peers(), &users);
        let kinds: Vec<EventKind> = ev.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![
                EventKind::Opened,
                EventKind::Notified,
                EventKind::Notified,
                EventKind::Received,
                EventKind::Received,
                EventKind::Acknowledged,
                EventKind::Escalated
            ]
        );
        assert!(ev.iter().all(|e| e.ledger_seq.is_some()));
        assert_eq!(ev[0].text, "opened by ana");
        assert_eq!(ev[5].peer.as_deref(), Some("bolt"));
        assert!(
            ev[6].text.contains("human acknowledgement"),
            "{}",
            ev[6].text
        );
    }
}
