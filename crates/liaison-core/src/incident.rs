//! Supply-chain incident coordination: severities, what made an incident a
//! supply-chain one, implicated dependencies, and the notification deadlines
//! every notified peer must meet (NIST SP 800-53 IR-4(10), ISO/IEC 27035-4).
//!
//! When an incident implicates organizations in the supply chain, each one
//! is notified over Liaison. Two clocks then start per notification: the
//! peer's *node* must return a signed receipt, and a *person* there must
//! acknowledge. How long each may take depends on the incident's severity
//! and the peer's tier (1 critical, 2 important, 3 other, as in
//! [`crate::roster`]): see [`DeadlinePolicy`]. Everything here is pure: the
//! current time is always a parameter, so the escalation worker above this
//! crate decides when to look, and tests decide what "now" is.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// How bad an incident is. `Ord` follows badness: `Low < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Limited impact, no urgency.
    Low,
    /// Noticeable impact, handled in working hours.
    Medium,
    /// Serious impact, handled now.
    High,
    /// Severe impact on critical services, all hands.
    Critical,
}

/// A string that is not a severity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a severity: expected one of low, medium, high, critical")]
pub struct ParseSeverityError(pub String);

impl Severity {
    /// Every severity, least severe first.
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The lower-case name, as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = ParseSeverityError;

    /// Case-insensitive, surrounding spaces ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str() == lower)
            .ok_or_else(|| ParseSeverityError(s.to_string()))
    }
}

/// Why an incident is a supply-chain incident (IR-4(10)): what ties it to
/// another organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A supplier, customer or partner is implicated (source or victim).
    ThirdPartyImplicated,
    /// A component, library or service we depend on is suspected.
    UpstreamDependencySuspected,
    /// A service shared with other organizations is affected.
    SharedServiceImpact,
    /// Containment or remediation cannot be done without a third party.
    RemediationNeedsThirdParty,
}

/// A string that is not a supply-chain trigger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a supply-chain trigger: expected one of third_party_implicated, upstream_dependency_suspected, shared_service_impact, remediation_needs_third_party")]
pub struct ParseTriggerError(pub String);

impl Trigger {
    /// Every trigger.
    pub const ALL: [Trigger; 4] = [
        Trigger::ThirdPartyImplicated,
        Trigger::UpstreamDependencySuspected,
        Trigger::SharedServiceImpact,
        Trigger::RemediationNeedsThirdParty,
    ];

    /// The snake_case code, as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::ThirdPartyImplicated => "third_party_implicated",
            Trigger::UpstreamDependencySuspected => "upstream_dependency_suspected",
            Trigger::SharedServiceImpact => "shared_service_impact",
            Trigger::RemediationNeedsThirdParty => "remediation_needs_third_party",
        }
    }

    /// The trigger in plain words, for reports and notices.
    pub fn describe(&self) -> &'static str {
        match self {
            Trigger::ThirdPartyImplicated => "a third party is implicated",
            Trigger::UpstreamDependencySuspected => "an upstream dependency is suspected",
            Trigger::SharedServiceImpact => "a shared service is affected",
            Trigger::RemediationNeedsThirdParty => "remediation needs a third party",
        }
    }
}

impl fmt::Display for Trigger {
    /// The snake_case code (see [`Trigger::describe`] for words).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Trigger {
    type Err = ParseTriggerError;

    /// The snake_case code, case-insensitive, with `-` accepted for `_`
    /// (command-line flags are usually written in kebab case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let code = s.trim().to_ascii_lowercase().replace('-', "_");
        Trigger::ALL
            .into_iter()
            .find(|t| t.as_str() == code)
            .ok_or_else(|| ParseTriggerError(s.to_string()))
    }
}

/// An implicated software dependency, written `name@version` or `name`
/// (npm scopes such as `@scope/pkg@1.2.3` included). Serialised as that
/// string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dependency {
    /// Package name, e.g. `openssl` or `@scope/pkg`.
    pub name: String,
    /// Version, when known.
    pub version: Option<String>,
}

