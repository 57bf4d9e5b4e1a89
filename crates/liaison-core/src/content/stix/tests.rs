use serde_json::{json, Value};

use crate::content::{validate, ContentError, Kind, StixLocation};
use crate::tlp::Tlp;

macro_rules! data {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/data/",
            $name
        ))
    };
}

const IND: &str = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f";
const TLP1_WHITE: &str = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9";
const TLP1_GREEN: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
const TLP1_AMBER: &str = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";
const TLP1_RED: &str = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";

fn indicator() -> Value {
    json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": IND,
        "created": "2026-11-01T00:00:00.000Z",
        "modified": "2026-11-01T00:00:00.000Z",
        "pattern": "[ipv4-addr:value = '198.51.100.7']",
        "pattern_type": "stix",
        "valid_from": "2026-11-01T00:00:00Z"
    })
}

fn bundle(objects: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "type": "bundle",
        "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "objects": objects
    }))
    .unwrap()
}

/// The marking-definition object inside one of the official sample files
/// (they are shipped wrapped in a bundle).
fn sample_marking(text: &str) -> Value {
    let v: Value = serde_json::from_str(text).unwrap();
    v["objects"][0].clone()
}

fn indicator_with(key: &str, value: Value) -> Value {
    let mut ind = indicator();
    ind[key] = value;
    ind
}

fn indicator_without(key: &str) -> Value {
    let mut ind = indicator();
    ind.as_object_mut().unwrap().remove(key);
    ind
}

fn refused(objects: Vec<Value>) -> (ContentError, String) {
    let err = validate(Kind::Stix, &bundle(objects)).unwrap_err();
    let msg = err.to_string();
    (err, msg)
}

#[test]
fn official_examples_validate() {
    let info = validate(
        Kind::Stix,
        data!("stix-indicator-for-c2-ip-address.json").as_bytes(),
    )
    .unwrap();
    assert_eq!(
        (info.kind, info.objects, info.max_tlp),
        (Kind::Stix, 1, None)
    );
    assert_eq!(info.max_tlp_source, None);
    let info = validate(
        Kind::Stix,
        data!("stix-malicious-email-indicator-with-attachment.json").as_bytes(),
    )
    .unwrap();
    assert_eq!((info.objects, info.max_tlp), (6, None));
}

#[test]
fn official_tlp2_marking_bundles_validate() {
    // Defining a marking marks nothing: only references count.
    for text in [
        data!("stix-tlp2-amber-strict.json"),
        data!("stix-tlp2-red.json"),
    ] {
        let info = validate(Kind::Stix, text.as_bytes()).unwrap();
        assert_eq!((info.objects, info.max_tlp), (1, None));
    }
}

#[test]
fn official_tlp2_markings_in_a_bundle_mark_the_indicator() {
    let amber_strict = sample_marking(data!("stix-tlp2-amber-strict.json"));
    let red = sample_marking(data!("stix-tlp2-red.json"));
    let marked = indicator_with("object_marking_refs", json!([amber_strict["id"]]));
    let info = validate(
        Kind::Stix,
        &bundle(vec![amber_strict.clone(), red.clone(), marked]),
    )
    .unwrap();
    assert_eq!(info.max_tlp, Some(Tlp::AmberStrict));
    assert_eq!(
        info.max_tlp_source.as_deref(),
        Some(&*format!("{IND}: object_marking_refs"))
    );
    assert_eq!(info.objects, 3);

    // AMBER+STRICT on the object, RED on its description (STANDARDS §2.7).
    let mut marked = indicator_with("object_marking_refs", json!([amber_strict["id"]]));
    marked["granular_markings"] = json!([{"selectors": ["description"], "marking_ref": red["id"]}]);
    marked["description"] = json!("jump host");
    let info = validate(Kind::Stix, &bundle(vec![marked, amber_strict, red])).unwrap();
    assert_eq!(info.max_tlp, Some(Tlp::Red));
    assert_eq!(
        info.max_tlp_source.as_deref(),
        Some(&*format!("{IND}: granular_markings[0].marking_ref"))
    );
}

