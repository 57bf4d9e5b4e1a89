//! Kind, detection, notes, and never-panic properties across all kinds.

use super::*;
use proptest::prelude::*;

macro_rules! data {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/",
            $name
        ))
        .as_slice()
    };
}

#[test]
fn kind_names_round_trip() {
    for k in Kind::ALL {
        assert_eq!(k.as_str().parse::<Kind>(), Ok(k));
        assert_eq!(k.as_str().to_uppercase().parse::<Kind>(), Ok(k));
        assert_eq!(k.to_string(), k.as_str());
        let json = serde_json::to_string(&k).unwrap();
        assert_eq!(json, format!("\"{}\"", k.as_str()));
        assert_eq!(serde_json::from_str::<Kind>(&json).unwrap(), k);
    }
    assert_eq!(Kind::Stix.as_str(), "stix");
    assert_eq!(Kind::Csaf.as_str(), "csaf");
    assert_eq!(Kind::Note.as_str(), "note");
}

#[test]
fn kind_parse_error_names_value_and_choices() {
    let err = "misp".parse::<Kind>().unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("`misp`"), "{msg}");
    assert!(msg.contains("stix, csaf, note"), "{msg}");
    assert!("".parse::<Kind>().is_err());
}

#[test]
fn media_types_round_trip_and_tolerate_spelling() {
    assert_eq!(Kind::Stix.media_type(), "application/stix+json;version=2.1");
    assert_eq!(Kind::Csaf.media_type(), "application/csaf+json");
    assert_eq!(Kind::Note.media_type(), "text/plain; charset=utf-8");
    for k in Kind::ALL {
        assert_eq!(Kind::from_media_type(k.media_type()), Some(k));
    }
    for (s, want) in [
        ("application/stix+json", Some(Kind::Stix)),
        ("Application/STIX+JSON; version=2.1", Some(Kind::Stix)),
        ("application/stix+json;version=\"2.1\"", Some(Kind::Stix)),
        ("application/stix+json;version=2.0", None),
        ("application/csaf+json", Some(Kind::Csaf)),
        ("text/plain", Some(Kind::Note)),
        ("text/plain;charset=UTF-8", Some(Kind::Note)),
        ("text/plain; charset=iso-8859-1", None),
        ("text/plain; charset", None),
        ("application/json", None),
        ("", None),
    ] {
        assert_eq!(Kind::from_media_type(s), want, "{s}");
    }
}

#[test]
fn detect_samples() {
    for (bytes, want) in [
        (data!("stix-indicator-for-c2-ip-address.json"), Kind::Stix),
        (
            data!("stix-malicious-email-indicator-with-attachment.json"),
            Kind::Stix,
        ),
        (data!("stix-tlp2-amber-strict.json"), Kind::Stix),
        (data!("stix-tlp2-red.json"), Kind::Stix),
        (data!("csaf-bsi-2022-0001.json"), Kind::Csaf),
        (data!("csaf-invalid-mandatory-6-1-01-01.json"), Kind::Csaf),
        // A MISP event is JSON but neither STIX nor CSAF: it is just text.
        (data!("misp-pymisp-misp_event.json"), Kind::Note),
    ] {
        assert_eq!(detect(bytes), Some(want));
    }
}

