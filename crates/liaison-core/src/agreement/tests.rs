use super::*;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::dsse::EnvelopeSignature;
use crate::redact::InternalAction;

const EXAMPLE: &str = include_str!("../../../../config/agreement.example.toml");

// ---------------------------------------------------------------------------
// Fixtures.

struct Node {
    keys: NodeKeys,
    party: Party,
}

impl Node {
    fn new(org: &str) -> Node {
        let keys = NodeKeys::generate().unwrap();
        let party = Party {
            org: org.into(),
            node_id: keys.node_id(),
        };
        Node { keys, party }
    }

    fn id(&self) -> NodeId {
        self.party.node_id
    }
}

fn trio() -> (Node, Node, Node) {
    (Node::new("ACME"), Node::new("Bolt"), Node::new("Carl"))
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn now() -> DateTime<Utc> {
    at("2026-02-03T04:05:06Z")
}

fn agreement_id() -> Uuid {
    Uuid::parse_str("0b7e4a52-3c1d-4f6e-8a9b-1c2d3e4f5a6b").unwrap()
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

fn flow(from: &Node, to: &Node, terms: Terms) -> Flow {
    Flow {
        from: from.id(),
        to: to.id(),
        terms,
    }
}

/// A valid two-way agreement proposed by `a` to `b`.
fn agreement(a: &Node, b: &Node) -> Agreement {
    Agreement {
        v: AGREEMENT_VERSION,
        id: agreement_id(),
        version: 1,
        title: "test".into(),
        parties: vec![a.party.clone(), b.party.clone()],
        valid_from: at("2026-01-01T00:00:00Z"),
        valid_until: at("2027-01-01T00:00:00Z"),
        created: now(),
        flows: vec![
            flow(
                a,
                b,
                terms(
                    Tlp::Amber,
                    &[Kind::Stix, Kind::Note],
                    &["indicator", "ipv4-addr"],
                ),
            ),
            flow(b, a, terms(Tlp::Green, &[Kind::Csaf], &[])),
        ],
    }
}

/// The shipped example between `a` (the writer) and `b`.
fn example(a: &Node, b: &Node) -> Agreement {
    AgreementFile::from_toml(EXAMPLE)
        .unwrap()
        .to_agreement(agreement_id(), 1, a.party.clone(), b.party.clone(), now())
        .unwrap()
}

/// The message of an `Invalid` refusal by `check`.
fn invalid(a: &Agreement) -> String {
    match a.check() {
        Err(AgreementError::Invalid(m)) => m,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn reencode(envelope: &Envelope) -> Vec<u8> {
    envelope.to_json()
}

fn payload_of(envelope: &Envelope) -> Vec<u8> {
    STANDARD.decode(&envelope.payload).unwrap()
}

// ---------------------------------------------------------------------------
// The shipped example.

#[test]
fn the_shipped_example_parses_and_is_valid() {
    let (a, b, _) = trio();
    let file = AgreementFile::from_toml(EXAMPLE).unwrap();
    assert_eq!(
        file.title,
        "ACME ↔ Bolt: supply-chain IOC and advisory exchange"
    );
    assert_eq!(file.id, None);
    assert_eq!(file.version, None);
    assert_eq!(file.valid_from, at("2026-01-01T00:00:00Z"));
    assert_eq!(file.valid_until, at("2027-12-31T00:00:00Z"));

    let out = file.outbound.as_ref().unwrap();
    assert_eq!(out.max_tlp, Tlp::Amber);
    assert_eq!(out.content.kinds, [Kind::Stix, Kind::Csaf, Kind::Note]);
    assert_eq!(out.content.stix_types.len(), 13);
    assert!(out.content.allows_stix_type("ipv6-addr"));
    assert!(!out.content.allows_stix_type("email-addr"));
    assert_eq!(
        out.redact,
        RedactRules {
            drop_objects: vec![],
            drop_properties: strings(&["x_acme_ticket"]),
            internal_cidrs: strings(&["10.0.0.0/8", "192.168.0.0/16", "fd00::/8"]),
            internal_domains: strings(&["corp.acme.example"]),
            internal: InternalAction::Remove,
            remove_email_addresses: true,
            personal_data_fields: strings(&["x_reporter_name", "contact_information"]),
        }
    );
    assert_eq!(
        out.approval,
        ApprovalTerms {
            from_tlp: Some(Tlp::Amber),
            approvers: 1
        }
    );
    assert_eq!(out.reshare, ReshareTerms::default());
    assert_eq!(
        out.handling,
        Handling {
            retention_days: Some(365),
            encrypt_at_rest: true,
            permitted_actions: PermittedActions::InternallyVisibleActions,
            attribution: Statement::MustNot,
            affected_party_notifications: Statement::May,
            red_individuals: vec![],
            purge_on_recall: false,
        }
    );

    let inb = file.inbound.as_ref().unwrap();
    assert_eq!(inb.max_tlp, Tlp::Green);
    assert_eq!(inb.content.kinds, [Kind::Csaf, Kind::Note]);
    assert!(inb.content.stix_types.is_empty());
    assert!(inb.redact.is_empty());
    // Omitted tables take their defaults: no approval needed.
    assert_eq!(inb.approval.from_tlp, None);
    assert!(Tlp::ALL.into_iter().all(|t| inb.approval.needed(t) == 0));
    assert_eq!(inb.reshare, ReshareTerms::default());
    assert_eq!(inb.handling.retention_days, Some(90));
    assert!(!inb.handling.encrypt_at_rest);
    assert_eq!(inb.handling.attribution, Statement::May);

    let agreement = file
        .to_agreement(agreement_id(), 1, a.party.clone(), b.party.clone(), now())
        .unwrap();
    agreement.check().unwrap();
    assert_eq!(agreement.v, AGREEMENT_VERSION);
    assert_eq!(agreement.id, agreement_id());
    assert_eq!(agreement.version, 1);
    assert_eq!(agreement.created, now());
    assert_eq!(agreement.parties, [a.party.clone(), b.party.clone()]);
    assert_eq!(agreement.proposer(), Some(&a.party));
    assert_eq!(agreement.flows.len(), 2);
    assert_eq!(agreement.flow(&a.id(), &b.id()), Some(out));
    assert_eq!(agreement.flow(&b.id(), &a.id()), Some(inb));
    // And it can be proposed.
    let signed = SignedAgreement::propose(&a.keys, agreement).unwrap();
    assert_eq!(signed.signed_by, [a.id()]);
}

#[test]
fn to_agreement_makes_flows_from_the_writers_point_of_view() {
    let (a, b, _) = trio();
    let mut file = AgreementFile::from_toml(EXAMPLE).unwrap();
    let outbound = file.outbound.clone().unwrap();
    let inbound = file.inbound.clone().unwrap();

    // Seen from Bolt, the same file sends Bolt's outbound to ACME.
    let from_b = file
        .to_agreement(agreement_id(), 2, b.party.clone(), a.party.clone(), now())
        .unwrap();
    assert_eq!(from_b.version, 2);
    assert_eq!(from_b.parties[0], b.party);
    assert_eq!(from_b.flow(&b.id(), &a.id()), Some(&outbound));
    assert_eq!(from_b.flow(&a.id(), &b.id()), Some(&inbound));

    file.inbound = None;
    let one_way = file
        .to_agreement(agreement_id(), 1, a.party.clone(), b.party.clone(), now())
        .unwrap();
    assert_eq!(one_way.flows.len(), 1);
    assert_eq!(one_way.flows[0].from, a.id());
    assert_eq!(one_way.flow(&b.id(), &a.id()), None);

    file.outbound = None;
    file.inbound = Some(inbound.clone());
    let other_way = file
        .to_agreement(agreement_id(), 1, a.party.clone(), b.party.clone(), now())
        .unwrap();
    assert_eq!(other_way.flows.len(), 1);
    assert_eq!(other_way.flows[0].from, b.id());
    assert_eq!(other_way.flow(&b.id(), &a.id()), Some(&inbound));

    // Neither: refused by check.
    file.inbound = None;
    let err = file
        .to_agreement(agreement_id(), 1, a.party.clone(), b.party.clone(), now())
        .unwrap_err();
    assert_eq!(
        err,
        AgreementError::Invalid(
            "an agreement has one or two flows (one per direction), this one has 0".into()
        )
    );
    // Version 0 too.
    let err = AgreementFile::from_toml(EXAMPLE)
        .unwrap()
        .to_agreement(agreement_id(), 0, a.party.clone(), b.party.clone(), now())
        .unwrap_err();
    assert_eq!(err, AgreementError::Invalid("`version` starts at 1".into()));
    // With itself.
    let err = AgreementFile::from_toml(EXAMPLE)
        .unwrap()
        .to_agreement(agreement_id(), 1, a.party.clone(), a.party.clone(), now())
        .unwrap_err();
    assert_eq!(
        err,
        AgreementError::Invalid("both parties are the same node".into())
    );
}

#[test]
fn agreement_file_optional_fields_and_inline_tables() {
    let text = r#"
id = "0b7e4a52-3c1d-4f6e-8a9b-1c2d3e4f5a6b"
version = 4
valid_from = "2026-01-01T00:00:00+02:00"
valid_until = "2026-06-01T00:00:00Z"
[outbound]
max_tlp = "TLP:AMBER+STRICT"
content = { kinds = ["log"], stix_types = [] }
approval = { from_tlp = "amber+strict" }
reshare = { allowed = true }
handling = { red_individuals = ["ciso@bolt.example"], permitted_actions = "none", affected_party_notifications = "must" }
"#;
    let file = AgreementFile::from_toml(text).unwrap();
    assert_eq!(file.id, Some(agreement_id()));
    assert_eq!(file.version, Some(4));
    assert_eq!(file.title, "");
    assert_eq!(file.valid_from, at("2025-12-31T22:00:00Z"));
    assert_eq!(file.inbound, None);
    let t = file.outbound.unwrap();
    assert_eq!(t.max_tlp, Tlp::AmberStrict);
    assert_eq!(t.content.kinds, [Kind::Log]);
    assert_eq!(
        t.approval,
        ApprovalTerms {
            from_tlp: Some(Tlp::AmberStrict),
            approvers: 1
        }
    );
    assert_eq!(
        t.reshare,
        ReshareTerms {
            allowed: true,
            max_tlp: Tlp::Green,
            to: vec![]
        }
    );
    assert_eq!(t.handling.permitted_actions, PermittedActions::None);
    assert_eq!(t.handling.affected_party_notifications, Statement::Must);
    assert_eq!(t.handling.red_individuals, ["ciso@bolt.example"]);
}

/// `approvers` defaults to 1 when an `[approval]` table is written without
/// it, but to 0 when the table is left out (`#[serde(default)]` on
/// `Terms::approval` takes the derived `Default`, not `default = "one"`),
/// so the same terms sign as two different JSON documents.
#[test]

fn omitted_and_empty_approval_tables_agree() {
    let base = "valid_from = \"2026-01-01T00:00:00Z\"\nvalid_until = \"2027-01-01T00:00:00Z\"\n[outbound]\nmax_tlp = \"green\"\ncontent = { kinds = [\"note\"] }\n";
    let omitted = AgreementFile::from_toml(base).unwrap();
    let empty = AgreementFile::from_toml(&format!("{base}approval = {{}}\n")).unwrap();
    assert_eq!(empty.outbound.as_ref().unwrap().approval.approvers, 1);
    assert_eq!(omitted.outbound, empty.outbound);
}

#[test]
fn agreement_file_refuses_unknown_fields_and_bad_values() {
    let base = r#"
valid_from = "2026-01-01T00:00:00Z"
valid_until = "2027-01-01T00:00:00Z"
"#;
    let cases: &[(&str, &str)] = &[
        ("colour = \"red\"\n", "colour"),
        ("[outbound]\nmax_tpl = \"amber\"\n", "max_tpl"),
        (
            "[outbound]\nmax_tlp = \"amber\"\n[outbound.content]\nkinds = [\"stix\"]\ntypes = [\"url\"]\n",
            "types",
        ),
        (
            "[outbound]\nmax_tlp = \"amber\"\ncontent = { kinds = [\"stix\"] }\n[outbound.redact]\ndrop_object = [\"note\"]\n",
            "drop_object",
        ),
        (
            "[outbound]\nmax_tlp = \"amber\"\ncontent = { kinds = [\"stix\"] }\n[outbound.approval]\napprover = 2\n",
            "approver",
        ),
        (
            "[outbound]\nmax_tlp = \"amber\"\ncontent = { kinds = [\"stix\"] }\n[outbound.reshare]\nallow = true\n",
            "allow",
        ),
        (
            "[outbound]\nmax_tlp = \"amber\"\ncontent = { kinds = [\"stix\"] }\n[outbound.handling]\nretention = 30\n",
            "retention",
        ),
    ];
    for (extra, field) in cases {
        let text = format!("{base}{extra}");
        match AgreementFile::from_toml(&text) {
            Err(AgreementError::Malformed(m)) => {
                assert!(
                    m.contains("unknown field") && m.contains(field),
                    "{extra:?}: {m}"
                );
            }
            other => panic!("{extra:?}: expected Malformed, got {other:?}"),
        }
    }
    let bad: &[(&str, &str)] = &[
        ("[outbound]\nmax_tlp = \"purple\"\ncontent = { kinds = [\"stix\"] }\n", "purple"),
        ("[outbound]\nmax_tlp = \"amber\"\ncontent = { kinds = [\"pdf\"] }\n", "pdf"),
        (
            "[outbound]\nmax_tlp = \"amber\"\ncontent = { kinds = [\"stix\"] }\nhandling = { attribution = \"maybe\" }\n",
            "maybe",
        ),
        ("[outbound]\ncontent = { kinds = [\"stix\"] }\n", "max_tlp"),
        ("[outbound]\nmax_tlp = \"amber\"\n", "content"),
    ];
    for (extra, word) in bad {
        let text = format!("{base}{extra}");
        match AgreementFile::from_toml(&text) {
            Err(AgreementError::Malformed(m)) => assert!(m.contains(word), "{extra:?}: {m}"),
            other => panic!("{extra:?}: expected Malformed, got {other:?}"),
        }
    }
    match AgreementFile::from_toml("valid_from = \"2026-01-01T00:00:00Z\"\n") {
        Err(AgreementError::Malformed(m)) => assert!(m.contains("valid_until"), "{m}"),
        other => panic!("expected Malformed, got {other:?}"),
    }
    match AgreementFile::from_toml(
        "valid_from = \"yesterday\"\nvalid_until = \"2027-01-01T00:00:00Z\"\n",
    ) {
        Err(AgreementError::Malformed(_)) => {}
        other => panic!("expected Malformed, got {other:?}"),
    }
    assert!(matches!(
        AgreementFile::from_toml("this is not toml ="),
        Err(AgreementError::Malformed(_))
    ));
}

// ---------------------------------------------------------------------------
// check().

#[test]
fn check_accepts_the_fixture() {
    let (a, b, _) = trio();
    agreement(&a, &b).check().unwrap();
    // One flow either way is enough.
    let mut one = agreement(&a, &b);
    one.flows.remove(0);
    one.check().unwrap();
}

#[test]
fn check_refuses_other_format_versions() {
    let (a, b, _) = trio();
    for v in [0, 2, u32::MAX] {
        let mut x = agreement(&a, &b);
        x.v = v;
        x.version = 0; // the format version is checked first
        let err = x.check().unwrap_err();
        assert_eq!(err, AgreementError::UnsupportedVersion(v));
        assert_eq!(
            err.to_string(),
            format!("unsupported agreement format version {v} (this node reads 1)")
        );
    }
}

#[test]
fn check_refuses_version_zero() {
    let (a, b, _) = trio();
    let mut x = agreement(&a, &b);
    x.version = 0;
    let err = x.check().unwrap_err();
    assert_eq!(err.to_string(), "invalid agreement: `version` starts at 1");
}

#[test]
fn check_refuses_anything_but_two_distinct_parties() {
    let (a, b, c) = trio();
    let mut x = agreement(&a, &b);
    x.parties.truncate(1);
    assert_eq!(
        invalid(&x),
        "an agreement has exactly two parties, this one names 1"
    );
    x.parties.clear();
    assert_eq!(
        invalid(&x),
        "an agreement has exactly two parties, this one names 0"
    );
    let mut x = agreement(&a, &b);
    x.parties.push(c.party.clone());
    assert_eq!(
        invalid(&x),
        "an agreement has exactly two parties, this one names 3"
    );
    // The same node twice, even under another name.
    let mut x = agreement(&a, &b);
    x.parties[1] = Party {
        org: "ACME again".into(),
        node_id: a.id(),
    };
    assert_eq!(invalid(&x), "both parties are the same node");
}

#[test]
fn check_refuses_an_empty_or_reversed_window() {
    let (a, b, _) = trio();
    let mut x = agreement(&a, &b);
    x.valid_until = x.valid_from;
    assert_eq!(
        invalid(&x),
        "`valid_from` (2026-01-01T00:00:00+00:00) must be before `valid_until` (2026-01-01T00:00:00+00:00)"
    );
    let mut x = agreement(&a, &b);
    std::mem::swap(&mut x.valid_from, &mut x.valid_until);
    assert_eq!(
        invalid(&x),
        "`valid_from` (2027-01-01T00:00:00+00:00) must be before `valid_until` (2026-01-01T00:00:00+00:00)"
    );
    // One nanosecond is a window.
    let mut x = agreement(&a, &b);
    x.valid_until = x.valid_from + chrono::Duration::nanoseconds(1);
    x.check().unwrap();
}

#[test]
fn check_refuses_zero_or_three_flows() {
    let (a, b, _) = trio();
    let mut x = agreement(&a, &b);
    x.flows.clear();
    assert_eq!(
        invalid(&x),
        "an agreement has one or two flows (one per direction), this one has 0"
    );
    let mut x = agreement(&a, &b);
    let extra = x.flows[0].clone();
    x.flows.push(extra);
    assert_eq!(
        invalid(&x),
        "an agreement has one or two flows (one per direction), this one has 3"
    );
}

#[test]
fn check_refuses_flows_not_between_the_parties() {
    let (a, b, c) = trio();
    let t = || terms(Tlp::Green, &[Kind::Note], &[]);
    for (i, bad) in [
        flow(&a, &c, t()),
        flow(&c, &a, t()),
        flow(&c, &b, t()),
        flow(&a, &a, t()),
        flow(&b, &b, t()),
    ]
    .into_iter()
    .enumerate()
    {
        let mut first = agreement(&a, &b);
        first.flows[0] = bad.clone();
        assert_eq!(
            invalid(&first),
            "flow 1 must go between the two parties",
            "case {i}"
        );
        let mut second = agreement(&a, &b);
        second.flows[1] = bad;
        assert_eq!(
            invalid(&second),
            "flow 2 must go between the two parties",
            "case {i}"
        );
    }
}

#[test]
fn check_refuses_two_flows_in_one_direction() {
    let (a, b, _) = trio();
    let mut x = agreement(&a, &b);
    x.flows[1] = flow(&a, &b, terms(Tlp::Clear, &[Kind::Note], &[]));
    assert_eq!(invalid(&x), "two flows from ACME: one flow per direction");
    let mut x = agreement(&a, &b);
    x.flows[0] = flow(&b, &a, terms(Tlp::Clear, &[Kind::Note], &[]));
    assert_eq!(invalid(&x), "two flows from Bolt: one flow per direction");
}

#[test]
fn check_refuses_empty_kinds_naming_the_flow() {
    let (a, b, _) = trio();
    let mut x = agreement(&a, &b);
    x.flows[0].terms.content.kinds.clear();
    assert_eq!(
        invalid(&x),
        "ACME → Bolt: `content.kinds` is empty: name at least one of stix, csaf, note, log"
    );
    let mut x = agreement(&a, &b);
    x.flows[1].terms.content.kinds.clear();
    assert_eq!(
        invalid(&x),
        "Bolt → ACME: `content.kinds` is empty: name at least one of stix, csaf, note, log"
    );
}

#[test]
fn check_refuses_bad_stix_type_names() {
    let (a, b, _) = trio();
    let long_ok = "a".repeat(250);
    let long_bad = "a".repeat(251);
    for bad in [
        "Indicator",
        "",
        "ipv4_addr",
        "ipv4 addr",
        "x:y",
        "**",
        "indicator*",
        "é",
        long_bad.as_str(),
    ] {
        let mut x = agreement(&a, &b);
        x.flows[0].terms.content.stix_types.push(bad.into());
        let shown: String = bad.chars().take(64).collect();
        assert_eq!(
            invalid(&x),
            format!("ACME → Bolt: `{shown}` is not a STIX type name (lowercase letters, digits and hyphens, or `*`)"),
            "{bad:?}"
        );
    }
    for good in [
        "*",
        "x-acme-ticket-2",
        "ipv6-addr",
        "x509-certificate",
        long_ok.as_str(),
    ] {
        let mut x = agreement(&a, &b);
        x.flows[0].terms.content.stix_types.push(good.into());
        x.check().unwrap_or_else(|e| panic!("{good:?}: {e}"));
    }
    // At most 256 types per flow.
    let mut x = agreement(&a, &b);
    x.flows[1].terms.content.stix_types = (0..256).map(|i| format!("x-t{i}")).collect();
    x.check().unwrap();
    x.flows[1]
        .terms
        .content
        .stix_types
        .push("x-one-more".into());
    assert_eq!(invalid(&x), "Bolt → ACME: more than 256 STIX types");
}

#[test]
fn check_bounds_the_number_of_approvers() {
    let (a, b, _) = trio();
    let with = |from_tlp: Option<Tlp>, approvers: u32| {
        let mut x = agreement(&a, &b);
        x.flows[0].terms.approval = ApprovalTerms {
            from_tlp,
            approvers,
        };
        x
    };
    for n in [0, 17, 1000] {
        assert_eq!(
            invalid(&with(Some(Tlp::Amber), n)),
            "ACME → Bolt: `approval.approvers` must be between 1 and 16",
            "{n}"
        );
        // Without from_tlp the count is unused.
        with(None, n).check().unwrap();
    }
    for n in [1, 2, 16] {
        with(Some(Tlp::Clear), n).check().unwrap();
    }
}

#[test]
fn check_bounds_resharing_by_tlp() {
    let (a, b, _) = trio();
    let with = |allowed: bool, max_tlp: Tlp| {
        let mut x = agreement(&a, &b);
        x.flows[1].terms.reshare = ReshareTerms {
            allowed,
            max_tlp,
            to: vec![],
        };
        x
    };
    for tlp in [Tlp::Amber, Tlp::AmberStrict, Tlp::Red] {
        assert_eq!(
            invalid(&with(true, tlp)),
            format!("Bolt → ACME: re-sharing is allowed for TLP:CLEAR and TLP:GREEN only, not up to {tlp}")
        );
        with(false, tlp).check().unwrap();
    }
    for tlp in [Tlp::Clear, Tlp::Green] {
        with(true, tlp).check().unwrap();
    }
}

#[test]
fn check_refuses_invalid_redaction_rules_naming_the_flow() {
    let (a, b, _) = trio();
    let mut x = agreement(&a, &b);
    x.flows[0].terms.redact.internal_cidrs = strings(&["10.0.0.0/33"]);
    match x.check() {
        Err(AgreementError::Redact { flow, source }) => {
            assert_eq!(flow, "ACME → Bolt");
            assert!(
                matches!(&source, RedactError::InvalidRule { rule, .. } if rule == "internal_cidrs"),
                "{source:?}"
            );
            let msg = AgreementError::Redact {
                flow,
                source: source.clone(),
            }
            .to_string();
            assert_eq!(msg, format!("invalid agreement: ACME → Bolt: {source}"));
        }
        other => panic!("expected Redact, got {other:?}"),
    }
    let mut x = agreement(&a, &b);
    x.flows[1].terms.redact.drop_properties = strings(&["object_marking_refs"]);
    assert!(matches!(
        x.check(),
        Err(AgreementError::Redact { flow, .. }) if flow == "Bolt → ACME"
    ));
}

#[test]
fn check_reports_the_first_problem_in_order() {
    let (a, b, c) = trio();
    let mut x = agreement(&a, &b);
    x.version = 0;
    x.parties.push(c.party.clone());
    x.flows.clear();
    assert_eq!(invalid(&x), "`version` starts at 1");
    x.version = 1;
    assert_eq!(
        invalid(&x),
        "an agreement has exactly two parties, this one names 3"
    );
    x.parties.pop();
    x.valid_until = x.valid_from;
    assert!(invalid(&x).starts_with("`valid_from`"));
    x.valid_until = at("2030-01-01T00:00:00Z");
    assert!(invalid(&x).contains("this one has 0"));
}

// ---------------------------------------------------------------------------
// Small helpers.

#[test]
fn agreement_accessors() {
    let (a, b, c) = trio();
    let x = agreement(&a, &b);
    assert!(x.is_party(&a.id()));
    assert!(x.is_party(&b.id()));
    assert!(!x.is_party(&c.id()));
    assert_eq!(x.counterparty(&a.id()), Some(&b.party));
    assert_eq!(x.counterparty(&b.id()), Some(&a.party));
    assert_eq!(x.counterparty(&c.id()), None);
    assert_eq!(x.proposer(), Some(&a.party));
    assert_eq!(x.flow(&a.id(), &b.id()).unwrap().max_tlp, Tlp::Amber);
    assert_eq!(x.flow(&b.id(), &a.id()).unwrap().max_tlp, Tlp::Green);
    assert_eq!(x.flow(&a.id(), &c.id()), None);
    assert_eq!(x.flow(&a.id(), &a.id()), None);

    let from = x.valid_from;
    let until = x.valid_until;
    let ns = chrono::Duration::nanoseconds(1);
    assert!(!x.is_valid_at(from - ns));
    assert!(x.is_valid_at(from));
    assert!(x.is_valid_at(until - ns));
    assert!(!x.is_valid_at(until));
}

#[test]
fn content_terms_allow_listed_types_markings_and_star() {
    let c = ContentTerms {
        kinds: vec![Kind::Stix],
        stix_types: strings(&["indicator", "url"]),
    };
    assert!(c.allows_stix_type("indicator"));
    assert!(c.allows_stix_type("url"));
    assert!(c.allows_stix_type("marking-definition"));
    assert!(!c.allows_stix_type("email-addr"));
    assert!(!c.allows_stix_type("Indicator"));
    assert!(!c.allows_stix_type(""));
    let none = ContentTerms {
        kinds: vec![Kind::Stix],
        stix_types: vec![],
    };
    assert!(none.allows_stix_type("marking-definition"));
    assert!(!none.allows_stix_type("indicator"));
    let star = ContentTerms {
        kinds: vec![Kind::Stix],
        stix_types: strings(&["*"]),
    };
    for ty in ["indicator", "email-addr", "x-anything", ""] {
        assert!(star.allows_stix_type(ty), "{ty}");
    }
}

#[test]
fn approval_needed_by_tlp() {
    let none = ApprovalTerms {
        from_tlp: None,
        approvers: 3,
    };
    let amber = ApprovalTerms {
        from_tlp: Some(Tlp::Amber),
        approvers: 3,
    };
    let zero = ApprovalTerms {
        from_tlp: Some(Tlp::Clear),
        approvers: 0,
    };
    for tlp in Tlp::ALL {
        assert_eq!(none.needed(tlp), 0);
        assert_eq!(amber.needed(tlp), if tlp >= Tlp::Amber { 3 } else { 0 });
        assert_eq!(zero.needed(tlp), 1);
    }
}

#[test]
fn agreement_state_names_round_trip() {
    let names = [
        "proposed_by_us",
        "proposed_by_peer",
        "in_force",
        "declined",
        "revoked",
        "superseded",
    ];
    for (state, name) in AgreementState::ALL.into_iter().zip(names) {
        assert_eq!(state.as_str(), name);
        assert_eq!(state.to_string(), name);
        assert_eq!(name.parse::<AgreementState>(), Ok(state));
        assert_eq!(
            serde_json::to_string(&state).unwrap(),
            format!("\"{name}\"")
        );
    }
    let err = "in-force".parse::<AgreementState>().unwrap_err();
    assert_eq!(err, ParseAgreementStateError("in-force".into()));
    assert_eq!(
        err.to_string(),
        "`in-force` is not an agreement state: expected one of proposed_by_us, proposed_by_peer, in_force, declined, revoked, superseded"
    );
    assert!("IN_FORCE".parse::<AgreementState>().is_err());
}

#[test]
fn dsse_errors_map_to_agreement_errors() {
    assert_eq!(
        AgreementError::from(DsseError::Malformed("x".into())),
        AgreementError::Malformed("x".into())
    );
    assert_eq!(
        AgreementError::from(DsseError::BadSignature),
        AgreementError::Signature(DsseError::BadSignature.to_string())
    );
    let wrong = DsseError::WrongType {
        expected: "a".into(),
        found: "b".into(),
    };
    assert_eq!(
        AgreementError::from(wrong.clone()),
        AgreementError::Signature(wrong.to_string())
    );
}

// ---------------------------------------------------------------------------
// Signing.

#[test]
fn propose_then_from_json_verifies_the_proposer() {
    let (a, b, _) = trio();
    let x = agreement(&a, &b);
    let proposed = SignedAgreement::propose(&a.keys, x.clone()).unwrap();
    assert_eq!(proposed.agreement, x);
    assert_eq!(proposed.bytes, x.to_bytes());
    assert_eq!(proposed.signed_by, [a.id()]);
    assert!(!proposed.is_countersigned());
    assert_eq!(proposed.envelope.payload_type, AGREEMENT_TYPE);
    assert_eq!(proposed.envelope.signatures.len(), 1);
    assert_eq!(
        proposed.envelope.key_ids().collect::<Vec<_>>(),
        [a.id().to_string()]
    );
    assert_eq!(proposed.sha256(), sha256_hex(&x.to_bytes()));

    let received = SignedAgreement::from_json(&proposed.to_json()).unwrap();
    assert_eq!(received, proposed);
    assert_eq!(received.signed_by, [a.id()]);
    assert!(!received.is_countersigned());
}

#[test]
fn countersign_by_the_other_party() {
    let (a, b, _) = trio();
    let proposed = SignedAgreement::propose(&a.keys, agreement(&a, &b)).unwrap();
    // Bolt receives it and countersigns.
    let received = SignedAgreement::from_json(&proposed.to_json()).unwrap();
    let both = received.countersign(&b.keys).unwrap();
    assert!(both.is_countersigned());
    assert_eq!(both.signed_by, [a.id(), b.id()]);
    assert_eq!(both.bytes, proposed.bytes);
    assert_eq!(both.sha256(), proposed.sha256());
    assert_eq!(both.envelope.payload, proposed.envelope.payload);
    assert_eq!(both.envelope.signatures.len(), 2);
    assert_eq!(both.envelope.signatures[0], proposed.envelope.signatures[0]);

    // What Bolt sends back verifies with both signatures.
    let back = SignedAgreement::from_json(&both.to_json()).unwrap();
    assert_eq!(back, both);
    assert!(back.is_countersigned());
    assert_eq!(back.sha256(), proposed.sha256());

    // Each signature verifies on its own, under its own key only.
    for (sig, (signer, other)) in both.envelope.signatures.iter().zip([(&a, &b), (&b, &a)]) {
        let alone = Envelope {
            signatures: vec![sig.clone()],
            ..both.envelope.clone()
        };
        assert_eq!(
            alone
                .verify(AGREEMENT_TYPE, &signer.id().verifying_key())
                .unwrap(),
            proposed.bytes
        );
        assert_eq!(
            alone.verify(AGREEMENT_TYPE, &other.id().verifying_key()),
            Err(DsseError::BadSignature)
        );
        assert_eq!(sig.keyid.as_deref(), Some(signer.id().to_string().as_str()));
    }

    // Countersigning again, by either party, changes nothing.
    assert_eq!(both.countersign(&b.keys).unwrap(), both);
    assert_eq!(both.countersign(&a.keys).unwrap(), both);
    assert_eq!(proposed.countersign(&a.keys).unwrap(), proposed);
}

#[test]
fn countersign_by_a_non_party_is_refused() {
    let (a, b, c) = trio();
    let proposed = SignedAgreement::propose(&a.keys, agreement(&a, &b)).unwrap();
    let err = proposed.countersign(&c.keys).unwrap_err();
    assert_eq!(err, AgreementError::NotAParty(c.id()));
    assert_eq!(
        err.to_string(),
        format!("node {} is not a party to this agreement", c.id())
    );
}

#[test]
fn propose_by_anyone_but_the_first_party_is_refused() {
    let (a, b, c) = trio();
    assert_eq!(
        SignedAgreement::propose(&b.keys, agreement(&a, &b)).unwrap_err(),
        AgreementError::NotAParty(b.id())
    );
    assert_eq!(
        SignedAgreement::propose(&c.keys, agreement(&a, &b)).unwrap_err(),
        AgreementError::NotAParty(c.id())
    );
    // Bolt proposes its own version, naming itself first.
    let mut x = agreement(&a, &b);
    x.parties.reverse();
    assert_eq!(
        SignedAgreement::propose(&b.keys, x).unwrap().signed_by,
        [b.id()]
    );
    // An invalid agreement is not signed at all.
    let mut x = agreement(&a, &b);
    x.version = 0;
    assert_eq!(
        SignedAgreement::propose(&a.keys, x).unwrap_err(),
        AgreementError::Invalid("`version` starts at 1".into())
    );
}

#[test]
fn from_json_refuses_a_payload_changed_after_signing() {
    let (a, b, _) = trio();
    let proposed = SignedAgreement::propose(&a.keys, agreement(&a, &b)).unwrap();
    let both = proposed.countersign(&b.keys).unwrap();
    for signed in [&proposed, &both] {
        let mut changed = signed.agreement.clone();
        changed.flows[0].terms.max_tlp = Tlp::Red;
        let mut env = signed.envelope.clone();
        env.payload = STANDARD.encode(changed.to_bytes());
        assert_eq!(
            SignedAgreement::from_json(&reencode(&env)).unwrap_err(),
            AgreementError::Signature("no signature by either party verifies".into())
        );
        // One byte of whitespace is a change too.
        let mut bytes = payload_of(&signed.envelope);
        bytes.push(b' ');
        let mut env = signed.envelope.clone();
        env.payload = STANDARD.encode(&bytes);
        assert!(matches!(
            SignedAgreement::from_json(&reencode(&env)),
            Err(AgreementError::Signature(_))
        ));
    }
}

#[test]
fn from_json_refuses_a_signature_by_a_third_key() {
    let (a, b, c) = trio();
    let proposed = SignedAgreement::propose(&a.keys, agreement(&a, &b)).unwrap();
    let by_c = Envelope::sign(
        AGREEMENT_TYPE,
        &proposed.bytes,
        c.keys.signing_key(),
        &c.id().to_string(),
    );
    let mut env = proposed.envelope.clone();
    env.signatures.extend(by_c.signatures.clone());
    assert_eq!(
        SignedAgreement::from_json(&reencode(&env)).unwrap_err(),
        AgreementError::Signature("1 signature(s) verify under no party's key".into())
    );
    // Also next to both parties' signatures, and with a false key id.
    let mut env = proposed.countersign(&b.keys).unwrap().envelope;
    env.signatures.push(EnvelopeSignature {
        keyid: Some(b.id().to_string()),
        sig: by_c.signatures[0].sig.clone(),
    });
    assert_eq!(
        SignedAgreement::from_json(&reencode(&env)).unwrap_err(),
        AgreementError::Signature("1 signature(s) verify under no party's key".into())
    );
    // A garbage signature counts as one that verifies under no key.
    let mut env = proposed.envelope.clone();
    env.signatures.push(EnvelopeSignature {
        keyid: None,
        sig: "AAAA".into(),
    });
    assert!(matches!(
        SignedAgreement::from_json(&reencode(&env)),
        Err(AgreementError::Signature(_))
    ));
}

#[test]
fn from_json_refuses_without_a_partys_valid_signature() {
    let (a, b, c) = trio();
    let x = agreement(&a, &b);
    let bytes = x.to_bytes();
    // Signed by a stranger only.
    let env = Envelope::sign(
        AGREEMENT_TYPE,
        &bytes,
        c.keys.signing_key(),
        &a.id().to_string(),
    );
    assert_eq!(
        SignedAgreement::from_json(&env.to_json()).unwrap_err(),
        AgreementError::Signature("no signature by either party verifies".into())
    );
    // A broken signature by the proposer.
    let mut env = SignedAgreement::propose(&a.keys, x.clone())
        .unwrap()
        .envelope;
    let mut raw = STANDARD.decode(&env.signatures[0].sig).unwrap();
    raw[0] ^= 1;
    env.signatures[0].sig = STANDARD.encode(raw);
    assert_eq!(
        SignedAgreement::from_json(&env.to_json()).unwrap_err(),
        AgreementError::Signature("no signature by either party verifies".into())
    );
    // No signatures at all.
    let mut env = SignedAgreement::propose(&a.keys, x.clone())
        .unwrap()
        .envelope;
    env.signatures.clear();
    assert!(matches!(
        SignedAgreement::from_json(&env.to_json()),
        Err(AgreementError::Malformed(_))
    ));
    // The right key, but signed as another payload type.
    let env = Envelope::sign(
        NOTICE_TYPE,
        &bytes,
        a.keys.signing_key(),
        &a.id().to_string(),
    );
    match SignedAgreement::from_json(&env.to_json()) {
        Err(AgreementError::Signature(m)) => assert!(m.contains("payload type"), "{m}"),
        other => panic!("expected Signature, got {other:?}"),
    }
}

#[test]
fn from_json_refuses_bad_payloads_even_if_signed() {
    let (a, b, _) = trio();
    let sign = |bytes: &[u8]| {
        Envelope::sign(
            AGREEMENT_TYPE,
            bytes,
            a.keys.signing_key(),
            &a.id().to_string(),
        )
        .to_json()
    };
    // Another format version is reported as such.
    let mut v2 = serde_json::to_value(agreement(&a, &b)).unwrap();
    v2["v"] = 2.into();
    v2["new_field"] = "from the future".into();
    assert_eq!(
        SignedAgreement::from_json(&sign(&serde_json::to_vec(&v2).unwrap())).unwrap_err(),
        AgreementError::UnsupportedVersion(2)
    );
    // An unknown field in v1.
    let mut extra = serde_json::to_value(agreement(&a, &b)).unwrap();
    extra["colour"] = "red".into();
    assert!(matches!(
        SignedAgreement::from_json(&sign(&serde_json::to_vec(&extra).unwrap())),
        Err(AgreementError::Malformed(m)) if m.contains("colour")
    ));
    // Not JSON, or no `v`.
    assert!(matches!(
        SignedAgreement::from_json(&sign(b"not json")),
        Err(AgreementError::Malformed(_))
    ));
    assert!(matches!(
        SignedAgreement::from_json(&sign(b"{}")),
        Err(AgreementError::Malformed(_))
    ));
    // Valid JSON that fails check().
    let mut x = agreement(&a, &b);
    x.flows.clear();
    assert!(matches!(
        SignedAgreement::from_json(&sign(&x.to_bytes())),
        Err(AgreementError::Invalid(m)) if m.contains("this one has 0")
    ));
    // Not an envelope.
    assert!(matches!(
        SignedAgreement::from_json(b"{\"hello\": 1}"),
        Err(AgreementError::Malformed(_))
    ));
    assert!(matches!(
        SignedAgreement::from_json(b""),
        Err(AgreementError::Malformed(_))
    ));
}

#[test]
fn from_stored_reads_what_to_json_wrote() {
    let (a, b, _) = trio();
    let proposed = SignedAgreement::propose(&a.keys, example(&a, &b)).unwrap();
    let both = proposed.countersign(&b.keys).unwrap();
    for signed in [&proposed, &both] {
        let stored = SignedAgreement::from_stored(&signed.to_json()).unwrap();
        assert_eq!(&stored, signed);
        assert_eq!(stored.signed_by, signed.signed_by);
        assert_eq!(stored.sha256(), signed.sha256());
        assert_eq!(stored.is_countersigned(), signed.is_countersigned());
        assert_eq!(
            SignedAgreement::from_json(&signed.to_json()).unwrap(),
            stored
        );
    }
    assert_eq!(
        SignedAgreement::from_stored(&both.to_json())
            .unwrap()
            .signed_by,
        [a.id(), b.id()]
    );
    assert!(matches!(
        SignedAgreement::from_stored(b"junk"),
        Err(AgreementError::Malformed(_))
    ));
}

// ---------------------------------------------------------------------------
// Notices.

fn notice(by: NodeId, action: NoticeAction) -> Notice {
    Notice {
        v: 1,
        agreement_id: agreement_id(),
        version: 2,
        agreement_sha256: "ab".repeat(32),
        action,
        reason: "terms changed".into(),
        at: now(),
        by,
    }
}

#[test]
fn notice_sign_verify_round_trip() {
    let (a, b, _) = trio();
    for action in [NoticeAction::Decline, NoticeAction::Revoke] {
        let n = notice(a.id(), action);
        let json = Notice::sign(&a.keys, &n);
        assert_eq!(Notice::verify(&json, &a.id()).unwrap(), n);
        assert_eq!(message_type(&json), Some(NOTICE_TYPE));
        // Under anyone else's key it does not verify.
        assert_eq!(
            Notice::verify(&json, &b.id()).unwrap_err(),
            AgreementError::Signature(DsseError::BadSignature.to_string())
        );
    }
    let json = serde_json::to_value(notice(a.id(), NoticeAction::Revoke)).unwrap();
    assert_eq!(json["action"], "revoke");
    assert_eq!(
        serde_json::to_value(NoticeAction::Decline).unwrap(),
        "decline"
    );
}

#[test]
fn notice_by_must_be_the_signer() {
    let (a, b, _) = trio();
    // Signed by ACME, but claims to be by Bolt.
    let json = Notice::sign(&a.keys, &notice(b.id(), NoticeAction::Revoke));
    assert_eq!(
        Notice::verify(&json, &a.id()).unwrap_err(),
        AgreementError::Signature(format!(
            "notice names {} but is signed by {}",
            b.id(),
            a.id()
        ))
    );
    assert!(matches!(
        Notice::verify(&json, &b.id()),
        Err(AgreementError::Signature(_))
    ));
}

#[test]
fn notice_verify_refuses_other_versions_types_and_junk() {
    let (a, b, _) = trio();
    let mut n = notice(a.id(), NoticeAction::Decline);
    n.v = 2;
    assert_eq!(
        Notice::verify(&Notice::sign(&a.keys, &n), &a.id()).unwrap_err(),
        AgreementError::UnsupportedVersion(2)
    );
    // An agreement is not a notice.
    let proposed = SignedAgreement::propose(&a.keys, agreement(&a, &b)).unwrap();
    match Notice::verify(&proposed.to_json(), &a.id()) {
        Err(AgreementError::Signature(m)) => assert!(m.contains("payload type"), "{m}"),
        other => panic!("expected Signature, got {other:?}"),
    }
    // And a notice is not an agreement.
    let json = Notice::sign(&a.keys, &notice(a.id(), NoticeAction::Revoke));
    assert!(SignedAgreement::from_json(&json).is_err());
    // Signed bytes that are not a notice.
    let env = Envelope::sign(
        NOTICE_TYPE,
        b"{\"v\":1}",
        a.keys.signing_key(),
        &a.id().to_string(),
    );
    assert!(matches!(
        Notice::verify(&env.to_json(), &a.id()),
        Err(AgreementError::Malformed(_))
    ));
    assert!(matches!(
        Notice::verify(b"junk", &a.id()),
        Err(AgreementError::Malformed(_))
    ));
}

#[test]
fn message_type_by_payload_type() {
    let (a, b, _) = trio();
    let proposed = SignedAgreement::propose(&a.keys, agreement(&a, &b)).unwrap();
    assert_eq!(message_type(&proposed.to_json()), Some(AGREEMENT_TYPE));
    assert_eq!(
        message_type(&proposed.countersign(&b.keys).unwrap().to_json()),
        Some(AGREEMENT_TYPE)
    );
    let json = Notice::sign(&b.keys, &notice(b.id(), NoticeAction::Decline));
    assert_eq!(message_type(&json), Some(NOTICE_TYPE));
    let card = Envelope::sign(crate::identity::CARD_TYPE, b"{}", a.keys.signing_key(), "k");
    assert_eq!(message_type(&card.to_json()), None);
    let v2 = Envelope::sign(
        "application/vnd.liaison.agreement+json;v=2",
        b"{}",
        a.keys.signing_key(),
        "k",
    );
    assert_eq!(message_type(&v2.to_json()), None);
    assert_eq!(message_type(b"not json"), None);
    assert_eq!(message_type(b""), None);
    assert_eq!(
        message_type(b"{\"payload\":\"\",\"payloadType\":\"application/vnd.liaison.agreement+json;v=1\",\"signatures\":[]}"),
        None
    );
}

// ---------------------------------------------------------------------------
// describe().

#[test]
fn describe_the_shipped_example_in_words() {
    let (a, b, _) = trio();
    let x = example(&a, &b);
    let expected = [
        format!(
            "Agreement {} \"ACME ↔ Bolt: supply-chain IOC and advisory exchange\", version 1, between ACME and Bolt, valid from 2026-01-01 00:00 UTC until 2027-12-31 00:00 UTC.",
            agreement_id()
        ),
        String::new(),
        "ACME → Bolt:".into(),
        "  - up to TLP:AMBER may be sent".into(),
        "  - content allowed: STIX 2.1 bundles, CSAF 2.0 advisories, text notes".into(),
        "  - STIX objects and indicator types: indicator, malware, attack-pattern, relationship, sighting, identity, observed-data, report, ipv4-addr, ipv6-addr, domain-name, url, file".into(),
        "  - ACME removes before sealing: properties x_acme_ticket; indicators and observables in ACME's networks 10.0.0.0/8, 192.168.0.0/16, fd00::/8 (removed); indicators and observables in ACME's domains corp.acme.example (removed); e-mail addresses; personal data fields x_reporter_name, contact_information".into(),
        "  - shares at TLP:AMBER or above need 1 approval at ACME, never by the drafter".into(),
        "  - Bolt may not re-share anything".into(),
        "  - Bolt must handle it so: keep at most 365 days, encrypt at rest, permitted actions: actions visible on internal networks only, must not attribute ACME, may notify affected parties".into(),
        String::new(),
        "Bolt → ACME:".into(),
        "  - up to TLP:GREEN may be sent".into(),
        "  - content allowed: CSAF 2.0 advisories, text notes".into(),
        "  - nothing is redacted".into(),
        "  - no release approval needed".into(),
        "  - ACME may not re-share anything".into(),
        "  - ACME must handle it so: keep at most 90 days, permitted actions: actions visible on internal networks only, may attribute Bolt, may notify affected parties".into(),
        String::new(),
    ]
    .join("\n");
    assert_eq!(x.describe(), expected);
}

#[test]
fn describe_a_one_way_agreement() {
    let (a, b, _) = trio();
    let mut x = agreement(&a, &b);
    x.flows.remove(1);
    x.title.clear();
    let text = x.describe();
    assert!(text.starts_with(&format!(
        "Agreement {}, version 1, between ACME and Bolt, valid from 2026-01-01 00:00 UTC until 2027-01-01 00:00 UTC.\n",
        agreement_id()
    )));
    assert!(text.contains("\nACME → Bolt:\n  - up to TLP:AMBER may be sent\n"));
    assert!(text.ends_with("\nBolt → ACME:\n  nothing may be sent in this direction.\n"));
    assert_eq!(text.matches("nothing may be sent").count(), 1);

    // The other way round.
    let mut x = agreement(&a, &b);
    x.flows.remove(0);
    let text = x.describe();
    assert!(text.contains("\nACME → Bolt:\n  nothing may be sent in this direction.\n"));
    assert!(text.contains("\nBolt → ACME:\n  - up to TLP:GREEN may be sent\n"));
}

#[test]
fn describe_every_kind_of_term() {
    let (a, _, c) = trio();
    let mut t = terms(Tlp::Red, &Kind::ALL, &["*"]);
    t.redact = RedactRules {
        drop_objects: strings(&["note", "identity"]),
        drop_properties: vec![],
        internal_cidrs: strings(&["10.0.0.0/8"]),
        internal_domains: vec![],
        internal: InternalAction::Mask,
        remove_email_addresses: false,
        personal_data_fields: vec![],
    };
    t.approval = ApprovalTerms {
        from_tlp: Some(Tlp::Green),
        approvers: 2,
    };
    t.reshare = ReshareTerms {
        allowed: true,
        max_tlp: Tlp::Green,
        to: vec![c.id(), a.id()],
    };
    t.handling = Handling {
        retention_days: None,
        encrypt_at_rest: false,
        permitted_actions: PermittedActions::ExternallyVisibleDirectActions,
        attribution: Statement::Must,
        affected_party_notifications: Statement::MustNot,
        red_individuals: strings(&["ciso@bolt.example", "soc@bolt.example"]),
        purge_on_recall: false,
    };
    let lines = t.describe("ACME", "Bolt");
    assert_eq!(
        lines,
        [
            "up to TLP:RED may be sent",
            "content allowed: STIX 2.1 bundles, CSAF 2.0 advisories, text notes, log excerpts, joint incident actions and decisions",
            "STIX objects and indicator types: any",
            "ACME removes before sealing: objects of type note, identity; indicators and observables in ACME's networks 10.0.0.0/8 (masked)",
            "shares at TLP:GREEN or above need 2 approvals at ACME, never by the drafter",
            "Bolt may re-share content up to TLP:GREEN to 2 named node(s), with ACME's signature intact",
            "Bolt must handle it so: no retention limit, permitted actions: any action, must attribute ACME, must not notify affected parties",
            "TLP:RED only for the named individuals ciso@bolt.example, soc@bolt.example",
        ]
    );

    let mut t = terms(Tlp::Clear, &[Kind::Stix], &[]);
    t.reshare = ReshareTerms {
        allowed: true,
        max_tlp: Tlp::Clear,
        to: vec![],
    };
    t.handling.permitted_actions = PermittedActions::ContactForInstruction;
    let lines = t.describe("Bolt", "ACME");
    assert_eq!(lines[1], "content allowed: STIX 2.1 bundles");
    assert_eq!(
        lines[2],
        "STIX objects and indicator types: none (only markings)"
    );
    assert_eq!(
        lines[5],
        "ACME may re-share content up to TLP:CLEAR to any of its peers, with Bolt's signature intact"
    );
    assert!(lines[6].contains("permitted actions: contact the provider before acting"));

    let mut t = terms(Tlp::Green, &[Kind::Note], &["indicator"]);
    t.handling.permitted_actions = PermittedActions::None;
    let lines = t.describe("A", "B");
    // No STIX line when STIX is not allowed at all.
    assert_eq!(lines.len(), 6);
    assert!(lines[5].contains("permitted actions: no action on it"));
    t.handling.permitted_actions = PermittedActions::ExternallyVisibleIndirectActions;
    assert!(t.describe("A", "B")[5].contains(
        "permitted actions: internal and indirect external actions, no direct action visible to the adversary"
    ));

    let mut t = terms(Tlp::Green, &[Kind::Stix], &["indicator", "url"]);
    t.redact.internal_domains = strings(&["corp.example"]);
    t.redact.remove_email_addresses = true;
    let lines = t.describe("A", "B");
    assert_eq!(lines[2], "STIX objects and indicator types: indicator, url");
    assert_eq!(
        lines[3],
        "A removes before sealing: indicators and observables in A's domains corp.example (removed); e-mail addresses"
    );
}

// ---------------------------------------------------------------------------
// JSON.

/// Every field away from its default.
fn full(a: &Node, b: &Node, c: &Node) -> Agreement {
    let mut x = example(a, b);
    x.created = at("2026-02-03T04:05:06.123456789Z");
    let t = &mut x.flows[1].terms;
    t.max_tlp = Tlp::Red;
    t.content.stix_types = strings(&["*"]);
    t.redact = RedactRules {
        drop_objects: strings(&["note"]),
        drop_properties: strings(&["description"]),
        internal_cidrs: strings(&["2001:db8::/32"]),
        internal_domains: strings(&["bolt.internal"]),
        internal: InternalAction::Mask,
        remove_email_addresses: true,
        personal_data_fields: strings(&["x_name"]),
    };
    t.approval = ApprovalTerms {
        from_tlp: Some(Tlp::Red),
        approvers: 16,
    };
    t.reshare = ReshareTerms {
        allowed: true,
        max_tlp: Tlp::Clear,
        to: vec![c.id()],
    };
    t.handling = Handling {
        retention_days: Some(0),
        encrypt_at_rest: true,
        permitted_actions: PermittedActions::ExternallyVisibleIndirectActions,
        attribution: Statement::Must,
        affected_party_notifications: Statement::MustNot,
        red_individuals: strings(&["analyst@acme.example"]),
        purge_on_recall: false,
    };
    x
}

#[test]
fn agreement_json_round_trip_is_byte_stable() {
    let (a, b, c) = trio();
    let mut minimal = agreement(&a, &b);
    minimal.title.clear();
    let mut only_email = agreement(&a, &b);
    only_email.flows[0].terms.redact.remove_email_addresses = true;
    for x in [
        agreement(&a, &b),
        minimal,
        only_email,
        example(&a, &b),
        full(&a, &b, &c),
    ] {
        x.check().unwrap();
        let bytes = x.to_bytes();
        let parsed: Agreement = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed, x);
        assert_eq!(parsed.to_bytes(), bytes);
        // And through a signed envelope.
        let signed = SignedAgreement::propose(&a.keys, x.clone()).unwrap();
        let back = SignedAgreement::from_json(&signed.to_json()).unwrap();
        assert_eq!(back.agreement, x);
        assert_eq!(back.agreement.to_bytes(), bytes);
    }
}

#[test]
fn agreement_json_shape() {
    let (a, b, _) = trio();
    let mut x = agreement(&a, &b);
    x.title.clear();
    let v: serde_json::Value = serde_json::from_slice(&x.to_bytes()).unwrap();
    assert_eq!(v["v"], 1);
    assert_eq!(v["id"], agreement_id().to_string());
    assert!(v.get("title").is_none());
    assert_eq!(v["parties"][0]["org"], "ACME");
    assert_eq!(v["parties"][0]["node_id"], a.id().to_string());
    assert_eq!(v["valid_from"], "2026-01-01T00:00:00Z");
    let t = &v["flows"][0]["terms"];
    assert_eq!(v["flows"][0]["from"], a.id().to_string());
    assert_eq!(t["max_tlp"], "TLP:AMBER");
    assert_eq!(t["content"]["kinds"], serde_json::json!(["stix", "note"]));
    // Empty redaction rules are left out; the rest is written in full.
    assert!(t.get("redact").is_none());
    assert!(t["approval"].get("from_tlp").is_none());
    assert!(t["approval"]["approvers"].is_u64());
    assert_eq!(
        t["reshare"],
        serde_json::json!({"allowed": false, "max_tlp": "TLP:GREEN"})
    );
    assert_eq!(
        t["handling"],
        serde_json::json!({
            "encrypt_at_rest": false,
            "permitted_actions": "internally-visible-actions",
            "attribution": "may",
            "affected_party_notifications": "may"
        })
    );

    // Unknown fields are refused at every level.
    for path in [
        &[][..],
        &["flows", "0"][..],
        &["flows", "0", "terms"][..],
        &["flows", "0", "terms", "content"][..],
        &["flows", "0", "terms", "handling"][..],
    ] {
        let mut v: serde_json::Value = serde_json::from_slice(&x.to_bytes()).unwrap();
        let mut at = &mut v;
        for p in path {
            at = match p.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*p],
            };
        }
        at["surprise"] = true.into();
        assert!(
            serde_json::from_value::<Agreement>(v).is_err(),
            "unknown field at {path:?} accepted"
        );
    }
}

/// TOML has its own date-time type; people write `valid_from =
/// 2026-01-01T00:00:00Z` unquoted, which chrono's string deserializer
/// refuses with "invalid type: map, expected an RFC 3339 formatted date and
/// time string".
#[test]

fn agreement_file_accepts_toml_datetimes() {
    let file = AgreementFile::from_toml(
        "valid_from = 2026-01-01T00:00:00Z\nvalid_until = 2027-01-01T00:00:00Z\n",
    )
    .unwrap();
    assert_eq!(file.valid_from, at("2026-01-01T00:00:00Z"));
}
