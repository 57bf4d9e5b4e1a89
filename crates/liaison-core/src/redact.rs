//! Rule-driven redaction before sealing (DESIGN §5).
//!
//! A flow of an agreement may say what the sender removes from content before
//! it is sealed for that partner ([`RedactRules`]). [`redact`] applies those
//! rules to a STIX 2.1 bundle, a CSAF 2.0 document or a text note and reports
//! what it removed or masked ([`Removal`]), never the removed values.
//!
//! Guarantees, whatever the rules say:
//!
//! - markings survive: `marking-definition` objects are never removed or
//!   changed, and `object_marking_refs` / `granular_markings` are never
//!   touched (removing them would lower the TLP); in CSAF,
//!   `/document/distribution` is left as it is;
//! - content in which nothing matched is returned byte for byte;
//! - STIX and CSAF content that was valid on entry is still valid after
//!   redaction ([`crate::content::validate`]), or redaction fails;
//! - references stay consistent: what pointed at a removed STIX object is
//!   removed too (rule `dangling_reference`);
//! - JSON objects with duplicate keys are refused, so that no parser can read
//!   a value that redaction did not see.
//!
//! Redaction is idempotent: masks are chosen so that redacting the output
//! again with the same rules changes nothing.
//!
//! | rule | STIX | CSAF | text |
//! | --- | --- | --- | --- |
//! | `drop_objects` | objects of those types removed | — | — |
//! | `drop_properties`, `personal_data_fields` | top-level properties removed from every object (markings excepted) | properties of those names removed at any depth, except under `/document/distribution` | — |
//! | `internal_cidrs`, `internal_domains` | `ipv4-addr`, `ipv6-addr`, `domain-name`, `url`, `email-addr` objects and indicators whose value or pattern literal is internal: removed, or masked with `internal: mask`; internal values inside other strings: masked | internal values in strings masked | masked |
//! | `remove_email_addresses` | `email-addr` objects and indicators comparing or naming addresses removed; addresses in strings replaced by `[email removed]` | addresses in strings replaced | replaced |
//!
//! A mask is the internal network in CIDR form (`10.0.0.0/8`, in the family
//! of the value), the internal domain (`corp.acme.example`), or
//! `redacted@<domain>` for an address; the broadest network or domain that
//! matches is used. Inside strings (descriptions, CSAF notes, text notes)
//! internal values are masked whatever `internal` says, since there is
//! nothing else to remove. Networks match when they overlap (either contains
//! the other); IPv4-mapped IPv6 addresses match IPv4 networks; URL hosts are
//! read as URL parsers read them (`http://167772161/` is `10.0.0.1`). A
//! domain matches itself and its subdomains (`evilcorp.example` is not in
//! `corp.example`); in free text, an internal domain anywhere in a dotted
//! name counts (`db1.corp.example.log`).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::content::{self, ContentError, Kind};

#[cfg(test)]
mod tests;

/// What a flow of an agreement removes from content before it is sealed.
/// Every list is empty by default (nothing removed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedactRules {
    /// STIX object types removed entirely, with relationships and
    /// references pointing at them (e.g. `identity`, `note`).
    pub drop_objects: Vec<String>,
    /// Properties removed from every STIX object (e.g. `description`,
    /// `x_acme_internal_ticket`).
    pub drop_properties: Vec<String>,
    /// Networks internal to the sender (CIDR, IPv4 or IPv6): indicators and
    /// observables inside them are removed or masked.
    pub internal_cidrs: Vec<String>,
    /// Domains internal to the sender (and their subdomains): indicators and
    /// observables naming them are removed or masked.
    pub internal_domains: Vec<String>,
    /// What happens to internal indicators and observables.
    pub internal: InternalAction,
    /// Remove e-mail addresses (`email-addr` objects, addresses in patterns).
    pub remove_email_addresses: bool,
    /// Further personal-data properties removed from every object (e.g.
    /// `contact_information`, `x_reporter_name`).
    pub personal_data_fields: Vec<String>,
}

/// What redaction does with an internal indicator or observable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InternalAction {
    /// Remove the object (and what refers to it).
    #[default]
    Remove,
    /// Keep the object, replacing the value with a mask.
    Mask,
}

/// One kind of removal, for previews and the ledger (never the removed values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    /// The rule that fired: one of "drop_objects", "drop_properties",
    /// "internal_cidrs", "internal_domains", "remove_email_addresses",
    /// "personal_data_fields", or "dangling_reference" (objects/refs removed
    /// because what they pointed at was removed).
    pub rule: String,
    /// "removed" or "masked".
    pub action: String,
    /// What was affected, in words without values: e.g. "ipv4-addr object",
    /// "indicator", "property `description`", "reference `created_by_ref`",
    /// "relationship", "e-mail address in text".
    pub target: String,
    /// How many.
    pub count: usize,
    /// STIX ids of the affected objects (for the local preview only; never
    /// ledgered). Empty for CSAF and text.
    pub ids: Vec<String>,
}

/// The outcome of redaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The content to seal. Byte-identical to the input when nothing was removed.
    pub content: Vec<u8>,
    /// What was removed or masked, grouped by (rule, action, target), in a
    /// deterministic order (by rule, then target, then action).
    pub removals: Vec<Removal>,
}

impl Redacted {
    /// Whether anything was removed or masked (if not, `content` is the input).
    pub fn changed(&self) -> bool {
        !self.removals.is_empty()
    }

    /// How many things were removed or masked in all: the sum of the counts.
    pub fn removed_count(&self) -> usize {
        self.removals.iter().map(|r| r.count).sum()
    }
}

/// Redaction refused: the rules are invalid, or the content cannot be read.
/// Messages never quote the content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedactError {
    /// A rule of [`RedactRules`] is invalid.
    #[error("redaction rule `{rule}`: {value}: {problem}")]
    InvalidRule {
        /// The rule (field of [`RedactRules`]), e.g. "internal_cidrs".
        rule: String,
        /// The offending value of the rule, quoted (and cut short).
        value: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The content cannot be redacted: STIX or CSAF that is not a JSON
    /// object, text that is not UTF-8, or rules that would leave valid
    /// content invalid. Says where, never what.
    #[error("content cannot be redacted: {0}")]
    Content(String),
}

/// Apply `rules` to `content` of `kind`.
///
/// The rules are checked first ([`RedactRules::validate`]). With empty rules
/// the content is returned as it is, without being read. STIX and CSAF
/// content must be a JSON object; text must be UTF-8.
pub fn redact(kind: Kind, content: &[u8], rules: &RedactRules) -> Result<Redacted, RedactError> {
    rules.validate()?;
    let unchanged = || Redacted {
        content: content.to_vec(),
        removals: Vec::new(),
    };
    if rules.is_empty() {
        return Ok(unchanged());
    }
    let m = Matcher::new(rules);
    let mut ledger = Ledger::default();
    let output = match kind {
        Kind::Stix => redact_stix(content, rules, &m, &mut ledger)?,
        Kind::Csaf => redact_csaf(content, rules, &m, &mut ledger)?,
        _ => redact_text(content, &m, &mut ledger)?,
    };
    match output {
        Some(bytes) if !ledger.is_empty() => {
            if matches!(kind, Kind::Stix | Kind::Csaf | Kind::Coordination) {
                still_valid(kind, content, &bytes)?;
            }
            Ok(Redacted {
                content: bytes,
                removals: ledger.into_removals(),
            })
        }
        _ => Ok(unchanged()),
    }
}

// ---------------------------------------------------------------------------
// The rules themselves.

const DROP_OBJECTS: &str = "drop_objects";
const DROP_PROPERTIES: &str = "drop_properties";
const INTERNAL_CIDRS: &str = "internal_cidrs";
const INTERNAL_DOMAINS: &str = "internal_domains";
const REMOVE_EMAIL: &str = "remove_email_addresses";
const PERSONAL_DATA: &str = "personal_data_fields";
const DANGLING: &str = "dangling_reference";

const REMOVED: &str = "removed";
const MASKED: &str = "masked";

const EMAIL_IN_TEXT: &str = "e-mail address in text";
const IP_IN_TEXT: &str = "internal IP address in text";
const HOST_IN_TEXT: &str = "internal host name in text";
const PATTERN_LITERAL: &str = "literal in indicator pattern";
const PATTERN_TEXT: &str = "text in indicator pattern";

