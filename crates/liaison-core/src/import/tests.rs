use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::content::{self, Kind};
use crate::tlp::Tlp;

const PYMISP: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/data/misp-pymisp-misp_event.json"
));
const SUPPLIER: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/data/misp-supplier-compromise.json"
));
const PHISHING: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/data/misp-phishing-response.json"
));
const TLP2_RED: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/data/stix-tlp2-red.json"
));
const TLP2_AMBER_STRICT: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/data/stix-tlp2-amber-strict.json"
));

fn opts() -> Options {
    Options {
        now: Utc.with_ymd_and_hms(2026, 1, 31, 12, 0, 0).unwrap(),
        ..Options::default()
    }
}

fn run(input: &str, format: Format) -> Result<Imported, ImportError> {
    import(input.as_bytes(), format, &opts())
}

fn bundle(imported: &Imported) -> Value {
    serde_json::from_slice(&imported.bundle).unwrap()
}

fn objects_of<'a>(b: &'a Value, ty: &str) -> Vec<&'a Value> {
    b["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == ty)
        .collect()
}

fn patterns(b: &Value) -> Vec<String> {
    objects_of(b, "indicator")
        .iter()
        .map(|o| o["pattern"].as_str().unwrap().to_string())
        .collect()
}

fn count(report: &Report, reason: SkipReason) -> usize {
    report.skipped.get(&reason).map_or(0, |s| s.count)
}

/// The bundle validates as STIX, and the TLP inside it is what the report
/// suggests.
fn assert_valid(imported: &Imported) {
    let info = content::validate(Kind::Stix, &imported.bundle).unwrap();
    assert_eq!(info.max_tlp, imported.report.suggested_tlp);
}

// ----- MISP -----

