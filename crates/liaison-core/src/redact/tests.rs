//! Every rule on small bundles, a realistic bundle, CSAF, text, the rules'
//! own validation, and properties over random bundles.

use super::*;
use crate::tlp::Tlp;
use proptest::prelude::*;
use serde_json::json;

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

const MARKING: &str = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003";
const T: &str = "2024-05-08T09:00:00.000Z";

/// A STIX id of `ty` numbered `n` (an RFC 4122 version 4 UUID).
fn sid(ty: &str, n: u32) -> String {
    format!("{ty}--{n:08x}-0000-4000-8000-000000000000")
}

fn marking() -> Value {
    json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": MARKING,
        "created": "2022-10-01T00:00:00.000Z",
        "name": "TLP:AMBER+STRICT",
        "extensions": {
            "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                "extension_type": "property-extension",
                "tlp_2_0": "amber+strict"
            }
        }
    })
}

/// A cyber observable with a `value`.
fn sco(ty: &str, n: u32, value: &str) -> Value {
    json!({
        "type": ty,
        "spec_version": "2.1",
        "id": sid(ty, n),
        "value": value,
        "object_marking_refs": [MARKING],
    })
}

/// A versioned object with `extra` properties.
fn sdo(ty: &str, n: u32, extra: Value) -> Value {
    let mut obj = json!({
        "type": ty,
        "spec_version": "2.1",
        "id": sid(ty, n),
        "created": T,
        "modified": T,
        "object_marking_refs": [MARKING],
    });
    if let (Value::Object(o), Value::Object(e)) = (&mut obj, extra) {
        o.extend(e);
    }
    obj
}

fn indicator(n: u32, pattern: &str) -> Value {
    sdo(
        "indicator",
        n,
        json!({
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": T,
            "indicator_types": ["malicious-activity"],
        }),
    )
}

fn relationship(n: u32, source: &str, ty: &str, target: &str) -> Value {
    sdo(
        "relationship",
        n,
        json!({"relationship_type": ty, "source_ref": source, "target_ref": target}),
    )
}

/// A bundle of `objects` after the TLP:AMBER+STRICT marking, pretty-printed
/// (so that "unchanged" means the same bytes, not the same JSON).
fn bundle(objects: Vec<Value>) -> Vec<u8> {
    let mut all = vec![marking()];
    all.extend(objects);
    let b = json!({"type": "bundle", "id": sid("bundle", 1), "objects": all});
    let bytes = serde_json::to_vec_pretty(&b).unwrap();
    content::validate(Kind::Stix, &bytes).unwrap();
    bytes
}

fn objects(bytes: &[u8]) -> Vec<Value> {
    let v: Value = serde_json::from_slice(bytes).unwrap();
    v["objects"].as_array().unwrap().clone()
}

