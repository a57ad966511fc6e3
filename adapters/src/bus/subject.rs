//! Subjects and subject patterns, with the rules NATS applies, so that every subject the
//! engine accepts on the in-process bus is also valid on NATS.
//!
//! A subject is a dot-separated list of tokens, such as `claims.submit.acme`. A pattern
//! may use `*` for exactly one token and `>` (last only) for one or more remaining tokens:
//! `claims.submit.*` matches every insurer's submissions, `events.>` every stored event.

use super::BusError;
use std::fmt;
use std::str::FromStr;

/// The longest subject or pattern accepted, in bytes.
pub const MAX_SUBJECT_LEN: usize = 256;

/// Matches exactly one token in a [`SubjectPattern`].
const ONE_TOKEN: &str = "*";
/// Matches one or more remaining tokens in a [`SubjectPattern`]; only as the last token.
const REST: &str = ">";

/// A concrete subject that a message is published to, such as `claims.submit.acme`.
///
/// Non-empty, at most [`MAX_SUBJECT_LEN`] bytes, made of non-empty dot-separated tokens
/// without whitespace or wildcards.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subject(String);

impl Subject {
    /// Validates a subject.
    pub fn new(text: impl Into<String>) -> Result<Self, BusError> {
        let text = text.into();
        if let Err(reason) = check(&text, false) {
            return Err(BusError::InvalidSubject {
                subject: text,
                reason,
            });
        }
        Ok(Self(text))
    }

    /// The subject as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `index`th token (0-based), such as the insurer in `claims.submit.<insurer>`.
    pub fn token(&self, index: usize) -> Option<&str> {
        self.tokens().nth(index)
    }

    /// The tokens, in order.
    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Subject {
    type Err = BusError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(text)
    }
}

impl AsRef<str> for Subject {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A pattern of subjects that a work queue captures or a subscription listens to, such as
/// `claims.submit.*` or `events.>`.
///
/// The rules of [`Subject`], except that a token may be `*` (exactly one token) and the
/// last token may be `>` (one or more tokens). A wildcard is always a whole token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectPattern(String);

impl SubjectPattern {
    /// Validates a pattern.
    pub fn new(text: impl Into<String>) -> Result<Self, BusError> {
        let text = text.into();
        if let Err(reason) = check(&text, true) {
            return Err(BusError::InvalidSubject {
                subject: text,
                reason,
            });
        }
        Ok(Self(text))
    }

    /// The pattern as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `subject` is one of the subjects this pattern names.
    pub fn matches(&self, subject: &Subject) -> bool {
        let mut subject_tokens = subject.tokens();
        for pattern_token in self.0.split('.') {
            if pattern_token == REST {
                return subject_tokens.next().is_some();
            }
            match subject_tokens.next() {
                Some(token) if pattern_token == ONE_TOKEN || pattern_token == token => {}
                _ => return false,
            }
        }
        subject_tokens.next().is_none()
    }

    /// True when every subject `inner` names is one this pattern names too.
    pub fn covers(&self, inner: &SubjectPattern) -> bool {
        let mut outer_tokens = self.0.split('.');
        let mut inner_tokens = inner.0.split('.');
        loop {
            match (outer_tokens.next(), inner_tokens.next()) {
                (None, None) => return true,
                (Some(REST), Some(_)) => return true,
                (Some(ONE_TOKEN), Some(token)) if token != REST => {}
                (Some(outer), Some(inner)) if outer == inner && outer != ONE_TOKEN => {}
                _ => return false,
            }
        }
    }

    /// The pattern naming exactly the subjects both patterns name, if they share any:
    /// `claims.submit.acme` for `claims.*.acme` and `claims.submit.>`.
    pub fn overlap(&self, other: &SubjectPattern) -> Option<SubjectPattern> {
        let mut mine = self.0.split('.');
        let mut theirs = other.0.split('.');
        let mut tokens = Vec::new();
        loop {
            match (mine.next(), theirs.next()) {
                (None, None) => break,
                // `>` takes one or more tokens: whatever the other pattern has left.
                (Some(REST), Some(token)) => {
                    tokens.push(token);
                    tokens.extend(theirs);
                    break;
                }
                (Some(token), Some(REST)) => {
                    tokens.push(token);
                    tokens.extend(mine);
                    break;
                }
                (Some(ONE_TOKEN), Some(token)) | (Some(token), Some(ONE_TOKEN)) => {
                    tokens.push(token);
                }
                (Some(a), Some(b)) if a == b => tokens.push(a),
                _ => return None,
            }
        }
        Some(Self(tokens.join(".")))
    }
}

impl From<Subject> for SubjectPattern {
    /// The pattern that matches exactly this subject (a concrete subject is a valid pattern).
    fn from(subject: Subject) -> Self {
        Self(subject.0)
    }
}

impl fmt::Display for SubjectPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SubjectPattern {
    type Err = BusError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(text)
    }
}