/// A string that is not a dependency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseDependencyError {
    /// Nothing but spaces, or a bare scope `@` with no package after it.
    #[error("dependency `{0}` has no name: expected `name@version` or `name`")]
    EmptyName(String),
    /// A trailing `@` with nothing after it.
    #[error("dependency `{0}` has an empty version after `@`: expected `name@version` or `name`")]
    EmptyVersion(String),
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{}@{}", self.name, v),
            None => f.write_str(&self.name),
        }
    }
}

impl FromStr for Dependency {
    type Err = ParseDependencyError;

    /// Splits at the last `@` that is not the first character, so that the
    /// `@` of an npm scope stays part of the name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        // The last `@` is the version separator unless it is the first
        // character: then it is an npm scope's and no version is given.
        let at = t.rfind('@').filter(|&i| i > 0);
        let (name, version) = match at {
            Some(i) => (&t[..i], Some(&t[i + 1..])),
            None => (t, None),
        };
        // A lone `@` is a scope marker with no package behind it.
        if name.is_empty() || name == "@" {
            return Err(ParseDependencyError::EmptyName(s.to_string()));
        }
        if version.is_some_and(str::is_empty) {
            return Err(ParseDependencyError::EmptyVersion(s.to_string()));
        }
        Ok(Dependency {
            name: name.to_string(),
            version: version.map(str::to_string),
        })
    }
}

impl Serialize for Dependency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dependency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How long after notification a peer has, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Deadlines {
    /// Until the peer's node returns a signed receipt.
    pub receipt_s: u64,
    /// Until a person at the peer acknowledges.
    pub ack_s: u64,
}

/// One configured row of the deadline table (a `[[incidents.deadlines]]`
/// row of the node configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineRule {
    /// The incident severity the row is for.
    pub severity: Severity,
    /// The peer tier the row is for (1..=3).
    pub tier: u8,
    /// Seconds until the peer's node must return a receipt.
    pub receipt_s: u64,
    /// Seconds until a person at the peer must acknowledge.
    pub ack_s: u64,
}

/// A deadline table that cannot be what its author meant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadlinePolicyError {
    /// A tier outside 1..=3: the row would never be used.
    #[error("deadline row for {severity} has tier {tier}: tiers are 1, 2 or 3")]
    TierOutOfRange {
        /// The row's severity.
        severity: Severity,
        /// The bad tier.
        tier: u8,
    },
    /// Two rows for the same severity and tier: only the first would count.
    #[error("two deadline rows for {severity} tier {tier}: keep one")]
    Duplicate {
        /// The severity.
        severity: Severity,
        /// The tier.
        tier: u8,
    },
    /// A zero deadline would escalate at the instant of notification.
    #[error("deadline row for {severity} tier {tier} has a zero {which} deadline")]
    Zero {
        /// The severity.
        severity: Severity,
        /// The tier.
        tier: u8,
        /// Which deadline is zero.
        which: DeadlineKind,
    },
    /// A person cannot acknowledge what the node has not yet received.
    #[error("deadline row for {severity} tier {tier}: acknowledgement ({ack_s} s) is due before the receipt ({receipt_s} s)")]
    AckBeforeReceipt {
        /// The severity.
        severity: Severity,
        /// The tier.
        tier: u8,
        /// The receipt deadline.
        receipt_s: u64,
        /// The acknowledgement deadline.
        ack_s: u64,
    },
}

/// Notification deadlines by severity and peer tier.
///
/// Configured rows win; any (severity, tier) without one falls back to the
/// built-in table, so a configuration may override a single cell.
/// [`DeadlinePolicy::default`] holds the built-in table itself. Serialised
/// as the bare list of rows, so a node configuration's
/// `[[incidents.deadlines]]` array reads straight into it.
///
/// The built-in table (receipt / acknowledgement):
///
/// | severity | tier 1 | tier 2 | tier 3 |
/// | --- | --- | --- | --- |
/// | critical | 15 min / 1 h | 30 min / 4 h | 1 h / 24 h |
/// | high | 30 min / 2 h | 1 h / 8 h | 2 h / 48 h |
/// | medium | 1 h / 4 h | 2 h / 16 h | 4 h / 96 h |
/// | low | 2 h / 8 h | 4 h / 32 h | 8 h / 192 h |
///
/// High is twice critical, medium four times, low eight times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeadlinePolicy {
    /// The configured rows; the first row for a (severity, tier) wins.
    pub rules: Vec<DeadlineRule>,
}