#[test]
fn supplier_compromise_event_converts_and_reports_everything() {
    let imported = run(SUPPLIER, Format::Auto).unwrap();
    assert_valid(&imported);
    let r = &imported.report;
    assert_eq!(r.format, Format::Misp);
    assert_eq!(r.converted, 15, "{r}");
    assert_eq!(count(r, SkipReason::NotForIds), 1, "{r}");
    assert_eq!(count(r, SkipReason::UnsupportedType), 3, "{r}");
    assert_eq!(count(r, SkipReason::Deleted), 2, "{r}");
    assert_eq!(count(r, SkipReason::InvalidValue), 1, "{r}");
    assert_eq!(count(r, SkipReason::Duplicate), 1, "{r}");
    assert_eq!(r.skipped_total(), 8);
    // The event is tlp:amber; one attribute is tlp:amber+strict: the bundle
    // must be at least AMBER+STRICT.
    assert_eq!(r.suggested_tlp, Some(Tlp::AmberStrict));
    assert_eq!(
        r.tlp_source.as_deref(),
        Some("Event.Attribute[16].Tag \"tlp:amber+strict\"")
    );
    assert_eq!(r.events.len(), 1);
    let e = &r.events[0];
    assert_eq!(e.tlp, Some(Tlp::Amber));
    assert_eq!(e.org.as_deref(), Some("Northwind CERT"));
    assert_eq!(e.distribution.as_deref(), Some("1 (this community only)"));
    assert_eq!(e.indicators, 15);
    assert_eq!(
        r.attribute_distributions.get("5 (inherit event)"),
        Some(&15)
    );

    let b = bundle(&imported);
    let p = patterns(&b);
    for want in [
        "[ipv4-addr:value = '203.0.113.45']",
        "[ipv6-addr:value = '2001:db8:85a3::8a2e:370:7334']",
        "[ipv4-addr:value = '198.51.100.0/24']",
        "[domain-name:value = 'updates.contoso-cdn.example']",
        "[domain-name:value = 'build7.contoso-cdn.example']",
        "[file:hashes.MD5 = '9e107d9d372bb6826bd81d3542a419d6']",
        "[file:hashes.'SHA-1' = '2fd4e1c67a2d28fced849ee1bb76e7391b93eb12']",
        "[file:name = 'ContosoUpdater-4.2.msi' AND file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']",
        "[email-addr:value = 'release@contoso-cdn.example']",
        "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '203.0.113.46' AND network-traffic:dst_port = 8443]",
        // Attributes inside objects.
        "[file:hashes.'SHA-256' = '5d41402abc4b2a76b9719d911017c592aaf6b1f4d0e9a0c9e2c2b0b1c3d4e5f6']",
        "[domain-name:value = 'telemetry.contoso-cdn.example']",
        "[ipv6-addr:value = '2001:db8:dead:beef::1']",
    ] {
        assert!(p.contains(&want.to_string()), "{want} in {p:#?}");
    }
    // Quotes and backslashes are escaped in literals.
    assert!(
        p.contains(
            &r"[url:value = 'https://updates.contoso-cdn.example/dl/it\'s\\here.exe']".to_string()
        ),
        "{p:#?}"
    );
    // Nothing skipped made it in.
    for gone in [
        "www.contoso.example",
        "192.0.2.99",
        "cdn.benign.example",
        "not a domain",
    ] {
        assert!(!p.iter().any(|x| x.contains(gone)), "{gone}");
    }

    // The identity of the creating organization, referenced by everything.
    let ids = objects_of(&b, "identity");
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0]["name"], "Northwind CERT");
    assert_eq!(ids[0]["identity_class"], "organization");
    let event: Value = serde_json::from_str(SUPPLIER).unwrap();
    assert_eq!(
        ids[0]["id"],
        format!(
            "identity--{}",
            event["Event"]["Orgc"]["uuid"].as_str().unwrap()
        )
    );
    // Indicators: ids from the attribute uuids, times from their timestamps,
    // names from type and value, markings from the tags.
    let first = objects_of(&b, "indicator")[0];
    let attr = &event["Event"]["Attribute"][0];
    assert_eq!(
        first["id"],
        format!("indicator--{}", attr["uuid"].as_str().unwrap())
    );
    assert_eq!(first["valid_from"], "2024-06-03T07:33:20.000Z");
    assert_eq!(first["name"], "ip-dst: 203.0.113.45");
    assert_eq!(first["created_by_ref"], ids[0]["id"]);
    assert_eq!(
        first["object_marking_refs"],
        json!([Tlp::Amber.stix_marking_id()])
    );
    assert_eq!(
        first["description"],
        "C2 contacted by the trojanised updater"
    );
    let strict = objects_of(&b, "indicator")
        .into_iter()
        .find(|o| o["pattern"].as_str().unwrap().contains("c0ffee"))
        .unwrap();
    assert_eq!(
        strict["object_marking_refs"],
        json!([Tlp::AmberStrict.stix_marking_id()])
    );
    // One report groups the event's indicators.
    let reports = objects_of(&b, "report");
    assert_eq!(reports.len(), 1);
    assert_eq!(
        reports[0]["name"],
        "Supplier compromise: trojanised update of Contoso Updater 4.2"
    );
    assert_eq!(reports[0]["object_refs"].as_array().unwrap().len(), 15);
    assert_eq!(
        reports[0]["id"],
        format!("report--{}", event["Event"]["uuid"].as_str().unwrap())
    );
    // The report lists the skipped records with their reasons.
    let text = r.to_string();
    for words in [
        "15 indicator(s) converted, 8 record(s) skipped",
        "skipped, to_ids is false (not meant for detection) (1):",
        "Event.Attribute[11] (type `domain`): \"www.contoso.example\"",
        "Event.Attribute[12]: type `comment`",
        "Event.Attribute[13] (type `ip-dst`): deleted",
        "Event.Object[2].Attribute[0] (type `domain`): its object is deleted",
        "Event.Attribute[14] (type `domain`): \"not a domain!\" is not a domain name",
        "Event.Attribute[15]: \"203.0.113.45\"",
        "MISP distribution 1 (this community only), TLP:AMBER",
        "suggested TLP: TLP:AMBER+STRICT (from Event.Attribute[16].Tag \"tlp:amber+strict\")",
    ] {
        assert!(text.contains(words), "`{words}` in:\n{text}");
    }
}

#[test]
fn markings_are_the_official_tlp2_objects() {
    let imported = run(SUPPLIER, Format::Misp).unwrap();
    let b = bundle(&imported);
    let markings = objects_of(&b, "marking-definition");
    assert_eq!(markings.len(), 2, "AMBER and AMBER+STRICT");
    let official: Value = serde_json::from_str(TLP2_AMBER_STRICT).unwrap();
    assert!(markings.contains(&&official["objects"][0]), "{markings:#?}");
    let phishing = run(PHISHING, Format::Misp).unwrap();
    let official: Value = serde_json::from_str(TLP2_RED).unwrap();
    assert!(objects_of(&bundle(&phishing), "marking-definition").contains(&&official["objects"][0]));
}

