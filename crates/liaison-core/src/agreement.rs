//! Sharing agreements (DESIGN §5): the bilateral document both nodes sign
//! before anything flows between them.
//!
//! An agreement names its two parties, a validity window and, per direction
//! (a *flow* from one party to the other), the terms the sending node
//! enforces on the way out and the receiving node on the way in: the highest
//! TLP, the content allowed, what is redacted, who must approve, whether the
//! recipient may pass it on, and how it must be handled. Field names follow
//! FIRST IEP 2.0 where one fits (`permitted_actions`, `attribution`,
//! `affected_party_notifications`, `encrypt_in_transit` is implied: Liaison
//! always encrypts).
//!
//! People write an agreement as TOML from their own point of view
//! ([`AgreementFile`]: `outbound` is what this node sends, `inbound` what it
//! receives); on the wire it is JSON with node ids ([`Agreement`]), signed as
//! a DSSE envelope by the proposer and then countersigned by the other party
//! over the same bytes ([`SignedAgreement`]). It is in force only with both
//! signatures and inside its window; a newer version supersedes an older
//! one; either party may decline a proposal or revoke an agreement with a
//! signed [`Notice`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::content::Kind;
use crate::dsse::{DsseError, Envelope};
use crate::identity::{NodeId, NodeKeys};
use crate::manifest::{sha256_hex, Party};
use crate::redact::{RedactError, RedactRules};
use crate::tlp::Tlp;

/// DSSE payload type of an agreement (version 1).
pub const AGREEMENT_TYPE: &str = "application/vnd.liaison.agreement+json;v=1";
/// DSSE payload type of a decline or revocation notice (version 1).
pub const NOTICE_TYPE: &str = "application/vnd.liaison.agreement-notice+json;v=1";
/// The agreement format version this build writes and reads.
pub const AGREEMENT_VERSION: u32 = 1;
/// Most STIX types one flow may list.
const MAX_TYPES: usize = 256;
/// Most approvers an approval rule may ask for.
const MAX_APPROVERS: u32 = 16;

/// A sharing agreement between two nodes, as signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agreement {
    /// Format version (1).
    pub v: u32,
    /// Agreement id, shared by all its versions (the IEP policy id).
    pub id: Uuid,
    /// Version, from 1; a newer version in force supersedes older ones.
    pub version: u32,
    /// A short human title.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// The two parties: the proposer first, then the counterparty.
    pub parties: Vec<Party>,
    /// Start of the validity window.
    pub valid_from: DateTime<Utc>,
    /// End of the validity window.
    pub valid_until: DateTime<Utc>,
    /// When the proposer drafted this version.
    pub created: DateTime<Utc>,
    /// What may flow, per direction (one or two flows).
    pub flows: Vec<Flow>,
}

/// The terms for one direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    /// The sending party.
    pub from: NodeId,
    /// The receiving party.
    pub to: NodeId,
    /// What the sender may send and the receiver accepts.
    pub terms: Terms,
}

/// What one direction of an agreement allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    /// The highest TLP that may flow.
    pub max_tlp: Tlp,
    /// The content allowed.
    pub content: ContentTerms,
    /// What the sender removes before sealing.
    #[serde(default, skip_serializing_if = "RedactRules::is_empty")]
    pub redact: RedactRules,
    /// Which releases need approval, and by how many people.
    #[serde(default)]
    pub approval: ApprovalTerms,
    /// Whether the recipient may pass content on.
    #[serde(default)]
    pub reshare: ReshareTerms,
    /// How the recipient must handle what it receives (IEP 2.0).
    #[serde(default)]
    pub handling: Handling,
}

/// The content one direction allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentTerms {
    /// Content kinds allowed: `stix`, `csaf` (advisories), `note`, `log`
    /// (log excerpts).
    pub kinds: Vec<Kind>,
    /// STIX object types and observable types (as objects or compared in
    /// indicator patterns) allowed, e.g. `indicator`, `ipv4-addr`,
    /// `domain-name`, `url`, `file`, `email-addr`; `*` allows every type.
    /// `marking-definition` is always allowed (it carries the TLP).
    #[serde(default)]
    pub stix_types: Vec<String>,
}