#[test]
fn detect_text_and_binary() {
    assert_eq!(detect(b"TLP:AMBER\nc2 at 198.51.100.7\n"), Some(Kind::Note));
    assert_eq!(detect("Grüße".as_bytes()), Some(Kind::Note));
    assert_eq!(detect(b""), Some(Kind::Note));
    // JSON that is not a bundle or CSAF document is text too.
    assert_eq!(detect(br#"{"type":"indicator"}"#), Some(Kind::Note));
    assert_eq!(detect(br#"{"document":{"title":"x"}}"#), Some(Kind::Note));
    assert_eq!(detect(br#"[{"type":"bundle"}]"#), Some(Kind::Note));
    assert_eq!(detect(b"\x89PNG\r\n\x1a\n\0\0"), None);
    assert_eq!(detect(&[0xff, 0xfe, 0x00, 0x41]), None);
}

#[test]
fn notes_must_be_utf8() {
    let info = validate(Kind::Note, "TLP:GREEN — résumé".as_bytes()).unwrap();
    assert_eq!(
        info,
        ContentInfo {
            kind: Kind::Note,
            max_tlp: None,
            max_tlp_source: None,
            objects: 0,
            inventory: Inventory::default(),
        }
    );
    let err = validate(Kind::Note, b"abc\xc3(def").unwrap_err();
    assert_eq!(err, ContentError::NotUtf8 { offset: 3 });
    assert_eq!(
        err.to_string(),
        "note is not valid UTF-8: invalid byte at offset 3"
    );
}

#[test]
fn broken_json_names_line_and_column() {
    let err = validate(Kind::Stix, b"{\n  \"type\": \"bundle\",\n  \"id\": }").unwrap_err();
    match &err {
        ContentError::NotJson {
            kind,
            line,
            column,
            message,
        } => {
            assert_eq!((*kind, *line), (Kind::Stix, 3));
            assert!(*column > 0);
            assert!(!message.contains(" at line "), "{message}");
        }
        other => panic!("expected NotJson, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.starts_with("stix content is not valid JSON"), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
    let err = validate(Kind::Csaf, b"").unwrap_err();
    assert!(
        matches!(
            err,
            ContentError::NotJson {
                kind: Kind::Csaf,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn top_level_must_be_an_object() {
    for kind in [Kind::Stix, Kind::Csaf] {
        let err = validate(kind, b"[1, 2]").unwrap_err();
        assert_eq!(
            err,
            ContentError::NotObject {
                kind,
                found: "an array"
            }
        );
        assert!(err.to_string().contains("found an array"), "{err}");
    }
}

#[test]
fn messages_never_carry_the_content() {
    // A huge bogus value must be cut short in the message.
    let big = "A".repeat(100_000);
    let bundle =
        format!(r#"{{"type":"{big}","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d"}}"#);
    let msg = validate(Kind::Stix, bundle.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(msg.len() < 300, "{} bytes", msg.len());
    let csaf = format!(r#"{{"document":{{"category":"x","csaf_version":"{big}"}}}}"#);
    let msg = validate(Kind::Csaf, csaf.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("/document/csaf_version") && msg.len() < 300,
        "{msg}"
    );
}

/// Arbitrary JSON values, a few levels deep, with keys and strings drawn
/// mostly from the vocabulary the validators look at, so that mutations reach
/// deep into the checks rather than failing at the first field.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    let words = prop::sample::select(vec![
        "type",
        "id",
        "bundle",
        "objects",
        "spec_version",
        "2.1",
        "created",
        "modified",
        "indicator",
        "pattern",
        "pattern_type",
        "valid_from",
        "valid_until",
        "marking-definition",
        "object_marking_refs",
        "granular_markings",
        "selectors",
        "marking_ref",
        "lang",
        "extensions",
        "tlp_2_0",
        "definition_type",
        "definition",
        "tlp",
        "red",
        "white",
        "clear",
        "amber+strict",
        TLP2_EXT,
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "2026-11-01T00:00:00.000Z",
        "2026-11-01T00:00:00Z",
        "2026-13-01T00:00:00.000Z",
        "document",
        "csaf_version",
        "2.0",
        "publisher",
        "category",
        "name",
        "namespace",
        "title",
        "tracking",
        "status",
        "final",
        "version",
        "revision_history",
        "date",
        "number",
        "summary",
        "initial_release_date",
        "current_release_date",
        "distribution",
        "label",
        "RED",
        "WHITE",
        "text",
        "TLP v2.0: TLP:AMBER+STRICT",
        "TLP v2.0: TLP:",
        "vendor",
        "",
        "é",
        "--",
        "x-foo",
    ])
    .prop_map(str::to_string);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        words.clone().prop_map(Value::String),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((words.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

const TLP2_EXT: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// A valid bundle: the official TLP:RED marking definition, then an
/// indicator that references it.
fn red_bundle() -> Vec<u8> {
    let sample: serde_json::Value = serde_json::from_slice(data!("stix-tlp2-red.json")).unwrap();
    let bundle = serde_json::json!({
        "type": "bundle",
        "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "objects": [sample["objects"][0], {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2026-11-01T00:00:00.000Z",
            "modified": "2026-11-01T00:00:00.000Z",
            "pattern": "[ipv4-addr:value = '198.51.100.7']",
            "pattern_type": "stix",
            "valid_from": "2026-11-01T00:00:00Z",
            "object_marking_refs": [Tlp::Red.stix_marking_id()]
        }]
    });
    serde_json::to_vec(&bundle).unwrap()
}

#[test]
fn red_bundle_is_valid() {
    let info = validate(Kind::Stix, &red_bundle()).unwrap();
    assert_eq!(info.max_tlp, Some(Tlp::Red));
    assert_eq!(info.objects, 2);
}

/// A valid bundle or document with one value somewhere replaced.
fn mutated(base: Vec<u8>, pointers: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    (prop::sample::select(pointers.to_vec()), json_value()).prop_map(move |(ptr, v)| {
        let mut doc: serde_json::Value = serde_json::from_slice(&base).expect("sample is JSON");
        if let Some(slot) = doc.pointer_mut(ptr) {
            *slot = v;
        }
        serde_json::to_vec(&doc).expect("serialize")
    })
}

const STIX_POINTERS: &[&str] = &[
    "",
    "/type",
    "/id",
    "/objects",
    "/objects/0",
    "/objects/0/type",
    "/objects/0/id",
    "/objects/0/spec_version",
    "/objects/0/created",
    "/objects/0/extensions",
    "/objects/0/extensions/extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d",
    "/objects/1",
    "/objects/1/object_marking_refs",
    "/objects/1/valid_from",
    "/objects/1/pattern",
    "/objects/1/modified",
];
const CSAF_POINTERS: &[&str] = &[
    "",
    "/document",
    "/document/category",
    "/document/csaf_version",
    "/document/publisher",
    "/document/publisher/category",
    "/document/title",
    "/document/tracking",
    "/document/tracking/id",
    "/document/tracking/status",
    "/document/tracking/revision_history",
    "/document/tracking/revision_history/0",
    "/document/tracking/revision_history/0/date",
    "/document/distribution",
    "/document/distribution/tlp",
    "/document/distribution/tlp/label",
];

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for kind in Kind::ALL {
            let _ = validate(kind, &bytes);
        }
        let _ = detect(&bytes);
    }

    #[test]
    fn never_panics_on_arbitrary_json(v in json_value()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        for kind in Kind::ALL {
            let _ = validate(kind, &bytes);
        }
        // Serialized JSON is UTF-8 text, so it is always some kind.
        prop_assert!(detect(&bytes).is_some());
    }

    #[test]
    fn never_panics_on_mutated_stix(bytes in mutated(red_bundle(), STIX_POINTERS)) {
        if let Err(e) = validate(Kind::Stix, &bytes) {
            // Every refusal says what is wrong, briefly.
            prop_assert!(!e.to_string().is_empty() && e.to_string().len() < 600);
        }
    }

    #[test]
    fn never_panics_on_mutated_csaf(bytes in mutated(data!("csaf-bsi-2022-0001.json").to_vec(), CSAF_POINTERS)) {
        if let Err(e) = validate(Kind::Csaf, &bytes) {
            prop_assert!(!e.to_string().is_empty() && e.to_string().len() < 600);
        }
    }
}

#[test]
fn validation_takes_the_same_inventory_in_its_one_parse() {
    let samples: [&[u8]; 2] = [
        data!("stix-indicator-for-c2-ip-address.json"),
        data!("stix-malicious-email-indicator-with-attachment.json"),
    ];
    for bytes in samples {
        let info = validate(Kind::Stix, bytes).unwrap();
        assert_eq!(info.inventory, inventory(Kind::Stix, bytes));
        assert!(!info.inventory.object_types.is_empty());
    }
    let note = validate(Kind::Note, b"plain text").unwrap();
    assert_eq!(note.inventory, Inventory::default());
}

/// What `detect_json_reader` may say: what `detect` says of the same bytes
/// when that is STIX or CSAF, and nothing otherwise. (Strings it skips are
/// not checked for UTF-8, which the node's validation refuses anyway, so
/// the comparison is over UTF-8 input.)
fn reader_agrees_with_detect(bytes: &[u8]) -> Result<(), TestCaseError> {
    let whole = detect(bytes).filter(|k| matches!(k, Kind::Stix | Kind::Csaf));
    let streamed = detect_json_reader(bytes);
    if std::str::from_utf8(bytes).is_ok() {
        prop_assert_eq!(streamed, whole, "{}", String::from_utf8_lossy(bytes));
    } else {
        prop_assert!(streamed.is_none() || streamed == whole);
    }
    Ok(())
}

#[test]
fn the_streamed_detection_tells_stix_and_csaf_as_detect_does() {
    let samples: [(&[u8], Option<Kind>); 5] = [
        (
            data!("stix-indicator-for-c2-ip-address.json"),
            Some(Kind::Stix),
        ),
        (data!("csaf-bsi-2022-0001.json"), Some(Kind::Csaf)),
        (data!("misp-supplier-compromise.json"), None),
        (b"plain text, not JSON", None),
        (b"[{\"type\": \"bundle\"}]", None),
    ];
    for (bytes, want) in samples {
        assert_eq!(detect_json_reader(bytes), want);
        reader_agrees_with_detect(bytes).unwrap();
    }
    // The last of a repeated member counts, as in a parsed Value.
    assert_eq!(
        detect_json_reader(&br#"{"type":"bundle","type":"x"}"#[..]),
        None
    );
    assert_eq!(
        detect_json_reader(&br#"{"type":"x","type":"bundle"}"#[..]),
        Some(Kind::Stix)
    );
    // JSON cut short, or followed by more, is not told.
    let stix = data!("stix-indicator-for-c2-ip-address.json");
    assert_eq!(detect_json_reader(&stix[..stix.len() - 2]), None);
    assert_eq!(detect_json_reader(&[stix, b"{}"].concat()[..]), None);
    // A byte-order mark is left to the whole-content path.
    assert_eq!(
        detect_json_reader(&[b"\xEF\xBB\xBF", stix].concat()[..]),
        None
    );
    // A read error is no answer either.
    struct Failing;
    impl std::io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk gone"))
        }
    }
    assert_eq!(detect_json_reader(Failing), None);
}

proptest! {
    #[test]
    fn the_streamed_detection_agrees_on_mutated_stix(bytes in mutated(red_bundle(), STIX_POINTERS)) {
        reader_agrees_with_detect(&bytes)?;
    }

    #[test]
    fn the_streamed_detection_agrees_on_mutated_csaf(bytes in mutated(data!("csaf-bsi-2022-0001.json").to_vec(), CSAF_POINTERS)) {
        reader_agrees_with_detect(&bytes)?;
    }

    #[test]
    fn the_streamed_detection_agrees_on_arbitrary_json(v in json_value()) {
        reader_agrees_with_detect(&serde_json::to_vec(&v).unwrap())?;
    }

    #[test]
    fn the_streamed_detection_agrees_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        reader_agrees_with_detect(&bytes)?;
    }
}
