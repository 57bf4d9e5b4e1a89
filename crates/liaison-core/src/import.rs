//! Import of indicators from MISP events, plain IOC lists and CSV into a
//! STIX 2.1 bundle.
//!
//! Pure: bytes in, the bundle's bytes and a [`Report`] out. The report says
//! what was converted, everything that was not and why (unsupported type,
//! invalid value, `to_ids` false, deleted, duplicate), and the TLP that the
//! input's own labels call for (MISP `tlp:` tags), which the bundle must not
//! be labelled below.
//!
//! Never a half import: input that does not parse at all is an error that
//! names where (line and column for JSON, line for CSV); input with nothing
//! convertible is an error that lists why; input over the size limit is
//! refused before it is parsed. The bundle produced always passes
//! [`content::validate`] for [`Kind::Stix`].
//!
//! | input | what becomes an indicator |
//! | --- | --- |
//! | MISP event JSON: `{"Event": {…}}`, a bare event, a list of them or `{"response": […]}` | attributes (also inside `Object`s) of types `ip-src`, `ip-dst`, `ip-src\|port`, `ip-dst\|port`, `domain`, `hostname`, `url`, `md5`, `sha1`, `sha256`, `filename\|md5`, `filename\|sha1`, `filename\|sha256`, `email-src`, `email-dst` with `to_ids` set |
//! | a plain list | one value per line (`#` comments and blank lines ignored), its type detected: IPv4, IPv6, CIDR, domain, URL, e-mail, MD5, SHA-1, SHA-256 |
//! | CSV | a header with a `type` and a `value` column (MISP type names or STIX observable names; an empty type is detected); `to_ids`, `comment` and `category` columns are used when present |

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::content::{self, Kind};
use crate::tlp::Tlp;

#[cfg(test)]
mod tests;

/// The default size limit: inputs larger than this are refused unparsed.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;

/// How many examples the report lists per skip reason (all are counted).
pub const MAX_EXAMPLES: usize = 10;

/// Longest value accepted (characters); longer ones are invalid.
const MAX_VALUE_CHARS: usize = 8192;

/// The OASIS extension that carries TLP 2.0 labels (STANDARDS §2.5).
const TLP2_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// What an input file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// Detect it from the bytes ([`detect`]).
    Auto,
    /// A STIX 2.1 bundle: nothing to convert.
    Stix,
    /// A CSAF 2.0 advisory: nothing to convert.
    Csaf,
    /// MISP event JSON.
    Misp,
    /// One IOC per line.
    List,
    /// CSV with `type` and `value` columns.
    Csv,
}

impl Format {
    /// Every format, `auto` first.
    pub const ALL: [Format; 6] = [
        Format::Auto,
        Format::Stix,
        Format::Csaf,
        Format::Misp,
        Format::List,
        Format::Csv,
    ];

    /// The short name: `auto`, `stix`, `csaf`, `misp`, `list` or `csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Stix => "stix",
            Format::Csaf => "csaf",
            Format::Misp => "misp",
            Format::List => "list",
            Format::Csv => "csv",
        }
    }

    /// Whether [`import`] converts this format (MISP, list, CSV).
    pub fn is_convertible(self) -> bool {
        matches!(self, Format::Misp | Format::List | Format::Csv)
    }

    fn words(self) -> &'static str {
        match self {
            Format::Auto => "auto-detected input",
            Format::Stix => "a STIX 2.1 bundle",
            Format::Csaf => "a CSAF 2.0 advisory",
            Format::Misp => "MISP",
            Format::List => "an IOC list",
            Format::Csv => "CSV",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not an input format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an input format: expected one of auto, stix, csaf, misp, list, csv")]
pub struct ParseFormatError(pub String);

impl FromStr for Format {
    type Err = ParseFormatError;

    /// The short name, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseFormatError(s.to_string()))
    }
}

/// How to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Inputs larger than this many bytes are refused before parsing.
    pub max_bytes: usize,
    /// Convert MISP attributes (and CSV rows) whose `to_ids` is false too.
    pub include_non_ids: bool,
    /// The time stamped on what has no time of its own (list and CSV rows).
    pub now: DateTime<Utc>,
    /// The name of the report grouping a list's or CSV's indicators.
    pub name: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_bytes: DEFAULT_MAX_BYTES,
            include_non_ids: false,
            now: Utc::now(),
            name: None,
        }
    }
}

/// Which step an import is at, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading the input (`done`/`total` in bytes).
    Parse,
    /// Converting records to indicators (`done`/`total` in records).
    Convert,
}

/// Progress of an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The step.
    pub stage: Stage,
    /// Units done.
    pub done: u64,
    /// Units in all (at least `done`).
    pub total: u64,
}

/// Why an input record was not converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// A type Liaison does not turn into an indicator (e.g. MISP `text`).
    UnsupportedType,
    /// The value is missing, of the wrong JSON type or not what its type says.
    InvalidValue,
    /// A MISP attribute (or CSV row) with `to_ids` false.
    NotForIds,
    /// A deleted MISP attribute or object.
    Deleted,
    /// The same indicator was already converted from an earlier record.
    Duplicate,
}

impl SkipReason {
    /// The reason in words.
    pub fn words(self) -> &'static str {
        match self {
            SkipReason::UnsupportedType => "type not supported",
            SkipReason::InvalidValue => "invalid value",
            SkipReason::NotForIds => "to_ids is false (not meant for detection)",
            SkipReason::Deleted => "deleted",
            SkipReason::Duplicate => "duplicate of an indicator already converted",
        }
    }
}

/// Records skipped for one reason: all counted, the first few listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skipped {
    /// How many records were skipped for this reason.
    pub count: usize,
    /// Up to [`MAX_EXAMPLES`] of them, each naming where it is
    /// (`Event.Attribute[3]`, `line 12`) and why.
    pub examples: Vec<String>,
}

/// One MISP event of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSummary {
    /// Where it is in the input, e.g. `Event` or `response[2].Event`.
    pub path: String,
    /// Its `uuid`.
    pub uuid: Option<String>,
    /// Its `info` (title), cut short.
    pub info: String,
    /// The creating organization (`Orgc.name`).
    pub org: Option<String>,
    /// Its MISP `distribution` level in words, e.g. "1 (this community only)".
    pub distribution: Option<String>,
    /// The highest TLP of its `tlp:` tags.
    pub tlp: Option<Tlp>,
    /// Indicators converted from it.
    pub indicators: usize,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The input format (never [`Format::Auto`]).
    pub format: Format,
    /// Indicators converted.
    pub converted: usize,
    /// Converted indicators by input type (`ip-dst`, `domain`, …).
    pub converted_by_type: BTreeMap<String, usize>,
    /// Records not converted, by reason.
    pub skipped: BTreeMap<SkipReason, Skipped>,
    /// The highest TLP carried by what was converted (MISP `tlp:` tags):
    /// the bundle must be labelled at least this.
    pub suggested_tlp: Option<Tlp>,
    /// Where that TLP came from, e.g. `Event.Tag "tlp:amber"`.
    pub tlp_source: Option<String>,
    /// The MISP events read.
    pub events: Vec<EventSummary>,
    /// Converted MISP attributes by their own `distribution` level, in words.
    pub attribute_distributions: BTreeMap<String, usize>,
}

