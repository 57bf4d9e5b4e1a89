//! STIX validation in bounded memory: the bundle is read from a `Read`
//! and its `objects` are checked one at a time, so memory grows with the
//! largest object and the number of distinct types and markings, not with
//! the bundle (150 000 indicators are checked holding one at a time).
//!
//! [`super::validate`] uses it for [`Kind::Stix`]. Its answers are those of
//! the checks on one parsed tree (kept for tests as the reference, and
//! compared on the samples, on every kind of error and under random
//! mutation): the bundle header first, then the first bad object (the whole
//! input is read either way, since the header may come after the objects).

use std::fmt;
use std::io::Read;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::stix::{check_bundle_header, check_object, Markings, Obj};
use super::{ContentError, ContentInfo, Inventory, Kind, StixLocation};

/// Validate a STIX 2.1 bundle read from `reader`, in bounded memory.
pub fn validate_stix_reader<R: Read>(reader: R) -> Result<ContentInfo, ContentError> {
    let mut state = State::default();
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(reader));
    let parsed = de::Deserializer::deserialize_any(&mut de, Top { state: &mut state })
        .and_then(|()| de.end());
    if let Err(e) = parsed {
        // A JSON error (checks never stop the parse: see `State`).
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        return Err(ContentError::NotJson {
            kind: Kind::Stix,
            message: full.strip_suffix(&suffix).unwrap_or(&full).to_string(),
            line: e.line(),
            column: e.column(),
        });
    }
    if let Some(found) = state.not_object {
        return Err(ContentError::NotObject {
            kind: Kind::Stix,
            found,
        });
    }
    check_bundle_header(&Obj {
        map: &state.header,
        at: StixLocation::Bundle,
    })?;
    if let Some(e) = state.objects_error.or(state.first_error) {
        return Err(e);
    }
    let (max_tlp, max_tlp_source) = state.markings.resolve();
    Ok(ContentInfo {
        kind: Kind::Stix,
        max_tlp,
        max_tlp_source,
        objects: state.objects,
        inventory: state.inventory,
    })
}

#[derive(Default)]
struct State {
    /// Every top-level member but `objects` (small in a real bundle).
    header: Map<String, Value>,
    markings: Markings,
    inventory: Inventory,
    objects: usize,
    /// The first object that fails its checks; later ones are only read.
    first_error: Option<ContentError>,
    /// `objects` is not an array.
    objects_error: Option<ContentError>,
    /// The top level is not an object: what it is.
    not_object: Option<&'static str>,
}

/// The top level: a map whose `objects` are streamed.
struct Top<'a> {
    state: &'a mut State,
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a STIX bundle (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "objects" {
                // A repeated member counts once, the last, as in a parse
                // into a map.
                let s = &mut *self.state;
                (s.markings, s.inventory, s.objects) = Default::default();
                (s.first_error, s.objects_error) = (None, None);
                map.next_value_seed(Objects {
                    state: &mut *self.state,
                })?;
            } else {
                let v: Value = map.next_value()?;
                self.state.header.insert(key, v);
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.state.not_object = Some("an array");
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.state.not_object = Some("a string");
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.state.not_object = Some("a boolean");
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.state.not_object = Some("a number");
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.state.not_object = Some("a number");
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.state.not_object = Some("a number");
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.state.not_object = Some("null");
        Ok(())
    }
}

/// The `objects` member: checked one element at a time.
struct Objects<'a> {
    state: &'a mut State,
}

impl<'de> DeserializeSeed<'de> for Objects<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Objects<'_> {
    fn not_array(self, found: &str) {
        self.state.objects_error = Some(ContentError::Stix {
            at: StixLocation::Bundle,
            field: Some("objects".into()),
            problem: format!("must be an array, found {found}"),
        });
    }
}

