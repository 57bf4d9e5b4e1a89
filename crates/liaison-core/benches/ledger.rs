//! Ledger math at scale: leaf hashing, streaming a 1,000,000-entry ledger
//! through a Merkle `Frontier` (the core of `ledger verify`), inclusion and
//! consistency proofs at 1,000,000 leaves, and checkpoint sign/verify.
//!
//! `cargo bench -p liaison-core --bench ledger -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use liaison_core::checkpoint::{origin_for, Checkpoint};
use liaison_core::identity::NodeKeys;
use liaison_core::ledger::{kinds, leaf_hash, Entry};
use liaison_core::merkle::{self, Frontier, Hash};

const N: u64 = 1_000_000;

/// A typical entry's canonical bytes (about 200 bytes).
fn entry_bytes(seq: u64) -> Vec<u8> {
    let time = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
    Entry::new(
        seq,
        time,
        kinds::SHARE_RELEASED,
        "admin",
        serde_json::json!({
            "share": "0195f3c4-7b1e-7c3a-9d2f-1a2b3c4d5e6f",
            "tlp": "amber",
            "to": ["bolt", "cobalt"],
        }),
    )
    .to_bytes()
}

fn bench(c: &mut Criterion) {
    let sample = entry_bytes(123_456);
    let mut group = c.benchmark_group("leaf_hash");
    group.throughput(Throughput::Bytes(sample.len() as u64));
    group.bench_function(
        BenchmarkId::from_parameter(format!("{}B", sample.len())),
        |b| b.iter(|| leaf_hash(black_box(&sample))),
    );
    group.finish();

    // 1,000,000 distinct leaves, as the store would hand them over.
    let leaves: Vec<Hash> = (0..N).map(|i| leaf_hash(&i.to_le_bytes())).collect();
    let root = merkle::root(&leaves);

    let mut group = c.benchmark_group("tree_1M");
    group.sample_size(10);
    group.throughput(Throughput::Elements(N));
    group.bench_function("frontier_push_to_root", |b| {
        b.iter(|| {
            let mut f = Frontier::new();
            for leaf in black_box(&leaves) {
                f.push(*leaf);
            }
            f.root()
        })
    });
    group.bench_function("root_of_slice", |b| {
        b.iter(|| merkle::root(black_box(&leaves)))
    });

    let index = 765_432;
    let path = merkle::inclusion_proof(&leaves, index).unwrap();
    println!(
        "inclusion proof at {N} leaves: {} hashes, {} bytes",
        path.len(),
        path.len() * 32
    );
    group.bench_function("inclusion_proof", |b| {
        b.iter(|| merkle::inclusion_proof(black_box(&leaves), index).unwrap())
    });

    let old = 600_001;
    let proof = merkle::consistency_proof(&leaves, old).unwrap();
    let old_root = merkle::root(&leaves[..old as usize]);
    println!(
        "consistency proof {old} -> {N}: {} hashes, {} bytes",
        proof.len(),
        proof.len() * 32
    );
    group.bench_function("consistency_proof", |b| {
        b.iter(|| merkle::consistency_proof(black_box(&leaves), old).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group("verify_1M");
    group.bench_function("inclusion", |b| {
        b.iter(|| {
            merkle::verify_inclusion(
                black_box(&leaves[index as usize]),
                index,
                N,
                black_box(&path),
                &root,
            )
            .unwrap()
        })
    });
    group.bench_function("consistency", |b| {
        b.iter(|| merkle::verify_consistency(old, N, &old_root, &root, black_box(&proof)).unwrap())
    });
    group.finish();

    let keys = NodeKeys::generate().unwrap();
    let cp = Checkpoint::new(origin_for(&keys.node_id()), N, root);
    let note = cp.sign(&keys);
    let mut group = c.benchmark_group("checkpoint");
    group.bench_function("sign", |b| b.iter(|| black_box(&cp).sign(&keys)));
    group.bench_function("verify", |b| {
        b.iter(|| Checkpoint::verify(black_box(&note), &keys.node_id()).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