impl Default for DeadlinePolicy {
    /// The complete built-in table (see [`DeadlinePolicy`]).
    fn default() -> Self {
        let rules = Severity::ALL
            .into_iter()
            .flat_map(|severity| {
                (1..=3u8).map(move |tier| {
                    let d = builtin(severity, tier);
                    DeadlineRule {
                        severity,
                        tier,
                        receipt_s: d.receipt_s,
                        ack_s: d.ack_s,
                    }
                })
            })
            .collect();
        DeadlinePolicy { rules }
    }
}

/// The built-in deadlines: the critical row scaled by severity.
fn builtin(severity: Severity, tier: u8) -> Deadlines {
    const MIN: u64 = 60;
    const HOUR: u64 = 3600;
    let (receipt_s, ack_s) = match tier.clamp(1, 3) {
        1 => (15 * MIN, HOUR),
        2 => (30 * MIN, 4 * HOUR),
        _ => (HOUR, 24 * HOUR),
    };
    let factor = match severity {
        Severity::Critical => 1,
        Severity::High => 2,
        Severity::Medium => 4,
        Severity::Low => 8,
    };
    Deadlines {
        receipt_s: receipt_s * factor,
        ack_s: ack_s * factor,
    }
}

impl DeadlinePolicy {
    /// The deadlines for a peer of `tier` in an incident of `severity`: the
    /// first configured row, else the built-in one. Tiers outside 1..=3 are
    /// clamped (0 counts as 1, above 3 as 3), so an unexpected tier still
    /// gets deadlines rather than none.
    pub fn deadlines(&self, severity: Severity, tier: u8) -> Deadlines {
        let tier = tier.clamp(1, 3);
        self.rules
            .iter()
            .find(|r| r.severity == severity && r.tier == tier)
            .map(|r| Deadlines {
                receipt_s: r.receipt_s,
                ack_s: r.ack_s,
            })
            .unwrap_or_else(|| builtin(severity, tier))
    }

    /// Check configured rows, for the configuration loader: every problem
    /// found is returned, in row order.
    pub fn validate(&self) -> Result<(), Vec<DeadlinePolicyError>> {
        let mut errors = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            let (severity, tier) = (r.severity, r.tier);
            if !(1..=3).contains(&tier) {
                errors.push(DeadlinePolicyError::TierOutOfRange { severity, tier });
            }
            if self.rules[..i]
                .iter()
                .any(|p| p.severity == severity && p.tier == tier)
            {
                errors.push(DeadlinePolicyError::Duplicate { severity, tier });
            }
            for (which, s) in [
                (DeadlineKind::Receipt, r.receipt_s),
                (DeadlineKind::Ack, r.ack_s),
            ] {
                if s == 0 {
                    errors.push(DeadlinePolicyError::Zero {
                        severity,
                        tier,
                        which,
                    });
                }
            }
            if r.ack_s < r.receipt_s {
                errors.push(DeadlinePolicyError::AckBeforeReceipt {
                    severity,
                    tier,
                    receipt_s: r.receipt_s,
                    ack_s: r.ack_s,
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// One peer notified of an incident, and how far it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The share that carried the notification.
    pub share_id: Uuid,
    /// The peer's node id (text form).
    pub peer: String,
    /// The peer's name on this node.
    pub peer_name: String,
    /// The peer's tier (1 critical, 2 important, 3 other).
    pub tier: u8,
    /// When the notification was sent.
    pub notified_at: DateTime<Utc>,
    /// When the peer's signed receipt arrived, if it has.
    pub received_at: Option<DateTime<Utc>>,
    /// When a person at the peer acknowledged, if one has.
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// Which of a notification's two deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// The peer's node returns a signed receipt.
    Receipt,
    /// A person at the peer acknowledges.
    Ack,
}

impl fmt::Display for DeadlineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeadlineKind::Receipt => "receipt",
            DeadlineKind::Ack => "acknowledgement",
        })
    }
}

/// A deadline that has passed unmet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overdue {
    /// The share that carried the notification.
    pub share_id: Uuid,
    /// The peer's node id (text form).
    pub peer: String,
    /// The peer's name on this node.
    pub peer_name: String,
    /// Which deadline.
    pub kind: DeadlineKind,
    /// When it was due.
    pub due_at: DateTime<Utc>,
}

