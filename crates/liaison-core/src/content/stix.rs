//! STIX 2.1 bundle checks (STANDARDS §2) and the TLP markings inside.
//!
//! Not a full JSON-schema validation: these are the rules whose violation
//! would make the content unusable downstream or its TLP unknowable.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{excerpt, json_type, parse_rfc3339, ContentError, StixLocation};
#[cfg(test)]
use super::{ContentInfo, Kind};
use crate::tlp::Tlp;

type Result<T> = std::result::Result<T, ContentError>;

/// The OASIS extension that carries TLP 2.0 labels (STANDARDS §2.5).
const TLP2_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

const SDOS: &[&str] = &[
    "attack-pattern",
    "campaign",
    "course-of-action",
    "grouping",
    "identity",
    "incident",
    "indicator",
    "infrastructure",
    "intrusion-set",
    "location",
    "malware",
    "malware-analysis",
    "note",
    "observed-data",
    "opinion",
    "report",
    "threat-actor",
    "tool",
    "vulnerability",
];
const SROS: &[&str] = &["relationship", "sighting"];
/// Meta objects that are versioned like SDOs (`created` + `modified`).
const VERSIONED_META: &[&str] = &["language-content", "extension-definition"];
/// The STIX 2.1 cyber-observable object types.
pub(crate) const SCOS: &[&str] = &[
    "artifact",
    "autonomous-system",
    "directory",
    "domain-name",
    "email-addr",
    "email-message",
    "file",
    "ipv4-addr",
    "ipv6-addr",
    "mac-addr",
    "mutex",
    "network-traffic",
    "process",
    "software",
    "url",
    "user-account",
    "windows-registry-key",
    "x509-certificate",
];

/// Which common-property rules apply to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    /// SDOs, SROs, versioned meta objects, custom and unknown types:
    /// `spec_version`, `created` and `modified` required.
    Versioned,
    /// `marking-definition`: `spec_version` and `created`; never versioned.
    Marking,
    /// Cyber observables: no timestamps, `spec_version` optional.
    Observable,
}

fn category(ty: &str, obj: &Map<String, Value>) -> Category {
    if SDOS.contains(&ty) || SROS.contains(&ty) || VERSIONED_META.contains(&ty) {
        Category::Versioned
    } else if ty == "marking-definition" {
        Category::Marking
    } else if SCOS.contains(&ty) || declares_new_sco(obj) {
        Category::Observable
    } else {
        // Custom `x-` objects and new object types defined by `new-sdo`
        // extension definitions are SDO-like; treating any other unknown type
        // the same way is the strict choice.
        Category::Versioned
    }
}

/// STIX 2.1 lets extension definitions add new SCO types; such objects say
/// so with an extension whose `extension_type` is `new-sco`.
fn declares_new_sco(obj: &Map<String, Value>) -> bool {
    obj.get("extensions")
        .and_then(Value::as_object)
        .is_some_and(|exts| {
            exts.values()
                .any(|e| e.get("extension_type").and_then(Value::as_str) == Some("new-sco"))
        })
}

/// Validate a parsed STIX bundle (the reference for the streamed checks).
#[cfg(test)]
pub(super) fn validate(top: &Map<String, Value>) -> Result<ContentInfo> {
    let bundle = Obj {
        map: top,
        at: StixLocation::Bundle,
    };
    check_bundle_header(&bundle)?;
    let objects = match top.get("objects") {
        None => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(other) => {
            return Err(bundle.err(
                "objects",
                format!("must be an array, found {}", json_type(other)),
            ))
        }
    };
    let mut markings = Markings::default();
    for (index, value) in objects.iter().enumerate() {
        check_object(index, value, &mut markings)?;
    }
    let (max_tlp, max_tlp_source) = markings.resolve();
    Ok(ContentInfo {
        kind: Kind::Stix,
        max_tlp,
        max_tlp_source,
        objects: objects.len(),
        inventory: Default::default(),
    })
}