fn ids(bytes: &[u8]) -> Vec<String> {
    objects(bytes)
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

fn object(bytes: &[u8], id: &str) -> Option<Value> {
    objects(bytes).into_iter().find(|o| o["id"] == id)
}

fn has(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Redact a STIX bundle, checking that the output still validates with the
/// same TLP, and that redacting it again changes nothing.
fn stix(bytes: &[u8], rules: &RedactRules) -> Redacted {
    let out = redact(Kind::Stix, bytes, rules).unwrap();
    let before = content::validate(Kind::Stix, bytes).unwrap();
    let after = content::validate(Kind::Stix, &out.content).unwrap();
    assert_eq!(after.max_tlp, before.max_tlp);
    assert_eq!(out.changed(), out.content != bytes);
    let again = redact(Kind::Stix, &out.content, rules).unwrap();
    assert!(
        !again.changed(),
        "redacting twice changed more: {:?}",
        again.removals
    );
    out
}

fn removal(out: &Redacted, rule: &str, action: &str, target: &str) -> Option<Removal> {
    out.removals
        .iter()
        .find(|r| r.rule == rule && r.action == action && r.target == target)
        .cloned()
}

fn count(out: &Redacted, rule: &str, action: &str, target: &str) -> usize {
    removal(out, rule, action, target).map_or(0, |r| r.count)
}

fn internal(mask: bool) -> RedactRules {
    RedactRules {
        internal_cidrs: vec!["10.0.0.0/8".into(), "fd00::/8".into()],
        internal_domains: vec!["corp.acme.example".into()],
        internal: if mask {
            InternalAction::Mask
        } else {
            InternalAction::Remove
        },
        ..RedactRules::default()
    }
}

// ---------------------------------------------------------------------------
// The rules themselves.

#[test]
fn empty_rules_change_nothing_not_even_unreadable_content() {
    let rules = RedactRules::default();
    assert!(rules.is_empty());
    assert!(RedactRules {
        internal: InternalAction::Mask,
        ..RedactRules::default()
    }
    .is_empty());
    for (kind, bytes) in [
        (Kind::Stix, b"not json at all".as_slice()),
        (Kind::Csaf, b"\xff\xfe".as_slice()),
        (Kind::Note, b"\xff".as_slice()),
    ] {
        let out = redact(kind, bytes, &rules).unwrap();
        assert_eq!(out.content, bytes);
        assert!(!out.changed());
        assert_eq!(out.removed_count(), 0);
    }
    for r in [
        RedactRules {
            remove_email_addresses: true,
            ..RedactRules::default()
        },
        RedactRules {
            drop_objects: vec!["note".into()],
            ..RedactRules::default()
        },
        internal(false),
    ] {
        assert!(!r.is_empty());
    }
}

#[test]
fn validate_accepts_sensible_rules() {
    let rules = RedactRules {
        drop_objects: vec!["identity".into(), "x-acme-ticket".into()],
        drop_properties: vec!["description".into(), "x_acme_internal_ticket".into()],
        internal_cidrs: vec![
            "10.0.0.0/8".into(),
            "192.168.0.0/16".into(),
            "fd00::/8".into(),
            "10.20.30.40/32".into(),
        ],
        internal_domains: vec!["corp.acme.example".into(), "internal".into()],
        internal: InternalAction::Mask,
        remove_email_addresses: true,
        personal_data_fields: vec!["contact_information".into(), "x_reporter_name".into()],
    };
    rules.validate().unwrap();
}

#[test]
fn validate_refuses_rules_that_break_content_or_markings() {
    let cases: Vec<(RedactRules, &str, &str)> = vec![
        (
            RedactRules {
                drop_objects: vec!["marking-definition".into()],
                ..RedactRules::default()
            },
            "drop_objects",
            "marking-definition",
        ),
        (
            RedactRules {
                drop_objects: vec!["bundle".into()],
                ..RedactRules::default()
            },
            "drop_objects",
            "bundle",
        ),
        (
            RedactRules {
                drop_objects: vec!["Identity".into()],
                ..RedactRules::default()
            },
            "drop_objects",
            "Identity",
        ),
        (
            RedactRules {
                internal_cidrs: vec!["10.0.0.0/33".into()],
                ..RedactRules::default()
            },
            "internal_cidrs",
            "10.0.0.0/33",
        ),
        (
            RedactRules {
                internal_cidrs: vec!["10.1.2.3".into()],
                ..RedactRules::default()
            },
            "internal_cidrs",
            "10.1.2.3",
        ),
        (
            RedactRules {
                internal_cidrs: vec!["corp.acme.example".into()],
                ..RedactRules::default()
            },
            "internal_cidrs",
            "corp.acme.example",
        ),
        (
            RedactRules {
                internal_cidrs: vec![" 10.0.0.0/8".into()],
                ..RedactRules::default()
            },
            "internal_cidrs",
            " 10.0.0.0/8",
        ),
    ];
    let mut cases = cases;
    for domain in [
        "https://corp.acme.example",
        "corp acme.example",
        "Corp.Acme.Example",
        "*.corp.acme.example",
        "corp.acme.example.",
        "-corp.example",
        "corp..example",
        "",
        "10.1.2.3",
        "jdoe@corp.example",
    ] {
        cases.push((
            RedactRules {
                internal_domains: vec![domain.into()],
                ..RedactRules::default()
            },
            "internal_domains",
            domain,
        ));
    }
    for name in [
        "id",
        "type",
        "spec_version",
        "created",
        "modified",
        "object_marking_refs",
        "granular_markings",
        "pattern",
        "object_refs",
        "source_ref",
        "distribution",
        "document",
        "",
        "has space",
    ] {
        cases.push((
            RedactRules {
                drop_properties: vec![name.into()],
                ..RedactRules::default()
            },
            "drop_properties",
            name,
        ));
        cases.push((
            RedactRules {
                personal_data_fields: vec![name.into()],
                ..RedactRules::default()
            },
            "personal_data_fields",
            name,
        ));
    }
    for (rules, rule, value) in cases {
        let err = rules.validate().unwrap_err();
        let RedactError::InvalidRule {
            rule: r, value: v, ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(r, rule, "{err}");
        assert_eq!(v, &format!("{value:?}"), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(rule), "{msg}");
        // redact() refuses them too, before reading the content.
        assert_eq!(redact(Kind::Stix, b"{}", &rules), Err(err));
    }
}

#[test]
fn rules_keep_their_serde_shape() {
    let rules: RedactRules = serde_json::from_value(json!({
        "drop_objects": ["identity"],
        "internal_cidrs": ["10.0.0.0/8"],
        "internal": "mask",
        "remove_email_addresses": true
    }))
    .unwrap();
    assert_eq!(rules.internal, InternalAction::Mask);
    assert!(rules.drop_properties.is_empty());
    assert!(serde_json::from_value::<RedactRules>(json!({"drop_object": []})).is_err());
    let back = serde_json::to_value(&rules).unwrap();
    assert_eq!(back["internal"], "mask");
    assert_eq!(back["personal_data_fields"], json!([]));
}

// ---------------------------------------------------------------------------
// STIX: each rule.

#[test]
fn nothing_matching_returns_the_same_bytes() {
    let bytes = bundle(vec![
        sco("ipv4-addr", 1, "198.51.100.7"),
        sco("domain-name", 1, "evilcorp.example"),
        sco("domain-name", 2, "corp.acme.example.attacker.example"),
        sco("url", 1, "https://evilcorp.example/corp.acme"),
        indicator(1, "[ipv4-addr:value = '11.1.2.3']"),
        sdo(
            "malware",
            1,
            json!({"name": "x", "is_family": false, "description": "talks to 9.9.9.9"}),
        ),
    ]);
    let mut rules = internal(false);
    rules.drop_objects = vec!["opinion".into()];
    rules.drop_properties = vec!["x_unused".into()];
    for mask in [false, true] {
        rules.internal = if mask {
            InternalAction::Mask
        } else {
            InternalAction::Remove
        };
        let out = redact(Kind::Stix, &bytes, &rules).unwrap();
        assert_eq!(out.content, bytes);
        assert!(out.removals.is_empty());
        assert!(!out.changed());
    }
}

#[test]
fn drop_objects_removes_them_and_references_to_them() {
    let identity = sid("identity", 1);
    let mut ind = indicator(1, "[ipv4-addr:value = '198.51.100.7']");
    ind["created_by_ref"] = json!(identity);
    let bytes = bundle(vec![
        sdo(
            "identity",
            1,
            json!({"name": "ACME", "identity_class": "organization"}),
        ),
        ind,
        sdo(
            "note",
            1,
            json!({"content": "seen", "object_refs": [sid("indicator", 1)]}),
        ),
        sdo(
            "note",
            2,
            json!({"content": "who", "object_refs": [identity.clone()]}),
        ),
    ]);
    let rules = RedactRules {
        drop_objects: vec!["identity".into()],
        ..RedactRules::default()
    };
    let out = stix(&bytes, &rules);
    assert_eq!(
        ids(&out.content),
        vec![MARKING.to_string(), sid("indicator", 1), sid("note", 1)]
    );
    assert!(!has(&out.content, &identity));
    assert_eq!(
        removal(&out, "drop_objects", "removed", "identity").unwrap(),
        Removal {
            rule: "drop_objects".into(),
            action: "removed".into(),
            target: "identity".into(),
            count: 1,
            ids: vec![identity.clone()],
        }
    );
    assert_eq!(
        count(
            &out,
            "dangling_reference",
            "removed",
            "reference `created_by_ref`"
        ),
        1
    );
    assert_eq!(count(&out, "dangling_reference", "removed", "note"), 1);
    assert_eq!(out.removed_count(), 3);
}

#[test]
fn property_rules_remove_top_level_properties_under_their_own_names() {
    let bytes = bundle(vec![
        sdo(
            "identity",
            1,
            json!({
                "name": "ACME",
                "identity_class": "organization",
                "contact_information": "+1 555 0100",
                "description": "us",
                "x_acme_ticket": "INC-1",
            }),
        ),
        sdo(
            "malware",
            1,
            json!({"name": "x", "is_family": false, "description": "bad", "x_acme_ticket": "INC-2"}),
        ),
    ]);
    let rules = RedactRules {
        drop_properties: vec!["description".into(), "x_acme_ticket".into()],
        personal_data_fields: vec!["contact_information".into(), "description".into()],
        ..RedactRules::default()
    };
    let out = stix(&bytes, &rules);
    for o in objects(&out.content).iter().skip(1) {
        for gone in ["description", "x_acme_ticket", "contact_information"] {
            assert!(o.get(gone).is_none(), "{o}");
        }
        assert!(o.get("name").is_some());
        assert_eq!(o["object_marking_refs"], json!([MARKING]));
    }
    assert_eq!(
        count(&out, "drop_properties", "removed", "property `description`"),
        2
    );
    assert_eq!(
        count(
            &out,
            "drop_properties",
            "removed",
            "property `x_acme_ticket`"
        ),
        2
    );
    assert_eq!(
        count(
            &out,
            "personal_data_fields",
            "removed",
            "property `contact_information`"
        ),
        1
    );
    // A property in both lists is counted once, under drop_properties.
    assert_eq!(
        count(
            &out,
            "personal_data_fields",
            "removed",
            "property `description`"
        ),
        0
    );
    // The marking definition keeps its name.
    assert_eq!(object(&out.content, MARKING), Some(marking()));
}

#[test]
fn internal_addresses_are_removed_including_overlapping_networks() {
    let cases = [
        ("10.1.2.3", true),
        ("10.255.255.255", true),
        ("10.0.0.0/8", true),
        ("10.1.2.0/24", true),
        ("10.0.0.0/7", true), // contains the internal network: overlaps
        ("0.0.0.0/0", true),
        ("010.001.002.003", true), // leading zeros
        ("11.0.0.0/8", false),
        ("9.255.255.255", false),
        ("198.51.100.7", false),
        ("not an address", false),
    ];
    let objs: Vec<Value> = (1u32..)
        .zip(cases)
        .map(|(n, (v, _))| sco("ipv4-addr", n, v))
        .collect();
    let bytes = bundle(objs);
    let out = stix(&bytes, &internal(false));
    for (n, (v, inside)) in (1u32..).zip(cases) {
        let kept = object(&out.content, &sid("ipv4-addr", n)).is_some();
        assert_eq!(kept, !inside, "{v}");
    }
    let r = removal(&out, "internal_cidrs", "removed", "ipv4-addr object").unwrap();
    assert_eq!(r.count, 7);
    assert_eq!(r.ids.len(), 7);
    assert_eq!(r.ids[0], sid("ipv4-addr", 1));
}

#[test]
fn mask_mode_keeps_observables_with_only_the_block_or_domain() {
    let bytes = bundle(vec![
        sco("ipv4-addr", 1, "10.1.2.3"),
        sco("ipv4-addr", 2, "10.1.2.0/24"),
        sco("ipv6-addr", 1, "fd12:3456::1"),
        sco("domain-name", 1, "db1.corp.acme.example"),
        sco("domain-name", 2, "DB2.Corp.ACME.example."),
        sco(
            "url",
            1,
            "https://db1.corp.acme.example:8443/hr/login?next=/",
        ),
        sco("url", 2, "http://10.1.2.3/admin"),
        sco("email-addr", 1, "jdoe@mail.corp.acme.example"),
        sco("email-addr", 2, "jdoe@partner.example"),
        sco("ipv4-addr", 3, "198.51.100.7"),
    ]);
    let out = stix(&bytes, &internal(true));
    let value = |ty: &str, n: u32| {
        object(&out.content, &sid(ty, n)).unwrap()["value"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(value("ipv4-addr", 1), "10.0.0.0/8");
    assert_eq!(value("ipv4-addr", 2), "10.0.0.0/8");
    assert_eq!(value("ipv6-addr", 1), "fd00::/8");
    assert_eq!(value("domain-name", 1), "corp.acme.example");
    assert_eq!(value("domain-name", 2), "corp.acme.example");
    assert_eq!(
        value("url", 1),
        "https://corp.acme.example:8443/hr/login?next=/"
    );
    assert_eq!(value("url", 2), "http://10.0.0.0%2F8/admin");
    assert_eq!(value("email-addr", 1), "redacted@corp.acme.example");
    assert_eq!(value("email-addr", 2), "jdoe@partner.example");
    assert_eq!(value("ipv4-addr", 3), "198.51.100.7");
    assert_eq!(ids(&out.content).len(), 11);
    assert!(!has(&out.content, "10.1.2."));
    assert!(!has(&out.content, "db1"));
    assert_eq!(
        count(&out, "internal_cidrs", "masked", "ipv4-addr object"),
        2
    );
    assert_eq!(
        count(&out, "internal_cidrs", "masked", "ipv6-addr object"),
        1
    );
    assert_eq!(count(&out, "internal_cidrs", "masked", "url object"), 1);
    assert_eq!(count(&out, "internal_domains", "masked", "url object"), 1);
    assert_eq!(
        count(&out, "internal_domains", "masked", "domain-name object"),
        2
    );
    assert_eq!(
        count(&out, "internal_domains", "masked", "email-addr object"),
        1
    );
    assert!(out.removals.iter().all(|r| r.action == "masked"));
}

#[test]
fn masks_use_the_broadest_matching_network_or_domain() {
    let rules = RedactRules {
        internal_cidrs: vec!["10.20.0.0/16".into(), "10.0.0.0/8".into()],
        internal_domains: vec!["db.corp.acme.example".into(), "acme.example".into()],
        internal: InternalAction::Mask,
        ..RedactRules::default()
    };
    let bytes = bundle(vec![
        sco("ipv4-addr", 1, "10.20.1.1"),
        sco("domain-name", 1, "x.db.corp.acme.example"),
    ]);
    let out = stix(&bytes, &rules);
    assert_eq!(
        object(&out.content, &sid("ipv4-addr", 1)).unwrap()["value"],
        "10.0.0.0/8"
    );
    assert_eq!(
        object(&out.content, &sid("domain-name", 1)).unwrap()["value"],
        "acme.example"
    );
}

#[test]
fn domains_match_whole_labels_and_any_case() {
    let cases = [
        ("corp.acme.example", true),
        ("db1.corp.acme.example", true),
        ("a.b.c.corp.acme.example", true),
        ("DB1.CORP.ACME.EXAMPLE", true),
        ("db1.corp.acme.example.", true),
        ("evilcorp.acme.example", false),
        ("corp.acme.example.attacker.example", false),
        ("acme.example", false),
        ("xcorp.acme.example", false),
    ];
    let rules = RedactRules {
        internal_domains: vec!["corp.acme.example".into(), "corp.example".into()],
        ..RedactRules::default()
    };
    let mut objs: Vec<Value> = (1u32..)
        .zip(cases)
        .map(|(n, (v, _))| sco("domain-name", n, v))
        .collect();
    objs.push(sco("domain-name", 100, "evilcorp.example"));
    let out = stix(&bundle(objs), &rules);
    for (n, (v, inside)) in (1u32..).zip(cases) {
        assert_eq!(
            object(&out.content, &sid("domain-name", n)).is_none(),
            inside,
            "{v}"
        );
    }
    assert!(object(&out.content, &sid("domain-name", 100)).is_some());
}

#[test]
fn urls_are_judged_by_their_host_however_it_is_written() {
    let cases = [
        ("http://db1.corp.acme.example/", true),
        ("https://user:pw@db1.corp.acme.example:8080/x", true),
        ("http://DB1.CORP.acme.example", true),
        ("http://db1%2Ecorp.acme.example/", true),
        ("http://10.1.2.3:8080/", true),
        ("http://167772161/", true),  // 10.0.0.1 as one number
        ("http://0x0a.1.2.3/", true), // hex part
        ("http://012.1.2.3/", true),  // octal part: 10.1.2.3
        ("http://[fd00::1]:443/", true),
        ("http://db1.corp.acme.example@evil.example/", false),
        ("https://evil.example/", false),
        ("https://198.51.100.7/", false),
    ];
    let objs: Vec<Value> = (1u32..)
        .zip(cases)
        .map(|(n, (v, _))| sco("url", n, v))
        .collect();
    let out = stix(&bundle(objs), &internal(false));
    for (n, (v, inside)) in (1u32..).zip(cases) {
        assert_eq!(
            object(&out.content, &sid("url", n)).is_none(),
            inside,
            "{v}"
        );
    }
}

#[test]
fn external_urls_naming_internal_values_keep_the_ioc_with_those_values_masked() {
    let bytes = bundle(vec![sco(
        "url",
        1,
        "https://evil.example/c2?victim=db1.corp.acme.example&ip=10.1.2.3",
    )]);
    let out = stix(&bytes, &internal(false));
    assert_eq!(
        object(&out.content, &sid("url", 1)).unwrap()["value"],
        "https://evil.example/c2?victim=corp.acme.example&ip=10.0.0.0/8"
    );
    assert_eq!(
        count(
            &out,
            "internal_domains",
            "masked",
            "internal host name in text"
        ),
        1
    );
    assert_eq!(
        count(
            &out,
            "internal_cidrs",
            "masked",
            "internal IP address in text"
        ),
        1
    );
}

#[test]
fn ipv6_networks_and_ipv4_mapped_addresses() {
    let bytes = bundle(vec![
        sco("ipv6-addr", 1, "fd12:3456::1"),
        sco("ipv6-addr", 2, "FD00:0:0::abcd"),
        sco("ipv6-addr", 3, "fd00::/7"),
        sco("ipv6-addr", 4, "::ffff:10.1.2.3"),
        sco("ipv6-addr", 5, "2001:db8::1"),
        sco("ipv6-addr", 6, "fe80::1%eth0"),
        sco("ipv4-addr", 1, "10.9.9.9"),
        indicator(1, "[ipv6-addr:value = 'fd00:1::2']"),
        indicator(2, "[ipv6-addr:value ISSUBSET '2001:db8::/32']"),
    ]);
    let mut rules = internal(false);
    rules.internal_cidrs.push("fe80::/10".into());
    let out = stix(&bytes, &rules);
    let kept: Vec<String> = ids(&out.content);
    for (id, want) in [
        (sid("ipv6-addr", 1), false),
        (sid("ipv6-addr", 2), false),
        (sid("ipv6-addr", 3), false),
        (sid("ipv6-addr", 4), false),
        (sid("ipv6-addr", 5), true),
        (sid("ipv6-addr", 6), false),
        (sid("ipv4-addr", 1), false),
        (sid("indicator", 1), false),
        (sid("indicator", 2), true),
    ] {
        assert_eq!(kept.contains(&id), want, "{id}");
    }
    // Masked, an IPv4-mapped address keeps the IPv6 family.
    let masked = stix(
        &bundle(vec![sco("ipv6-addr", 4, "::ffff:10.1.2.3")]),
        &internal(true),
    );
    assert_eq!(
        object(&masked.content, &sid("ipv6-addr", 4)).unwrap()["value"],
        "::ffff:10.0.0.0/104"
    );
}

#[test]
fn indicators_naming_internal_values_are_removed() {
    let patterns = [
        ("[ipv4-addr:value = '10.1.2.3']", true),
        ("[ipv4-addr:value ISSUBSET '10.1.0.0/16']", true),
        ("[network-traffic:dst_ref.value = '10.1.2.3']", true),
        ("[domain-name:value = 'db1.corp.acme.example']", true),
        ("[domain-name:value = 'DB1.Corp.Acme.Example']", true),
        ("[url:value = 'http://db1.corp.acme.example/x']", true),
        ("[email-addr:value = 'jdoe@corp.acme.example']", true),
        (
            "[ipv4-addr:value = '198.51.100.7'] OR [domain-name:value = 'db1.corp.acme.example']",
            true,
        ),
        (
            "[domain-name:value MATCHES '^db[0-9]+\\\\.corp\\\\.acme\\\\.example$']",
            true,
        ),
        ("[ipv4-addr:value = '198.51.100.7']", false),
        ("[domain-name:value = 'evilcorp.example']", false),
        (
            "[domain-name:value = 'corp.acme.example.attacker.example']",
            false,
        ),
        ("[email-addr:value = 'jdoe@partner.example']", false),
    ];
    let objs: Vec<Value> = (1u32..)
        .zip(patterns)
        .map(|(n, (p, _))| indicator(n, p))
        .collect();
    let out = stix(&bundle(objs), &internal(false));
    for (n, (p, internal)) in (1u32..).zip(patterns) {
        assert_eq!(
            object(&out.content, &sid("indicator", n)).is_none(),
            internal,
            "{p}"
        );
    }
    assert_eq!(count(&out, "internal_cidrs", "removed", "indicator"), 3);
    assert_eq!(count(&out, "internal_domains", "removed", "indicator"), 6);
}

#[test]
fn mask_mode_rewrites_pattern_literals_and_keeps_the_pattern_valid() {
    let cases = [
        (
            "[ipv4-addr:value = '10.1.2.3']",
            "[ipv4-addr:value = '10.0.0.0/8']",
        ),
        (
            "[domain-name:value = 'db1.corp.acme.example' AND ipv4-addr:value = '198.51.100.7']",
            "[domain-name:value = 'corp.acme.example' AND ipv4-addr:value = '198.51.100.7']",
        ),
        (
            "[url:value = 'http://db1.corp.acme.example/it\\'s']",
            "[url:value = 'http://corp.acme.example/it\\'s']",
        ),
        (
            "[email-addr:value = 'jdoe@corp.acme.example']",
            "[email-addr:value = 'redacted@corp.acme.example']",
        ),
        // A name inside other text is masked where it stands; escapes survive.
        (
            "[file:name = 'O\\'Brien\\\\db1.corp.acme.example.log']",
            "[file:name = 'O\\'Brien\\\\corp.acme.example.log']",
        ),
        // What looks like a second comparison is inside one literal.
        (
            "[file:name = 'a\\' OR ipv4-addr:value = \\'10.1.2.3']",
            "[file:name = 'a\\' OR ipv4-addr:value = \\'10.0.0.0/8']",
        ),
    ];
    let objs: Vec<Value> = (1u32..)
        .zip(cases)
        .map(|(n, (p, _))| indicator(n, p))
        .collect();
    let out = stix(&bundle(objs), &internal(true));
    for (n, (_, want)) in (1u32..).zip(cases) {
        let ind = object(&out.content, &sid("indicator", n)).unwrap();
        assert_eq!(ind["pattern"], want);
        assert_eq!(
            pattern_literals(want).iter().filter(|l| !l.closed).count(),
            0
        );
    }
    assert_eq!(
        count(
            &out,
            "internal_domains",
            "masked",
            "literal in indicator pattern"
        ),
        4
    );
    assert_eq!(
        count(
            &out,
            "internal_cidrs",
            "masked",
            "literal in indicator pattern"
        ),
        2
    );
}

#[test]
fn mask_mode_removes_indicators_it_cannot_mask() {
    let bytes = bundle(vec![
        indicator(
            1,
            "[domain-name:value MATCHES '^db[0-9]+\\\\.corp\\\\.acme\\\\.example$']",
        ),
        indicator(2, "[ipv4-addr:value = '10.1.2.3"), // unterminated
    ]);
    let out = redact(Kind::Stix, &bytes, &internal(true)).unwrap();
    assert_eq!(ids(&out.content), vec![MARKING.to_string()]);
    assert_eq!(count(&out, "internal_domains", "removed", "indicator"), 1);
    assert_eq!(count(&out, "internal_cidrs", "removed", "indicator"), 1);
}

#[test]
fn pattern_literals_resolve_escapes() {
    let p = r"[file:name = 'it\'s' AND file:x = 'a\\b' AND file:y = 'c\d'] OR [x:y = 'open";
    let lits = pattern_literals(p);
    let values: Vec<&str> = lits.iter().map(|l| l.value.as_str()).collect();
    assert_eq!(values, vec!["it's", r"a\b", r"c\d", "open"]);
    assert!(lits[..3].iter().all(|l| l.closed));
    assert!(!lits[3].closed);
    assert_eq!(&p[lits[0].start..lits[0].end], r"'it\'s'");
    assert_eq!(&p[lits[1].start..lits[1].end], r"'a\\b'");
    assert_eq!(quote_literal("it's a\\b"), r"'it\'s a\\b'");
    assert!(pattern_literals("[ipv4-addr:value = '']")[0]
        .value
        .is_empty());
}

#[test]
fn other_pattern_languages_are_scanned_as_text() {
    let mut snort = indicator(
        1,
        "alert tcp 10.1.2.3 any -> $EXTERNAL_NET 443 (msg:\"x\";)",
    );
    snort["pattern_type"] = json!("snort");
    let mut sigma = indicator(2, "detection: {sel: {DestinationHostname: 'evil.example'}}");
    sigma["pattern_type"] = json!("sigma");
    let bytes = bundle(vec![snort, sigma]);
    let removed = stix(&bytes, &internal(false));
    assert_eq!(
        ids(&removed.content),
        vec![MARKING.to_string(), sid("indicator", 2)]
    );
    let masked = stix(&bytes, &internal(true));
    assert_eq!(
        object(&masked.content, &sid("indicator", 1)).unwrap()["pattern"],
        "alert tcp 10.0.0.0/8 any -> $EXTERNAL_NET 443 (msg:\"x\";)"
    );
    assert_eq!(
        count(
            &masked,
            "internal_cidrs",
            "masked",
            "text in indicator pattern"
        ),
        1
    );
}

#[test]
fn remove_email_addresses_everywhere() {
    let addr = sid("email-addr", 1);
    let bytes = bundle(vec![
        sco("email-addr", 1, "jdoe@acme.example"),
        json!({
            "type": "email-message",
            "spec_version": "2.1",
            "id": sid("email-message", 1),
            "is_multipart": false,
            "from_ref": addr,
            "to_refs": [addr],
            "subject": "Invoice from billing@evil.example",
        }),
        indicator(1, "[email-message:from_ref.value = 'x@evil.example']"),
        indicator(2, "[email-addr:value MATCHES '.*']"),
        indicator(3, "[user-account:account_login = 'root@evil.example']"),
        indicator(4, "[email-message:subject = 'pay me']"),
        indicator(5, "[ipv4-addr:value = '198.51.100.7']"),
        sdo(
            "identity",
            1,
            json!({
                "name": "J. Doe <jdoe@acme.example>",
                "identity_class": "individual",
                "contact_information": "jdoe@acme.example, +1 555 0100",
                "x_acme_reporter": ["mary.major+soc@acme.example"],
                "description": "Talk to @jdoe on chat; not an address: a@b",
            }),
        ),
    ]);
    let rules = RedactRules {
        remove_email_addresses: true,
        ..RedactRules::default()
    };
    let out = stix(&bytes, &rules);
    assert!(!has(&out.content, "@acme.example"));
    assert!(!has(&out.content, "@evil.example"));
    assert_eq!(
        ids(&out.content),
        vec![
            MARKING.to_string(),
            sid("email-message", 1),
            sid("indicator", 4),
            sid("indicator", 5),
            sid("identity", 1),
        ]
    );
    let msg = object(&out.content, &sid("email-message", 1)).unwrap();
    assert!(msg.get("from_ref").is_none() && msg.get("to_refs").is_none());
    assert_eq!(msg["subject"], "Invoice from [email removed]");
    let who = object(&out.content, &sid("identity", 1)).unwrap();
    assert_eq!(who["name"], "J. Doe <[email removed]>");
    assert_eq!(who["contact_information"], "[email removed], +1 555 0100");
    assert_eq!(who["x_acme_reporter"], json!(["[email removed]"]));
    assert_eq!(
        who["description"],
        "Talk to @jdoe on chat; not an address: a@b"
    );
    assert_eq!(
        count(
            &out,
            "remove_email_addresses",
            "removed",
            "email-addr object"
        ),
        1
    );
    assert_eq!(
        count(&out, "remove_email_addresses", "removed", "indicator"),
        3
    );
    assert_eq!(
        count(
            &out,
            "remove_email_addresses",
            "masked",
            "e-mail address in text"
        ),
        4
    );
    assert_eq!(
        count(
            &out,
            "dangling_reference",
            "removed",
            "reference `from_ref`"
        ),
        1
    );
    assert_eq!(
        count(
            &out,
            "dangling_reference",
            "removed",
            "reference in `to_refs`"
        ),
        1
    );
}

#[test]
fn internal_values_in_free_text_are_masked_in_both_modes() {
    let bytes = bundle(vec![sdo(
        "malware",
        1,
        json!({
            "name": "x",
            "is_family": false,
            "description": "Beacons from 10.1.2.3 and [fd00::17]:443 to db1.corp.acme.example; mail jdoe@corp.acme.example; not evilcorp.example",
            "external_references": [{"source_name": "wiki", "url": "https://wiki.corp.acme.example/INC-1"}],
            "x_acme_hosts": {"primary": "DB2.corp.acme.example"},
        }),
    )]);
    for mask in [false, true] {
        let out = stix(&bytes, &internal(mask));
        let m = object(&out.content, &sid("malware", 1)).unwrap();
        assert_eq!(
            m["description"],
            "Beacons from 10.0.0.0/8 and [fd00::/8]:443 to corp.acme.example; mail redacted@corp.acme.example; not evilcorp.example"
        );
        assert_eq!(
            m["external_references"][0]["url"],
            "https://corp.acme.example/INC-1"
        );
        assert_eq!(m["x_acme_hosts"]["primary"], "corp.acme.example");
        assert_eq!(
            removal(
                &out,
                "internal_cidrs",
                "masked",
                "internal IP address in text"
            )
            .unwrap()
            .ids,
            vec![sid("malware", 1)]
        );
        assert_eq!(
            count(
                &out,
                "internal_domains",
                "masked",
                "internal host name in text"
            ),
            3
        );
        assert_eq!(
            count(&out, "internal_domains", "masked", "e-mail address in text"),
            1
        );
    }
}

#[test]
fn references_to_removed_objects_are_removed_until_stable() {
    let ip = sid("ipv4-addr", 1);
    let ind = sid("indicator", 1);
    let ok = sid("indicator", 2);
    let mal = sid("malware", 1);
    let od = sid("observed-data", 1);
    let report = sid("report", 1);
    let mut sighting_kept = sdo(
        "sighting",
        2,
        json!({"sighting_of_ref": ok, "observed_data_refs": [od], "where_sighted_refs": [sid("identity", 1)]}),
    );
    sighting_kept["count"] = json!(3);
    let bytes = bundle(vec![
        sco("ipv4-addr", 1, "10.1.2.3"),
        sco("ipv4-addr", 2, "198.51.100.7"),
        json!({
            "type": "network-traffic", "spec_version": "2.1", "id": sid("network-traffic", 1),
            "dst_ref": ip, "protocols": ["tcp"],
        }),
        json!({
            "type": "network-traffic", "spec_version": "2.1", "id": sid("network-traffic", 2),
            "src_ref": ip, "dst_ref": sid("ipv4-addr", 2), "protocols": ["tcp"],
        }),
        indicator(1, "[ipv4-addr:value = '10.1.2.3']"),
        indicator(2, "[ipv4-addr:value = '198.51.100.7']"),
        sdo(
            "identity",
            1,
            json!({"name": "ACME", "identity_class": "organization"}),
        ),
        sdo("malware", 1, json!({"name": "x", "is_family": false})),
        relationship(1, &ind, "indicates", &mal),
        relationship(2, &ok, "indicates", &mal),
        relationship(3, &mal, "communicates-with", &ip),
        sdo("sighting", 1, json!({"sighting_of_ref": ind})),
        sighting_kept,
        sdo(
            "observed-data",
            1,
            json!({"first_observed": T, "last_observed": T, "number_observed": 1, "object_refs": [ip]}),
        ),
        sdo(
            "observed-data",
            2,
            json!({"first_observed": T, "last_observed": T, "number_observed": 1, "object_refs": [ip, sid("ipv4-addr", 2)]}),
        ),
        sdo(
            "report",
            1,
            json!({"name": "r", "published": T, "object_refs": [ind, od]}),
        ),
        sdo(
            "grouping",
            1,
            json!({"context": "suspicious-activity", "object_refs": [report]}),
        ),
        sdo(
            "opinion",
            1,
            json!({"opinion": "agree", "object_refs": [sid("grouping", 1)]}),
        ),
        sdo(
            "report",
            2,
            json!({"name": "r2", "published": T, "object_refs": [ind, ok, sid("relationship", 1)]}),
        ),
    ]);
    let out = stix(&bytes, &internal(false));
    let kept = ids(&out.content);
    for gone in [
        &ip,
        &ind,
        &sid("network-traffic", 1),
        &sid("relationship", 1),
        &sid("relationship", 3),
        &sid("sighting", 1),
        &od,
        &report,
        &sid("grouping", 1),
        &sid("opinion", 1),
    ] {
        assert!(!kept.contains(gone), "{gone} kept");
        assert!(!has(&out.content, gone), "{gone} still referenced");
    }
    for stays in [
        &ok,
        &mal,
        &sid("relationship", 2),
        &sid("sighting", 2),
        &sid("observed-data", 2),
        &sid("report", 2),
        &sid("network-traffic", 2),
        &sid("identity", 1),
    ] {
        assert!(kept.contains(stays), "{stays} removed");
    }
    let s2 = object(&out.content, &sid("sighting", 2)).unwrap();
    assert!(s2.get("observed_data_refs").is_none());
    assert_eq!(s2["where_sighted_refs"], json!([sid("identity", 1)]));
    let r2 = object(&out.content, &sid("report", 2)).unwrap();
    assert_eq!(r2["object_refs"], json!([ok]));
    let nt = object(&out.content, &sid("network-traffic", 2)).unwrap();
    assert!(nt.get("src_ref").is_none());
    assert_eq!(
        object(&out.content, &sid("observed-data", 2)).unwrap()["object_refs"],
        json!([sid("ipv4-addr", 2)])
    );
    let dangling = |target: &str| count(&out, "dangling_reference", "removed", target);
    assert_eq!(dangling("relationship"), 2);
    assert_eq!(dangling("sighting"), 1);
    assert_eq!(dangling("observed-data"), 1);
    assert_eq!(dangling("report"), 1);
    assert_eq!(dangling("grouping"), 1);
    assert_eq!(dangling("opinion"), 1);
    assert_eq!(dangling("network-traffic object"), 1);
    assert_eq!(dangling("reference in `object_refs`"), 3);
    assert_eq!(dangling("reference in `observed_data_refs`"), 1);
    assert_eq!(dangling("reference `src_ref`"), 1);
}

#[test]
fn markings_always_survive() {
    // A custom marking created by an identity that is dropped, and objects
    // with granular markings: no marking or marking reference is lost.
    let custom = "marking-definition--aaaaaaaa-0000-4000-8000-000000000000";
    let statement = json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": custom,
        "created": T,
        "created_by_ref": sid("identity", 1),
        "definition_type": "statement",
        "name": "ACME internal ops contact soc@acme.example at 10.1.2.3",
        "definition": {"statement": "Copyright ACME"},
    });
    let mut ind = indicator(1, "[ipv4-addr:value = '198.51.100.7']");
    ind["granular_markings"] = json!([{"marking_ref": custom, "selectors": ["description"]}]);
    ind["description"] = json!("secret");
    let bytes = bundle(vec![
        statement.clone(),
        sdo(
            "identity",
            1,
            json!({"name": "ACME", "identity_class": "organization"}),
        ),
        ind,
    ]);
    let rules = RedactRules {
        drop_objects: vec!["identity".into()],
        drop_properties: vec!["description".into(), "name".into(), "definition".into()],
        remove_email_addresses: true,
        ..internal(false)
    };
    let out = stix(&bytes, &rules);
    assert_eq!(object(&out.content, MARKING), Some(marking()));
    // Its free text is masked like any other; what it is stays.
    let mut masked = statement;
    masked["name"] = json!("ACME internal ops contact [email removed] at 10.0.0.0/8");
    assert_eq!(object(&out.content, custom), Some(masked));
    let ind = object(&out.content, &sid("indicator", 1)).unwrap();
    assert_eq!(ind["object_marking_refs"], json!([MARKING]));
    assert_eq!(
        ind["granular_markings"],
        json!([{"marking_ref": custom, "selectors": ["description"]}])
    );
    assert!(ind.get("description").is_none());
}

/// A bundle like tests/data/stix-indicator-for-c2-ip-address.json, with
/// internal and external indicators, observables and what refers to them.
fn realistic_bundle() -> Vec<u8> {
    let identity = sid("identity", 1);
    let with_creator = |mut v: Value| {
        v["created_by_ref"] = json!(identity);
        v
    };
    let c2 = |n: u32, name: &str, pattern: &str| {
        let mut i = indicator(n, pattern);
        i["name"] = json!(name);
        i["description"] = json!("Test description C2 channel.");
        with_creator(i)
    };
    bundle(vec![
        sdo(
            "identity",
            1,
            json!({
                "name": "ACME Corp SOC",
                "identity_class": "organization",
                "contact_information": "soc@acme.example",
            }),
        ),
        c2(
            1,
            "IP Address for known C2 channel",
            "[ipv4-addr:value = '198.51.100.7']",
        ),
        c2(
            2,
            "Internal host beaconing",
            "[ipv4-addr:value = '10.1.2.3']",
        ),
        c2(
            3,
            "Internal DB contacted",
            "[domain-name:value = 'db1.corp.acme.example']",
        ),
        c2(
            4,
            "Lookalike domain",
            "[domain-name:value = 'evilcorp.example']",
        ),
        c2(
            5,
            "Phishing sender",
            "[email-addr:value = 'ceo@evilcorp.example']",
        ),
        with_creator(sdo(
            "malware",
            1,
            json!({
                "name": "BadRAT",
                "is_family": true,
                "description": "Seen on 10.1.2.3, C2 198.51.100.7; reported by jdoe@acme.example",
            }),
        )),
        relationship(1, &sid("indicator", 1), "indicates", &sid("malware", 1)),
        relationship(2, &sid("indicator", 2), "indicates", &sid("malware", 1)),
        relationship(3, &sid("indicator", 3), "indicates", &sid("malware", 1)),
        sco("ipv4-addr", 1, "198.51.100.7"),
        sco("ipv4-addr", 2, "10.1.2.3"),
        sco("domain-name", 1, "db1.corp.acme.example"),
        sco("domain-name", 2, "evilcorp.example"),
        sco("email-addr", 1, "jdoe@acme.example"),
        with_creator(sdo(
            "observed-data",
            1,
            json!({"first_observed": T, "last_observed": T, "number_observed": 4, "object_refs": [sid("ipv4-addr", 2), sid("domain-name", 1)]}),
        )),
        with_creator(sdo(
            "observed-data",
            2,
            json!({"first_observed": T, "last_observed": T, "number_observed": 1, "object_refs": [sid("ipv4-addr", 1), sid("ipv4-addr", 2), sid("email-addr", 1)]}),
        )),
        with_creator(sdo(
            "sighting",
            1,
            json!({"sighting_of_ref": sid("indicator", 1), "observed_data_refs": [sid("observed-data", 1), sid("observed-data", 2)], "where_sighted_refs": [identity]}),
        )),
        with_creator(sdo(
            "sighting",
            2,
            json!({"sighting_of_ref": sid("indicator", 2), "where_sighted_refs": [identity]}),
        )),
        with_creator(sdo(
            "report",
            1,
            json!({"name": "Internal exposure", "published": T, "object_refs": [sid("indicator", 2), sid("indicator", 3), sid("observed-data", 1)]}),
        )),
        with_creator(sdo(
            "report",
            2,
            json!({"name": "BadRAT C2", "published": T, "object_refs": [sid("indicator", 1), sid("indicator", 2), sid("malware", 1), sid("relationship", 2)]}),
        )),
    ])
}

#[test]
fn realistic_bundle_keeps_external_iocs_and_loses_every_internal_value() {
    let bytes = realistic_bundle();
    let rules = RedactRules {
        remove_email_addresses: true,
        ..internal(false)
    };
    let out = stix(&bytes, &rules);
    for secret in [
        "10.1.2.3",
        "corp.acme.example",
        "jdoe@",
        "soc@acme.example",
        "ceo@evilcorp.example",
    ] {
        assert!(!has(&out.content, secret), "{secret} survived");
    }
    for kept in ["198.51.100.7", "evilcorp.example", "BadRAT"] {
        assert!(has(&out.content, kept), "{kept} lost");
    }
    let kept = ids(&out.content);
    assert_eq!(
        kept,
        vec![
            MARKING.to_string(),
            sid("identity", 1),
            sid("indicator", 1),
            sid("indicator", 4),
            sid("malware", 1),
            sid("relationship", 1),
            sid("ipv4-addr", 1),
            sid("domain-name", 2),
            sid("observed-data", 2),
            sid("sighting", 1),
            sid("report", 2),
        ]
    );
    // Every surviving object keeps its marking, and the marking is intact.
    for o in objects(&out.content) {
        if o["type"] != "marking-definition" {
            assert_eq!(o["object_marking_refs"], json!([MARKING]), "{o}");
        }
    }
    assert_eq!(object(&out.content, MARKING), Some(marking()));
    let info = content::validate(Kind::Stix, &out.content).unwrap();
    assert_eq!(info.max_tlp, Some(Tlp::AmberStrict));
    assert_eq!(
        object(&out.content, &sid("report", 2)).unwrap()["object_refs"],
        json!([sid("indicator", 1), sid("malware", 1)])
    );
    assert_eq!(
        object(&out.content, &sid("sighting", 1)).unwrap()["observed_data_refs"],
        json!([sid("observed-data", 2)])
    );
    assert_eq!(
        object(&out.content, &sid("malware", 1)).unwrap()["description"],
        "Seen on 10.0.0.0/8, C2 198.51.100.7; reported by [email removed]"
    );
    // The summary, in order, without values.
    let summary: Vec<(String, String, String, usize)> = out
        .removals
        .iter()
        .map(|r| (r.rule.clone(), r.action.clone(), r.target.clone(), r.count))
        .collect();
    let s = |rule: &str, action: &str, target: &str, n: usize| {
        (rule.to_string(), action.to_string(), target.to_string(), n)
    };
    assert_eq!(
        summary,
        vec![
            s("dangling_reference", "removed", "observed-data", 1),
            s(
                "dangling_reference",
                "removed",
                "reference in `object_refs`",
                4
            ),
            s(
                "dangling_reference",
                "removed",
                "reference in `observed_data_refs`",
                1
            ),
            s("dangling_reference", "removed", "relationship", 2),
            s("dangling_reference", "removed", "report", 1),
            s("dangling_reference", "removed", "sighting", 1),
            s("internal_cidrs", "removed", "indicator", 1),
            s("internal_cidrs", "masked", "internal IP address in text", 1),
            s("internal_cidrs", "removed", "ipv4-addr object", 1),
            s("internal_domains", "removed", "domain-name object", 1),
            s("internal_domains", "removed", "indicator", 1),
            s(
                "remove_email_addresses",
                "masked",
                "e-mail address in text",
                2
            ),
            s("remove_email_addresses", "removed", "email-addr object", 1),
            s("remove_email_addresses", "removed", "indicator", 1),
        ]
    );
    for r in &out.removals {
        assert!(!r.ids.is_empty(), "{r:?}");
        assert!(!r.target.contains("10.1") && !r.target.contains("corp."));
    }
}

#[test]
fn realistic_bundle_in_mask_mode() {
    let bytes = realistic_bundle();
    let out = stix(&bytes, &internal(true));
    assert!(!has(&out.content, "10.1.2.3"));
    assert!(!has(&out.content, "db1."));
    // Nothing is removed: internal values are masked.
    assert_eq!(ids(&out.content), ids(&bytes));
    assert!(out.removals.iter().all(|r| r.action == "masked"));
    assert_eq!(
        object(&out.content, &sid("indicator", 2)).unwrap()["pattern"],
        "[ipv4-addr:value = '10.0.0.0/8']"
    );
    assert_eq!(
        object(&out.content, &sid("domain-name", 1)).unwrap()["value"],
        "corp.acme.example"
    );
    // E-mail addresses outside the internal domains are not this rule's.
    assert!(has(&out.content, "jdoe@acme.example"));
}

#[test]
fn the_sample_bundle_redacts_and_validates() {
    let bytes = data!("stix-indicator-for-c2-ip-address.json");
    // Its indicator is for 10.0.0.0 (internal by these rules).
    let out = redact(Kind::Stix, bytes, &internal(false)).unwrap();
    let v: Value = serde_json::from_slice(&out.content).unwrap();
    assert_eq!(v["objects"], json!([]));
    content::validate(Kind::Stix, &out.content).unwrap();
    let masked = redact(Kind::Stix, bytes, &internal(true)).unwrap();
    assert!(has(&masked.content, "[ipv4-addr:value = '10.0.0.0/8']"));
    content::validate(Kind::Stix, &masked.content).unwrap();
    // Nothing of ours in the TLP sample: unchanged.
    let red = data!("stix-tlp2-red.json");
    assert_eq!(
        redact(Kind::Stix, red, &internal(false)).unwrap().content,
        red
    );
}

// ---------------------------------------------------------------------------
// STIX: unreadable or hostile content.

#[test]
fn unreadable_json_is_refused_without_quoting_it() {
    let rules = internal(false);
    for bad in [
        b"{\"secret-value-xyz\": ".as_slice(),
        b"[\"secret-value-xyz\"]",
        b"\"secret-value-xyz\"",
        b"\xff secret-value-xyz",
    ] {
        for kind in [Kind::Stix, Kind::Csaf] {
            let err = redact(kind, bad, &rules).unwrap_err();
            assert!(matches!(err, RedactError::Content(_)), "{err:?}");
            let msg = err.to_string();
            assert!(!msg.contains("secret"), "{msg}");
        }
    }
    let objects_not_array = br#"{"type":"bundle","objects":"secret-value-xyz"}"#;
    let err = redact(Kind::Stix, objects_not_array, &rules).unwrap_err();
    assert!(!err.to_string().contains("secret"), "{err}");
}

#[test]
fn duplicate_keys_are_refused() {
    // A parser that keeps the first `value` would see the internal address.
    let bytes = br#"{"type":"bundle","id":"bundle--00000001-0000-4000-8000-000000000000","objects":[
        {"type":"ipv4-addr","id":"ipv4-addr--00000001-0000-4000-8000-000000000000","value":"10.1.2.3","value":"198.51.100.7"}]}"#;
    let err = redact(Kind::Stix, bytes, &internal(false)).unwrap_err();
    assert!(err.to_string().contains("duplicate key"), "{err}");
    assert!(!err.to_string().contains("value"), "{err}");
}

#[test]
fn escaped_json_strings_are_seen_as_what_they_say() {
    // "\u0031\u0030.1.2.3" is "10.1.2.3".
    let bytes = br#"{"type":"bundle","id":"bundle--00000001-0000-4000-8000-000000000000","objects":[
        {"type":"ipv4-addr","id":"ipv4-addr--00000001-0000-4000-8000-000000000000","value":"\u0031\u0030.1.2.3"}]}"#;
    let out = redact(Kind::Stix, bytes, &internal(false)).unwrap();
    assert_eq!(objects(&out.content), Vec::<Value>::new());
}

