//! CSAF 2.0 validation (STANDARDS §3) and the document's TLP.
//!
//! Two layers: first the CSAF Base required fields, checked by hand with
//! plain messages (and the TLP read from `document.distribution`); then the
//! official CSAF 2.0 JSON schema (draft 2020-12, shipped in
//! `schema/csaf/` with the FIRST CVSS schemas it references), compiled
//! once, with every `$ref` resolved to the shipped copies: nothing is
//! fetched. The mandatory tests of CSAF §6.1 are not run.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{excerpt, json_type, parse_rfc3339, ContentError, ContentInfo, Kind};
use crate::tlp::Tlp;

type Result<T> = std::result::Result<T, ContentError>;

const PUBLISHER_CATEGORIES: &[&str] = &[
    "coordinator",
    "discoverer",
    "other",
    "translator",
    "user",
    "vendor",
];
const STATUSES: &[&str] = &["draft", "final", "interim"];
/// CSAF 2.0 uses TLP 1.0 labels only (STANDARDS §3.3).
const TLP_LABELS: &[(&str, Tlp)] = &[
    ("WHITE", Tlp::Clear),
    ("GREEN", Tlp::Green),
    ("AMBER", Tlp::Amber),
    ("RED", Tlp::Red),
];
/// The CSAF 2.1 converter's marker for a TLP 2.0 label in `distribution.text`.
const TLP2_TEXT_MARKER: &str = "TLP v2.0: TLP:";

/// Validate a parsed CSAF document (a JSON object): the required fields,
/// then the official schema.
pub(super) fn validate(document: &Value) -> Result<ContentInfo> {
    let Value::Object(top) = document else {
        return Err(ContentError::NotObject {
            kind: Kind::Csaf,
            found: json_type(document),
        });
    };
    let info = validate_required(top)?;
    check_schema(document)?;
    Ok(info)
}

/// The CSAF Base required fields and the TLP.
fn validate_required(top: &Map<String, Value>) -> Result<ContentInfo> {
    let root = Node {
        map: top,
        path: String::new(),
    };
    let doc = root.object("document")?;
    check_category(&doc)?;
    let version = doc.string("csaf_version")?;
    if version != "2.0" {
        return Err(doc.err(
            "csaf_version",
            format!("must be \"2.0\", found {}", excerpt(version)),
        ));
    }
    check_publisher(&doc.object("publisher")?)?;
    doc.non_empty_string("title")?;
    check_tracking(&doc.object("tracking")?)?;
    let (max_tlp, max_tlp_source) = match distribution_tlp(&doc)? {
        Some((tlp, source)) => (Some(tlp), Some(source)),
        None => (None, None),
    };
    Ok(ContentInfo {
        kind: Kind::Csaf,
        max_tlp,
        max_tlp_source,
        objects: 1,
        inventory: Default::default(),
    })
}

/// The official CSAF 2.0 schema and the CVSS schemas it names by URL.
const CSAF_SCHEMA: &str = include_str!("../../schema/csaf/csaf_json_schema.json");
const CVSS_SCHEMAS: [(&str, &str); 3] = [
    (
        "https://www.first.org/cvss/cvss-v2.0.json",
        include_str!("../../schema/csaf/cvss-v2.0.json"),
    ),
    (
        "https://www.first.org/cvss/cvss-v3.0.json",
        include_str!("../../schema/csaf/cvss-v3.0.json"),
    ),
    (
        "https://www.first.org/cvss/cvss-v3.1.json",
        include_str!("../../schema/csaf/cvss-v3.1.json"),
    ),
];

/// The compiled schema, built on first use. An `Err` is a packaging fault
/// (the shipped schema does not compile); a test guards against it.
fn schema_validator() -> std::result::Result<&'static jsonschema::Validator, &'static str> {
    static VALIDATOR: OnceLock<std::result::Result<jsonschema::Validator, String>> =
        OnceLock::new();
    VALIDATOR
        .get_or_init(compile_schema)
        .as_ref()
        .map_err(String::as_str)
}

fn compile_schema() -> std::result::Result<jsonschema::Validator, String> {
    let parse = |name: &str, text: &str| {
        serde_json::from_str::<Value>(text).map_err(|e| format!("{name}: {e}"))
    };
    let schema = parse("csaf_json_schema.json", CSAF_SCHEMA)?;
    let mut registry = jsonschema::Registry::new();
    for (uri, text) in CVSS_SCHEMAS {
        registry = registry
            .add(uri, parse(uri, text)?)
            .map_err(|e| format!("{uri}: {e}"))?;
    }
    let registry = registry.prepare().map_err(|e| e.to_string())?;
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .with_registry(&registry)
        .should_validate_formats(true)
        .offline()
        .build(&schema)
        .map_err(|e| e.to_string())
}

