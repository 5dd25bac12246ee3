//! Serde helpers for the union shapes operators' files contain.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::ids::GuestId;

/// A guest ID written either as a number (`9000`) or a string of digits (`"900"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct IdRef(pub GuestId);

impl<'de> Deserialize<'de> for IdRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IdRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a guest ID (a number or a string of digits)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IdRef, E> {
                v.to_string().parse().map(IdRef).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IdRef, E> {
                v.to_string().parse().map(IdRef).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IdRef, E> {
                v.parse().map(IdRef).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A list that older files wrote as one string: `"8.8.8.8"` or `["8.8.8.8", "1.1.1.1"]`.
/// A single string is split on commas and whitespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StringList(pub Vec<String>);

impl StringList {
    /// The items.
    pub fn items(&self) -> &[String] {
        &self.0
    }
}

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StringList, E> {
                Ok(StringList(super::formats::split_list(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StringList, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(StringList(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<StringList, E> {
                Ok(StringList::default())
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_numbers_and_digit_strings() {
        let v: Vec<IdRef> = serde_json::from_str(r#"[900, "901"]"#).unwrap();
        assert_eq!(v, [IdRef(GuestId(900)), IdRef(GuestId(901))]);
        assert!(serde_json::from_str::<IdRef>(r#""abc""#).is_err());
        assert!(serde_json::from_str::<IdRef>("42").is_err());
        assert!(serde_json::from_str::<IdRef>("-5").is_err());
    }

    #[test]
    fn string_lists_accept_both_shapes() {
        let a: StringList = serde_json::from_str(r#""10.0.0.1 8.8.8.8""#).unwrap();
        let b: StringList = serde_json::from_str(r#"["10.0.0.1", "8.8.8.8"]"#).unwrap();
        assert_eq!(a, b);
        let n: StringList = serde_json::from_str("null").unwrap();
        assert!(n.items().is_empty());
    }
}
