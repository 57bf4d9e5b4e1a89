//! The offline CLI, driven as a user would: `init`, `id`, `seal`, `open`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn liaison(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_liaison"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("LIAISON_HOME")
        .output()
        .expect("run liaison")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn err(out: &Output) -> String {
    assert!(!out.status.success(), "command unexpectedly succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(name)
}

struct Orgs {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Orgs {
    fn new(names: &[&str]) -> Orgs {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        for n in names {
            ok(&liaison(&root.join(n), &["init", "--org", n]));
        }
        Orgs { _tmp: tmp, root }
    }
    fn home(&self, n: &str) -> PathBuf {
        self.root.join(n)
    }
    fn card(&self, n: &str) -> String {
        self.root.join(n).join("card.json").display().to_string()
    }
    fn path(&self, f: &str) -> String {
        self.root.join(f).display().to_string()
    }
}

#[test]
fn init_writes_private_keys_0600_and_refuses_to_overwrite() {
    let orgs = Orgs::new(&["acme"]);
    let home = orgs.home("acme");
    for key in ["signing.key", "age.key"] {
        let mode = std::fs::metadata(home.join(key))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{key}");
    }
    let mode = std::fs::metadata(home.join("liaison.db"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "liaison.db");
    let e = err(&liaison(&home, &["init", "--org", "again"]));
    assert!(e.contains("refusing to overwrite"), "{e}");
    // The original identity survived.
    assert!(ok(&liaison(&home, &["id"])).contains("org:           acme"));
}

#[test]
fn init_prints_a_one_time_admin_token_and_keeps_only_its_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("acme");
    let text = ok(&liaison(
        &home,
        &["init", "--org", "acme", "--api", "127.0.0.1:7999"],
    ));
    let token = text
        .lines()
        .find_map(|l| l.strip_prefix("admin token: "))
        .expect("an `admin token:` line");
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    // Neither the token nor anything else in the home holds it in clear.
    for entry in std::fs::read_dir(&home).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }
    let config = std::fs::read_to_string(home.join("config.toml")).unwrap();
    assert!(config.contains("api = \"127.0.0.1:7999\""), "{config}");
}

#[test]
fn id_prints_card_and_fingerprint() {
    let orgs = Orgs::new(&["acme"]);
    let text = ok(&liaison(&orgs.home("acme"), &["id"]));
    assert!(text.contains("fingerprint:"), "{text}");
    assert!(text.contains("age recipient: age1"), "{text}");
    let json = ok(&liaison(&orgs.home("acme"), &["id", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["payloadType"], "application/vnd.liaison.card+json;v=1");
    assert_eq!(
        std::fs::read_to_string(orgs.home("acme").join("card.json"))
            .unwrap()
            .trim(),
        json.trim()
    );
}

#[test]
fn seal_and_open_a_stix_bundle() {
    let orgs = Orgs::new(&["acme", "bolt", "cobalt", "mallory"]);
    let input = data("stix-indicator-for-c2-ip-address.json");
    let env = orgs.path("bundle.age");
    ok(&liaison(
        &orgs.home("acme"),
        &[
            "seal",
            "--tlp",
            "amber",
            "--to",
            &orgs.card("bolt"),
            "--to",
            &orgs.card("cobalt"),
            input.to_str().unwrap(),
            "-o",
            &env,
        ],
    ));
    for r in ["bolt", "cobalt"] {
        let out = orgs.path(&format!("{r}.json"));
        let text = ok(&liaison(
            &orgs.home(r),
            &["open", &env, "--from", &orgs.card("acme"), "-o", &out],
        ));
        assert!(text.contains("tlp:        TLP:AMBER"), "{text}");
        assert!(text.contains("originator: acme"), "{text}");
        assert!(text.contains("kind:       stix"), "{text}");
        assert!(
            text.contains("audience:   bolt") && text.contains("audience:   cobalt"),
            "{text}"
        );
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&input).unwrap());
    }
    let e = err(&liaison(
        &orgs.home("mallory"),
        &[
            "open",
            &env,
            "--from",
            &orgs.card("acme"),
            "-o",
            &orgs.path("m.json"),
        ],
    ));
    assert!(e.contains("not a recipient"), "{e}");
    // Pinning the wrong originator is refused by name.
    let e = err(&liaison(
        &orgs.home("bolt"),
        &[
            "open",
            &env,
            "--from",
            &orgs.card("cobalt"),
            "-o",
            &orgs.path("x.json"),
        ],
    ));
    assert!(e.contains("unknown originator"), "{e}");
}

#[test]
fn a_red_marked_bundle_cannot_be_sealed_green() {
    let orgs = Orgs::new(&["acme", "bolt"]);
    let input = data("stix-marked-red.json");
    let e = err(&liaison(
        &orgs.home("acme"),
        &[
            "seal",
            "--tlp",
            "green",
            "--to",
            &orgs.card("bolt"),
            input.to_str().unwrap(),
            "-o",
            &orgs.path("x.age"),
        ],
    ));
    assert!(e.contains("TLP:GREEN") && e.contains("TLP:RED"), "{e}");
    assert!(!Path::new(&orgs.path("x.age")).exists());
}

#[test]
fn invalid_content_is_refused_with_its_reason() {
    let orgs = Orgs::new(&["acme", "bolt"]);
    let bad = orgs.path("bad.json");
    std::fs::write(&bad, br#"{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2026-11-01T00:00:00.000Z","modified":"2026-11-01T00:00:00.000Z","pattern_type":"stix","valid_from":"2026-11-01T00:00:00Z"}]}"#).unwrap();
    let e = err(&liaison(
        &orgs.home("acme"),
        &[
            "seal",
            "--tlp",
            "amber",
            "--to",
            &orgs.card("bolt"),
            &bad,
            "-o",
            &orgs.path("x.age"),
        ],
    ));
    assert!(
        e.contains("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f") && e.contains("pattern"),
        "{e}"
    );
}

#[test]
fn a_tampered_card_is_refused() {
    let orgs = Orgs::new(&["acme", "bolt"]);
    let card_path = orgs.home("bolt").join("card.json");
    let mut env: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&card_path).unwrap()).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut card: serde_json::Value =
        serde_json::from_slice(&b64.decode(env["payload"].as_str().unwrap()).unwrap()).unwrap();
    card["endpoints"] = serde_json::json!(["198.51.100.66:7443"]);
    env["payload"] = b64.encode(serde_json::to_vec(&card).unwrap()).into();
    let forged = orgs.path("forged.json");
    std::fs::write(&forged, serde_json::to_vec(&env).unwrap()).unwrap();
    let input = data("stix-indicator-for-c2-ip-address.json");
    let e = err(&liaison(
        &orgs.home("acme"),
        &[
            "seal",
            "--tlp",
            "amber",
            "--to",
            &forged,
            input.to_str().unwrap(),
            "-o",
            &orgs.path("x.age"),
        ],
    ));
    assert!(e.contains("signature does not verify"), "{e}");
}

