//! The TAXII 2.1 server and the STIX 2.1 export on real nodes (`liaison
//! serve` processes on 127.0.0.1): ACME shares several STIX bundles (and a
//! note, which TAXII must skip) with Bolt, and Bolt's TAXII server is
//! checked twice: by raw HTTP for the protocol (media type and 406, the
//! date-added headers, 401/403, `next` pagination, `match[...]` filters,
//! per-peer and per-TLP collections, markings, read-only), and by the
//! OASIS Python clients (`taxii2-client` pulls it page by page, with and
//! without `added_after`; `stix2-validator` validates every exported
//! bundle). The Python tools come from a virtualenv: `$LIAISON_PYTHON`, or
//! `~/.cache/liaison-py/bin/python` (`.ci/run` creates it); the test fails
//! when it is missing, unless `LIAISON_SKIP_PYTHON=1`. Every wait is bounded.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use support::{liaison, pinned_pair, wait_until, TestNode};

const TAXII: &str = "application/taxii+json;version=2.1";
const TLP2_EXT: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";
const CLEAR: &str = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487";
const GREEN: &str = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
const AMBER: &str = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
const STRICT: &str = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003";
const ROOT: &str = "/taxii2/liaison";

// ------------------------------------------------------------ content

/// A STIX bundle with `n` fresh indicators and one fresh ipv4-addr, plus
/// the given extra objects.
fn bundle(tag: &str, n: usize, extra: &[Value]) -> (String, Vec<String>) {
    let mut objects: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "type": "indicator",
                "spec_version": "2.1",
                "id": format!("indicator--{}", uuid::Uuid::new_v4()),
                "created": "2024-01-01T00:00:00.000Z",
                "modified": "2024-01-01T00:00:00.000Z",
                "name": format!("{tag} indicator {i}"),
                "description": format!("Test indicator {i} of bundle {tag}."),
                "indicator_types": ["malicious-activity"],
                "pattern": format!("[ipv4-addr:value = '198.51.100.{}']", i + 1),
                "pattern_type": "stix",
                "valid_from": "2024-01-01T00:00:00Z"
            })
        })
        .collect();
    objects.push(json!({
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": format!("ipv4-addr--{}", uuid::Uuid::new_v4()),
        "value": "198.51.100.1"
    }));
    objects.extend(extra.iter().cloned());
    let ids = objects
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    let b = json!({
        "type": "bundle",
        "id": format!("bundle--{}", uuid::Uuid::new_v4()),
        "objects": objects
    });
    (b.to_string(), ids)
}

/// One version of an indicator with a fixed id.
fn versioned(id: &str, modified: &str) -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": id,
        "created": "2023-01-01T00:00:00.000Z",
        "modified": modified,
        "name": format!("versioned indicator ({modified})"),
        "description": "An indicator that changes.",
        "indicator_types": ["malicious-activity"],
        "pattern": "[domain-name:value = 'versioned.example']",
        "pattern_type": "stix",
        "valid_from": "2023-01-01T00:00:00Z"
    })
}

/// What ACME shared with Bolt, in two batches.
struct Shared {
    /// Object ids of the first and of the second batch.
    first: Vec<String>,
    second: Vec<String>,
    /// The latest `received_at` of the first batch, on Bolt.
    mid: String,
    /// Ids of ACME's shares (the STIX ones).
    shares: Vec<String>,
    /// Object ids of the TLP:AMBER bundles.
    amber: Vec<String>,
    /// The indicator shared in two versions.
    versioned: String,
}

fn wait_inbox(b: &TestNode, n: usize) {
    wait_until(Duration::from_secs(60), "deliveries to reach Bolt", || {
        b.inbox_ids().len() == n
    });
}

