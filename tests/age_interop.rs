//! The outer layer of an envelope is standard age: the `age` command-line
//! tool (Debian package `age`) decrypts it with the recipient node's
//! identity file, and the plaintext is the container of DESIGN §4.

use std::path::Path;
use std::process::Command;

fn liaison(home: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_liaison"))
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .expect("run liaison");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn age_cli_decrypts_an_envelope_to_the_container() {
    let age_ok = Command::new("age")
        .arg("--version")
        .output()
        .map(|o| o.status.success());
    assert!(
        matches!(age_ok, Ok(true)),
        "the `age` tool is required for this test: apt-get install age"
    );
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    liaison(&a, &["init", "--org", "Org A"]);
    liaison(&b, &["init", "--org", "Org B"]);
    let note = tmp.path().join("note.txt");
    std::fs::write(
        &note,
        "TLP:AMBER advisory: rotate build-agent credentials.\n",
    )
    .unwrap();
    let env = tmp.path().join("note.age");
    let card = b.join("card.json");
    liaison(
        &a,
        &[
            "seal",
            "--tlp",
            "amber",
            "--to",
            card.to_str().unwrap(),
            note.to_str().unwrap(),
            "-o",
            env.to_str().unwrap(),
        ],
    );

    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(b.join("age.key"))
        .arg(&env)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "age -d failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain = out.stdout;

    // container = "liaison1" u32be(len) dsse u64be(len) content
    assert_eq!(&plain[..8], b"liaison1");
    let dsse_len = u32::from_be_bytes(plain[8..12].try_into().unwrap()) as usize;
    let dsse: serde_json::Value = serde_json::from_slice(&plain[12..12 + dsse_len]).unwrap();
    assert_eq!(
        dsse["payloadType"],
        "application/vnd.liaison.manifest+json;v=1"
    );
    assert!(dsse["signatures"][0]["sig"].is_string());
    let rest = &plain[12 + dsse_len..];
    let content_len = u64::from_be_bytes(rest[..8].try_into().unwrap()) as usize;
    assert_eq!(&rest[8..], std::fs::read(&note).unwrap().as_slice());
    assert_eq!(content_len, rest.len() - 8);

    // A's identity is not a recipient: age itself refuses.
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(a.join("age.key"))
        .arg(&env)
        .output()
        .unwrap();
    assert!(!out.status.success());
}