#[test]
fn a_bundle_without_objects_is_unchanged() {
    let bytes = br#"{"type":"bundle","id":"bundle--00000001-0000-4000-8000-000000000000"}"#;
    let out = redact(Kind::Stix, bytes, &internal(false)).unwrap();
    assert_eq!(out.content, bytes);
}

// ---------------------------------------------------------------------------
// CSAF.

fn csaf_with_contacts() -> Vec<u8> {
    let mut doc: Value = serde_json::from_slice(data!("csaf-bsi-2022-0001.json")).unwrap();
    doc["document"]["publisher"]["contact_details"] =
        json!("csaf@bsi.example, or PSIRT lead j.doe@bsi.example");
    doc["document"]["distribution"]["text"] = json!("Questions about the TLP: tlp@bsi.example");
    doc["document"]["distribution"]["x_internal"] = json!("keep: distribution is never redacted");
    doc["document"]["notes"] = json!([{
        "category": "details",
        "text": "Reproduced on build host ci1.corp.acme.example (10.1.2.3), reporter mary@acme.example",
        "x_internal": "ticket ACME-4711",
    }]);
    doc["document"]["acknowledgments"] = json!([{"names": ["Mary Major"], "x_email": "mary@acme.example", "x_internal": "ACME-4711"}]);
    doc["document"]["publisher"]["x_internal"] = json!("ACME-4711");
    let bytes = serde_json::to_vec_pretty(&doc).unwrap();
    content::validate(Kind::Csaf, &bytes).unwrap();
    bytes
}