impl AsRef<str> for SubjectPattern {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Why `text` is not a subject (or, with `wildcards`, not a pattern).
fn check(text: &str, wildcards: bool) -> Result<(), &'static str> {
    if text.is_empty() {
        return Err("it is empty");
    }
    if text.len() > MAX_SUBJECT_LEN {
        return Err("it is longer than 256 bytes");
    }
    let mut tokens = text.split('.').peekable();
    while let Some(token) = tokens.next() {
        if token.is_empty() {
            return Err("it has an empty token (a leading, trailing or doubled dot)");
        }
        if token.chars().any(char::is_whitespace) {
            return Err("it contains whitespace");
        }
        let is_last = tokens.peek().is_none();
        match (token, wildcards) {
            (ONE_TOKEN, true) => {}
            (REST, true) if is_last => {}
            (REST, true) => return Err("`>` may only be the last token"),
            (_, false) if token.contains(['*', '>']) => {
                return Err("a subject cannot contain the wildcards `*` or `>`");
            }
            (_, true) if token.contains(['*', '>']) => {
                return Err("a wildcard must be a whole token");
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(text: &str) -> Subject {
        Subject::new(text).unwrap()
    }

    fn pattern(text: &str) -> SubjectPattern {
        SubjectPattern::new(text).unwrap()
    }

    #[test]
    fn a_pattern_covers_the_subjects_it_matches_and_no_more() {
        let covers = |outer: &str, inner: &str| pattern(outer).covers(&pattern(inner));
        assert!(covers("claims.>", "claims.submit.*"));
        assert!(covers("claims.>", "claims.>"));
        assert!(covers("claims.>", "claims.a.>"));
        assert!(covers("events.*.x", "events.claim.x"));
        assert!(covers("events.*.x", "events.*.x"));
        assert!(!covers("events.*", "events.>"));
        assert!(!covers("claims.>", "claims"));
        assert!(!covers("claims.submit.acme", "claims.submit.*"));
        assert!(!covers("claims.>", "events.>"));
        assert!(!covers("a.b", "a.b.c"));
    }

    #[test]
    fn two_patterns_overlap_in_the_subjects_both_name() {
        let overlap = |a: &str, b: &str| {
            let one = pattern(a).overlap(&pattern(b)).map(|p| p.0);
            let other = pattern(b).overlap(&pattern(a)).map(|p| p.0);
            assert_eq!(one, other, "{a} and {b}");
            one
        };
        let named = |text: &str| Some(text.to_owned());
        assert_eq!(
            overlap("claims.*.acme", "claims.submit.>"),
            named("claims.submit.acme")
        );
        assert_eq!(overlap(">", "events.claim.*"), named("events.claim.*"));
        assert_eq!(
            overlap("claims.>", "claims.submit.*"),
            named("claims.submit.*")
        );
        assert_eq!(overlap("a.>", "a.*.>"), named("a.*.>"));
        assert_eq!(overlap("*.b", "a.*"), named("a.b"));
        assert_eq!(overlap("a.b", "a.b"), named("a.b"));
        assert_eq!(overlap("a.>", "a"), None);
        assert_eq!(overlap("claims.>", "events.>"), None);
        assert_eq!(overlap("a.*", "a.b.c"), None);
        assert_eq!(overlap("a.b", "a.c"), None);
        // What an overlap names, both name.
        for (a, b, inside) in [
            ("claims.*.acme", "claims.submit.>", "claims.submit.acme"),
            (">", "x.*", "x.y"),
        ] {
            let both = pattern(a).overlap(&pattern(b)).unwrap();
            assert!(both.matches(&subject(inside)));
            assert!(pattern(a).covers(&both) && pattern(b).covers(&both));
        }
    }

    fn reason_subject(text: &str) -> &'static str {
        match Subject::new(text) {
            Err(BusError::InvalidSubject { subject, reason }) => {
                assert_eq!(subject, text);
                reason
            }
            other => panic!("{text:?} should be refused as a subject, got {other:?}"),
        }
    }

    fn reason_pattern(text: &str) -> &'static str {
        match SubjectPattern::new(text) {
            Err(BusError::InvalidSubject { subject, reason }) => {
                assert_eq!(subject, text);
                reason
            }
            other => panic!("{text:?} should be refused as a pattern, got {other:?}"),
        }
    }

    #[test]
    fn well_formed_subjects_are_accepted_as_written() {
        for text in [
            "claims",
            "claims.submit.acme",
            "_INBOX.abc123",
            "events.claim.X.claim-1",
        ] {
            assert_eq!(subject(text).as_str(), text);
            assert_eq!(subject(text).to_string(), text);
            assert_eq!(text.parse::<Subject>().unwrap(), subject(text));
        }
    }

    #[test]
    fn malformed_subjects_are_refused_with_the_reason() {
        assert_eq!(reason_subject(""), "it is empty");
        assert!(reason_subject("claims..acme").contains("empty token"));
        assert!(reason_subject(".claims").contains("empty token"));
        assert!(reason_subject("claims.").contains("empty token"));
        assert!(reason_subject("claims.sub mit").contains("whitespace"));
        assert!(reason_subject("claims.\tsubmit").contains("whitespace"));
        assert!(reason_subject("claims.*").contains("wildcards"));
        assert!(reason_subject("claims.>").contains("wildcards"));
        assert!(reason_subject("claims.a*b").contains("wildcards"));
        assert!(reason_subject(&"a".repeat(257)).contains("256"));
        assert!("claims.*".parse::<Subject>().is_err());
    }

    #[test]
    fn a_subject_of_exactly_256_bytes_is_accepted() {
        let text = format!("{}.{}", "a".repeat(127), "b".repeat(128));
        assert_eq!(text.len(), 256);
        assert_eq!(subject(&text).as_str(), text);
    }

    #[test]
    fn tokens_are_numbered_from_zero() {
        let submit = subject("claims.submit.acme");
        assert_eq!(submit.token(0), Some("claims"));
        assert_eq!(submit.token(2), Some("acme"));
        assert_eq!(submit.token(3), None);
        assert_eq!(submit.tokens().count(), 3);
    }

    #[test]
    fn malformed_patterns_are_refused_with_the_reason() {
        assert_eq!(reason_pattern(""), "it is empty");
        assert!(reason_pattern("events.>.claim").contains("last token"));
        assert!(reason_pattern(">.>").contains("last token"));
        assert!(reason_pattern("claims.sub*").contains("whole token"));
        assert!(reason_pattern("claims.>>").contains("whole token"));
        assert!(reason_pattern("claims..*").contains("empty token"));
        assert!(reason_pattern("claims.* ").contains("whitespace"));
    }

    #[test]
    fn a_star_matches_exactly_one_token() {
        let submissions = pattern("claims.submit.*");
        assert!(submissions.matches(&subject("claims.submit.acme")));
        assert!(!submissions.matches(&subject("claims.submit")));
        assert!(!submissions.matches(&subject("claims.submit.acme.extra")));
        assert!(!submissions.matches(&subject("claims.ack.acme")));
        assert!(pattern("*.submit.*").matches(&subject("claims.submit.acme")));
        assert!(pattern("*").matches(&subject("claims")));
        assert!(!pattern("*").matches(&subject("claims.submit")));
    }

    #[test]
    fn a_greater_than_matches_one_or_more_remaining_tokens() {
        let events = pattern("events.>");
        assert!(events.matches(&subject("events.claim")));
        assert!(events.matches(&subject("events.claim.ClaimSubmitted.claim-1")));
        assert!(!events.matches(&subject("events")));
        assert!(!events.matches(&subject("outcomes.claim")));
        assert!(pattern(">").matches(&subject("anything.at.all")));
        assert!(
            pattern("events.*.ClaimSubmitted.>").matches(&subject("events.claim.ClaimSubmitted.x"))
        );
    }

    #[test]
    fn a_literal_pattern_matches_only_its_subject() {
        let exact = SubjectPattern::from(subject("claims.ack.acme"));
        assert_eq!(exact.as_str(), "claims.ack.acme");
        assert!(exact.matches(&subject("claims.ack.acme")));
        assert!(!exact.matches(&subject("claims.ack.acme.more")));
        assert!(!exact.matches(&subject("claims.ack")));
        assert!(!exact.matches(&subject("claims.ack.other")));
    }
}