impl ContentTerms {
    /// Whether STIX objects (or pattern comparisons) of `ty` may flow.
    pub fn allows_stix_type(&self, ty: &str) -> bool {
        ty == "marking-definition" || self.stix_types.iter().any(|t| t == "*" || t == ty)
    }
}

/// Which releases need approval before sealing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalTerms {
    /// Shares at this TLP or above need approval; none: no approval needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_tlp: Option<Tlp>,
    /// How many distinct approvers (never the drafter) must approve.
    #[serde(default = "one")]
    pub approvers: u32,
}

fn one() -> u32 {
    1
}

impl Default for ApprovalTerms {
    /// No approval needed (one approver, should a level be set).
    fn default() -> Self {
        ApprovalTerms {
            from_tlp: None,
            approvers: 1,
        }
    }
}

impl ApprovalTerms {
    /// How many approvals a share at `tlp` needs (0: none).
    pub fn needed(&self, tlp: Tlp) -> u32 {
        match self.from_tlp {
            Some(from) if tlp >= from => self.approvers.max(1),
            _ => 0,
        }
    }
}

/// Whether the recipient may pass content on (bounded by TLP: only CLEAR
/// and GREEN may ever be re-shared, DESIGN §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReshareTerms {
    /// Whether re-sharing is allowed at all.
    #[serde(default)]
    pub allowed: bool,
    /// The highest TLP that may be re-shared (CLEAR or GREEN).
    #[serde(default = "green")]
    pub max_tlp: Tlp,
    /// The nodes it may be re-shared to; empty: any peer of the recipient
    /// (for GREEN, its community).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<NodeId>,
}

fn green() -> Tlp {
    Tlp::Green
}

impl Default for ReshareTerms {
    fn default() -> Self {
        ReshareTerms {
            allowed: false,
            max_tlp: Tlp::Green,
            to: Vec::new(),
        }
    }
}

/// How received content must be handled (IEP 2.0 statements, plus IEP 1.0's
/// ENCRYPT AT REST and a retention period).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handling {
    /// Days the recipient may keep the content; none: no limit agreed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// Whether the recipient must encrypt the content at rest.
    #[serde(default)]
    pub encrypt_at_rest: bool,
    /// IEP PERMITTED ACTIONS.
    #[serde(default)]
    pub permitted_actions: PermittedActions,
    /// IEP ATTRIBUTION of the provider when the content is used.
    #[serde(default)]
    pub attribution: Statement,
    /// IEP AFFECTED PARTY NOTIFICATIONS.
    #[serde(default)]
    pub affected_party_notifications: Statement,
    /// People at the recipient who may receive TLP:RED (named individuals);
    /// a RED share must name its individuals, and they must be listed here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub red_individuals: Vec<String>,
    /// On recall, the recipient purges the content and its manifest too
    /// (keeping only the hashes in its ledger) instead of keeping a
    /// tombstone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub purge_on_recall: bool,
}

impl Default for Handling {
    fn default() -> Self {
        Handling {
            retention_days: None,
            encrypt_at_rest: false,
            permitted_actions: PermittedActions::default(),
            attribution: Statement::May,
            affected_party_notifications: Statement::May,
            red_individuals: Vec::new(),
            purge_on_recall: false,
        }
    }
}

/// IEP 2.0 PERMITTED ACTIONS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PermittedActions {
    /// Recipients should not act on the information.
    None,
    /// Recipients must contact the provider before acting.
    ContactForInstruction,
    /// Only actions visible on the recipient's internal networks and systems.
    #[default]
    InternallyVisibleActions,
    /// Also indirect or passive actions visible outside.
    ExternallyVisibleIndirectActions,
    /// Any action.
    ExternallyVisibleDirectActions,
}