impl Report {
    fn new(format: Format) -> Report {
        Report {
            format,
            converted: 0,
            converted_by_type: BTreeMap::new(),
            skipped: BTreeMap::new(),
            suggested_tlp: None,
            tlp_source: None,
            events: Vec::new(),
            attribute_distributions: BTreeMap::new(),
        }
    }

    /// Records skipped, all reasons together.
    pub fn skipped_total(&self) -> usize {
        self.skipped.values().map(|s| s.count).sum()
    }

    fn skip(&mut self, reason: SkipReason, example: String) {
        let entry = self.skipped.entry(reason).or_default();
        entry.count += 1;
        if entry.examples.len() < MAX_EXAMPLES {
            entry.examples.push(example);
        }
    }
}

impl fmt::Display for Report {
    /// Several lines, each ending in a newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "import from {}: {} indicator(s) converted, {} record(s) skipped",
            self.format.words(),
            self.converted,
            self.skipped_total()
        )?;
        if !self.converted_by_type.is_empty() {
            let types: Vec<String> = self
                .converted_by_type
                .iter()
                .map(|(t, n)| format!("{t} {n}"))
                .collect();
            writeln!(f, "  converted: {}", types.join(", "))?;
        }
        for (reason, skipped) in &self.skipped {
            writeln!(f, "  skipped, {} ({}):", reason.words(), skipped.count)?;
            for example in &skipped.examples {
                writeln!(f, "    - {example}")?;
            }
            if skipped.count > skipped.examples.len() {
                writeln!(
                    f,
                    "    - … and {} more",
                    skipped.count - skipped.examples.len()
                )?;
            }
        }
        for e in &self.events {
            write!(f, "  {}: {:?}", e.path, e.info)?;
            if let Some(uuid) = &e.uuid {
                write!(f, " ({uuid})")?;
            }
            if let Some(org) = &e.org {
                write!(f, " by {org:?}")?;
            }
            write!(f, ", {} indicator(s)", e.indicators)?;
            if let Some(d) = &e.distribution {
                write!(f, ", MISP distribution {d}")?;
            }
            match e.tlp {
                Some(t) => writeln!(f, ", {t}")?,
                None => writeln!(f, ", no TLP tag")?,
            }
        }
        if !self.attribute_distributions.is_empty() {
            let levels: Vec<String> = self
                .attribute_distributions
                .iter()
                .map(|(d, n)| format!("{d}: {n}"))
                .collect();
            writeln!(f, "  attribute distribution levels: {}", levels.join(", "))?;
        }
        match (self.suggested_tlp, &self.tlp_source) {
            (Some(t), Some(source)) => writeln!(f, "  suggested TLP: {t} (from {source})"),
            (Some(t), None) => writeln!(f, "  suggested TLP: {t}"),
            (None, _) => writeln!(f, "  suggested TLP: none found in the input"),
        }
    }
}

/// The result of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The STIX 2.1 bundle (pretty-printed JSON).
    pub bundle: Vec<u8>,
    /// What was converted and skipped.
    pub report: Report,
}