#[test]
fn csaf_masks_addresses_everywhere_but_the_distribution() {
    let bytes = csaf_with_contacts();
    let rules = RedactRules {
        remove_email_addresses: true,
        ..internal(false)
    };
    let out = redact(Kind::Csaf, &bytes, &rules).unwrap();
    let before: Value = serde_json::from_slice(&bytes).unwrap();
    let after: Value = serde_json::from_slice(&out.content).unwrap();
    assert_eq!(
        after["document"]["publisher"]["contact_details"],
        "[email removed], or PSIRT lead [email removed]"
    );
    assert_eq!(
        after["document"]["distribution"],
        before["document"]["distribution"]
    );
    assert_eq!(
        after["document"]["notes"][0]["text"],
        "Reproduced on build host corp.acme.example (10.0.0.0/8), reporter [email removed]"
    );
    assert_eq!(
        after["document"]["acknowledgments"][0]["x_email"],
        "[email removed]"
    );
    // Everything else is as it was.
    assert_eq!(after["product_tree"], before["product_tree"]);
    assert_eq!(after["vulnerabilities"], before["vulnerabilities"]);
    let info = content::validate(Kind::Csaf, &out.content).unwrap();
    assert_eq!(
        info.max_tlp,
        content::validate(Kind::Csaf, &bytes).unwrap().max_tlp
    );
    assert_eq!(
        count(
            &out,
            "remove_email_addresses",
            "masked",
            "e-mail address in text"
        ),
        4
    );
    assert_eq!(
        count(
            &out,
            "internal_cidrs",
            "masked",
            "internal IP address in text"
        ),
        1
    );
    assert_eq!(
        count(
            &out,
            "internal_domains",
            "masked",
            "internal host name in text"
        ),
        1
    );
    assert!(out.removals.iter().all(|r| r.ids.is_empty()));
    assert!(redact(Kind::Csaf, &out.content, &rules)
        .unwrap()
        .removals
        .is_empty());
}