pub(super) fn check_bundle_header(bundle: &Obj<'_>) -> Result<()> {
    let ty = bundle.required_str("type")?;
    if ty != "bundle" {
        return Err(bundle.err(
            "type",
            format!(
                "must be \"bundle\", found {} (STIX objects must be wrapped in a bundle)",
                excerpt(ty)
            ),
        ));
    }
    // STIX 2.0 bundles carried a spec_version; 2.1 bundles have none. Say
    // so plainly rather than failing later on each object.
    if bundle.map.get("spec_version").and_then(Value::as_str) == Some("2.0") {
        return Err(bundle.err(
            "spec_version",
            "is \"2.0\": this is a STIX 2.0 bundle; only STIX 2.1 is accepted",
        ));
    }
    let id = bundle.required_str("id")?;
    match parse_identifier(id) {
        Ok(("bundle", _)) => Ok(()),
        Ok(_) => Err(bundle.err("id", format!("{} must start with `bundle--`", excerpt(id)))),
        Err(why) => Err(bundle.err("id", format!("{} {why}", excerpt(id)))),
    }
}

pub(super) fn check_object(index: usize, value: &Value, markings: &mut Markings) -> Result<()> {
    let Value::Object(map) = value else {
        return Err(ContentError::Stix {
            at: StixLocation::Index(index),
            field: None,
            problem: format!("must be a JSON object, found {}", json_type(value)),
        });
    };
    // Name the object by its id only when that id is well formed; otherwise
    // by its position, so the message never quotes garbage as an "id".
    let id = map.get("id").and_then(Value::as_str);
    let at = match id {
        Some(id) if parse_identifier(id).is_ok() => StixLocation::Object(id.to_string()),
        _ => StixLocation::Index(index),
    };
    let obj = Obj { map, at };

    let ty = obj.required_str("type")?;
    check_type_name(ty).map_err(|why| obj.err("type", format!("{} {why}", excerpt(ty))))?;
    let id = obj.required_str("id")?;
    let (prefix, _) =
        parse_identifier(id).map_err(|why| obj.err("id", format!("{} {why}", excerpt(id))))?;
    if prefix != ty {
        return Err(obj.err(
            "id",
            format!("prefix `{prefix}` does not match `type` {}", excerpt(ty)),
        ));
    }

    let category = category(ty, map);
    check_spec_version(&obj, category)?;
    check_timestamps(&obj, category)?;
    if ty == "indicator" {
        check_indicator(&obj)?;
    }
    if ty == "marking-definition" {
        if let Some(tlp) = marking_definition_tlp(&obj, id)? {
            markings.define(canonical_marking_id(id), tlp);
        }
    }
    collect_marking_refs(&obj, id, markings)
}

fn check_spec_version(obj: &Obj<'_>, category: Category) -> Result<()> {
    let version = match (category, obj.optional_str("spec_version")?) {
        (Category::Observable, None) => return Ok(()),
        (_, None) => {
            return Err(obj.err(
                "spec_version",
                "is missing (required on every STIX 2.1 object other than a cyber observable)",
            ))
        }
        (_, Some(v)) => v,
    };
    if version == "2.1" {
        Ok(())
    } else {
        Err(obj.err(
            "spec_version",
            format!("must be \"2.1\", found {}", excerpt(version)),
        ))
    }
}

fn check_timestamps(obj: &Obj<'_>, category: Category) -> Result<()> {
    match category {
        Category::Observable => Ok(()),
        Category::Marking => obj.timestamp("created", Precision::Millis).map(drop),
        Category::Versioned => {
            let created = obj.timestamp("created", Precision::Millis)?;
            let modified = obj.timestamp("modified", Precision::Millis)?;
            if modified < created {
                return Err(obj.err("modified", "is earlier than `created`"));
            }
            Ok(())
        }
    }
}

fn check_indicator(obj: &Obj<'_>) -> Result<()> {
    if obj.required_str("pattern")?.trim().is_empty() {
        return Err(obj.err("pattern", "must not be empty"));
    }
    obj.required_str("pattern_type")?;
    let valid_from = obj.timestamp("valid_from", Precision::Any)?;
    if obj.map.contains_key("valid_until") {
        let valid_until = obj.timestamp("valid_until", Precision::Any)?;
        if valid_until <= valid_from {
            return Err(obj.err("valid_until", "must be later than `valid_from`"));
        }
    }
    Ok(())
}