/// An input refused whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// Larger than [`Options::max_bytes`]; not parsed.
    #[error("input is {size} bytes, over the import limit of {limit} bytes")]
    TooLarge {
        /// The input's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// JSON that does not parse.
    #[error("{format} input is not valid JSON: {message} at line {line}, column {column}")]
    NotJson {
        /// The format that was expected.
        format: Format,
        /// serde_json's description of the error.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A list or CSV that is not UTF-8 text.
    #[error("{format} input is not UTF-8 text: invalid byte at offset {offset} (line {line})")]
    NotUtf8 {
        /// The format that was expected.
        format: Format,
        /// Byte offset of the first invalid byte.
        offset: usize,
        /// 1-based line of that byte.
        line: usize,
    },
    /// CSV that cannot be read.
    #[error("CSV line {line}: {message}")]
    Csv {
        /// 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// MISP JSON of the wrong shape.
    #[error("MISP {path}: {problem}")]
    Malformed {
        /// Where, e.g. `Event.Attribute`.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// Auto-detection found nothing it can import.
    #[error("cannot tell what the input holds: {0}")]
    NotDetected(String),
    /// STIX and CSAF are shared as they are, not imported.
    #[error("the input is {} already: nothing to convert", .0.words())]
    NotConvertible(Format),
    /// Nothing convertible: every record was skipped.
    #[error("nothing to import: no record could be converted to an indicator\n{report}")]
    NothingToImport {
        /// Why each record was skipped.
        report: Box<Report>,
    },
    /// The converted bundle failed validation: a bug in the converter.
    #[error("the converted bundle does not validate (please report this): {0}")]
    Invalid(String),
}

/// What `bytes` hold: STIX, CSAF, MISP, CSV (a header with `type` and
/// `value` columns) or an IOC list (most lines are IOC values).
///
/// JSON that does not parse is an [`ImportError::NotJson`]; JSON of another
/// shape, binary data or prose is [`ImportError::NotDetected`].
pub fn detect(bytes: &[u8]) -> Result<Format, ImportError> {
    let text_start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| bytes[i]);
    let bytes_no_bom = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if matches!(text_start, Some(b'{' | b'[')) {
        let value = parse_json(Format::Auto, bytes_no_bom)?;
        return detect_json(&value);
    }
    let text = std::str::from_utf8(bytes_no_bom)
        .map_err(|_| ImportError::NotDetected("binary data (not UTF-8 text, not JSON)".into()))?;
    if csv_header(text).is_some() {
        return Ok(Format::Csv);
    }
    // An IOC list when most of its first content lines are IOC values.
    let (mut lines, mut iocs) = (0usize, 0usize);
    for line in content_lines(text).take(200) {
        lines += 1;
        if detect_value(&refang(line.1)).is_some() {
            iocs += 1;
        }
    }
    if lines > 0 && iocs * 2 > lines {
        return Ok(Format::List);
    }
    Err(ImportError::NotDetected(if lines == 0 {
        "no content (only blank lines and comments)".into()
    } else {
        format!("text, but only {iocs} of its first {lines} line(s) are IOC values")
    }))
}

fn detect_json(value: &Value) -> Result<Format, ImportError> {
    match value {
        Value::Object(top) => {
            if top.get("type").and_then(Value::as_str) == Some("bundle") {
                return Ok(Format::Stix);
            }
            if top
                .get("document")
                .and_then(Value::as_object)
                .is_some_and(|d| d.contains_key("csaf_version"))
            {
                return Ok(Format::Csaf);
            }
            if top.contains_key("Event")
                || top.get("response").is_some_and(Value::is_array)
                || is_bare_event(top)
            {
                return Ok(Format::Misp);
            }
            Err(ImportError::NotDetected(
                "a JSON object that is neither a STIX bundle, a CSAF document nor a MISP event"
                    .into(),
            ))
        }
        Value::Array(items)
            if items
                .first()
                .and_then(Value::as_object)
                .is_some_and(|o| o.contains_key("Event") || is_bare_event(o)) =>
        {
            Ok(Format::Misp)
        }
        other => Err(ImportError::NotDetected(format!(
            "JSON {} that is not a MISP event list",
            json_type(other)
        ))),
    }
}

/// A MISP event not wrapped in `{"Event": …}` (as PyMISP writes them).
fn is_bare_event(o: &Map<String, Value>) -> bool {
    (o.contains_key("Attribute") || o.contains_key("Object"))
        && (o.contains_key("info") || o.contains_key("Orgc") || o.contains_key("uuid"))
}

/// Import with default progress reporting (none).
pub fn import(bytes: &[u8], format: Format, options: &Options) -> Result<Imported, ImportError> {
    import_with_progress(bytes, format, options, &mut |_| {})
}

/// Import `bytes` as `format` ([`Format::Auto`]: [`detect`] first), calling
/// `progress` now and then. Never panics on any input.
pub fn import_with_progress(
    bytes: &[u8],
    format: Format,
    options: &Options,
    progress: &mut dyn FnMut(Progress),
) -> Result<Imported, ImportError> {
    if bytes.len() > options.max_bytes {
        return Err(ImportError::TooLarge {
            size: bytes.len(),
            limit: options.max_bytes,
        });
    }
    let format = match format {
        Format::Auto => detect(bytes)?,
        f => f,
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut b = Builder::new(format, options);
    match format {
        Format::Stix | Format::Csaf | Format::Auto => {
            return Err(ImportError::NotConvertible(format))
        }
        Format::Misp => {
            let total = bytes.len() as u64;
            progress(Progress {
                stage: Stage::Parse,
                done: 0,
                total,
            });
            let value = parse_json(Format::Misp, bytes)?;
            progress(Progress {
                stage: Stage::Parse,
                done: total,
                total,
            });
            import_misp(&value, &mut b, progress)?;
        }
        Format::List => {
            let text = utf8(Format::List, bytes)?;
            import_list(text, &mut b, progress);
        }
        Format::Csv => {
            let text = utf8(Format::Csv, bytes)?;
            import_csv(text, &mut b, progress)?;
        }
    }
    b.finish(bytes)
}

// ----- parsing helpers -----

fn parse_json(format: Format, bytes: &[u8]) -> Result<Value, ImportError> {
    serde_json::from_slice::<Value>(bytes).map_err(|e| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        ImportError::NotJson {
            format: if format == Format::Auto {
                Format::Misp
            } else {
                format
            },
            message: full.strip_suffix(&suffix).unwrap_or(&full).to_string(),
            line: e.line(),
            column: e.column(),
        }
    })
}

fn utf8(format: Format, bytes: &[u8]) -> Result<&str, ImportError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        ImportError::NotUtf8 {
            format,
            offset,
            line: 1 + bytes[..offset].iter().filter(|b| **b == b'\n').count(),
        }
    })
}

/// (1-based line number, trimmed line) of the lines that are neither blank
/// nor `#` comments; an inline ` #` comment is cut off.
fn content_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let line = match line.find(" #").or_else(|| line.find("\t#")) {
            Some(at) => line[..at].trim_end(),
            None => line,
        };
        Some((i + 1, line))
    })
}

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

/// A value quoted for the report, cut short.
fn excerpt(s: &str) -> String {
    const MAX: usize = 60;
    match s.char_indices().nth(MAX) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
    }
}

/// `s` cut to `max` characters.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((at, _)) => format!("{}…", &s[..at]),
    }
}

// ----- types, values and patterns -----

/// What a record's type means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IocType {
    Ip,
    IpPort { src: bool },
    Domain,
    Url,
    Email,
    Hash(Option<Hash>),
    FilenameHash(Hash),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Md5,
    Sha1,
    Sha256,
}

impl Hash {
    fn hex_len(self) -> usize {
        match self {
            Hash::Md5 => 32,
            Hash::Sha1 => 40,
            Hash::Sha256 => 64,
        }
    }

    /// The object path of the hash in a STIX pattern (hashing-algorithm-ov).
    fn path(self) -> &'static str {
        match self {
            Hash::Md5 => "file:hashes.MD5",
            Hash::Sha1 => "file:hashes.'SHA-1'",
            Hash::Sha256 => "file:hashes.'SHA-256'",
        }
    }

    fn by_len(len: usize) -> Option<Hash> {
        [Hash::Md5, Hash::Sha1, Hash::Sha256]
            .into_iter()
            .find(|h| h.hex_len() == len)
    }
}

/// MISP type names and STIX observable names; `None` when unsupported.
fn ioc_type(name: &str) -> Option<IocType> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "ip-src" | "ip-dst" | "ip" | "ipv4-addr" | "ipv6-addr" | "ipv4" | "ipv6" | "cidr" => {
            IocType::Ip
        }
        "ip-src|port" => IocType::IpPort { src: true },
        "ip-dst|port" => IocType::IpPort { src: false },
        "domain" | "hostname" | "domain-name" | "fqdn" => IocType::Domain,
        "url" | "uri" => IocType::Url,
        "email-src" | "email-dst" | "email" | "email-addr" => IocType::Email,
        "md5" => IocType::Hash(Some(Hash::Md5)),
        "sha1" | "sha-1" => IocType::Hash(Some(Hash::Sha1)),
        "sha256" | "sha-256" => IocType::Hash(Some(Hash::Sha256)),
        "file" | "hash" => IocType::Hash(None),
        "filename|md5" => IocType::FilenameHash(Hash::Md5),
        "filename|sha1" => IocType::FilenameHash(Hash::Sha1),
        "filename|sha256" => IocType::FilenameHash(Hash::Sha256),
        _ => return None,
    })
}

/// A value's type, for lists and CSV rows without a type.
fn detect_value(v: &str) -> Option<(IocType, &'static str)> {
    if v.is_empty() || v.chars().any(char::is_whitespace) {
        return None;
    }
    if let Some((scheme, rest)) = v.split_once("://") {
        let scheme_ok = !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        return (scheme_ok && !rest.is_empty()).then_some((IocType::Url, "url"));
    }
    if let Some(t) = ip_kind(v) {
        return Some((IocType::Ip, t));
    }
    if let Some(h) = Hash::by_len(v.len()).filter(|_| is_hex(v)) {
        let name = match h {
            Hash::Md5 => "md5",
            Hash::Sha1 => "sha1",
            Hash::Sha256 => "sha256",
        };
        return Some((IocType::Hash(Some(h)), name));
    }
    if v.contains('@') {
        return valid_email(v).then_some((IocType::Email, "email"));
    }
    valid_domain(v).then_some((IocType::Domain, "domain"))
}