#[test]
fn csaf_property_rules_apply_at_any_depth_except_the_distribution() {
    let bytes = csaf_with_contacts();
    let rules = RedactRules {
        // (`text` is required by the CSAF schema in notes: dropping it is
        // refused; see csaf_rules_that_would_break_the_document_are_refused.)
        drop_properties: vec!["x_internal".into()],
        personal_data_fields: vec!["contact_details".into(), "names".into()],
        ..RedactRules::default()
    };
    let out = redact(Kind::Csaf, &bytes, &rules).unwrap();
    let after: Value = serde_json::from_slice(&out.content).unwrap();
    assert!(after["document"]["publisher"]
        .get("contact_details")
        .is_none());
    assert!(!has(&out.content, "\"names\""));
    assert!(after["document"]["notes"][0].get("x_internal").is_none());
    assert!(after["document"]["publisher"].get("x_internal").is_none());
    assert_eq!(
        after["document"]["distribution"]["x_internal"],
        "keep: distribution is never redacted"
    );
    assert_eq!(
        after["document"]["distribution"]["text"],
        "Questions about the TLP: tlp@bsi.example"
    );
    assert_eq!(
        count(&out, "drop_properties", "removed", "property `x_internal`"),
        3
    );
    assert_eq!(
        count(
            &out,
            "personal_data_fields",
            "removed",
            "property `contact_details`"
        ),
        1
    );
    content::validate(Kind::Csaf, &out.content).unwrap();
}