/// What an e-mail address in text becomes under `remove_email_addresses`.
const EMAIL_MASK: &str = "[email removed]";

/// Object types that are never removed (markings must survive; the bundle is
/// not an object).
const PROTECTED_TYPES: &[&str] = &["marking-definition", "bundle"];

/// Properties no rule may drop: STIX common properties, markings, what
/// `content::validate` requires of indicators and relationships, the lists
/// STIX requires on container objects, and the CSAF document skeleton.
const PROTECTED_PROPERTIES: &[(&str, &str)] = &[
    ("id", "every STIX object needs it"),
    ("type", "every STIX object needs it"),
    ("spec_version", "STIX 2.1 objects need it"),
    ("created", "STIX objects need it"),
    ("modified", "STIX objects need it"),
    (
        "object_marking_refs",
        "it carries the markings (removing it would lower the TLP)",
    ),
    (
        "granular_markings",
        "it carries the markings (removing it would lower the TLP)",
    ),
    ("pattern", "indicators need it"),
    ("pattern_type", "indicators need it"),
    ("valid_from", "indicators need it"),
    ("source_ref", "relationships need it"),
    ("target_ref", "relationships need it"),
    ("relationship_type", "relationships need it"),
    ("sighting_of_ref", "sightings need it"),
    (
        "object_refs",
        "reports, groupings, notes, opinions and observed data need it (drop the objects instead)",
    ),
    ("document", "CSAF documents need it"),
    (
        "distribution",
        "it carries the CSAF document's TLP (removing it would lower the TLP)",
    ),
    ("csaf_version", "CSAF documents need it"),
    ("publisher", "CSAF documents need it"),
    ("tracking", "CSAF documents need it"),
];

impl RedactRules {
    /// Whether the rules remove nothing.
    pub fn is_empty(&self) -> bool {
        self.drop_objects.is_empty()
            && self.drop_properties.is_empty()
            && self.internal_cidrs.is_empty()
            && self.internal_domains.is_empty()
            && !self.remove_email_addresses
            && self.personal_data_fields.is_empty()
    }

    /// Check the rules themselves: every CIDR parses (ipnet), domains are
    /// plausible lowercase DNS names (no scheme, no spaces), and no rule drops
    /// a property that STIX needs or that carries markings: refuse `id`,
    /// `type`, `spec_version`, `created`, `modified`, `object_marking_refs`,
    /// `granular_markings` (and a few more that STIX, validation or CSAF
    /// need, such as `pattern` or `object_refs`) in
    /// drop_properties/personal_data_fields, and
    /// `marking-definition`/`bundle` in drop_objects. Errors name the
    /// offending rule and value.
    pub fn validate(&self) -> Result<(), RedactError> {
        for ty in &self.drop_objects {
            check_type_rule(ty)?;
        }
        for (rule, names) in [
            (DROP_PROPERTIES, &self.drop_properties),
            (PERSONAL_DATA, &self.personal_data_fields),
        ] {
            for name in names {
                check_property_rule(rule, name)?;
            }
        }
        for cidr in &self.internal_cidrs {
            parse_cidr_rule(cidr)?;
        }
        for domain in &self.internal_domains {
            check_domain_rule(domain)?;
        }
        Ok(())
    }
}

fn invalid(rule: &str, value: &str, problem: impl Into<String>) -> RedactError {
    const MAX: usize = 64;
    let value = match value.char_indices().nth(MAX) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
    };
    RedactError::InvalidRule {
        rule: rule.to_string(),
        value,
        problem: problem.into(),
    }
}

fn check_type_rule(ty: &str) -> Result<(), RedactError> {
    if PROTECTED_TYPES.contains(&ty) {
        return Err(invalid(
            DROP_OBJECTS,
            ty,
            "cannot be dropped: markings must survive redaction",
        ));
    }
    let b = ty.as_bytes();
    let ok = (3..=250).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-';
    if ok {
        Ok(())
    } else {
        Err(invalid(
            DROP_OBJECTS,
            ty,
            "is not a STIX type name (3–250 characters of a-z, 0-9 and `-`)",
        ))
    }
}

fn check_property_rule(rule: &str, name: &str) -> Result<(), RedactError> {
    if let Some((_, why)) = PROTECTED_PROPERTIES.iter().find(|(p, _)| *p == name) {
        return Err(invalid(rule, name, format!("cannot be dropped: {why}")));
    }
    let ok = (1..=250).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            rule,
            name,
            "is not a property name (1–250 characters of letters, digits, `_` and `-`)",
        ))
    }
}

fn parse_cidr_rule(cidr: &str) -> Result<IpNet, RedactError> {
    if let Ok(net) = IpNet::from_str(cidr) {
        return Ok(net.trunc());
    }
    let problem = match IpAddr::from_str(cidr) {
        Ok(IpAddr::V4(_)) => format!("is an address, not a network: write {cidr}/32"),
        Ok(IpAddr::V6(_)) => format!("is an address, not a network: write {cidr}/128"),
        Err(_) => "is not a network in CIDR form (e.g. 10.0.0.0/8 or fd00::/8)".to_string(),
    };
    Err(invalid(INTERNAL_CIDRS, cidr, problem))
}

