use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::agreement::AgreementFile;
use crate::checkpoint::origin_for;
use crate::manifest::{AgreementRef, Approval, ContentDigest, Party, Recipient};
use crate::receipt::{Receipt, RejectReason};

/// A → B: AMBER needs one approval. A → C: anything up to AMBER, no approval.
const AGREEMENT_AB: &str = r#"
title = "ACME and Bolt"
valid_from = "2020-01-01T00:00:00Z"
valid_until = "2100-01-01T00:00:00Z"
[outbound]
max_tlp = "amber"
content = { kinds = ["note"] }
approval = { from_tlp = "amber", approvers = 1 }
"#;

const AGREEMENT_AC: &str = r#"
title = "ACME and Cobalt"
valid_from = "2020-01-01T00:00:00Z"
valid_until = "2100-01-01T00:00:00Z"
[outbound]
max_tlp = "amber"
content = { kinds = ["note"] }
"#;

struct Fixture {
    a: NodeKeys,
    b: NodeKeys,
    c: NodeKeys,
    export: Export,
    /// Share 1: AMBER to B, approved by alice, accepted.
    s1: Uuid,
    /// Share 2: GREEN to B (pending) and C (rejected).
    s2: Uuid,
}

fn party(keys: &NodeKeys, org: &str) -> Party {
    Party {
        org: org.into(),
        node_id: keys.node_id(),
    }
}

fn agreement(
    a: &NodeKeys,
    peer: &NodeKeys,
    peer_org: &str,
    toml: &str,
    id: u128,
) -> SignedAgreement {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let draft = AgreementFile::from_toml(toml)
        .unwrap()
        .to_agreement(
            Uuid::from_u128(id),
            1,
            party(a, "ACME"),
            party(peer, peer_org),
            t0,
        )
        .unwrap();
    SignedAgreement::propose(a, draft)
        .unwrap()
        .countersign(peer)
        .unwrap()
}

fn reference(s: &SignedAgreement) -> AgreementRef {
    AgreementRef {
        id: s.agreement.id,
        version: s.agreement.version,
        sha256: s.sha256(),
    }
}

/// Builds a node's ledger entry by entry.
struct Ledger {
    t0: DateTime<Utc>,
    entries: Vec<Entry>,
}

impl Ledger {
    fn push(&mut self, kind: &str, actor: &str, body: serde_json::Value) -> &Entry {
        let seq = self.entries.len() as u64;
        let t = self.t0 + Duration::seconds(seq as i64);
        self.entries.push(Entry::new(seq, t, kind, actor, body));
        self.entries.last().unwrap()
    }
}

fn manifest(
    a: &NodeKeys,
    share: Uuid,
    tlp: Tlp,
    created: DateTime<Utc>,
    recipients: Vec<Recipient>,
    approvals: Vec<Approval>,
) -> (Manifest, Vec<u8>, Vec<u8>) {
    let mut recipients = recipients;
    recipients.sort_by_key(|r| r.node_id);
    let m = Manifest {
        v: 1,
        bundle_id: share,
        created,
        not_after: None,
        kind: Kind::Note,
        tlp,
        sender: party(a, "ACME"),
        recipients,
        community: None,
        individuals: Vec::new(),
        approvals,
        content: ContentDigest::of(Kind::Note, b"patch the VPN gateways"),
        supersedes: None,
        forwarded_from: None,
        exercise: false,
    };
    let bytes = m.to_bytes();
    let dsse = Envelope::sign(
        MANIFEST_TYPE,
        &bytes,
        a.signing_key(),
        &a.node_id().to_string(),
    );
    (m, bytes, dsse.to_json())
}

fn recipient(keys: &NodeKeys, org: &str, agreement: &SignedAgreement) -> Recipient {
    Recipient {
        org: org.into(),
        node_id: keys.node_id(),
        age: keys.age_recipient().to_string(),
        agreement: Some(reference(agreement)),
    }
}

