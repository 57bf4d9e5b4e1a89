//! The ledger at scale, on the node's real store (SQLite file, WAL,
//! `synchronous=FULL`):
//!
//! - durable appends per second: one `Store::append` (one transaction, one
//!   fsync'd commit) per entry, as the node writes them;
//! - `ledger verify` over 1 000 000 entries: every leaf recomputed from its
//!   bytes, every column checked, the tree and every checkpoint signature;
//! - inclusion and consistency proofs at that size: generation (reading the
//!   leaf hashes from the store) and verification, and their size.
//!
//! The million entries are written in large transactions straight into the
//! table (the same bytes `Store::append` writes), so filling takes seconds,
//! not the minutes durable single appends would.
//!
//! `cargo bench -p liaison --bench ledger` (`LIAISON_BENCH_QUICK=1` or
//! `-- --quick`: 20 000 entries).

use std::time::{Duration, Instant};

use chrono::Utc;
use liaison_api::ledger::verify_store;
use liaison_core::checkpoint::{origin_for, Checkpoint};
use liaison_core::identity::NodeKeys;
use liaison_core::ledger::{leaf_hash, Entry};
use liaison_core::merkle::{self, Frontier};
use liaison_store::{CheckpointRecord, Event, SqliteStore, Store};
use serde_json::json;

fn main() {
    let quick = std::env::var_os("LIAISON_BENCH_QUICK").is_some()
        || std::env::args().any(|a| a == "--quick");
    let n: u64 = if quick { 20_000 } else { 1_000_000 };
    let appends: u64 = if quick { 300 } else { 2_000 };
    let every: u64 = 1000;

    let dir = tempfile::Builder::new()
        .prefix("liaison-ledger-bench-")
        .tempdir()
        .expect("a temporary directory");
    let path = dir.path().join("liaison.db");
    let store = SqliteStore::open(&path).expect("open the store");
    let keys = NodeKeys::generate().expect("node keys");
    println!(
        "ledger bench: {n} entries, checkpoint every {every}, {} cores",
        cores()
    );

    // Durable appends, one transaction each.
    let event = Event {
        kind: "share.released",
        actor: "bench".into(),
        body: json!({"share_id": "5d0092c5-5f74-4287-9642-33f4c354e56d", "tlp": "TLP:AMBER"}),
    };
    let t = Instant::now();
    for _ in 0..appends {
        store.append(&event).expect("append");
    }
    let per_s = appends as f64 / t.elapsed().as_secs_f64();
    println!(
        "  durable appends (1 entry per fsync'd transaction): {per_s:.0}/s ({appends} appends)"
    );
    drop(store);

    // Fill to n in big transactions, with a checkpoint every `every`.
    let t = Instant::now();
    fill(&path, &keys, appends, n, every);
    println!(
        "  filled to {n} entries in {:.1} s (bulk transactions)",
        t.elapsed().as_secs_f64()
    );

    let store = SqliteStore::open(&path).expect("reopen the store");
    let t = Instant::now();
    let report = verify_store(&store, &keys.node_id()).expect("verify");
    let verify = t.elapsed();
    assert!(report.ok, "{:?}", report.fault);
    println!(
        "  ledger verify: {} entries, {} checkpoints in {:.2} s ({:.0} entries/s)",
        report.entries,
        report.checkpoints,
        verify.as_secs_f64(),
        report.entries as f64 / verify.as_secs_f64()
    );

    // Proofs at full size, as the API makes them.
    let t = Instant::now();
    let leaves = all_leaves(&store, n);
    let read = t.elapsed();
    let root = merkle::root(&leaves);
    let index = n / 3;
    let (gen, proof) = timed(|| merkle::inclusion_proof(&leaves, index).expect("proof"));
    let (check, ()) = timed(|| {
        for _ in 0..1000 {
            merkle::verify_inclusion(&leaves[index as usize], index, n, &proof, &root)
                .expect("verifies");
        }
    });
    println!(
        "  inclusion proof at {n}: {} hashes ({} bytes); read leaves {:.0} ms, generate {:.1} ms, verify {:.1} µs",
        proof.len(),
        proof.len() * 32,
        read.as_secs_f64() * 1e3,
        gen.as_secs_f64() * 1e3,
        check.as_secs_f64() * 1e6 / 1000.0
    );
    let old = n / 2 + 7;
    let old_root = merkle::root(&leaves[..old as usize]);
    let (gen, proof) = timed(|| merkle::consistency_proof(&leaves, old).expect("proof"));
    let (check, ()) = timed(|| {
        for _ in 0..1000 {
            merkle::verify_consistency(old, n, &old_root, &root, &proof).expect("verifies");
        }
    });
    println!(
        "  consistency proof {old} -> {n}: {} hashes ({} bytes); generate {:.1} ms, verify {:.1} µs",
        proof.len(),
        proof.len() * 32,
        gen.as_secs_f64() * 1e3,
        check.as_secs_f64() * 1e6 / 1000.0
    );
}

fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let t = Instant::now();
    let out = f();
    (t.elapsed(), out)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn all_leaves(store: &SqliteStore, n: u64) -> Vec<[u8; 32]> {
    let mut out = Vec::with_capacity(n as usize);
    while (out.len() as u64) < n {
        let got = store.leaf_hashes(out.len() as u64, 50_000).expect("leaves");
        if got.is_empty() {
            break;
        }
        out.extend(got);
    }
    out
}

/// Append entries `from..to` in large transactions, exactly as
/// `Store::append` encodes them, and sign a checkpoint every `every`.
fn fill(path: &std::path::Path, keys: &NodeKeys, from: u64, to: u64, every: u64) {
    let store = SqliteStore::open(path).expect("open");
    let mut frontier: Frontier = all_leaves(&store, from).into_iter().collect();
    drop(store);
    let mut db = rusqlite::Connection::open(path).expect("open the database");
    db.pragma_update(None, "synchronous", "OFF")
        .expect("pragma");
    let mut checkpoints = Vec::new();
    let mut seq = from;
    while seq < to {
        let tx = db.transaction().expect("begin");
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO ledger (seq, time, kind, actor, body, entry, leaf_hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .expect("prepare");
            for _ in 0..50_000 {
                if seq >= to {
                    break;
                }
                let body = json!({"share_id": format!("share-{seq}"), "peer": "bolt", "n": seq});
                let e = Entry::new(seq, Utc::now(), "receipt.stored", "node", body);
                let bytes = e.to_bytes();
                let leaf = leaf_hash(&bytes);
                insert
                    .execute(rusqlite::params![
                        seq as i64,
                        e.time,
                        e.kind,
                        e.actor,
                        e.body.to_string(),
                        bytes,
                        leaf
                    ])
                    .expect("insert");
                frontier.push(leaf);
                seq += 1;
                if seq % every == 0 || seq == to {
                    let c = Checkpoint {
                        origin: origin_for(&keys.node_id()),
                        size: seq,
                        root: frontier.root(),
                        extensions: Vec::new(),
                    };
                    checkpoints.push(CheckpointRecord {
                        size: seq,
                        root_hash: c.root,
                        note: c.sign(keys),
                        created_at: Utc::now(),
                    });
                }
            }
        }
        tx.commit().expect("commit");
    }
    drop(db);
    let store = SqliteStore::open(path).expect("open");
    for c in &checkpoints {
        store.add_checkpoint(c).expect("checkpoint");
    }
}
