use serde_json::{json, Value};

use crate::content::{validate, ContentError, ContentInfo, Kind};
use crate::tlp::Tlp;

const BSI: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/data/csaf-bsi-2022-0001.json"
));
const MANDATORY_6_1_1: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/data/csaf-invalid-mandatory-6-1-01-01.json"
));

fn bsi() -> Value {
    serde_json::from_str(BSI).unwrap()
}

fn check(doc: &Value) -> Result<ContentInfo, ContentError> {
    validate(Kind::Csaf, &serde_json::to_vec(doc).unwrap())
}

/// The BSI example with the value at `pointer` replaced (or removed when
/// `value` is `None`).
fn bsi_with(pointer: &str, value: Option<Value>) -> Value {
    let mut doc = bsi();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let slot = doc.pointer_mut(parent).unwrap().as_object_mut().unwrap();
    match value {
        Some(v) => slot.insert(key.to_string(), v),
        None => slot.remove(key),
    };
    doc
}

fn refusal(doc: &Value) -> (String, String) {
    match check(doc).unwrap_err() {
        e @ ContentError::Csaf { .. } => {
            let ContentError::Csaf { path, .. } = &e else {
                unreachable!()
            };
            (path.clone(), e.to_string())
        }
        other => panic!("expected a CSAF error, got {other:?}"),
    }
}

#[test]
fn bsi_example_validates_as_white_clear() {
    // The file says "label": "WHITE", which is TLP 2.0 CLEAR.
    assert_eq!(bsi()["document"]["distribution"]["tlp"]["label"], "WHITE");
    let info = check(&bsi()).unwrap();
    assert_eq!(
        info,
        ContentInfo {
            kind: Kind::Csaf,
            max_tlp: Some(Tlp::Clear),
            max_tlp_source: Some("/document/distribution/tlp/label".into()),
            objects: 1,
            inventory: Default::default(),
        }
    );
}

#[test]
fn schema_valid_mandatory_test_failure_passes_required_fields() {
    // It fails mandatory test 6.1.1 (undefined product id), which is not
    // implemented here; its required fields are all present. No TLP.
    let info = validate(Kind::Csaf, MANDATORY_6_1_1.as_bytes()).unwrap();
    assert_eq!(
        (info.kind, info.objects, info.max_tlp),
        (Kind::Csaf, 1, None)
    );
    assert_eq!(info.max_tlp_source, None);
}

#[test]
fn missing_status_names_its_path() {
    let (path, msg) = refusal(&bsi_with("/document/tracking/status", None));
    assert_eq!(path, "/document/tracking/status");
    assert_eq!(msg, "CSAF /document/tracking/status: is missing");
}

#[test]
fn csaf_version_must_be_2_0() {
    let (path, msg) = refusal(&bsi_with("/document/csaf_version", Some(json!("1.0"))));
    assert_eq!(path, "/document/csaf_version");
    assert_eq!(
        msg,
        "CSAF /document/csaf_version: must be \"2.0\", found \"1.0\""
    );
}

#[test]
fn empty_revision_history_is_refused() {
    let (_, msg) = refusal(&bsi_with(
        "/document/tracking/revision_history",
        Some(json!([])),
    ));
    assert_eq!(
        msg,
        "CSAF /document/tracking/revision_history: must have at least one entry"
    );
}

#[test]
fn purple_is_not_a_tlp_label() {
    let (path, msg) = refusal(&bsi_with(
        "/document/distribution/tlp/label",
        Some(json!("PURPLE")),
    ));
    assert_eq!(path, "/document/distribution/tlp/label");
    assert!(
        msg.contains("\"PURPLE\"") && msg.contains("WHITE, GREEN, AMBER, RED"),
        "{msg}"
    );
    // TLP 2.0 names are not CSAF 2.0 labels either.
    let (path, _) = refusal(&bsi_with(
        "/document/distribution/tlp/label",
        Some(json!("CLEAR")),
    ));
    assert_eq!(path, "/document/distribution/tlp/label");
}

#[test]
fn every_csaf20_label_maps() {
    for (label, want) in [
        ("WHITE", Tlp::Clear),
        ("GREEN", Tlp::Green),
        ("AMBER", Tlp::Amber),
        ("RED", Tlp::Red),
    ] {
        let info = check(&bsi_with(
            "/document/distribution/tlp/label",
            Some(json!(label)),
        ))
        .unwrap();
        assert_eq!(info.max_tlp, Some(want), "{label}");
    }
}

