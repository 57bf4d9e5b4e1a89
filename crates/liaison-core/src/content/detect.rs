//! The kind of JSON content read from a `Read`, in one pass and constant
//! memory (but for two small members): for a client that must tell whether a large file is a STIX
//! bundle or a CSAF document before streaming it to the node, without
//! loading it.

use std::fmt;
use std::io::Read;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use super::Kind;

/// [`Kind::Stix`] or [`Kind::Csaf`] when `reader` holds one whole JSON
/// object that [`super::detect`] would call so (a `"type": "bundle"`
/// member; a `"document"` object with a `"csaf_version"`), decided from
/// the same members; `None` for anything else: other JSON, JSON that does
/// not parse, a byte-order mark, text, or a read error. `None` tells the
/// caller to read the whole content and look at it with [`super::detect`].
///
/// Only the `type` and `document` members are built; every other value is
/// skipped as it is read, so memory does not grow with a bundle's
/// `objects` or an advisory's `vulnerabilities`. As with a parsed `Value`,
/// a repeated member counts as its last occurrence.
pub fn detect_json_reader<R: Read>(reader: R) -> Option<Kind> {
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(reader));
    let top = de::Deserializer::deserialize_map(&mut de, TopShape).ok()?;
    de.end().ok()?;
    if top.bundle {
        Some(Kind::Stix)
    } else if top.csaf {
        Some(Kind::Csaf)
    } else {
        None
    }
}

/// What the top-level members say.
#[derive(Default)]
struct Shape {
    bundle: bool,
    csaf: bool,
}

struct TopShape;

impl<'de> Visitor<'de> for TopShape {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut shape = Shape::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => shape.bundle = map.next_value::<Value>()? == "bundle",
                "document" => {
                    let document = map.next_value::<Value>()?;
                    shape.csaf = document.get("csaf_version").is_some();
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(shape)
    }
}
