//! A STIX bundle's objects, one at a time, from a `Read`: for exports that
//! transform every object (adding TLP markings) without holding the bundle,
//! so memory grows with the largest object, not with the bundle.

use std::fmt;
use std::io::Read;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{ContentError, Kind};

/// Call `each` on every element of the bundle's `objects`, in order, and
/// return the bundle's other members. The content was validated on entry;
/// what is not a JSON object with an `objects` array (none at all is an
/// empty bundle) is refused as not JSON of that shape.
pub fn each_stix_object<R: Read>(
    reader: R,
    mut each: impl FnMut(Value),
) -> Result<Map<String, Value>, ContentError> {
    let mut header = Map::new();
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(reader));
    let top = Top {
        each: &mut each,
        header: &mut header,
    };
    de::Deserializer::deserialize_map(&mut de, top)
        .and_then(|()| de.end())
        .map_err(|e| ContentError::NotJson {
            kind: Kind::Stix,
            message: e.to_string(),
            line: e.line(),
            column: e.column(),
        })?;
    Ok(header)
}

/// The top level: a map whose `objects` are handed out one at a time.
struct Top<'a> {
    each: &'a mut dyn FnMut(Value),
    header: &'a mut Map<String, Value>,
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a STIX bundle (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "objects" {
                map.next_value_seed(Objects {
                    each: &mut *self.each,
                })?;
            } else {
                let v: Value = map.next_value()?;
                self.header.insert(key, v);
            }
        }
        Ok(())
    }
}

/// The `objects` member.
struct Objects<'a> {
    each: &'a mut dyn FnMut(Value),
}

impl<'de> DeserializeSeed<'de> for Objects<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Objects<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of STIX objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<Value>()? {
            (self.each)(value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects_of(json: &str) -> Result<(Vec<Value>, Map<String, Value>), ContentError> {
        let mut seen = Vec::new();
        let header = each_stix_object(json.as_bytes(), |o| seen.push(o))?;
        Ok((seen, header))
    }

    #[test]
    fn every_object_in_order_and_the_other_members() {
        let (objects, header) =
            objects_of(r#"{"type":"bundle","objects":[{"id":"a"},{"id":"b"}],"id":"bundle--1"}"#)
                .unwrap();
        let ids: Vec<&str> = objects.iter().filter_map(|o| o["id"].as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(header["type"], "bundle");
        assert_eq!(header["id"], "bundle--1");
        assert!(!header.contains_key("objects"));
        let (none, _) = objects_of(r#"{"type":"bundle"}"#).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn what_is_not_a_bundle_is_named() {
        let e = objects_of("[1]").unwrap_err();
        assert!(e.to_string().contains("expected a STIX bundle"), "{e}");
        let e = objects_of(r#"{"objects":{}}"#).unwrap_err();
        assert!(
            e.to_string().contains("expected an array of STIX objects"),
            "{e}"
        );
        assert!(matches!(
            objects_of(r#"{"objects":[}"#),
            Err(ContentError::NotJson { .. })
        ));
    }
}