impl PermittedActions {
    fn words(self) -> &'static str {
        match self {
            PermittedActions::None => "no action on it",
            PermittedActions::ContactForInstruction => "contact the provider before acting",
            PermittedActions::InternallyVisibleActions => {
                "actions visible on internal networks only"
            }
            PermittedActions::ExternallyVisibleIndirectActions => {
                "internal and indirect external actions, no direct action visible to the adversary"
            }
            PermittedActions::ExternallyVisibleDirectActions => "any action",
        }
    }
}

/// An IEP 2.0 MAY / MUST / MUST NOT statement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Statement {
    /// Allowed.
    #[default]
    May,
    /// Required.
    Must,
    /// Forbidden.
    MustNot,
}

impl Statement {
    fn words(self) -> &'static str {
        match self {
            Statement::May => "may",
            Statement::Must => "must",
            Statement::MustNot => "must not",
        }
    }
}

/// Where one version of an agreement stands on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgreementState {
    /// This node proposed (signed) it; waiting for the peer's countersignature.
    ProposedByUs,
    /// The peer proposed it; waiting for a local decision.
    ProposedByPeer,
    /// Signed by both parties (the validity window still applies).
    InForce,
    /// Refused by the party asked to countersign.
    Declined,
    /// Withdrawn by either party after it was in force.
    Revoked,
    /// Replaced by a newer version in force.
    Superseded,
}

/// A string that is not an agreement state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an agreement state: expected one of proposed_by_us, proposed_by_peer, in_force, declined, revoked, superseded")]
pub struct ParseAgreementStateError(pub String);

impl AgreementState {
    /// Every state.
    pub const ALL: [AgreementState; 6] = [
        AgreementState::ProposedByUs,
        AgreementState::ProposedByPeer,
        AgreementState::InForce,
        AgreementState::Declined,
        AgreementState::Revoked,
        AgreementState::Superseded,
    ];

    /// The snake_case name, e.g. `in_force`.
    pub fn as_str(self) -> &'static str {
        match self {
            AgreementState::ProposedByUs => "proposed_by_us",
            AgreementState::ProposedByPeer => "proposed_by_peer",
            AgreementState::InForce => "in_force",
            AgreementState::Declined => "declined",
            AgreementState::Revoked => "revoked",
            AgreementState::Superseded => "superseded",
        }
    }
}

impl fmt::Display for AgreementState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AgreementState {
    type Err = ParseAgreementStateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgreementState::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| ParseAgreementStateError(s.to_string()))
    }
}

/// Why an agreement (or a notice) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgreementError {
    /// Not parseable as an agreement file or document.
    #[error("malformed agreement: {0}")]
    Malformed(String),
    /// A format version this build does not read.
    #[error("unsupported agreement format version {0} (this node reads {AGREEMENT_VERSION})")]
    UnsupportedVersion(u32),
    /// A field has an impossible value.
    #[error("invalid agreement: {0}")]
    Invalid(String),
    /// A redaction rule is invalid.
    #[error("invalid agreement: {flow}: {source}")]
    Redact {
        /// Which flow, in words.
        flow: String,
        /// What is wrong.
        source: RedactError,
    },
    /// A signature does not verify, or a party's signature is missing.
    #[error("agreement signature: {0}")]
    Signature(String),
    /// The node handling it is not a party.
    #[error("node {0} is not a party to this agreement")]
    NotAParty(NodeId),
}

impl From<DsseError> for AgreementError {
    fn from(e: DsseError) -> Self {
        match e {
            DsseError::Malformed(m) => AgreementError::Malformed(m),
            other => AgreementError::Signature(other.to_string()),
        }
    }
}

