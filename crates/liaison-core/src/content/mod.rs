//! What a bundle carries, and validation of it on entry.
//!
//! A bundle's content is a STIX 2.1 bundle, a CSAF 2.0 advisory or a plain
//! text note. [`validate`] checks the rules of STANDARDS §2 (STIX) and §3
//! (CSAF) that matter before anything is signed, and reports the most
//! restrictive TLP label found *inside* the content, so that the relay can
//! refuse to release content under a label lower than its own markings
//! (STANDARDS §1.6).
//!
//! Error messages name what is wrong (object id and field, or JSON path) but
//! never echo the content: quoted values are cut short.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::tlp::Tlp;

mod csaf;
mod detect;
mod objects;
mod stream;
pub use detect::detect_json_reader;
pub use objects::each_stix_object;
pub use stream::validate_stix_reader;
pub(crate) mod stix;
#[cfg(test)]
mod tests;

/// What a bundle carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A STIX 2.1 bundle.
    Stix,
    /// A CSAF 2.0 document.
    Csaf,
    /// Free UTF-8 text.
    Note,
    /// An excerpt of logs (UTF-8 text), kept apart from notes so that
    /// agreements can allow one without the other.
    Log,
    /// An incident's joint actions and decisions ([`crate::joint`]).
    Coordination,
}

/// A string that is not a content kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a content kind: expected one of stix, csaf, note, log, coordination")]
pub struct ParseKindError(pub String);

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 5] = [
        Kind::Stix,
        Kind::Csaf,
        Kind::Note,
        Kind::Log,
        Kind::Coordination,
    ];

    /// The media type written into manifests.
    pub fn media_type(self) -> &'static str {
        match self {
            Kind::Stix => "application/stix+json;version=2.1",
            Kind::Csaf => "application/csaf+json",
            Kind::Note => "text/plain; charset=utf-8",
            Kind::Log => "text/x-log; charset=utf-8",
            Kind::Coordination => crate::joint::MEDIA_TYPE,
        }
    }

    /// The kind behind a media type. Case and spaces around parameters are
    /// ignored; a STIX `version` other than 2.1 or a text charset other than
    /// UTF-8 (or its subset US-ASCII) is not ours, so gives `None`.
    pub fn from_media_type(s: &str) -> Option<Kind> {
        let mut parts = s.split(';');
        let essence = parts.next()?.trim().to_ascii_lowercase();
        let mut params = Vec::new();
        for p in parts {
            let (k, v) = p.split_once('=')?;
            let v = v.trim().trim_matches('"').to_ascii_lowercase();
            params.push((k.trim().to_ascii_lowercase(), v));
        }
        let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        match essence.as_str() {
            "application/stix+json" => match param("version") {
                None => Some(Kind::Stix),
                Some(v) if v == "2.1" => Some(Kind::Stix),
                Some(_) => None,
            },
            "application/csaf+json" => Some(Kind::Csaf),
            "text/plain" => match param("charset").map(String::as_str) {
                None | Some("utf-8" | "utf8" | "us-ascii") => Some(Kind::Note),
                Some(_) => None,
            },
            "application/vnd.liaison.coordination+json" => match param("v").map(String::as_str) {
                None | Some("1") => Some(Kind::Coordination),
                Some(_) => None,
            },
            "text/x-log" => match param("charset").map(String::as_str) {
                None | Some("utf-8" | "utf8" | "us-ascii") => Some(Kind::Log),
                Some(_) => None,
            },
            _ => None,
        }
    }

    /// The short name: `stix`, `csaf`, `note`, `log` or `coordination`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Stix => "stix",
            Kind::Csaf => "csaf",
            Kind::Note => "note",
            Kind::Log => "log",
            Kind::Coordination => "coordination",
        }
    }
}

impl FromStr for Kind {
    type Err = ParseKindError;

    /// `stix`, `csaf`, `note`, `log` or `coordination`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseKindError(s.to_string()))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What validation learned about the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentInfo {
    /// The kind that was validated.
    pub kind: Kind,
    /// The most restrictive TLP found inside the content (STIX marking refs, CSAF distribution.tlp), if any.
    pub max_tlp: Option<Tlp>,
    /// Where that TLP was found, for error messages, e.g. "indicator--8e2e…: object_marking_refs" or "/document/distribution/tlp/label".
    pub max_tlp_source: Option<String>,
    /// Number of STIX objects (1 for a CSAF document, 0 for a note).
    pub objects: usize,
    /// The STIX types inside, from the same parse (empty but for STIX).
    pub inventory: Inventory,
}

/// Where in a STIX bundle a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StixLocation {
    /// The bundle itself (the top-level object).
    Bundle,
    /// An object, by its id (used when the id is well formed).
    Object(String),
    /// An object, by its index in `objects` (used when its id is missing or malformed).
    Index(usize),
}