/// The TLP label a `marking-definition` object declares, if any, refusing
/// objects that reuse a well-known TLP id for a different label: a reference
/// to that id must keep meaning what the standard says it means.
fn marking_definition_tlp(obj: &Obj<'_>, id: &str) -> Result<Option<Tlp>> {
    let tlp2 = tlp2_extension_label(obj)?;
    let tlp1 = tlp1_definition_label(obj)?;
    let declared = match (tlp2, tlp1) {
        (Some((a, _)), Some((b, field))) if a != b => {
            return Err(obj.err(
                &field,
                format!("says {b} but the TLP 2.0 extension says {a}: conflicting TLP labels"),
            ))
        }
        (a, b) => a.or(b),
    };
    let canonical = canonical_marking_id(id);
    if let Some(known) = Tlp::from_stix_marking_id(&canonical) {
        match declared {
            Some((label, _)) if label == known => {}
            Some((label, field)) => {
                return Err(obj.err(
                    &field,
                    format!(
                        "declares {label}, but this id is the well-known {known} marking: forged TLP marking refused"
                    ),
                ))
            }
            None => {
                return Err(obj.err(
                    "id",
                    format!(
                        "is the well-known {known} marking, but the object does not declare {known}: forged TLP marking refused"
                    ),
                ))
            }
        }
    }
    Ok(declared.map(|(label, _)| label))
}

/// `extensions."extension-definition--60a3…".tlp_2_0`, with the field path.
fn tlp2_extension_label(obj: &Obj<'_>) -> Result<Option<(Tlp, String)>> {
    let Some(ext) = obj
        .map
        .get("extensions")
        .and_then(Value::as_object)
        .and_then(|e| e.get(TLP2_EXTENSION))
    else {
        return Ok(None);
    };
    let field = format!("extensions.{TLP2_EXTENSION}.tlp_2_0");
    let value = match ext.get("tlp_2_0") {
        None => return Err(obj.err(&field, "is missing")),
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(obj.err(
                &field,
                format!("must be a string, found {}", json_type(other)),
            ))
        }
    };
    match Tlp::ALL.into_iter().find(|t| t.stix_value() == value) {
        Some(t) => Ok(Some((t, field))),
        None => Err(obj.err(
            &field,
            format!(
                "must be one of clear, green, amber, amber+strict, red; found {}",
                excerpt(value)
            ),
        )),
    }
}

/// The STIX 2.1 core (TLP 1.0) form: `definition_type: "tlp"`, `definition.tlp`.
fn tlp1_definition_label(obj: &Obj<'_>) -> Result<Option<(Tlp, String)>> {
    if obj.map.get("definition_type").and_then(Value::as_str) != Some("tlp") {
        return Ok(None);
    }
    let field = "definition.tlp".to_string();
    let value = obj
        .map
        .get("definition")
        .and_then(|d| d.get("tlp"))
        .and_then(Value::as_str);
    let label = match value {
        Some("white") => Tlp::Clear,
        Some("green") => Tlp::Green,
        Some("amber") => Tlp::Amber,
        Some("red") => Tlp::Red,
        Some(other) => {
            return Err(obj.err(
                &field,
                format!(
                    "must be one of white, green, amber, red; found {}",
                    excerpt(other)
                ),
            ))
        }
        None => {
            return Err(obj.err(
                &field,
                "is missing or not a string (required when `definition_type` is \"tlp\")",
            ))
        }
    };
    Ok(Some((label, field)))
}

fn collect_marking_refs(obj: &Obj<'_>, id: &str, markings: &mut Markings) -> Result<()> {
    if let Some(value) = obj.map.get("object_marking_refs") {
        let refs = value.as_array().ok_or_else(|| {
            obj.err(
                "object_marking_refs",
                format!("must be an array, found {}", json_type(value)),
            )
        })?;
        for (k, r) in refs.iter().enumerate() {
            let marking = marking_ref(obj, &format!("object_marking_refs[{k}]"), r)?;
            markings.reference(marking, format!("{id}: object_marking_refs"));
        }
    }
    if let Some(value) = obj.map.get("granular_markings") {
        let items = value.as_array().ok_or_else(|| {
            obj.err(
                "granular_markings",
                format!("must be an array, found {}", json_type(value)),
            )
        })?;
        for (k, item) in items.iter().enumerate() {
            let field = format!("granular_markings[{k}]");
            if let Some(marking) = granular_marking(obj, &field, item)? {
                markings.reference(marking, format!("{id}: {field}.marking_ref"));
            }
        }
    }
    Ok(())
}