fn check_domain_rule(domain: &str) -> Result<(), RedactError> {
    let fail = |problem: &str| Err(invalid(INTERNAL_DOMAINS, domain, problem));
    if domain.is_empty() {
        return fail("is empty");
    }
    if domain.contains("://") {
        return fail("is a URL: give the domain alone, without a scheme");
    }
    if domain.chars().any(char::is_whitespace) {
        return fail("contains spaces");
    }
    if domain.bytes().any(|c| c.is_ascii_uppercase()) {
        return fail("must be lowercase");
    }
    if domain.starts_with("*.") {
        return fail("must not be a wildcard: subdomains are always included");
    }
    if IpAddr::from_str(domain.trim_matches(['[', ']'])).is_ok() {
        return fail("is an IP address: put networks in internal_cidrs");
    }
    if domain.len() > 253 {
        return fail("is longer than 253 characters");
    }
    let labels_ok = domain.split('.').all(|label| {
        let b = label.as_bytes();
        (1..=63).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    });
    if !labels_ok {
        return fail(
            "is not a DNS name (dot-separated labels of a-z, 0-9 and `-`, without a trailing dot)",
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// What was removed.

#[derive(Default)]
struct Group {
    count: usize,
    ids: Vec<String>,
    seen: HashSet<String>,
}

/// Removals, aggregated by (rule, target, action).
#[derive(Default)]
struct Ledger {
    groups: BTreeMap<(&'static str, String, &'static str), Group>,
}

impl Ledger {
    fn add(
        &mut self,
        rule: &'static str,
        action: &'static str,
        target: impl Into<String>,
        count: usize,
        id: Option<&str>,
    ) {
        if count == 0 {
            return;
        }
        let group = self
            .groups
            .entry((rule, target.into(), action))
            .or_default();
        group.count += count;
        if let Some(id) = id.filter(|id| !id.is_empty()) {
            if group.seen.insert(id.to_string()) {
                group.ids.push(id.to_string());
            }
        }
    }

    /// Text masks, one per hit.
    fn hits(&mut self, hits: &[Hit], target: Option<&str>, id: Option<&str>) {
        for hit in hits {
            self.add(hit.rule, MASKED, target.unwrap_or(hit.target), 1, id);
        }
    }

    fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    fn into_removals(self) -> Vec<Removal> {
        self.groups
            .into_iter()
            .map(|((rule, target, action), g)| Removal {
                rule: rule.to_string(),
                action: action.to_string(),
                target,
                count: g.count,
                ids: g.ids,
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Internal networks and domains, and how values are matched against them.

/// An internal value that was found: the network or domain it belongs to,
/// which is also its mask.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Internal {
    Net(IpNet),
    Domain(String),
}

impl Internal {
    fn rule(&self) -> &'static str {
        match self {
            Internal::Net(_) => INTERNAL_CIDRS,
            Internal::Domain(_) => INTERNAL_DOMAINS,
        }
    }

    /// The mask written as a URL host. A network is written with its `/`
    /// percent-encoded, so that the URL keeps its path.
    fn url_host(&self) -> String {
        match self {
            Internal::Domain(d) => d.clone(),
            Internal::Net(IpNet::V4(n)) => format!("{}%2F{}", n.network(), n.prefix_len()),
            Internal::Net(IpNet::V6(n)) => format!("[{}%2F{}]", n.network(), n.prefix_len()),
        }
    }

    /// The mask written as the domain of an e-mail address.
    fn email_domain(&self) -> String {
        match self {
            Internal::Domain(d) => d.clone(),
            Internal::Net(n) => format!("[{n}]"),
        }
    }

    fn email(&self) -> String {
        format!("redacted@{}", self.email_domain())
    }
}

/// A piece of text to replace.
#[derive(Debug, Clone)]
struct Span {
    start: usize,
    end: usize,
    replacement: String,
    rule: &'static str,
    target: &'static str,
}

/// One text mask applied: which rule, and what it masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hit {
    rule: &'static str,
    target: &'static str,
}

struct Matcher<'r> {
    /// Internal networks as listed (truncated), and in IPv6 space (IPv4 as
    /// IPv4-mapped), so that `::ffff:10.1.2.3` is seen as `10.1.2.3`.
    nets: Vec<(IpNet, Ipv6Net)>,
    domains: Vec<&'r str>,
    mask: bool,
    emails: bool,
}

impl<'r> Matcher<'r> {
    /// From rules that passed [`RedactRules::validate`].
    fn new(rules: &'r RedactRules) -> Self {
        let nets = rules
            .internal_cidrs
            .iter()
            .filter_map(|c| parse_cidr_rule(c).ok())
            .map(|n| (n, to_v6(n)))
            .collect();
        Matcher {
            nets,
            domains: rules.internal_domains.iter().map(String::as_str).collect(),
            mask: rules.internal == InternalAction::Mask,
            emails: rules.remove_email_addresses,
        }
    }

    /// Whether text needs scanning at all.
    fn scans(&self) -> bool {
        self.emails || !self.nets.is_empty() || !self.domains.is_empty()
    }

    /// The broadest internal network overlapping `value` (an address or a
    /// network), written in `value`'s family. The broadest, so that a mask
    /// reveals as little as possible and masking again changes nothing.
    fn net_for(&self, value: IpNet) -> Option<IpNet> {
        let v6 = to_v6(value);
        let (listed, in_v6) = self
            .nets
            .iter()
            .filter(|(_, n)| overlaps(n, &v6))
            .min_by_key(|(_, n)| n.prefix_len())?;
        Some(match (value, listed) {
            (IpNet::V4(_), IpNet::V4(n)) => IpNet::V4(*n),
            (IpNet::V4(_), IpNet::V6(_)) => IpNet::V4(to_v4(in_v6)),
            (IpNet::V6(_), IpNet::V6(n)) => IpNet::V6(*n),
            (IpNet::V6(_), IpNet::V4(_)) => IpNet::V6(*in_v6),
        })
    }

    /// The internal network of any of `addrs` (alternative readings of one
    /// token), if any.
    fn net_for_any(&self, addrs: &[IpAddr]) -> Option<IpNet> {
        addrs.iter().find_map(|a| self.net_for(IpNet::from(*a)))
    }

    /// The broadest internal domain that `host` equals or is a subdomain of.
    fn domain_for(&self, host: &str) -> Option<&'r str> {
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        self.domains
            .iter()
            .copied()
            .filter(|d| {
                host == *d
                    || host
                        .strip_suffix(*d)
                        .is_some_and(|head| head.ends_with('.'))
            })
            .min_by_key(|d| d.len())
    }

    /// Whether a host (a name, an address, a bracketed IPv6 address, as
    /// found in a URL or after `@`) is internal.
    fn host(&self, host: &str) -> Option<Internal> {
        let host = percent_decode(host);
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&host);
        let bare = bare.split('%').next().unwrap_or(bare);
        let addrs = host_addresses(bare);
        if !addrs.is_empty() {
            return self.net_for_any(&addrs).map(Internal::Net);
        }
        self.domain_for(bare)
            .map(|d| Internal::Domain(d.to_string()))
    }

    /// Scan text for internal addresses and host names (and, under
    /// `remove_email_addresses`, every e-mail address). `allow_ip: false`
    /// skips IP addresses (for version numbers that look like them).
    fn scan_text(&self, s: &str, allow_ip: bool) -> Vec<Span> {
        let mut kept = self.scan_all(s, allow_ip);
        kept.retain(|k| s.get(k.start..k.end) != Some(k.replacement.as_str()));
        kept
    }

    /// Like [`Matcher::scan_text`], but also the values already masked
    /// (whose replacement is themselves).
    fn scan_all(&self, s: &str, allow_ip: bool) -> Vec<Span> {
        let mut spans = Vec::new();
        if !self.scans() {
            return spans;
        }
        self.scan_emails(s, &mut spans);
        self.scan_hosts(s, allow_ip, &mut spans);
        if allow_ip && !self.nets.is_empty() {
            self.scan_ipv6(s, &mut spans);
        }
        // Earliest first, longest first; drop what overlaps a kept span.
        spans.sort_by(|x, y| x.start.cmp(&y.start).then(y.end.cmp(&x.end)));
        let mut kept: Vec<Span> = Vec::with_capacity(spans.len());
        for span in spans {
            if kept.last().is_some_and(|k| span.start < k.end) {
                continue;
            }
            kept.push(span);
        }
        kept
    }

    fn scan_emails(&self, s: &str, spans: &mut Vec<Span>) {
        let b = s.as_bytes();
        for (at, _) in s.match_indices('@') {
            let mut start = at;
            while start > 0 && is_local_byte(b[start - 1]) {
                start -= 1;
            }
            while start < at && b[start] == b'.' {
                start += 1;
            }
            if start == at {
                continue;
            }
            let (end, internal) = if b.get(at + 1) == Some(&b'[') {
                let Some(close) = s[at + 1..].find(']').map(|i| at + 1 + i) else {
                    continue;
                };
                let literal = &s[at + 2..close];
                if host_addresses(literal).is_empty() {
                    continue;
                }
                (close + 1, self.host(&s[at + 1..close + 1]))
            } else {
                let mut end = at + 1;
                while end < b.len() && is_host_byte(b[end]) {
                    end += 1;
                }
                while end > at + 1 && matches!(b[end - 1], b'.' | b'-' | b'_') {
                    end -= 1;
                }
                let domain = &s[at + 1..end];
                let internal = self
                    .domain_for(domain)
                    .map(|d| Internal::Domain(d.to_string()));
                if internal.is_none() && !plausible_email_domain(domain) {
                    continue;
                }
                (end, internal)
            };
            let (replacement, rule) = if self.emails {
                (EMAIL_MASK.to_string(), REMOVE_EMAIL)
            } else if let Some(internal) = internal {
                (internal.email(), internal.rule())
            } else {
                continue;
            };
            spans.push(Span {
                start,
                end,
                replacement,
                rule,
                target: EMAIL_IN_TEXT,
            });
        }
    }

    /// Host names and dotted-quad IPv4 addresses: runs of `[A-Za-z0-9._-]`.
    fn scan_hosts(&self, s: &str, allow_ip: bool, spans: &mut Vec<Span>) {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if !is_host_byte(b[i]) {
                i += 1;
                continue;
            }
            let mut a = i;
            while i < b.len() && is_host_byte(b[i]) {
                i += 1;
            }
            let mut z = i;
            while a < z && matches!(b[a], b'.' | b'-' | b'_') {
                a += 1;
            }
            while z > a && matches!(b[z - 1], b'.' | b'-' | b'_') {
                z -= 1;
            }
            if a == z {
                continue;
            }
            let token = &s[a..z];
            let addrs = dotted_quad(token);
            if !addrs.is_empty() {
                if !allow_ip {
                    continue;
                }
                let (end, prefix) = cidr_suffix(b, z, 32);
                let value: Vec<IpNet> = addrs
                    .iter()
                    .filter_map(|a| IpNet::new(*a, prefix.unwrap_or(32)).ok())
                    .collect();
                if let Some(net) = value.iter().find_map(|v| self.net_for(v.trunc())) {
                    spans.push(Span {
                        start: a,
                        end,
                        replacement: net.to_string(),
                        rule: INTERNAL_CIDRS,
                        target: IP_IN_TEXT,
                    });
                }
                continue;
            }
            if let Some((end, domain)) = self.domain_in_labels(token) {
                spans.push(Span {
                    start: a,
                    end: a + end,
                    replacement: domain.to_string(),
                    rule: INTERNAL_DOMAINS,
                    target: HOST_IN_TEXT,
                });
            }
        }
    }

    /// In free text, an internal domain anywhere in a dotted name, at label
    /// boundaries (`backup.db1.corp.example.zip` names `corp.example`; but
    /// `evilcorp.example` does not). Returns the byte offset in `token` where
    /// the internal name ends, and the broadest domain.
    fn domain_in_labels(&self, token: &str) -> Option<(usize, &'r str)> {
        let lower = token.to_ascii_lowercase();
        let mut best: Option<(usize, &'r str)> = None;
        for d in self.domains.iter().copied() {
            for (pos, _) in lower.match_indices(d) {
                let end = pos + d.len();
                let before_ok = pos == 0 || lower.as_bytes()[pos - 1] == b'.';
                let after_ok = end == lower.len() || lower.as_bytes()[end] == b'.';
                if !(before_ok && after_ok) {
                    continue;
                }
                let better = match best {
                    None => true,
                    Some((e, bd)) => end > e || (end == e && d.len() < bd.len()),
                };
                if better {
                    best = Some((end, d));
                }
            }
        }
        best
    }

    /// IPv6 addresses: runs of `[0-9A-Fa-f:.]` with at least two colons.
    fn scan_ipv6(&self, s: &str, spans: &mut Vec<Span>) {
        let b = s.as_bytes();
        let is_v6 = |c: u8| c.is_ascii_hexdigit() || c == b':' || c == b'.';
        let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
        let mut i = 0;
        while i < b.len() {
            if !is_v6(b[i]) {
                i += 1;
                continue;
            }
            let a = i;
            while i < b.len() && is_v6(b[i]) {
                i += 1;
            }
            if a > 0 && is_word(b[a - 1]) {
                continue;
            }
            let mut z = i;
            while z > a && b[z - 1] == b'.' {
                z -= 1;
            }
            if z > a + 1 && b[z - 1] == b':' && b[z - 2] != b':' {
                z -= 1;
            }
            if z < b.len() && is_word(b[z]) {
                continue;
            }
            let token = &s[a..z];
            if token.bytes().filter(|c| *c == b':').count() < 2 {
                continue;
            }
            let Ok(addr) = Ipv6Addr::from_str(token) else {
                continue;
            };
            let (end, prefix) = cidr_suffix(b, z, 128);
            let Ok(value) = Ipv6Net::new(addr, prefix.unwrap_or(128)) else {
                continue;
            };
            if let Some(net) = self.net_for(IpNet::V6(value.trunc())) {
                spans.push(Span {
                    start: a,
                    end,
                    replacement: net.to_string(),
                    rule: INTERNAL_CIDRS,
                    target: IP_IN_TEXT,
                });
            }
        }
    }

    /// `s` with its spans replaced, and what was masked; `None` if nothing.
    fn mask_text(&self, s: &str, allow_ip: bool) -> Option<(String, Vec<Hit>)> {
        let spans = self.scan_text(s, allow_ip);
        if spans.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(s.len());
        let mut at = 0;
        let mut hits = Vec::with_capacity(spans.len());
        for span in spans {
            out.push_str(&s[at..span.start]);
            out.push_str(&span.replacement);
            at = span.end;
            hits.push(Hit {
                rule: span.rule,
                target: span.target,
            });
        }
        out.push_str(&s[at..]);
        Some((out, hits))
    }

    /// A URL: whether its host is internal, and the URL with the host masked
    /// (if internal) and internal values elsewhere in it masked as text
    /// (`None` if unchanged).
    fn judge_url(&self, url: &str) -> (Option<Internal>, Option<(String, Vec<Hit>)>) {
        let Some((a, z)) = url_host_span(url) else {
            return (None, self.mask_text(url, true));
        };
        let internal = self.host(&url[a..z]);
        let mut hits = Vec::new();
        let mut part = |text: &str| match self.mask_text(text, true) {
            Some((masked, h)) => {
                hits.extend(h);
                masked
            }
            None => text.to_string(),
        };
        let head = part(&url[..a]);
        let tail = part(&url[z..]);
        let host = internal
            .as_ref()
            .map_or_else(|| url[a..z].to_string(), Internal::url_host);
        let masked = format!("{head}{host}{tail}");
        let changed = (masked != url).then_some((masked, hits));
        (internal, changed)
    }
}

/// An IPv4 network in IPv6 space (IPv4-mapped), or an IPv6 network as it is.
fn to_v6(net: IpNet) -> Ipv6Net {
    match net {
        IpNet::V6(n) => n.trunc(),
        IpNet::V4(n) => Ipv6Net::new(n.network().to_ipv6_mapped(), n.prefix_len() + 96)
            .map(|n| n.trunc())
            .unwrap_or_default(),
    }
}

/// An IPv6 network written for an IPv4 value: its IPv4-mapped part, or all
/// of IPv4 if it is broader than the IPv4-mapped range.
fn to_v4(net: &Ipv6Net) -> Ipv4Net {
    if net.prefix_len() >= 96 {
        if let Some(a) = net.network().to_ipv4_mapped() {
            if let Ok(n) = Ipv4Net::new(a, net.prefix_len() - 96) {
                return n.trunc();
            }
        }
    }
    Ipv4Net::default()
}

/// Two networks overlap when one contains the other.
fn overlaps(a: &Ipv6Net, b: &Ipv6Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// An address or a network as written in a STIX value or pattern literal:
/// `10.1.2.3`, `10.1.2.0/24`, `fd00::1`, `[fd00::1]`, `fe80::1%eth0`, or a
/// dotted quad with leading zeros.
fn parse_ip_value(s: &str) -> Option<Vec<IpNet>> {
    let s = s.trim();
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => {
            if !(1..=3).contains(&p.len()) || !p.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            (a, Some(p.parse::<u8>().ok()?))
        }
        None => (s, None),
    };
    let addr = addr
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr);
    let addr = match addr.split_once('%') {
        Some((a, _)) if a.contains(':') => a,
        _ => addr,
    };
    let addrs: Vec<IpAddr> = match IpAddr::from_str(addr) {
        Ok(a) => vec![a],
        Err(_) => dotted_quad(addr),
    };
    let nets: Vec<IpNet> = addrs
        .into_iter()
        .filter_map(|a| {
            let max = if a.is_ipv4() { 32 } else { 128 };
            IpNet::new(a, prefix.unwrap_or(max)).ok().map(|n| n.trunc())
        })
        .collect();
    (!nets.is_empty()).then_some(nets)
}