#[test]
fn response_with_two_events_takes_the_highest_tlp_of_any_tag() {
    let imported = run(PHISHING, Format::Auto).unwrap();
    assert_valid(&imported);
    let r = &imported.report;
    assert_eq!(r.converted, 6, "{r}");
    assert_eq!(count(r, SkipReason::InvalidValue), 2, "{r}");
    assert_eq!(count(r, SkipReason::UnsupportedType), 1, "{r}");
    // Tags in any case: TLP:GREEN, Tlp:Clear, TLP:RED on one attribute.
    assert_eq!(r.events[0].tlp, Some(Tlp::Green));
    assert_eq!(r.events[1].tlp, Some(Tlp::Clear));
    assert_eq!(r.suggested_tlp, Some(Tlp::Red));
    assert_eq!(
        r.tlp_source.as_deref(),
        Some("response[1].Event.Attribute[1].Tag \"TLP:RED\"")
    );
    assert_eq!(
        r.events[0].distribution.as_deref(),
        Some("2 (connected communities)")
    );
    assert_eq!(
        r.events[1].distribution.as_deref(),
        Some("0 (your organisation only)")
    );
    let text = r.to_string();
    assert!(
        text.contains(
            "response[0].Event.Attribute[4] (type `url`): `value` must be a string, found a number"
        ),
        "{text}"
    );
    assert!(
        text.contains("response[0].Event.Attribute[5] (type `domain`): has no `value`"),
        "{text}"
    );
    let b = bundle(&imported);
    assert_eq!(objects_of(&b, "report").len(), 2);
    assert_eq!(objects_of(&b, "identity").len(), 1, "one org, one identity");
    let p = patterns(&b);
    assert!(p.contains(&"[network-traffic:src_ref.type = 'ipv4-addr' AND network-traffic:src_ref.value = '198.51.100.23' AND network-traffic:src_port = 25]".to_string()));
    assert!(p.contains(&"[email-addr:value = 'victim.one@fabrikam.example']".to_string()));
    // A list of events works the same.
    let events: Value = serde_json::from_str(PHISHING).unwrap();
    let list = serde_json::to_string(&events["response"]).unwrap();
    let again = run(&list, Format::Auto).unwrap();
    assert_eq!(again.report.converted, 6);
    assert_eq!(again.report.events[1].path, "[1].Event");
}

#[test]
fn pymisp_sample_has_only_non_ids_attributes() {
    // A bare event (no `{"Event": …}` wrapper), as PyMISP writes it; its
    // url is `to_ids: false` and its other attribute is `text`.
    assert_eq!(detect(PYMISP.as_bytes()).unwrap(), Format::Misp);
    let err = run(PYMISP, Format::Auto).unwrap_err();
    let ImportError::NothingToImport { report } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(count(report, SkipReason::NotForIds), 1);
    assert_eq!(count(report, SkipReason::UnsupportedType), 1);
    let text = err.to_string();
    assert!(text.starts_with("nothing to import"), "{text}");
    assert!(text.contains("to_ids is false"), "{text}");
    assert!(text.contains("type `text`"), "{text}");

    let all = Options {
        include_non_ids: true,
        ..opts()
    };
    let imported = import(PYMISP.as_bytes(), Format::Misp, &all).unwrap();
    assert_valid(&imported);
    assert_eq!(imported.report.converted, 1);
    assert_eq!(imported.report.suggested_tlp, None, "its tags are not TLP");
    let b = bundle(&imported);
    assert_eq!(
        patterns(&b),
        vec!["[url:value = 'http://fake.website.com/malware/is/here']"]
    );
    assert_eq!(objects_of(&b, "identity")[0]["name"], "ORGNAME");
    assert_eq!(objects_of(&b, "report")[0]["name"], "A Random Event");
    assert!(objects_of(&b, "marking-definition").is_empty());
}