/// Check one granular marking; returns its `marking_ref` (canonical) if it
/// has one rather than a `lang`.
fn granular_marking(obj: &Obj<'_>, field: &str, item: &Value) -> Result<Option<String>> {
    let Value::Object(g) = item else {
        return Err(obj.err(
            field,
            format!("must be an object, found {}", json_type(item)),
        ));
    };
    let selectors = format!("{field}.selectors");
    match g.get("selectors") {
        None => return Err(obj.err(&selectors, "is missing")),
        Some(Value::Array(s)) if s.is_empty() => {
            return Err(obj.err(&selectors, "must have at least one selector"))
        }
        Some(Value::Array(s)) => {
            if let Some(k) = s.iter().position(|v| v.as_str().is_none_or(str::is_empty)) {
                return Err(obj.err(&format!("{selectors}[{k}]"), "must be a non-empty string"));
            }
        }
        Some(other) => {
            return Err(obj.err(
                &selectors,
                format!("must be an array, found {}", json_type(other)),
            ))
        }
    }
    match (g.get("marking_ref"), g.get("lang")) {
        (Some(r), None) => marking_ref(obj, &format!("{field}.marking_ref"), r).map(Some),
        (None, Some(Value::String(_))) => Ok(None),
        (None, Some(other)) => Err(obj.err(
            &format!("{field}.lang"),
            format!("must be a string, found {}", json_type(other)),
        )),
        (Some(_), Some(_)) => Err(obj.err(
            field,
            "has both `marking_ref` and `lang`; exactly one is allowed",
        )),
        (None, None) => Err(obj.err(field, "needs a `marking_ref` (or a `lang`)")),
    }
}

/// A marking reference must be a `marking-definition--<uuid>` id; returned
/// in canonical (lower-case) form so that case games cannot hide a TLP id.
fn marking_ref(obj: &Obj<'_>, field: &str, value: &Value) -> Result<String> {
    let Value::String(s) = value else {
        return Err(obj.err(
            field,
            format!("must be a string, found {}", json_type(value)),
        ));
    };
    match parse_identifier(s) {
        Ok(("marking-definition", _)) => Ok(canonical_marking_id(s)),
        Ok(_) => Err(obj.err(
            field,
            format!("{} must start with `marking-definition--`", excerpt(s)),
        )),
        Err(why) => Err(obj.err(field, format!("{} {why}", excerpt(s)))),
    }
}

/// UUIDs are case-insensitive; the well-known TLP ids are written in lower
/// case, so compare ids in lower case.
fn canonical_marking_id(id: &str) -> String {
    id.to_ascii_lowercase()
}

/// Marking definitions found in the bundle and marking references found on
/// objects. References are resolved after the whole bundle is read, because a
/// marking definition may come after the objects that use it.
#[derive(Default)]
pub(super) struct Markings {
    /// Canonical marking-definition id → the TLP label it declares.
    defined: HashMap<String, Tlp>,
    /// Canonical marking id → (order of its first reference, "object-id:
    /// field" of that reference). Only the first reference of each marking
    /// can be reported, so memory grows with the markings, not the objects.
    references: HashMap<String, (usize, String)>,
    /// References seen so far.
    seen: usize,
}

impl Markings {
    fn define(&mut self, id: String, tlp: Tlp) {
        // A repeated id keeps the most restrictive label it was given.
        let entry = self.defined.entry(id).or_insert(tlp);
        *entry = (*entry).max(tlp);
    }

    fn reference(&mut self, marking: String, source: String) {
        let order = self.seen;
        self.seen += 1;
        self.references.entry(marking).or_insert((order, source));
    }

    /// The most restrictive TLP referenced, and where (first occurrence).
    /// Definitions nobody references mark nothing, so they do not count;
    /// references to non-TLP markings are ignored.
    pub(super) fn resolve(self) -> (Option<Tlp>, Option<String>) {
        let mut best: Option<(Tlp, usize, String)> = None;
        for (marking, (order, source)) in self.references {
            let tlp = self
                .defined
                .get(&marking)
                .copied()
                .or_else(|| Tlp::from_stix_marking_id(&marking));
            let Some(tlp) = tlp else { continue };
            // The most restrictive label; among equals, the first referenced.
            if best
                .as_ref()
                .is_none_or(|(b, o, _)| tlp > *b || (tlp == *b && order < *o))
            {
                best = Some((tlp, order, source));
            }
        }
        best.map_or((None, None), |(t, _, s)| (Some(t), Some(s)))
    }
}