fn receipt(
    from: &NodeKeys,
    by: &NodeKeys,
    share: Uuid,
    manifest_bytes: &[u8],
    envelope: &str,
    at: DateTime<Utc>,
    outcome: Outcome,
) -> Vec<u8> {
    SignedReceipt::sign(
        by,
        Receipt {
            v: 1,
            bundle_id: Some(share),
            manifest_sha256: Some(sha256_hex(manifest_bytes)),
            envelope_sha256: envelope.into(),
            sender: from.node_id(),
            recipient: by.node_id(),
            received_at: at,
            outcome,
        },
    )
    .to_json()
}

fn fixture() -> Fixture {
    let (a, b, c) = (
        NodeKeys::generate().unwrap(),
        NodeKeys::generate().unwrap(),
        NodeKeys::generate().unwrap(),
    );
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
    let mut ledger = Ledger {
        t0,
        entries: Vec::new(),
    };
    let ab = agreement(&a, &b, "Bolt", AGREEMENT_AB, 1);
    let ac = agreement(&a, &c, "Cobalt", AGREEMENT_AC, 2);
    let (s1, s2) = (Uuid::from_u128(0x51), Uuid::from_u128(0x52));

    ledger.push(kinds::NODE_INITIALIZED, "node", json!({"org": "ACME"}));
    for s in [&ab, &ac] {
        ledger.push(
            kinds::AGREEMENT_IN_FORCE,
            "node",
            json!({"agreement_id": s.agreement.id, "version": 1, "sha256": s.sha256()}),
        );
    }
    ledger.push(
        kinds::SHARE_AWAITING_APPROVAL,
        "ana",
        json!({"share_id": s1, "approvals_required": 1}),
    );
    let approved = ledger.push(
        kinds::SHARE_APPROVED,
        "alice-id",
        json!({"share_id": s1, "approver": "alice-id", "approver_name": "alice", "comment": "checked"}),
    );
    let approval = ApprovalEvidence {
        approver: "alice-id".into(),
        name: "alice".into(),
        decision: Decision::Approve,
        comment: "checked".into(),
        at: t0 + Duration::seconds(4),
        ledger_seq: approved.seq,
        decision_sha256: sha256_hex(&approved.to_bytes()),
    };

    // Share 1: AMBER to Bolt, after alice's approval; accepted.
    let (_, m1, dsse1) = manifest(
        &a,
        s1,
        Tlp::Amber,
        t0 + Duration::seconds(5),
        vec![recipient(&b, "Bolt", &ab)],
        vec![Approval {
            approver: approval.approver.clone(),
            name: approval.name.clone(),
            at: approval.at,
            decision_sha256: approval.decision_sha256.clone(),
        }],
    );
    let env1 = sha256_hex(b"ciphertext for bolt");
    ledger.push(
        kinds::SHARE_RELEASED,
        "alice-id",
        json!({"share_id": s1, "manifest_sha256": sha256_hex(&m1), "recipients": [
            {"node_id": b.node_id().to_string(), "envelope_sha256": env1, "agreement": reference(&ab)}
        ]}),
    );
    let r1 = receipt(
        &a,
        &b,
        s1,
        &m1,
        &env1,
        t0 + Duration::seconds(6),
        Outcome::Accepted,
    );
    ledger.push(
        kinds::RECEIPT_STORED,
        &format!("peer:{}", b.node_id()),
        json!({"share_id": s1, "peer": b.node_id().to_string(), "accepted": true, "receipt_sha256": sha256_hex(&r1)}),
    );

    // Share 2: GREEN to Bolt (no answer yet) and Cobalt (refused).
    let (_, m2, dsse2) = manifest(
        &a,
        s2,
        Tlp::Green,
        t0 + Duration::seconds(7),
        vec![recipient(&b, "Bolt", &ab), recipient(&c, "Cobalt", &ac)],
        Vec::new(),
    );
    let (env2b, env2c) = (sha256_hex(b"2 for bolt"), sha256_hex(b"2 for cobalt"));
    ledger.push(
        kinds::SHARE_RELEASED,
        "ana",
        json!({"share_id": s2, "manifest_sha256": sha256_hex(&m2), "recipients": [
            {"node_id": b.node_id().to_string(), "envelope_sha256": env2b, "agreement": reference(&ab)},
            {"node_id": c.node_id().to_string(), "envelope_sha256": env2c, "agreement": reference(&ac)}
        ]}),
    );
    let r2c = receipt(
        &a,
        &c,
        s2,
        &m2,
        &env2c,
        t0 + Duration::seconds(8),
        Outcome::Rejected {
            reason: RejectReason::PolicyDenied,
            detail: "not today".into(),
        },
    );
    ledger.push(
        kinds::RECEIPT_STORED,
        &format!("peer:{}", c.node_id()),
        json!({"share_id": s2, "peer": c.node_id().to_string(), "accepted": false, "receipt_sha256": sha256_hex(&r2c)}),
    );
    ledger.push(kinds::PEER_ADDED, "admin", json!({"name": "dune"}));

    let leaves: Vec<Hash> = ledger
        .entries
        .iter()
        .map(|e| leaf_hash(&e.to_bytes()))
        .collect();
    let origin = origin_for(&a.node_id());
    let checkpoints = [3usize, 6, leaves.len()]
        .iter()
        .map(|&n| {
            let root = merkle::root(&leaves[..n]);
            StoredCheckpoint {
                size: n as u64,
                root,
                note: Checkpoint::new(origin.clone(), n as u64, root).sign(&a),
            }
        })
        .collect();
    let export = Export {
        org: "ACME".into(),
        created: t0 + Duration::hours(1),
        scope: Scope::default(),
        checkpoints,
        leaves,
        entries: ledger
            .entries
            .iter()
            .map(|e| (e.seq, e.to_bytes()))
            .collect(),
        releases: vec![
            ReleaseInput {
                share_id: s1,
                manifest_dsse: dsse1,
                recipients: vec![RecipientInput {
                    node_id: b.node_id(),
                    envelope_sha256: env1,
                    receipt: Some(r1),
                }],
                approvals: vec![approval],
            },
            ReleaseInput {
                share_id: s2,
                manifest_dsse: dsse2,
                recipients: vec![
                    RecipientInput {
                        node_id: b.node_id(),
                        envelope_sha256: env2b,
                        receipt: None,
                    },
                    RecipientInput {
                        node_id: c.node_id(),
                        envelope_sha256: env2c,
                        receipt: Some(r2c),
                    },
                ],
                approvals: Vec::new(),
            },
        ],
        agreements: [&ab, &ac]
            .iter()
            .map(|s| AgreementInput {
                id: s.agreement.id,
                version: s.agreement.version,
                document: s.to_json(),
            })
            .collect(),
        not_covered: 0,
    };
    Fixture {
        a,
        b,
        c,
        export,
        s1,
        s2,
    }
}