/// The readings of a dotted quad `a.b.c.d` (decimal; and, when a part has
/// a leading zero or `0x`, the way URL parsers read it). Empty if it is not
/// one.
fn dotted_quad(token: &str) -> Vec<IpAddr> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 4 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let decimal: Option<Vec<u8>> = parts
        .iter()
        .map(|p| {
            if (1..=3).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit()) {
                p.parse::<u8>().ok()
            } else {
                None
            }
        })
        .collect();
    if let Some(d) = decimal {
        out.push(IpAddr::V4(Ipv4Addr::new(d[0], d[1], d[2], d[3])));
    }
    if let Some(w) = whatwg_ipv4(token) {
        let w = IpAddr::V4(w);
        if !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// The IPv4 address a URL parser reads in a host (WHATWG URL "IPv4 parser":
/// 1 to 4 parts, each decimal, octal with a leading `0`, or hex with `0x`),
/// e.g. `167772161` or `0x0a.1.2.3`.
fn whatwg_ipv4(host: &str) -> Option<Ipv4Addr> {
    let mut parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut numbers = Vec::with_capacity(parts.len());
    for part in &parts {
        let (digits, radix) =
            if let Some(h) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
                (h, 16)
            } else if part.len() > 1 && part.starts_with('0') {
                (&part[1..], 8)
            } else {
                (*part, 10)
            };
        if part.is_empty() || digits.len() > 12 {
            return None;
        }
        let n = if digits.is_empty() {
            0
        } else {
            u64::from_str_radix(digits, radix).ok()?
        };
        numbers.push(n);
    }
    let (last, init) = numbers.split_last()?;
    if init.iter().any(|n| *n > 255) || *last >= 256u64.pow(5 - numbers.len() as u32) {
        return None;
    }
    let mut value = *last;
    for (i, n) in init.iter().enumerate() {
        value += n << (8 * (3 - i));
    }
    u32::try_from(value).ok().map(Ipv4Addr::from)
}

