//! HL7 FHIR R4 at the edge: the anti-corruption layer between insurers' FHIR messages and
//! the engine. Nothing outside this module sees a FHIR type.
//!
//! - [`claim`]: a FHIR R4 `Claim` (header `Content-Type: application/fhir+json` on
//!   `claims.submit.<insurer>`) becomes a native [`ClaimSubmission`](crate::submission::ClaimSubmission),
//!   or every reason it cannot, each naming the element at fault (`item[1].unitPrice.value`);
//! - [`claim_response`]: a decided claim becomes a FHIR R4 `ClaimResponse` for
//!   `claims.outcome.<insurer>`.
//!
//! The models in [`model`] are our own, and only cover the elements we map: the `fhir`
//! crate (the maintained R4 candidate) turns on `serde_json/arbitrary_precision` for the
//! whole build, which breaks the engine's internally tagged events, and its 200,000 lines
//! would double a build on our 2-core machines. `docs/fhir.md` gives the full reasoning.

pub mod claim;
pub mod claim_response;
pub mod model;

/// The content type of a FHIR JSON message.
pub const FHIR_CONTENT_TYPE: &str = "application/fhir+json";

/// True when a message's `Content-Type` says FHIR JSON (parameters such as
/// `; fhirVersion=4.0` are allowed).
pub fn is_fhir(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(FHIR_CONTENT_TYPE))
}