#[test]
fn red_object_marking_gives_red_naming_the_indicator() {
    let ind = indicator_with("object_marking_refs", json!([Tlp::Red.stix_marking_id()]));
    let other = json!({
        "type": "identity", "spec_version": "2.1",
        "id": "identity--f690c992-8e7d-4b9a-9303-3312616c0220",
        "created": "2016-08-08T15:50:10.983Z", "modified": "2016-08-08T15:50:10.983Z",
        "name": "ACME", "object_marking_refs": [Tlp::Green.stix_marking_id()]
    });
    let info = validate(Kind::Stix, &bundle(vec![other, ind])).unwrap();
    assert_eq!(info.max_tlp, Some(Tlp::Red));
    let source = info.max_tlp_source.unwrap();
    assert!(
        source.contains(IND) && source.contains("object_marking_refs"),
        "{source}"
    );
}

#[test]
fn tlp1_ids_work() {
    for (id, want) in [
        (TLP1_WHITE, Tlp::Clear),
        (TLP1_GREEN, Tlp::Green),
        (TLP1_AMBER, Tlp::Amber),
        (TLP1_RED, Tlp::Red),
    ] {
        let info = validate(
            Kind::Stix,
            &bundle(vec![indicator_with("object_marking_refs", json!([id]))]),
        )
        .unwrap();
        assert_eq!(info.max_tlp, Some(want), "{id}");
    }
    // The shipped TLP 1.0 object (STANDARDS §2.4) is accepted as it is.
    let white = json!({
        "type": "marking-definition", "spec_version": "2.1", "id": TLP1_WHITE,
        "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp", "name": "TLP:WHITE",
        "definition": {"tlp": "white"}
    });
    let marked = indicator_with("object_marking_refs", json!([TLP1_WHITE]));
    let info = validate(Kind::Stix, &bundle(vec![white, marked])).unwrap();
    assert_eq!(info.max_tlp, Some(Tlp::Clear));
}

#[test]
fn granular_red_beats_object_amber() {
    let mut ind = indicator_with("object_marking_refs", json!([Tlp::Amber.stix_marking_id()]));
    ind["granular_markings"] = json!([
        {"selectors": ["name"], "lang": "en"},
        {"selectors": ["pattern", "description"], "marking_ref": TLP1_RED}
    ]);
    let info = validate(Kind::Stix, &bundle(vec![ind])).unwrap();
    assert_eq!(info.max_tlp, Some(Tlp::Red));
    assert_eq!(
        info.max_tlp_source.as_deref(),
        Some(&*format!("{IND}: granular_markings[1].marking_ref"))
    );
}