/// The addresses a host names, if it is an address: IPv6, IPv4 in any form
/// a URL parser accepts. Empty for a name.
fn host_addresses(host: &str) -> Vec<IpAddr> {
    if let Ok(a) = IpAddr::from_str(host) {
        return vec![a];
    }
    if host.contains(':') {
        return Vec::new();
    }
    let mut out = dotted_quad(host);
    if let Some(w) = whatwg_ipv4(host) {
        let w = IpAddr::V4(w);
        if !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// `/NN` after an address at byte `at`, if NN ≤ `max`: (end, Some(NN)); else
/// (`at`, None).
fn cidr_suffix(b: &[u8], at: usize, max: u8) -> (usize, Option<u8>) {
    if b.get(at) != Some(&b'/') {
        return (at, None);
    }
    let mut end = at + 1;
    while end < b.len() && b[end].is_ascii_digit() && end - at <= 3 {
        end += 1;
    }
    if end == at + 1 || b.get(end).is_some_and(u8::is_ascii_digit) {
        return (at, None);
    }
    let digits = std::str::from_utf8(&b[at + 1..end]).ok();
    match digits.and_then(|d| d.parse::<u8>().ok()) {
        Some(p) if p <= max => (end, Some(p)),
        _ => (at, None),
    }
}

/// Percent-decode a URL host (`%2E` → `.`), keeping invalid sequences.
fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The byte span of the host of a URL with an authority (`scheme://…`).
fn url_host_span(url: &str) -> Option<(usize, usize)> {
    let after = url.find("://")? + 3;
    let rest = &url[after..];
    let auth_len = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = &rest[..auth_len];
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host = &authority[host_start..];
    let host_len = if host.starts_with('[') {
        host.find(']').map_or(host.len(), |i| i + 1)
    } else {
        host.find(':').unwrap_or(host.len())
    };
    let start = after + host_start;
    (host_len > 0).then_some((start, start + host_len))
}

/// A whole value that is one e-mail address: its domain part.
fn email_domain(s: &str) -> Option<&str> {
    let (local, domain) = s.trim().rsplit_once('@')?;
    let ok_local = !local.is_empty() && !local.chars().any(char::is_whitespace);
    let ok_domain = (domain.starts_with('[') && domain.ends_with(']'))
        || (!domain.is_empty() && domain.bytes().all(is_host_byte));
    (ok_local && ok_domain).then_some(domain)
}

/// A whole value that is a host name.
fn is_host_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_host_byte) && !s.starts_with('.')
}

fn is_host_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_')
}

fn is_local_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// A domain after `@` in free text that makes the whole an e-mail address:
/// at least two labels, the last with a letter.
fn plausible_email_domain(d: &str) -> bool {
    let labels: Vec<&str> = d.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| !l.is_empty())
        && labels
            .last()
            .is_some_and(|l| l.bytes().any(|c| c.is_ascii_alphabetic()))
}

// ---------------------------------------------------------------------------
// JSON.

/// Parse JSON content whose top level must be an object, refusing
/// duplicate keys (which different parsers resolve differently).
fn parse_json(kind: Kind, content: &[u8]) -> Result<Map<String, Value>, RedactError> {
    let located = |e: &serde_json::Error, what: &str| {
        RedactError::Content(format!(
            "{} content {what} at line {}, column {}",
            kind_label(kind),
            e.line(),
            e.column()
        ))
    };
    serde_json::from_slice::<NoDuplicates>(content).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => located(&e, "has a JSON object with a duplicate key"),
        _ => located(&e, "is not valid JSON"),
    })?;
    match serde_json::from_slice::<Value>(content) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(RedactError::Content(format!(
            "{} content must be a JSON object at the top level",
            kind_label(kind)
        ))),
        Err(e) => Err(located(&e, "is not valid JSON")),
    }
}

fn kind_label(kind: Kind) -> &'static str {
    match kind {
        Kind::Stix => "STIX",
        Kind::Csaf => "CSAF",
        Kind::Coordination => "joint log",
        _ => "text",
    }
}

/// A JSON value read only to check that no object repeats a key.
struct NoDuplicates;

impl<'de> Deserialize<'de> for NoDuplicates {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicatesVisitor)
    }
}

struct NoDuplicatesVisitor;