impl Agreement {
    /// Check everything that does not need a signature: format version,
    /// two distinct parties, a sane window, one flow per direction between
    /// them, valid redaction rules, and re-share bounded by TLP.
    pub fn check(&self) -> Result<(), AgreementError> {
        if self.v != AGREEMENT_VERSION {
            return Err(AgreementError::UnsupportedVersion(self.v));
        }
        if self.version == 0 {
            return Err(AgreementError::Invalid("`version` starts at 1".into()));
        }
        let [a, b] = self.parties.as_slice() else {
            return Err(AgreementError::Invalid(format!(
                "an agreement has exactly two parties, this one names {}",
                self.parties.len()
            )));
        };
        if a.node_id == b.node_id {
            return Err(AgreementError::Invalid(
                "both parties are the same node".into(),
            ));
        }
        if self.valid_from >= self.valid_until {
            return Err(AgreementError::Invalid(format!(
                "`valid_from` ({}) must be before `valid_until` ({})",
                self.valid_from.to_rfc3339(),
                self.valid_until.to_rfc3339()
            )));
        }
        if self.flows.is_empty() || self.flows.len() > 2 {
            return Err(AgreementError::Invalid(format!(
                "an agreement has one or two flows (one per direction), this one has {}",
                self.flows.len()
            )));
        }
        for (i, f) in self.flows.iter().enumerate() {
            let ends = (f.from == a.node_id && f.to == b.node_id)
                || (f.from == b.node_id && f.to == a.node_id);
            if !ends {
                return Err(AgreementError::Invalid(format!(
                    "flow {} must go between the two parties",
                    i + 1
                )));
            }
            if self.flows[..i].iter().any(|g| g.from == f.from) {
                return Err(AgreementError::Invalid(format!(
                    "two flows from {}: one flow per direction",
                    self.org_of(&f.from)
                )));
            }
            let label = format!("{} → {}", self.org_of(&f.from), self.org_of(&f.to));
            f.terms.check(&label)?;
        }
        Ok(())
    }

    /// The terms for content sent by `from` to `to`, if that direction flows.
    pub fn flow(&self, from: &NodeId, to: &NodeId) -> Option<&Terms> {
        self.flows
            .iter()
            .find(|f| f.from == *from && f.to == *to)
            .map(|f| &f.terms)
    }

    /// Whether `node` is a party.
    pub fn is_party(&self, node: &NodeId) -> bool {
        self.parties.iter().any(|p| p.node_id == *node)
    }

    /// The other party, seen from `me`.
    pub fn counterparty(&self, me: &NodeId) -> Option<&Party> {
        if !self.is_party(me) {
            return None;
        }
        self.parties.iter().find(|p| p.node_id != *me)
    }

    /// The proposer (first party).
    pub fn proposer(&self) -> Option<&Party> {
        self.parties.first()
    }

    /// Whether `now` is inside the validity window.
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.valid_from <= now && now < self.valid_until
    }

    /// The exact bytes both parties sign.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Strings, numbers, timestamps and enums always serialize.
        serde_json::to_vec(self).unwrap_or_default()
    }

    fn org_of(&self, node: &NodeId) -> String {
        self.parties
            .iter()
            .find(|p| p.node_id == *node)
            .map_or_else(|| node.to_string(), |p| p.org.clone())
    }

    /// Both directions in plain words, one paragraph per direction, for
    /// `liaison agreement show`.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        let title = if self.title.is_empty() {
            String::new()
        } else {
            format!(" \"{}\"", self.title)
        };
        out.push_str(&format!(
            "Agreement {}{title}, version {}, between {} and {}, valid from {} until {}.\n",
            self.id,
            self.version,
            self.parties.first().map_or("?", |p| p.org.as_str()),
            self.parties.get(1).map_or("?", |p| p.org.as_str()),
            self.valid_from.format("%Y-%m-%d %H:%M UTC"),
            self.valid_until.format("%Y-%m-%d %H:%M UTC"),
        ));
        for p in &self.parties {
            for q in &self.parties {
                if p.node_id == q.node_id {
                    continue;
                }
                out.push_str(&format!("\n{} → {}:\n", p.org, q.org));
                match self.flow(&p.node_id, &q.node_id) {
                    None => out.push_str("  nothing may be sent in this direction.\n"),
                    Some(t) => {
                        for line in t.describe(&p.org, &q.org) {
                            out.push_str("  - ");
                            out.push_str(&line);
                            out.push('\n');
                        }
                    }
                }
            }
        }
        out
    }
}

