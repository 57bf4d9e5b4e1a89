//! `liaison bench --smoke` runs every scenario briefly and prints its
//! table. No timing is asserted: only that the rows are there.

use std::process::Command;

#[test]
fn bench_suite_runs_smoke() {
    let out = Command::new(env!("CARGO_BIN_EXE_liaison"))
        .args(["bench", "--smoke"])
        .env(
            "LIAISON_HOME",
            std::env::temp_dir().join("liaison-bench-smoke-unused"),
        )
        .output()
        .expect("run liaison bench --smoke");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed\n{stdout}\n{stderr}");
    for row in [
        "Ed25519 sign",
        "Ed25519 verify_strict",
        "age encrypt 1 KiB to 1 recipient(s)",
        "age encrypt 1 KiB to 100 recipient(s)",
        "age decrypt 1 MiB",
        "SHA-256 bulk",
        "QUIC loopback bulk",
        "QUIC 1 KiB request/answer",
        "SQLite durable commit",
        "1 KiB 1→1 unloaded",
        "1 KiB 1→1 p50 share→receipt",
        "1 KiB 1→10 loaded",
        "64 KiB 1→10 p99 share→receipt",
        "large STIX bundle",
        "ledger verify",
        "durable appends at",
        "start-up: spawn to ` serving: `",
        "idle RSS",
        "gpg sign+encrypt",
        "medallion TAXII 2.1",
    ] {
        assert!(
            stdout.contains(row),
            "no row `{row}` in\n{stdout}\n{stderr}"
        );
    }
    // Liaison's own scenarios must have run, not been skipped (the
    // baselines may be skipped where gpg or medallion is not installed).
    for line in stdout.lines() {
        let liaison_row = ["primitive", "end-to-end", "ledger", "node"]
            .iter()
            .any(|g| line.starts_with(g));
        assert!(
            !(liaison_row && line.contains("skipped:") && !line.contains("not in --smoke")),
            "a Liaison scenario was skipped: {line}\n{stderr}"
        );
    }

    let out = Command::new(env!("CARGO_BIN_EXE_liaison"))
        .args(["bench", "--help"])
        .output()
        .expect("run liaison bench --help");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--quick"));
}