impl fmt::Display for StixLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StixLocation::Bundle => f.write_str("bundle"),
            StixLocation::Object(id) => write!(f, "object {id}"),
            StixLocation::Index(i) => write!(f, "object objects[{i}]"),
        }
    }
}

/// Content refused on entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContentError {
    /// STIX or CSAF content that does not parse as JSON.
    #[error("{kind} content is not valid JSON: {message} at line {line}, column {column}")]
    NotJson {
        /// The kind that was expected.
        kind: Kind,
        /// serde_json's description of the syntax error.
        message: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// STIX or CSAF content whose top level is JSON but not an object.
    #[error("{kind} content must be a JSON object at the top level, found {found}")]
    NotObject {
        /// The kind that was expected.
        kind: Kind,
        /// What the top level is instead, e.g. "an array".
        found: &'static str,
    },
    /// A note that is not UTF-8 text.
    #[error("note is not valid UTF-8: invalid byte at offset {offset}")]
    NotUtf8 {
        /// Byte offset of the first byte that is not part of valid UTF-8.
        offset: usize,
    },
    /// A STIX 2.1 rule is broken.
    #[error("STIX {at}: {}{problem}", field_prefix(.field))]
    Stix {
        /// The bundle or the object concerned.
        at: StixLocation,
        /// The field concerned (a dotted path inside the object), if any.
        field: Option<String>,
        /// What is wrong, e.g. "is missing".
        problem: String,
    },
    /// A joint log (kind `coordination`) that does not parse or breaks a rule.
    #[error("{0}")]
    Coordination(String),
    /// The content could not be read (from disk, when it streams).
    #[error("cannot read the content: {0}")]
    Read(String),
    /// A CSAF 2.0 rule is broken.
    #[error("CSAF {path}: {problem}")]
    Csaf {
        /// JSON pointer to the offending value, e.g. `/document/tracking/status`.
        path: String,
        /// What is wrong, e.g. "must be one of draft, final, interim; found \"done\"".
        problem: String,
    },
}

fn field_prefix(field: &Option<String>) -> String {
    field
        .as_ref()
        .map(|f| format!("field `{f}` "))
        .unwrap_or_default()
}

/// Validate content on entry. Never panics on any input.
pub fn validate(kind: Kind, bytes: &[u8]) -> Result<ContentInfo, ContentError> {
    match kind {
        // One pass for both: validation and the inventory policy needs,
        // one object at a time (a parse into one tree takes about five
        // times the bundle's size).
        Kind::Stix => stream::validate_stix_reader(bytes),
        Kind::Csaf => csaf::validate(&Value::Object(parse_object(kind, bytes)?)),
        Kind::Note | Kind::Log => validate_text(kind, bytes),
        Kind::Coordination => {
            let log = crate::joint::JointLog::from_json(bytes)
                .map_err(|e| ContentError::Coordination(e.to_string()))?;
            Ok(ContentInfo {
                kind,
                max_tlp: None,
                max_tlp_source: None,
                objects: log.items.len(),
                inventory: Inventory::default(),
            })
        }
    }
}

/// [`validate`] on content read from `reader`. STIX streams (memory grows
/// with the largest object, not the bundle); the other kinds are small
/// documents checked whole.
pub fn validate_reader<R: std::io::Read>(
    kind: Kind,
    mut reader: R,
) -> Result<ContentInfo, ContentError> {
    if kind == Kind::Stix {
        return stream::validate_stix_reader(reader);
    }
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| ContentError::Read(e.to_string()))?;
    validate(kind, &bytes)
}

/// STIX validation on one parsed tree: the reference the streamed
/// validation is tested against.
#[cfg(test)]
pub(crate) fn validate_stix_in_memory(bytes: &[u8]) -> Result<ContentInfo, ContentError> {
    let top = parse_object(Kind::Stix, bytes)?;
    let mut info = stix::validate(&top)?;
    info.inventory = inventory_of(&top);
    Ok(info)
}

/// Guess the kind from bytes: JSON object with "type":"bundle" → Stix; JSON object with "document" having "csaf_version" → Csaf; valid UTF-8 text otherwise → Note; else None.
pub fn detect(bytes: &[u8]) -> Option<Kind> {
    if let Ok(Value::Object(top)) = serde_json::from_slice::<Value>(bytes) {
        if top.get("type").and_then(Value::as_str) == Some("bundle") {
            return Some(Kind::Stix);
        }
        if top
            .get("document")
            .and_then(Value::as_object)
            .is_some_and(|d| d.contains_key("csaf_version"))
        {
            return Some(Kind::Csaf);
        }
    }
    std::str::from_utf8(bytes).ok().map(|_| Kind::Note)
}