fn files_of(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    read_archive(archive).unwrap().into_iter().collect()
}

fn archive_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    write_archive(files, 0).unwrap()
}

/// The files with `replace` (path, new bytes) applied, the index's
/// digests and its signature redone with `keys`: an archive the node
/// itself signed, whose deeper checks must still catch the lie.
fn resigned(
    files: &[(String, Vec<u8>)],
    keys: &NodeKeys,
    replace: Option<(&str, Vec<u8>)>,
) -> Vec<u8> {
    let mut files = files.to_vec();
    if let Some((path, bytes)) = replace {
        files.iter_mut().find(|(p, _)| p == path).unwrap().1 = bytes;
    }
    let mut index = parse_index(file(&files, INDEX)).unwrap();
    index.files = files
        .iter()
        .filter(|(p, _)| p != INDEX && p != INDEX_SIG)
        .map(|(p, b)| FileDigest {
            path: p.clone(),
            sha256: sha256_hex(b),
        })
        .collect();
    let index_bytes = pretty(&index);
    let sig = Envelope::sign(
        EVIDENCE_TYPE,
        &index_bytes,
        keys.signing_key(),
        &keys.node_id().to_string(),
    )
    .to_json();
    for (p, b) in files.iter_mut() {
        if p == INDEX {
            *b = index_bytes.clone();
        } else if p == INDEX_SIG {
            *b = sig.clone();
        }
    }
    archive_of(&files)
}