/// "ipv4", "ipv6", "ipv4-cidr" or "ipv6-cidr".
fn ip_kind(v: &str) -> Option<&'static str> {
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(if ip.is_ipv4() { "ipv4" } else { "ipv6" });
    }
    match v.parse::<ipnet::IpNet>() {
        Ok(ipnet::IpNet::V4(_)) => Some("ipv4-cidr"),
        Ok(ipnet::IpNet::V6(_)) => Some("ipv6-cidr"),
        Err(_) => None,
    }
}

fn is_hex(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_hexdigit())
}

fn valid_domain(v: &str) -> bool {
    let v = v.strip_suffix('.').unwrap_or(v);
    if v.is_empty() || v.len() > 253 || !v.contains('.') {
        return false;
    }
    let labels_ok = v.split('.').all(|label| {
        !label.is_empty()
            && label.chars().count() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
    });
    // The last label is a TLD: not all digits (that would be an IP).
    labels_ok
        && v.rsplit('.')
            .next()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()))
}

fn valid_email(v: &str) -> bool {
    match v.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && local.len() <= 64
                && !local
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '@')
                && valid_domain(domain)
        }
        None => false,
    }
}

/// Undo common defanging in IOC lists: `hxxp`, `[.]`, `(.)`, `[:]`, `[@]`.
fn refang(v: &str) -> String {
    let mut out = v
        .replace("[.]", ".")
        .replace("(.)", ".")
        .replace("{.}", ".")
        .replace("[:]", ":")
        .replace("[@]", "@")
        .replace("[at]", "@");
    for (from, to) in [("hxxps://", "https://"), ("hxxp://", "http://")] {
        if out.len() >= from.len()
            && out.is_char_boundary(from.len())
            && out[..from.len()].eq_ignore_ascii_case(from)
        {
            out = format!("{to}{}", &out[from.len()..]);
        }
    }
    out
}

/// A STIX pattern string literal: quotes and backslashes escaped.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Why a value did not convert.
enum Reject {
    Invalid(String),
}

/// The STIX pattern for a value of a type.
fn pattern_for(ty: IocType, value: &str) -> Result<String, Reject> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Reject::Invalid("is empty".into()));
    }
    if v.chars().count() > MAX_VALUE_CHARS {
        return Err(Reject::Invalid(format!(
            "is longer than {MAX_VALUE_CHARS} characters"
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(Reject::Invalid("contains control characters".into()));
    }
    let bad = |what: &str| Err(Reject::Invalid(format!("{} is not {what}", excerpt(v))));
    match ty {
        IocType::Ip => match ip_kind(v) {
            Some(k) if k.starts_with("ipv4") => Ok(format!("[ipv4-addr:value = {}]", lit(v))),
            Some(_) => Ok(format!("[ipv6-addr:value = {}]", lit(v))),
            None => bad("an IP address or CIDR block"),
        },
        IocType::IpPort { src } => {
            let Some((ip, port)) = v.rsplit_once('|') else {
                return bad("of the form address|port");
            };
            let Ok(port) = port.trim().parse::<u16>() else {
                return bad("of the form address|port (port 0–65535)");
            };
            let ip = ip.trim();
            let addr_type = match ip.parse::<IpAddr>() {
                Ok(IpAddr::V4(_)) => "ipv4-addr",
                Ok(IpAddr::V6(_)) => "ipv6-addr",
                Err(_) => return bad("of the form address|port"),
            };
            let side = if src { "src" } else { "dst" };
            Ok(format!(
                "[network-traffic:{side}_ref.type = '{addr_type}' AND network-traffic:{side}_ref.value = {} AND network-traffic:{side}_port = {port}]",
                lit(ip)
            ))
        }
        IocType::Domain => {
            if valid_domain(v) {
                Ok(format!("[domain-name:value = {}]", lit(v)))
            } else {
                bad("a domain name")
            }
        }
        IocType::Url => {
            if v.chars().any(char::is_whitespace) || !(v.contains('.') || v.contains("://")) {
                bad("a URL")
            } else {
                Ok(format!("[url:value = {}]", lit(v)))
            }
        }
        IocType::Email => {
            if valid_email(v) {
                Ok(format!("[email-addr:value = {}]", lit(v)))
            } else {
                bad("an e-mail address")
            }
        }
        IocType::Hash(algo) => {
            let algo = match algo {
                Some(h) if h.hex_len() == v.len() && is_hex(v) => h,
                Some(h) => {
                    return bad(&format!("a hash of {} hex digits", h.hex_len()));
                }
                None => match Hash::by_len(v.len()).filter(|_| is_hex(v)) {
                    Some(h) => h,
                    None => return bad("an MD5, SHA-1 or SHA-256 hash"),
                },
            };
            Ok(format!(
                "[{} = {}]",
                algo.path(),
                lit(&v.to_ascii_lowercase())
            ))
        }
        IocType::FilenameHash(algo) => {
            let Some((name, hash)) = v.rsplit_once('|') else {
                return bad("of the form filename|hash");
            };
            let (name, hash) = (name.trim(), hash.trim());
            if name.is_empty() {
                return bad("of the form filename|hash (empty filename)");
            }
            if hash.len() != algo.hex_len() || !is_hex(hash) {
                return bad(&format!(
                    "of the form filename|hash with a hash of {} hex digits",
                    algo.hex_len()
                ));
            }
            Ok(format!(
                "[file:name = {} AND {} = {}]",
                lit(name),
                algo.path(),
                lit(&hash.to_ascii_lowercase())
            ))
        }
    }
}

/// The TLP of a MISP tag name: `tlp:white`/`tlp:clear`, `tlp:green`,
/// `tlp:amber`, `tlp:amber+strict`, `tlp:red`, in any case.
pub fn tlp_from_tag(name: &str) -> Option<Tlp> {
    let lower = name.trim().to_ascii_lowercase();
    let bare = lower.strip_prefix("tlp:")?;
    match bare.trim() {
        "white" | "clear" => Some(Tlp::Clear),
        "green" => Some(Tlp::Green),
        "amber" => Some(Tlp::Amber),
        "amber+strict" => Some(Tlp::AmberStrict),
        "red" => Some(Tlp::Red),
        _ => None,
    }
}

/// MISP `distribution` levels in words.
fn distribution_words(v: &Value) -> Option<String> {
    let level = match v {
        Value::String(s) => s.trim().parse::<u8>().ok()?,
        Value::Number(n) => u8::try_from(n.as_u64()?).ok()?,
        _ => return None,
    };
    let words = match level {
        0 => "your organisation only",
        1 => "this community only",
        2 => "connected communities",
        3 => "all communities",
        4 => "sharing group",
        5 => "inherit event",
        _ => return Some(format!("{level} (unknown level)")),
    };
    Some(format!("{level} ({words})"))
}

/// A STIX timestamp with millisecond precision.
fn stix_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A MISP epoch timestamp (string or number of seconds).
fn misp_time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let secs = match v? {
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    // 1970 to 9999: what a STIX timestamp can hold.
    if !(0..=253_402_300_799).contains(&secs) {
        return None;
    }
    Utc.timestamp_opt(secs, 0).single()
}

fn misp_date(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let d = NaiveDate::parse_from_str(v?.as_str()?.trim(), "%Y-%m-%d").ok()?;
    Some(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?))
}

/// Booleans as MISP writes them: `true`, `"1"`, `1`, `"true"`.
fn misp_bool(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_f64() != Some(0.0)),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => Some(true),
            "0" | "false" | "no" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A UUID fit for a STIX id (RFC 4122, version 1–5).
fn stix_uuid(s: &str) -> Option<Uuid> {
    let u = Uuid::try_parse(s.trim()).ok()?;
    (s.trim().len() == 36
        && u.get_variant() == uuid::Variant::RFC4122
        && (1..=5).contains(&u.get_version_num()))
    .then_some(u)
}

/// A deterministic version-4-shaped UUID derived from `parts`, so that
/// importing the same input twice gives the same ids.
fn derived_uuid(parts: &[&str]) -> Uuid {
    let mut h = Sha256::new();
    h.update(b"liaison-import\0");
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn marking_definition(t: Tlp) -> Value {
    json!({
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": t.stix_marking_id(),
        "created": "2022-10-01T00:00:00.000Z",
        "name": t.as_str(),
        "extensions": {
            TLP2_EXTENSION: {
                "extension_type": "property-extension",
                "tlp_2_0": t.stix_value()
            }
        }
    })
}

// ----- building the bundle -----

/// One indicator to add.
struct Candidate<'a> {
    /// Where it came from, for the report.
    at: String,
    /// The input type's name, for counts and the indicator's name.
    type_name: &'a str,
    ty: IocType,
    value: &'a str,
    uuid: Option<Uuid>,
    valid_from: DateTime<Utc>,
    created_by: Option<&'a str>,
    tlp: Option<(Tlp, String)>,
    description: Option<&'a str>,
    labels: Vec<String>,
}

struct Builder<'o> {
    options: &'o Options,
    identities: Vec<Value>,
    identity_ids: HashSet<String>,
    indicators: Vec<Value>,
    reports: Vec<Value>,
    ids: HashSet<String>,
    patterns: HashSet<String>,
    tlps: BTreeSet<Tlp>,
    report: Report,
}

