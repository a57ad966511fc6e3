//! An event's payload as the store holds it: JSON text, decoded only by whoever reads it.
//!
//! Reading the log is the hot path of every projection, subscription and replay, and most
//! readers want a typed event, not a JSON tree. Keeping the text means a page of the log
//! costs one validation scan per payload; a reader then decodes straight into its own type
//! ([`EventPayload::decode`]), and only an upcast from an older schema builds a tree.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::fmt;

/// Valid JSON text: a stored event's payload.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventPayload(Box<RawValue>);

impl EventPayload {
    /// The payload of `value`, as compact JSON text.
    pub fn from_value(value: &serde_json::Value) -> Self {
        // Serialising a `Value` cannot fail: its keys are strings and it holds no
        // non-finite numbers.
        Self(serde_json::value::to_raw_value(value).expect("a JSON value serialises"))
    }

    /// `text` as a payload, if it is valid JSON.
    pub fn from_text(text: String) -> Result<Self, serde_json::Error> {
        RawValue::from_string(text).map(Self)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
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
        Self(raw)
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