fn file<'a>(files: &'a [(String, Vec<u8>)], path: &str) -> &'a [u8] {
    &files.iter().find(|(p, _)| p == path).unwrap().1
}

#[test]
fn an_archive_verifies_and_reports_each_release() {
    let f = fixture();
    let archive = build(&f.a, &f.export).unwrap();
    let report = verify(&archive, &f.a.node_id()).unwrap();
    assert_eq!(report.node_id, f.a.node_id());
    assert_eq!(report.org, "ACME");
    assert_eq!(report.checkpoint_size, 10);
    let t = &report.totals;
    assert_eq!(
        (
            t.entries,
            t.checkpoints,
            t.releases,
            t.recipients,
            t.accepted,
            t.rejected,
            t.pending,
            t.approvals,
            t.agreements
        ),
        (10, 3, 2, 3, 1, 1, 1, 1, 2),
        "{t:?}"
    );
    assert_eq!(t.files, 7 + 2 + 2 + 2);

    let r1 = report.releases.iter().find(|r| r.share_id == f.s1).unwrap();
    assert_eq!(r1.tlp, Tlp::Amber);
    assert_eq!(r1.sent_seq, 5);
    assert_eq!(
        r1.sent_at,
        f.export.created - Duration::hours(1) + Duration::seconds(5)
    );
    assert_eq!(r1.approvers.len(), 1);
    assert_eq!(
        (
            r1.approvers[0].name.as_str(),
            r1.approvers[0].comment.as_str()
        ),
        ("alice", "checked")
    );
    let to_b = &r1.recipients[0];
    assert_eq!((to_b.node_id, to_b.org.as_str()), (f.b.node_id(), "Bolt"));
    let agreement = to_b.agreement.as_ref().unwrap();
    assert_eq!(
        (agreement.id, agreement.version, agreement.title.as_str()),
        (Uuid::from_u128(1), 1, "ACME and Bolt")
    );
    let receipt = to_b.receipt.as_ref().unwrap();
    assert!(receipt.outcome.is_accepted());

    let r2 = report.releases.iter().find(|r| r.share_id == f.s2).unwrap();
    assert!(r2.approvers.is_empty());
    let by_node = |n: NodeId| r2.recipients.iter().find(|r| r.node_id == n).unwrap();
    assert!(
        by_node(f.b.node_id()).receipt.is_none(),
        "Bolt had not answered"
    );
    let refused = by_node(f.c.node_id()).receipt.as_ref().unwrap();
    assert!(matches!(
        refused.outcome,
        Outcome::Rejected {
            reason: RejectReason::PolicyDenied,
            ..
        }
    ));
    assert_eq!(
        by_node(f.c.node_id()).agreement.as_ref().unwrap().id,
        Uuid::from_u128(2)
    );

    // The index reads without verification too; the archive is deterministic.
    assert_eq!(read_index(&archive).unwrap().node_id, f.a.node_id());
    assert_eq!(build(&f.a, &f.export).unwrap(), archive);
}

