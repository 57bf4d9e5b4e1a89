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
