use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::identity::NodeKeys;
use crate::ledger::Entry;

/// A well-formed stored ledger of `n` entries, as owned rows.
struct Row {
    seq: u64,
    time: String,
    kind: String,
    actor: String,
    body: serde_json::Value,
    entry: Vec<u8>,
    leaf: Hash,
}

fn ledger(n: u64) -> Vec<Row> {
    (0..n)
        .map(|seq| {
            let t = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap()
                + chrono::Duration::seconds(seq as i64);
            let e = Entry::new(seq, t, "share.released", "user-1", json!({"n": seq}));
            let entry = e.to_bytes();
            Row {
                seq,
                time: e.time.clone(),
                kind: e.kind.clone(),
                actor: e.actor.clone(),
                body: e.body.clone(),
                leaf: leaf_hash(&entry),
                entry,
            }
        })
        .collect()
}

fn checkpoint_at(keys: &NodeKeys, rows: &[Row], size: u64) -> StoredCheckpoint {
    let leaves: Vec<Hash> = rows[..size as usize].iter().map(|r| r.leaf).collect();
    let root = crate::merkle::root(&leaves);
    let c = Checkpoint {
        origin: crate::checkpoint::origin_for(&keys.node_id()),
        size,
        root,
        extensions: Vec::new(),
    };
    StoredCheckpoint {
        size,
        root,
        note: c.sign(keys),
    }
}

fn verify(
    keys: &NodeKeys,
    rows: &[Row],
    cps: Vec<StoredCheckpoint>,
) -> Result<Report, LedgerFault> {
    let mut v = LedgerVerifier::new(keys.node_id(), cps);
    for r in rows {
        v.push(&StoredRow {
            seq: r.seq,
            time: &r.time,
            kind: &r.kind,
            actor: &r.actor,
            body: &r.body,
            entry: &r.entry,
            leaf_hash: &r.leaf,
        })?;
    }
    v.finish()
}

#[test]
fn an_untouched_ledger_verifies() {
    let keys = NodeKeys::generate().unwrap();
    let rows = ledger(50);
    let cps = vec![
        checkpoint_at(&keys, &rows, 10),
        checkpoint_at(&keys, &rows, 40),
    ];
    let report = verify(&keys, &rows, cps).unwrap();
    assert_eq!(report.entries, 50);
    assert_eq!(report.checkpoints, 2);
    assert_eq!(report.unsigned_tail, 10);
    let leaves: Vec<Hash> = rows.iter().map(|r| r.leaf).collect();
    assert_eq!(report.root, crate::merkle::root(&leaves));
    // The empty ledger, with and without a size-0 checkpoint.
    assert_eq!(verify(&keys, &[], vec![]).unwrap().entries, 0);
    assert_eq!(
        verify(&keys, &rows, vec![checkpoint_at(&keys, &rows, 0)])
            .unwrap()
            .checkpoints,
        1
    );
}

