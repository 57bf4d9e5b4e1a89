//! Planning a release: redact the content by every recipient's agreement,
//! then run policy for each recipient on what would really be sent.
//!
//! A share is one signed bundle for its whole audience (the manifest names
//! every recipient), so its content is the same for all: it is redacted by
//! the rules of *every* recipient's agreement, applied in turn. The plan
//! still says, per recipient, what that recipient's own rules remove, for
//! `liaison share preview`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::agreement::AgreementState;
use crate::content::{Inventory, Kind};
use crate::identity::NodeId;
use crate::manifest::AgreementRef;
use crate::policy::{self, Decision, Direction, ShareFacts, Standing};
use crate::redact::{self, RedactError, Redacted, Removal};
use crate::tlp::Tlp;

/// One recipient, as the sending node knows it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Local peer name.
    pub name: &'a str,
    /// Its node id.
    pub node_id: NodeId,
    /// The newest agreement with it, if any.
    pub standing: Option<Standing<'a>>,
    /// SHA-256 (hex) of that agreement's signed bytes.
    pub agreement_sha256: Option<&'a str>,
}

/// What would happen to one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientPlan {
    /// Local peer name.
    pub name: String,
    /// Node id.
    pub node_id: NodeId,
    /// Policy for this recipient, on the content as it would be sent.
    pub decision: Decision,
    /// What this recipient's agreement removes from the original content.
    pub removals: Vec<Removal>,
    /// The agreement the release is made under, when one is in force.
    pub agreement: Option<AgreementRef>,
}

/// The plan for a whole share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleasePlan {
    /// The content that would be sealed, when the recipients' rules changed
    /// it; `None`: the content goes as drafted (not copied, so content that
    /// streams from disk stays there).
    #[serde(skip)]
    pub redacted: Option<Vec<u8>>,
    /// Every removal made to reach `content`, over all recipients' rules.
    pub removals: Vec<Removal>,
    /// One decision for the share (see [`policy::combine`]).
    pub decision: Decision,
    /// Per recipient.
    pub recipients: Vec<RecipientPlan>,
}

/// What is asked to be shared.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Content kind.
    pub kind: Kind,
    /// The bundle's TLP.
    pub tlp: Tlp,
    /// The content as drafted (before redaction).
    pub content: Drafted<'a>,
    /// The named people a TLP:RED share is for.
    pub individuals: &'a [String],
    /// How many distinct approvals the share already holds.
    pub approvals: u32,
}

/// The drafted content, as the planner sees it.
#[derive(Debug, Clone, Copy)]
pub enum Drafted<'a> {
    /// In memory: redacted as the recipients' agreements say.
    Bytes(&'a [u8]),
    /// Streamed from disk (too large to hold): only its size and inventory
    /// ([`crate::content::validate_reader`]) are known, so the plan fails
    /// if any recipient's agreement redacts.
    Streamed {
        /// Size in bytes.
        size: u64,
        /// What the content holds.
        inventory: &'a Inventory,
    },
}

/// Whether any recipient's agreement redacts what `me` sends it (the
/// content must then be in memory to be planned).
pub fn redacts(me: &NodeId, recipients: &[Candidate<'_>]) -> bool {
    recipients.iter().any(|c| rules_for(me, c).is_some())
}

fn rules_for<'a>(me: &NodeId, c: &Candidate<'a>) -> Option<&'a redact::RedactRules> {
    c.standing
        .and_then(|s| s.agreement.flow(me, &c.node_id))
        .map(|t| &t.redact)
        .filter(|rules| !rules.is_empty())
}

/// Plan sending `request` from `me` to `recipients`, at `now`.
pub fn plan(
    me: &NodeId,
    request: &Request<'_>,
    recipients: &[Candidate<'_>],
    now: DateTime<Utc>,
) -> Result<ReleasePlan, RedactError> {
    let Request {
        kind,
        tlp,
        content,
        individuals,
        approvals,
    } = *request;
    let mut redacted: Option<Vec<u8>> = None;
    let mut all_removals: Vec<Removal> = Vec::new();
    let mut per: Vec<Vec<Removal>> = Vec::with_capacity(recipients.len());
    let inventory = match content {
        Drafted::Bytes(content) => {
            for c in recipients {
                match rules_for(me, c) {
                    Some(rules) => {
                        per.push(redact::redact(kind, content, rules)?.removals);
                        let sent = redacted.as_deref().unwrap_or(content);
                        let Redacted { content, removals } = redact::redact(kind, sent, rules)?;
                        if !removals.is_empty() {
                            redacted = Some(content);
                        }
                        all_removals.extend(removals);
                    }
                    None => per.push(Vec::new()),
                }
            }
            crate::content::inventory(kind, redacted.as_deref().unwrap_or(content))
        }
        Drafted::Streamed { size, inventory } => {
            if redacts(me, recipients) {
                return Err(RedactError::Content(format!(
                    "a recipient's agreement redacts this share, and its {size} bytes stream \
                     from disk: redaction works on content held in memory, so redact it at \
                     the source or share a smaller bundle"
                )));
            }
            per.resize(recipients.len(), Vec::new());
            inventory.clone()
        }
    };
    let mut facts = ShareFacts::with_inventory(kind, tlp, inventory);
    facts.individuals = individuals.to_vec();
    facts.approvals = approvals;
    let mut plans = Vec::with_capacity(recipients.len());
    for (c, removals) in recipients.iter().zip(per) {
        let decision = policy::evaluate(
            &facts,
            me,
            &c.node_id,
            c.name,
            c.standing,
            Direction::Outbound,
            now,
        );
        let agreement = match (c.standing, c.agreement_sha256) {
            (Some(s), Some(sha)) if s.state == AgreementState::InForce => Some(AgreementRef {
                id: s.agreement.id,
                version: s.agreement.version,
                sha256: sha.to_string(),
            }),
            _ => None,
        };
        plans.push(RecipientPlan {
            name: c.name.to_string(),
            node_id: c.node_id,
            decision,
            removals,
            agreement,
        });
    }
    let decision = policy::combine(plans.iter().map(|p| p.decision.clone()));
    Ok(ReleasePlan {
        redacted,
        removals: all_removals,
        decision,
        recipients: plans,
    })
}