impl<'de> Visitor<'de> for NoDuplicatesVisitor {
    type Value = NoDuplicates;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_i64<E>(self, _: i64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_u64<E>(self, _: u64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_f64<E>(self, _: f64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_str<E>(self, _: &str) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_unit<E>(self) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoDuplicates, A::Error> {
        while seq.next_element::<NoDuplicates>()?.is_some() {}
        Ok(NoDuplicates)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoDuplicates, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key) {
                return Err(de::Error::custom("duplicate key"));
            }
            map.next_value::<NoDuplicates>()?;
        }
        Ok(NoDuplicates)
    }
}

/// Content that validated on entry must still validate after redaction.
fn still_valid(kind: Kind, input: &[u8], output: &[u8]) -> Result<(), RedactError> {
    if content::validate(kind, input).is_err() {
        return Ok(());
    }
    content::validate(kind, output).map(drop).map_err(|e| {
        let at = match &e {
            ContentError::Stix { at, field, .. } => match field {
                Some(f) => format!("{at}, field `{f}`"),
                None => at.to_string(),
            },
            ContentError::Csaf { path, .. } => path.clone(),
            _ => "its structure".to_string(),
        };
        RedactError::Content(format!(
            "the rules would leave the {} content invalid ({at}); change the redaction rules",
            kind_label(kind)
        ))
    })
}

// ---------------------------------------------------------------------------
// STIX.

/// Cyber-observable types: named "<type> object" in removals.
const SCO_TYPES: &[&str] = crate::content::stix::SCOS;

/// Objects whose `object_refs` STIX requires to be non-empty.
const NEEDS_OBJECT_REFS: &[&str] = &["report", "grouping", "note", "opinion", "observed-data"];

/// Observable types whose `value` is judged as a whole (not as text).
const VALUE_TYPES: &[&str] = &["ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr"];

/// Properties never scanned as text: identifiers, references, markings,
/// timestamps and binary data.
const NOT_TEXT: &[&str] = &[
    "id",
    "type",
    "spec_version",
    "created",
    "modified",
    "object_marking_refs",
    "granular_markings",
    "pattern_type",
    "pattern_version",
    "valid_from",
    "valid_until",
    "first_seen",
    "last_seen",
    "first_observed",
    "last_observed",
    "published",
    "hashes",
    "payload_bin",
    "lang",
];

/// Properties whose strings are version numbers: not scanned for IP addresses.
const VERSION_KEYS: &[&str] = &["version", "number"];

fn object_target(ty: &str) -> String {
    if SCO_TYPES.contains(&ty) {
        format!("{ty} object")
    } else {
        ty.to_string()
    }
}

/// What happens to one object in the first pass.
enum Fate {
    Keep,
    Remove(&'static str),
}

fn redact_stix(
    content: &[u8],
    rules: &RedactRules,
    m: &Matcher<'_>,
    ledger: &mut Ledger,
) -> Result<Option<Vec<u8>>, RedactError> {
    let mut top = parse_json(Kind::Stix, content)?;
    let mut objects = match top.get_mut("objects") {
        None => return Ok(None),
        Some(Value::Array(items)) => std::mem::take(items),
        Some(_) => {
            return Err(RedactError::Content(
                "STIX bundle `objects` must be an array".into(),
            ))
        }
    };

    // 1. Objects removed or masked for what they are.
    let mut alive = vec![true; objects.len()];
    let mut removed: HashSet<String> = HashSet::new();
    for (i, value) in objects.iter_mut().enumerate() {
        let Value::Object(obj) = value else { continue };
        let ty = str_of(obj, "type").unwrap_or_default().to_string();
        if ty == "marking-definition" {
            continue;
        }
        let id = str_of(obj, "id").unwrap_or_default().to_string();
        let fate = if rules.drop_objects.contains(&ty) {
            Fate::Remove(DROP_OBJECTS)
        } else if ty == "email-addr" && m.emails {
            Fate::Remove(REMOVE_EMAIL)
        } else if ty == "indicator" {
            judge_indicator(obj, m, &id, ledger)
        } else if VALUE_TYPES.contains(&ty.as_str()) {
            judge_observable(obj, &ty, m, &id, ledger)
        } else {
            Fate::Keep
        };
        if let Fate::Remove(rule) = fate {
            alive[i] = false;
            if !id.is_empty() {
                removed.insert(id.to_ascii_lowercase());
            }
            ledger.add(rule, REMOVED, object_target(&ty), 1, Some(&id));
        }
    }

    // 2. Referential integrity, until stable.
    if !removed.is_empty() {
        cascade(&mut objects, &mut alive, &mut removed, ledger);
    }

    // 3. Properties and text of what survives.
    for (value, _) in objects.iter_mut().zip(&alive).filter(|(_, a)| **a) {
        let Value::Object(obj) = value else { continue };
        let ty = str_of(obj, "type").unwrap_or_default().to_string();
        let id = str_of(obj, "id").unwrap_or_default().to_string();
        if ty == "marking-definition" {
            if m.scans() {
                let mut hits = Vec::new();
                mask_marking_text(obj, m, &mut hits);
                ledger.hits(&hits, None, Some(&id));
            }
            continue;
        }
        for (rule, names) in [
            (DROP_PROPERTIES, &rules.drop_properties),
            (PERSONAL_DATA, &rules.personal_data_fields),
        ] {
            for name in names {
                if obj.remove(name).is_some() {
                    ledger.add(rule, REMOVED, format!("property `{name}`"), 1, Some(&id));
                }
            }
        }
        if m.scans() {
            let mut hits = Vec::new();
            for (key, v) in obj.iter_mut() {
                let judged_whole = (key == "value" && VALUE_TYPES.contains(&ty.as_str()))
                    || (key == "pattern" && ty == "indicator");
                if !judged_whole {
                    mask_strings(v, key, m, &mut hits);
                }
            }
            ledger.hits(&hits, None, Some(&id));
        }
    }

    if ledger.is_empty() {
        return Ok(None);
    }
    let survivors: Vec<Value> = objects
        .into_iter()
        .zip(alive)
        .filter_map(|(v, a)| a.then_some(v))
        .collect();
    top.insert("objects".into(), Value::Array(survivors));
    serde_json::to_vec(&Value::Object(top))
        .map(Some)
        .map_err(|_| RedactError::Content("the redacted STIX bundle cannot be written".into()))
}

fn str_of<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

/// Free text of a marking definition (its name, a statement), never what
/// says which marking it is (`definition_type`, `definition.tlp`, the TLP
/// 2.0 extension).
fn mask_marking_text(obj: &mut Map<String, Value>, m: &Matcher<'_>, hits: &mut Vec<Hit>) {
    for (key, value) in obj.iter_mut() {
        match (key.as_str(), value) {
            ("extensions" | "definition_type", _) => {}
            ("definition", Value::Object(def)) => {
                for (k, v) in def.iter_mut() {
                    if k != "tlp" {
                        mask_strings(v, k, m, hits);
                    }
                }
            }
            (_, value) => mask_strings(value, key, m, hits),
        }
    }
}

/// Mask internal values (and e-mail addresses) in every string under
/// `value`, skipping identifiers, references, markings and timestamps.
fn mask_strings(value: &mut Value, key: &str, m: &Matcher<'_>, hits: &mut Vec<Hit>) {
    if NOT_TEXT.contains(&key) || key.ends_with("_ref") || key.ends_with("_refs") {
        return;
    }
    match value {
        Value::String(s) => {
            if let Some((masked, h)) = m.mask_text(s, !VERSION_KEYS.contains(&key)) {
                *s = masked;
                hits.extend(h);
            }
        }
        Value::Array(items) => {
            for item in items {
                mask_strings(item, key, m, hits);
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                mask_strings(v, k, m, hits);
            }
        }
        _ => {}
    }
}

/// `ipv4-addr`, `ipv6-addr`, `domain-name`, `url`, `email-addr`: removed or
/// masked when their value is internal.
fn judge_observable(
    obj: &mut Map<String, Value>,
    ty: &str,
    m: &Matcher<'_>,
    id: &str,
    ledger: &mut Ledger,
) -> Fate {
    let Some(value) = str_of(obj, "value").map(str::to_string) else {
        return Fate::Keep;
    };
    let value = value.as_str();
    let (internal, masked, text_hits) = match ty {
        "ipv4-addr" | "ipv6-addr" => {
            let Some(net) =
                parse_ip_value(value).and_then(|nets| nets.into_iter().find_map(|n| m.net_for(n)))
            else {
                return Fate::Keep;
            };
            (Internal::Net(net), net.to_string(), Vec::new())
        }
        "domain-name" => {
            let Some(d) = m.domain_for(value) else {
                return Fate::Keep;
            };
            (Internal::Domain(d.to_string()), d.to_string(), Vec::new())
        }
        "email-addr" => {
            let Some(internal) = email_domain(value).and_then(|d| m.host(d)) else {
                return Fate::Keep;
            };
            let masked = internal.email();
            (internal, masked, Vec::new())
        }
        _ => {
            let (internal, changed) = m.judge_url(value);
            match (internal, changed) {
                (Some(internal), Some((masked, hits))) => (internal, masked, hits),
                (Some(internal), None) => (internal, value.to_string(), Vec::new()),
                (None, Some((masked, hits))) => {
                    // An external URL that mentions internal values: masked
                    // in place, whatever the action (it is still an IOC).
                    obj.insert("value".into(), Value::String(masked));
                    ledger.hits(&hits, None, Some(id));
                    return Fate::Keep;
                }
                (None, None) => return Fate::Keep,
            }
        }
    };
    if !m.mask {
        return Fate::Remove(internal.rule());
    }
    if masked != value {
        obj.insert("value".into(), Value::String(masked));
        ledger.add(internal.rule(), MASKED, object_target(ty), 1, Some(id));
        ledger.hits(&text_hits, None, Some(id));
    }
    Fate::Keep
}

/// A single-quoted string literal of a STIX pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Literal {
    /// Byte span in the pattern, quotes included.
    start: usize,
    end: usize,
    /// The value, escapes resolved.
    value: String,
    /// Whether the closing quote was found.
    closed: bool,
}

/// The string literals of a STIX pattern (`'…'`, with `\'` and `\\`
/// escapes; any other backslash is kept as it is).
fn pattern_literals(p: &str) -> Vec<Literal> {
    let mut out = Vec::new();
    let mut chars = p.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut value = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.peek().copied() {
                    Some((_, e @ ('\'' | '\\'))) => {
                        value.push(e);
                        chars.next();
                    }
                    _ => value.push('\\'),
                },
                '\'' => {
                    end = Some(i + 1);
                    break;
                }
                c => value.push(c),
            }
        }
        out.push(Literal {
            start,
            end: end.unwrap_or(p.len()),
            value,
            closed: end.is_some(),
        });
    }
    out
}

/// `s` without the backslashes before `.`, `-`, `@`, `:` and `/` (regular
/// expression escapes of the characters of names and addresses).
fn unescape_punctuation(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && chars
                .peek()
                .is_some_and(|n| matches!(n, '.' | '-' | '@' | ':' | '/'))
        {
            continue;
        }
        out.push(c);
    }
    out
}