impl<'o> Builder<'o> {
    fn new(format: Format, options: &'o Options) -> Self {
        Builder {
            options,
            identities: Vec::new(),
            identity_ids: HashSet::new(),
            indicators: Vec::new(),
            reports: Vec::new(),
            ids: HashSet::new(),
            patterns: HashSet::new(),
            tlps: BTreeSet::new(),
            report: Report::new(format),
        }
    }

    /// A unique id of `ty`: from `uuid` when given and unused, else derived.
    fn fresh_id(&mut self, ty: &str, uuid: Option<Uuid>, seed: &[&str]) -> String {
        let mut id = match uuid {
            Some(u) => format!("{ty}--{u}"),
            None => format!("{ty}--{}", derived_uuid(seed)),
        };
        let mut n = 0u64;
        while self.ids.contains(&id) {
            n += 1;
            let counter = n.to_string();
            let mut parts = seed.to_vec();
            parts.push(&counter);
            id = format!("{ty}--{}", derived_uuid(&parts));
        }
        self.ids.insert(id.clone());
        id
    }

    fn note_tlp(&mut self, tlp: Option<&(Tlp, String)>) {
        if let Some((t, source)) = tlp {
            self.tlps.insert(*t);
            if self.report.suggested_tlp.is_none_or(|s| *t > s) {
                self.report.suggested_tlp = Some(*t);
                self.report.tlp_source = Some(source.clone());
            }
        }
    }

    /// Convert one candidate; its id, or `None` when skipped (reported).
    fn add(&mut self, c: Candidate<'_>) -> Option<String> {
        let pattern = match pattern_for(c.ty, c.value) {
            Ok(p) => p,
            Err(Reject::Invalid(why)) => {
                self.report.skip(
                    SkipReason::InvalidValue,
                    format!("{} (type `{}`): {why}", c.at, cut(c.type_name, 40)),
                );
                return None;
            }
        };
        if !self.patterns.insert(pattern.clone()) {
            self.report.skip(
                SkipReason::Duplicate,
                format!("{}: {}", c.at, excerpt(c.value.trim())),
            );
            return None;
        }
        let id = self.fresh_id("indicator", c.uuid, &["indicator", &pattern]);
        let time = stix_time(c.valid_from);
        let mut ind = Map::new();
        ind.insert("type".into(), json!("indicator"));
        ind.insert("spec_version".into(), json!("2.1"));
        ind.insert("id".into(), json!(id));
        ind.insert("created".into(), json!(time));
        ind.insert("modified".into(), json!(time));
        ind.insert(
            "name".into(),
            json!(cut(&format!("{}: {}", c.type_name, c.value.trim()), 200)),
        );
        if let Some(d) = c.description.map(str::trim).filter(|d| !d.is_empty()) {
            ind.insert("description".into(), json!(cut(d, 2000)));
        }
        ind.insert("indicator_types".into(), json!(["malicious-activity"]));
        ind.insert("pattern".into(), json!(pattern));
        ind.insert("pattern_type".into(), json!("stix"));
        ind.insert("pattern_version".into(), json!("2.1"));
        ind.insert("valid_from".into(), json!(time));
        if let Some(by) = c.created_by {
            ind.insert("created_by_ref".into(), json!(by));
        }
        if !c.labels.is_empty() {
            ind.insert("labels".into(), json!(c.labels));
        }
        if let Some((t, _)) = &c.tlp {
            ind.insert("object_marking_refs".into(), json!([t.stix_marking_id()]));
        }
        self.note_tlp(c.tlp.as_ref());
        self.indicators.push(Value::Object(ind));
        self.report.converted += 1;
        *self
            .report
            .converted_by_type
            .entry(c.type_name.trim().to_ascii_lowercase())
            .or_default() += 1;
        Some(id)
    }

