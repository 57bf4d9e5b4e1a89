//! Policy: may this bundle flow between these two nodes under their
//! agreement, now? (DESIGN §5)
//!
//! One pure function, [`evaluate`], decides for both directions: the sender
//! runs it before sealing (on the content as redacted), the receiver runs it
//! again on what arrived, against its own copy of the agreement. A refusal
//! lists *every* reason, each specific enough to act on ("indicator type
//! `email-addr` not allowed to peer `bolt` under agreement v3").

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::agreement::{Agreement, AgreementState, Terms};
use crate::content::{self, Inventory, Kind};
use crate::identity::NodeId;
use crate::tlp::Tlp;

/// What policy needs to know about a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareFacts {
    /// Content kind.
    pub kind: Kind,
    /// The bundle's (effective) TLP.
    pub tlp: Tlp,
    /// The STIX types inside.
    pub inventory: Inventory,
    /// Named individuals the bundle is for (required for TLP:RED).
    pub individuals: Vec<String>,
    /// Release approvals the bundle carries.
    pub approvals: u32,
}

impl ShareFacts {
    /// Facts about `content` of `kind` labelled `tlp`, with no individuals
    /// and no approvals yet.
    pub fn new(kind: Kind, tlp: Tlp, content: &[u8]) -> ShareFacts {
        ShareFacts::with_inventory(kind, tlp, content::inventory(kind, content))
    }

    /// The same, from an inventory already taken (by [`content::validate`]),
    /// so the content is not parsed again.
    pub fn with_inventory(kind: Kind, tlp: Tlp, inventory: Inventory) -> ShareFacts {
        ShareFacts {
            kind,
            tlp,
            inventory,
            individuals: Vec::new(),
            approvals: 0,
        }
    }
}

/// An agreement and where it stands on the evaluating node.
#[derive(Debug, Clone, Copy)]
pub struct Standing<'a> {
    /// The agreement (the newest version known with the peer).
    pub agreement: &'a Agreement,
    /// Its state on this node.
    pub state: AgreementState,
}

/// Which way the bundle goes, seen from the evaluating node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// This node is about to seal it for the peer.
    Outbound,
    /// The peer delivered it to this node.
    Inbound,
}

/// The outcome of policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// It may flow now.
    Allow,
    /// It may flow once this many distinct people (not the drafter) approve.
    NeedsApproval {
        /// Distinct approvals needed.
        approvals: u32,
    },
    /// It may not flow, for all these reasons.
    Deny {
        /// Every reason, never empty.
        reasons: Vec<Reason>,
    },
}

impl Decision {
    /// Whether it is a refusal.
    pub fn is_deny(&self) -> bool {
        matches!(self, Decision::Deny { .. })
    }

    /// The reasons of a refusal (empty otherwise).
    pub fn reasons(&self) -> &[Reason] {
        match self {
            Decision::Deny { reasons } => reasons,
            _ => &[],
        }
    }
}

/// Why policy refuses, as a stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// No agreement at all with the peer.
    NoAgreement,
    /// The agreement is proposed, declined, revoked or superseded.
    NotInForce,
    /// The validity window has not started.
    NotYetValid,
    /// The validity window has ended.
    Expired,
    /// The agreement lets nothing flow in this direction.
    NoFlow,
    /// The TLP is above the agreement's `max_tlp`.
    TlpAboveMax,
    /// The content kind is not allowed.
    KindNotAllowed,
    /// A STIX object type is not allowed.
    StixTypeNotAllowed,
    /// An observable type compared in an indicator pattern is not allowed.
    PatternTypeNotAllowed,
    /// TLP:RED without named individuals.
    RedNeedsIndividuals,
    /// TLP:RED for an individual the agreement does not name.
    IndividualNotAllowed,
    /// Fewer approvals than the agreement asks for (inbound).
    ApprovalsMissing,
    /// Re-sharing a received bundle is not allowed (its TLP, or the
    /// originator's agreement).
    ReshareNotAllowed,
}

impl ReasonCode {
    /// The snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::NoAgreement => "no_agreement",
            ReasonCode::NotInForce => "not_in_force",
            ReasonCode::NotYetValid => "not_yet_valid",
            ReasonCode::Expired => "expired",
            ReasonCode::NoFlow => "no_flow",
            ReasonCode::TlpAboveMax => "tlp_above_max",
            ReasonCode::KindNotAllowed => "kind_not_allowed",
            ReasonCode::StixTypeNotAllowed => "stix_type_not_allowed",
            ReasonCode::PatternTypeNotAllowed => "pattern_type_not_allowed",
            ReasonCode::RedNeedsIndividuals => "red_needs_individuals",
            ReasonCode::IndividualNotAllowed => "individual_not_allowed",
            ReasonCode::ApprovalsMissing => "approvals_missing",
            ReasonCode::ReshareNotAllowed => "reshare_not_allowed",
        }
    }
}

/// One reason for a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// Stable code.
    pub code: ReasonCode,
    /// What is wrong, naming the peer and the agreement version.
    pub message: String,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Decide whether a bundle with `facts` may go from `from` to `to`.