/// `at + secs`, or None when that is beyond what chrono can represent: such
/// a deadline never comes, which is what a configured `u64::MAX` means.
fn add_secs(at: DateTime<Utc>, secs: u64) -> Option<DateTime<Utc>> {
    let secs = i64::try_from(secs).ok()?;
    at.checked_add_signed(TimeDelta::try_seconds(secs)?)
}

/// Every deadline not yet met, whenever due, in input order.
fn unmet<'a>(
    severity: Severity,
    notifications: &'a [Notification],
    policy: &'a DeadlinePolicy,
) -> impl Iterator<Item = Overdue> + 'a {
    notifications.iter().flat_map(move |n| {
        let d = policy.deadlines(severity, n.tier);
        // An acknowledgement travels from the peer's node, so it proves the
        // node got the notification even when its receipt was recorded
        // later (or lost): asking for a receipt then would be a false alarm.
        let received = n.received_at.is_some() || n.acknowledged_at.is_some();
        let receipt = (!received)
            .then(|| add_secs(n.notified_at, d.receipt_s))
            .flatten()
            .map(|due_at| (DeadlineKind::Receipt, due_at));
        let ack = n
            .acknowledged_at
            .is_none()
            .then(|| add_secs(n.notified_at, d.ack_s))
            .flatten()
            .map(|due_at| (DeadlineKind::Ack, due_at));
        receipt
            .into_iter()
            .chain(ack)
            .map(move |(kind, due_at)| Overdue {
                share_id: n.share_id,
                peer: n.peer.clone(),
                peer_name: n.peer_name.clone(),
                kind,
                due_at,
            })
    })
}

/// Every deadline passed unmet at `now` (a deadline is passed from its due
/// instant on), sorted by due time, then peer, then kind and share so the
/// order never depends on the input's.
///
/// A receipt is overdue while neither the receipt nor an acknowledgement
/// has arrived; an acknowledgement while none has arrived. A late arrival
/// stops the deadline from being reported: the lateness itself is in the
/// timeline.
pub fn overdue(
    severity: Severity,
    notifications: &[Notification],
    policy: &DeadlinePolicy,
    now: DateTime<Utc>,
) -> Vec<Overdue> {
    let mut out: Vec<Overdue> = unmet(severity, notifications, policy)
        .filter(|o| o.due_at <= now)
        .collect();
    out.sort_by(|a, b| {
        (a.due_at, &a.peer, a.kind, a.share_id).cmp(&(b.due_at, &b.peer, b.kind, b.share_id))
    });
    out
}

/// The overdue deadlines not yet escalated: [`overdue`] without those whose
/// (share, peer node id, kind) is in `already`, so a restarted worker never
/// escalates the same deadline twice.
pub fn escalations_due(
    severity: Severity,
    notifications: &[Notification],
    policy: &DeadlinePolicy,
    already: &[(Uuid, String, DeadlineKind)],
    now: DateTime<Utc>,
) -> Vec<Overdue> {
    let mut out = overdue(severity, notifications, policy, now);
    out.retain(|o| {
        !already
            .iter()
            .any(|(share, peer, kind)| *share == o.share_id && *peer == o.peer && *kind == o.kind)
    });
    out
}

/// The earliest deadline not yet met, passed or not; None when every peer
/// has received and acknowledged.
///
/// Once a deadline has passed unmet this stays in the past until the peer
/// answers; a worker that sleeps until it should use
/// [`next_deadline_after`] after escalating, or it would wake in a loop.
pub fn next_deadline(
    severity: Severity,
    notifications: &[Notification],
    policy: &DeadlinePolicy,
) -> Option<DateTime<Utc>> {
    unmet(severity, notifications, policy)
        .map(|o| o.due_at)
        .min()
}