fn with_distribution(dist: Value) -> Value {
    bsi_with("/document/distribution", Some(dist))
}

#[test]
fn red_with_tlp2_text_is_amber_strict() {
    let doc = with_distribution(json!({
        "text": "TLP v2.0: TLP:AMBER+STRICT",
        "tlp": {"label": "RED", "url": "https://www.first.org/tlp/"}
    }));
    let info = check(&doc).unwrap();
    assert_eq!(info.max_tlp, Some(Tlp::AmberStrict));
    assert_eq!(
        info.max_tlp_source.as_deref(),
        Some("/document/distribution/text")
    );
    // Exactly what `Tlp::csaf20_label` writes reads back.
    for t in Tlp::ALL {
        let (label, text) = t.csaf20_label();
        let mut dist = json!({"tlp": {"label": label}});
        if let Some(text) = text {
            dist["text"] = json!(format!("Sharing: {text}. Thanks."));
        }
        assert_eq!(
            check(&with_distribution(dist)).unwrap().max_tlp,
            Some(t),
            "{t}"
        );
    }
}

#[test]
fn tlp2_text_cannot_lower_an_explicit_label() {
    // RED is not how CSAF 2.0 writes CLEAR: the more restrictive stays.
    let doc = with_distribution(json!({"text": "TLP v2.0: TLP:CLEAR", "tlp": {"label": "RED"}}));
    let info = check(&doc).unwrap();
    assert_eq!(info.max_tlp, Some(Tlp::Red));
    assert_eq!(
        info.max_tlp_source.as_deref(),
        Some("/document/distribution/tlp/label")
    );
    // AMBER with an AMBER+STRICT note: the stricter text wins.
    let doc =
        with_distribution(json!({"text": "TLP v2.0: TLP:AMBER+STRICT", "tlp": {"label": "AMBER"}}));
    assert_eq!(check(&doc).unwrap().max_tlp, Some(Tlp::AmberStrict));
}

#[test]
fn tlp2_text_alone_and_non_labels() {
    let doc = with_distribution(json!({"text": "TLP v2.0: TLP:GREEN"}));
    let info = check(&doc).unwrap();
    assert_eq!(info.max_tlp, Some(Tlp::Green));
    assert_eq!(
        info.max_tlp_source.as_deref(),
        Some("/document/distribution/text")
    );
    for text in [
        "TLP v2.0: TLP:AMBERISH",
        "TLP v2.0: TLP:",
        "TLP v2.0: TLP: RED",
        "Share with TLP:RED care",
        "TLP v2.0: TLP:AMBER+",
    ] {
        let doc = with_distribution(json!({ "text": text }));
        assert_eq!(check(&doc).unwrap().max_tlp, None, "{text}");
    }
    // Without a distribution at all there is no TLP.
    let mut doc = bsi();
    doc["document"]
        .as_object_mut()
        .unwrap()
        .remove("distribution");
    assert_eq!(check(&doc).unwrap().max_tlp, None);
}