/// Batch 1: CLEAR, GREEN, AMBER (with version 1 of an indicator); batch 2:
/// AMBER (version 2), AMBER+STRICT, and a note.
fn share_batches(a: &TestNode, b: &TestNode) -> Shared {
    let vid = format!("indicator--{}", uuid::Uuid::new_v4());
    let v1 = versioned(&vid, "2023-01-01T00:00:00.000Z");
    let v2 = versioned(&vid, "2023-06-01T00:00:00.000Z");
    let mut shares = Vec::new();
    let mut first = Vec::new();
    let mut amber = Vec::new();
    for (tlp, extra) in [("clear", vec![]), ("green", vec![]), ("amber", vec![v1])] {
        let (content, ids) = bundle(&format!("first-{tlp}"), 3, &extra);
        shares.push(a.share(tlp, &["bolt"], &content));
        if tlp == "amber" {
            amber.extend(ids.iter().cloned());
        }
        first.extend(ids);
    }
    wait_inbox(b, 3);
    let (_, inbox) = b.get("/api/inbox?limit=100");
    let mid = inbox
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["received_at"].as_str().unwrap().to_string())
        .max()
        .unwrap();
    // Make sure the second batch is received strictly later.
    std::thread::sleep(Duration::from_millis(20));
    let mut second = Vec::new();
    for (tlp, extra) in [("amber", vec![v2]), ("amber+strict", vec![])] {
        let (content, ids) = bundle(&format!("second-{tlp}"), 4, &extra);
        shares.push(a.share(tlp, &["bolt"], &content));
        if tlp == "amber" {
            amber.extend(ids.iter().filter(|i| **i != vid).cloned());
        }
        second.extend(ids);
    }
    a.share(
        "green",
        &["bolt"],
        "a plain text note: not STIX, not served by TAXII",
    );
    wait_inbox(b, 6);
    Shared {
        first,
        second,
        mid,
        shares,
        amber,
        versioned: vid,
    }
}

// --------------------------------------------------------------- HTTP

struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// `method path` on `node`'s API with an optional Authorization value and
/// an optional Accept.
fn http(
    node: &TestNode,
    method: &str,
    path: &str,
    auth: Option<&str>,
    accept: Option<&str>,
) -> Answer {
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", node.api));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    if let Some(a) = accept {
        req = req.header("Accept", a);
    }
    let resp = if method == "POST" {
        agent().run(
            req.header("Content-Type", TAXII)
                .body(br#"{"objects":[]}"#.to_vec())
                .unwrap(),
        )
    } else {
        agent().run(req.body(()).unwrap())
    };
    let mut resp = resp.expect("HTTP request to the node API");
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        headers,
        body,
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn basic(token: &str) -> String {
    let creds = base64::engine::general_purpose::STANDARD.encode(format!("anyone:{token}"));
    format!("Basic {creds}")
}

/// A TAXII GET with the admin token that must succeed.
fn taxii_ok(node: &TestNode, path: &str) -> Answer {
    let a = http(node, "GET", path, Some(&bearer(&node.token)), Some(TAXII));
    assert_eq!(a.status, 200, "GET {path}: {}", a.body);
    assert_eq!(a.header("content-type"), TAXII, "GET {path}");
    a
}

fn assert_taxii_error(a: &Answer, status: u16, what: &str) {
    assert_eq!(a.status, status, "{what}: {}", a.body);
    assert_eq!(a.header("content-type"), TAXII, "{what}");
    assert_eq!(
        a.body["http_status"],
        status.to_string(),
        "{what}: {}",
        a.body
    );
    assert!(
        a.body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{what}"
    );
    assert!(
        a.body["description"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{what}"
    );
}

/// The collections of `node`: title -> id.
fn collections(node: &TestNode) -> HashMap<String, String> {
    let a = taxii_ok(node, &format!("{ROOT}/collections/"));
    a.body["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["can_read"], true);
            assert_eq!(c["can_write"], false);
            assert!(c["description"].as_str().is_some_and(|d| d.len() > 20));
            (
                c["title"].as_str().unwrap().to_string(),
                c["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every object of a collection endpoint (`objects/` or `manifest/`),
/// following `next` with `limit`; the pages.
fn pages(node: &TestNode, base: &str, limit: usize) -> Vec<Vec<Value>> {
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            None => format!("{base}{sep}limit={limit}"),
            Some(n) => format!("{base}{sep}limit={limit}&next={n}"),
        };
        let a = taxii_ok(node, &path);
        let objects = a.body["objects"].as_array().cloned().unwrap_or_default();
        assert!(
            objects.len() <= limit,
            "{path}: {} > {limit}",
            objects.len()
        );
        if !objects.is_empty() {
            let first = a.header("x-taxii-date-added-first");
            let last = a.header("x-taxii-date-added-last");
            assert!(
                first.ends_with('Z') && last.ends_with('Z'),
                "{:?}",
                a.headers
            );
            assert!(first <= last, "{first} {last}");
        }
        out.push(objects);
        if a.body["more"] != true {
            assert!(a.body.get("next").is_none(), "{}", a.body);
            break;
        }
        next = Some(a.body["next"].as_str().expect("next with more").to_string());
        assert!(out.len() < 1000, "pagination does not end");
    }
    out
}

fn ids(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

fn set(v: &[String]) -> BTreeSet<String> {
    v.iter().cloned().collect()
}

/// An unpaged pull of a collection's objects (one page of up to 10 000).
fn all_objects(node: &TestNode, collection: &str, query: &str) -> Vec<Value> {
    let a = taxii_ok(
        node,
        &format!("{ROOT}/collections/{collection}/objects/?limit=10000{query}"),
    );
    assert_ne!(a.body["more"], true);
    a.body["objects"].as_array().cloned().unwrap_or_default()
}

fn add_user(node: &TestNode, name: &str, role: &str) -> String {
    let (status, body) = node.post("/api/users", &json!({"name": name, "role": role}));
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_string()
}

// ---------------------------------------------------------- protocol

#[test]
fn taxii_protocol_on_a_real_node() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = pinned_pair(root.path());
    let shared = share_batches(&a, &b);
    let marking_ids = [CLEAR, GREEN, AMBER, STRICT];
    let mut expected = set(&shared.first);
    expected.extend(set(&shared.second));
    expected.extend(marking_ids.iter().map(|s| s.to_string()));

    // Authentication and roles: 401 without or with a bad token (TAXII
    // error, a challenge), analysts and admins in (Bearer or Basic), an
    // auditor is refused with 403.
    let analyst = add_user(&b, "ana", "analyst");
    let auditor = add_user(&b, "aud", "auditor");
    let none = http(&b, "GET", "/taxii2/", None, Some(TAXII));
    assert_taxii_error(&none, 401, "no credentials");
    assert!(none.header("www-authenticate").contains("Basic"));
    assert_taxii_error(
        &http(&b, "GET", "/taxii2/", Some(&bearer("nope")), Some(TAXII)),
        401,
        "unknown token",
    );
    assert_taxii_error(
        &http(&b, "GET", "/taxii2/", Some(&basic("nope")), Some(TAXII)),
        401,
        "unknown Basic password",
    );
    assert_taxii_error(
        &http(&b, "GET", "/taxii2/", Some(&bearer(&auditor)), Some(TAXII)),
        403,
        "auditor",
    );
    for auth in [bearer(&analyst), basic(&analyst), basic(&b.token)] {
        let ok = http(&b, "GET", "/taxii2/", Some(&auth), Some(TAXII));
        assert_eq!(ok.status, 200, "{auth}: {}", ok.body);
    }

    // Media types: TAXII or plain JSON accepted, anything else 406.
    let d = http(
        &b,
        "GET",
        "/taxii2/",
        Some(&bearer(&analyst)),
        Some("application/json"),
    );
    assert_eq!(d.status, 200);
    assert_eq!(d.header("content-type"), TAXII);
    for bad in ["application/xml", "application/taxii+json;version=2.0"] {
        assert_taxii_error(
            &http(&b, "GET", "/taxii2/", Some(&bearer(&analyst)), Some(bad)),
            406,
            bad,
        );
    }

    // Discovery and the API root.
    let api_root = format!("http://{}{ROOT}/", b.api);
    assert_eq!(d.body["api_roots"], json!([api_root]), "{}", d.body);
    assert_eq!(d.body["default"], api_root.as_str());
    let r = taxii_ok(&b, &format!("{ROOT}/"));
    assert_eq!(r.body["versions"], json!([TAXII]));
    assert!(r.body["max_content_length"].as_u64().is_some());

    // Collections: everything, one per sender, one per TLP label, with
    // stable ids.
    let cols = collections(&b);
    assert_eq!(cols, collections(&b), "stable ids");
    for title in [
        "Everything received",
        "From acme",
        "Shared as TLP:CLEAR",
        "Shared as TLP:GREEN",
        "Shared as TLP:AMBER",
        "Shared as TLP:AMBER+STRICT",
        "Shared as TLP:RED",
    ] {
        assert!(cols.contains_key(title), "{title} in {cols:?}");
    }
    let all = &cols["Everything received"];
    let one = taxii_ok(&b, &format!("{ROOT}/collections/{all}/"));
    assert_eq!(one.body["id"], all.as_str());
    assert_eq!(
        one.body["media_types"],
        json!(["application/stix+json;version=2.1"])
    );

    // Objects: every STIX object once (the note is not STIX), the official
    // TLP 2.0 definitions among them, each object with its bundle's marking.
    let objects = all_objects(&b, all, "");
    let got = ids(&objects);
    assert_eq!(got.len(), set(&got).len(), "no duplicates");
    assert_eq!(set(&got), expected);
    for o in &objects {
        if o["type"] == "marking-definition" {
            assert_eq!(o["created"], "2022-10-01T00:00:00.000Z");
            assert_eq!(o["spec_version"], "2.1");
            assert_eq!(
                o["extensions"][TLP2_EXT]["extension_type"],
                "property-extension"
            );
            continue;
        }
        let refs = o["object_marking_refs"].as_array().unwrap();
        assert_eq!(refs.len(), 1, "{o}");
        assert!(marking_ids.contains(&refs[0].as_str().unwrap()), "{o}");
    }
    let amber_def = objects.iter().find(|o| o["id"] == AMBER).unwrap();
    assert_eq!(
        amber_def,
        &json!({"type": "marking-definition", "spec_version": "2.1", "id": AMBER,
                "created": "2022-10-01T00:00:00.000Z", "name": "TLP:AMBER",
                "extensions": {TLP2_EXT: {"extension_type": "property-extension",
                                          "tlp_2_0": "amber"}}})
    );

    // Pagination: pages of 2 following `next` concatenate to the same
    // objects, in the same order, without duplicates.
    let paged = pages(&b, &format!("{ROOT}/collections/{all}/objects/"), 2);
    assert!(paged.len() > 5, "{} pages", paged.len());
    let flat: Vec<Value> = paged.concat();
    assert_eq!(ids(&flat), got);
    // The manifest pages the same way and agrees with the objects.
    let manifest = pages(&b, &format!("{ROOT}/collections/{all}/manifest/"), 3).concat();
    assert_eq!(ids(&manifest), got);
    for m in &manifest {
        assert_eq!(m["media_type"], "application/stix+json;version=2.1");
        assert!(m["date_added"].as_str().unwrap().ends_with('Z'));
        assert!(m["version"].as_str().is_some());
    }

    // added_after: only the second batch (and the AMBER+STRICT definition, first
    // seen there).
    let after = all_objects(&b, all, &format!("&added_after={}", shared.mid));
    let mut want = set(&shared.second);
    want.insert(STRICT.to_string());
    assert_eq!(set(&ids(&after)), want);

    // match[type], match[id].
    let indicators = all_objects(&b, all, "&match[type]=indicator");
    assert!(indicators.iter().all(|o| o["type"] == "indicator"));
    assert_eq!(
        indicators.len(),
        objects.iter().filter(|o| o["type"] == "indicator").count()
    );
    let two = all_objects(&b, all, "&match[type]=ipv4-addr,marking-definition");
    assert_eq!(two.len(), 5 + 4, "5 bundles' ipv4-addr, 4 TLP definitions");
    let pick = &shared.second[0];
    let by_id = all_objects(&b, all, &format!("&match%5Bid%5D={pick}"));
    assert_eq!(ids(&by_id), vec![pick.to_string()]);

    // Versions: the indicator shared twice serves its last version by
    // default, the first or both on demand.
    let v = &shared.versioned;
    let last = all_objects(&b, all, &format!("&match[id]={v}"));
    assert_eq!(last.len(), 1);
    assert_eq!(last[0]["modified"], "2023-06-01T00:00:00.000Z");
    let first = all_objects(&b, all, &format!("&match[id]={v}&match[version]=first"));
    assert_eq!(first[0]["modified"], "2023-01-01T00:00:00.000Z");
    let both = all_objects(&b, all, &format!("&match[id]={v}&match[version]=all"));
    assert_eq!(both.len(), 2);
    let at = all_objects(
        &b,
        all,
        &format!("&match[id]={v}&match[version]=2023-01-01T00:00:00.000Z"),
    );
    assert_eq!(at.len(), 1);
    let versions = taxii_ok(
        &b,
        &format!("{ROOT}/collections/{all}/objects/{v}/versions/"),
    );
    assert_eq!(
        versions.body["versions"],
        json!(["2023-01-01T00:00:00.000Z", "2023-06-01T00:00:00.000Z"])
    );
    assert!(!versions.header("x-taxii-date-added-first").is_empty());
    let obj = taxii_ok(&b, &format!("{ROOT}/collections/{all}/objects/{v}/"));
    assert_eq!(
        obj.body["objects"][0]["modified"],
        "2023-06-01T00:00:00.000Z"
    );
    assert!(!obj.header("x-taxii-date-added-last").is_empty());

    // Per TLP: the AMBER collection holds the AMBER bundles' objects, each
    // carrying the AMBER marking, and the AMBER definition itself.
    let amber = all_objects(&b, &cols["Shared as TLP:AMBER"], "&match[version]=all");
    let mut want = set(&shared.amber);
    want.insert(AMBER.to_string());
    want.insert(v.clone());
    assert_eq!(set(&ids(&amber)), want);
    for o in amber.iter().filter(|o| o["type"] != "marking-definition") {
        assert_eq!(o["object_marking_refs"], json!([AMBER]), "{o}");
    }
    let red = taxii_ok(
        &b,
        &format!("{ROOT}/collections/{}/objects/", cols["Shared as TLP:RED"]),
    );
    assert_eq!(red.body, json!({}), "empty envelope");
    assert!(red.header("x-taxii-date-added-first").is_empty());
    // Per peer: everything came from ACME.
    assert_eq!(ids(&all_objects(&b, &cols["From acme"], "")), got);

    // Read-only: writes are refused with a TAXII 403; other errors are
    // TAXII errors too.
    let write = http(
        &b,
        "POST",
        &format!("{ROOT}/collections/{all}/objects/"),
        Some(&bearer(&b.token)),
        Some(TAXII),
    );
    assert_taxii_error(&write, 403, "POST objects");
    assert_taxii_error(
        &http(
            &b,
            "DELETE",
            &format!("{ROOT}/collections/{all}/objects/{v}/"),
            Some(&bearer(&b.token)),
            Some(TAXII),
        ),
        403,
        "DELETE object",
    );
    let put = http(
        &b,
        "PUT",
        &format!("{ROOT}/collections/{all}/objects/"),
        Some(&bearer(&b.token)),
        Some(TAXII),
    );
    assert_taxii_error(&put, 405, "PUT");
    let admin = bearer(&b.token);
    for (path, status) in [
        (
            format!("{ROOT}/collections/{}/objects/", uuid::Uuid::new_v4()),
            404,
        ),
        (
            format!(
                "{ROOT}/collections/{all}/objects/indicator--{}/",
                uuid::Uuid::new_v4()
            ),
            404,
        ),
        (format!("{ROOT}/collections/{all}/objects/?limit=0"), 400),
        (format!("{ROOT}/collections/{all}/objects/?limit=ten"), 400),
        (
            format!("{ROOT}/collections/{all}/objects/?next=garbage"),
            400,
        ),
        (
            format!("{ROOT}/collections/{all}/objects/?added_after=yesterday"),
            400,
        ),
        (
            format!("{ROOT}/collections/{all}/objects/?match[version]=newest"),
            400,
        ),
        (format!("{ROOT}/status/{}/", uuid::Uuid::new_v4()), 404),
        ("/taxii2/nowhere/".to_string(), 404),
    ] {
        assert_taxii_error(
            &http(&b, "GET", &path, Some(&admin), Some(TAXII)),
            status,
            &path,
        );
    }

    // The JSON API keeps its own error shape.
    let (status, body) = b.get("/api/nowhere");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );

    // Export: AMBER bundles come out marked, with the definition inside;
    // a note is not STIX.
    let (_, inbox) = b.get("/api/inbox?limit=100");
    for item in inbox.as_array().unwrap() {
        let id = item["bundle_id"].as_str().unwrap();
        let (status, body) = b.get(&format!("/api/inbox/{id}/stix"));
        if item["kind"] != "stix" {
            assert_eq!(status, 422, "{body}");
            assert_eq!(body["error"]["code"], "not_stix");
            continue;
        }
        assert_eq!(status, 200, "{body}");
        let label = item["tlp"].as_str().unwrap();
        let def = match label {
            "TLP:CLEAR" => CLEAR,
            "TLP:GREEN" => GREEN,
            "TLP:AMBER" => AMBER,
            "TLP:AMBER+STRICT" => STRICT,
            other => panic!("unexpected {other}"),
        };
        let objects = body["objects"].as_array().unwrap();
        assert_eq!(objects[0]["id"], def, "{label}");
        for o in &objects[1..] {
            assert_eq!(o["object_marking_refs"], json!([def]), "{label}: {o}");
        }
    }
}

// ------------------------------------------------------------- Python

/// The virtualenv's Python with taxii2-client and stix2-validator, or
/// `None` when `LIAISON_SKIP_PYTHON=1`. Missing otherwise is a failure.
fn python() -> Option<PathBuf> {
    if std::env::var("LIAISON_SKIP_PYTHON").as_deref() == Ok("1") {
        eprintln!("LIAISON_SKIP_PYTHON=1: skipping the taxii2-client / stix2-validator checks");
        return None;
    }
    let path = std::env::var_os("LIAISON_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/liaison-py/bin/python")
        });
    let hint = "create it as .ci/run does: python3 -m venv ~/.cache/liaison-py && \
                ~/.cache/liaison-py/bin/pip install taxii2-client stix2-validator \
                (or point LIAISON_PYTHON at a python that has both; \
                LIAISON_SKIP_PYTHON=1 skips these checks)";
    assert!(
        path.exists(),
        "no Python virtualenv at {} for the TAXII interop test: {hint}",
        path.display()
    );
    let out = run(
        Command::new(&path).args(["-c", "import taxii2client, stix2validator"]),
        Duration::from_secs(60),
    );
    assert!(
        out.0,
        "{} cannot import taxii2client and stix2validator ({}): {hint}",
        path.display(),
        out.2
    );
    Some(path)
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/taxii")
        .join(name)
}

/// Run `cmd` with a deadline: (success, stdout, stderr).
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

fn write(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    path
}

#[test]
fn taxii2_client_pulls_and_stix2_validator_accepts_every_export() {
    let Some(py) = python() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let (a, b) = pinned_pair(root.path());
    let shared = share_batches(&a, &b);
    let mut expected = set(&shared.first);
    expected.extend(set(&shared.second));
    expected.extend([CLEAR, GREEN, AMBER, STRICT].iter().map(|s| s.to_string()));

    // taxii2-client: collections, a paged pull, a paged pull with
    // added_after (Basic authentication with the token as password).
    let limit = 4;
    let (ok, stdout, stderr) = run(
        Command::new(&py)
            .arg(script("pull.py"))
            .args(["--url", &format!("http://{}/taxii2/", b.api)])
            .args(["--token", &b.token])
            .args(["--limit", &limit.to_string()])
            .args(["--added-after", &shared.mid]),
        Duration::from_secs(120),
    );
    assert!(ok, "pull.py failed: {stderr}\n{stdout}");
    let pulled: Value = serde_json::from_str(&stdout).expect("pull.py prints JSON");
    let titles: Vec<&str> = pulled["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    for t in [
        "Everything received",
        "From acme",
        "Shared as TLP:AMBER",
        "Shared as TLP:RED",
    ] {
        assert!(titles.contains(&t), "{t} in {titles:?}");
    }
    assert_eq!(titles.len(), 1 + 1 + 5, "{titles:?}");
    let page_ids = |key: &str| -> Vec<Vec<String>> {
        pulled[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                p.as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i.as_str().unwrap().to_string())
                    .collect()
            })
            .collect()
    };
    let full = page_ids("pages");
    assert!(full.len() >= 5, "{} pages of {limit}", full.len());
    assert!(full.iter().all(|p| p.len() <= limit));
    let flat = full.concat();
    assert_eq!(flat.len(), set(&flat).len(), "pages overlap: {full:?}");
    // What Bolt holds: every STIX object shared (two versions of one
    // indicator count once: the last) and the four TLP definitions used.
    assert_eq!(set(&flat), expected);
    assert_eq!(flat.len(), expected.len());
    let after = page_ids("after_pages").concat();
    let mut want = set(&shared.second);
    want.insert(STRICT.to_string());
    assert_eq!(set(&after), want, "added_after {}", shared.mid);
    assert_eq!(after.len(), want.len());

    // stix2-validator: every inbox export, the TAXII objects wrapped in a
    // bundle, the share exports on ACME and the CLI's export file.
    let out = root.path().join("exports");
    std::fs::create_dir_all(&out).unwrap();
    let mut files = Vec::new();
    let (_, inbox) = b.get("/api/inbox?limit=100");
    let mut stix_ids = Vec::new();
    for item in inbox.as_array().unwrap() {
        if item["kind"] != "stix" {
            continue;
        }
        let id = item["bundle_id"].as_str().unwrap();
        stix_ids.push(id.to_string());
        let (status, body) = b.get(&format!("/api/inbox/{id}/stix"));
        assert_eq!(status, 200, "{body}");
        files.push(write(&out, &format!("inbox-{id}.json"), &body));
    }
    assert_eq!(stix_ids.len(), 5);
    let taxii_bundle = json!({
        "type": "bundle",
        "id": format!("bundle--{}", uuid::Uuid::new_v4()),
        "objects": pulled["objects"],
    });
    files.push(write(&out, "taxii-objects.json", &taxii_bundle));
    for id in &shared.shares {
        let (status, body) = a.get(&format!("/api/shares/{id}/stix"));
        assert_eq!(status, 200, "{body}");
        files.push(write(&out, &format!("share-{id}.json"), &body));
    }
    let cli_file = out.join("cli-export.json");
    let cli = liaison()
        .args(["inbox", "export", &stix_ids[0], "-o"])
        .arg(&cli_file)
        .arg("--home")
        .arg(&b.dir)
        .env("LIAISON_TOKEN", &b.token)
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "inbox export: {}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(String::from_utf8_lossy(&cli.stdout).contains("wrote"));
    let (_, api_copy) = b.get(&format!("/api/inbox/{}/stix", stix_ids[0]));
    let file_copy: Value = serde_json::from_slice(&std::fs::read(&cli_file).unwrap()).unwrap();
    assert_eq!(file_copy, api_copy);
    files.push(cli_file);

    let (ok, stdout, stderr) = run(
        Command::new(&py).arg(script("validate.py")).args(&files),
        Duration::from_secs(120),
    );
    assert!(ok, "validate.py failed: {stderr}\n{stdout}");
    let results: Value = serde_json::from_str(&stdout).expect("validate.py prints JSON");
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), files.len());
    for r in results {
        assert_eq!(r["valid"], true, "{r:#}");
        assert_eq!(r["errors"], json!([]), "{r:#}");
    }
}