///
/// `peer` is the other node's name as the evaluating node knows it (for the
/// messages); `standing` is the newest agreement with that peer, if any.
/// Outbound, approvals are asked for ([`Decision::NeedsApproval`]) when the
/// bundle carries fewer than the terms require; inbound, too few carried
/// approvals are a refusal.
pub fn evaluate(
    facts: &ShareFacts,
    from: &NodeId,
    to: &NodeId,
    peer: &str,
    standing: Option<Standing<'_>>,
    direction: Direction,
    now: DateTime<Utc>,
) -> Decision {
    let toward = match direction {
        Direction::Outbound => format!("to peer `{peer}`"),
        Direction::Inbound => format!("from peer `{peer}`"),
    };
    let Some(Standing { agreement, state }) = standing else {
        return deny(vec![Reason {
            code: ReasonCode::NoAgreement,
            message: format!("no sharing agreement {toward}: nothing flows without one"),
        }]);
    };
    let under = format!("under agreement v{}", agreement.version);
    let mut reasons = Vec::new();
    let mut push = |code, message| reasons.push(Reason { code, message });

    if state != AgreementState::InForce {
        let why = match state {
            AgreementState::ProposedByUs => "proposed and not yet countersigned by the peer",
            AgreementState::ProposedByPeer => "proposed by the peer and not yet countersigned here",
            AgreementState::Declined => "declined",
            AgreementState::Revoked => "revoked",
            AgreementState::Superseded => "superseded",
            AgreementState::InForce => "in force",
        };
        push(
            ReasonCode::NotInForce,
            format!(
                "agreement {} v{} with peer `{peer}` is {why}, not in force",
                agreement.id, agreement.version
            ),
        );
    }
    if now < agreement.valid_from {
        push(
            ReasonCode::NotYetValid,
            format!(
                "agreement v{} with peer `{peer}` is valid only from {}",
                agreement.version,
                agreement.valid_from.to_rfc3339()
            ),
        );
    }
    if now >= agreement.valid_until {
        push(
            ReasonCode::Expired,
            format!(
                "agreement v{} with peer `{peer}` expired at {}",
                agreement.version,
                agreement.valid_until.to_rfc3339()
            ),
        );
    }
    let Some(terms) = agreement.flow(from, to) else {
        push(
            ReasonCode::NoFlow,
            format!(
                "agreement v{} lets nothing flow {toward}",
                agreement.version
            ),
        );
        return deny(reasons);
    };
    check_terms(facts, terms, agreement.version, &toward, &mut push);

    let needed = terms.approval.needed(facts.tlp);
    if direction == Direction::Inbound && facts.approvals < needed {
        push(
            ReasonCode::ApprovalsMissing,
            format!(
                "{} {toward} needs {needed} release approval(s) {under}, the bundle carries {}",
                facts.tlp, facts.approvals
            ),
        );
    }
    if !reasons.is_empty() {
        return deny(reasons);
    }
    if direction == Direction::Outbound && facts.approvals < needed {
        return Decision::NeedsApproval { approvals: needed };
    }
    Decision::Allow
}

/// The checks of one flow's terms against the facts.
fn check_terms(
    facts: &ShareFacts,
    terms: &Terms,
    version: u32,
    toward: &str,
    push: &mut impl FnMut(ReasonCode, String),
) {
    let under = format!("under agreement v{version}");
    if facts.tlp > terms.max_tlp {
        push(
            ReasonCode::TlpAboveMax,
            format!(
                "{} is above {}, the most allowed {toward} {under}",
                facts.tlp, terms.max_tlp
            ),
        );
    }
    if !terms.content.kinds.contains(&facts.kind) {
        push(
            ReasonCode::KindNotAllowed,
            format!("content kind `{}` not allowed {toward} {under}", facts.kind),
        );
    }
    if facts.kind == Kind::Stix {
        for (ty, n) in &facts.inventory.object_types {
            if !terms.content.allows_stix_type(ty) {
                push(
                    ReasonCode::StixTypeNotAllowed,
                    format!("STIX object type `{ty}` ({n} object(s)) not allowed {toward} {under}"),
                );
            }
        }
        for (ty, n) in &facts.inventory.pattern_types {
            if !terms.content.allows_stix_type(ty) {
                push(
                    ReasonCode::PatternTypeNotAllowed,
                    format!(
                        "indicator type `{ty}` ({n} indicator(s)) not allowed {toward} {under}"
                    ),
                );
            }
        }
    }
    if facts.tlp == Tlp::Red {
        if facts.individuals.is_empty() {
            push(
                ReasonCode::RedNeedsIndividuals,
                format!("TLP:RED goes to named individuals only: name them for the share {toward} {under}"),
            );
        }
        // Each named individual must be listed by the agreement.
        let named = &terms.handling.red_individuals;
        for who in facts.individuals.iter().filter(|w| !named.contains(w)) {
            let message = if named.is_empty() {
                format!("`{who}` may not receive TLP:RED {toward}: agreement v{version} names nobody for TLP:RED")
            } else {
                format!(
                    "`{who}` is not among the individuals who may receive TLP:RED {toward} {under}"
                )
            };
            push(ReasonCode::IndividualNotAllowed, message);
        }
    }
}

fn deny(reasons: Vec<Reason>) -> Decision {
    Decision::Deny { reasons }
}

/// One decision for a share to several recipients: any refusal refuses the
/// whole share (with every reason of every recipient); otherwise the most
/// approvals any recipient needs.
pub fn combine(decisions: impl IntoIterator<Item = Decision>) -> Decision {
    let mut reasons = Vec::new();
    let mut approvals = 0;
    for d in decisions {
        match d {
            Decision::Allow => {}
            Decision::NeedsApproval { approvals: n } => approvals = approvals.max(n),
            Decision::Deny { reasons: r } => reasons.extend(r),
        }
    }
    if !reasons.is_empty() {
        Decision::Deny { reasons }
    } else if approvals > 0 {
        Decision::NeedsApproval { approvals }
    } else {
        Decision::Allow
    }
}

#[cfg(test)]
mod tests;