#[test]
fn bundle_local_tlp_marking_counts() {
    // A marking defined only in this bundle, with its own id.
    let local = "marking-definition--0c1b2a39-4d5e-4f60-8a7b-9c0d1e2f3a4b";
    let def = json!({
        "type": "marking-definition", "spec_version": "2.1", "id": local,
        "created": "2026-01-01T00:00:00.000Z", "name": "our amber+strict",
        "extensions": {super::TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": "amber+strict"}}
    });
    // Referenced before it is defined: resolution happens after the scan.
    let marked = indicator_with("object_marking_refs", json!([local]));
    let info = validate(Kind::Stix, &bundle(vec![marked, def])).unwrap();
    assert_eq!(info.max_tlp, Some(Tlp::AmberStrict));
}

#[test]
fn non_tlp_markings_are_ignored() {
    let statement = "marking-definition--7d0b2a39-4d5e-4f60-8a7b-9c0d1e2f3a4b";
    let def = json!({
        "type": "marking-definition", "spec_version": "2.1", "id": statement,
        "created": "2026-01-01T00:00:00.000Z", "definition_type": "statement",
        "definition": {"statement": "Copyright ACME"}
    });
    let marked = indicator_with("object_marking_refs", json!([statement]));
    let info = validate(Kind::Stix, &bundle(vec![def, marked])).unwrap();
    assert_eq!((info.max_tlp, info.max_tlp_source), (None, None));
    // A reference to a marking the bundle does not define is fine too.
    let marked = indicator_with(
        "object_marking_refs",
        json!(["marking-definition--1d0b2a39-4d5e-4f60-8a7b-9c0d1e2f3a4b"]),
    );
    assert_eq!(
        validate(Kind::Stix, &bundle(vec![marked])).unwrap().max_tlp,
        None
    );
}

#[test]
fn upper_case_marking_ref_still_counts() {
    let shouty = Tlp::Red
        .stix_marking_id()
        .to_ascii_uppercase()
        .replace("MARKING-DEFINITION", "marking-definition");
    let info = validate(
        Kind::Stix,
        &bundle(vec![indicator_with("object_marking_refs", json!([shouty]))]),
    )
    .unwrap();
    assert_eq!(info.max_tlp, Some(Tlp::Red));
}

#[test]
fn forged_tlp2_marking_is_refused() {
    let mut forged = sample_marking(data!("stix-tlp2-red.json"));
    forged["extensions"][super::TLP2_EXTENSION]["tlp_2_0"] = json!("clear");
    let marked = indicator_with("object_marking_refs", json!([forged["id"]]));
    let (err, msg) = refused(vec![forged, marked]);
    assert!(
        matches!(&err, ContentError::Stix { at: StixLocation::Object(id), field: Some(f), .. }
            if id == Tlp::Red.stix_marking_id() && f.ends_with(".tlp_2_0")),
        "{err:?}"
    );
    assert!(msg.contains("forged"), "{msg}");
    assert!(
        msg.contains("TLP:CLEAR") && msg.contains("TLP:RED"),
        "{msg}"
    );
}

#[test]
fn forged_tlp1_marking_is_refused() {
    let forged = json!({
        "type": "marking-definition", "spec_version": "2.1", "id": TLP1_RED,
        "created": "2017-01-20T00:00:00.000Z", "definition_type": "tlp",
        "definition": {"tlp": "white"}
    });
    let (_, msg) = refused(vec![forged]);
    assert!(
        msg.contains(TLP1_RED) && msg.contains("definition.tlp") && msg.contains("forged"),
        "{msg}"
    );
    // A well-known id reused for a non-TLP statement is a forgery too.
    let forged = json!({
        "type": "marking-definition", "spec_version": "2.1", "id": Tlp::Amber.stix_marking_id(),
        "created": "2022-10-01T00:00:00.000Z", "definition_type": "statement",
        "definition": {"statement": "share freely"}
    });
    let (_, msg) = refused(vec![forged]);
    assert!(
        msg.contains("forged") && msg.contains("field `id`"),
        "{msg}"
    );
}

#[test]
fn bad_tlp_values_in_definitions_are_refused() {
    let mut bad = sample_marking(data!("stix-tlp2-red.json"));
    bad["id"] = json!("marking-definition--0c1b2a39-4d5e-4f60-8a7b-9c0d1e2f3a4b");
    bad["extensions"][super::TLP2_EXTENSION]["tlp_2_0"] = json!("purple");
    let (_, msg) = refused(vec![bad]);
    assert!(
        msg.contains("tlp_2_0") && msg.contains("\"purple\""),
        "{msg}"
    );
}

/// Every refusal names the object (by id, or by index when the id is bad)
/// and the field.
#[test]
fn bad_objects_are_refused_by_object_and_field() {
    let cases: Vec<(&str, Vec<Value>, &str, &str)> = vec![
        ("missing type", vec![indicator_without("type")], IND, "field `type` is missing"),
        (
            "id prefix not matching type",
            vec![indicator_with("type", json!("malware"))],
            IND,
            "field `id` prefix `indicator` does not match `type` \"malware\"",
        ),
        (
            "bad uuid",
            vec![indicator_with("id", json!("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cdXX"))],
            "objects[0]",
            "field `id` \"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cdXX\" has a UUID part that is not a UUID",
        ),
        (
            "uuid without hyphens",
            vec![indicator_with("id", json!("indicator--8e2e2d2b17d44cbf938f98ee46b3cd3f"))],
            "objects[0]",
            "field `id`",
        ),
        ("missing id", vec![indicator_without("id")], "objects[0]", "field `id` is missing"),
        (
            "bad type name",
            vec![indicator_with("type", json!("Indicator"))],
            IND,
            "field `type` \"Indicator\" is not a STIX type name",
        ),
        (
            "missing spec_version on an SDO",
            vec![indicator_without("spec_version")],
            IND,
            "field `spec_version` is missing",
        ),
        (
            "spec_version 2.0",
            vec![indicator_with("spec_version", json!("2.0"))],
            IND,
            "field `spec_version` must be \"2.1\", found \"2.0\"",
        ),
        ("missing created", vec![indicator_without("created")], IND, "field `created` is missing"),
        (
            "created without milliseconds",
            vec![indicator_with("created", json!("2026-11-01T00:00:00Z"))],
            IND,
            "field `created` \"2026-11-01T00:00:00Z\" needs at least millisecond precision",
        ),
        (
            "created not UTC",
            vec![indicator_with("created", json!("2026-11-01T00:00:00.000+01:00"))],
            IND,
            "field `created` \"2026-11-01T00:00:00.000+01:00\" is not a STIX timestamp",
        ),
        (
            "modified before created",
            vec![indicator_with("modified", json!("2026-10-31T23:59:59.999Z"))],
            IND,
            "field `modified` is earlier than `created`",
        ),
        ("indicator without pattern", vec![indicator_without("pattern")], IND, "field `pattern` is missing"),
        ("indicator with empty pattern", vec![indicator_with("pattern", json!(" "))], IND, "field `pattern` must not be empty"),
        ("indicator without pattern_type", vec![indicator_without("pattern_type")], IND, "field `pattern_type` is missing"),
        ("indicator without valid_from", vec![indicator_without("valid_from")], IND, "field `valid_from` is missing"),
        (
            "valid_from not a date",
            vec![indicator_with("valid_from", json!("2026-02-30T00:00:00Z"))],
            IND,
            "field `valid_from` \"2026-02-30T00:00:00Z\" is not a valid date and time",
        ),
        (
            "valid_until before valid_from",
            vec![indicator_with("valid_until", json!("2026-10-01T00:00:00Z"))],
            IND,
            "field `valid_until` must be later than `valid_from`",
        ),
        (
            "object_marking_refs not an array",
            vec![indicator_with("object_marking_refs", json!(TLP1_RED))],
            IND,
            "field `object_marking_refs` must be an array, found a string",
        ),
        (
            "object_marking_refs entry not a marking",
            vec![indicator_with("object_marking_refs", json!([IND]))],
            IND,
            "field `object_marking_refs[0]`",
        ),
        (
            "granular marking without selectors",
            vec![indicator_with("granular_markings", json!([{"marking_ref": TLP1_RED}]))],
            IND,
            "field `granular_markings[0].selectors` is missing",
        ),
        (
            "granular marking with empty selectors",
            vec![indicator_with("granular_markings", json!([{"selectors": [], "marking_ref": TLP1_RED}]))],
            IND,
            "field `granular_markings[0].selectors` must have at least one selector",
        ),
        (
            "granular marking with neither ref nor lang",
            vec![indicator_with("granular_markings", json!([{"selectors": ["name"]}]))],
            IND,
            "field `granular_markings[0]` needs a `marking_ref`",
        ),
        ("object not an object", vec![indicator(), json!("indicator")], "objects[1]", "must be a JSON object, found a string"),
    ];
    for (what, objects, object, field_and_problem) in cases {
        let (err, msg) = refused(objects);
        assert!(matches!(err, ContentError::Stix { .. }), "{what}: {err:?}");
        assert!(msg.starts_with("STIX object "), "{what}: {msg}");
        assert!(msg.contains(object), "{what}: {msg}");
        assert!(msg.contains(field_and_problem), "{what}: {msg}");
    }
}

#[test]
fn bad_id_is_reported_by_index_not_id() {
    let (err, msg) = refused(vec![
        indicator(),
        indicator_with("id", json!("indicator--nope")),
    ]);
    assert!(
        matches!(&err, ContentError::Stix { at: StixLocation::Index(1), field: Some(f), .. } if f == "id"),
        "{err:?}"
    );
    assert_eq!(
        msg,
        "STIX object objects[1]: field `id` \"indicator--nope\" has a UUID part that is not a UUID in 8-4-4-4-12 hex form"
    );
}

#[test]
fn spec_version_rules_by_category() {
    // SCOs may omit spec_version and timestamps…
    let sco = json!({"type": "ipv4-addr", "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd", "value": "198.51.100.7"});
    assert!(validate(Kind::Stix, &bundle(vec![sco.clone()])).is_ok());
    // …but if they carry one it must be 2.1.
    let mut old = sco;
    old["spec_version"] = json!("2.0");
    let (_, msg) = refused(vec![old]);
    assert!(
        msg.contains("ipv4-addr--ff26c055") && msg.contains("`spec_version`"),
        "{msg}"
    );
    // Custom x- objects are dated like SDOs.
    let custom = json!({"type": "x-acme-case", "spec_version": "2.1",
        "id": "x-acme-case--0c1b2a39-4d5e-4f60-8a7b-9c0d1e2f3a4b", "created": "2026-01-01T00:00:00.000Z"});
    let (_, msg) = refused(vec![custom]);
    assert!(
        msg.contains("x-acme-case--0c1b2a39") && msg.contains("field `modified` is missing"),
        "{msg}"
    );
    // A relationship needs spec_version.
    let rel = json!({"type": "relationship", "id": "relationship--c3fa00e6-1d31-4137-98f5-32a1ec0d0e92",
        "created": "2014-10-31T15:52:13.127Z", "modified": "2014-10-31T15:52:13.127Z"});
    let (_, msg) = refused(vec![rel]);
    assert!(
        msg.contains("relationship--c3fa00e6") && msg.contains("field `spec_version` is missing"),
        "{msg}"
    );
    // A marking definition needs `created` only.
    let mut m = sample_marking(data!("stix-tlp2-red.json"));
    m.as_object_mut().unwrap().remove("created");
    let (_, msg) = refused(vec![m]);
    assert!(msg.contains("field `created` is missing"), "{msg}");
}

#[test]
fn bundle_level_problems() {
    let ok = |v: Value| validate(Kind::Stix, &serde_json::to_vec(&v).unwrap());
    let id = "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d";
    // No objects, or none at all: fine, zero objects.
    assert_eq!(ok(json!({"type": "bundle", "id": id})).unwrap().objects, 0);
    assert_eq!(
        ok(json!({"type": "bundle", "id": id, "objects": []}))
            .unwrap()
            .objects,
        0
    );
    for (v, want) in [
        (json!({"type": "bundle", "id": id, "objects": {}}), "STIX bundle: field `objects` must be an array, found an object"),
        (indicator(), "STIX bundle: field `type` must be \"bundle\", found \"indicator\""),
        (json!({"id": id}), "STIX bundle: field `type` is missing"),
        (json!({"type": "bundle"}), "STIX bundle: field `id` is missing"),
        (
            json!({"type": "bundle", "id": id, "spec_version": "2.0"}),
            "STIX bundle: field `spec_version` is \"2.0\": this is a STIX 2.0 bundle",
        ),
        (json!({"type": "bundle", "id": IND}), "STIX bundle: field `id` \"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f\" must start with `bundle--`"),
        (json!({"type": "bundle", "id": "bundle--1"}), "STIX bundle: field `id` \"bundle--1\" has a UUID part"),
    ] {
        let msg = ok(v).unwrap_err().to_string();
        assert!(msg.starts_with(want), "{msg}");
    }
}

#[test]
fn broken_json_is_a_json_error() {
    let text = data!("stix-indicator-for-c2-ip-address.json");
    let err = validate(Kind::Stix, &text.as_bytes()[..text.len() / 2]).unwrap_err();
    assert!(
        matches!(
            err,
            ContentError::NotJson {
                kind: Kind::Stix,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("line "), "{err}");
}

#[test]
fn timestamp_shapes() {
    use super::{parse_timestamp, Precision};
    for ok in [
        "2026-01-31T12:00:00Z",
        "2026-01-31T12:00:00.1Z",
        "2016-12-31T23:59:60.123456789Z",
    ] {
        assert!(parse_timestamp(ok, Precision::Any).is_ok(), "{ok}");
    }
    for bad in [
        "2026-01-31 12:00:00Z",
        "2026-01-31T12:00:00.Z",
        "2026-01-31T12:00:00z",
        "2026-01-31T12:00Z",
        "2026-1-31T12:00:00Z",
        "2026-01-31T12:00:00.0é0Z",
    ] {
        assert!(parse_timestamp(bad, Precision::Any).is_err(), "{bad}");
    }
    assert!(parse_timestamp("2026-01-31T12:00:00.12Z", Precision::Millis).is_err());
    assert!(parse_timestamp("2026-01-31T12:00:00.123Z", Precision::Millis).is_ok());
}