#[test]
fn csaf_version_numbers_are_not_taken_for_addresses() {
    let mut doc: Value = serde_json::from_slice(data!("csaf-bsi-2022-0001.json")).unwrap();
    doc["document"]["tracking"]["version"] = json!("10.1.2.3");
    doc["product_tree"]["branches"][0]["branches"][0]["branches"][0]["name"] = json!("10.2.0.1");
    let bytes = serde_json::to_vec(&doc).unwrap();
    let out = redact(Kind::Csaf, &bytes, &internal(false)).unwrap();
    assert_eq!(out.content, bytes);
}

#[test]
fn csaf_rules_that_would_break_the_document_are_refused() {
    let bytes = csaf_with_contacts();
    let rules = RedactRules {
        personal_data_fields: vec!["name".into()],
        ..RedactRules::default()
    };
    let err = redact(Kind::Csaf, &bytes, &rules).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("/document/publisher"), "{msg}");
    assert!(!msg.contains("Bundesamt"), "{msg}");
}

// ---------------------------------------------------------------------------
// Text.

#[test]
fn text_notes_are_masked_token_by_token() {
    let rules = RedactRules {
        remove_email_addresses: true,
        ..internal(false)
    };
    let cases = [
        ("nothing here", "nothing here"),
        (
            "Mail jdoe@acme.example or <soc@corp.acme.example>.",
            "Mail [email removed] or <[email removed]>.",
        ),
        (
            "Host 10.1.2.3, net 10.20.0.0/16.",
            "Host 10.0.0.0/8, net 10.0.0.0/8.",
        ),
        ("ssh db1.corp.acme.example:22", "ssh corp.acme.example:22"),
        (
            "file backup.db1.corp.acme.example.tar",
            "file corp.acme.example.tar",
        ),
        (
            "v6 fd00::1 and [fd12::2]:80",
            "v6 fd00::/8 and [fd00::/8]:80",
        ),
        ("mapped ::ffff:10.1.2.3", "mapped ::ffff:10.0.0.0/104"),
        (
            "ok 198.51.100.7 evilcorp.example 2001:db8::1",
            "ok 198.51.100.7 evilcorp.example 2001:db8::1",
        ),
        ("time 12:30:45 and std::vec", "time 12:30:45 and std::vec"),
        ("résumé à 10.1.2.3 — ok", "résumé à 10.0.0.0/8 — ok"),
        ("xn--10.1.2.3x", "xn--10.1.2.3x"),
    ];
    for (input, want) in cases {
        let out = redact(Kind::Note, input.as_bytes(), &rules).unwrap();
        assert_eq!(out.changed(), input != want);
        assert_eq!(String::from_utf8(out.content).unwrap(), want, "{input}");
    }
    let out = redact(
        Kind::Note,
        b"a@acme.example b@acme.example 10.1.2.3 db.corp.acme.example",
        &rules,
    )
    .unwrap();
    assert_eq!(
        out.removals,
        vec![
            Removal {
                rule: "internal_cidrs".into(),
                action: "masked".into(),
                target: "internal IP address in text".into(),
                count: 1,
                ids: vec![],
            },
            Removal {
                rule: "internal_domains".into(),
                action: "masked".into(),
                target: "internal host name in text".into(),
                count: 1,
                ids: vec![],
            },
            Removal {
                rule: "remove_email_addresses".into(),
                action: "masked".into(),
                target: "e-mail address in text".into(),
                count: 2,
                ids: vec![],
            },
        ]
    );
    assert_eq!(out.removed_count(), 4);
}

