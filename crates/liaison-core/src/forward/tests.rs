use chrono::Duration;
use uuid::Uuid;

use super::*;
use crate::agreement::{Agreement, ContentTerms, Flow, ReshareTerms, Terms, AGREEMENT_VERSION};
use crate::content::Kind;
use crate::envelope::{self, Draft, SignedBundle};
use crate::identity::NodeKeys;
use crate::manifest::Party;

const NOTE: &[u8] = b"patch the updater to 2.4.1";

fn keys() -> NodeKeys {
    NodeKeys::generate().unwrap()
}

fn card(k: &NodeKeys, org: &str) -> crate::identity::IdentityCard {
    k.issue_card(org, vec!["127.0.0.1:1".into()], Utc::now())
        .card
}

/// `origin` signs a note at `tlp` for `to`.
fn original(origin: &NodeKeys, to: &NodeKeys, tlp: Tlp) -> SignedBundle {
    let draft = Draft::new(Kind::Note, tlp, vec![card(to, "B")]);
    envelope::sign(origin, "A", &draft, NOTE, Utc::now()).unwrap()
}

/// `forwarder` re-shares `orig` to `to`.
fn forward_of(forwarder: &NodeKeys, to: &NodeKeys, orig: &SignedBundle, tlp: Tlp) -> Manifest {
    let mut draft = Draft::new(Kind::Note, tlp, vec![card(to, "C")]);
    draft.forwarded_from = Some(provenance(&orig.manifest, &orig.manifest_bytes, &orig.dsse));
    envelope::sign(forwarder, "B", &draft, NOTE, Utc::now())
        .unwrap()
        .manifest
}

#[test]
fn a_green_forward_verifies_and_returns_the_original() {
    let (a, b, c) = (keys(), keys(), keys());
    let orig = original(&a, &b, Tlp::Green);
    let fwd = forward_of(&b, &c, &orig, Tlp::Green);
    let back = verify_forward(&fwd).unwrap();
    assert_eq!(back, orig.manifest);
    assert_eq!(back.sender.node_id, a.node_id());
}

#[test]
fn forwards_that_must_be_refused() {
    let (a, b, c, x) = (keys(), keys(), keys(), keys());
    let amber = original(&a, &b, Tlp::Amber);
    assert_eq!(
        verify_forward(&forward_of(&b, &c, &amber, Tlp::Amber)),
        Err(ForwardError::TlpForbids(Tlp::Amber))
    );
    // A forwarder that was not in the original audience.
    let green = original(&a, &b, Tlp::Green);
    assert!(matches!(
        verify_forward(&forward_of(&x, &c, &green, Tlp::Green)),
        Err(ForwardError::Mismatch(m)) if m.contains("not in the original's audience")
    ));
    // A lower label than the original's.
    let clear_of_green = forward_of(&b, &c, &green, Tlp::Clear);
    assert!(matches!(
        verify_forward(&clear_of_green),
        Err(ForwardError::Mismatch(_))
    ));
    // Content that is not the original's.
    let mut changed = forward_of(&b, &c, &green, Tlp::Green);
    changed.content.sha256 = crate::manifest::sha256_hex(b"other");
    assert!(matches!(
        verify_forward(&changed),
        Err(ForwardError::Mismatch(_))
    ));
    // A signature by someone else than the claimed originator.
    let mut forged = forward_of(&b, &c, &green, Tlp::Green);
    if let Some(f) = forged.forwarded_from.as_mut() {
        let body = f.envelope.unverified_payload().unwrap();
        f.envelope = Envelope::sign(MANIFEST_TYPE, &body, x.signing_key(), "x");
    }
    assert_eq!(verify_forward(&forged), Err(ForwardError::BadSignature));
    // `forwarded_from` naming another bundle.
    let mut other = forward_of(&b, &c, &green, Tlp::Green);
    if let Some(f) = other.forwarded_from.as_mut() {
        f.bundle_id = Uuid::new_v4();
    }
    assert!(matches!(
        verify_forward(&other),
        Err(ForwardError::Mismatch(_))
    ));
    // Not a forward at all.
    assert!(matches!(
        verify_forward(&green.manifest),
        Err(ForwardError::Malformed(_))
    ));
}

fn agreement(origin: &NodeKeys, me: &NodeKeys, reshare: ReshareTerms) -> Agreement {
    let now = Utc::now();
    Agreement {
        v: AGREEMENT_VERSION,
        id: Uuid::new_v4(),
        version: 3,
        title: String::new(),
        parties: vec![
            Party {
                org: "A".into(),
                node_id: origin.node_id(),
            },
            Party {
                org: "B".into(),
                node_id: me.node_id(),
            },
        ],
        valid_from: now - Duration::days(1),
        valid_until: now + Duration::days(1),
        created: now,
        flows: vec![Flow {
            from: origin.node_id(),
            to: me.node_id(),
            terms: Terms {
                max_tlp: Tlp::Amber,
                content: ContentTerms {
                    kinds: vec![Kind::Note],
                    stix_types: vec![],
                },
                redact: Default::default(),
                approval: Default::default(),
                reshare,
                handling: Default::default(),
            },
        }],
    }
}

