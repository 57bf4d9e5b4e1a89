//! The OpenAPI document a real node serves (`GET /api/openapi.json` on a
//! `liaison serve` process, no token) is a valid OpenAPI document, checked
//! by `openapi-spec-validator` from the Python virtualenv: `$LIAISON_PYTHON`,
//! or `~/.cache/liaison-py/bin/python` (`.ci/run` creates it). The test
//! fails when it is missing, unless `LIAISON_SKIP_PYTHON=1` (as
//! `tests/taxii.rs`). That the document's paths and methods are exactly the
//! router's is checked in `crates/liaison-api/tests/api.rs`.

mod support;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::TestNode;

#[test]
fn the_served_openapi_document_validates() {
    let root = tempfile::tempdir().unwrap();
    let mut node = TestNode::init(root.path(), "acme");
    node.start();
    let reply = node.call("GET", "/api/openapi.json", None, None);
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert!(
        reply.content_type.starts_with("application/json"),
        "{}",
        reply.content_type
    );
    assert!(reply.body["paths"]["/api/shares"]["post"].is_object());
    node.stop();
    let Some(python) = python() else { return };
    let file = root.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&reply.body).unwrap()).unwrap();
    let (ok, stdout, stderr) = run(
        Command::new(&python)
            .args(["-m", "openapi_spec_validator"])
            .arg(&file),
        Duration::from_secs(120),
    );
    assert!(
        ok,
        "openapi-spec-validator rejects /api/openapi.json:\n{stdout}\n{stderr}"
    );
}

/// The virtualenv's Python with openapi-spec-validator, or `None` when
/// `LIAISON_SKIP_PYTHON=1`. Missing otherwise is a failure.
fn python() -> Option<PathBuf> {
    if std::env::var("LIAISON_SKIP_PYTHON").as_deref() == Ok("1") {
        eprintln!("LIAISON_SKIP_PYTHON=1: skipping the openapi-spec-validator check");
        return None;
    }
    let path = std::env::var_os("LIAISON_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/liaison-py/bin/python")
        });
    let hint = "create it as .ci/run does: python3 -m venv ~/.cache/liaison-py && \
                ~/.cache/liaison-py/bin/pip install openapi-spec-validator \
                (or point LIAISON_PYTHON at a python that has it; \
                LIAISON_SKIP_PYTHON=1 skips this check)";
    assert!(
        path.exists(),
        "no Python virtualenv at {} for the OpenAPI check: {hint}",
        path.display()
    );
    let (ok, _, stderr) = run(
        Command::new(&path).args(["-c", "import openapi_spec_validator"]),
        Duration::from_secs(60),
    );
    assert!(
        ok,
        "{} cannot import openapi_spec_validator ({stderr}): {hint}",
        path.display()
    );
    Some(path)
}

/// Run `cmd` with a bounded wait: (success, stdout, stderr).
fn run(cmd: &mut Command, timeout: Duration) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (
        status.success(),
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    )
}