/// Split `<type>--<uuid>` and check both halves. The error completes a
/// sentence that starts with the quoted id.
fn parse_identifier(id: &str) -> std::result::Result<(&str, Uuid), String> {
    let (prefix, uuid) = id
        .rsplit_once("--")
        .ok_or("is not a STIX identifier of the form <type>--<uuid>")?;
    check_type_name(prefix).map_err(|why| format!("has a type part that {why}"))?;
    let uuid = parse_uuid(uuid).map_err(|why| format!("has a UUID part that {why}"))?;
    Ok((prefix, uuid))
}

/// STIX identifiers carry an RFC 4122 UUID (version 1–5) in 8-4-4-4-12 form.
fn parse_uuid(s: &str) -> std::result::Result<Uuid, String> {
    // `Uuid::try_parse` also takes braced, URN and unhyphenated forms; the
    // length pins it to the hyphenated one.
    if s.len() != 36 {
        return Err("is not a UUID in 8-4-4-4-12 hex form".into());
    }
    let uuid = Uuid::try_parse(s).map_err(|e| format!("is not a UUID ({e})"))?;
    if uuid.get_variant() != uuid::Variant::RFC4122 {
        return Err("is not an RFC 4122 UUID (wrong variant)".into());
    }
    if !(1..=5).contains(&uuid.get_version_num()) {
        return Err(format!(
            "has UUID version {}, STIX allows 1 to 5",
            uuid.get_version_num()
        ));
    }
    Ok(uuid)
}

/// `^[a-z][a-z0-9-]+[a-z0-9]$`, 3 to 250 characters. The error completes a
/// sentence that starts with the quoted value.
fn check_type_name(ty: &str) -> std::result::Result<(), String> {
    let b = ty.as_bytes();
    let ok = (3..=250).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-';
    if ok {
        Ok(())
    } else {
        Err("is not a STIX type name (3–250 characters of a-z, 0-9 and `-`, starting with a letter, not ending with `-`)".into())
    }
}

/// How precise a STIX timestamp must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precision {
    /// Any (`valid_from`, `valid_until`, …).
    Any,
    /// At least milliseconds (`created`, `modified`).
    Millis,
}

/// A STIX `timestamp`: `YYYY-MM-DDTHH:MM:SS[.s+]Z`, always UTC. The error
/// completes a sentence that starts with the quoted value.
fn parse_timestamp(s: &str, precision: Precision) -> std::result::Result<DateTime<Utc>, String> {
    const SHAPE: &str = "is not a STIX timestamp (YYYY-MM-DDTHH:MM:SS[.sss]Z, in UTC)";
    let b = s.as_bytes();
    let head_ok = b.len() >= 20
        && b[..19].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
        && b[b.len() - 1] == b'Z';
    if !head_ok {
        return Err(SHAPE.into());
    }
    // Bytes 0..19 and the final `Z` are ASCII, so these are char boundaries.
    let fraction = &s[19..s.len() - 1];
    let digits = match fraction.strip_prefix('.') {
        Some(d) if !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()) => d,
        None if fraction.is_empty() => "",
        _ => return Err(SHAPE.into()),
    };
    if precision == Precision::Millis && digits.len() < 3 {
        return Err("needs at least millisecond precision (e.g. 2026-01-31T12:00:00.000Z)".into());
    }
    parse_rfc3339(s).ok_or_else(|| "is not a valid date and time".into())
}

/// One JSON object of the bundle (or the bundle itself), with the location
/// its errors are reported at.
pub(super) struct Obj<'a> {
    pub(super) map: &'a Map<String, Value>,
    pub(super) at: StixLocation,
}

impl Obj<'_> {
    fn err(&self, field: &str, problem: impl Into<String>) -> ContentError {
        ContentError::Stix {
            at: self.at.clone(),
            field: Some(field.to_string()),
            problem: problem.into(),
        }
    }

    fn optional_str(&self, field: &str) -> Result<Option<&str>> {
        match self.map.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.err(
                field,
                format!("must be a string, found {}", json_type(other)),
            )),
        }
    }

    fn required_str(&self, field: &str) -> Result<&str> {
        self.optional_str(field)?
            .ok_or_else(|| self.err(field, "is missing"))
    }

    fn timestamp(&self, field: &str, precision: Precision) -> Result<DateTime<Utc>> {
        let s = self.required_str(field)?;
        parse_timestamp(s, precision)
            .map_err(|why| self.err(field, format!("{} {why}", excerpt(s))))
    }
}

#[cfg(test)]
mod tests;
