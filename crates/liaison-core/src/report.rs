//! The incident coordination report an assessor asks for (NIST SP 800-53
//! IR-4(10), ISO/IEC 27035-4): what the incident was, whom it implicated,
//! who was notified and when they answered, and every decision and action,
//! each line tied to the ledger entry on this node that records it.
//!
//! [`build`] orders the events and counts them; [`Report::to_markdown`]
//! renders the result for people, and the [`Report`] itself serialises to
//! JSON for tools. The events come from the store; nothing here reads
//! anything.

use std::collections::BTreeSet;
use std::fmt;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::incident::{Dependency, Severity, Trigger};

/// The incident a report is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportIncident {
    /// The incident id.
    pub id: Uuid,
    /// Its title.
    pub title: String,
    /// Its severity.
    pub severity: Severity,
    /// Whether it is a supply-chain incident.
    pub supply_chain: bool,
    /// What made it one, when it is.
    pub trigger: Option<Trigger>,
    /// Whether it is an exercise rather than a real incident.
    pub exercise: bool,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// Who opened it (user name on this node).
    pub opened_by: String,
    /// When it was closed, if it is.
    pub closed_at: Option<DateTime<Utc>>,
    /// The names of the implicated peers.
    pub peers: Vec<String>,
    /// The implicated dependencies.
    pub dependencies: Vec<Dependency>,
}

/// What happened, in one timeline line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The incident was opened.
    Opened,
    /// A peer was sent a notification.
    Notified,
    /// A peer's node returned a signed receipt.
    Received,
    /// A person at a peer acknowledged.
    Acknowledged,
    /// A deadline passed and was escalated.
    Escalated,
    /// A release was approved.
    Approved,
    /// A release was rejected.
    Rejected,
    /// A decision was recorded.
    Decision,
    /// An action was opened.
    ActionOpened,
    /// An action was updated.
    ActionUpdated,
    /// An action was closed.
    ActionClosed,
    /// A share was recalled.
    Recalled,
    /// The incident was closed.
    Closed,
    /// A free-text note.
    Note,
}

impl fmt::Display for EventKind {
    /// The kind in words, as the report's event column shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventKind::Opened => "opened",
            EventKind::Notified => "notified",
            EventKind::Received => "received",
            EventKind::Acknowledged => "acknowledged",
            EventKind::Escalated => "escalated",
            EventKind::Approved => "approved",
            EventKind::Rejected => "rejected",
            EventKind::Decision => "decision",
            EventKind::ActionOpened => "action opened",
            EventKind::ActionUpdated => "action updated",
            EventKind::ActionClosed => "action closed",
            EventKind::Recalled => "recalled",
            EventKind::Closed => "closed",
            EventKind::Note => "note",
        })
    }
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: EventKind,
    /// The peer concerned (its name), if any.
    pub peer: Option<String>,
    /// The share concerned, if any.
    pub share_id: Option<Uuid>,
    /// Details, free text.
    pub text: String,
    /// The sequence number of the ledger entry on this node that records it,
    /// so the line can be checked with `ledger verify` and the evidence
    /// export.
    pub ledger_seq: Option<u64>,
}

/// The counts at the top of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Distinct peers notified.
    pub peers_notified: usize,
    /// Distinct peers whose node returned a receipt.
    pub peers_received: usize,
    /// Distinct peers where a person acknowledged.
    pub peers_acknowledged: usize,
    /// Escalations.
    pub escalations: usize,
    /// Approvals.
    pub approvals: usize,
    /// Decisions recorded.
    pub decisions: usize,
    /// Actions opened and not closed.
    pub actions_open: usize,
    /// Actions closed.
    pub actions_closed: usize,
    /// Whether the incident is an exercise.
    pub exercise: bool,
}

/// An incident coordination report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The incident.
    pub incident: ReportIncident,
    /// Every event, oldest first.
    pub timeline: Vec<TimelineEvent>,
    /// The counts.
    pub summary: Summary,
    /// When the report was made.
    pub generated_at: DateTime<Utc>,
}

