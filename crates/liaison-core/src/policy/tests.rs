use super::*;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::agreement::{
    ApprovalTerms, ContentTerms, Flow, Handling, ReshareTerms, AGREEMENT_VERSION,
};
use crate::content::pattern_object_types;
use crate::manifest::{sha256_hex, AgreementRef, Party};
use crate::redact::RedactRules;
use crate::release::{self, Candidate, Drafted, Request};

// ---------------------------------------------------------------------------
// Fixtures.

/// A node id from a fixed seed (cheap, deterministic).
fn node(seed: u8) -> NodeId {
    NodeId::from(ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key())
}

/// This node.
fn acme() -> NodeId {
    node(1)
}

/// The peer, called `bolt` locally.
fn bolt() -> NodeId {
    node(2)
}

/// A third node, called `carl` locally.
fn carl() -> NodeId {
    node(3)
}

const PEER: &str = "bolt";
const VERSION: u32 = 3;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn valid_from() -> DateTime<Utc> {
    at("2026-01-01T00:00:00Z")
}

fn valid_until() -> DateTime<Utc> {
    at("2027-01-01T00:00:00Z")
}

fn now() -> DateTime<Utc> {
    at("2026-06-01T12:00:00Z")
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

fn agreement_id() -> Uuid {
    Uuid::parse_str("7d3c0b6e-1f0a-4c1e-9b7a-3f1d2e4c5a6b").unwrap()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn terms(max_tlp: Tlp, kinds: &[Kind], stix_types: &[&str]) -> Terms {
    Terms {
        max_tlp,
        content: ContentTerms {
            kinds: kinds.to_vec(),
            stix_types: strings(stix_types),
        },
        redact: RedactRules::default(),
        approval: ApprovalTerms::default(),
        reshare: ReshareTerms::default(),
        handling: Handling::default(),
    }
}

/// What ACME sends to Bolt in the base agreement.
fn out_terms() -> Terms {
    terms(
        Tlp::Amber,
        &[Kind::Stix, Kind::Note],
        &["indicator", "ipv4-addr", "domain-name", "identity"],
    )
}

/// What Bolt sends to ACME in the base agreement.
fn in_terms() -> Terms {
    terms(Tlp::Green, &[Kind::Csaf, Kind::Note], &[])
}

/// An agreement between `me` (proposer) and `peer` with the given flows.
fn agreement_between(
    me: NodeId,
    peer: NodeId,
    outbound: Option<Terms>,
    inbound: Option<Terms>,
) -> Agreement {
    let mut flows = Vec::new();
    if let Some(terms) = outbound {
        flows.push(Flow {
            from: me,
            to: peer,
            terms,
        });
    }
    if let Some(terms) = inbound {
        flows.push(Flow {
            from: peer,
            to: me,
            terms,
        });
    }
    Agreement {
        v: AGREEMENT_VERSION,
        id: agreement_id(),
        version: VERSION,
        title: "ACME ↔ Bolt".into(),
        parties: vec![
            Party {
                org: "ACME".into(),
                node_id: me,
            },
            Party {
                org: "Bolt".into(),
                node_id: peer,
            },
        ],
        valid_from: valid_from(),
        valid_until: valid_until(),
        created: at("2025-12-15T08:00:00Z"),
        flows,
    }
}

/// ACME ↔ Bolt with the given flows.
fn agreement(outbound: Option<Terms>, inbound: Option<Terms>) -> Agreement {
    agreement_between(acme(), bolt(), outbound, inbound)
}

/// The base two-way agreement.
fn base() -> Agreement {
    agreement(Some(out_terms()), Some(in_terms()))
}

/// A recipient with `agreement` in force, whose signed bytes hash to `sha`.
fn in_force<'a>(
    name: &'a str,
    node_id: NodeId,
    agreement: &'a Agreement,
    sha: &'a str,
) -> Candidate<'a> {
    Candidate {
        name,
        node_id,
        standing: Some(Standing {
            agreement,
            state: AgreementState::InForce,
        }),
        agreement_sha256: Some(sha),
    }
}

/// The base agreement with the outbound terms changed by `f`.
fn base_out(f: impl FnOnce(&mut Terms)) -> Agreement {
    let mut t = out_terms();
    f(&mut t);
    agreement(Some(t), Some(in_terms()))
}

/// The base agreement with the inbound terms changed by `f`.
fn base_in(f: impl FnOnce(&mut Terms)) -> Agreement {
    let mut t = in_terms();
    f(&mut t);
    agreement(Some(out_terms()), Some(t))
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

fn stix_id(ty: &str) -> String {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    format!("{ty}--00000000-0000-4000-8000-{n:012}")
}

/// A STIX object of type `ty` (a marking definition gets the TLP:GREEN id).
fn object(ty: &str) -> Value {
    if ty == "marking-definition" {
        return json!({
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": Tlp::Green.stix_marking_id(),
            "created": "2022-10-01T00:00:00.000Z",
            "name": "TLP:GREEN",
            "extensions": {
                "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                    "extension_type": "property-extension",
                    "tlp_2_0": "green"
                }
            }
        });
    }
    json!({
        "type": ty,
        "spec_version": "2.1",
        "id": stix_id(ty),
        "created": "2026-03-01T10:00:00.000Z",
        "modified": "2026-03-01T10:00:00.000Z",
        "name": format!("a {ty}"),
    })
}

fn indicator(pattern: &str) -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id("indicator"),
        "created": "2026-03-01T10:00:00.000Z",
        "modified": "2026-03-01T10:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-03-01T10:00:00Z",
    })
}

fn bundle(objects: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": "bundle",
        "id": stix_id("bundle"),
        "objects": objects,
    }))
    .unwrap()
}

fn stix(tlp: Tlp, objects: &[Value]) -> ShareFacts {
    ShareFacts::new(Kind::Stix, tlp, &bundle(objects))
}

fn note(tlp: Tlp) -> ShareFacts {
    ShareFacts::new(Kind::Note, tlp, b"please patch the VPN appliances")
}

/// Plausible content of each kind.
fn content_of(kind: Kind) -> Vec<u8> {
    match kind {
        Kind::Stix => bundle(&[indicator("[ipv4-addr:value = '198.51.100.7']")]),
        Kind::Csaf => br#"{"document":{"csaf_version":"2.0","title":"x"}}"#.to_vec(),
        Kind::Note => b"a note".to_vec(),
        Kind::Log => b"2026-03-01T10:00:00Z sshd[42]: Failed password for root".to_vec(),
        Kind::Coordination => br#"{"v":1,"incident":{"id":"5d0092c5-5f74-4287-9642-33f4c354e56d",
            "origin":"x","title":"t","severity":"high"},"items":[]}"#
            .to_vec(),
    }
}

fn facts_of(kind: Kind, tlp: Tlp) -> ShareFacts {
    ShareFacts::new(kind, tlp, &content_of(kind))
}

fn with_individuals(mut facts: ShareFacts, who: &[&str]) -> ShareFacts {
    facts.individuals = strings(who);
    facts
}

fn with_approvals(mut facts: ShareFacts, n: u32) -> ShareFacts {
    facts.approvals = n;
    facts
}

/// Evaluate from ACME's point of view: outbound is ACME → Bolt, inbound
/// Bolt → ACME.
fn eval(
    facts: &ShareFacts,
    agreement: Option<&Agreement>,
    state: AgreementState,
    direction: Direction,
    now: DateTime<Utc>,
) -> Decision {
    let (from, to) = match direction {
        Direction::Outbound => (acme(), bolt()),
        Direction::Inbound => (bolt(), acme()),
    };
    let standing = agreement.map(|agreement| Standing { agreement, state });
    evaluate(facts, &from, &to, PEER, standing, direction, now)
}

fn eval_now(facts: &ShareFacts, agreement: &Agreement, direction: Direction) -> Decision {
    eval(
        facts,
        Some(agreement),
        AgreementState::InForce,
        direction,
        now(),
    )
}

fn codes(d: &Decision) -> Vec<ReasonCode> {
    d.reasons().iter().map(|r| r.code).collect()
}

fn messages(d: &Decision) -> Vec<String> {
    d.reasons().iter().map(|r| r.message.clone()).collect()
}

// ---------------------------------------------------------------------------
// The table.

/// What a case expects, compared exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Allow,
    Approve(u32),
    Deny(Vec<ReasonCode>),
}

use Expect::{Allow, Approve};

fn deny(codes: &[ReasonCode]) -> Expect {
    Expect::Deny(codes.to_vec())
}