    fn identity(&mut self, org: &Map<String, Value>, time: DateTime<Utc>) -> Option<String> {
        let name = org
            .get("name")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty())?;
        let uuid = org.get("uuid").and_then(Value::as_str).and_then(stix_uuid);
        let id = match uuid {
            Some(u) => format!("identity--{u}"),
            None => format!("identity--{}", derived_uuid(&["identity", name])),
        };
        if self.identity_ids.insert(id.clone()) {
            self.ids.insert(id.clone());
            let t = stix_time(time);
            self.identities.push(json!({
                "type": "identity",
                "spec_version": "2.1",
                "id": id,
                "created": t,
                "modified": t,
                "name": cut(name, 200),
                "identity_class": "organization"
            }));
        }
        Some(id)
    }

    #[allow(clippy::too_many_arguments)]
    fn group(
        &mut self,
        name: &str,
        uuid: Option<Uuid>,
        published: DateTime<Utc>,
        refs: Vec<String>,
        created_by: Option<&str>,
        tlp: Option<&(Tlp, String)>,
        description: String,
    ) {
        if refs.is_empty() {
            return;
        }
        let id = self.fresh_id("report", uuid, &["report", name, &description]);
        let t = stix_time(published);
        let mut r = Map::new();
        r.insert("type".into(), json!("report"));
        r.insert("spec_version".into(), json!("2.1"));
        r.insert("id".into(), json!(id));
        r.insert("created".into(), json!(t));
        r.insert("modified".into(), json!(t));
        r.insert("name".into(), json!(cut(name, 200)));
        r.insert("description".into(), json!(description));
        r.insert("report_types".into(), json!(["threat-report"]));
        r.insert("published".into(), json!(t));
        r.insert("object_refs".into(), json!(refs));
        if let Some(by) = created_by {
            r.insert("created_by_ref".into(), json!(by));
        }
        if let Some((t, _)) = tlp {
            r.insert("object_marking_refs".into(), json!([t.stix_marking_id()]));
        }
        self.note_tlp(tlp);
        self.reports.push(Value::Object(r));
    }

    fn finish(self, input: &[u8]) -> Result<Imported, ImportError> {
        if self.report.converted == 0 {
            return Err(ImportError::NothingToImport {
                report: Box::new(self.report),
            });
        }
        let digest = Sha256::digest(input);
        let hex = data_encoding::HEXLOWER.encode(&digest);
        let bundle_id = format!("bundle--{}", derived_uuid(&["bundle", &hex]));
        let mut objects = self.identities;
        objects.extend(self.tlps.iter().map(|t| marking_definition(*t)));
        objects.extend(self.indicators);
        objects.extend(self.reports);
        let bundle = json!({"type": "bundle", "id": bundle_id, "objects": objects});
        let bytes =
            serde_json::to_vec_pretty(&bundle).map_err(|e| ImportError::Invalid(e.to_string()))?;
        content::validate(Kind::Stix, &bytes).map_err(|e| ImportError::Invalid(e.to_string()))?;
        Ok(Imported {
            bundle: bytes,
            report: self.report,
        })
    }
}

// ----- MISP -----

/// Where each MISP event is in the input, and the event.
/// A JSON object of the input and where it is.
type Located<'a> = (String, &'a Map<String, Value>);

/// A MISP attribute to convert: where, the attribute, its object's name,
/// whether its object is deleted.
type AttrRecord<'a> = (String, &'a Map<String, Value>, Option<&'a str>, bool);

fn misp_events(top: &Value) -> Result<Vec<Located<'_>>, ImportError> {
    const SHAPE: &str = "expected a MISP event ({\"Event\": {…}} or a bare event), a list of them, or {\"response\": […]}";
    let mut out = Vec::new();
    let items: Vec<(String, &Value)> = match top {
        Value::Object(o) if o.contains_key("Event") => vec![(String::new(), top)],
        Value::Object(o) if o.contains_key("response") => match o.get("response") {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("response[{i}]."), v))
                .collect(),
            Some(other) => {
                return Err(ImportError::Malformed {
                    path: "response".into(),
                    problem: format!("must be an array of events, found {}", json_type(other)),
                })
            }
            None => Vec::new(),
        },
        Value::Object(o) if is_bare_event(o) => {
            out.push(("Event".to_string(), o));
            return Ok(out);
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("[{i}]."), v))
            .collect(),
        other => {
            return Err(ImportError::Malformed {
                path: "(top level)".into(),
                problem: format!("{SHAPE}; found {}", json_type(other)),
            })
        }
    };
    for (prefix, item) in items {
        let event = match item {
            Value::Object(o) => match o.get("Event") {
                Some(Value::Object(e)) => e,
                Some(other) => {
                    return Err(ImportError::Malformed {
                        path: format!("{prefix}Event"),
                        problem: format!("must be an object, found {}", json_type(other)),
                    })
                }
                None if is_bare_event(o) => o,
                None => {
                    return Err(ImportError::Malformed {
                        path: prefix.trim_end_matches('.').to_string(),
                        problem: format!("{SHAPE}; found an object without `Event`"),
                    })
                }
            },
            other => {
                return Err(ImportError::Malformed {
                    path: prefix.trim_end_matches('.').to_string(),
                    problem: format!("{SHAPE}; found {}", json_type(other)),
                })
            }
        };
        out.push((format!("{prefix}Event"), event));
    }
    if out.is_empty() {
        return Err(ImportError::Malformed {
            path: "(top level)".into(),
            problem: format!("{SHAPE}; found no event"),
        });
    }
    Ok(out)
}

/// An optional array field; anything else there is malformed.
fn array_field<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a [Value], ImportError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(ImportError::Malformed {
            path: format!("{path}.{key}"),
            problem: format!("must be an array, found {}", json_type(other)),
        }),
    }
}

/// The highest TLP among the `Tag` list of `obj`, with its source.
fn tags_tlp(obj: &Map<String, Value>, path: &str) -> Result<Option<(Tlp, String)>, ImportError> {
    let mut best: Option<(Tlp, String)> = None;
    for tag in array_field(obj, "Tag", path)? {
        let Some(name) = tag.get("name").and_then(Value::as_str) else {
            continue;
        };
        if let Some(t) = tlp_from_tag(name) {
            if best.as_ref().is_none_or(|(b, _)| t > *b) {
                best = Some((t, format!("{path}.Tag {}", excerpt(name))));
            }
        }
    }
    Ok(best)
}

fn max_tlp(a: Option<(Tlp, String)>, b: Option<(Tlp, String)>) -> Option<(Tlp, String)> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.0 > a.0 { b } else { a }),
        (a, b) => a.or(b),
    }
}

