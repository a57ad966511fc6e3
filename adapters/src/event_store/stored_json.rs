//! An event's payload and metadata as the store holds them: JSON text, decoded only by
//! whoever reads them.
//!
//! Reading the log is the hot path of every projection, subscription and replay, and most
//! readers want a typed event, not a JSON tree; most want nothing of the metadata, or one
//! field. Keeping the text means a page of the log costs at most one validation scan per
//! payload; a reader then decodes straight into its own type ([`StoredJson::decode`]), and
//! only an upcast from an older schema builds a tree.

use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use std::fmt;
use std::marker::PhantomData;

/// Valid JSON text: a stored event's payload or metadata.
///
/// Held as plain text rather than a `RawValue` so that a store whose column type already
/// guarantees JSON (PostgreSQL's `json` validates on insert) can hand its rows over
/// without a second validation scan on the read path.
#[derive(Clone)]
pub struct StoredJson(Box<str>);

impl StoredJson {
    /// `value` as compact JSON text.
    pub fn from_value(value: &serde_json::Value) -> Self {
        // Displaying a `Value` writes compact JSON and cannot fail: its keys are strings
        // and it holds no non-finite numbers.
        Self(value.to_string().into_boxed_str())
    }

    /// `text`, if it is valid JSON.
    pub fn from_text(text: String) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<IgnoredAny>(&text)?;
        Ok(Self(text.into_boxed_str()))
    }

    /// Text that a PostgreSQL `json` column returned: the server validated it as JSON when
    /// the row was inserted, so it is taken as it is.
    pub(crate) fn from_json_column(text: String) -> Self {
        Self(text.into_boxed_str())
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text decoded as `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.as_str())
    }

    /// The field `name` of the JSON object held, decoded as `T`; `None` when the text is
    /// not an object or has no such field. The other fields are skipped, not decoded: this
    /// is how a reader takes the one entry of an event's metadata it needs.
    pub fn field<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, serde_json::Error> {
        if !self.as_str().trim_start().starts_with('{') {
            return Ok(None);
        }
        let mut deserializer = serde_json::Deserializer::from_str(self.as_str());
        deserializer.deserialize_map(FieldOf {
            name,
            wanted: PhantomData,
        })
    }

    /// The text as a JSON tree, for upcasting and inspection.
    pub fn to_value(&self) -> serde_json::Value {
        // The text was validated when it was made.
        self.decode().expect("stored JSON is valid JSON")
    }
}

/// Visits an object for one of its fields ([`StoredJson::field`]).
struct FieldOf<'n, T> {
    name: &'n str,
    wanted: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> Visitor<'de> for FieldOf<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // The last of repeated keys wins, as it does for a `serde_json::Value`.
        let mut found = None;
        while let Some(is_name) = map.next_key_seed(IsName(self.name))? {
            if is_name {
                found = Some(map.next_value()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Reads an object's key as whether it is `0`, without keeping it.
struct IsName<'n>(&'n str);

impl<'de> DeserializeSeed<'de> for IsName<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for IsName<'_> {
    type Value = bool;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// It travels as the JSON it holds, not as a string.
impl Serialize for StoredJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue =
            serde_json::from_str(self.as_str()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for StoredJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(Self::from)
    }
}

/// Two are equal when they hold the same JSON value: key order and whitespace are not part
/// of an event.
impl PartialEq for StoredJson {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str() || self.to_value() == other.to_value()
    }
}

impl PartialEq<serde_json::Value> for StoredJson {
    fn eq(&self, other: &serde_json::Value) -> bool {
        self.to_value() == *other
    }
}

impl From<Box<RawValue>> for StoredJson {
    fn from(raw: Box<RawValue>) -> Self {
        Self(raw.into())
    }
}

impl From<&serde_json::Value> for StoredJson {
    fn from(value: &serde_json::Value) -> Self {
        Self::from_value(value)
    }
}

impl fmt::Debug for StoredJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for StoredJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equality_is_of_json_values_not_of_text() {
        let compact = StoredJson::from_text(r#"{"a":1,"b":[true]}"#.to_owned()).unwrap();
        let spaced = StoredJson::from_text(r#"{ "b": [true], "a": 1 }"#.to_owned()).unwrap();
        assert_eq!(compact, spaced);
        assert_eq!(compact, json!({"a": 1, "b": [true]}));
        assert_ne!(
            compact,
            StoredJson::from_value(&json!({"a": 2, "b": [true]}))
        );
    }

    #[test]
    fn one_field_is_read_and_the_rest_skipped() {
        let metadata = StoredJson::from_text(
            r#"{"claim":"c-1","inputs":{"plan-gold":3},"kept_by":"acme","kept_by":"beta"}"#
                .to_owned(),
        )
        .unwrap();
        assert_eq!(
            metadata.field::<String>("claim").unwrap().as_deref(),
            Some("c-1")
        );
        assert_eq!(
            metadata
                .field::<std::collections::BTreeMap<String, u64>>("inputs")
                .unwrap()
                .unwrap()["plan-gold"],
            3
        );
        assert_eq!(
            metadata.field::<String>("kept_by").unwrap().as_deref(),
            Some("beta")
        );
        assert_eq!(metadata.field::<String>("missing").unwrap(), None);
        assert!(
            metadata.field::<u64>("claim").is_err(),
            "a field of another type"
        );
        let not_an_object = StoredJson::from_text("[1, 2]".to_owned()).unwrap();
        assert_eq!(not_an_object.field::<u64>("claim").unwrap(), None);
    }

    #[test]
    fn invalid_text_is_refused() {
        assert!(StoredJson::from_text("{\"a\":".to_owned()).is_err());
    }

    #[test]
    fn a_payload_travels_as_the_json_it_holds() {
        let payload = StoredJson::from_value(&json!({"claim": {"id": "c-1"}}));
        let wire = serde_json::to_string(&json!({ "payload": payload })).unwrap();
        assert_eq!(wire, r#"{"payload":{"claim":{"id":"c-1"}}}"#);
        let back: serde_json::Value = serde_json::from_str(&wire).unwrap();
        assert_eq!(back["payload"]["claim"]["id"], "c-1");
        #[derive(Deserialize)]
        struct Claim {
            id: String,
        }
        #[derive(Deserialize)]
        struct Submitted {
            claim: Claim,
        }
        assert_eq!(payload.decode::<Submitted>().unwrap().claim.id, "c-1");
    }
}