#[test]
fn loose_key_permissions_are_refused() {
    let orgs = Orgs::new(&["acme", "bolt"]);
    let key = orgs.home("acme").join("signing.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let input = data("stix-indicator-for-c2-ip-address.json");
    let e = err(&liaison(
        &orgs.home("acme"),
        &[
            "seal",
            "--tlp",
            "amber",
            "--to",
            &orgs.card("bolt"),
            input.to_str().unwrap(),
            "-o",
            &orgs.path("x.age"),
        ],
    ));
    assert!(e.contains("must be 0600"), "{e}");
    assert!(!e.contains("PRIVATE KEY"), "{e}");
}

#[test]
fn import_converts_misp_and_refuses_bad_files_naming_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("no-home");
    let out_file = tmp.path().join("out.json");
    let out_arg = out_file.to_str().unwrap();

    // The PyMISP sample holds only `to_ids: false` attributes: by default
    // nothing converts, and the message says why; nothing is written.
    let sample = data("misp-pymisp-misp_event.json");
    let sample = sample.to_str().unwrap();
    let e = err(&liaison(&home, &["import", sample, "-o", out_arg]));
    assert!(e.contains("nothing to import"), "{e}");
    assert!(e.contains("to_ids is false"), "{e}");
    assert!(e.contains("type `text`"), "{e}");
    assert!(!out_file.exists());

    // With --include-non-ids its URL becomes an indicator.
    let report = ok(&liaison(
        &home,
        &["import", sample, "--include-non-ids", "-o", out_arg],
    ));
    assert!(report.contains("1 indicator(s) converted"), "{report}");
    assert!(
        report.contains("MISP distribution 0 (your organisation only)"),
        "{report}"
    );
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    assert_eq!(bundle["type"], "bundle");
    assert!(bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["pattern"] == "[url:value = 'http://fake.website.com/malware/is/here']"));

    // A realistic event: its TLP tags give the TLP to share it with.
    let supplier = data("misp-supplier-compromise.json");
    let report = ok(&liaison(
        &home,
        &[
            "import",
            supplier.to_str().unwrap(),
            "--format",
            "misp",
            "-o",
            out_arg,
        ],
    ));
    assert!(
        report.contains("15 indicator(s) converted, 8 record(s) skipped"),
        "{report}"
    );
    assert!(
        report.contains("share it with --tlp amber+strict or higher"),
        "{report}"
    );

    // Broken JSON: line and column; binary: refused; CSAF: not converted.
    let broken = tmp.path().join("broken.json");
    std::fs::write(
        &broken,
        "{\"Event\": {\"Attribute\": [\n  {\"type\": \"ip-dst\",",
    )
    .unwrap();
    let e = err(&liaison(
        &home,
        &["import", broken.to_str().unwrap(), "-o", out_arg],
    ));
    assert!(
        e.contains("not valid JSON") && e.contains("at line 2, column"),
        "{e}"
    );
    let binary = tmp.path().join("garbage.bin");
    std::fs::write(&binary, [0u8, 0xff, 0xfe, 0x80, 0x01, 0x02]).unwrap();
    let e = err(&liaison(
        &home,
        &["import", binary.to_str().unwrap(), "-o", out_arg],
    ));
    assert!(e.contains("binary data"), "{e}");
    let e = err(&liaison(
        &home,
        &[
            "import",
            binary.to_str().unwrap(),
            "--format",
            "list",
            "-o",
            out_arg,
        ],
    ));
    assert!(e.contains("not UTF-8 text"), "{e}");
    let csaf = data("csaf-bsi-2022-0001.json");
    let e = err(&liaison(
        &home,
        &["import", csaf.to_str().unwrap(), "-o", out_arg],
    ));
    assert!(e.contains("already csaf content"), "{e}");
    // A size limit, checked before parsing.
    let e = err(&liaison(
        &home,
        &[
            "import",
            supplier.to_str().unwrap(),
            "--max-size",
            "0",
            "-o",
            out_arg,
        ],
    ));
    assert!(e.contains("over the import limit of 0 bytes"), "{e}");

    // A list with a CSV sibling.
    let list = tmp.path().join("iocs.txt");
    std::fs::write(&list, "# from the incident\n198.51.100.7\nevil.example\n").unwrap();
    let report = ok(&liaison(
        &home,
        &["import", list.to_str().unwrap(), "-o", out_arg],
    ));
    assert!(
        report.contains("import from an IOC list: 2 indicator(s) converted"),
        "{report}"
    );
    let csv = tmp.path().join("iocs.csv");
    std::fs::write(&csv, "type,value\nip-dst,198.51.100.7\nyara,rule\n").unwrap();
    let report = ok(&liaison(
        &home,
        &["import", csv.to_str().unwrap(), "-o", out_arg],
    ));
    assert!(
        report.contains("import from CSV: 1 indicator(s) converted, 1 record(s) skipped"),
        "{report}"
    );
}
