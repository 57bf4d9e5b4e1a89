//! FIRST Traffic Light Protocol 2.0 labels.
//!
//! The labels form a total order, from least to most restrictive:
//! `CLEAR < GREEN < AMBER < AMBER+STRICT < RED` (STANDARDS §1.6). The
//! effective label of anything that mixes labels is the maximum.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A TLP 2.0 label. `Ord` follows restrictiveness: `Tlp::Clear < Tlp::Red`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tlp {
    /// `TLP:CLEAR` (TLP 1.0 `TLP:WHITE`): no limit on disclosure.
    Clear,
    /// `TLP:GREEN`: the recipient's community, not public channels.
    Green,
    /// `TLP:AMBER`: the recipient organization and its clients, need-to-know.
    Amber,
    /// `TLP:AMBER+STRICT`: the recipient organization only.
    AmberStrict,
    /// `TLP:RED`: the named recipients only.
    Red,
}

/// A string that is not a TLP label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a TLP label: expected one of TLP:CLEAR, TLP:GREEN, TLP:AMBER, TLP:AMBER+STRICT, TLP:RED (TLP 1.0 WHITE is read as CLEAR)")]
pub struct ParseTlpError(pub String);

impl Tlp {
    /// Every label, least restrictive first.
    pub const ALL: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    /// The canonical written form, e.g. `TLP:AMBER+STRICT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "TLP:CLEAR",
            Tlp::Green => "TLP:GREEN",
            Tlp::Amber => "TLP:AMBER",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Red => "TLP:RED",
        }
    }

    /// The bare lower-case value used by the STIX TLP 2.0 extension (`tlp_2_0`).
    pub fn stix_value(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }

    /// The id of the official STIX 2.1 marking definition for this TLP 2.0 label
    /// (oasis-open/cti-stix-common-objects).
    pub fn stix_marking_id(self) -> &'static str {
        match self {
            Tlp::Clear => "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
            Tlp::Green => "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
            Tlp::Amber => "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
            Tlp::AmberStrict => "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
            Tlp::Red => "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
        }
    }

    /// The label behind a well-known STIX TLP marking-definition id: the five
    /// TLP 2.0 objects and the four fixed TLP 1.0 objects of STIX 2.1.
    pub fn from_stix_marking_id(id: &str) -> Option<Tlp> {
        const TLP1: [(&str, Tlp); 4] = [
            (
                "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
                Tlp::Clear,
            ),
            (
                "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
                Tlp::Green,
            ),
            (
                "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
                Tlp::Amber,
            ),
            (
                "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
                Tlp::Red,
            ),
        ];
        Tlp::ALL
            .into_iter()
            .find(|t| t.stix_marking_id() == id)
            .or_else(|| TLP1.iter().find(|(i, _)| *i == id).map(|(_, t)| *t))
    }

    /// How CSAF 2.0 writes this label: its TLP 1.0 `label`, plus the
    /// `distribution.text` marker for AMBER+STRICT (the CSAF 2.1 converter
    /// convention: `RED` with `TLP v2.0: TLP:AMBER+STRICT`).
    pub fn csaf20_label(self) -> (&'static str, Option<&'static str>) {
        match self {
            Tlp::Clear => ("WHITE", None),
            Tlp::Green => ("GREEN", None),
            Tlp::Amber => ("AMBER", None),
            Tlp::AmberStrict => ("RED", Some("TLP v2.0: TLP:AMBER+STRICT")),
            Tlp::Red => ("RED", None),
        }
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tlp {
    type Err = ParseTlpError;

    /// Case-insensitive, with or without the `TLP:` prefix; `WHITE` reads as
    /// CLEAR. Inner spaces (`TLP: RED`) are refused: TLP 2.0 forbids them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        let lower = trimmed.to_ascii_lowercase();
        let bare = lower.strip_prefix("tlp:").unwrap_or(&lower);
        match bare {
            "clear" | "white" => Ok(Tlp::Clear),
            "green" => Ok(Tlp::Green),
            "amber" => Ok(Tlp::Amber),
            "amber+strict" => Ok(Tlp::AmberStrict),
            "red" => Ok(Tlp::Red),
            _ => Err(ParseTlpError(s.to_string())),
        }
    }
}