/// A literal written back into a pattern.
fn quote_literal(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// What one pattern literal holds.
enum Verdict {
    Clean,
    /// An e-mail address, under `remove_email_addresses`.
    Email,
    /// An internal value as a whole (address, network, host, URL, e-mail
    /// address), and its masked form.
    Whole(Internal, String),
    /// Internal values inside other text, masked.
    Partial(String, Vec<Hit>),
    /// An internal value that cannot be masked in place (in a regular
    /// expression, or an unterminated literal).
    Unmaskable(&'static str),
}

impl Matcher<'_> {
    fn judge_literal(&self, lit: &Literal) -> Verdict {
        let v = lit.value.as_str();
        let t = v.trim();
        let verdict = self.judge_literal_value(v, t);
        if !lit.closed {
            return match verdict {
                Verdict::Clean => Verdict::Clean,
                Verdict::Email => Verdict::Email,
                Verdict::Whole(i, _) => Verdict::Unmaskable(i.rule()),
                Verdict::Partial(_, h) => {
                    Verdict::Unmaskable(h.first().map_or(INTERNAL_DOMAINS, |h| h.rule))
                }
                u @ Verdict::Unmaskable(_) => u,
            };
        }
        verdict
    }

    fn judge_literal_value(&self, v: &str, t: &str) -> Verdict {
        if let Some(nets) = parse_ip_value(t) {
            return match nets.into_iter().find_map(|n| self.net_for(n)) {
                Some(n) => Verdict::Whole(Internal::Net(n), n.to_string()),
                None => Verdict::Clean,
            };
        }
        if let Some(domain) = email_domain(t) {
            if self.emails {
                return Verdict::Email;
            }
            if let Some(internal) = self.host(domain) {
                let masked = internal.email();
                return Verdict::Whole(internal, masked);
            }
        }
        if t.contains("://") {
            if let (Some(internal), changed) = self.judge_url(t) {
                let masked = changed.map_or_else(|| t.to_string(), |(m, _)| m);
                return Verdict::Whole(internal, masked);
            }
        }
        if is_host_name(t) {
            if let Some(d) = self.domain_for(t) {
                return Verdict::Whole(Internal::Domain(d.to_string()), d.to_string());
            }
        }
        // Internal values inside other text (file names, command lines,
        // regular expressions).
        let (masked, hits) = self
            .mask_text(v, true)
            .unwrap_or_else(|| (v.to_string(), Vec::new()));
        if self.emails && hits.iter().any(|h| h.rule == REMOVE_EMAIL) {
            return Verdict::Email;
        }
        // A regular expression may escape the dots of a name or address
        // (`db1\.corp\.example`): what is found only without those
        // backslashes cannot be masked in place.
        let plain = unescape_punctuation(&masked);
        if plain != masked {
            let seen = self.scan_all(&masked, true);
            let hidden = self.scan_all(&plain, true);
            if hidden.len() > seen.len() {
                let email = hidden.iter().any(|h| h.rule == REMOVE_EMAIL)
                    && !seen.iter().any(|h| h.rule == REMOVE_EMAIL);
                if email {
                    return Verdict::Email;
                }
                return Verdict::Unmaskable(hidden.first().map_or(INTERNAL_DOMAINS, |h| h.rule));
            }
        }
        if hits.is_empty() {
            Verdict::Clean
        } else {
            Verdict::Partial(masked, hits)
        }
    }
}

/// Whether the pattern (outside its literals) compares e-mail addresses.
fn compares_email_addresses(p: &str, literals: &[Literal]) -> bool {
    let mut outside = String::with_capacity(p.len());
    let mut at = 0;
    for lit in literals {
        outside.push_str(&p[at..lit.start]);
        outside.push(' ');
        at = lit.end;
    }
    outside.push_str(&p[at..]);
    let outside = outside.to_ascii_lowercase();
    if outside.contains("email-addr:") {
        return true;
    }
    outside.match_indices("email-message:").any(|(i, m)| {
        let path = &outside[i + m.len()..];
        ["from_ref", "sender_ref", "to_refs", "cc_refs", "bcc_refs"]
            .iter()
            .any(|r| path.starts_with(r))
    })
}

/// An indicator: removed, or its pattern rewritten, when the pattern names
/// internal values (or e-mail addresses under `remove_email_addresses`).
fn judge_indicator(
    obj: &mut Map<String, Value>,
    m: &Matcher<'_>,
    id: &str,
    ledger: &mut Ledger,
) -> Fate {
    if !m.scans() {
        return Fate::Keep;
    }
    let Some(pattern) = str_of(obj, "pattern").map(str::to_string) else {
        return Fate::Keep;
    };
    let pattern = pattern.as_str();
    let is_stix = str_of(obj, "pattern_type").is_none_or(|t| t.eq_ignore_ascii_case("stix"));
    if !is_stix {
        // Another pattern language (Sigma, YARA, Snort…): scanned as text.
        let Some((masked, hits)) = m.mask_text(pattern, true) else {
            return Fate::Keep;
        };
        if let Some(h) = hits.iter().find(|h| h.rule == REMOVE_EMAIL) {
            return Fate::Remove(h.rule);
        }
        if let (false, Some(h)) = (m.mask, hits.first()) {
            return Fate::Remove(h.rule);
        }
        obj.insert("pattern".into(), Value::String(masked));
        ledger.hits(&hits, Some(PATTERN_TEXT), Some(id));
        return Fate::Keep;
    }
    let literals = pattern_literals(pattern);
    if m.emails && compares_email_addresses(pattern, &literals) {
        return Fate::Remove(REMOVE_EMAIL);
    }
    let verdicts: Vec<Verdict> = literals.iter().map(|l| m.judge_literal(l)).collect();
    if verdicts.iter().any(|v| matches!(v, Verdict::Email)) {
        return Fate::Remove(REMOVE_EMAIL);
    }
    for v in &verdicts {
        match v {
            Verdict::Unmaskable(rule) => return Fate::Remove(rule),
            Verdict::Whole(internal, _) if !m.mask => return Fate::Remove(internal.rule()),
            _ => {}
        }
    }
    let mut rewritten = String::with_capacity(pattern.len());
    let mut at = 0;
    let mut hits = Vec::new();
    for (lit, verdict) in literals.iter().zip(&verdicts) {
        let masked = match verdict {
            Verdict::Whole(internal, masked) if *masked != lit.value => {
                hits.push(Hit {
                    rule: internal.rule(),
                    target: PATTERN_LITERAL,
                });
                masked
            }
            Verdict::Partial(masked, h) => {
                hits.extend(h.iter().map(|h| Hit {
                    rule: h.rule,
                    target: PATTERN_LITERAL,
                }));
                masked
            }
            _ => continue,
        };
        rewritten.push_str(&pattern[at..lit.start]);
        rewritten.push_str(&quote_literal(masked));
        at = lit.end;
    }
    if hits.is_empty() {
        return Fate::Keep;
    }
    rewritten.push_str(&pattern[at..]);
    obj.insert("pattern".into(), Value::String(rewritten));
    ledger.hits(&hits, None, Some(id));
    Fate::Keep
}

/// Remove what points at removed objects, until nothing more is removed.
///
/// A worklist over a reverse index (id → objects referring to it), so that a
/// long chain of references costs one visit per reference, not one pass
/// over the bundle per link.
fn cascade(
    objects: &mut [Value],
    alive: &mut [bool],
    removed: &mut HashSet<String>,
    ledger: &mut Ledger,
) {
    let mut referrers: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, value) in objects.iter().enumerate() {
        let Value::Object(obj) = value else { continue };
        if str_of(obj, "type") == Some("marking-definition") {
            continue;
        }
        let mut refs = Vec::new();
        collect_refs(obj, &mut refs);
        refs.sort();
        refs.dedup();
        for r in refs {
            referrers.entry(r).or_default().push(i);
        }
    }
    let mut queue: VecDeque<usize> = VecDeque::new();
    let mut queued = vec![false; objects.len()];
    let enqueue = |id: &str, queue: &mut VecDeque<usize>, queued: &mut [bool]| {
        for &i in referrers.get(id).map(Vec::as_slice).unwrap_or_default() {
            if !queued[i] {
                queued[i] = true;
                queue.push_back(i);
            }
        }
    };
    let mut initial: Vec<&String> = removed.iter().collect();
    initial.sort();
    for id in initial {
        enqueue(id, &mut queue, &mut queued);
    }
    let mut pruned: Vec<BTreeMap<String, usize>> = vec![BTreeMap::new(); objects.len()];
    while let Some(i) = queue.pop_front() {
        queued[i] = false;
        if !alive[i] {
            continue;
        }
        let Some(obj) = objects[i].as_object_mut() else {
            continue;
        };
        let ty = str_of(obj, "type").unwrap_or_default().to_string();
        let id = str_of(obj, "id").unwrap_or_default().to_string();
        let points_at_removed =
            |key: &str| str_of(obj, key).is_some_and(|r| removed.contains(&r.to_ascii_lowercase()));
        let mut remove = match ty.as_str() {
            "relationship" => points_at_removed("source_ref") || points_at_removed("target_ref"),
            "sighting" => points_at_removed("sighting_of_ref"),
            "language-content" => points_at_removed("object_ref"),
            _ => false,
        };
        if !remove {
            let had_traffic_end = obj.contains_key("src_ref") || obj.contains_key("dst_ref");
            let mut emptied = Vec::new();
            prune_refs(obj, removed, &mut pruned[i], &mut emptied, true);
            remove = emptied
                .iter()
                .any(|k| k == "object_refs" && NEEDS_OBJECT_REFS.contains(&ty.as_str()))
                || (ty == "network-traffic"
                    && had_traffic_end
                    && !obj.contains_key("src_ref")
                    && !obj.contains_key("dst_ref"))
                || (ty == "malware-analysis"
                    && emptied.iter().any(|k| k == "analysis_sco_refs")
                    && !obj.contains_key("result"));
        }
        if remove {
            alive[i] = false;
            ledger.add(DANGLING, REMOVED, object_target(&ty), 1, Some(&id));
            if !id.is_empty() {
                let id = id.to_ascii_lowercase();
                enqueue(&id, &mut queue, &mut queued);
                removed.insert(id);
            }
        }
    }
    // References removed from objects that survive, in bundle order.
    for (i, counts) in pruned.into_iter().enumerate() {
        if !alive[i] {
            continue;
        }
        let id = objects[i]
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for (key, count) in counts {
            let target = if key.ends_with("_refs") {
                format!("reference in `{key}`")
            } else {
                format!("reference `{key}`")
            };
            ledger.add(DANGLING, REMOVED, target, count, Some(id));
        }
    }
}