#[test]
fn required_field_paths() {
    let cases: Vec<(&str, Option<Value>, &str, &str)> = vec![
        ("/document/category", None, "/document/category", "is missing"),
        ("/document/category", Some(json!("_csaf")), "/document/category", "must not start or end"),
        ("/document/category", Some(json!("")), "/document/category", "must not be empty"),
        ("/document/publisher", Some(json!("BSI")), "/document/publisher", "must be an object, found a string"),
        ("/document/publisher/category", Some(json!("government")), "/document/publisher/category", "must be one of coordinator, discoverer, other, translator, user, vendor; found \"government\""),
        ("/document/publisher/name", None, "/document/publisher/name", "is missing"),
        ("/document/publisher/namespace", Some(json!(7)), "/document/publisher/namespace", "must be a string, found a number"),
        ("/document/title", None, "/document/title", "is missing"),
        ("/document/tracking", None, "/document/tracking", "is missing"),
        ("/document/tracking/id", Some(json!(" BSI-2022-0001")), "/document/tracking/id", "must not start or end with whitespace"),
        ("/document/tracking/status", Some(json!("done")), "/document/tracking/status", "must be one of draft, final, interim; found \"done\""),
        ("/document/tracking/version", None, "/document/tracking/version", "is missing"),
        ("/document/tracking/initial_release_date", Some(json!("2022-03-17")), "/document/tracking/initial_release_date", "\"2022-03-17\" is not an RFC 3339 date-time"),
        ("/document/tracking/current_release_date", None, "/document/tracking/current_release_date", "is missing"),
        ("/document/tracking/revision_history", Some(json!({})), "/document/tracking/revision_history", "must be an array, found an object"),
        ("/document/tracking/revision_history/0/summary", None, "/document/tracking/revision_history/0/summary", "is missing"),
        ("/document/tracking/revision_history/0/date", Some(json!("yesterday")), "/document/tracking/revision_history/0/date", "not an RFC 3339 date-time"),
        ("/document/distribution/tlp", Some(json!({})), "/document/distribution/tlp/label", "is missing"),
        ("/document/distribution/text", Some(json!(["TLP:RED"])), "/document/distribution/text", "must be a string, found an array"),
    ];
    for (pointer, value, want_path, want_problem) in cases {
        let (path, msg) = refusal(&bsi_with(pointer, value));
        assert_eq!(path, want_path, "{pointer}: {msg}");
        assert!(
            msg.starts_with(&format!("CSAF {want_path}: ")),
            "{pointer}: {msg}"
        );
        assert!(msg.contains(want_problem), "{pointer}: {msg}");
    }
    // A revision entry that is not an object is named by its index.
    let (path, _) = refusal(&bsi_with(
        "/document/tracking/revision_history",
        Some(json!([1])),
    ));
    assert_eq!(path, "/document/tracking/revision_history/0");
}

#[test]
fn document_must_exist() {
    let (path, msg) = refusal(&json!({"product_tree": {}}));
    assert_eq!(path, "/document");
    assert_eq!(msg, "CSAF /document: is missing");
    let (path, _) = refusal(&json!({"document": []}));
    assert_eq!(path, "/document");
}

#[test]
fn text_label_parser() {
    use super::tlp2_from_text;
    assert_eq!(
        tlp2_from_text("TLP v2.0: TLP:AMBER+STRICT"),
        Some(Tlp::AmberStrict)
    );
    assert_eq!(tlp2_from_text("TLP v2.0: TLP:AMBER."), Some(Tlp::Amber));
    assert_eq!(
        tlp2_from_text("TLP v2.0: TLP:amber+strict"),
        Some(Tlp::AmberStrict)
    );
    assert_eq!(
        tlp2_from_text("TLP v2.0: TLP:GREEN / TLP v2.0: TLP:RED"),
        Some(Tlp::Red)
    );
    assert_eq!(tlp2_from_text("TLP v2.0: TLP:WHITE"), None);
    assert_eq!(tlp2_from_text("TLP v2.0: TLP:é"), None);
    assert_eq!(tlp2_from_text(""), None);
}

// ----- the official CSAF 2.0 JSON schema (shipped, compiled once) -----

#[test]
fn shipped_schema_compiles_offline() {
    // The CVSS `$ref`s resolve to the shipped copies: nothing is fetched.
    let first = super::schema_validator().map(|v| v as *const _);
    assert!(first.is_ok(), "{first:?}");
    // Compiled once: the same validator every time.
    assert_eq!(super::schema_validator().map(|v| v as *const _), first);
}

#[test]
fn schema_refusals_name_the_json_path() {
    let cases: Vec<(&str, Option<Value>, &str, &str)> = vec![
        // Wrong enum deep inside the product tree.
        (
            "/product_tree/branches/0/branches/0/branches/0/category",
            Some(json!("product_versionx")),
            "/product_tree/branches/0/branches/0/branches/0/category",
            "\"product_versionx\" is not one of",
        ),
        // A required field missing deep inside.
        (
            "/product_tree/branches/0/branches/0/branches/0/product/product_id",
            None,
            "/product_tree/branches/0/branches/0/branches/0/product/product_id",
            "is missing (required by the CSAF 2.0 schema)",
        ),
        // Wrong type.
        (
            "/vulnerabilities/0/cve",
            Some(json!(2022)),
            "/vulnerabilities/0/cve",
            "2022 is not of type \"string\"",
        ),
        (
            "/vulnerabilities/0/product_status/fixed",
            Some(json!("CSAFPID-0006")),
            "/vulnerabilities/0/product_status/fixed",
            "is not of type \"array\"",
        ),
        // A pattern.
        (
            "/vulnerabilities/0/cve",
            Some(json!("CVE-22-1")),
            "/vulnerabilities/0/cve",
            "\"CVE-22-1\" does not match",
        ),
        // A language tag that is not one.
        (
            "/document/lang",
            Some(json!("not a language")),
            "/document/lang",
            "\"not a language\" does not match",
        ),
    ];
    for (pointer, value, want_path, want_problem) in cases {
        let doc = bsi_with(pointer, value);
        assert!(check(&doc).is_err(), "{pointer} must be refused");
        let (path, msg) = refusal(&doc);
        assert_eq!(path, want_path, "{pointer}: {msg}");
        assert!(
            msg.starts_with(&format!("CSAF {want_path}: ")),
            "{pointer}: {msg}"
        );
        assert!(msg.contains(want_problem), "{pointer}: {msg}");
    }
}