#[test]
fn text_addresses_of_internal_domains_are_masked_without_the_email_rule() {
    let out = redact(
        Kind::Note,
        b"from jdoe@mail.corp.acme.example to x@partner.example",
        &internal(true),
    )
    .unwrap();
    assert_eq!(
        out.content,
        b"from redacted@corp.acme.example to x@partner.example"
    );
    assert_eq!(
        count(&out, "internal_domains", "masked", "e-mail address in text"),
        1
    );
}

#[test]
fn text_must_be_utf8_and_unchanged_text_is_the_same_bytes() {
    let err = redact(Kind::Note, b"ok \xc3( 10.1.2.3", &internal(false)).unwrap_err();
    assert_eq!(
        err,
        RedactError::Content("text is not valid UTF-8: invalid byte at offset 3".into())
    );
    let bytes = "TLP:GREEN — rien à signaler\r\n".as_bytes();
    let out = redact(Kind::Note, bytes, &internal(false)).unwrap();
    assert_eq!(out.content, bytes);
}

// ---------------------------------------------------------------------------
// Helpers.

#[test]
fn url_parsers_reading_of_ipv4_hosts() {
    for (host, want) in [
        ("10.1.2.3", Some("10.1.2.3")),
        ("167772161", Some("10.0.0.1")),
        ("0x0a000001", Some("10.0.0.1")),
        ("012.0.0.1", Some("10.0.0.1")),
        ("10.1", Some("10.0.0.1")),
        ("10.1.2.3.", Some("10.1.2.3")),
        ("10.1.2.256", None),
        ("1.2.3.4.5", None),
        ("example.com", None),
        ("", None),
        ("99999999999999999999", None),
    ] {
        assert_eq!(
            whatwg_ipv4(host),
            want.map(|w| w.parse().unwrap()),
            "{host}"
        );
    }
}