/// Every id an object refers to (`*_ref`, `*_refs`, at any depth), in
/// lower case, markings aside.
fn collect_refs(obj: &Map<String, Value>, out: &mut Vec<String>) {
    for (key, value) in obj {
        if key == "object_marking_refs" || key == "granular_markings" {
            continue;
        }
        match value {
            Value::String(r) if key.ends_with("_ref") => out.push(r.to_ascii_lowercase()),
            Value::Array(items) if key.ends_with("_refs") => out.extend(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_ascii_lowercase),
            ),
            other => collect_nested_refs(other, out),
        }
    }
}

fn collect_nested_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => collect_refs(map, out),
        Value::Array(items) => {
            for item in items {
                collect_nested_refs(item, out);
            }
        }
        _ => {}
    }
}

/// Remove `*_ref` properties and `*_refs` entries pointing at removed ids,
/// at any depth (extensions, `body_multipart`…), never touching markings.
/// An emptied list is removed; its key is reported in `emptied` when at the
/// top level.
fn prune_refs(
    obj: &mut Map<String, Value>,
    removed: &HashSet<String>,
    pruned: &mut BTreeMap<String, usize>,
    emptied: &mut Vec<String>,
    top: bool,
) {
    let is_removed = |v: &Value| {
        v.as_str()
            .is_some_and(|r| removed.contains(&r.to_ascii_lowercase()))
    };
    let mut drop_keys = Vec::new();
    for (key, value) in obj.iter_mut() {
        if key == "object_marking_refs" || key == "granular_markings" {
            continue;
        }
        if key.ends_with("_ref") && is_removed(value) {
            drop_keys.push(key.clone());
            *pruned.entry(key.clone()).or_default() += 1;
        } else if key.ends_with("_refs") {
            if let Value::Array(items) = value {
                let before = items.len();
                items.retain(|v| !is_removed(v));
                let gone = before - items.len();
                if gone > 0 {
                    *pruned.entry(key.clone()).or_default() += gone;
                    if items.is_empty() {
                        drop_keys.push(key.clone());
                        if top {
                            emptied.push(key.clone());
                        }
                    }
                }
            }
        } else {
            prune_nested(value, removed, pruned);
        }
    }
    for key in drop_keys {
        obj.remove(&key);
    }
}

fn prune_nested(
    value: &mut Value,
    removed: &HashSet<String>,
    pruned: &mut BTreeMap<String, usize>,
) {
    match value {
        Value::Object(map) => prune_refs(map, removed, pruned, &mut Vec::new(), false),
        Value::Array(items) => {
            for item in items {
                prune_nested(item, removed, pruned);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// CSAF.

fn redact_csaf(
    content: &[u8],
    rules: &RedactRules,
    m: &Matcher<'_>,
    ledger: &mut Ledger,
) -> Result<Option<Vec<u8>>, RedactError> {
    let mut top = parse_json(Kind::Csaf, content)?;
    let mut hits = Vec::new();
    csaf_object(&mut top, CsafPlace::Root, rules, m, ledger, &mut hits);
    ledger.hits(&hits, None, None);
    if ledger.is_empty() {
        return Ok(None);
    }
    serde_json::to_vec(&Value::Object(top))
        .map(Some)
        .map_err(|_| RedactError::Content("the redacted CSAF document cannot be written".into()))
}

/// Where a CSAF object is, for the parts that must survive.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CsafPlace {
    Root,
    Document,
    Elsewhere,
}

fn csaf_object(
    obj: &mut Map<String, Value>,
    place: CsafPlace,
    rules: &RedactRules,
    m: &Matcher<'_>,
    ledger: &mut Ledger,
    hits: &mut Vec<Hit>,
) {
    let protected = |key: &str| {
        (place == CsafPlace::Root && key == "document")
            || (place == CsafPlace::Document && key == "distribution")
    };
    for (rule, names) in [
        (DROP_PROPERTIES, &rules.drop_properties),
        (PERSONAL_DATA, &rules.personal_data_fields),
    ] {
        for name in names {
            if !protected(name) && obj.remove(name).is_some() {
                ledger.add(rule, REMOVED, format!("property `{name}`"), 1, None);
            }
        }
    }
    // A product version's name is a version number, not an address.
    let is_version_branch = str_of(obj, "category") == Some("product_version");
    for (key, value) in obj.iter_mut() {
        if place == CsafPlace::Document && key == "distribution" {
            continue;
        }
        let inner = if place == CsafPlace::Root && key == "document" {
            CsafPlace::Document
        } else {
            CsafPlace::Elsewhere
        };
        let allow_ip =
            !(VERSION_KEYS.contains(&key.as_str()) || (is_version_branch && key == "name"));
        csaf_value(value, inner, allow_ip, rules, m, ledger, hits);
    }
}

fn csaf_value(
    value: &mut Value,
    place: CsafPlace,
    allow_ip: bool,
    rules: &RedactRules,
    m: &Matcher<'_>,
    ledger: &mut Ledger,
    hits: &mut Vec<Hit>,
) {
    match value {
        Value::Object(map) => csaf_object(map, place, rules, m, ledger, hits),
        Value::Array(items) => {
            for item in items {
                csaf_value(item, CsafPlace::Elsewhere, allow_ip, rules, m, ledger, hits);
            }
        }
        Value::String(s) => {
            if let Some((masked, h)) = m.mask_text(s, allow_ip) {
                *s = masked;
                hits.extend(h);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Text.

fn redact_text(
    content: &[u8],
    m: &Matcher<'_>,
    ledger: &mut Ledger,
) -> Result<Option<Vec<u8>>, RedactError> {
    let text = std::str::from_utf8(content).map_err(|e| {
        RedactError::Content(format!(
            "text is not valid UTF-8: invalid byte at offset {}",
            e.valid_up_to()
        ))
    })?;
    let Some((masked, hits)) = m.mask_text(text, true) else {
        return Ok(None);
    };
    ledger.hits(&hits, None, None);
    Ok(Some(masked.into_bytes()))
}