#[test]
fn every_kind_of_tampering_is_found_and_named() {
    let keys = NodeKeys::generate().unwrap();
    let cps = || {
        let rows = ledger(30);
        vec![
            checkpoint_at(&keys, &rows, 20),
            checkpoint_at(&keys, &rows, 30),
        ]
    };
    // One byte of the entry bytes.
    let mut rows = ledger(30);
    rows[7].entry[12] ^= 1;
    assert_eq!(
        verify(&keys, &rows, cps()),
        Err(LedgerFault::LeafHash { seq: 7 })
    );
    // One byte of the leaf hash.
    let mut rows = ledger(30);
    rows[8].leaf[0] ^= 1;
    assert_eq!(
        verify(&keys, &rows, cps()),
        Err(LedgerFault::LeafHash { seq: 8 })
    );
    // A column that is not the signed bytes.
    for (column, f) in [
        ("kind", (|r: &mut Row| r.kind.push('x')) as fn(&mut Row)),
        ("actor", |r: &mut Row| r.actor = "someone-else".into()),
        ("time", |r: &mut Row| {
            r.time = "2020-01-01T00:00:00.000000Z".into()
        }),
        ("body", |r: &mut Row| r.body = json!({"n": 999})),
    ] {
        let mut rows = ledger(30);
        f(&mut rows[9]);
        assert_eq!(
            verify(&keys, &rows, cps()),
            Err(LedgerFault::Column { seq: 9, column }),
            "{column}"
        );
    }
    // A deleted row.
    let mut rows = ledger(30);
    rows.remove(11);
    let fault = verify(&keys, &rows, cps()).unwrap_err();
    assert_eq!(
        fault,
        LedgerFault::Sequence {
            expected: 11,
            found: 12
        }
    );
    assert!(
        fault.to_string().starts_with("entry 11: missing"),
        "{fault}"
    );
    // Two rows swapped.
    let mut rows = ledger(30);
    rows.swap(4, 5);
    assert_eq!(
        verify(&keys, &rows, cps()),
        Err(LedgerFault::Sequence {
            expected: 4,
            found: 5
        })
    );
    // Swapped contents under the original sequence numbers.
    let mut rows = ledger(30);
    let (e4, l4) = (rows[4].entry.clone(), rows[4].leaf);
    rows[4].entry = rows[5].entry.clone();
    rows[4].leaf = rows[5].leaf;
    rows[5].entry = e4;
    rows[5].leaf = l4;
    assert_eq!(
        verify(&keys, &rows, cps()),
        Err(LedgerFault::Column {
            seq: 4,
            column: "seq"
        })
    );
    // The last rows deleted: the checkpoint commits to more.
    let mut rows = ledger(30);
    rows.truncate(25);
    assert_eq!(
        verify(&keys, &rows, cps()),
        Err(LedgerFault::Truncated { size: 30, len: 25 })
    );
    // A consistent rewrite (bytes, leaf and columns together) of entry 3:
    // only the checkpoint root can tell, and names the range.
    let mut rows = ledger(30);
    let e = Entry::new(3, Utc::now(), "share.released", "user-1", json!({"n": 3}));
    rows[3].time = e.time.clone();
    rows[3].entry = e.to_bytes();
    rows[3].leaf = leaf_hash(&rows[3].entry);
    let fault = verify(&keys, &rows, cps()).unwrap_err();
    assert_eq!(fault, LedgerFault::Root { size: 20, from: 0 });
    assert_eq!(fault.entry(), Some(0));
    // A rewrite after the first checkpoint is pinned between the two.
    let mut rows = ledger(30);
    let e = Entry::new(25, Utc::now(), "share.released", "user-1", json!({"n": 25}));
    rows[25].time = e.time.clone();
    rows[25].entry = e.to_bytes();
    rows[25].leaf = leaf_hash(&rows[25].entry);
    assert_eq!(
        verify(&keys, &rows, cps()),
        Err(LedgerFault::Root { size: 30, from: 20 })
    );
}

#[test]
fn replaced_or_forged_checkpoints_are_found() {
    let keys = NodeKeys::generate().unwrap();
    let rows = ledger(30);
    // Signed by another key.
    let other = NodeKeys::generate().unwrap();
    let mut forged = checkpoint_at(&other, &rows, 20);
    forged.note = forged.note.replace(
        &crate::checkpoint::origin_for(&other.node_id()),
        &crate::checkpoint::origin_for(&keys.node_id()),
    );
    assert!(matches!(
        verify(&keys, &rows, vec![forged]),
        Err(LedgerFault::Checkpoint { size: 20, .. })
    ));
    // A genuine checkpoint moved to another size.
    let mut moved = checkpoint_at(&keys, &rows, 10);
    moved.size = 20;
    assert!(matches!(
        verify(&keys, &rows, vec![moved]),
        Err(LedgerFault::Checkpoint { size: 20, .. })
    ));
    // A genuine checkpoint over other entries.
    let other_rows: Vec<Row> = ledger(30)
        .into_iter()
        .map(|mut r| {
            r.body = json!({"other": r.seq});
            r
        })
        .collect();
    let foreign = {
        let leaves: Vec<Hash> = other_rows[..20]
            .iter()
            .map(|r| {
                let e = Entry::new(r.seq, Utc::now(), "x", "y", r.body.clone());
                leaf_hash(&e.to_bytes())
            })
            .collect();
        let root = crate::merkle::root(&leaves);
        let c = Checkpoint {
            origin: crate::checkpoint::origin_for(&keys.node_id()),
            size: 20,
            root,
            extensions: Vec::new(),
        };
        StoredCheckpoint {
            size: 20,
            root,
            note: c.sign(&keys),
        }
    };
    assert_eq!(
        verify(&keys, &rows, vec![foreign]),
        Err(LedgerFault::Root { size: 20, from: 0 })
    );
}