#[test]
fn every_changed_byte_is_caught_and_named() {
    let f = fixture();
    let archive = build(&f.a, &f.export).unwrap();
    let files = files_of(&archive);
    assert!(files.len() >= 13, "{}", files.len());
    for (path, bytes) in &files {
        assert!(!bytes.is_empty(), "{path} is empty");
        let len = bytes.len();
        for at in [0, len / 3, len / 2, len - 1] {
            for flip in [0x01u8, 0x20, 0x80] {
                let mut changed = files.clone();
                let target = changed.iter_mut().find(|(p, _)| p == path).unwrap();
                target.1[at] ^= flip;
                let err = verify(&archive_of(&changed), &f.a.node_id())
                    .expect_err(&format!("{path} byte {at} ^ {flip:#x} went unnoticed"));
                assert_eq!(err.file, *path, "{path} byte {at} ^ {flip:#x}: {err}");
            }
        }
    }
}

#[test]
fn a_missing_or_unlisted_file_is_named() {
    let f = fixture();
    let archive = build(&f.a, &f.export).unwrap();
    let files = files_of(&archive);
    for (path, _) in &files {
        let fewer: Vec<_> = files.iter().filter(|(p, _)| p != path).cloned().collect();
        let err = verify(&archive_of(&fewer), &f.a.node_id()).unwrap_err();
        assert_eq!(err.file, *path, "{err}");
        assert!(err.problem.contains("missing"), "{err}");
    }
    for extra in [
        "notes.txt",
        "releases/extra.json",
        "receipts/x/y.json",
        "ledger/entries.jsonl.bak",
    ] {
        let mut more = files.clone();
        more.push((extra.to_string(), b"hello".to_vec()));
        let err = verify(&archive_of(&more), &f.a.node_id()).unwrap_err();
        assert_eq!(err.file, extra, "{err}");
        assert!(err.problem.contains("not listed"), "{err}");
    }
    // The same file twice.
    let mut twice = files.clone();
    twice.push(files[3].clone());
    let err = verify(&archive_of(&twice), &f.a.node_id()).unwrap_err();
    assert_eq!(err.file, files[3].0, "{err}");
}

#[test]
fn a_signature_by_another_key_is_refused() {
    let f = fixture();
    let archive = build(&f.a, &f.export).unwrap();
    let files = files_of(&archive);
    let index = file(&files, INDEX).to_vec();
    let other = NodeKeys::generate().unwrap();
    // Signed by another key, tagged as that key, or posing as the node.
    for keyid in [other.node_id().to_string(), f.a.node_id().to_string()] {
        let forged = Envelope::sign(EVIDENCE_TYPE, &index, other.signing_key(), &keyid).to_json();
        let mut changed = files.clone();
        changed.iter_mut().find(|(p, _)| p == INDEX_SIG).unwrap().1 = forged;
        let err = verify(&archive_of(&changed), &f.a.node_id()).unwrap_err();
        assert_eq!(err.file, INDEX_SIG, "{err}");
    }
    // The whole archive under another node's id.
    let err = verify(&archive, &f.b.node_id()).unwrap_err();
    assert_eq!(err.file, INDEX_SIG, "{err}");
    // Another node cannot pass its own archive off as this one's, even
    // re-signing every part it can.
    let theirs = build(&other, &f.export).unwrap();
    assert!(verify(&theirs, &f.a.node_id()).is_err());
    let err = verify(&theirs, &other.node_id()).unwrap_err();
    assert_eq!(err.file, CHECKPOINTS, "the checkpoints are A's: {err}");
    // Not a tar at all.
    assert!(verify(b"not an archive", &f.a.node_id()).is_err());
    assert_eq!(verify(b"", &f.a.node_id()).unwrap_err().file, INDEX);
}