impl Serialize for Tlp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Tlp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_every_accepted_spelling() {
        for (input, want) in [
            ("TLP:AMBER+STRICT", Tlp::AmberStrict),
            ("amber+strict", Tlp::AmberStrict),
            ("Amber+Strict", Tlp::AmberStrict),
            ("tlp:amber+strict", Tlp::AmberStrict),
            ("WHITE", Tlp::Clear),
            ("TLP:WHITE", Tlp::Clear),
            ("clear", Tlp::Clear),
            ("Green", Tlp::Green),
            ("TLP:RED", Tlp::Red),
            (" amber ", Tlp::Amber),
        ] {
            assert_eq!(input.parse::<Tlp>(), Ok(want), "{input}");
        }
    }

    #[test]
    fn refuses_non_labels() {
        for bad in [
            "",
            "TLP: RED",
            "amber strict",
            "TLP:",
            "orange",
            "TLP:AMBER+",
            "redd",
        ] {
            let err = bad.parse::<Tlp>().unwrap_err();
            assert!(err.to_string().contains("is not a TLP label"), "{bad}");
        }
    }

    #[test]
    fn order_is_restrictiveness() {
        assert!(Tlp::Clear < Tlp::Green);
        assert!(Tlp::Green < Tlp::Amber);
        assert!(Tlp::Amber < Tlp::AmberStrict);
        assert!(Tlp::AmberStrict < Tlp::Red);
        let mut shuffled = [
            Tlp::Red,
            Tlp::Clear,
            Tlp::AmberStrict,
            Tlp::Green,
            Tlp::Amber,
        ];
        shuffled.sort();
        assert_eq!(shuffled, Tlp::ALL);
    }

    #[test]
    fn serde_uses_canonical_string() {
        let json = serde_json::to_string(&Tlp::AmberStrict).unwrap();
        assert_eq!(json, "\"TLP:AMBER+STRICT\"");
        let back: Tlp = serde_json::from_str("\"amber+strict\"").unwrap();
        assert_eq!(back, Tlp::AmberStrict);
        assert!(serde_json::from_str::<Tlp>("\"purple\"").is_err());
    }

    #[test]
    fn marking_ids_round_trip() {
        for t in Tlp::ALL {
            assert_eq!(Tlp::from_stix_marking_id(t.stix_marking_id()), Some(t));
        }
        assert_eq!(
            Tlp::from_stix_marking_id("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"),
            Some(Tlp::Clear)
        );
        assert_eq!(Tlp::from_stix_marking_id("marking-definition--0000"), None);
    }

    fn any_tlp() -> impl Strategy<Value = Tlp> {
        prop::sample::select(Tlp::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(t in any_tlp()) {
            prop_assert_eq!(t.to_string().parse::<Tlp>(), Ok(t));
            prop_assert_eq!(t.stix_value().parse::<Tlp>(), Ok(t));
            prop_assert_eq!(t.to_string().to_lowercase().parse::<Tlp>(), Ok(t));
            let json = serde_json::to_string(&t).unwrap();
            prop_assert_eq!(serde_json::from_str::<Tlp>(&json).unwrap(), t);
        }

        #[test]
        fn any_case_parses(t in any_tlp(), mask in any::<u32>()) {
            // Flip the case of characters chosen by `mask`.
            let s: String = t.as_str().chars().enumerate().map(|(i, c)| {
                if mask >> (i % 32) & 1 == 1 { c.to_ascii_lowercase() } else { c }
            }).collect();
            prop_assert_eq!(s.parse::<Tlp>(), Ok(t));
        }

        #[test]
        fn order_matches_index(a in any_tlp(), b in any_tlp()) {
            let ia = Tlp::ALL.iter().position(|x| *x == a).unwrap();
            let ib = Tlp::ALL.iter().position(|x| *x == b).unwrap();
            prop_assert_eq!(a.cmp(&b), ia.cmp(&ib));
            prop_assert_eq!(a.max(b), Tlp::ALL[ia.max(ib)]);
        }
    }
}
