//! An event's payload as the store holds it: JSON text, decoded only by whoever reads it.
//!
//! Reading the log is the hot path of every projection, subscription and replay, and most
//! readers want a typed event, not a JSON tree. Keeping the text means a page of the log
//! costs one validation scan per payload; a reader then decodes straight into its own type
//! ([`EventPayload::decode`]), and only an upcast from an older schema builds a tree.

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use std::fmt;

/// Valid JSON text: a stored event's payload.
///
/// Held as plain text rather than a `RawValue` so that a store whose column type already
/// guarantees JSON (PostgreSQL's `json` validates on insert) can hand its rows over
/// without a second validation scan on the read path.
#[derive(Clone)]
pub struct EventPayload(Box<str>);

impl EventPayload {
    /// The payload of `value`, as compact JSON text.
    pub fn from_value(value: &serde_json::Value) -> Self {
        // Displaying a `Value` writes compact JSON and cannot fail: its keys are strings
        // and it holds no non-finite numbers.
        Self(value.to_string().into_boxed_str())
    }

    /// `text` as a payload, if it is valid JSON.
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

    /// The payload decoded as `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.as_str())
    }

    /// The payload as a JSON tree, for upcasting and inspection.
    pub fn to_value(&self) -> serde_json::Value {
        // The text was validated when the payload was made.
        self.decode().expect("an event payload is valid JSON")
    }
}

/// A payload travels as the JSON it holds, not as a string.
impl Serialize for EventPayload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue =
            serde_json::from_str(self.as_str()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for EventPayload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(Self::from)
    }
}

/// Two payloads are equal when they hold the same JSON value: key order and whitespace are
/// not part of an event.
impl PartialEq for EventPayload {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str() || self.to_value() == other.to_value()
    }
}

impl PartialEq<serde_json::Value> for EventPayload {
    fn eq(&self, other: &serde_json::Value) -> bool {
        self.to_value() == *other
    }
}

impl From<Box<RawValue>> for EventPayload {
    fn from(raw: Box<RawValue>) -> Self {
        Self(raw.into())
    }
}

impl From<&serde_json::Value> for EventPayload {
    fn from(value: &serde_json::Value) -> Self {
        Self::from_value(value)
    }
}

impl fmt::Debug for EventPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for EventPayload {
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
        let compact = EventPayload::from_text(r#"{"a":1,"b":[true]}"#.to_owned()).unwrap();
        let spaced = EventPayload::from_text(r#"{ "b": [true], "a": 1 }"#.to_owned()).unwrap();
        assert_eq!(compact, spaced);
        assert_eq!(compact, json!({"a": 1, "b": [true]}));
        assert_ne!(
            compact,
            EventPayload::from_value(&json!({"a": 2, "b": [true]}))
        );
    }

    #[test]
    fn invalid_text_is_refused() {
        assert!(EventPayload::from_text("{\"a\":".to_owned()).is_err());
    }

    #[test]
    fn a_payload_travels_as_the_json_it_holds() {
        let payload = EventPayload::from_value(&json!({"claim": {"id": "c-1"}}));
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