#[test]
fn lies_the_node_signs_are_still_caught() {
    let f = fixture();
    let archive = build(&f.a, &f.export).unwrap();
    let files = files_of(&archive);
    let node = f.a.node_id();
    let r1 = release_path(f.s1);

    // A receipt the recipient never signed.
    let rpath = receipt_path(f.s1, &f.b.node_id());
    let fake = receipt(&f.a, &f.a, f.s1, b"", "x", Utc::now(), Outcome::Accepted);
    let err = verify(&resigned(&files, &f.a, Some((&rpath, fake))), &node).unwrap_err();
    assert_eq!(err.file, rpath, "{err}");
    // A genuine receipt for share 2 put in share 1's place.
    let other = file(&files, &receipt_path(f.s2, &f.c.node_id())).to_vec();
    let err = verify(&resigned(&files, &f.a, Some((&rpath, other))), &node).unwrap_err();
    assert_eq!(err.file, rpath, "{err}");
    // Hiding a ledgered receipt.
    let mut release: serde_json::Value = serde_json::from_slice(file(&files, &r1)).unwrap();
    release["recipients"][0]["receipt"] = serde_json::Value::Null;
    let no_receipt = serde_json::to_vec(&release).unwrap();
    let mut without: Vec<_> = files.iter().filter(|(p, _)| *p != rpath).cloned().collect();
    without.iter_mut().find(|(p, _)| *p == r1).unwrap().1 = no_receipt;
    let err = verify(&resigned(&without, &f.a, None), &node).unwrap_err();
    assert_eq!(err.file, r1, "{err}");
    assert!(err.problem.contains("omits the receipt"), "{err}");

    // Approvals that are not the ones signed in the manifest.
    let mut release: serde_json::Value = serde_json::from_slice(file(&files, &r1)).unwrap();
    release["approvals"] = json!([]);
    let err = verify(
        &resigned(
            &files,
            &f.a,
            Some((&r1, serde_json::to_vec(&release).unwrap())),
        ),
        &node,
    )
    .unwrap_err();
    assert_eq!(err.file, r1, "{err}");
    let mut release: serde_json::Value = serde_json::from_slice(file(&files, &r1)).unwrap();
    release["approvals"][0]["ledger_seq"] = json!(3);
    let err = verify(
        &resigned(
            &files,
            &f.a,
            Some((&r1, serde_json::to_vec(&release).unwrap())),
        ),
        &node,
    )
    .unwrap_err();
    assert_eq!(err.file, r1, "{err}");

    // An entry dropped from the ledger (with its proof): the release
    // that needs it names what is missing.
    let drop_line = |path: &str, n: usize| -> Vec<u8> {
        let text = String::from_utf8(file(&files, path).to_vec()).unwrap();
        text.lines()
            .enumerate()
            .filter(|(i, _)| *i != n)
            .map(|(_, l)| format!("{l}\n"))
            .collect::<String>()
            .into_bytes()
    };
    let mut fewer = files.clone();
    fewer.iter_mut().find(|(p, _)| p == ENTRIES).unwrap().1 = drop_line(ENTRIES, 5);
    fewer.iter_mut().find(|(p, _)| p == PROOFS).unwrap().1 = drop_line(PROOFS, 5);
    let err = verify(&resigned(&fewer, &f.a, None), &node).unwrap_err();
    assert_eq!(err.file, r1, "{err}");
    // …and one dropped without its proof.
    let mut fewer = files.clone();
    fewer.iter_mut().find(|(p, _)| p == ENTRIES).unwrap().1 = drop_line(ENTRIES, 2);
    let err = verify(&resigned(&fewer, &f.a, None), &node).unwrap_err();
    assert_eq!(err.file, PROOFS, "{err}");

    // A rewritten entry with a matching leaf hash: its proof fails.
    let mut lines: Vec<EntryLine> = jsonl(ENTRIES, file(&files, ENTRIES)).unwrap();
    let mut e = Entry::from_bytes(&STANDARD.decode(&lines[9].entry).unwrap()).unwrap();
    e.body = json!({"name": "someone else"});
    lines[9].entry = STANDARD.encode(e.to_bytes());
    lines[9].leaf_hash = hex(&leaf_hash(&e.to_bytes()));
    let mut out = Vec::new();
    lines.iter().for_each(|l| json_line(&mut out, l));
    let err = verify(&resigned(&files, &f.a, Some((ENTRIES, out))), &node).unwrap_err();
    assert_eq!(err.file, PROOFS, "{err}");

    // A checkpoint that does not extend the previous one.
    let mut cps: Vec<CheckpointLine> = jsonl(CHECKPOINTS, file(&files, CHECKPOINTS)).unwrap();
    let root = [7u8; 32];
    cps[0].root = hex(&root);
    cps[0].note = Checkpoint::new(origin_for(&node), cps[0].size, root).sign(&f.a);
    let mut out = Vec::new();
    cps.iter().for_each(|l| json_line(&mut out, l));
    let err = verify(&resigned(&files, &f.a, Some((CHECKPOINTS, out))), &node).unwrap_err();
    assert_eq!(err.file, CONSISTENCY, "{err}");

    // An agreement only the node signed.
    let apath = agreement_path(Uuid::from_u128(1), 1);
    let mut env = Envelope::from_json(file(&files, &apath)).unwrap();
    env.signatures.truncate(1);
    let err = verify(
        &resigned(&files, &f.a, Some((&apath, env.to_json()))),
        &node,
    )
    .unwrap_err();
    assert_eq!(err.file, apath, "{err}");
    // An agreement no release names.
    let mut extra = files.clone();
    let doc = agreement(&f.a, &f.b, "Bolt", AGREEMENT_AB, 9).to_json();
    extra.push((agreement_path(Uuid::from_u128(9), 1), doc.clone()));
    let err = verify(&resigned(&extra, &f.a, None), &node).unwrap_err();
    assert_eq!(err.file, agreement_path(Uuid::from_u128(9), 1), "{err}");
}