#[test]
fn url_hosts_are_found() {
    for (url, host) in [
        ("http://a.example/x", Some("a.example")),
        ("https://u:p@a.example:8080/x", Some("a.example")),
        ("http://[fd00::1]:80/", Some("[fd00::1]")),
        ("http://a.example?x", Some("a.example")),
        ("http://a.example\\x", Some("a.example")),
        ("mailto:x@a.example", None),
        ("http:///x", None),
    ] {
        assert_eq!(url_host_span(url).map(|(a, z)| &url[a..z]), host, "{url}");
    }
}

// ---------------------------------------------------------------------------
// Properties.

fn any_rules() -> impl Strategy<Value = RedactRules> {
    (
        prop::collection::vec((any::<u32>(), 0u8..=32), 0..3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(nets, mask, emails)| RedactRules {
            internal_cidrs: nets
                .into_iter()
                .map(|(a, p)| format!("{}/{p}", Ipv4Addr::from(a)))
                .chain(["fd00::/8".to_string()])
                .collect(),
            internal_domains: vec!["corp.acme.example".into(), "x".into()],
            internal: if mask {
                InternalAction::Mask
            } else {
                InternalAction::Remove
            },
            remove_email_addresses: emails,
            ..RedactRules::default()
        })
}

proptest! {
    #[test]
    fn no_internal_address_survives_and_every_external_one_does(
        values in prop::collection::vec((any::<u32>(), prop::option::of(8u8..=32)), 0..12),
        nets in prop::collection::vec((any::<u32>(), 1u8..=32), 1..4),
    ) {
        let nets: Vec<Ipv4Net> = nets
            .into_iter()
            .map(|(a, p)| Ipv4Net::new(Ipv4Addr::from(a), p).unwrap().trunc())
            .collect();
        let rules = RedactRules {
            internal_cidrs: nets.iter().map(ToString::to_string).collect(),
            ..RedactRules::default()
        };
        let values: Vec<Ipv4Net> = values
            .into_iter()
            .map(|(a, p)| Ipv4Net::new(Ipv4Addr::from(a), p.unwrap_or(32)).unwrap().trunc())
            .collect();
        let objs: Vec<Value> = (1u32..)
            .zip(&values)
            .map(|(n, v)| {
                let text = if v.prefix_len() == 32 { v.addr().to_string() } else { v.to_string() };
                sco("ipv4-addr", n, &text)
            })
            .collect();
        let bytes = bundle(objs);
        let out = redact(Kind::Stix, &bytes, &rules).unwrap();
        content::validate(Kind::Stix, &out.content).unwrap();
        let inside = |v: &Ipv4Net| nets.iter().any(|n| n.contains(v) || v.contains(n));
        for o in objects(&out.content) {
            if o["type"] == "ipv4-addr" {
                let v: Ipv4Net = match o["value"].as_str().unwrap().parse::<Ipv4Net>() {
                    Ok(n) => n,
                    Err(_) => Ipv4Net::from(o["value"].as_str().unwrap().parse::<Ipv4Addr>().unwrap()),
                };
                prop_assert!(!inside(&v), "{v} survived, internal {nets:?}");
            }
        }
        for (n, v) in (1u32..).zip(&values) {
            let kept = object(&out.content, &sid("ipv4-addr", n)).is_some();
            prop_assert_eq!(kept, !inside(v), "{}", v);
        }
        prop_assert_eq!(out.changed(), values.iter().any(inside));
    }

    #[test]
    fn redaction_never_panics_and_is_idempotent(
        text in "[a-z0-9@.:/\\[\\] '\\\\-]{0,80}",
        rules in any_rules(),
    ) {
        for kind in [Kind::Note, Kind::Stix, Kind::Csaf] {
            let _ = redact(kind, text.as_bytes(), &rules);
        }
        let out = redact(Kind::Note, text.as_bytes(), &rules).unwrap();
        let again = redact(Kind::Note, &out.content, &rules).unwrap();
        prop_assert!(!again.changed(), "{:?} -> {:?}", text, String::from_utf8_lossy(&out.content));
        let bytes = bundle(vec![
            indicator(1, &format!("[x-y:z = {}]", quote_literal(&text))),
            sco("url", 1, &format!("http://{text}")),
            sdo("malware", 1, json!({"name": "m", "is_family": false, "description": text})),
        ]);
        let out = redact(Kind::Stix, &bytes, &rules).unwrap();
        content::validate(Kind::Stix, &out.content).unwrap();
        let again = redact(Kind::Stix, &out.content, &rules).unwrap();
        prop_assert!(!again.changed(), "{:?}: {:?}", text, again.removals);
    }
}

#[test]
fn long_reference_chains_cascade_in_one_sweep() {
    // note k is about note k-1; note 1 is about an internal address.
    const N: u32 = 3000;
    let mut objs = vec![sco("ipv4-addr", 1, "10.1.2.3")];
    for k in 1..=N {
        let about = if k == 1 {
            sid("ipv4-addr", 1)
        } else {
            sid("note", k - 1)
        };
        objs.push(sdo(
            "note",
            k,
            json!({"content": "see", "object_refs": [about]}),
        ));
    }
    objs.push(sdo(
        "note",
        N + 1,
        json!({"content": "see", "object_refs": [sid("note", N), sid("note", 0)]}),
    ));
    let bytes = bundle(objs);
    let out = redact(Kind::Stix, &bytes, &internal(false)).unwrap();
    assert_eq!(
        ids(&out.content),
        vec![MARKING.to_string(), sid("note", N + 1)]
    );
    assert_eq!(
        count(&out, "dangling_reference", "removed", "note"),
        N as usize
    );
    assert_eq!(
        count(
            &out,
            "dangling_reference",
            "removed",
            "reference in `object_refs`"
        ),
        1
    );
}