/// Name, original, the originator's re-share terms (none: no agreement),
/// the agreement's state, the target, and the expected reasons' texts.
type Case<'a> = (
    &'a str,
    &'a Manifest,
    Option<ReshareTerms>,
    AgreementState,
    &'a NodeKeys,
    Vec<&'a str>,
);

#[test]
fn reshare_policy_table() {
    let (a, b, c, d) = (keys(), keys(), keys(), keys());
    let now = Utc::now();
    let allowed = ReshareTerms {
        allowed: true,
        max_tlp: Tlp::Green,
        to: vec![],
    };
    let clear_only = ReshareTerms {
        allowed: true,
        max_tlp: Tlp::Clear,
        to: vec![],
    };
    let only_c = ReshareTerms {
        allowed: true,
        max_tlp: Tlp::Green,
        to: vec![c.node_id()],
    };
    let green = original(&a, &b, Tlp::Green).manifest;
    let amber = original(&a, &b, Tlp::Amber).manifest;
    let cases: Vec<Case<'_>> = vec![
        (
            "allowed",
            &green,
            Some(allowed.clone()),
            AgreementState::InForce,
            &c,
            vec![],
        ),
        (
            "amber never",
            &amber,
            Some(allowed.clone()),
            AgreementState::InForce,
            &c,
            vec![
                "TLP:AMBER never goes beyond its signed audience",
                "allows re-sharing up to TLP:GREEN, not TLP:AMBER",
            ],
        ),
        (
            "not allowed",
            &green,
            Some(ReshareTerms::default()),
            AgreementState::InForce,
            &c,
            vec!["agreement v3 with `A` does not allow re-sharing its content"],
        ),
        (
            "above reshare max",
            &green,
            Some(clear_only),
            AgreementState::InForce,
            &c,
            vec!["allows re-sharing up to TLP:CLEAR, not TLP:GREEN"],
        ),
        (
            "named targets",
            &green,
            Some(only_c.clone()),
            AgreementState::InForce,
            &d,
            vec!["`D` is not among the nodes agreement v3"],
        ),
        (
            "named target ok",
            &green,
            Some(only_c),
            AgreementState::InForce,
            &c,
            vec![],
        ),
        (
            "revoked",
            &green,
            Some(allowed.clone()),
            AgreementState::Revoked,
            &c,
            vec!["no agreement with the originator `A` is in force"],
        ),
        (
            "no agreement",
            &green,
            None,
            AgreementState::InForce,
            &c,
            vec!["no agreement with the originator `A` is in force"],
        ),
    ];
    for (name, orig, reshare, state, to, want) in cases {
        let ag = reshare.map(|r| agreement(&a, &b, r));
        let standing = ag.as_ref().map(|agreement| Standing { agreement, state });
        let to_name = if to.node_id() == c.node_id() {
            "C"
        } else {
            "D"
        };
        let got = reshare_reasons(
            orig,
            &b.node_id(),
            "A",
            standing,
            &to.node_id(),
            to_name,
            now,
        );
        assert_eq!(got.len(), want.len(), "{name}: {got:?}");
        for (r, w) in got.iter().zip(&want) {
            assert_eq!(r.code, ReasonCode::ReshareNotAllowed, "{name}");
            assert!(r.message.contains(w), "{name}: `{}` lacks `{w}`", r.message);
        }
    }
    // Every reason at once: AMBER, and an agreement that forbids it.
    let ag = agreement(&a, &b, ReshareTerms::default());
    let standing = Some(Standing {
        agreement: &ag,
        state: AgreementState::InForce,
    });
    let got = reshare_reasons(&amber, &b.node_id(), "A", standing, &c.node_id(), "C", now);
    assert_eq!(got.len(), 2, "{got:?}");
}

#[test]
fn a_reshare_is_never_reshared_again() {
    let (a, b, c) = (keys(), keys(), keys());
    let orig = original(&a, &b, Tlp::Green);
    let fwd = forward_of(&b, &c, &orig, Tlp::Green);
    let ag = agreement(
        &b,
        &c,
        ReshareTerms {
            allowed: true,
            max_tlp: Tlp::Green,
            to: vec![],
        },
    );
    let standing = Some(Standing {
        agreement: &ag,
        state: AgreementState::InForce,
    });
    let got = reshare_reasons(
        &fwd,
        &c.node_id(),
        "B",
        standing,
        &a.node_id(),
        "A",
        Utc::now(),
    );
    assert!(
        got.iter().any(|r| r.message.contains("not a re-share")),
        "{got:?}"
    );
}