#[test]
fn build_needs_a_checkpoint_covering_the_entries() {
    let f = fixture();
    let mut none = f.export.clone();
    none.checkpoints.clear();
    assert_eq!(build(&f.a, &none).unwrap_err().file, CHECKPOINT);
    let mut short = f.export.clone();
    short.checkpoints.truncate(1);
    assert_eq!(build(&f.a, &short).unwrap_err().file, ENTRIES);
}

#[test]
fn a_share_scope_allows_only_that_release() {
    let f = fixture();
    let mut one = f.export.clone();
    one.scope.share = Some(f.s1);
    one.releases.retain(|r| r.share_id == f.s1);
    one.agreements.truncate(1);
    let report = verify(&build(&f.a, &one).unwrap(), &f.a.node_id()).unwrap();
    assert_eq!(report.releases.len(), 1);
    assert_eq!(report.scope.share, Some(f.s1));
    let mut both = f.export.clone();
    both.scope.share = Some(f.s1);
    let err = verify(&build(&f.a, &both).unwrap(), &f.a.node_id()).unwrap_err();
    assert_eq!(err.file, release_path(f.s2), "{err}");
}

#[test]
fn tree_proofs_are_the_rfc_9162_proofs() {
    for n in 1..=40usize {
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let tree = Tree::new(&leaves);
        assert_eq!(tree.root(0, n), merkle::root(&leaves), "root of {n}");
        for i in 0..n {
            assert_eq!(
                tree.inclusion(i, n),
                merkle::inclusion_proof(&leaves, i as u64).unwrap(),
                "inclusion {i} of {n}"
            );
        }
        for old in 0..=n {
            assert_eq!(
                tree.consistency(old, n),
                merkle::consistency_proof(&leaves, old as u64).unwrap(),
                "consistency {old} → {n}"
            );
        }
        // Proofs against an older, smaller tree over a prefix.
        for size in 1..=n {
            for i in 0..size {
                assert_eq!(
                    tree.inclusion(i, size),
                    merkle::inclusion_proof(&leaves[..size], i as u64).unwrap()
                );
            }
        }
    }
}
