//! Seal and open cost for 1 KiB and 1 MiB payloads, to 1 and 10 recipients.
//!
//! `cargo bench -p liaison-core --bench envelope`

use std::hint::black_box;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use liaison_core::envelope::{self, Draft, OpenLimits};
use liaison_core::identity::{NodeKeys, PinSet};
use liaison_core::{Kind, Tlp};

fn bench(c: &mut Criterion) {
    let sender = NodeKeys::generate().expect("keys");
    let now = Utc::now();
    let sender_card = sender.issue_card("A", vec![], now).card;
    let pins: PinSet = [sender_card].into_iter().collect();

    for &size in &[1024usize, 1024 * 1024] {
        // Notes are validated as UTF-8 only, so validation cost stays small
        // and the figures show the envelope itself.
        let payload = "x".repeat(size);
        for &n in &[1usize, 10] {
            let keys: Vec<NodeKeys> = (0..n)
                .map(|_| NodeKeys::generate().expect("keys"))
                .collect();
            let cards = keys
                .iter()
                .map(|k| k.issue_card("R", vec![], now).card)
                .collect();
            let draft = Draft::new(Kind::Note, Tlp::Amber, cards);
            let label = format!("{}B_to_{n}", size);

            let mut group = c.benchmark_group("seal");
            group.throughput(Throughput::Bytes(size as u64));
            group.sample_size(if size > 4096 { 20 } else { 100 });
            group.bench_function(BenchmarkId::from_parameter(&label), |b| {
                b.iter(|| {
                    envelope::seal(&sender, "A", &draft, black_box(payload.as_bytes()), now)
                        .expect("seal")
                })
            });
            group.finish();

            let sealed =
                envelope::seal(&sender, "A", &draft, payload.as_bytes(), now).expect("seal");
            let mut group = c.benchmark_group("open");
            group.throughput(Throughput::Bytes(size as u64));
            group.sample_size(if size > 4096 { 20 } else { 100 });
            group.bench_function(BenchmarkId::from_parameter(&label), |b| {
                b.iter(|| {
                    envelope::open(
                        &keys[n - 1],
                        &pins,
                        black_box(&sealed.ciphertext),
                        &OpenLimits::default(),
                    )
                    .expect("open")
                })
            });
            group.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