/// Assemble a report: the timeline in time order and the summary counted
/// from it.
///
/// Events at the same instant keep their input order, except that those
/// carrying a ledger sequence number are put in ledger order among
/// themselves: the ledger is the order this node recorded them in, and it
/// is what an assessor will check the report against.
pub fn build(
    incident: ReportIncident,
    events: Vec<TimelineEvent>,
    generated_at: DateTime<Utc>,
) -> Report {
    let timeline = order(events);
    let summary = summarise(&incident, &timeline);
    Report {
        incident,
        timeline,
        summary,
        generated_at,
    }
}

/// Sort by time (stable), then reorder the ledger-numbered events of each
/// same-instant run within the positions they already hold. A comparator
/// that compared sequence numbers only when both are present would not be
/// a total order (with an unnumbered event between two numbered ones), and
/// the standard sort may panic on such an order; this cannot.
fn order(mut events: Vec<TimelineEvent>) -> Vec<TimelineEvent> {
    events.sort_by_key(|e| e.at);
    let mut start = 0;
    while start < events.len() {
        let at = events[start].at;
        let end = events[start..]
            .iter()
            .position(|e| e.at != at)
            .map_or(events.len(), |n| start + n);
        let run = &mut events[start..end];
        let slots: Vec<usize> = (0..run.len())
            .filter(|&i| run[i].ledger_seq.is_some())
            .collect();
        let mut numbered: Vec<TimelineEvent> = slots.iter().map(|&i| run[i].clone()).collect();
        numbered.sort_by_key(|e| e.ledger_seq);
        for (slot, e) in slots.into_iter().zip(numbered) {
            run[slot] = e;
        }
        start = end;
    }
    events
}

fn summarise(incident: &ReportIncident, timeline: &[TimelineEvent]) -> Summary {
    let distinct_peers = |kind: EventKind| {
        timeline
            .iter()
            .filter(|e| e.kind == kind)
            .filter_map(|e| e.peer.as_deref())
            .collect::<BTreeSet<_>>()
            .len()
    };
    let count = |kind: EventKind| timeline.iter().filter(|e| e.kind == kind).count();
    let actions_closed = count(EventKind::ActionClosed);
    Summary {
        peers_notified: distinct_peers(EventKind::Notified),
        peers_received: distinct_peers(EventKind::Received),
        peers_acknowledged: distinct_peers(EventKind::Acknowledged),
        escalations: count(EventKind::Escalated),
        approvals: count(EventKind::Approved),
        decisions: count(EventKind::Decision),
        // Action ids live in free text, so opened minus closed is the best
        // count available; a close recorded without its open (imported
        // history) must not make it negative.
        actions_open: count(EventKind::ActionOpened).saturating_sub(actions_closed),
        actions_closed,
        exercise: incident.exercise,
    }
}

/// The report's time format: UTC to the second, no zone suffix (the column
/// header says UTC).
fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Text on one Markdown line: line breaks would end the list item or the
/// heading early.
fn one_line(s: &str) -> String {
    s.replace("\r\n", " ").replace(['\r', '\n'], " ")
}

/// Text inside a table cell: one line, and a pipe would split the cell.
fn cell(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}