impl Terms {
    fn check(&self, flow: &str) -> Result<(), AgreementError> {
        if self.content.kinds.is_empty() {
            return Err(AgreementError::Invalid(format!(
                "{flow}: `content.kinds` is empty: name at least one of stix, csaf, note, log"
            )));
        }
        if self.content.stix_types.len() > MAX_TYPES {
            return Err(AgreementError::Invalid(format!(
                "{flow}: more than {MAX_TYPES} STIX types"
            )));
        }
        for t in &self.content.stix_types {
            let ok = t == "*"
                || (t.starts_with(|c: char| c.is_ascii_lowercase())
                    && t.len() <= 250
                    && t.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            if !ok {
                return Err(AgreementError::Invalid(format!(
                    "{flow}: `{}` is not a STIX type name (lowercase letters, digits and hyphens, or `*`)",
                    t.chars().take(64).collect::<String>()
                )));
            }
        }
        self.redact
            .validate()
            .map_err(|source| AgreementError::Redact {
                flow: flow.to_string(),
                source,
            })?;
        if self.approval.from_tlp.is_some()
            && !(1..=MAX_APPROVERS).contains(&self.approval.approvers)
        {
            return Err(AgreementError::Invalid(format!(
                "{flow}: `approval.approvers` must be between 1 and {MAX_APPROVERS}"
            )));
        }
        if self.reshare.allowed && self.reshare.max_tlp > Tlp::Green {
            return Err(AgreementError::Invalid(format!(
                "{flow}: re-sharing is allowed for TLP:CLEAR and TLP:GREEN only, not up to {}",
                self.reshare.max_tlp
            )));
        }
        Ok(())
    }

    /// The terms in plain words, one sentence each.
    pub fn describe(&self, from: &str, to: &str) -> Vec<String> {
        let mut lines = vec![format!("up to {} may be sent", self.max_tlp)];
        let kinds: Vec<&str> = self
            .content
            .kinds
            .iter()
            .map(|k| match k {
                Kind::Stix => "STIX 2.1 bundles",
                Kind::Csaf => "CSAF 2.0 advisories",
                Kind::Note => "text notes",
                Kind::Log => "log excerpts",
                Kind::Coordination => "joint incident actions and decisions",
            })
            .collect();
        lines.push(format!("content allowed: {}", kinds.join(", ")));
        if self.content.kinds.contains(&Kind::Stix) {
            if self.content.stix_types.iter().any(|t| t == "*") {
                lines.push("STIX objects and indicator types: any".into());
            } else if self.content.stix_types.is_empty() {
                lines.push("STIX objects and indicator types: none (only markings)".into());
            } else {
                lines.push(format!(
                    "STIX objects and indicator types: {}",
                    self.content.stix_types.join(", ")
                ));
            }
        }
        let r = &self.redact;
        let mut redact = Vec::new();
        if !r.drop_objects.is_empty() {
            redact.push(format!("objects of type {}", r.drop_objects.join(", ")));
        }
        if !r.drop_properties.is_empty() {
            redact.push(format!("properties {}", r.drop_properties.join(", ")));
        }
        let action = match r.internal {
            crate::redact::InternalAction::Remove => "removed",
            crate::redact::InternalAction::Mask => "masked",
        };
        if !r.internal_cidrs.is_empty() {
            redact.push(format!(
                "indicators and observables in {}'s networks {} ({action})",
                from,
                r.internal_cidrs.join(", ")
            ));
        }
        if !r.internal_domains.is_empty() {
            redact.push(format!(
                "indicators and observables in {}'s domains {} ({action})",
                from,
                r.internal_domains.join(", ")
            ));
        }
        if r.remove_email_addresses {
            redact.push("e-mail addresses".into());
        }
        if !r.personal_data_fields.is_empty() {
            redact.push(format!(
                "personal data fields {}",
                r.personal_data_fields.join(", ")
            ));
        }
        if redact.is_empty() {
            lines.push("nothing is redacted".into());
        } else {
            lines.push(format!(
                "{from} removes before sealing: {}",
                redact.join("; ")
            ));
        }
        match self.approval.from_tlp {
            None => lines.push("no release approval needed".into()),
            Some(t) => lines.push(format!(
                "shares at {t} or above need {} approval{} at {from}, never by the drafter",
                self.approval.approvers,
                if self.approval.approvers == 1 {
                    ""
                } else {
                    "s"
                }
            )),
        }
        if self.reshare.allowed {
            let whom = if self.reshare.to.is_empty() {
                "any of its peers".to_string()
            } else {
                format!("{} named node(s)", self.reshare.to.len())
            };
            lines.push(format!(
                "{to} may re-share content up to {} to {whom}, with {from}'s signature intact",
                self.reshare.max_tlp
            ));
        } else {
            lines.push(format!("{to} may not re-share anything"));
        }
        let h = &self.handling;
        let mut handling = Vec::new();
        match h.retention_days {
            Some(d) => handling.push(format!("keep at most {d} days")),
            None => handling.push("no retention limit".into()),
        }
        if h.encrypt_at_rest {
            handling.push("encrypt at rest".into());
        }
        handling.push(format!(
            "permitted actions: {}",
            h.permitted_actions.words()
        ));
        handling.push(format!("{} attribute {from}", h.attribution.words()));
        handling.push(format!(
            "{} notify affected parties",
            h.affected_party_notifications.words()
        ));
        lines.push(format!("{to} must handle it so: {}", handling.join(", ")));
        if !h.red_individuals.is_empty() {
            lines.push(format!(
                "TLP:RED only for the named individuals {}",
                h.red_individuals.join(", ")
            ));
        }
        if h.purge_on_recall {
            lines.push(format!(
                "on recall {to} purges the content and its manifest, keeping only their hashes"
            ));
        }
        lines
    }
}

/// An agreement as written by hand, in TOML, from the writer's point of
/// view. `liaison agreement propose --peer B FILE` turns it into an
/// [`Agreement`] between this node and B.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementFile {
    /// Existing agreement id, to propose a new version of it; a new id is
    /// made when absent (or the newest agreement with the peer is revised).
    #[serde(default)]
    pub id: Option<Uuid>,
    /// Version; one more than the newest known version when absent.
    #[serde(default)]
    pub version: Option<u32>,
    /// A short human title.
    #[serde(default)]
    pub title: String,
    /// Start of the validity window (RFC 3339, quoted or a TOML date-time).
    #[serde(deserialize_with = "toml_time")]
    pub valid_from: DateTime<Utc>,
    /// End of the validity window (RFC 3339, quoted or a TOML date-time).
    #[serde(deserialize_with = "toml_time")]
    pub valid_until: DateTime<Utc>,
    /// What this node sends to the peer; absent: nothing.
    #[serde(default)]
    pub outbound: Option<Terms>,
    /// What the peer sends to this node; absent: nothing.
    #[serde(default)]
    pub inbound: Option<Terms>,
}