/// Validate against the official schema; the first violation is reported
/// at its JSON path.
fn check_schema(document: &Value) -> Result<()> {
    let validator = schema_validator().map_err(|why| ContentError::Csaf {
        path: "/".into(),
        problem: format!("the CSAF 2.0 schema shipped with Liaison does not compile: {why}"),
    })?;
    match validator.iter_errors(document).next() {
        None => Ok(()),
        Some(error) => Err(schema_error(&error)),
    }
}

/// A schema violation as a [`ContentError::Csaf`]: inside `anyOf`/`oneOf`,
/// the branch that came closest (fewest violations) is followed down to
/// its first violation, so that e.g. a bad CVSS vector is named at
/// `…/cvss_v3/vectorString` rather than "not valid under any of the
/// schemas" at `…/cvss_v3`.
fn schema_error(error: &jsonschema::ValidationError<'_>) -> ContentError {
    use jsonschema::error::ValidationErrorKind as K;
    if let K::AnyOf { context } | K::OneOfNotValid { context } = error.kind() {
        if let Some(first) = context
            .iter()
            .filter(|branch| !branch.is_empty())
            .min_by_key(|branch| branch.len())
            .and_then(|branch| branch.first())
        {
            return schema_error(first);
        }
    }
    let pointer = error.instance_path().as_str();
    let path = if pointer.is_empty() { "/" } else { pointer };
    if let K::Required { property } = error.kind() {
        let name = property
            .as_str()
            .map_or_else(|| property.to_string(), str::to_string);
        return ContentError::Csaf {
            path: format!("{}/{}", pointer, escape_pointer(&name)),
            problem: "is missing (required by the CSAF 2.0 schema)".into(),
        };
    }
    // Quote small values as they are; name large ones by their type, so
    // that a message never carries a piece of the document.
    let instance = error.instance();
    let small = match instance.as_ref() {
        Value::Object(_) | Value::Array(_) => false,
        Value::String(s) => s.chars().count() <= 48,
        _ => true,
    };
    let text = if small {
        error.to_string()
    } else {
        error.masked_with(json_type(instance)).to_string()
    };
    ContentError::Csaf {
        path: path.to_string(),
        problem: cut(&text, 300),
    }
}

/// RFC 6901 escaping of one JSON pointer segment.
fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// `s` cut to `max` characters, with `…` when cut.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((at, _)) => format!("{}…", &s[..at]),
    }
}

/// `^[^\s\-_\.](.*[^\s\-_\.])?$`: non-empty, and neither end is whitespace,
/// `-`, `_` or `.`.
fn check_category(doc: &Node<'_>) -> Result<()> {
    let category = doc.non_empty_string("category")?;
    let bad_end = |c: Option<char>| c.is_some_and(|c| c.is_whitespace() || "-_.".contains(c));
    if bad_end(category.chars().next()) || bad_end(category.chars().last()) {
        return Err(doc.err(
            "category",
            format!(
                "{} must not start or end with whitespace, `-`, `_` or `.`",
                excerpt(category)
            ),
        ));
    }
    Ok(())
}

fn check_publisher(publisher: &Node<'_>) -> Result<()> {
    publisher.one_of("category", PUBLISHER_CATEGORIES)?;
    publisher.non_empty_string("name")?;
    publisher.non_empty_string("namespace")?;
    Ok(())
}

fn check_tracking(tracking: &Node<'_>) -> Result<()> {
    let id = tracking.non_empty_string("id")?;
    if id.trim() != id {
        return Err(tracking.err(
            "id",
            format!("{} must not start or end with whitespace", excerpt(id)),
        ));
    }
    tracking.one_of("status", STATUSES)?;
    tracking.non_empty_string("version")?;
    tracking.date_time("initial_release_date")?;
    tracking.date_time("current_release_date")?;
    let history = tracking.array("revision_history")?;
    if history.is_empty() {
        return Err(tracking.err("revision_history", "must have at least one entry"));
    }
    for (i, entry) in history.iter().enumerate() {
        let entry = Node::of(entry, format!("{}/revision_history/{i}", tracking.path))?;
        entry.date_time("date")?;
        entry.non_empty_string("number")?;
        entry.non_empty_string("summary")?;
    }
    Ok(())
}