/// The earliest deadline not yet met that falls strictly after `now`: how
/// long an escalation worker that has just handled [`escalations_due`] at
/// `now` may sleep.
pub fn next_deadline_after(
    severity: Severity,
    notifications: &[Notification],
    policy: &DeadlinePolicy,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    unmet(severity, notifications, policy)
        .map(|o| o.due_at)
        .filter(|at| *at > now)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap()
    }

    fn at(secs: i64) -> DateTime<Utc> {
        t0() + TimeDelta::seconds(secs)
    }

    fn share(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn notif(peer: &str, tier: u8) -> Notification {
        Notification {
            share_id: share(1),
            peer: format!("node-{peer}"),
            peer_name: peer.to_string(),
            tier,
            notified_at: t0(),
            received_at: None,
            acknowledged_at: None,
        }
    }

    #[test]
    fn severity_parses_any_case_and_orders() {
        for (input, want) in [
            ("low", Severity::Low),
            ("Medium", Severity::Medium),
            (" HIGH ", Severity::High),
            ("critical", Severity::Critical),
        ] {
            assert_eq!(input.parse::<Severity>(), Ok(want), "{input}");
        }
        for s in Severity::ALL {
            assert_eq!(s.to_string().parse::<Severity>(), Ok(s));
        }
        let err = "severe".parse::<Severity>().unwrap_err().to_string();
        assert!(err.contains("`severe`"), "{err}");
        assert!(err.contains("low, medium, high, critical"), "{err}");
        assert!(Severity::Low < Severity::Medium);
        assert!(Severity::High < Severity::Critical);
        assert_eq!(
            serde_json::to_string(&Severity::Critical).unwrap(),
            "\"critical\""
        );
    }

    #[test]
    fn trigger_parses_snake_and_kebab_case() {
        for (input, want) in [
            ("third_party_implicated", Trigger::ThirdPartyImplicated),
            ("third-party-implicated", Trigger::ThirdPartyImplicated),
            (
                "upstream_dependency_suspected",
                Trigger::UpstreamDependencySuspected,
            ),
            ("shared-service-impact", Trigger::SharedServiceImpact),
            (
                "Remediation_Needs_Third_Party",
                Trigger::RemediationNeedsThirdParty,
            ),
        ] {
            assert_eq!(input.parse::<Trigger>(), Ok(want), "{input}");
        }
        for t in Trigger::ALL {
            assert_eq!(t.to_string().parse::<Trigger>(), Ok(t));
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
        for bad in [
            "",
            "third party implicated",
            "upstream",
            "third__party_implicated",
        ] {
            let err = bad.parse::<Trigger>().unwrap_err().to_string();
            assert!(err.contains(&format!("`{bad}`")), "{err}");
            assert!(err.contains("shared_service_impact"), "{err}");
        }
        assert_eq!(
            Trigger::SharedServiceImpact.describe(),
            "a shared service is affected"
        );
        assert_eq!(
            Trigger::RemediationNeedsThirdParty.describe(),
            "remediation needs a third party"
        );
    }

    #[test]
    fn dependency_parses_and_round_trips() {
        for (input, name, version) in [
            ("openssl@3.0.7", "openssl", Some("3.0.7")),
            ("openssl", "openssl", None),
            ("@scope/pkg@1.2.3", "@scope/pkg", Some("1.2.3")),
            ("@scope/pkg", "@scope/pkg", None),
            ("a@b@c", "a@b", Some("c")),
            (" xz-utils@5.6.1 ", "xz-utils", Some("5.6.1")),
            ("é@1", "é", Some("1")),
        ] {
            let d: Dependency = input.parse().unwrap();
            assert_eq!(d.name, name, "{input}");
            assert_eq!(d.version.as_deref(), version, "{input}");
            assert_eq!(d.to_string(), input.trim());
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(json, format!("\"{}\"", input.trim()));
            assert_eq!(serde_json::from_str::<Dependency>(&json).unwrap(), d);
        }
    }

    #[test]
    fn dependency_refuses_empty_parts() {
        for bad in ["", "  ", "@"] {
            assert_eq!(
                bad.parse::<Dependency>(),
                Err(ParseDependencyError::EmptyName(bad.to_string())),
                "{bad:?}"
            );
        }
        for bad in ["openssl@", "@scope/pkg@"] {
            assert_eq!(
                bad.parse::<Dependency>(),
                Err(ParseDependencyError::EmptyVersion(bad.to_string())),
                "{bad:?}"
            );
        }
        assert!(serde_json::from_str::<Dependency>("\"x@\"").is_err());
    }

    #[test]
    fn default_table_is_complete_and_scaled() {
        let p = DeadlinePolicy::default();
        assert_eq!(p.rules.len(), 12);
        assert_eq!(p.validate(), Ok(()));
        for (severity, tier, receipt_s, ack_s) in [
            (Severity::Critical, 1, 900, 3600),
            (Severity::Critical, 2, 1800, 4 * 3600),
            (Severity::Critical, 3, 3600, 24 * 3600),
            (Severity::High, 1, 1800, 2 * 3600),
            (Severity::High, 3, 2 * 3600, 48 * 3600),
            (Severity::Medium, 2, 2 * 3600, 16 * 3600),
            (Severity::Low, 1, 2 * 3600, 8 * 3600),
            (Severity::Low, 3, 8 * 3600, 192 * 3600),
        ] {
            assert_eq!(
                p.deadlines(severity, tier),
                Deadlines { receipt_s, ack_s },
                "{severity} tier {tier}"
            );
        }
    }

    #[test]
    fn lookup_prefers_configured_rows_and_clamps_tier() {
        let p = DeadlinePolicy {
            rules: vec![
                DeadlineRule {
                    severity: Severity::High,
                    tier: 1,
                    receipt_s: 60,
                    ack_s: 600,
                },
                DeadlineRule {
                    severity: Severity::Low,
                    tier: 3,
                    receipt_s: 7,
                    ack_s: 70,
                },
            ],
        };
        let builtin_high2 = DeadlinePolicy::default().deadlines(Severity::High, 2);
        for (severity, tier, want) in [
            (
                Severity::High,
                1,
                Deadlines {
                    receipt_s: 60,
                    ack_s: 600,
                },
            ),
            (
                Severity::High,
                0,
                Deadlines {
                    receipt_s: 60,
                    ack_s: 600,
                },
            ),
            (Severity::High, 2, builtin_high2),
            (
                Severity::Low,
                3,
                Deadlines {
                    receipt_s: 7,
                    ack_s: 70,
                },
            ),
            (
                Severity::Low,
                9,
                Deadlines {
                    receipt_s: 7,
                    ack_s: 70,
                },
            ),
            (
                Severity::Low,
                255,
                Deadlines {
                    receipt_s: 7,
                    ack_s: 70,
                },
            ),
            (
                Severity::Critical,
                0,
                Deadlines {
                    receipt_s: 900,
                    ack_s: 3600,
                },
            ),
            (
                Severity::Critical,
                7,
                Deadlines {
                    receipt_s: 3600,
                    ack_s: 86400,
                },
            ),
        ] {
            assert_eq!(p.deadlines(severity, tier), want, "{severity} tier {tier}");
        }
        // An empty configuration is the built-in table.
        let empty = DeadlinePolicy { rules: Vec::new() };
        for s in Severity::ALL {
            for tier in 1..=3 {
                assert_eq!(
                    empty.deadlines(s, tier),
                    DeadlinePolicy::default().deadlines(s, tier)
                );
            }
        }
    }

    #[test]
    fn policy_reads_config_rows_and_validates() {
        #[derive(Deserialize)]
        struct Incidents {
            deadlines: DeadlinePolicy,
        }
        let p: Incidents = serde_json::from_str(
            r#"{"deadlines": [
                {"severity": "critical", "tier": 1, "receipt_s": 300, "ack_s": 1800},
                {"severity": "critical", "tier": 1, "receipt_s": 300, "ack_s": 1800},
                {"severity": "low", "tier": 4, "receipt_s": 0, "ack_s": 10},
                {"severity": "high", "tier": 2, "receipt_s": 100, "ack_s": 50}
            ]}"#,
        )
        .unwrap();
        assert_eq!(
            p.deadlines.deadlines(Severity::Critical, 1),
            Deadlines {
                receipt_s: 300,
                ack_s: 1800
            }
        );
        let errors = p.deadlines.validate().unwrap_err();
        assert_eq!(
            errors,
            vec![
                DeadlinePolicyError::Duplicate {
                    severity: Severity::Critical,
                    tier: 1
                },
                DeadlinePolicyError::TierOutOfRange {
                    severity: Severity::Low,
                    tier: 4
                },
                DeadlinePolicyError::Zero {
                    severity: Severity::Low,
                    tier: 4,
                    which: DeadlineKind::Receipt
                },
                DeadlinePolicyError::AckBeforeReceipt {
                    severity: Severity::High,
                    tier: 2,
                    receipt_s: 100,
                    ack_s: 50
                },
            ]
        );
        assert!(errors[3].to_string().contains("high tier 2"));
        // A misspelt key is refused rather than silently defaulted.
        assert!(serde_json::from_str::<DeadlinePolicy>(
            r#"[{"severity": "low", "tier": 1, "receipt_s": 1, "ack": 2}]"#
        )
        .is_err());
    }

    #[test]
    fn overdue_at_the_boundary() {
        // Critical, tier 1: receipt at +900 s, acknowledgement at +3600 s.
        let p = DeadlinePolicy::default();
        let ns = [notif("bolt", 1)];
        for (now, want) in [
            (-1, vec![]),
            (0, vec![]),
            (899, vec![]),
            (900, vec![(DeadlineKind::Receipt, 900)]),
            (901, vec![(DeadlineKind::Receipt, 900)]),
            (3599, vec![(DeadlineKind::Receipt, 900)]),
            (
                3600,
                vec![(DeadlineKind::Receipt, 900), (DeadlineKind::Ack, 3600)],
            ),
            (
                100_000,
                vec![(DeadlineKind::Receipt, 900), (DeadlineKind::Ack, 3600)],
            ),
        ] {
            let got: Vec<_> = overdue(Severity::Critical, &ns, &p, at(now))
                .into_iter()
                .map(|o| {
                    assert_eq!(o.peer, "node-bolt");
                    assert_eq!(o.peer_name, "bolt");
                    assert_eq!(o.share_id, share(1));
                    (o.kind, (o.due_at - t0()).num_seconds())
                })
                .collect();
            assert_eq!(got, want, "now = +{now} s");
        }
    }

    #[test]
    fn arrivals_stop_their_deadlines() {
        let p = DeadlinePolicy::default();
        let now = at(10 * 3600);
        let kinds = |n: Notification| -> Vec<DeadlineKind> {
            overdue(Severity::Critical, &[n], &p, now)
                .into_iter()
                .map(|o| o.kind)
                .collect()
        };
        let base = notif("bolt", 1);
        // Received (even late): only the acknowledgement is still missing.
        let received = Notification {
            received_at: Some(at(2000)),
            ..base.clone()
        };
        assert_eq!(kinds(received.clone()), vec![DeadlineKind::Ack]);
        // Received and acknowledged: nothing.
        let both = Notification {
            acknowledged_at: Some(at(5000)),
            ..received
        };
        assert_eq!(kinds(both), vec![]);
        // Acknowledged with no receipt recorded: the acknowledgement proves
        // delivery, so no receipt is asked for either.
        let ack_only = Notification {
            acknowledged_at: Some(at(100)),
            ..base.clone()
        };
        assert_eq!(kinds(ack_only), vec![]);
        assert_eq!(kinds(base), vec![DeadlineKind::Receipt, DeadlineKind::Ack]);
    }

    #[test]
    fn overdue_sorts_by_due_time_then_peer() {
        let p = DeadlinePolicy::default();
        let mut cobalt = notif("cobalt", 1);
        cobalt.share_id = share(2);
        let mut delta = notif("delta", 3); // receipt +3600, ack +86400
        delta.share_id = share(3);
        let ns = [delta, cobalt, notif("bolt", 1)];
        let got: Vec<_> = overdue(Severity::Critical, &ns, &p, at(4000))
            .into_iter()
            .map(|o| (o.peer_name, o.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                ("bolt".to_string(), DeadlineKind::Receipt),
                ("cobalt".to_string(), DeadlineKind::Receipt),
                ("bolt".to_string(), DeadlineKind::Ack),
                ("cobalt".to_string(), DeadlineKind::Ack),
                ("delta".to_string(), DeadlineKind::Receipt),
            ]
        );
        // The severity changes the clock: low is eight times slower.
        assert!(overdue(Severity::Low, &ns, &p, at(4000)).is_empty());
    }

    #[test]
    fn escalations_exclude_already_escalated() {
        let p = DeadlinePolicy::default();
        let ns = [notif("bolt", 1), notif("cobalt", 1)];
        let now = at(3600);
        assert_eq!(
            escalations_due(Severity::Critical, &ns, &p, &[], now).len(),
            4
        );
        let already = vec![
            (share(1), "node-bolt".to_string(), DeadlineKind::Receipt),
            (share(1), "node-cobalt".to_string(), DeadlineKind::Ack),
            // Different share, same peer and kind: does not count.
            (share(9), "node-bolt".to_string(), DeadlineKind::Ack),
        ];
        let got: Vec<_> = escalations_due(Severity::Critical, &ns, &p, &already, now)
            .into_iter()
            .map(|o| (o.peer, o.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                ("node-cobalt".to_string(), DeadlineKind::Receipt),
                ("node-bolt".to_string(), DeadlineKind::Ack),
            ]
        );
        // Everything escalated: nothing more, however late it gets.
        let all: Vec<_> = overdue(Severity::Critical, &ns, &p, now)
            .into_iter()
            .map(|o| (o.share_id, o.peer, o.kind))
            .collect();
        assert!(escalations_due(Severity::Critical, &ns, &p, &all, at(1_000_000)).is_empty());
    }

    #[test]
    fn next_deadline_is_the_earliest_unmet() {
        let p = DeadlinePolicy::default();
        let mut cobalt = notif("cobalt", 2); // receipt +1800, ack +14400
        cobalt.notified_at = at(-600);
        let bolt = notif("bolt", 1); // receipt +900, ack +3600
        let bolt_received = Notification {
            received_at: Some(at(10)),
            ..bolt.clone()
        };
        let bolt_done = Notification {
            acknowledged_at: Some(at(20)),
            ..bolt_received.clone()
        };
        for (ns, want) in [
            (vec![], None),
            (vec![bolt.clone()], Some(at(900))),
            (vec![bolt_received.clone()], Some(at(3600))),
            (vec![bolt_done.clone()], None),
            (vec![cobalt.clone(), bolt.clone()], Some(at(900))),
            (vec![cobalt.clone(), bolt_received], Some(at(1200))),
            (vec![bolt_done, cobalt.clone()], Some(at(1200))),
        ] {
            assert_eq!(next_deadline(Severity::Critical, &ns, &p), want);
        }
        // A passed deadline stays the earliest; the one after `now` is next.
        let ns = [bolt, cobalt];
        assert_eq!(next_deadline(Severity::Critical, &ns, &p), Some(at(900)));
        for (now, want) in [
            (0, Some(at(900))),
            (900, Some(at(1200))),
            (1200, Some(at(3600))),
            (3600, Some(at(13800))),
            (13800, None),
        ] {
            assert_eq!(
                next_deadline_after(Severity::Critical, &ns, &p, at(now)),
                want,
                "now = +{now} s"
            );
        }
    }

    #[test]
    fn unrepresentable_deadlines_never_come() {
        let p = DeadlinePolicy {
            rules: vec![DeadlineRule {
                severity: Severity::Low,
                tier: 1,
                receipt_s: u64::MAX,
                ack_s: u64::MAX / 2,
            }],
        };
        let ns = [notif("bolt", 1)];
        let far = DateTime::<Utc>::MAX_UTC;
        assert!(overdue(Severity::Low, &ns, &p, far).is_empty());
        assert_eq!(next_deadline(Severity::Low, &ns, &p), None);
    }

    #[test]
    fn records_round_trip_as_json() {
        let n = Notification {
            received_at: Some(at(5)),
            ..notif("bolt", 2)
        };
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(serde_json::from_str::<Notification>(&json).unwrap(), n);
        let o = Overdue {
            share_id: share(1),
            peer: "node-bolt".into(),
            peer_name: "bolt".into(),
            kind: DeadlineKind::Ack,
            due_at: at(3600),
        };
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(v["kind"], "ack");
        assert_eq!(serde_json::from_value::<Overdue>(v).unwrap(), o);
        assert_eq!(DeadlineKind::Ack.to_string(), "acknowledgement");
        assert_eq!(DeadlineKind::Receipt.to_string(), "receipt");
    }
}