#[test]
fn unknown_properties_are_allowed_as_by_the_schema() {
    // The CSAF 2.0 schema does not forbid additional properties.
    assert!(check(&bsi_with(
        "/document/tracking/x_flavour",
        Some(json!("vanilla"))
    ))
    .is_ok());
}

#[test]
fn bad_cvss_vector_is_named_inside_the_score() {
    // The CVSS 3.x schema is reached through an `anyOf` of v3.0 and v3.1:
    // the message follows the closest branch down to the vector itself.
    let pointer = "/vulnerabilities/0/scores/0/cvss_v3/vectorString";
    let good = bsi().pointer(pointer).cloned().unwrap();
    assert!(good.as_str().unwrap().starts_with("CVSS:3.1/"), "{good}");
    let (path, msg) = refusal(&bsi_with(pointer, Some(json!("CVSS:3.1/AV:Q/AC:L"))));
    assert_eq!(path, pointer, "{msg}");
    assert!(
        msg.contains("\"CVSS:3.1/AV:Q/AC:L\" does not match"),
        "{msg}"
    );
    // A base score out of range is named too.
    let (path, msg) = refusal(&bsi_with(
        "/vulnerabilities/0/scores/0/cvss_v3/baseScore",
        Some(json!(11.5)),
    ));
    assert_eq!(
        path, "/vulnerabilities/0/scores/0/cvss_v3/baseScore",
        "{msg}"
    );
}

#[test]
fn required_field_messages_come_first_and_formats_are_checked() {
    // The hand-written Base checks keep their plain messages.
    let (path, msg) = refusal(&bsi_with(
        "/document/tracking/status",
        Some(json!("draft2")),
    ));
    assert_eq!(path, "/document/tracking/status");
    assert!(
        msg.contains("must be one of draft, final, interim; found \"draft2\""),
        "{msg}"
    );
    // `format` is asserted (date-time, uri).
    let (path, msg) = refusal(&bsi_with(
        "/vulnerabilities/0/remediations/0/date",
        Some(json!("14 March 2022")),
    ));
    assert_eq!(path, "/vulnerabilities/0/remediations/0/date", "{msg}");
    assert!(msg.contains("is not a \"date-time\""), "{msg}");
}

#[test]
fn schema_messages_never_carry_large_values() {
    // An object where a string belongs is named by its type, not quoted.
    let secret = "S".repeat(500);
    let (path, msg) = refusal(&bsi_with(
        "/vulnerabilities/0/cve",
        Some(json!({ "secret": secret })),
    ));
    assert_eq!(path, "/vulnerabilities/0/cve");
    assert!(!msg.contains("SSSS"), "{msg}");
    assert!(msg.contains("an object"), "{msg}");
    let (_, msg) = refusal(&bsi_with(
        "/vulnerabilities/0/cve",
        Some(json!(format!("CVE-{secret}"))),
    ));
    assert!(!msg.contains("SSSS"), "{msg}");
}

#[test]
fn a_lower_csaf_label_than_the_bundle_is_still_its_own_label() {
    // The content says WHITE (CLEAR); the relay may label the bundle
    // higher (more restrictive) and refuses only lower: validation reports
    // CLEAR, the inner label, and accepts the document.
    let info = check(&bsi()).unwrap();
    assert_eq!(info.max_tlp, Some(Tlp::Clear));
    assert!(info.max_tlp.unwrap() < Tlp::Amber);
}