/// A time written either as a quoted RFC 3339 string or as a TOML
/// offset date-time (people write both).
fn toml_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = match toml::Value::deserialize(d)? {
        toml::Value::String(s) => s,
        toml::Value::Datetime(t) => t.to_string(),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected an RFC 3339 date-time, found a {}",
                other.type_str()
            )))
        }
    };
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            serde::de::Error::custom(format!(
                "`{text}` is not an RFC 3339 date-time with an offset (e.g. 2026-01-01T00:00:00Z): {e}"
            ))
        })
}

impl AgreementFile {
    /// Parse the TOML form.
    pub fn from_toml(text: &str) -> Result<AgreementFile, AgreementError> {
        toml::from_str(text).map_err(|e| AgreementError::Malformed(e.to_string()))
    }

    /// The agreement between `me` (the proposer) and `peer`, checked.
    pub fn to_agreement(
        &self,
        id: Uuid,
        version: u32,
        me: Party,
        peer: Party,
        now: DateTime<Utc>,
    ) -> Result<Agreement, AgreementError> {
        let mut flows = Vec::new();
        if let Some(t) = &self.outbound {
            flows.push(Flow {
                from: me.node_id,
                to: peer.node_id,
                terms: t.clone(),
            });
        }
        if let Some(t) = &self.inbound {
            flows.push(Flow {
                from: peer.node_id,
                to: me.node_id,
                terms: t.clone(),
            });
        }
        let agreement = Agreement {
            v: AGREEMENT_VERSION,
            id,
            version,
            title: self.title.clone(),
            parties: vec![me, peer],
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            created: now,
            flows,
        };
        agreement.check()?;
        Ok(agreement)
    }
}