fn import_misp(
    top: &Value,
    b: &mut Builder<'_>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), ImportError> {
    let events = misp_events(top)?;
    // Check every container first, so that a malformed event refuses the
    // whole input before anything is converted; and count for progress.
    let mut total = 0u64;
    for (path, event) in &events {
        total += array_field(event, "Attribute", path)?.len() as u64;
        for (k, object) in array_field(event, "Object", path)?.iter().enumerate() {
            let opath = format!("{path}.Object[{k}]");
            match object {
                Value::Object(o) => total += array_field(o, "Attribute", &opath)?.len() as u64,
                other => {
                    return Err(ImportError::Malformed {
                        path: opath,
                        problem: format!("must be an object, found {}", json_type(other)),
                    })
                }
            }
        }
        tags_tlp(event, path)?;
    }
    let mut done = 0u64;
    let tick = |progress: &mut dyn FnMut(Progress), done: u64| {
        if done % 1000 == 0 || done == total {
            progress(Progress {
                stage: Stage::Convert,
                done,
                total,
            });
        }
    };
    for (path, event) in events {
        let event_tlp = tags_tlp(event, &path)?;
        let time = misp_time(event.get("timestamp"))
            .or_else(|| misp_date(event.get("date")))
            .unwrap_or(b.options.now);
        let org = event
            .get("Orgc")
            .or_else(|| event.get("Org"))
            .and_then(Value::as_object);
        let created_by = match org {
            Some(org) => b.identity(org, time),
            None => None,
        };
        let uuid_text = event
            .get("uuid")
            .and_then(Value::as_str)
            .map(|u| cut(u.trim(), 64));
        let info = event
            .get("info")
            .and_then(Value::as_str)
            .map(|i| cut(i.trim(), 200))
            .unwrap_or_default();
        let mut refs = Vec::new();
        let mut records: Vec<AttrRecord<'_>> = Vec::new();
        for (i, attr) in array_field(event, "Attribute", &path)?.iter().enumerate() {
            let at = format!("{path}.Attribute[{i}]");
            match attr {
                Value::Object(a) => records.push((at, a, None, false)),
                other => b.report.skip(
                    SkipReason::InvalidValue,
                    format!("{at}: must be an object, found {}", json_type(other)),
                ),
            }
        }
        for (k, object) in array_field(event, "Object", &path)?.iter().enumerate() {
            let Value::Object(o) = object else { continue };
            let opath = format!("{path}.Object[{k}]");
            let deleted = misp_bool(o.get("deleted")).unwrap_or(false);
            let name = o.get("name").and_then(Value::as_str);
            for (i, attr) in array_field(o, "Attribute", &opath)?.iter().enumerate() {
                let at = format!("{opath}.Attribute[{i}]");
                match attr {
                    Value::Object(a) => records.push((at, a, name, deleted)),
                    other => b.report.skip(
                        SkipReason::InvalidValue,
                        format!("{at}: must be an object, found {}", json_type(other)),
                    ),
                }
            }
        }
        let mut converted_here = 0usize;
        for (at, attr, object_name, object_deleted) in records {
            done += 1;
            tick(progress, done);
            let id = misp_attribute(
                b,
                &at,
                attr,
                object_name,
                object_deleted,
                &AttrCtx {
                    event_tlp: event_tlp.as_ref(),
                    time,
                    created_by: created_by.as_deref(),
                },
            )?;
            if let Some(id) = id {
                refs.push(id);
                converted_here += 1;
            }
        }
        let name = if info.is_empty() {
            format!(
                "MISP event {}",
                uuid_text.as_deref().unwrap_or("without uuid")
            )
        } else {
            info.clone()
        };
        let description = match &uuid_text {
            Some(u) => format!("Imported from MISP event {u}"),
            None => "Imported from a MISP event".to_string(),
        };
        let event_uuid = uuid_text.as_deref().and_then(stix_uuid);
        if converted_here > 0 {
            b.group(
                &name,
                event_uuid,
                time,
                refs,
                created_by.as_deref(),
                event_tlp.as_ref(),
                description,
            );
        }
        b.report.events.push(EventSummary {
            path,
            uuid: uuid_text,
            info,
            org: org
                .and_then(|o| o.get("name"))
                .and_then(Value::as_str)
                .map(|n| cut(n.trim(), 100)),
            distribution: event.get("distribution").and_then(distribution_words),
            tlp: event_tlp.map(|(t, _)| t),
            indicators: converted_here,
        });
    }
    tick(progress, total);
    Ok(())
}

struct AttrCtx<'a> {
    event_tlp: Option<&'a (Tlp, String)>,
    time: DateTime<Utc>,
    created_by: Option<&'a str>,
}

/// One MISP attribute: its indicator id, or `None` when skipped.
fn misp_attribute(
    b: &mut Builder<'_>,
    at: &str,
    attr: &Map<String, Value>,
    object_name: Option<&str>,
    object_deleted: bool,
    ctx: &AttrCtx<'_>,
) -> Result<Option<String>, ImportError> {
    let type_name = match attr.get("type") {
        Some(Value::String(t)) if !t.trim().is_empty() => t.as_str(),
        Some(Value::String(_)) | None => {
            b.report
                .skip(SkipReason::InvalidValue, format!("{at}: has no `type`"));
            return Ok(None);
        }
        Some(other) => {
            b.report.skip(
                SkipReason::InvalidValue,
                format!("{at}: `type` must be a string, found {}", json_type(other)),
            );
            return Ok(None);
        }
    };
    let shown_type = cut(type_name, 40);
    if object_deleted || misp_bool(attr.get("deleted")).unwrap_or(false) {
        let what = if object_deleted {
            "its object is deleted"
        } else {
            "deleted"
        };
        b.report.skip(
            SkipReason::Deleted,
            format!("{at} (type `{shown_type}`): {what}"),
        );
        return Ok(None);
    }
    let value = match attr.get("value") {
        Some(Value::String(v)) => v.as_str(),
        None | Some(Value::Null) => {
            b.report.skip(
                SkipReason::InvalidValue,
                format!("{at} (type `{shown_type}`): has no `value`"),
            );
            return Ok(None);
        }
        Some(other) => {
            b.report.skip(
                SkipReason::InvalidValue,
                format!(
                    "{at} (type `{shown_type}`): `value` must be a string, found {}",
                    json_type(other)
                ),
            );
            return Ok(None);
        }
    };
    let Some(ty) = ioc_type(type_name) else {
        b.report.skip(
            SkipReason::UnsupportedType,
            format!("{at}: type `{shown_type}`"),
        );
        return Ok(None);
    };
    if !b.options.include_non_ids && misp_bool(attr.get("to_ids")) == Some(false) {
        b.report.skip(
            SkipReason::NotForIds,
            format!("{at} (type `{shown_type}`): {}", excerpt(value.trim())),
        );
        return Ok(None);
    }
    let tlp = max_tlp(ctx.event_tlp.cloned(), tags_tlp(attr, at)?);
    let mut labels = vec![format!("misp:type=\"{}\"", cut(type_name.trim(), 60))];
    if let Some(cat) = attr.get("category").and_then(Value::as_str) {
        labels.push(format!("misp:category=\"{}\"", cut(cat.trim(), 60)));
    }
    if let Some(name) = object_name {
        labels.push(format!("misp:object=\"{}\"", cut(name.trim(), 60)));
    }
    let distribution = attr.get("distribution").and_then(distribution_words);
    let id = b.add(Candidate {
        at: at.to_string(),
        type_name,
        ty,
        value,
        uuid: attr.get("uuid").and_then(Value::as_str).and_then(stix_uuid),
        valid_from: misp_time(attr.get("timestamp")).unwrap_or(ctx.time),
        created_by: ctx.created_by,
        tlp,
        description: attr.get("comment").and_then(Value::as_str),
        labels,
    });
    if id.is_some() {
        if let Some(d) = distribution {
            *b.report.attribute_distributions.entry(d).or_default() += 1;
        }
    }
    Ok(id)
}