/// The document's TLP and the JSON path it came from.
///
/// `distribution.tlp.label` is TLP 1.0. A `TLP v2.0: TLP:<LABEL>` marker in
/// `distribution.text` refines it when the label is that TLP 2.0 label's
/// CSAF 2.0 encoding (e.g. RED + AMBER+STRICT → AMBER+STRICT, the converter
/// convention); when the two disagree otherwise, the more restrictive wins,
/// so that free text can never lower an explicit label.
fn distribution_tlp(doc: &Node<'_>) -> Result<Option<(Tlp, String)>> {
    if !doc.map.contains_key("distribution") {
        return Ok(None);
    }
    let dist = doc.object("distribution")?;
    let label = match dist.map.get("tlp") {
        None => None,
        Some(_) => {
            let tlp = dist.object("tlp")?;
            let label = tlp.string("label")?;
            let mapped = TLP_LABELS
                .iter()
                .find(|(name, _)| *name == label)
                .map(|(_, t)| *t)
                .ok_or_else(|| {
                    tlp.err(
                        "label",
                        format!(
                            "must be one of WHITE, GREEN, AMBER, RED (CSAF 2.0 uses TLP 1.0 labels); found {}",
                            excerpt(label)
                        ),
                    )
                })?;
            Some((mapped, label, format!("{}/label", tlp.path)))
        }
    };
    let text = match dist.map.get("text") {
        None => None,
        Some(_) => tlp2_from_text(dist.string("text")?).map(|t| (t, format!("{}/text", dist.path))),
    };
    Ok(match (label, text) {
        (None, None) => None,
        (Some((tlp, _, source)), None) => Some((tlp, source)),
        (None, Some(from_text)) => Some(from_text),
        (Some((_, name, _)), Some(from_text)) if from_text.0.csaf20_label().0 == name => {
            Some(from_text)
        }
        (Some((tlp, _, source)), Some(from_text)) => Some(if from_text.0 > tlp {
            from_text
        } else {
            (tlp, source)
        }),
    })
}

/// The TLP 2.0 label(s) after `TLP v2.0: TLP:` in free text; the most
/// restrictive if the marker appears more than once.
fn tlp2_from_text(text: &str) -> Option<Tlp> {
    text.match_indices(TLP2_TEXT_MARKER)
        .filter_map(|(at, marker)| label_at_start(&text[at + marker.len()..]))
        .max()
}

/// A TLP 2.0 label (without `TLP:`) at the start of `s`, ending at a word
/// boundary, so that `AMBER+STRICT` is not read as `AMBER`.
fn label_at_start(s: &str) -> Option<Tlp> {
    Tlp::ALL.into_iter().find(|t| {
        let name = &t.as_str()["TLP:".len()..];
        s.get(..name.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(name))
            && !s[name.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '+')
    })
}

/// A JSON object inside the document, with its JSON pointer.
struct Node<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Node<'a> {
    fn of(value: &'a Value, path: String) -> Result<Node<'a>> {
        match value {
            Value::Object(map) => Ok(Node { map, path }),
            other => Err(ContentError::Csaf {
                path,
                problem: format!("must be an object, found {}", json_type(other)),
            }),
        }
    }

    fn err(&self, key: &str, problem: impl Into<String>) -> ContentError {
        ContentError::Csaf {
            path: format!("{}/{key}", self.path),
            problem: problem.into(),
        }
    }

    fn get(&self, key: &str) -> Result<&'a Value> {
        self.map.get(key).ok_or_else(|| self.err(key, "is missing"))
    }

    fn object(&self, key: &str) -> Result<Node<'a>> {
        Node::of(self.get(key)?, format!("{}/{key}", self.path))
    }

    fn array(&self, key: &str) -> Result<&'a [Value]> {
        match self.get(key)? {
            Value::Array(items) => Ok(items),
            other => Err(self.err(key, format!("must be an array, found {}", json_type(other)))),
        }
    }

    fn string(&self, key: &str) -> Result<&'a str> {
        match self.get(key)? {
            Value::String(s) => Ok(s),
            other => Err(self.err(key, format!("must be a string, found {}", json_type(other)))),
        }
    }

    fn non_empty_string(&self, key: &str) -> Result<&'a str> {
        let s = self.string(key)?;
        if s.is_empty() {
            return Err(self.err(key, "must not be empty"));
        }
        Ok(s)
    }

    fn one_of(&self, key: &str, allowed: &[&str]) -> Result<&'a str> {
        let s = self.string(key)?;
        if allowed.contains(&s) {
            return Ok(s);
        }
        Err(self.err(
            key,
            format!(
                "must be one of {}; found {}",
                allowed.join(", "),
                excerpt(s)
            ),
        ))
    }

    fn date_time(&self, key: &str) -> Result<DateTime<Utc>> {
        let s = self.string(key)?;
        parse_rfc3339(s)
            .ok_or_else(|| self.err(key, format!("{} is not an RFC 3339 date-time", excerpt(s))))
    }
}

#[cfg(test)]
mod tests;