/// An agreement with its signatures, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAgreement {
    /// The agreement.
    pub agreement: Agreement,
    /// Its exact signed bytes.
    pub bytes: Vec<u8>,
    /// The DSSE envelope (one signature per party that signed).
    pub envelope: Envelope,
    /// The parties whose signature verifies, in party order.
    pub signed_by: Vec<NodeId>,
}

impl SignedAgreement {
    /// Sign a new agreement as its proposer. `keys` must be the first party.
    pub fn propose(
        keys: &NodeKeys,
        agreement: Agreement,
    ) -> Result<SignedAgreement, AgreementError> {
        agreement.check()?;
        let me = keys.node_id();
        if agreement.proposer().map(|p| p.node_id) != Some(me) {
            return Err(AgreementError::NotAParty(me));
        }
        let bytes = agreement.to_bytes();
        let envelope = Envelope::sign(AGREEMENT_TYPE, &bytes, keys.signing_key(), &me.to_string());
        Ok(SignedAgreement {
            agreement,
            bytes,
            envelope,
            signed_by: vec![me],
        })
    }

    /// Parse and verify a signed agreement (DSSE JSON): every signature
    /// present must verify under a party's key (the node id is the key),
    /// and at least one party must have signed.
    pub fn from_json(json: &[u8]) -> Result<SignedAgreement, AgreementError> {
        let envelope = Envelope::from_json(json)?;
        let claimed = envelope.unverified_payload()?;
        // Which parties to check comes from the unverified bytes; only the
        // signatures decide, and only verified bytes are returned.
        let version = crate::format_version(&claimed)
            .map_err(|e| AgreementError::Malformed(e.to_string()))?;
        if version != AGREEMENT_VERSION {
            return Err(AgreementError::UnsupportedVersion(version));
        }
        let agreement: Agreement = serde_json::from_slice(&claimed)
            .map_err(|e| AgreementError::Malformed(e.to_string()))?;
        agreement.check()?;
        let mut signed_by = Vec::new();
        for p in &agreement.parties {
            match envelope.verify(AGREEMENT_TYPE, &p.node_id.verifying_key()) {
                Ok(bytes) if bytes == claimed => signed_by.push(p.node_id),
                Ok(_) => return Err(AgreementError::Malformed("payload changed".into())),
                Err(DsseError::BadSignature) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if signed_by.is_empty() {
            return Err(AgreementError::Signature(
                "no signature by either party verifies".into(),
            ));
        }
        if envelope.signatures.len() > signed_by.len() {
            return Err(AgreementError::Signature(format!(
                "{} signature(s) verify under no party's key",
                envelope.signatures.len() - signed_by.len()
            )));
        }
        Ok(SignedAgreement {
            agreement,
            bytes: claimed,
            envelope,
            signed_by,
        })
    }

    /// Read a signed agreement this node stored itself after verifying it
    /// ([`SignedAgreement::from_json`]): the signatures are not checked
    /// again (the node's own store is trusted; the ledger detects
    /// tampering), which keeps policy on every delivery cheap.
    pub fn from_stored(json: &[u8]) -> Result<SignedAgreement, AgreementError> {
        let envelope = Envelope::from_json(json)?;
        let bytes = envelope.unverified_payload()?;
        let agreement: Agreement =
            serde_json::from_slice(&bytes).map_err(|e| AgreementError::Malformed(e.to_string()))?;
        let ids: Vec<&str> = envelope.key_ids().collect();
        let signed_by = agreement
            .parties
            .iter()
            .map(|p| p.node_id)
            .filter(|id| ids.contains(&id.to_string().as_str()))
            .collect();
        Ok(SignedAgreement {
            agreement,
            bytes,
            envelope,
            signed_by,
        })
    }

    /// Add this node's signature over the same bytes.
    pub fn countersign(&self, keys: &NodeKeys) -> Result<SignedAgreement, AgreementError> {
        let me = keys.node_id();
        if !self.agreement.is_party(&me) {
            return Err(AgreementError::NotAParty(me));
        }
        let mut out = self.clone();
        if out.signed_by.contains(&me) {
            return Ok(out);
        }
        let mine = Envelope::sign(
            AGREEMENT_TYPE,
            &self.bytes,
            keys.signing_key(),
            &me.to_string(),
        );
        out.envelope.signatures.extend(mine.signatures);
        out.signed_by = self
            .agreement
            .parties
            .iter()
            .map(|p| p.node_id)
            .filter(|id| *id == me || self.signed_by.contains(id))
            .collect();
        Ok(out)
    }

    /// Whether both parties signed.
    pub fn is_countersigned(&self) -> bool {
        self.agreement
            .parties
            .iter()
            .all(|p| self.signed_by.contains(&p.node_id))
    }

    /// SHA-256 (hex) of the signed bytes: what manifests and ledgers name.
    pub fn sha256(&self) -> String {
        sha256_hex(&self.bytes)
    }

    /// The DSSE JSON to store and send.
    pub fn to_json(&self) -> Vec<u8> {
        self.envelope.to_json()
    }
}

/// What a notice does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeAction {
    /// The party asked to countersign refuses the proposal.
    Decline,
    /// A party withdraws an agreement (in force or proposed).
    Revoke,
}

/// A signed decline or revocation of one agreement version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// Format version (1).
    pub v: u32,
    /// The agreement.
    pub agreement_id: Uuid,
    /// Its version.
    pub version: u32,
    /// SHA-256 (hex) of the agreement bytes it refers to.
    pub agreement_sha256: String,
    /// Decline or revoke.
    pub action: NoticeAction,
    /// Why, in words.
    #[serde(default)]
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The party that signs it.
    pub by: NodeId,
}

