//! The port's [`Message`] in NATS terms and back.
//!
//! A message's id travels as `Nats-Msg-Id` (what JetStream deduplicates on). Its reply
//! subject travels as the `Claims-Reply-To` header when the message goes through the
//! stream, because a JetStream publish uses the NATS reply subject for the stream's
//! acknowledgement and the stream does not store it. Every other `Nats-` header is the
//! server's (stream, sequence) and is not part of the message.

use crate::bus::{BusError, Message, Subject};
use async_nats::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use std::collections::BTreeMap;

/// Where a message's reply subject travels through the stream.
pub(super) const REPLY_TO: &str = "Claims-Reply-To";
/// The header JetStream deduplicates on.
const MESSAGE_ID: &str = "Nats-Msg-Id";
/// Headers with this prefix are set by the server, not by the sender.
const SERVER_PREFIX: &str = "Nats-";

/// The NATS headers of a message: its own, its id and, when `reply_in_header`, its reply
/// subject. Refuses names and values NATS cannot carry rather than letting the client panic.
pub(super) fn to_headers(message: &Message, reply_in_header: bool) -> Result<HeaderMap, BusError> {
    let mut headers = HeaderMap::new();
    for (name, value) in &message.headers {
        insert(&mut headers, name, value)?;
    }
    if let Some(id) = &message.id {
        insert(&mut headers, MESSAGE_ID, id)?;
    }
    if reply_in_header && let Some(reply_to) = &message.reply_to {
        insert(&mut headers, REPLY_TO, reply_to.as_str())?;
    }
    Ok(headers)
}

fn insert(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), BusError> {
    let parsed_name: HeaderName = name.parse().map_err(|_| {
        BusError::Unavailable(format!(
            "the header name {name:?} cannot be sent over NATS (printable ASCII without `:` only)"
        ))
    })?;
    let parsed_value: HeaderValue = value.parse().map_err(|_| {
        BusError::Unavailable(format!(
            "the value of header {name:?} cannot be sent over NATS (it contains a line break)"
        ))
    })?;
    headers.insert(parsed_name, parsed_value);
    Ok(())
}

/// The size NATS counts against `max_payload`: the payload plus the encoded headers
/// (`NATS/1.0\r\n`, a `name: value\r\n` line per value, a closing `\r\n`).
pub(super) fn wire_size(headers: &HeaderMap, payload_len: usize) -> usize {
    if headers.is_empty() {
        return payload_len;
    }
    let lines: usize = headers
        .iter()
        .map(|(name, values)| {
            let name: &str = name.as_ref();
            values
                .iter()
                .map(|value| name.len() + 2 + value.as_str().len() + 2)
                .sum::<usize>()
        })
        .sum();
    "NATS/1.0\r\n".len() + lines + 2 + payload_len
}

/// A message received from NATS, as the port sees it. `reply` is the NATS reply subject,
/// used when the message did not come through the stream.
pub(super) fn from_nats(
    subject: &str,
    reply: Option<&str>,
    headers: Option<&HeaderMap>,
    payload: Bytes,
) -> Result<Message, BusError> {
    let subject = Subject::new(subject)?;
    let mut id = None;
    let mut reply_to = reply.map(Subject::new).transpose()?;
    let mut own = BTreeMap::new();
    for (name, values) in headers.into_iter().flat_map(HeaderMap::iter) {
        let name: &str = name.as_ref();
        let Some(value) = values.last().map(|value| value.as_str().to_owned()) else {
            continue;
        };
        if name.eq_ignore_ascii_case(MESSAGE_ID) {
            id = Some(value);
        } else if name.eq_ignore_ascii_case(REPLY_TO) {
            reply_to = Some(Subject::new(value)?);
        } else if !starts_with_ignore_case(name, SERVER_PREFIX) {
            own.insert(name.to_owned(), value);
        }
    }
    Ok(Message {
        subject,
        id,
        reply_to,
        headers: own,
        payload,
    })
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn message() -> Message {
        Message::new(Subject::new("claims.submit.acme").unwrap(), "claim")
            .with_id("acme-1")
            .with_header("Content-Type", "application/json")
            .with_reply_to(Subject::new("_INBOX.abc").unwrap())
    }

    #[test]
    fn a_message_survives_the_stream_with_its_id_headers_and_reply() {
        let sent = message();
        let mut headers = to_headers(&sent, true).unwrap();
        // What the server adds when it stores and delivers.
        headers.insert("Nats-Stream", "CLAIMS");
        headers.insert("Nats-Sequence", "7");
        let back = from_nats(
            "claims.submit.acme",
            Some("_INBOX.ack"),
            Some(&headers),
            sent.payload.clone(),
        )
        .unwrap();
        assert_eq!(back, sent);
    }

    #[test]
    fn a_plain_message_keeps_its_nats_reply() {
        let sent = message();
        let headers = to_headers(&sent, false).unwrap();
        assert!(headers.get(REPLY_TO).is_none());
        let back = from_nats(
            "claims.submit.acme",
            Some("_INBOX.abc"),
            Some(&headers),
            sent.payload.clone(),
        )
        .unwrap();
        assert_eq!(back, sent);
    }

    #[test]
    fn headers_nats_cannot_carry_are_refused_not_panicked_on() {
        let bad_name = message().with_header("Content Type", "x");
        assert!(matches!(
            to_headers(&bad_name, true),
            Err(BusError::Unavailable(_))
        ));
        let bad_value = message().with_header("X-Note", "two\r\nlines");
        assert!(matches!(
            to_headers(&bad_value, true),
            Err(BusError::Unavailable(_))
        ));
    }

    #[test]
    fn the_wire_size_counts_headers() {
        let headers = to_headers(&message(), false).unwrap();
        let lines = "Content-Type: application/json\r\n".len() + "Nats-Msg-Id: acme-1\r\n".len();
        assert_eq!(wire_size(&headers, 5), "NATS/1.0\r\n".len() + lines + 2 + 5);
        assert_eq!(wire_size(&HeaderMap::new(), 5), 5);
    }
}