#[test]
fn import_is_deterministic() {
    let a = run(SUPPLIER, Format::Misp).unwrap();
    let b = run(SUPPLIER, Format::Misp).unwrap();
    assert_eq!(a.bundle, b.bundle);
    let l1 = run("198.51.100.7\nevil.example\n", Format::List).unwrap();
    let l2 = run("198.51.100.7\nevil.example\n", Format::List).unwrap();
    assert_eq!(l1.bundle, l2.bundle);
}

#[test]
fn tlp_tags() {
    for (tag, want) in [
        ("tlp:white", Some(Tlp::Clear)),
        ("TLP:CLEAR", Some(Tlp::Clear)),
        ("tlp:green", Some(Tlp::Green)),
        ("Tlp:Amber", Some(Tlp::Amber)),
        ("tlp:amber+strict", Some(Tlp::AmberStrict)),
        ("TLP:RED", Some(Tlp::Red)),
        ("tlp:ex:chr", None),
        ("tlp:unclear", None),
        ("amber", None),
        ("misp-galaxy:tlp=\"red\"", None),
    ] {
        assert_eq!(tlp_from_tag(tag), want, "{tag}");
    }
}

#[test]
fn malformed_misp_is_refused_whole_naming_where() {
    for (input, want_path, want) in [
        (
            r#"{"Event": {"info": "x", "Attribute": "x"}}"#,
            "Event.Attribute",
            "must be an array, found a string",
        ),
        (
            r#"{"Event": "x"}"#,
            "Event",
            "must be an object, found a string",
        ),
        (
            r#"{"Event": {"info": "x", "Object": [7]}}"#,
            "Event.Object[0]",
            "must be an object, found a number",
        ),
        (
            r#"{"Event": {"Object": [{"Attribute": {}}]}}"#,
            "Event.Object[0].Attribute",
            "must be an array, found an object",
        ),
        (
            r#"{"Event": {"Tag": "tlp:red", "Attribute": []}}"#,
            "Event.Tag",
            "must be an array",
        ),
        (
            r#"{"response": {"Event": {}}}"#,
            "response",
            "must be an array of events",
        ),
        (r#"[1, 2]"#, "[0]", "found a number"),
        (
            r#"[{"Event": {}}, {"nope": 1}]"#,
            "[1]",
            "found an object without `Event`",
        ),
        (r#"{"response": []}"#, "(top level)", "found no event"),
    ] {
        match run(input, Format::Misp) {
            Err(ImportError::Malformed { path, problem }) => {
                assert_eq!(path, want_path, "{input}: {problem}");
                assert!(problem.contains(want), "{input}: {problem}");
            }
            other => panic!("{input}: {other:?}"),
        }
    }
    // A single bad attribute is reported, and the rest converts.
    let input = r#"{"Event": {"info": "x", "Attribute": [
        "x", {"type": "domain", "value": 7}, {"type": "domain"}, {"value": "a.example"},
        {"type": ["domain"], "value": "a.example"},
        {"type": "domain", "value": "ok.example", "to_ids": "1", "timestamp": "not a time"}]}}"#;
    let imported = run(input, Format::Misp).unwrap();
    assert_eq!(imported.report.converted, 1);
    assert_eq!(count(&imported.report, SkipReason::InvalidValue), 5);
    assert_valid(&imported);
    // With no timestamp of its own, an attribute takes `now`.
    let b = bundle(&imported);
    assert_eq!(
        objects_of(&b, "indicator")[0]["valid_from"],
        "2026-01-31T12:00:00.000Z"
    );
}