fn validate_text(kind: Kind, bytes: &[u8]) -> Result<ContentInfo, ContentError> {
    std::str::from_utf8(bytes).map_err(|e| ContentError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    Ok(ContentInfo {
        kind,
        max_tlp: None,
        max_tlp_source: None,
        objects: 0,
        inventory: Inventory::default(),
    })
}

/// Parse JSON whose top level must be an object. serde_json caps nesting
/// depth (128), so hostile input cannot exhaust the stack.
fn parse_object(kind: Kind, bytes: &[u8]) -> Result<serde_json::Map<String, Value>, ContentError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        // serde_json appends " at line L column C"; we report those as fields.
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        ContentError::NotJson {
            kind,
            message: full.strip_suffix(&suffix).unwrap_or(&full).to_string(),
            line: e.line(),
            column: e.column(),
        }
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(ContentError::NotObject {
            kind,
            found: json_type(&other),
        }),
    }
}

/// "a string", "an array", … for "found …" in messages.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value quoted for a message, cut to a few dozen characters so that an
/// error never carries a large piece of the content.
fn excerpt(s: &str) -> String {
    const MAX: usize = 48;
    match s.char_indices().nth(MAX) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
    }
}

/// Parse an RFC 3339 date-time with chrono. Returns it in UTC.
fn parse_rfc3339(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The STIX types a bundle carries: what sharing agreements allow or refuse.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Object `type` → how many objects of it.
    pub object_types: std::collections::BTreeMap<String, usize>,
    /// Observable types compared in indicator patterns (e.g. `email-addr`
    /// in `[email-addr:value = '…']`) → how many indicators compare them.
    pub pattern_types: std::collections::BTreeMap<String, usize>,
}

/// The inventory of `bytes` of `kind`: empty for anything but STIX. Content
/// that does not parse gives an empty inventory; [`validate`] reports why.
pub fn inventory(kind: Kind, bytes: &[u8]) -> Inventory {
    if kind != Kind::Stix {
        return Inventory::default();
    }
    // Valid content (the usual case): one object at a time. Content that
    // fails a check is counted from one tree, as far as it parses.
    if let Ok(info) = stream::validate_stix_reader(bytes) {
        return info.inventory;
    }
    let Ok(Value::Object(top)) = serde_json::from_slice::<Value>(bytes) else {
        return Inventory::default();
    };
    inventory_of(&top)
}

/// The inventory of a parsed STIX bundle.
fn inventory_of(top: &serde_json::Map<String, Value>) -> Inventory {
    let mut inv = Inventory::default();
    for obj in top
        .get("objects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        inv.count(obj);
    }
    inv
}

impl Inventory {
    /// Count one object of a bundle's `objects`.
    fn count(&mut self, obj: &Value) {
        let Some(ty) = obj.get("type").and_then(Value::as_str) else {
            return;
        };
        *self.object_types.entry(ty.to_string()).or_default() += 1;
        // observed-data's deprecated (still valid) `objects` dictionary
        // embeds observables: they count as objects of their type.
        if let Some(embedded) = obj.get("objects").and_then(Value::as_object) {
            for o in embedded.values() {
                if let Some(t) = o.get("type").and_then(Value::as_str) {
                    *self.object_types.entry(t.to_string()).or_default() += 1;
                }
            }
        }
        if let Some(pattern) = obj.get("pattern").and_then(Value::as_str) {
            for t in pattern_object_types(pattern) {
                *self.pattern_types.entry(t).or_default() += 1;
            }
        }
    }
}

/// The distinct object types named by object paths (`type:property`) in a
/// STIX pattern, skipping quoted literals and comments (`/* … */`, `// …`)
/// as the STIX 2.1 pattern grammar does, and allowing whitespace around
/// the `:`.
pub fn pattern_object_types(pattern: &str) -> std::collections::BTreeSet<String> {
    let mut types = std::collections::BTreeSet::new();
    // The identifier just read; kept across whitespace, because the grammar
    // skips whitespace between an object type and its `:`.
    let mut word = String::new();
    let mut after_space = false;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                // A string literal: skip to its closing quote (`\'` escapes).
                word.clear();
                while let Some(q) = chars.next() {
                    match q {
                        '\\' => {
                            chars.next();
                        }
                        '\'' => break,
                        _ => {}
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = '\0';
                for q in chars.by_ref() {
                    if prev == '*' && q == '/' {
                        break;
                    }
                    prev = q;
                }
                after_space = true;
            }
            '/' if chars.peek() == Some(&'/') => {
                for q in chars.by_ref() {
                    if q == '\n' {
                        break;
                    }
                }
                after_space = true;
            }
            ':' => {
                if !word.is_empty() {
                    types.insert(std::mem::take(&mut word));
                }
                after_space = false;
            }
            c if c.is_ascii_alphanumeric() || c == '-' || c == '_' => {
                if after_space {
                    word.clear();
                    after_space = false;
                }
                word.push(c);
            }
            c if c.is_whitespace() => after_space = true,
            _ => {
                word.clear();
                after_space = false;
            }
        }
    }
    types
}