impl Notice {
    /// Sign a notice as `keys`; returns the DSSE JSON.
    pub fn sign(keys: &NodeKeys, notice: &Notice) -> Vec<u8> {
        let bytes = serde_json::to_vec(notice).unwrap_or_default();
        Envelope::sign(
            NOTICE_TYPE,
            &bytes,
            keys.signing_key(),
            &keys.node_id().to_string(),
        )
        .to_json()
    }

    /// Verify a notice's DSSE JSON: it must be signed by the node it names
    /// in `by`, which must be `expected_signer`.
    pub fn verify(json: &[u8], expected_signer: &NodeId) -> Result<Notice, AgreementError> {
        let envelope = Envelope::from_json(json)?;
        let bytes = envelope.verify(NOTICE_TYPE, &expected_signer.verifying_key())?;
        let notice: Notice =
            serde_json::from_slice(&bytes).map_err(|e| AgreementError::Malformed(e.to_string()))?;
        if notice.v != 1 {
            return Err(AgreementError::UnsupportedVersion(notice.v));
        }
        if notice.by != *expected_signer {
            return Err(AgreementError::Signature(format!(
                "notice names {} but is signed by {expected_signer}",
                notice.by
            )));
        }
        Ok(notice)
    }
}

/// What kind of agreement message a DSSE JSON body is, by payload type.
pub fn message_type(json: &[u8]) -> Option<&'static str> {
    let env = Envelope::from_json(json).ok()?;
    [AGREEMENT_TYPE, NOTICE_TYPE]
        .into_iter()
        .find(|t| *t == env.payload_type)
}

#[cfg(test)]
mod tests;