#[test]
fn broken_json_names_line_and_column() {
    let truncated = &SUPPLIER[..SUPPLIER.len() / 2];
    for format in [Format::Auto, Format::Misp] {
        match run(truncated, format) {
            Err(ImportError::NotJson {
                line,
                column,
                message,
                format: f,
            }) => {
                assert_eq!(f, Format::Misp);
                assert!(line > 1 && column > 0, "{line}:{column}");
                assert!(message.contains("EOF"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
    let err = run("{\n  \"Event\": {,}\n}", Format::Auto).unwrap_err();
    assert!(err.to_string().contains("at line 2, column"), "{err}");
}

#[test]
fn nothing_convertible_is_an_error_listing_why() {
    let input = r#"{"Event": {"info": "only context", "Attribute": [
        {"type": "text", "value": "hello", "to_ids": false},
        {"type": "domain", "value": "a.example", "to_ids": false},
        {"type": "ip-dst", "value": "10.0.0.1", "deleted": true}]}}"#;
    let err = run(input, Format::Misp).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("nothing to import"), "{text}");
    for words in ["type `text`", "to_ids is false", "deleted"] {
        assert!(text.contains(words), "{words} in {text}");
    }
}

// ----- lists -----

#[test]
fn plain_list_detects_types() {
    let input = "\u{feff}# IOCs from the incident\n\
        \n\
        198.51.100.7\n\
        2001:db8::1\n\
        10.20.0.0/16   # internal range used by the attacker\r\n\
        evil.example\n\
        hxxps://evil[.]example/path?q='x'\n\
        ceo@evil.example\n\
        d41d8cd98f00b204e9800998ecf8427e\n\
        da39a3ee5e6b4b0d3255bfef95601890afd80709\n\
        E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\n\
        evil.example\n\
        not an ioc at all\n";
    assert_eq!(detect(input.as_bytes()).unwrap(), Format::List);
    let imported = run(input, Format::Auto).unwrap();
    assert_valid(&imported);
    let r = &imported.report;
    assert_eq!(r.format, Format::List);
    assert_eq!(r.converted, 9, "{r}");
    assert_eq!(count(r, SkipReason::Duplicate), 1);
    assert_eq!(count(r, SkipReason::InvalidValue), 1);
    assert_eq!(r.suggested_tlp, None);
    let p = patterns(&bundle(&imported));
    assert_eq!(
        p,
        vec![
            "[ipv4-addr:value = '198.51.100.7']",
            "[ipv6-addr:value = '2001:db8::1']",
            "[ipv4-addr:value = '10.20.0.0/16']",
            "[domain-name:value = 'evil.example']",
            r"[url:value = 'https://evil.example/path?q=\'x\'']",
            "[email-addr:value = 'ceo@evil.example']",
            "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
            "[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']",
            "[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']",
        ]
    );
    let text = r.to_string();
    assert!(text.contains("line 12: \"evil.example\""), "{text}");
    assert!(
        text.contains("line 13: \"not an ioc at all\" is not"),
        "{text}"
    );
    let b = bundle(&imported);
    let report = objects_of(&b, "report");
    assert_eq!(report[0]["name"], "Imported IOC list");
    assert_eq!(report[0]["object_refs"].as_array().unwrap().len(), 9);
    assert_eq!(
        objects_of(&b, "indicator")[0]["valid_from"],
        "2026-01-31T12:00:00.000Z"
    );
}

#[test]
fn prose_and_garbage_are_not_lists() {
    for input in [
        "Dear team,\nplease block the usual suspects.\nThanks\n",
        "",
        "# only a comment\n\n",
    ] {
        assert!(
            matches!(detect(input.as_bytes()), Err(ImportError::NotDetected(_))),
            "{input:?}"
        );
    }
    assert!(matches!(
        detect(b"\x00\xff\xfe binary \x80"),
        Err(ImportError::NotDetected(_))
    ));
    assert!(matches!(detect(b"{}"), Err(ImportError::NotDetected(_))));
    assert!(matches!(
        detect(b"\"text\""),
        Err(ImportError::NotDetected(_))
    ));
    // Forced as a list, prose is nothing to import; binary is refused.
    assert!(matches!(
        run("just some words\nand more words\n", Format::List),
        Err(ImportError::NothingToImport { .. })
    ));
    match import(b"1.2.3.4\n\xff\xfe\n", Format::List, &opts()) {
        Err(ImportError::NotUtf8 { offset, line, .. }) => assert_eq!((offset, line), (8, 2)),
        other => panic!("{other:?}"),
    }
    // STIX and CSAF are recognised, not converted.
    let stix = r#"{"type": "bundle", "id": "bundle--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}"#;
    assert_eq!(detect(stix.as_bytes()).unwrap(), Format::Stix);
    assert_eq!(
        run(stix, Format::Auto).unwrap_err(),
        ImportError::NotConvertible(Format::Stix)
    );
}

#[test]
fn report_caps_examples_but_counts_all() {
    let mut input = String::from("198.51.100.1\n");
    for i in 0..25 {
        input.push_str(&format!("bad value {i}\n"));
    }
    let imported = run(&input, Format::List).unwrap();
    let skipped = &imported.report.skipped[&SkipReason::InvalidValue];
    assert_eq!(skipped.count, 25);
    assert_eq!(skipped.examples.len(), MAX_EXAMPLES);
    assert!(imported.report.to_string().contains("… and 15 more"));
}

// ----- CSV -----

#[test]
fn csv_with_type_and_value_columns() {
    let input = "\
uuid,category,type,value,comment,to_ids
1,Network activity,ip-dst,203.0.113.9,\"C2, primary\",1
2,Network activity,domain-name,c2.evil.example,,1
3,Payload delivery,sha256,5D41402ABC4B2A76B9719D911017C592AAF6B1F4D0E9A0C9E2C2B0B1C3D4E5F6,,true
4,Network activity,,\"https://evil.example/a,b\",no type: detected,1
5,Other,text,hello,,1
6,Network activity,domain,context.example,,0
7,Network activity,ipv6-addr,2001:db8::2,,
8,Network activity,url
9,Network activity,email-addr,\"phish\"\"er\"@evil.example,,1
";
    assert_eq!(detect(input.as_bytes()).unwrap(), Format::Csv);
    let imported = run(input, Format::Auto).unwrap();
    assert_valid(&imported);
    let r = &imported.report;
    assert_eq!(r.format, Format::Csv);
    assert_eq!(r.converted, 6, "{r}");
    assert_eq!(count(r, SkipReason::UnsupportedType), 1, "{r}");
    assert_eq!(count(r, SkipReason::NotForIds), 1, "{r}");
    assert_eq!(count(r, SkipReason::InvalidValue), 1, "{r}");
    let b = bundle(&imported);
    let p = patterns(&b);
    assert!(
        p.contains(&"[url:value = 'https://evil.example/a,b']".to_string()),
        "{p:?}"
    );
    assert!(p.contains(&"[domain-name:value = 'c2.evil.example']".to_string()));
    assert!(p.contains(&"[ipv6-addr:value = '2001:db8::2']".to_string()));
    let first = objects_of(&b, "indicator")[0];
    assert_eq!(first["description"], "C2, primary");
    assert_eq!(
        first["labels"],
        json!(["misp:category=\"Network activity\""])
    );
    let text = r.to_string();
    assert!(text.contains("line 6: type `text`"), "{text}");
    assert!(text.contains("line 9: no value"), "{text}");
    // Quoted fields keep their doubled quotes as one.
    assert!(
        p.contains(&"[email-addr:value = 'phish\"er@evil.example']".to_string()),
        "{p:?}"
    );
}

#[test]
fn csv_without_the_columns_is_refused_naming_the_header() {
    match run("ioc,kind\n1.2.3.4,ip\n", Format::Csv) {
        Err(ImportError::Csv { line, message }) => {
            assert_eq!(line, 1);
            assert!(message.contains("`type` and a `value` column"), "{message}");
            assert!(message.contains("ioc,kind"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // Not detected as CSV either: it is not an IOC list.
    assert!(detect(b"ioc,kind\n1.2.3.4,ip\n").is_err());
}

// ----- size and robustness -----

#[test]
fn over_the_limit_is_refused_before_parsing() {
    // 70 MB of (valid) list lines: over the 64 MiB default.
    let line = "198.51.100.1\n";
    let big = line.repeat(70_000_000 / line.len());
    let start = Instant::now();
    let err = import(big.as_bytes(), Format::Auto, &opts()).unwrap_err();
    assert_eq!(
        err,
        ImportError::TooLarge {
            size: big.len(),
            limit: DEFAULT_MAX_BYTES
        }
    );
    assert!(err
        .to_string()
        .contains("over the import limit of 67108864 bytes"));
    assert!(start.elapsed() < Duration::from_secs(1), "refused unparsed");
}

#[test]
fn a_50_mb_list_imports_in_bounded_time_under_a_raised_limit() {
    // ~48 000 distinct 1 KiB URLs: 50 MB in, one indicator per line out.
    let pad = "p".repeat(1000);
    let mut input = String::with_capacity(51_000_000);
    let mut n = 0usize;
    while input.len() < 50_000_000 {
        input.push_str(&format!("https://host-{n}.evil.example/{pad}\n"));
        n += 1;
    }
    let options = Options {
        max_bytes: 80 * 1024 * 1024,
        ..opts()
    };
    let start = Instant::now();
    let mut ticks = 0usize;
    let imported = import_with_progress(input.as_bytes(), Format::Auto, &options, &mut |_| {
        ticks += 1
    })
    .unwrap();
    let took = start.elapsed();
    assert_eq!(imported.report.converted, n);
    assert_eq!(imported.report.skipped_total(), 0);
    assert!(ticks >= 40, "progress every MiB: {ticks}");
    assert!(took < Duration::from_secs(120), "took {took:?}");
}

#[test]
fn progress_reports_both_stages_for_misp() {
    let mut seen = Vec::new();
    import_with_progress(SUPPLIER.as_bytes(), Format::Misp, &opts(), &mut |p| {
        seen.push(p)
    })
    .unwrap();
    assert!(seen
        .iter()
        .any(|p| p.stage == Stage::Parse && p.done == p.total));
    let last = seen.last().unwrap();
    assert_eq!(
        (last.stage, last.done, last.total),
        (Stage::Convert, 23, 23)
    );
}

#[test]
fn value_checks() {
    let ok = |ty: &str, v: &str| pattern_for(ioc_type(ty).unwrap(), v).is_ok();
    assert!(ok("ip-dst", "192.0.2.1"));
    assert!(ok("ip-dst", "192.0.2.0/24"));
    assert!(ok("ip-src", "::1"));
    assert!(!ok("ip-dst", "192.0.2.256"));
    assert!(!ok("ip-dst", "evil.example"));
    assert!(ok("domain", "xn--bcher-kva.example"));
    assert!(ok("domain", "bücher.example"));
    assert!(!ok("domain", "-bad.example"));
    assert!(!ok("domain", "localhost"));
    assert!(!ok("domain", "1.2.3.4"));
    assert!(!ok("md5", "d41d8cd98f00b204e9800998ecf8427"));
    assert!(!ok("sha1", "zz39a3ee5e6b4b0d3255bfef95601890afd80709"));
    assert!(!ok(
        "filename|sha256",
        "|e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    ));
    assert!(!ok("filename|md5", "a.exe"));
    assert!(!ok("ip-dst|port", "192.0.2.1|99999"));
    assert!(!ok("email-src", "no-at.example"));
    assert!(!ok("url", "has space.example/x"));
    assert!(!ok(
        "url",
        &format!("https://x.example/{}", "a".repeat(9000))
    ));
    assert!(!ok("domain", "a\u{0}.example"));
    assert!(ioc_type("yara").is_none());
    assert_eq!(lit(r"a'b\c"), r"'a\'b\\c'");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for format in [Format::Auto, Format::Misp, Format::List, Format::Csv] {
            let _ = import(&bytes, format, &opts());
        }
        let _ = detect(&bytes);
    }

    #[test]
    fn never_panics_on_arbitrary_text(text in "\\PC{0,300}") {
        for format in [Format::Auto, Format::List, Format::Csv] {
            if let Ok(imported) = import(text.as_bytes(), format, &opts()) {
                prop_assert!(content::validate(Kind::Stix, &imported.bundle).is_ok());
            }
        }
    }

    #[test]
    fn never_panics_on_mutated_misp(
        path in prop::sample::select(vec!["type", "value", "to_ids", "deleted", "timestamp", "uuid", "Tag", "distribution", "comment", "category"]),
        replacement in prop_oneof![
            Just(json!(null)), Just(json!(7)), Just(json!(-1)), Just(json!(1e300)), Just(json!("")),
            Just(json!("x'\\\"")), Just(json!([])), Just(json!({})), Just(json!([{"name": 5}])),
            Just(json!("99999999999999999999")), Just(json!(true)), Just(json!("ip-dst|port")),
            "\\PC{0,40}".prop_map(Value::from),
        ],
        index in 0usize..17,
    ) {
        let mut event: Value = serde_json::from_str(SUPPLIER).unwrap();
        event["Event"]["Attribute"][index][path] = replacement;
        let bytes = serde_json::to_vec(&event).unwrap();
        if let Ok(imported) = import(&bytes, Format::Misp, &opts()) {
            prop_assert!(content::validate(Kind::Stix, &imported.bundle).is_ok());
        }
    }
}