// ----- lists and CSV -----

fn list_name(b: &Builder<'_>, what: &str) -> String {
    b.options
        .name
        .clone()
        .unwrap_or_else(|| format!("Imported {what}"))
}

fn import_list(text: &str, b: &mut Builder<'_>, progress: &mut dyn FnMut(Progress)) {
    let total = text.len() as u64;
    let mut refs = Vec::new();
    let mut offset = 0u64;
    let mut next_tick = 0u64;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        offset += raw.len() as u64;
        if offset >= next_tick {
            progress(Progress {
                stage: Stage::Parse,
                done: offset,
                total,
            });
            next_tick = offset + (1 << 20);
        }
        let Some((line_no, line)) = content_lines(raw).next() else {
            continue;
        };
        let at = format!("line {}", i + line_no);
        let value = refang(line);
        let Some((ty, type_name)) = detect_value(&value) else {
            b.report.skip(
                SkipReason::InvalidValue,
                format!(
                    "{at}: {} is not an IP address, CIDR, domain, URL, e-mail or hash",
                    excerpt(line)
                ),
            );
            continue;
        };
        let now = b.options.now;
        if let Some(id) = b.add(Candidate {
            at,
            type_name,
            ty,
            value: &value,
            uuid: None,
            valid_from: now,
            created_by: None,
            tlp: None,
            description: None,
            labels: Vec::new(),
        }) {
            refs.push(id);
        }
    }
    progress(Progress {
        stage: Stage::Parse,
        done: total,
        total,
    });
    let name = list_name(b, "IOC list");
    let now = b.options.now;
    b.group(
        &name,
        None,
        now,
        refs,
        None,
        None,
        "Imported from a plain IOC list".into(),
    );
}

/// The header's column indexes: (type, value, to_ids, comment, category).
struct CsvColumns {
    ty: usize,
    value: usize,
    to_ids: Option<usize>,
    comment: Option<usize>,
    category: Option<usize>,
}

/// The columns of the first content line, when it is a CSV header with
/// `type` and `value` columns.
fn csv_header(text: &str) -> Option<CsvColumns> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .from_reader(first.as_bytes());
    let header = reader.records().next()?.ok()?;
    columns(&header)
}

fn columns(header: &csv::StringRecord) -> Option<CsvColumns> {
    let find = |names: &[&str]| {
        header
            .iter()
            .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
    };
    Some(CsvColumns {
        ty: find(&["type", "attribute_type"])?,
        value: find(&["value", "attribute_value"])?,
        to_ids: find(&["to_ids"]),
        comment: find(&["comment", "description"]),
        category: find(&["category"]),
    })
}

fn import_csv(
    text: &str,
    b: &mut Builder<'_>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), ImportError> {
    let total = text.len() as u64;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| csv_error(&e))?.clone();
    let cols = columns(&header).ok_or_else(|| ImportError::Csv {
        line: 1,
        message: format!(
            "the header needs a `type` and a `value` column; found {}",
            excerpt(&header.iter().collect::<Vec<_>>().join(","))
        ),
    })?;
    let mut refs = Vec::new();
    let mut next_tick = 0u64;
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(&e)),
        }
        let (line, offset) = record.position().map_or((0, 0), |p| (p.line(), p.byte()));
        if offset >= next_tick {
            progress(Progress {
                stage: Stage::Parse,
                done: offset.min(total),
                total,
            });
            next_tick = offset + (1 << 20);
        }
        let at = format!("line {line}");
        if record.iter().all(str::is_empty) {
            continue;
        }
        let field = |i: Option<usize>| i.and_then(|i| record.get(i)).filter(|s| !s.is_empty());
        let Some(raw_value) = field(Some(cols.value)) else {
            b.report
                .skip(SkipReason::InvalidValue, format!("{at}: no value"));
            continue;
        };
        let value = refang(raw_value);
        let type_field = field(Some(cols.ty));
        let (ty, type_name) = match type_field {
            None => match detect_value(&value) {
                Some((ty, name)) => (ty, name.to_string()),
                None => {
                    b.report.skip(
                        SkipReason::InvalidValue,
                        format!("{at}: no type, and {} is not an IP address, CIDR, domain, URL, e-mail or hash", excerpt(raw_value)),
                    );
                    continue;
                }
            },
            Some(t) => match ioc_type(t) {
                Some(ty) => (ty, t.to_ascii_lowercase()),
                None => {
                    b.report.skip(
                        SkipReason::UnsupportedType,
                        format!("{at}: type `{}`", cut(t, 40)),
                    );
                    continue;
                }
            },
        };
        if !b.options.include_non_ids
            && misp_bool(field(cols.to_ids).map(|s| json!(s)).as_ref()) == Some(false)
        {
            b.report.skip(
                SkipReason::NotForIds,
                format!(
                    "{at} (type `{}`): {}",
                    cut(&type_name, 40),
                    excerpt(raw_value)
                ),
            );
            continue;
        }
        let labels = field(cols.category)
            .map(|c| vec![format!("misp:category=\"{}\"", cut(c, 60))])
            .unwrap_or_default();
        let now = b.options.now;
        let description = field(cols.comment).map(str::to_string);
        if let Some(id) = b.add(Candidate {
            at,
            type_name: &type_name,
            ty,
            value: &value,
            uuid: None,
            valid_from: now,
            created_by: None,
            tlp: None,
            description: description.as_deref(),
            labels,
        }) {
            refs.push(id);
        }
    }
    progress(Progress {
        stage: Stage::Parse,
        done: total,
        total,
    });
    let name = list_name(b, "IOC CSV");
    let now = b.options.now;
    b.group(
        &name,
        None,
        now,
        refs,
        None,
        None,
        "Imported from CSV".into(),
    );
    Ok(())
}

fn csv_error(e: &csv::Error) -> ImportError {
    let line = e.position().map_or(0, csv::Position::line);
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => format!("not UTF-8 text (field {})", err.field() + 1),
        _ => e.to_string(),
    };
    ImportError::Csv { line, message }
}