fn outcome(d: &Decision) -> Expect {
    match d {
        Decision::Allow => Allow,
        Decision::NeedsApproval { approvals } => Approve(*approvals),
        Decision::Deny { reasons } => Expect::Deny(reasons.iter().map(|r| r.code).collect()),
    }
}

struct Case {
    name: String,
    facts: ShareFacts,
    agreement: Option<Agreement>,
    state: AgreementState,
    direction: Direction,
    now: DateTime<Utc>,
    expect: Expect,
}

/// An outbound case under the base agreement, in force, now; expects Allow.
fn case(name: impl Into<String>, facts: ShareFacts) -> Case {
    Case {
        name: name.into(),
        facts,
        agreement: Some(base()),
        state: AgreementState::InForce,
        direction: Direction::Outbound,
        now: now(),
        expect: Allow,
    }
}

fn run_cases(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for c in &cases {
        let d = eval(&c.facts, c.agreement.as_ref(), c.state, c.direction, c.now);
        if outcome(&d) != c.expect {
            failures.push(format!(
                "case `{}`: expected {:?}, got {:?}",
                c.name, c.expect, d
            ));
            continue;
        }
        // Every reason is specific: it names the peer, and (but for the
        // ones that cannot) the agreement version.
        for r in d.reasons() {
            assert!(
                r.message.contains("peer `bolt`"),
                "case `{}`: {r:?} does not name the peer",
                c.name
            );
            if !matches!(
                r.code,
                ReasonCode::NoAgreement | ReasonCode::RedNeedsIndividuals
            ) {
                assert!(
                    r.message.contains(&format!("v{VERSION}")),
                    "case `{}`: {r:?} does not name the agreement version",
                    c.name
                );
            }
            assert_eq!(r.to_string(), r.message);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn no_agreement_denies_both_ways() {
    use ReasonCode::*;
    run_cases(vec![
        Case {
            agreement: None,
            expect: deny(&[NoAgreement]),
            ..case("no agreement, outbound", note(Tlp::Clear))
        },
        Case {
            agreement: None,
            direction: Direction::Inbound,
            expect: deny(&[NoAgreement]),
            ..case("no agreement, inbound", note(Tlp::Clear))
        },
        // Nothing else is looked at without an agreement.
        Case {
            agreement: None,
            expect: deny(&[NoAgreement]),
            ..case("no agreement, RED log", facts_of(Kind::Log, Tlp::Red))
        },
    ]);
}

#[test]
fn only_an_agreement_in_force_lets_anything_flow() {
    use AgreementState::*;
    let mut cases = Vec::new();
    for state in AgreementState::ALL {
        for direction in [Direction::Outbound, Direction::Inbound] {
            cases.push(Case {
                state,
                direction,
                expect: if state == InForce {
                    Allow
                } else {
                    deny(&[ReasonCode::NotInForce])
                },
                ..case(format!("{state} {direction:?}"), note(Tlp::Green))
            });
        }
    }
    run_cases(cases);
}

#[test]
fn validity_window_is_half_open() {
    use ReasonCode::*;
    let at_now = |name: &str, t: DateTime<Utc>, expect: Expect| Case {
        now: t,
        expect,
        ..case(name, note(Tlp::Green))
    };
    run_cases(vec![
        at_now(
            "a year before",
            valid_from() - chrono::Duration::days(365),
            deny(&[NotYetValid]),
        ),
        at_now(
            "one second before valid_from",
            valid_from() - secs(1),
            deny(&[NotYetValid]),
        ),
        at_now(
            "one nanosecond before valid_from",
            valid_from() - chrono::Duration::nanoseconds(1),
            deny(&[NotYetValid]),
        ),
        at_now("exactly valid_from", valid_from(), Allow),
        at_now("just before valid_until", valid_until() - secs(1), Allow),
        at_now(
            "just before valid_until (ns)",
            valid_until() - chrono::Duration::nanoseconds(1),
            Allow,
        ),
        at_now("exactly valid_until", valid_until(), deny(&[Expired])),
        at_now(
            "a year after",
            valid_until() + chrono::Duration::days(365),
            deny(&[Expired]),
        ),
        Case {
            direction: Direction::Inbound,
            ..at_now(
                "inbound, exactly valid_until",
                valid_until(),
                deny(&[Expired]),
            )
        },
        Case {
            direction: Direction::Inbound,
            ..at_now("inbound, exactly valid_from", valid_from(), Allow)
        },
        Case {
            state: AgreementState::Revoked,
            ..at_now(
                "revoked and expired",
                valid_until(),
                deny(&[NotInForce, Expired]),
            )
        },
        Case {
            state: AgreementState::ProposedByPeer,
            ..at_now(
                "proposed and not yet valid",
                valid_from() - secs(1),
                deny(&[NotInForce, NotYetValid]),
            )
        },
    ]);
}

#[test]
fn nothing_flows_in_a_direction_without_a_flow() {
    use Direction::*;
    use ReasonCode::*;
    let only_out = agreement(Some(out_terms()), None);
    let only_in = agreement(None, Some(in_terms()));
    run_cases(vec![
        Case {
            agreement: Some(only_out.clone()),
            ..case("one-way ACME → Bolt, outbound", note(Tlp::Green))
        },
        Case {
            agreement: Some(only_out.clone()),
            direction: Inbound,
            expect: deny(&[NoFlow]),
            ..case("one-way ACME → Bolt, inbound", note(Tlp::Green))
        },
        Case {
            agreement: Some(only_in.clone()),
            expect: deny(&[NoFlow]),
            ..case("one-way Bolt → ACME, outbound", note(Tlp::Green))
        },
        Case {
            agreement: Some(only_in.clone()),
            direction: Inbound,
            ..case("one-way Bolt → ACME, inbound", note(Tlp::Green))
        },
        // Without a flow there are no terms to check: only the agreement's
        // own problems and NoFlow are reported.
        Case {
            agreement: Some(only_in.clone()),
            state: AgreementState::Superseded,
            now: valid_until(),
            expect: deny(&[NotInForce, Expired, NoFlow]),
            ..case(
                "superseded, expired, no flow, RED log",
                facts_of(Kind::Log, Tlp::Red),
            )
        },
        // An agreement with someone else has no flow between ACME and Bolt.
        Case {
            agreement: Some(agreement_between(acme(), carl(), Some(out_terms()), None)),
            expect: deny(&[NoFlow]),
            ..case("agreement with another node", note(Tlp::Green))
        },
    ]);
}

#[test]
fn tlp_above_max_is_refused_at_every_boundary() {
    let mut cases = Vec::new();
    for max in Tlp::ALL {
        for tlp in Tlp::ALL {
            for direction in [Direction::Outbound, Direction::Inbound] {
                let mut t = terms(max, &[Kind::Note], &[]);
                t.handling.red_individuals = strings(&["ciso@bolt.example"]);
                let facts = with_individuals(note(tlp), &["ciso@bolt.example"]);
                cases.push(Case {
                    agreement: Some(agreement(Some(t.clone()), Some(t))),
                    direction,
                    expect: if tlp <= max {
                        Allow
                    } else {
                        deny(&[ReasonCode::TlpAboveMax])
                    },
                    ..case(format!("{tlp} under max {max}, {direction:?}"), facts)
                });
            }
        }
    }
    run_cases(cases);
}

#[test]
fn every_kind_is_checked_against_the_allowed_kinds() {
    let mut cases = Vec::new();
    for allowed in Kind::ALL {
        for kind in Kind::ALL {
            let t = terms(Tlp::Amber, &[allowed], &["*"]);
            cases.push(Case {
                agreement: Some(agreement(Some(t.clone()), Some(t))),
                expect: if kind == allowed {
                    Allow
                } else {
                    deny(&[ReasonCode::KindNotAllowed])
                },
                ..case(
                    format!("{kind} when only {allowed} is allowed"),
                    facts_of(kind, Tlp::Amber),
                )
            });
        }
        // All kinds but one.
        let others: Vec<Kind> = Kind::ALL.into_iter().filter(|k| *k != allowed).collect();
        let t = terms(Tlp::Amber, &others, &["*"]);
        cases.push(Case {
            agreement: Some(agreement(None, Some(t))),
            direction: Direction::Inbound,
            expect: deny(&[ReasonCode::KindNotAllowed]),
            ..case(
                format!("{allowed} when all others are allowed"),
                facts_of(allowed, Tlp::Amber),
            )
        });
    }
    // Log excerpts are not notes.
    cases.push(Case {
        agreement: Some(agreement(Some(terms(Tlp::Amber, &[Kind::Note], &[])), None)),
        expect: deny(&[ReasonCode::KindNotAllowed]),
        ..case(
            "log when only notes are allowed",
            facts_of(Kind::Log, Tlp::Green),
        )
    });
    run_cases(cases);
}

#[test]
fn stix_object_and_pattern_types_are_checked() {
    use ReasonCode::*;
    let ip = || indicator("[ipv4-addr:value = '198.51.100.7']");
    let email = || indicator("[email-addr:value = 'a@b.example']");
    let any = base_out(|t| t.content.stix_types = strings(&["*"]));
    let no_types = base_out(|t| t.content.stix_types.clear());
    run_cases(vec![
        case("allowed indicator", stix(Tlp::Green, &[ip()])),
        case(
            "allowed objects",
            stix(
                Tlp::Green,
                &[
                    object("identity"),
                    object("ipv4-addr"),
                    object("domain-name"),
                ],
            ),
        ),
        case("empty bundle", stix(Tlp::Green, &[])),
        Case {
            expect: deny(&[StixTypeNotAllowed]),
            ..case(
                "malware not allowed",
                stix(Tlp::Green, &[ip(), object("malware")]),
            )
        },
        Case {
            expect: deny(&[StixTypeNotAllowed, StixTypeNotAllowed]),
            ..case(
                "two types not allowed",
                stix(
                    Tlp::Green,
                    &[object("tool"), object("malware"), object("malware")],
                ),
            )
        },
        Case {
            expect: deny(&[PatternTypeNotAllowed]),
            ..case("email-addr in a pattern", stix(Tlp::Green, &[email()]))
        },
        Case {
            expect: deny(&[StixTypeNotAllowed]),
            ..case(
                "email-addr as an object",
                stix(Tlp::Green, &[object("email-addr")]),
            )
        },
        Case {
            expect: deny(&[PatternTypeNotAllowed, PatternTypeNotAllowed]),
            ..case(
                "url and email-addr in one pattern",
                stix(
                    Tlp::Green,
                    &[indicator(
                        "[url:value = 'http://x.example/'] OR [email-addr:value = 'a@b.example']",
                    )],
                ),
            )
        },
        // The `x:y` inside a literal is not a type.
        case(
            "type-like text inside a literal",
            stix(
                Tlp::Green,
                &[indicator("[ipv4-addr:value = 'email-addr:value']")],
            ),
        ),
        // Indicator itself not allowed, but its pattern type is.
        Case {
            agreement: Some(base_out(|t| t.content.stix_types = strings(&["ipv4-addr"]))),
            expect: deny(&[StixTypeNotAllowed]),
            ..case("indicator object not allowed", stix(Tlp::Green, &[ip()]))
        },
        // marking-definition is always allowed, even with no types at all.
        Case {
            agreement: Some(no_types.clone()),
            ..case(
                "marking-definition with no types",
                stix(Tlp::Green, &[object("marking-definition")]),
            )
        },
        case(
            "marking-definition with types",
            stix(Tlp::Green, &[object("marking-definition"), ip()]),
        ),
        Case {
            agreement: Some(no_types),
            expect: deny(&[StixTypeNotAllowed, PatternTypeNotAllowed]),
            ..case("indicator with no types", stix(Tlp::Green, &[ip()]))
        },
        // `*` allows every object and pattern type.
        Case {
            agreement: Some(any.clone()),
            ..case(
                "* allows everything",
                stix(
                    Tlp::Green,
                    &[
                        object("malware"),
                        object("x-acme-ticket"),
                        email(),
                        indicator("[x-custom-thing:prop = 1]"),
                    ],
                ),
            )
        },
        // Types are checked for STIX content only.
        Case {
            agreement: Some(base_out(|t| {
                t.content.kinds.push(Kind::Csaf);
                t.content.stix_types.clear();
            })),
            ..case(
                "a CSAF document that looks like STIX",
                ShareFacts::new(
                    Kind::Csaf,
                    Tlp::Green,
                    &bundle(&[email(), object("malware")]),
                ),
            )
        },
        // Inbound, under the inbound terms.
        Case {
            agreement: Some(base_in(|t| {
                t.content.kinds.push(Kind::Stix);
                t.content.stix_types = strings(&["indicator", "url"]);
            })),
            direction: Direction::Inbound,
            expect: deny(&[PatternTypeNotAllowed]),
            ..case("inbound ipv4-addr pattern", stix(Tlp::Green, &[ip()]))
        },
        Case {
            agreement: Some(base_in(|t| {
                t.content.kinds.push(Kind::Stix);
                t.content.stix_types = strings(&["indicator", "ipv4-addr"]);
            })),
            direction: Direction::Inbound,
            ..case("inbound allowed", stix(Tlp::Green, &[ip()]))
        },
    ]);
}

#[test]
fn red_goes_to_named_individuals_only() {
    use ReasonCode::*;
    let red = base_out(|t| {
        t.max_tlp = Tlp::Red;
        t.handling.red_individuals = strings(&["ciso@bolt.example", "soc@bolt.example"]);
    });
    let red_case = |name: &str, who: &[&str], expect: Expect| Case {
        agreement: Some(red.clone()),
        expect,
        ..case(name, with_individuals(note(Tlp::Red), who))
    };
    run_cases(vec![
        red_case("RED without individuals", &[], deny(&[RedNeedsIndividuals])),
        red_case(
            "RED with an unlisted individual",
            &["eve@bolt.example"],
            deny(&[IndividualNotAllowed]),
        ),
        red_case(
            "RED with one listed, two unlisted",
            &[
                "eve@bolt.example",
                "ciso@bolt.example",
                "mallory@bolt.example",
            ],
            deny(&[IndividualNotAllowed, IndividualNotAllowed]),
        ),
        red_case(
            "RED, case matters",
            &["CISO@bolt.example"],
            deny(&[IndividualNotAllowed]),
        ),
        red_case(
            "RED with a listed individual",
            &["ciso@bolt.example"],
            Allow,
        ),
        red_case(
            "RED with all listed individuals",
            &["soc@bolt.example", "ciso@bolt.example"],
            Allow,
        ),
        // Individuals matter for RED only.
        Case {
            agreement: Some(red.clone()),
            ..case(
                "AMBER+STRICT with an unlisted individual",
                with_individuals(note(Tlp::AmberStrict), &["eve@bolt.example"]),
            )
        },
        Case {
            agreement: Some(red.clone()),
            ..case("AMBER+STRICT without individuals", note(Tlp::AmberStrict))
        },
        // RED above max and without individuals: both reasons.
        Case {
            expect: deny(&[TlpAboveMax, RedNeedsIndividuals]),
            ..case("RED above AMBER, no individuals", note(Tlp::Red))
        },
        // Inbound too.
        Case {
            agreement: Some(base_in(|t| {
                t.max_tlp = Tlp::Red;
                t.handling.red_individuals = strings(&["analyst@acme.example"]);
            })),
            direction: Direction::Inbound,
            expect: deny(&[IndividualNotAllowed]),
            ..case(
                "inbound RED for an unlisted individual",
                with_individuals(note(Tlp::Red), &["ciso@bolt.example"]),
            )
        },
    ]);
}

/// The doc of `Handling::red_individuals` says a RED share must name its
/// individuals "and they must be listed here"; with an empty list nobody is
/// listed, yet policy lets RED through to anyone named.
#[test]

fn red_with_no_listed_individuals_is_refused() {
    let a = base_out(|t| t.max_tlp = Tlp::Red);
    let d = eval_now(
        &with_individuals(note(Tlp::Red), &["anyone@bolt.example"]),
        &a,
        Direction::Outbound,
    );
    assert_eq!(codes(&d), [ReasonCode::IndividualNotAllowed]);
}

#[test]
fn approvals_outbound_are_asked_for_and_inbound_required() {
    use Direction::*;
    use ReasonCode::*;
    let approve = |t: &mut Terms| {
        t.max_tlp = Tlp::Red;
        t.content.kinds = vec![Kind::Note, Kind::Log];
        t.approval = ApprovalTerms {
            from_tlp: Some(Tlp::Amber),
            approvers: 2,
        };
        t.handling.red_individuals = strings(&["ciso@bolt.example"]);
    };
    let mut out = out_terms();
    approve(&mut out);
    let mut inb = in_terms();
    approve(&mut inb);
    let a = agreement(Some(out), Some(inb));
    let c = |name: &str, direction: Direction, tlp: Tlp, approvals: u32, expect: Expect| Case {
        agreement: Some(a.clone()),
        direction,
        expect,
        ..case(
            name,
            with_approvals(
                with_individuals(note(tlp), &["ciso@bolt.example"]),
                approvals,
            ),
        )
    };
    run_cases(vec![
        c("outbound CLEAR", Outbound, Tlp::Clear, 0, Allow),
        c(
            "outbound GREEN, below from_tlp",
            Outbound,
            Tlp::Green,
            0,
            Allow,
        ),
        c(
            "outbound AMBER, at from_tlp",
            Outbound,
            Tlp::Amber,
            0,
            Approve(2),
        ),
        c(
            "outbound AMBER+STRICT",
            Outbound,
            Tlp::AmberStrict,
            0,
            Approve(2),
        ),
        c("outbound RED", Outbound, Tlp::Red, 0, Approve(2)),
        c(
            "outbound AMBER, one of two",
            Outbound,
            Tlp::Amber,
            1,
            Approve(2),
        ),
        c("outbound AMBER, enough", Outbound, Tlp::Amber, 2, Allow),
        c(
            "outbound RED, more than enough",
            Outbound,
            Tlp::Red,
            5,
            Allow,
        ),
        c("inbound GREEN, none needed", Inbound, Tlp::Green, 0, Allow),
        c(
            "inbound AMBER, none",
            Inbound,
            Tlp::Amber,
            0,
            deny(&[ApprovalsMissing]),
        ),
        c(
            "inbound AMBER, too few",
            Inbound,
            Tlp::Amber,
            1,
            deny(&[ApprovalsMissing]),
        ),
        c("inbound AMBER, enough", Inbound, Tlp::Amber, 2, Allow),
        c("inbound RED, enough", Inbound, Tlp::Red, 3, Allow),
        // A refusal beats a request for approval.
        Case {
            facts: with_approvals(facts_of(Kind::Stix, Tlp::Amber), 0),
            expect: deny(&[KindNotAllowed]),
            ..c(
                "outbound AMBER of a kind not allowed",
                Outbound,
                Tlp::Amber,
                0,
                Allow,
            )
        },
        // Approvals are asked of the terms of the direction concerned.
        Case {
            agreement: Some(base()),
            ..c(
                "outbound AMBER, no approval rule",
                Outbound,
                Tlp::Amber,
                0,
                Allow,
            )
        },
        // An (unchecked) rule with 0 approvers still asks for one.
        Case {
            agreement: Some(base_out(|t| {
                t.approval = ApprovalTerms {
                    from_tlp: Some(Tlp::Clear),
                    approvers: 0,
                }
            })),
            ..c("approvers 0 means 1", Outbound, Tlp::Clear, 0, Approve(1))
        },
    ]);
}

#[test]
fn every_problem_is_listed_in_order() {
    use ReasonCode::*;
    let a = base_in(|t| {
        t.max_tlp = Tlp::Amber;
        t.content.kinds = vec![Kind::Note];
        t.content.stix_types = strings(&["indicator"]);
        t.approval = ApprovalTerms {
            from_tlp: Some(Tlp::Green),
            approvers: 3,
        };
    });
    let facts = with_approvals(
        stix(
            Tlp::Red,
            &[
                object("tool"),
                object("malware"),
                indicator(
                    "[url:value = 'http://x.example/'] AND [email-addr:value = 'a@b.example']",
                ),
                object("marking-definition"),
            ],
        ),
        1,
    );
    let d = eval(
        &facts,
        Some(&a),
        AgreementState::Revoked,
        Direction::Inbound,
        valid_until(),
    );
    assert_eq!(
        codes(&d),
        [
            NotInForce,
            Expired,
            TlpAboveMax,
            KindNotAllowed,
            StixTypeNotAllowed,
            StixTypeNotAllowed,
            PatternTypeNotAllowed,
            PatternTypeNotAllowed,
            RedNeedsIndividuals,
            ApprovalsMissing,
        ],
        "{d:#?}"
    );
    let id = agreement_id();
    assert_eq!(
        messages(&d),
        [
            format!("agreement {id} v3 with peer `bolt` is revoked, not in force"),
            "agreement v3 with peer `bolt` expired at 2027-01-01T00:00:00+00:00".into(),
            "TLP:RED is above TLP:AMBER, the most allowed from peer `bolt` under agreement v3"
                .into(),
            "content kind `stix` not allowed from peer `bolt` under agreement v3".into(),
            "STIX object type `malware` (1 object(s)) not allowed from peer `bolt` under agreement v3"
                .into(),
            "STIX object type `tool` (1 object(s)) not allowed from peer `bolt` under agreement v3"
                .into(),
            "indicator type `email-addr` (1 indicator(s)) not allowed from peer `bolt` under agreement v3"
                .into(),
            "indicator type `url` (1 indicator(s)) not allowed from peer `bolt` under agreement v3"
                .into(),
            "TLP:RED goes to named individuals only: name them for the share from peer `bolt` under agreement v3"
                .into(),
            "TLP:RED from peer `bolt` needs 3 release approval(s) under agreement v3, the bundle carries 1"
                .into(),
        ]
    );

    // Outbound, with individuals named but not listed, and not yet valid.
    let a = base_out(|t| {
        t.max_tlp = Tlp::Green;
        t.handling.red_individuals = strings(&["ciso@bolt.example"]);
    });
    let facts = with_individuals(
        stix(Tlp::Red, &[object("malware")]),
        &["eve@bolt.example", "mallory@bolt.example"],
    );
    let d = eval(
        &facts,
        Some(&a),
        AgreementState::ProposedByUs,
        Direction::Outbound,
        valid_from() - secs(1),
    );
    assert_eq!(
        codes(&d),
        [
            NotInForce,
            NotYetValid,
            TlpAboveMax,
            StixTypeNotAllowed,
            IndividualNotAllowed,
            IndividualNotAllowed,
        ]
    );
    let m = messages(&d);
    assert_eq!(
        m[0],
        format!("agreement {id} v3 with peer `bolt` is proposed and not yet countersigned by the peer, not in force")
    );
    assert_eq!(
        m[1],
        "agreement v3 with peer `bolt` is valid only from 2026-01-01T00:00:00+00:00"
    );
    assert_eq!(
        m[4],
        "`eve@bolt.example` is not among the individuals who may receive TLP:RED to peer `bolt` under agreement v3"
    );
    assert_eq!(
        m[5],
        "`mallory@bolt.example` is not among the individuals who may receive TLP:RED to peer `bolt` under agreement v3"
    );
}

#[test]
fn reason_messages_are_exact() {
    let id = agreement_id();
    let msg = |facts: &ShareFacts,
               a: Option<&Agreement>,
               state: AgreementState,
               direction: Direction,
               t: DateTime<Utc>| {
        let d = eval(facts, a, state, direction, t);
        assert_eq!(d.reasons().len(), 1, "{d:?}");
        d.reasons()[0].message.clone()
    };
    let green = note(Tlp::Green);
    let a = base();
    use AgreementState::*;
    use Direction::*;
    assert_eq!(
        msg(&green, None, InForce, Outbound, now()),
        "no sharing agreement to peer `bolt`: nothing flows without one"
    );
    assert_eq!(
        msg(&green, None, InForce, Inbound, now()),
        "no sharing agreement from peer `bolt`: nothing flows without one"
    );
    for (state, why) in [
        (
            ProposedByUs,
            "proposed and not yet countersigned by the peer",
        ),
        (
            ProposedByPeer,
            "proposed by the peer and not yet countersigned here",
        ),
        (Declined, "declined"),
        (Revoked, "revoked"),
        (Superseded, "superseded"),
    ] {
        assert_eq!(
            msg(&green, Some(&a), state, Outbound, now()),
            format!("agreement {id} v3 with peer `bolt` is {why}, not in force")
        );
    }
    assert_eq!(
        msg(&green, Some(&a), InForce, Outbound, valid_until()),
        "agreement v3 with peer `bolt` expired at 2027-01-01T00:00:00+00:00"
    );
    let one_way = agreement(Some(out_terms()), None);
    assert_eq!(
        msg(&green, Some(&one_way), InForce, Inbound, now()),
        "agreement v3 lets nothing flow from peer `bolt`"
    );
    let only_in = agreement(None, Some(in_terms()));
    assert_eq!(
        msg(&green, Some(&only_in), InForce, Outbound, now()),
        "agreement v3 lets nothing flow to peer `bolt`"
    );
    assert_eq!(
        msg(&note(Tlp::AmberStrict), Some(&a), InForce, Outbound, now()),
        "TLP:AMBER+STRICT is above TLP:AMBER, the most allowed to peer `bolt` under agreement v3"
    );
    assert_eq!(
        msg(&note(Tlp::Amber), Some(&a), InForce, Inbound, now()),
        "TLP:AMBER is above TLP:GREEN, the most allowed from peer `bolt` under agreement v3"
    );
    assert_eq!(
        msg(
            &facts_of(Kind::Log, Tlp::Green),
            Some(&a),
            InForce,
            Outbound,
            now()
        ),
        "content kind `log` not allowed to peer `bolt` under agreement v3"
    );
    assert_eq!(
        msg(
            &stix(Tlp::Green, &[object("malware"), object("malware")]),
            Some(&a),
            InForce,
            Outbound,
            now()
        ),
        "STIX object type `malware` (2 object(s)) not allowed to peer `bolt` under agreement v3"
    );
    assert_eq!(
        msg(
            &stix(
                Tlp::Green,
                &[
                    indicator("[email-addr:value = 'a@b.example']"),
                    indicator("[email-addr:value = 'c@d.example' OR email-addr:display_name = 'C']"),
                ]
            ),
            Some(&a),
            InForce,
            Outbound,
            now()
        ),
        "indicator type `email-addr` (2 indicator(s)) not allowed to peer `bolt` under agreement v3"
    );
}

#[test]
fn decision_helpers_and_serde() {
    let reason = Reason {
        code: ReasonCode::TlpAboveMax,
        message: "too high".into(),
    };
    let deny = Decision::Deny {
        reasons: vec![reason.clone()],
    };
    assert!(deny.is_deny());
    assert_eq!(deny.reasons(), [reason]);
    assert!(!Decision::Allow.is_deny());
    assert!(Decision::Allow.reasons().is_empty());
    assert!(!Decision::NeedsApproval { approvals: 2 }.is_deny());
    assert!(Decision::NeedsApproval { approvals: 2 }
        .reasons()
        .is_empty());

    assert_eq!(
        serde_json::to_value(Decision::Allow).unwrap(),
        json!({"decision": "allow"})
    );
    assert_eq!(
        serde_json::to_value(Decision::NeedsApproval { approvals: 2 }).unwrap(),
        json!({"decision": "needs_approval", "approvals": 2})
    );
    assert_eq!(
        serde_json::to_value(&deny).unwrap(),
        json!({"decision": "deny", "reasons": [{"code": "tlp_above_max", "message": "too high"}]})
    );
    let back: Decision = serde_json::from_value(serde_json::to_value(&deny).unwrap()).unwrap();
    assert_eq!(back, deny);

    use ReasonCode::*;
    for code in [
        NoAgreement,
        NotInForce,
        NotYetValid,
        Expired,
        NoFlow,
        TlpAboveMax,
        KindNotAllowed,
        StixTypeNotAllowed,
        PatternTypeNotAllowed,
        RedNeedsIndividuals,
        IndividualNotAllowed,
        ApprovalsMissing,
    ] {
        assert_eq!(
            serde_json::to_value(code).unwrap(),
            Value::String(code.as_str().into())
        );
    }
    assert_eq!(
        serde_json::to_value(Direction::Outbound).unwrap(),
        json!("outbound")
    );
}

#[test]
fn share_facts_new_takes_the_inventory_of_stix_only() {
    let bytes = bundle(&[
        indicator("[email-addr:value = 'a@b.example'] OR [email-addr:value = 'c@d.example']"),
        indicator("[email-addr:value = 'e@f.example' AND url:value = 'http://x.example/']"),
        object("malware"),
        json!({"id": "no-type"}),
        json!({"type": 7}),
    ]);
    let f = ShareFacts::new(Kind::Stix, Tlp::Amber, &bytes);
    assert_eq!(f.kind, Kind::Stix);
    assert_eq!(f.tlp, Tlp::Amber);
    assert!(f.individuals.is_empty());
    assert_eq!(f.approvals, 0);
    let objects: Vec<(&str, usize)> = f
        .inventory
        .object_types
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(objects, [("indicator", 2), ("malware", 1)]);
    let patterns: Vec<(&str, usize)> = f
        .inventory
        .pattern_types
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    // Counted per indicator, not per comparison.
    assert_eq!(patterns, [("email-addr", 2), ("url", 1)]);

    for kind in [Kind::Csaf, Kind::Note, Kind::Log] {
        assert_eq!(
            ShareFacts::new(kind, Tlp::Amber, &bytes).inventory,
            Inventory::default()
        );
    }
    for junk in [&b"not json"[..], b"[1,2]", b"{\"objects\": 5}", b""] {
        assert_eq!(
            ShareFacts::new(Kind::Stix, Tlp::Amber, junk).inventory,
            Inventory::default()
        );
    }
}

// ---------------------------------------------------------------------------
// combine.

fn reason(code: ReasonCode, message: &str) -> Reason {
    Reason {
        code,
        message: message.into(),
    }
}

#[test]
fn combine_any_deny_wins_with_every_reason() {
    let r1 = reason(ReasonCode::NoAgreement, "carl: no agreement");
    let r2 = reason(ReasonCode::TlpAboveMax, "dave: too high");
    let r3 = reason(ReasonCode::KindNotAllowed, "dave: kind");
    let combined = combine([
        Decision::NeedsApproval { approvals: 3 },
        Decision::Deny {
            reasons: vec![r1.clone()],
        },
        Decision::Allow,
        Decision::Deny {
            reasons: vec![r2.clone(), r3.clone()],
        },
        Decision::NeedsApproval { approvals: 1 },
    ]);
    assert_eq!(
        combined,
        Decision::Deny {
            reasons: vec![r1.clone(), r2.clone(), r3.clone()]
        }
    );
    // A single refusal among approvals.
    assert_eq!(
        combine([
            Decision::Allow,
            Decision::Deny {
                reasons: vec![r2.clone()]
            }
        ]),
        Decision::Deny { reasons: vec![r2] }
    );
}

#[test]
fn combine_without_deny_asks_for_the_most_approvals() {
    assert_eq!(
        combine([
            Decision::Allow,
            Decision::NeedsApproval { approvals: 1 },
            Decision::NeedsApproval { approvals: 4 },
            Decision::NeedsApproval { approvals: 2 },
        ]),
        Decision::NeedsApproval { approvals: 4 }
    );
    assert_eq!(
        combine([Decision::NeedsApproval { approvals: 2 }]),
        Decision::NeedsApproval { approvals: 2 }
    );
}

#[test]
fn combine_all_allow_or_nothing_is_allow() {
    assert_eq!(combine([Decision::Allow, Decision::Allow]), Decision::Allow);
    assert_eq!(combine([Decision::Allow]), Decision::Allow);
    assert_eq!(combine(Vec::<Decision>::new()), Decision::Allow);
    assert_eq!(
        combine([Decision::Allow, Decision::NeedsApproval { approvals: 0 }]),
        Decision::Allow
    );
}

// ---------------------------------------------------------------------------
// release::plan.

#[test]
fn plan_denies_when_one_recipient_has_no_agreement() {
    let ab = base();
    let sha = sha256_hex(&ab.to_bytes());
    let content = b"patch the VPN appliances".to_vec();
    let recipients = [
        in_force("bolt", bolt(), &ab, &sha),
        Candidate {
            name: "carl",
            node_id: carl(),
            standing: None,
            agreement_sha256: None,
        },
    ];
    let plan = release::plan(
        &acme(),
        &Request {
            kind: Kind::Note,
            tlp: Tlp::Green,
            content: Drafted::Bytes(&content),
            individuals: &[],
            approvals: 0,
        },
        &recipients,
        now(),
    )
    .unwrap();
    assert_eq!(plan.redacted, None, "nothing removed: sent as drafted");
    assert!(plan.removals.is_empty());
    let reasons = plan.decision.reasons();
    assert!(plan.decision.is_deny(), "{:?}", plan.decision);
    assert_eq!(
        reasons,
        [reason(
            ReasonCode::NoAgreement,
            "no sharing agreement to peer `carl`: nothing flows without one"
        )]
    );
    assert!(reasons.iter().all(|r| !r.message.contains("bolt")));

    assert_eq!(plan.recipients.len(), 2);
    let (b, c) = (&plan.recipients[0], &plan.recipients[1]);
    assert_eq!((b.name.as_str(), b.node_id), ("bolt", bolt()));
    assert_eq!(b.decision, Decision::Allow);
    assert_eq!(
        b.agreement,
        Some(AgreementRef {
            id: ab.id,
            version: ab.version,
            sha256: sha.clone(),
        })
    );
    assert!(b.removals.is_empty());
    assert_eq!((c.name.as_str(), c.node_id), ("carl", carl()));
    assert!(c.decision.is_deny());
    assert_eq!(c.agreement, None);
}

#[test]
fn plan_allows_when_every_recipient_allows() {
    let ab = base();
    let mut ac = agreement_between(acme(), carl(), Some(out_terms()), None);
    ac.id = Uuid::parse_str("11111111-2222-4333-8444-555555555555").unwrap();
    ac.version = 7;
    let (sha_b, sha_c) = (sha256_hex(&ab.to_bytes()), sha256_hex(&ac.to_bytes()));
    assert_ne!(sha_b, sha_c);
    let content = bundle(&[indicator("[ipv4-addr:value = '198.51.100.7']")]);
    let recipients = [
        in_force("bolt", bolt(), &ab, &sha_b),
        in_force("carl", carl(), &ac, &sha_c),
    ];
    let plan = release::plan(
        &acme(),
        &Request {
            kind: Kind::Stix,
            tlp: Tlp::Amber,
            content: Drafted::Bytes(&content),
            individuals: &[],
            approvals: 0,
        },
        &recipients,
        now(),
    )
    .unwrap();
    assert_eq!(plan.decision, Decision::Allow);
    assert_eq!(plan.redacted, None, "nothing removed: sent as drafted");
    assert!(plan.removals.is_empty());
    let refs: Vec<_> = plan
        .recipients
        .iter()
        .map(|r| (r.name.as_str(), r.decision.clone(), r.agreement.clone()))
        .collect();
    assert_eq!(
        refs,
        [
            (
                "bolt",
                Decision::Allow,
                Some(AgreementRef {
                    id: agreement_id(),
                    version: 3,
                    sha256: sha_b,
                })
            ),
            (
                "carl",
                Decision::Allow,
                Some(AgreementRef {
                    id: ac.id,
                    version: 7,
                    sha256: sha_c,
                })
            ),
        ]
    );
}

#[test]
fn plan_combines_approvals_and_names_agreements_in_force_only() {
    let ab = base_out(|t| {
        t.approval = ApprovalTerms {
            from_tlp: Some(Tlp::Amber),
            approvers: 2,
        }
    });
    let ac = agreement_between(acme(), carl(), Some(out_terms()), None);
    let sha = "ab".repeat(32);
    let recipients = [
        in_force("bolt", bolt(), &ab, &sha),
        in_force("carl", carl(), &ac, &sha),
    ];
    let plan = release::plan(
        &acme(),
        &Request {
            kind: Kind::Note,
            tlp: Tlp::Amber,
            content: Drafted::Bytes(b"x"),
            individuals: &[],
            approvals: 1,
        },
        &recipients,
        now(),
    )
    .unwrap();
    assert_eq!(plan.decision, Decision::NeedsApproval { approvals: 2 });
    assert_eq!(
        plan.recipients[0].decision,
        Decision::NeedsApproval { approvals: 2 }
    );
    assert_eq!(plan.recipients[1].decision, Decision::Allow);

    // A proposed agreement is named by no plan, and refuses.
    let proposed = [Candidate {
        standing: Some(Standing {
            agreement: &ab,
            state: AgreementState::ProposedByUs,
        }),
        ..recipients[0]
    }];
    let plan = release::plan(
        &acme(),
        &Request {
            kind: Kind::Note,
            tlp: Tlp::Green,
            content: Drafted::Bytes(b"x"),
            individuals: &[],
            approvals: 0,
        },
        &proposed,
        now(),
    )
    .unwrap();
    assert_eq!(codes(&plan.decision), [ReasonCode::NotInForce]);
    assert_eq!(plan.recipients[0].agreement, None);
}

#[test]
fn a_streamed_plan_decides_from_the_inventory_as_one_in_memory_does() {
    // A bundle with a type the agreement does not let out.
    let content = bundle(&[
        indicator("[ipv4-addr:value = '198.51.100.7']"),
        json!({"type": "malware", "spec_version": "2.1",
               "id": "malware--31b940d4-6f7f-459a-80ea-9c1f17b58abc",
               "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
               "name": "x", "is_family": false}),
    ]);
    let inventory = crate::content::validate(Kind::Stix, &content)
        .unwrap()
        .inventory;
    let ab = base();
    let sha = sha256_hex(&ab.to_bytes());
    let recipients = [in_force("bolt", bolt(), &ab, &sha)];
    let request = |content| Request {
        kind: Kind::Stix,
        tlp: Tlp::Green,
        content,
        individuals: &[],
        approvals: 0,
    };
    let in_memory = release::plan(
        &acme(),
        &request(Drafted::Bytes(&content)),
        &recipients,
        now(),
    )
    .unwrap();
    let streamed = release::plan(
        &acme(),
        &request(Drafted::Streamed {
            size: content.len() as u64,
            inventory: &inventory,
        }),
        &recipients,
        now(),
    )
    .unwrap();
    assert!(in_memory.decision.is_deny(), "{:?}", in_memory.decision);
    assert_eq!(streamed, in_memory);
    assert!(!release::redacts(&acme(), &recipients));

    // Content that streams cannot be redacted: the plan says so.
    let redacting = base_out(|t| t.redact.drop_objects = vec!["identity".into()]);
    let recipients = [Candidate {
        standing: Some(Standing {
            agreement: &redacting,
            state: AgreementState::InForce,
        }),
        ..recipients[0]
    }];
    assert!(release::redacts(&acme(), &recipients));
    let err = release::plan(
        &acme(),
        &request(Drafted::Streamed {
            size: 99,
            inventory: &inventory,
        }),
        &recipients,
        now(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("redacts this share"), "{err}");
}

// ---------------------------------------------------------------------------
// pattern_object_types.

fn types(pattern: &str) -> Vec<String> {
    pattern_object_types(pattern).into_iter().collect()
}

#[test]
fn pattern_object_types_table() {
    let cases: &[(&str, &[&str])] = &[
        ("[email-addr:value = 'a@b.example']", &["email-addr"]),
        ("[ipv4-addr:value = '198.51.100.7']", &["ipv4-addr"]),
        // Quoted literals with `x:y` inside are skipped.
        ("[url:value = 'http://evil.example:8080/a:b']", &["url"]),
        ("[ipv4-addr:value = 'email-addr:value']", &["ipv4-addr"]),
        ("[file:name = 'C:x:y:z']", &["file"]),
        // Escaped quotes inside literals.
        (r"[file:name = 'it\'s email-addr:x']", &["file"]),
        (r"[file:name = '\'url:value\''] AND [domain-name:value = 'x']", &["domain-name", "file"]),
        // An escaped backslash right before the closing quote closes it.
        (r"[file:name = 'C:\\dir\\'] OR [ipv4-addr:value = '10.0.0.1']", &["file", "ipv4-addr"]),
        // Timestamps and other prefixed literals.
        ("[x-acme-log:seen > t'2024-01-01T00:00:00Z']", &["x-acme-log"]),
        (
            "[file:hashes.MD5 = 'abc'] START t'2024-01-01T00:00:00Z' STOP t'2024-02-01T00:00:00.000Z'",
            &["file"],
        ),
        ("[artifact:payload_bin = b'YWJjOmRlZg=='] AND [x:y = h'0a0b']", &["artifact", "x"]),
        // Quoted path components.
        ("[file:hashes.'SHA-256' = 'e3b0c442']", &["file"]),
        ("[file:extensions.'windows-pebinary-ext'.sections[*].entropy > 7.0]", &["file"]),
        ("[file:extensions.'x-ext:thing'.name = 'a']", &["file"]),
        // Several comparisons and observations.
        (
            "[file:hashes.'SHA-256' = 'aa' AND file:size > 10 OR process:name = 'x.exe']",
            &["file", "process"],
        ),
        (
            "[ipv4-addr:value = '198.51.100.1'] FOLLOWEDBY [domain-name:value = 'evil.example'] WITHIN 600 SECONDS",
            &["domain-name", "ipv4-addr"],
        ),
        (
            "([url:value = 'a'] AND [email-addr:value = 'b']) OR [mac-addr:value = 'c'] REPEATS 5 TIMES",
            &["email-addr", "mac-addr", "url"],
        ),
        (
            "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value ISSUBSET '10.0.0.0/8']",
            &["network-traffic"],
        ),
        ("[ipv4-addr:value IN ('10.0.0.1', 'url:x', '10.0.0.2')]", &["ipv4-addr"]),
        ("[file:name NOT LIKE 'a:%' AND file:name MATCHES '^x:y$']", &["file"]),
        ("[x_custom:prop = 1] AND [x-custom-2:prop = true]", &["x-custom-2", "x_custom"]),
        ("[url:value = 'a'] OR [url:value = 'b']", &["url"]),
        // Whitespace variants (not around the colon).
        ("[ email-addr:value='a@b.example' ]", &["email-addr"]),
        ("[\temail-addr:value\n=\n'a@b.example'\r\n]", &["email-addr"]),
        (
            "[domain-name:value='a.example'OR domain-name:value='b.example']AND[url:value='c']",
            &["domain-name", "url"],
        ),
        ("  [url:value   =   'x']   FOLLOWEDBY   [file:name='y']  ", &["file", "url"]),
        // Nothing.
        ("", &[]),
        ("[]", &[]),
        ("no object path here", &[]),
        ("'only:a:literal'", &[]),
        (":value = 'x'", &[]),
        // Unterminated literals end the scan without panicking.
        ("[url:value = 'abc", &["url"]),
        (r"[url:value = 'abc\", &["url"]),
        (r"[url:value = 'abc\'", &["url"]),
    ];
    let mut failures = Vec::new();
    for (pattern, want) in cases {
        let got = types(pattern);
        if got != strings(want) {
            failures.push(format!("{pattern:?}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The STIX 2.1 pattern grammar skips whitespace between tokens, so
/// `[email-addr : value = '…']` is a valid pattern comparing `email-addr`,
/// but the scanner only sees a type when `:` directly follows it.
#[test]

fn pattern_object_types_whitespace_around_the_colon() {
    assert_eq!(
        types("[email-addr : value = 'a@b.example']"),
        ["email-addr"]
    );
    assert_eq!(
        types("[email-addr\t:value = 'a@b.example']"),
        ["email-addr"]
    );
    let d = eval_now(
        &stix(
            Tlp::Green,
            &[indicator("[email-addr :value = 'a@b.example']")],
        ),
        &base(),
        Direction::Outbound,
    );
    assert_eq!(codes(&d), [ReasonCode::PatternTypeNotAllowed]);
}

/// The STIX 2.1 pattern grammar skips `/* … */` and `// …` comments; an
/// apostrophe inside a comment is not a literal, but the scanner takes it
/// for one and then skips the real comparisons that follow.
#[test]

fn pattern_object_types_comments() {
    assert_eq!(
        types(
            "[ipv4-addr:value = '198.51.100.1'] /* don't */ OR [email-addr:value = 'a@b.example']"
        ),
        ["email-addr", "ipv4-addr"]
    );
    let d = eval_now(
        &stix(
            Tlp::Green,
            &[indicator(
                "[ipv4-addr:value = '198.51.100.1'] /* it's */ OR [email-addr:value = 'a@b.example']",
            )],
        ),
        &base(),
        Direction::Outbound,
    );
    assert_eq!(codes(&d), [ReasonCode::PatternTypeNotAllowed]);
}

/// STIX 2.1 still allows the deprecated `objects` dictionary of
/// observed-data, which embeds observables; the inventory only counts
/// top-level objects.
#[test]

fn inventory_counts_embedded_observables() {
    let mut od = object("observed-data");
    od["objects"] = json!({"0": {"type": "email-addr", "value": "a@b.example"}});
    let a = base_out(|t| t.content.stix_types.push("observed-data".into()));
    let d = eval_now(&stix(Tlp::Green, &[od]), &a, Direction::Outbound);
    assert_eq!(codes(&d), [ReasonCode::StixTypeNotAllowed]);
}

// ---------------------------------------------------------------------------
// Property: whatever is let through obeys every term.

const ALLOWED_POOL: [&str; 11] = [
    "indicator",
    "malware",
    "identity",
    "relationship",
    "report",
    "ipv4-addr",
    "domain-name",
    "url",
    "file",
    "email-addr",
    "x-acme-ticket",
];

/// Object types put in bundles (besides indicators).
const OBJECT_POOL: [&str; 9] = [
    "malware",
    "identity",
    "relationship",
    "report",
    "ipv4-addr",
    "domain-name",
    "email-addr",
    "x-acme-ticket",
    "marking-definition",
];

/// Observable types compared in patterns.
const OBSERVABLE_POOL: [&str; 7] = [
    "ipv4-addr",
    "domain-name",
    "url",
    "file",
    "email-addr",
    "x-acme-ticket",
    "mac-addr",
];

const PATHS: [&str; 6] = [
    "value",
    "name",
    "hashes.'SHA-256'",
    "hashes.MD5",
    "extensions.'x-ext:y'.z",
    "values[*].x",
];

const OPS: [&str; 8] = [
    " = ",
    "=",
    " != ",
    " > ",
    "\t<=\t",
    " LIKE ",
    " MATCHES ",
    " ISSUBSET ",
];

const LITERALS: [&str; 10] = [
    "'198.51.100.7'",
    "'http://evil.example:8080/a:b'",
    r"'it\'s email-addr:value'",
    r"'C:\\dir\\'",
    "t'2024-01-01T00:00:00Z'",
    "'url:value'",
    "h'0a0b'",
    "b'YWJjOmRlZg=='",
    "42",
    "true",
];

/// Characters that matter to the pattern scanner, and a few that do not.
const SCAN_CHARS: [char; 16] = [
    '[', ']', '\'', '\\', ':', ' ', 'a', 'b', '-', '_', '.', '(', ')', 'é', '0', '\t',
];

const JOIN_CMP: [&str; 5] = [" AND ", " OR ", "\nAND\n", "  or  ", " and "];
const JOIN_OBS: [&str; 4] = [" AND ", " OR ", " FOLLOWEDBY ", "\tFOLLOWEDBY\n"];
const QUALIFIERS: [&str; 4] = [
    "",
    " WITHIN 300 SECONDS",
    " REPEATS 2 TIMES",
    " START t'2024-01-01T00:00:00Z' STOP t'2024-02-01T00:00:00Z'",
];

/// A comparison: observable type, path, operator, literal.
fn arb_comparison() -> impl Strategy<Value = (String, String)> {
    (
        prop::sample::select(OBSERVABLE_POOL.to_vec()),
        prop::sample::select(PATHS.to_vec()),
        prop::sample::select(OPS.to_vec()),
        prop::sample::select(LITERALS.to_vec()),
    )
        .prop_map(|(ty, path, op, lit)| (ty.to_string(), format!("{ty}:{path}{op}{lit}")))
}

/// An observation: `[a AND b OR c]` plus a qualifier.
fn arb_observation() -> impl Strategy<Value = (BTreeSet<String>, String)> {
    (
        prop::collection::vec(
            (arb_comparison(), prop::sample::select(JOIN_CMP.to_vec())),
            1..3,
        ),
        prop::sample::select(QUALIFIERS.to_vec()),
    )
        .prop_map(|(cmps, qualifier)| {
            let mut types = BTreeSet::new();
            let mut text = String::from("[");
            for (i, ((ty, cmp), join)) in cmps.into_iter().enumerate() {
                if i > 0 {
                    text.push_str(join);
                }
                text.push_str(&cmp);
                types.insert(ty);
            }
            text.push(']');
            text.push_str(qualifier);
            (types, text)
        })
}

/// A pattern and the observable types it compares.
fn arb_pattern() -> impl Strategy<Value = (BTreeSet<String>, String)> {
    prop::collection::vec(
        (arb_observation(), prop::sample::select(JOIN_OBS.to_vec())),
        1..3,
    )
    .prop_map(|obs| {
        let mut types = BTreeSet::new();
        let mut text = String::new();
        for (i, ((t, o), join)) in obs.into_iter().enumerate() {
            if i > 0 {
                text.push_str(join);
            }
            text.push_str(&o);
            types.extend(t);
        }
        (types, text)
    })
}

fn arb_terms() -> impl Strategy<Value = Terms> {
    (
        // Biased towards generous terms, so that many shares get through.
        prop_oneof![
            1 => prop::sample::select(Tlp::ALL.to_vec()),
            1 => Just(Tlp::Red),
        ],
        prop_oneof![
            1 => prop::sample::subsequence(Kind::ALL.to_vec(), 0..=4),
            3 => prop::sample::subsequence(Kind::ALL.to_vec(), 2..=4),
        ],
        prop_oneof![
            1 => prop::sample::subsequence(ALLOWED_POOL.to_vec(), 0..=ALLOWED_POOL.len()),
            3 => prop::sample::subsequence(ALLOWED_POOL.to_vec(), 9..=ALLOWED_POOL.len()),
        ],
        prop::bool::weighted(0.2),
        prop::option::weighted(0.5, prop::sample::select(Tlp::ALL.to_vec())),
        0u32..4,
        prop::sample::subsequence(vec!["ciso", "soc"], 1..=2),
    )
        .prop_map(|(max_tlp, kinds, types, star, from_tlp, approvers, red)| {
            let mut stix_types = strings(&types);
            if star {
                stix_types.push("*".into());
            }
            let mut t = terms(max_tlp, &kinds, &[]);
            t.content.stix_types = stix_types;
            t.approval = ApprovalTerms {
                from_tlp,
                approvers,
            };
            t.handling.red_individuals = strings(&red);
            t
        })
}

fn arb_agreement() -> impl Strategy<Value = (Agreement, AgreementState)> {
    (
        prop_oneof![1 => 1u8..=3, 2 => Just(3u8)],
        arb_terms(),
        arb_terms(),
        // Around now, so that the window often holds it and now and then
        // starts or ends exactly at it.
        -300i64..50,
        1i64..900,
        1u32..5,
        prop_oneof![
            1 => prop::sample::select(AgreementState::ALL.to_vec()),
            2 => Just(AgreementState::InForce),
        ],
    )
        .prop_map(|(mask, out, inb, from_off, len, version, state)| {
            let mut a = agreement(
                (mask & 1 != 0).then_some(out),
                (mask & 2 != 0).then_some(inb),
            );
            a.valid_from = now() + secs(from_off);
            a.valid_until = a.valid_from + secs(len);
            a.version = version;
            (a, state)
        })
}

/// A generated share: the facts and, independently of the inventory code,
/// the object and pattern types it was built from.
#[derive(Debug, Clone)]
struct Share {
    facts: ShareFacts,
    object_types: BTreeSet<String>,
    pattern_types: BTreeSet<String>,
    direction: Direction,
}

fn arb_share() -> impl Strategy<Value = Share> {
    (
        prop::sample::select(Tlp::ALL.to_vec()),
        prop_oneof![
            1 => prop::sample::select(Kind::ALL.to_vec()),
            1 => Just(Kind::Stix),
        ],
        prop::collection::vec(prop::sample::select(OBJECT_POOL.to_vec()), 0..5),
        prop::collection::vec(arb_pattern(), 0..3),
        prop::sample::subsequence(vec!["ciso", "soc", "eve"], 0..=3),
        0u32..4,
        prop::bool::ANY,
    )
        .prop_map(
            |(tlp, kind, objects, patterns, individuals, approvals, inbound)| {
                let mut object_types: BTreeSet<String> = BTreeSet::new();
                let mut pattern_types = BTreeSet::new();
                let mut values = Vec::new();
                for ty in objects {
                    object_types.insert(ty.to_string());
                    values.push(object(ty));
                }
                for (types, pattern) in patterns {
                    assert_eq!(pattern_object_types(&pattern), types, "pattern {pattern:?}");
                    object_types.insert("indicator".into());
                    pattern_types.extend(types);
                    values.push(indicator(&pattern));
                }
                let mut facts = ShareFacts::new(kind, tlp, &bundle(&values));
                facts.individuals = strings(&individuals);
                facts.approvals = approvals;
                Share {
                    facts,
                    object_types,
                    pattern_types,
                    direction: if inbound {
                        Direction::Inbound
                    } else {
                        Direction::Outbound
                    },
                }
            },
        )
}

/// An independent statement of the rules: the codes expected, in order.
fn model(a: &Agreement, state: AgreementState, s: &Share, t: DateTime<Utc>) -> Expect {
    use ReasonCode::*;
    let mut codes = Vec::new();
    if state != AgreementState::InForce {
        codes.push(NotInForce);
    }
    if t < a.valid_from {
        codes.push(NotYetValid);
    }
    if t >= a.valid_until {
        codes.push(Expired);
    }
    let (from, to) = match s.direction {
        Direction::Outbound => (acme(), bolt()),
        Direction::Inbound => (bolt(), acme()),
    };
    let Some(terms) = a
        .flows
        .iter()
        .find(|f| f.from == from && f.to == to)
        .map(|f| &f.terms)
    else {
        codes.push(NoFlow);
        return Expect::Deny(codes);
    };
    let f = &s.facts;
    let allowed = |ty: &str| {
        ty == "marking-definition" || terms.content.stix_types.iter().any(|x| x == "*" || x == ty)
    };
    if f.tlp > terms.max_tlp {
        codes.push(TlpAboveMax);
    }
    if !terms.content.kinds.contains(&f.kind) {
        codes.push(KindNotAllowed);
    }
    if f.kind == Kind::Stix {
        codes.extend(
            s.object_types
                .iter()
                .filter(|t| !allowed(t))
                .map(|_| StixTypeNotAllowed),
        );
        codes.extend(
            s.pattern_types
                .iter()
                .filter(|t| !allowed(t))
                .map(|_| PatternTypeNotAllowed),
        );
    }
    if f.tlp == Tlp::Red {
        if f.individuals.is_empty() {
            codes.push(RedNeedsIndividuals);
        }
        codes.extend(
            f.individuals
                .iter()
                .filter(|w| !terms.handling.red_individuals.contains(w))
                .map(|_| IndividualNotAllowed),
        );
    }
    let needed = match terms.approval.from_tlp {
        Some(from) if f.tlp >= from => terms.approval.approvers.max(1),
        _ => 0,
    };
    if s.direction == Direction::Inbound && f.approvals < needed {
        codes.push(ApprovalsMissing);
    }
    if !codes.is_empty() {
        Expect::Deny(codes)
    } else if s.direction == Direction::Outbound && f.approvals < needed {
        Approve(needed)
    } else {
        Allow
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn whatever_flows_obeys_the_agreement(
        (a, state) in arb_agreement(),
        s in arb_share(),
    ) {
        let t = now();
        let d = eval(&s.facts, Some(&a), state, s.direction, t);
        let (from, to) = match s.direction {
            Direction::Outbound => (acme(), bolt()),
            Direction::Inbound => (bolt(), acme()),
        };
        let f = &s.facts;
        let flow = a.flow(&from, &to);

        if !d.is_deny() {
            prop_assert_eq!(state, AgreementState::InForce);
            prop_assert!(a.is_valid_at(t));
            let terms = flow.expect("a decision other than deny needs a flow");
            prop_assert!(f.tlp <= terms.max_tlp);
            prop_assert!(terms.content.kinds.contains(&f.kind));
            if f.kind == Kind::Stix {
                for ty in s.object_types.iter().chain(&s.pattern_types) {
                    prop_assert!(
                        terms.content.allows_stix_type(ty),
                        "{} let through under {:?}", ty, terms.content.stix_types
                    );
                }
            }
            if f.tlp == Tlp::Red {
                prop_assert!(!f.individuals.is_empty());
                for w in &f.individuals {
                    prop_assert!(terms.handling.red_individuals.contains(w));
                }
            }
            let needed = terms.approval.needed(f.tlp);
            match &d {
                Decision::Allow => prop_assert!(f.approvals >= needed),
                Decision::NeedsApproval { approvals } => {
                    prop_assert_eq!(s.direction, Direction::Outbound);
                    prop_assert!(f.approvals < needed);
                    prop_assert_eq!(*approvals, needed);
                }
                Decision::Deny { .. } => unreachable!(),
            }
        } else {
            prop_assert!(!d.reasons().is_empty());
        }

        // The converse, for the simple rules.
        let c = codes(&d);
        if state != AgreementState::InForce {
            prop_assert!(c.contains(&ReasonCode::NotInForce), "{:?}", c);
        }
        if !a.is_valid_at(t) {
            prop_assert!(
                c.contains(&ReasonCode::NotYetValid) || c.contains(&ReasonCode::Expired),
                "{:?}", c
            );
        }
        match flow {
            None => prop_assert_eq!(c.last(), Some(&ReasonCode::NoFlow)),
            Some(terms) => {
                if f.tlp > terms.max_tlp {
                    prop_assert!(c.contains(&ReasonCode::TlpAboveMax), "{:?}", c);
                }
                if !terms.content.kinds.contains(&f.kind) {
                    prop_assert!(c.contains(&ReasonCode::KindNotAllowed), "{:?}", c);
                }
            }
        }

        // And exactly what an independent statement of the rules expects.
        prop_assert_eq!(outcome(&d), model(&a, state, &s, t));
    }

    #[test]
    fn pattern_types_of_generated_patterns((types, pattern) in arb_pattern()) {
        prop_assert_eq!(pattern_object_types(&pattern), types);
    }

    #[test]
    fn pattern_object_types_never_panics(
        chars in prop::collection::vec(prop::sample::select(SCAN_CHARS.to_vec()), 0..200),
    ) {
        let pattern: String = chars.into_iter().collect();
        let types = pattern_object_types(&pattern);
        for t in &types {
            prop_assert!(!t.is_empty());
            prop_assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
    }
}