impl<'de> Visitor<'de> for Objects<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of STIX objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let state = self.state;
        while let Some(value) = seq.next_element::<Value>()? {
            let index = state.objects;
            state.objects += 1;
            if state.first_error.is_some() {
                continue;
            }
            match check_object(index, &value, &mut state.markings) {
                Ok(()) => state.inventory.count(&value),
                Err(e) => state.first_error = Some(e),
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.not_array("an object");
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.not_array("a string");
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.not_array("a boolean");
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.not_array("a number");
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.not_array("a number");
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.not_array("a number");
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.not_array("null");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::validate_stix_in_memory;
    use proptest::prelude::*;

    const SAMPLES: &[&str] = &[
        include_str!("../../../../tests/data/stix-indicator-for-c2-ip-address.json"),
        include_str!("../../../../tests/data/stix-internal-and-external-ip.json"),
        include_str!("../../../../tests/data/stix-malicious-email-indicator-with-attachment.json"),
        include_str!("../../../../tests/data/stix-marked-red.json"),
        include_str!("../../../../tests/data/stix-tlp2-amber-strict.json"),
        include_str!("../../../../tests/data/stix-tlp2-red.json"),
    ];

    fn both(
        bytes: &[u8],
    ) -> (
        Result<ContentInfo, ContentError>,
        Result<ContentInfo, ContentError>,
    ) {
        (validate_stix_in_memory(bytes), validate_stix_reader(bytes))
    }

    #[test]
    fn the_samples_give_the_same_answer_streamed_or_not() {
        for s in SAMPLES {
            let (a, b) = both(s.as_bytes());
            assert_eq!(a, b, "{s}");
            assert!(a.is_ok(), "{a:?}");
        }
    }

    #[test]
    fn errors_are_the_same_streamed_or_not() {
        let cases: &[&str] = &[
            "[]",
            "\"bundle\"",
            "null",
            "{\"type\": \"bundle\"",
            "{\"type\": \"bundle\", \"id\": \"bundle--x\"}",
            "{\"type\": \"bundle\", \"id\": \"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d\", \"objects\": 7}",
            "{\"type\": \"bundle\", \"id\": \"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d\", \"objects\": [1]}",
            // The header after a bad object: the header is reported first.
            "{\"objects\": [{\"type\": \"indicator\"}], \"type\": \"bundl\", \"id\": \"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d\"}",
            "{\"type\": \"bundle\", \"id\": \"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d\", \"objects\": [{\"type\": \"indicator\", \"id\": \"indicator--5d0092c5-5f74-4287-9642-33f4c354e56d\"}, {\"type\": 3}]}",
            "{\"type\": \"bundle\", \"id\": \"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d\", \"objects\": []} trailing",
        ];
        for c in cases {
            let (a, b) = both(c.as_bytes());
            assert_eq!(a, b, "{c}");
            assert!(a.is_err(), "{c}");
        }
    }

    /// A bundle of `n` indicators under one marking, with the marking
    /// definition at the end.
    fn bundle(n: usize, tlp_red_at: Option<usize>) -> String {
        let mut objects = Vec::new();
        for i in 0..n {
            let marking = if Some(i) == tlp_red_at {
                "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
            } else {
                "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
            };
            objects.push(serde_json::json!({
                "type": "indicator", "spec_version": "2.1",
                "id": format!("indicator--00000000-0000-4000-8000-{:012x}", i + 1),
                "created": "2026-12-01T00:00:00.000Z", "modified": "2026-12-01T00:00:00.000Z",
                "pattern": format!("[ipv4-addr:value = '198.51.100.{}']", i % 250),
                "pattern_type": "stix", "valid_from": "2026-12-01T00:00:00Z",
                "object_marking_refs": [marking],
            }));
        }
        serde_json::json!({
            "type": "bundle",
            "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
            "objects": objects,
        })
        .to_string()
    }

    #[test]
    fn a_large_bundle_gives_the_same_inventory_and_label() {
        let text = bundle(2000, Some(1500));
        let (a, b) = both(text.as_bytes());
        assert_eq!(a, b);
        let info = b.unwrap();
        assert_eq!(info.objects, 2000);
        assert_eq!(info.max_tlp, Some(crate::tlp::Tlp::Red));
        assert_eq!(info.inventory.pattern_types["ipv4-addr"], 2000);
    }

    proptest! {
        /// Whatever the bytes, both give the same answer.
        #[test]
        fn any_mutation_gives_the_same_answer(
            pick in 0usize..6,
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let mut bytes = SAMPLES[pick].as_bytes().to_vec();
            let i = at.index(bytes.len());
            bytes[i] = byte;
            let (a, b) = both(&bytes);
            prop_assert_eq!(a, b);
        }
    }
}