/// `items` joined with commas, or `none`.
fn list_or_none(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

impl Report {
    /// The report in Markdown: title, an exercise banner when it is one,
    /// the facts, the summary, the timeline table, and how to check each
    /// line against the ledger.
    pub fn to_markdown(&self) -> String {
        let i = &self.incident;
        let s = &self.summary;
        let yes_no = |b: bool| if b { "yes" } else { "no" };
        let mut md = String::new();
        // `write!` into a String cannot fail; the results are ignored so
        // that no error path exists at all.
        let _ = writeln!(md, "# Incident report: {}\n", one_line(&i.title));
        if i.exercise {
            let _ = writeln!(md, "**EXERCISE — not a real incident**\n");
        }

        let _ = writeln!(md, "## Facts\n");
        let _ = writeln!(md, "- id: `{}`", i.id);
        let _ = writeln!(md, "- severity: {}", i.severity);
        let supply_chain = match (i.supply_chain, i.trigger) {
            (true, Some(t)) => format!("yes ({})", t.describe()),
            (true, None) => "yes".to_string(),
            (false, _) => "no".to_string(),
        };
        let _ = writeln!(md, "- supply-chain event: {supply_chain}");
        let _ = writeln!(
            md,
            "- opened: {} UTC by {}",
            time(i.opened_at),
            one_line(&i.opened_by)
        );
        let closed = i
            .closed_at
            .map_or_else(|| "not yet".to_string(), |at| format!("{} UTC", time(at)));
        let _ = writeln!(md, "- closed: {closed}");
        let _ = writeln!(
            md,
            "- implicated peers: {}",
            list_or_none(i.peers.iter().map(|p| one_line(p)))
        );
        let _ = writeln!(
            md,
            "- dependencies: {}",
            list_or_none(i.dependencies.iter().map(|d| one_line(&d.to_string())))
        );
        let _ = writeln!(md, "- exercise: {}\n", yes_no(i.exercise));

        let _ = writeln!(md, "## Summary\n");
        for (label, n) in [
            ("peers notified", s.peers_notified),
            ("peers whose node returned a receipt", s.peers_received),
            ("peers that acknowledged", s.peers_acknowledged),
            ("escalations", s.escalations),
            ("approvals", s.approvals),
            ("decisions", s.decisions),
            ("actions open", s.actions_open),
            ("actions closed", s.actions_closed),
        ] {
            let _ = writeln!(md, "- {label}: {n}");
        }
        md.push('\n');

        let _ = writeln!(md, "## Timeline\n");
        let _ = writeln!(
            md,
            "| time (UTC) | event | peer | share | details | ledger |"
        );
        let _ = writeln!(md, "| --- | --- | --- | --- | --- | --- |");
        for e in &self.timeline {
            let peer = e.peer.as_deref().map_or_else(|| "—".to_string(), cell);
            // Eight hex digits identify a share among an incident's few
            // dozen; the full id is in the JSON form and the ledger.
            // `simple()` is always 32 ASCII hex digits, so the slice holds.
            let share = e.share_id.map_or_else(
                || "—".to_string(),
                |id| id.simple().to_string()[..8].to_string(),
            );
            let ledger = e
                .ledger_seq
                .map_or_else(|| "—".to_string(), |n| format!("#{n}"));
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                time(e.at),
                e.kind,
                peer,
                share,
                cell(&e.text),
                ledger
            );
        }
        md.push('\n');
        let _ = writeln!(
            md,
            "Each `#N` in the ledger column is the sequence number of the entry in this node's \
             ledger that records the event: check it with `liaison ledger verify` and \
             `liaison ledger proof N`, and against the evidence export."
        );
        let _ = writeln!(md, "\nGenerated at {} UTC.", time(self.generated_at));
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use chrono::{TimeDelta, TimeZone};

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 23, 0, 0).unwrap() + TimeDelta::seconds(secs)
    }

    fn incident(exercise: bool) -> ReportIncident {
        ReportIncident {
            id: Uuid::from_u128(0x1234),
            title: "Compromised build of libfoo".to_string(),
            severity: Severity::High,
            supply_chain: true,
            trigger: Some(Trigger::UpstreamDependencySuspected),
            exercise,
            opened_at: at(0),
            opened_by: "alice".to_string(),
            closed_at: None,
            peers: vec!["bolt".to_string(), "cobalt".to_string()],
            dependencies: vec![
                "libfoo@2.1.0".parse().unwrap(),
                "@acme/widgets@1.2.3".parse().unwrap(),
            ],
        }
    }

    fn ev(secs: i64, kind: EventKind, peer: Option<&str>, seq: Option<u64>) -> TimelineEvent {
        TimelineEvent {
            at: at(secs),
            kind,
            peer: peer.map(str::to_string),
            share_id: None,
            text: String::new(),
            ledger_seq: seq,
        }
    }

    fn texts(r: &Report) -> Vec<&str> {
        r.timeline.iter().map(|e| e.text.as_str()).collect()
    }

    fn named(mut e: TimelineEvent, text: &str) -> TimelineEvent {
        e.text = text.to_string();
        e
    }

    #[test]
    fn timeline_is_in_time_order_with_stable_ties() {
        use EventKind::*;
        for (events, want) in [
            // Plain time order.
            (
                vec![
                    named(ev(30, Note, None, None), "c"),
                    named(ev(10, Note, None, None), "a"),
                    named(ev(20, Note, None, None), "b"),
                ],
                vec!["a", "b", "c"],
            ),
            // Ties without ledger numbers keep input order.
            (
                vec![
                    named(ev(10, Note, None, None), "x"),
                    named(ev(5, Note, None, None), "first"),
                    named(ev(10, Note, None, None), "y"),
                    named(ev(10, Note, None, None), "z"),
                ],
                vec!["first", "x", "y", "z"],
            ),
            // Ties with ledger numbers follow the ledger.
            (
                vec![
                    named(ev(10, Notified, Some("bolt"), Some(9)), "n9"),
                    named(ev(10, Notified, Some("cobalt"), Some(7)), "n7"),
                    named(ev(10, Notified, Some("delta"), Some(8)), "n8"),
                ],
                vec!["n7", "n8", "n9"],
            ),
            // Mixed: unnumbered events keep their places, numbered ones are
            // reordered among theirs; other instants are untouched.
            (
                vec![
                    named(ev(10, Note, None, Some(5)), "s5"),
                    named(ev(10, Note, None, None), "u1"),
                    named(ev(10, Note, None, Some(3)), "s3"),
                    named(ev(20, Note, None, Some(1)), "later"),
                    named(ev(10, Note, None, None), "u2"),
                    named(ev(10, Note, None, Some(4)), "s4"),
                ],
                vec!["s3", "u1", "s4", "u2", "s5", "later"],
            ),
        ] {
            let r = build(incident(false), events, at(100));
            assert_eq!(texts(&r), want);
        }
        assert!(build(incident(false), vec![], at(0)).timeline.is_empty());
    }

    #[test]
    fn summary_counts_distinct_peers_and_events() {
        use EventKind::*;
        let events = vec![
            ev(0, Opened, None, Some(1)),
            ev(1, Notified, Some("bolt"), Some(2)),
            ev(1, Notified, Some("cobalt"), Some(3)),
            // A re-notification is the same peer.
            ev(2, Notified, Some("bolt"), Some(4)),
            // No peer: not counted as a peer.
            ev(2, Notified, None, None),
            ev(3, Received, Some("bolt"), Some(5)),
            ev(3, Received, Some("bolt"), Some(6)),
            ev(4, Acknowledged, Some("cobalt"), Some(7)),
            ev(5, Escalated, Some("bolt"), Some(8)),
            ev(6, Escalated, Some("bolt"), Some(9)),
            ev(7, Approved, None, Some(10)),
            ev(8, Rejected, None, Some(11)),
            ev(9, Decision, None, Some(12)),
            ev(10, ActionOpened, None, None),
            ev(11, ActionOpened, None, None),
            ev(12, ActionOpened, None, None),
            ev(13, ActionUpdated, None, None),
            ev(14, ActionClosed, None, None),
        ];
        let r = build(incident(true), events, at(100));
        assert_eq!(
            r.summary,
            Summary {
                peers_notified: 2,
                peers_received: 1,
                peers_acknowledged: 1,
                escalations: 2,
                approvals: 1,
                decisions: 1,
                actions_open: 2,
                actions_closed: 1,
                exercise: true,
            }
        );
        // More closes than opens never goes below zero.
        let r = build(
            incident(false),
            vec![
                ev(0, ActionClosed, None, None),
                ev(1, ActionClosed, None, None),
                ev(2, ActionOpened, None, None),
            ],
            at(10),
        );
        assert_eq!((r.summary.actions_open, r.summary.actions_closed), (0, 2));
        assert!(!r.summary.exercise);
    }

    #[test]
    fn markdown_has_the_banner_only_for_exercises() {
        let banner = "**EXERCISE — not a real incident**";
        let drill = build(incident(true), vec![], at(1)).to_markdown();
        assert!(drill.contains(banner), "{drill}");
        let real = build(incident(false), vec![], at(1)).to_markdown();
        assert!(!real.contains(banner), "{real}");
        assert!(!real.contains("EXERCISE"), "{real}");
    }

    #[test]
    fn markdown_shows_facts_summary_and_table() {
        let share = Uuid::parse_str("deadbeef-0000-4000-8000-000000000001").unwrap();
        let events = vec![
            TimelineEvent {
                at: at(248),
                kind: EventKind::Notified,
                peer: Some("bolt".to_string()),
                share_id: Some(share),
                text: "notice sent".to_string(),
                ledger_seq: Some(42),
            },
            TimelineEvent {
                at: at(300),
                kind: EventKind::ActionOpened,
                peer: None,
                share_id: None,
                text: "rotate keys".to_string(),
                ledger_seq: None,
            },
        ];
        let md = build(incident(false), events, at(400)).to_markdown();
        for want in [
            "# Incident report: Compromised build of libfoo\n",
            "- id: `00000000-0000-0000-0000-000000001234`",
            "- severity: high",
            "- supply-chain event: yes (an upstream dependency is suspected)",
            "- opened: 2026-12-01 23:00:00 UTC by alice",
            "- closed: not yet",
            "- implicated peers: bolt, cobalt",
            "- dependencies: libfoo@2.1.0, @acme/widgets@1.2.3",
            "- peers notified: 1",
            "- actions open: 1",
            "| time (UTC) | event | peer | share | details | ledger |",
            "| 2026-12-01 23:04:08 | notified | bolt | deadbeef | notice sent | #42 |",
            "| 2026-12-01 23:05:00 | action opened | — | — | rotate keys | — |",
            "`liaison ledger verify`",
            "`liaison ledger proof N`",
            "evidence export",
        ] {
            assert!(md.contains(want), "missing {want:?} in\n{md}");
        }

        let mut quiet = incident(false);
        quiet.supply_chain = false;
        quiet.trigger = None;
        quiet.peers.clear();
        quiet.dependencies.clear();
        quiet.closed_at = Some(at(3600));
        let md = build(quiet, vec![], at(4000)).to_markdown();
        for want in [
            "- supply-chain event: no",
            "- closed: 2026-12-02 00:00:00 UTC",
            "- implicated peers: none",
            "- dependencies: none",
        ] {
            assert!(md.contains(want), "missing {want:?} in\n{md}");
        }
    }

    #[test]
    fn markdown_escapes_pipes_and_line_breaks_in_cells() {
        let mut inc = incident(false);
        inc.title = "two\nlines".to_string();
        let events = vec![TimelineEvent {
            at: at(1),
            kind: EventKind::Note,
            peer: Some("bo|lt".to_string()),
            share_id: None,
            text: "a | b\nc\r\nd".to_string(),
            ledger_seq: Some(3),
        }];
        let md = build(inc, events, at(2)).to_markdown();
        assert!(md.contains("# Incident report: two lines\n"), "{md}");
        assert!(
            md.contains("| 2026-12-01 23:00:01 | note | bo\\|lt | — | a \\| b c d | #3 |\n"),
            "{md}"
        );
        // Every table row still has exactly the six columns.
        for line in md.lines().filter(|l| l.starts_with("| ")) {
            let unescaped = line.replace("\\|", "");
            assert_eq!(unescaped.matches('|').count(), 7, "{line}");
        }
    }

    #[test]
    fn report_round_trips_as_json() {
        let events = vec![
            TimelineEvent {
                at: at(5),
                kind: EventKind::ActionOpened,
                peer: Some("bolt".to_string()),
                share_id: Some(Uuid::from_u128(7)),
                text: "patch".to_string(),
                ledger_seq: Some(12),
            },
            ev(1, EventKind::Opened, None, None),
        ];
        let mut inc = incident(true);
        inc.closed_at = Some(at(99));
        let r = build(inc, events, at(100));
        let json = serde_json::to_string(&r).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["timeline"][1]["kind"], "action_opened");
        assert_eq!(v["incident"]["severity"], "high");
        assert_eq!(v["incident"]["trigger"], "upstream_dependency_suspected");
        assert_eq!(v["incident"]["dependencies"][1], "@acme/widgets@1.2.3");
    }
}
