//! A FHIR R4 `Claim` becomes a native [`ClaimSubmission`], or every reason it cannot.
//!
//! | FHIR element | native submission |
//! |---|---|
//! | `identifier[0].value` (the first with a value) | `claim_ref` |
//! | `patient` (`Patient/<id>` or `identifier.value`) | `member` |
//! | `provider` (`Organization/<id>`, `Practitioner/<id>`, `PractitionerRole/<id>` or `identifier.value`) | `provider` |
//! | `insurer` (`Organization/<id>` or `identifier.value`) | `insurer` (must be the subject's) |
//! | `created` (its date) | `received_on` |
//! | `item[n].sequence` | `lines[n].number` |
//! | `item[n].productOrService` (CPT or HCPCS coding) | `lines[n].procedure` |
//! | `item[n].modifier[m]` (first coding's code) | `lines[n].modifiers[m]` |
//! | `item[n].diagnosisSequence` → `diagnosis[k].diagnosisCodeableConcept` (ICD-10) | `lines[n].diagnoses` |
//! | `item[n].servicedDate` | `lines[n].date_of_service` |
//! | `item[n].quantity.value` (a whole number; 1 if absent) | `lines[n].units` |
//! | `item[n].net`, else `unitPrice × quantity × factor` | `lines[n].billed` |
//! | `insurance[f].preAuthRef[0]` (this payer's, focal, entry; at most one) | `lines[n].authorization`, every line |
//! | `contained[k]` (`ClaimResponse`, named by the primary payer's `insurance[p].claimResponse` as `#<id>`): `item[i].adjudication` of category `benefit` for `itemSequence` n | `lines[n].primary_paid` ([`coordination`]) |
//! | `related[0].claim` (`Claim/<ref>` or `identifier.value`) with `relationship` `prior` | `corrects.claim_ref` |
//! | `status`: `active` with `related` / `cancelled` | `corrects.kind`: `replacement` / `void` |
//!
//! A prior authorisation number is claim-level in FHIR R4 (`insurance.preAuthRef`), as
//! X12 837's claim-level REF*G1 is: it applies to every line, and the prior-authorisation
//! rule reads it only on lines whose procedure needs one. Several numbers on one claim
//! cannot be told apart by line, so they are refused (the native format quotes one per
//! line).
//!
//! A correction is the X12 frequency code said the FHIR way: a claim that replaces an
//! earlier one is `active` and names it in `related` with the relationship `prior`; a
//! claim that voids one is `cancelled` and names it the same way (as Da Vinci's cancel of
//! a submitted request is).
//!
//! Checked and not carried: `resourceType` (`Claim`), `status` (`active` or `cancelled`), `use`
//! (`claim`), `type` (`professional`), `priority` (present), `insurance` (one focal entry,
//! this payer's, and at most one other, ordered by `sequence`), `total` (equals the items' sum), `net` (equals `unitPrice × quantity × factor`
//! when both are sent), `careTeam` (each entry a sequence and a practitioner reference)
//! and `item[n].careTeamSequence` (each names an entry). The care team is who rendered or
//! supervised the care; the engine prices, checks the network of and pays the billing
//! `provider`, so the team changes nothing it decides and is not carried. Metadata and narrative (`id`, `meta`, `text`, `extension`,
//! `language`, `implicitRules`, `enterer`, `billablePeriod`) are accepted and not read.
//! Every other element FHIR defines on `Claim` and its items changes what a claim means
//! and is refused by name, so nothing an insurer sends is silently dropped.

mod coordination;

use super::model::{
    CareTeamIn, ClaimIn, CodeableConcept, DiagnosisIn, ItemIn, MoneyIn, QuantityIn, Reference,
};
use crate::submission::{ClaimSubmission, SubmittedCorrection, SubmittedLine};
use chrono::NaiveDate;
use claims_domain::claim::CorrectionKind;
use claims_domain::coding::Modifier;
use claims_domain::{
    Currency, DiagnosisCode, InsurerClaimRef, InsurerId, MemberId, Money, ProcedureCode, ProviderId,
};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// Code systems the engine reads procedures from: CPT and HCPCS.
pub const PROCEDURE_SYSTEMS: [&str; 3] = [
    "http://www.ama-assn.org/go/cpt",
    "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
];

/// Code systems the engine reads diagnoses from: ICD-10 and ICD-10-CM.
pub const DIAGNOSIS_SYSTEMS: [&str; 2] = [
    "http://hl7.org/fhir/sid/icd-10-cm",
    "http://hl7.org/fhir/sid/icd-10",
];

/// The FHIR claim-type code system.
pub const CLAIM_TYPE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/claim-type";

/// The FHIR code system of how two claims are related (`prior`, `associated`).
pub const RELATED_CLAIM_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship";

/// What is wrong with one element of a FHIR claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// Not JSON, not a JSON object of FHIR's shape, or an element FHIR does not define.
    Malformed,
    /// An element the engine needs is absent.
    Missing,
    /// An element is present with a value the engine cannot accept.
    Invalid,
    /// An element the engine does not map: accepting it would silently drop what it says.
    Unsupported,
}

impl ProblemKind {
    /// The reason code in the intake's reply.
    pub fn code(self) -> &'static str {
        match self {
            ProblemKind::Malformed => "fhir-malformed",
            ProblemKind::Missing => "fhir-missing",
            ProblemKind::Invalid => "fhir-invalid",
            ProblemKind::Unsupported => "fhir-unsupported",
        }
    }
}

/// One reason a FHIR claim cannot become a submission: the element (a FHIRPath-like
/// path from the `Claim`, such as `item[1].unitPrice.value`) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FhirProblem {
    /// What kind of problem.
    pub kind: ProblemKind,
    /// Where (empty for the message as a whole).
    pub path: String,
    /// Why, in words.
    pub why: String,
}

impl fmt::Display for FhirProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.why)
        } else {
            write!(f, "{}: {}", self.path, self.why)
        }
    }
}

/// Reads a FHIR R4 `Claim` message body into a native submission.
pub fn to_submission(payload: &[u8]) -> Result<ClaimSubmission, Vec<FhirProblem>> {
    let claim = parse(payload).map_err(|problem| vec![problem])?;
    Mapping::default().claim(&claim)
}

fn parse(payload: &[u8]) -> Result<ClaimIn, FhirProblem> {
    let mut reader = serde_json::Deserializer::from_slice(payload);
    let claim: ClaimIn = serde_path_to_error::deserialize(&mut reader).map_err(|error| {
        let path = error.path().to_string();
        FhirProblem {
            kind: ProblemKind::Malformed,
            path: if path == "." { String::new() } else { path },
            why: trim_expected(&error.into_inner().to_string()),
        }
    })?;
    reader.end().map_err(|error| FhirProblem {
        kind: ProblemKind::Malformed,
        path: String::new(),
        why: error.to_string(),
    })?;
    Ok(claim)
}

/// Serde lists every field a struct expects after an unknown one; the list is long and
/// the FHIR specification says it better.
fn trim_expected(message: &str) -> String {
    match message.split_once(", expected one of") {
        Some((head, _)) => format!("{head}, which is not an element of a FHIR R4 Claim"),
        None => message.to_owned(),
    }
}

/// Collects every problem while mapping, so the insurer hears all of them at once.
#[derive(Default)]
struct Mapping {
    problems: Vec<FhirProblem>,
}

impl Mapping {
    fn report(&mut self, kind: ProblemKind, path: impl Into<String>, why: impl Into<String>) {
        self.problems.push(FhirProblem {
            kind,
            path: path.into(),
            why: why.into(),
        });
    }

    fn missing(&mut self, path: impl Into<String>, why: impl Into<String>) {
        self.report(ProblemKind::Missing, path, why);
    }

    fn invalid(&mut self, path: impl Into<String>, why: impl Into<String>) {
        self.report(ProblemKind::Invalid, path, why);
    }

    fn unsupported(&mut self, path: impl Into<String>, why: impl Into<String>) {
        self.report(ProblemKind::Unsupported, path, why);
    }

    /// Refuses each element that is present, with why.
    fn refuse_present(&mut self, base: &str, present: &[(bool, &str, &str)]) {
        for (is_present, element, why) in present {
            if *is_present {
                self.unsupported(join(base, element), *why);
            }
        }
    }

    fn claim(mut self, claim: &ClaimIn) -> Result<ClaimSubmission, Vec<FhirProblem>> {
        match claim.resource_type.as_deref() {
            Some("Claim") => {}
            Some(other) => self.invalid(
                "resourceType",
                format!("{other:?} was sent; only a Claim is accepted on claims.submit"),
            ),
            None => self.missing("resourceType", "a FHIR resource must say its type (Claim)"),
        }
        self.refuse_claim_elements(claim);
        self.check_codes(claim);
        let claim_ref = self.claim_ref(claim);
        let member = self.reference::<MemberId>("patient", claim.patient.as_ref(), &["Patient"]);
        let provider = self.reference::<ProviderId>(
            "provider",
            claim.provider.as_ref(),
            &["Organization", "Practitioner", "PractitionerRole"],
        );
        let insurer = claim.insurer.as_ref().and_then(|insurer| {
            self.reference::<InsurerId>("insurer", Some(insurer), &["Organization"])
        });
        let received_on = self.created(claim.created.as_deref());
        let corrects = self.correction(claim);
        let insurance = self.insurance(claim);
        let contained = self.contained(&claim.contained);
        let care_team = self.care_team(&claim.care_team);
        let diagnoses = self.diagnoses(&claim.diagnosis);
        let lines = self.items(&claim.item, &diagnoses, &care_team);
        let primary_paid = self.primary_payments(&insurance, contained, &lines);
        self.total(claim.total.as_ref(), &lines);
        match (claim_ref, member, provider, received_on) {
            (Some(claim_ref), Some(member), Some(provider), Some(received_on))
                if self.problems.is_empty() =>
            {
                Ok(ClaimSubmission {
                    claim_ref,
                    insurer,
                    member,
                    provider,
                    received_on,
                    lines: lines
                        .into_iter()
                        .map(|(_, line)| SubmittedLine {
                            authorization: insurance.authorization.clone(),
                            primary_paid: line
                                .number
                                .and_then(|number| primary_paid.get(&number).copied()),
                            ..line
                        })
                        .collect(),
                    corrects,
                })
            }
            _ => Err(self.problems),
        }
    }

    fn refuse_claim_elements(&mut self, claim: &ClaimIn) {
        self.refuse_present(
            "",
            &[
                (
                    claim.modifier_extension.is_some(),
                    "modifierExtension",
                    "modifier extensions change the claim's meaning and none is understood",
                ),
                (
                    claim.sub_type.is_some(),
                    "subType",
                    "claim subtypes are not adjudicated differently and would be dropped",
                ),
                (
                    claim.funds_reserve.is_some(),
                    "fundsReserve",
                    "the engine does not reserve funds",
                ),
                (
                    claim.prescription.is_some(),
                    "prescription",
                    "pharmacy and vision claims are not adjudicated",
                ),
                (
                    claim.original_prescription.is_some(),
                    "originalPrescription",
                    "pharmacy and vision claims are not adjudicated",
                ),
                (
                    claim.payee.is_some(),
                    "payee",
                    "the engine pays the billing provider only",
                ),
                (
                    claim.referral.is_some(),
                    "referral",
                    "referrals are not recorded and would be dropped",
                ),
                (
                    claim.facility.is_some(),
                    "facility",
                    "facility (institutional) claims are not adjudicated",
                ),
                (
                    claim.supporting_info.is_some(),
                    "supportingInfo",
                    "supporting information is not recorded and would be dropped",
                ),
                (
                    claim.procedure.is_some(),
                    "procedure",
                    "ICD-10-PCS procedures are institutional; send CPT/HCPCS items",
                ),
                (
                    claim.accident.is_some(),
                    "accident",
                    "accident claims are paid first by liability or auto insurance, which the engine does not coordinate with",
                ),
            ],
        );
    }

    fn check_codes(&mut self, claim: &ClaimIn) {
        match claim.status.as_deref() {
            Some("active" | "cancelled") => {}
            Some(other) => self.invalid(
                "status",
                format!(
                    "{other:?}: a claim is active (adjudicated), or cancelled (it voids the claim in related)"
                ),
            ),
            None => self.missing("status", "a claim's status is required (active)"),
        }
        match claim.claim_use.as_deref() {
            Some("claim") => {}
            Some(other) => self.invalid(
                "use",
                format!("{other:?}: only a claim for payment is accepted (use = claim)"),
            ),
            None => self.missing("use", "a claim's use is required (claim)"),
        }
        match &claim.claim_type {
            None => self.missing("type", "a claim's type is required (professional)"),
            Some(concept) => match concept.code_in(&[CLAIM_TYPE_SYSTEM]) {
                Some("professional") => {}
                Some(other) => self.invalid(
                    "type",
                    format!(
                        "{other:?}: only professional claims are adjudicated (fee schedules by CPT/HCPCS code)"
                    ),
                ),
                None => self.invalid(
                    "type",
                    format!("no coding in {CLAIM_TYPE_SYSTEM}; send code professional"),
                ),
            },
        }
        if claim.priority.is_none() {
            self.missing("priority", "a claim's priority is required (normal)");
        }
    }

    fn claim_ref(&mut self, claim: &ClaimIn) -> Option<InsurerClaimRef> {
        let Some((index, value)) = claim
            .identifier
            .iter()
            .enumerate()
            .find_map(|(index, identifier)| Some((index, identifier.value.as_deref()?)))
        else {
            self.missing(
                "identifier",
                "the insurer's claim reference is required: an identifier with a value",
            );
            return None;
        };
        InsurerClaimRef::new(value)
            .map_err(|error| self.invalid(format!("identifier[{index}].value"), error.to_string()))
            .ok()
    }

    /// The earlier claim a replacement (`active`) or void (`cancelled`) names in `related`.
    fn correction(&mut self, claim: &ClaimIn) -> Option<SubmittedCorrection> {
        let kind = match claim.status.as_deref() {
            Some("cancelled") => CorrectionKind::Void,
            _ => CorrectionKind::Replacement,
        };
        let Some(related) = claim.related.first() else {
            if kind == CorrectionKind::Void {
                self.missing(
                    "related",
                    "a cancelled claim voids an earlier one: name it in related (relationship prior)",
                );
            }
            return None;
        };
        if claim.related.len() > 1 {
            self.invalid(
                "related[1]",
                "a claim corrects one earlier claim at most; send one related entry",
            );
        }
        self.refuse_present(
            "related[0]",
            &[(
                related.modifier_extension.is_some(),
                "modifierExtension",
                "modifier extensions change the claim's meaning and none is understood",
            )],
        );
        match related
            .relationship
            .as_ref()
            .map(|concept| concept.code_in(&[RELATED_CLAIM_SYSTEM]))
        {
            Some(Some("prior")) => {}
            Some(Some(other)) => self.invalid(
                "related[0].relationship",
                format!(
                    "{other:?}: only prior (the claim this one replaces or voids) is understood"
                ),
            ),
            Some(None) => self.invalid(
                "related[0].relationship",
                format!("no coding in {RELATED_CLAIM_SYSTEM}; send code prior"),
            ),
            None => self.missing(
                "related[0].relationship",
                "say how the claims are related (prior: this one replaces or voids it)",
            ),
        }
        let claim_ref = self.reference::<InsurerClaimRef>(
            "related[0].claim",
            related.claim.as_ref(),
            &["Claim"],
        )?;
        Some(SubmittedCorrection { claim_ref, kind })
    }

    /// The logical id of a reference: `Type/<id>` with one of `types`, or the
    /// identifier's value.
    fn reference<T>(
        &mut self,
        path: &str,
        reference: Option<&Reference>,
        types: &[&str],
    ) -> Option<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let Some(reference) = reference else {
            self.missing(path, format!("a reference to the {path} is required"));
            return None;
        };
        let (at, id) = match (&reference.reference, &reference.identifier) {
            (Some(literal), _) => {
                let at = format!("{path}.reference");
                match literal.split_once('/') {
                    Some((kind, id)) if types.contains(&kind) && !id.contains('/') => (at, id),
                    _ => {
                        self.invalid(
                            at,
                            format!(
                                "{literal:?} is not a reference of the form {}/<id>",
                                types.join("|")
                            ),
                        );
                        return None;
                    }
                }
            }
            (None, Some(identifier)) => match identifier.value.as_deref() {
                Some(value) => (format!("{path}.identifier.value"), value),
                None => {
                    self.missing(
                        format!("{path}.identifier.value"),
                        "the identifier has no value",
                    );
                    return None;
                }
            },
            (None, None) => {
                self.missing(
                    path,
                    format!(
                        "the {path} must be given by reference ({}/<id>) or identifier",
                        types[0]
                    ),
                );
                return None;
            }
        };
        T::from_str(id)
            .map_err(|error| self.invalid(at, error.to_string()))
            .ok()
    }

    fn created(&mut self, created: Option<&str>) -> Option<NaiveDate> {
        let Some(created) = created else {
            self.missing("created", "the claim's creation date is required");
            return None;
        };
        self.date("created", created)
    }

    /// A FHIR date or dateTime, by its date.
    fn date(&mut self, path: &str, text: &str) -> Option<NaiveDate> {
        text.get(..10)
            .filter(|_| text.len() == 10 || text.as_bytes().get(10) == Some(&b'T'))
            .and_then(|date| NaiveDate::parse_from_str(date, "%Y-%m-%d").ok())
            .or_else(|| {
                self.invalid(path, format!("{text:?} is not a date (YYYY-MM-DD)"));
                None
            })
    }

    /// The care team's sequence numbers, each entry checked for a practitioner reference.
    fn care_team(&mut self, care_team: &[CareTeamIn]) -> BTreeSet<u32> {
        let mut sequences = BTreeSet::new();
        for (index, member) in care_team.iter().enumerate() {
            let base = format!("careTeam[{index}]");
            self.refuse_present(
                &base,
                &[(
                    member.modifier_extension.is_some(),
                    "modifierExtension",
                    "modifier extensions change the claim's meaning and none is understood",
                )],
            );
            let sequence = self.sequence(
                &base,
                member.sequence,
                sequences.contains(&member.sequence.unwrap_or(0)),
            );
            sequences.extend(sequence);
            let _: Option<ProviderId> = self.reference(
                &join(&base, "provider"),
                member.provider.as_ref(),
                &["Practitioner", "PractitionerRole", "Organization"],
            );
        }
        sequences
    }

    /// The diagnoses by sequence.
    fn diagnoses(&mut self, diagnoses: &[DiagnosisIn]) -> BTreeMap<u32, DiagnosisCode> {
        let mut by_sequence = BTreeMap::new();
        for (index, diagnosis) in diagnoses.iter().enumerate() {
            let base = format!("diagnosis[{index}]");
            self.refuse_present(
                &base,
                &[
                    (
                        diagnosis.diagnosis_reference.is_some(),
                        "diagnosisReference",
                        "diagnoses are read as ICD-10 codes (diagnosisCodeableConcept)",
                    ),
                    (
                        diagnosis.package_code.is_some(),
                        "packageCode",
                        "diagnosis-related groups are institutional pricing",
                    ),
                ],
            );
            let sequence = self.sequence(
                &base,
                diagnosis.sequence,
                by_sequence.contains_key(&diagnosis.sequence.unwrap_or(0)),
            );
            let path = join(&base, "diagnosisCodeableConcept");
            let code = match &diagnosis.diagnosis_codeable_concept {
                None if diagnosis.diagnosis_reference.is_none() => {
                    self.missing(&path, "an ICD-10 code is required");
                    None
                }
                None => None,
                Some(concept) => self.code(&path, concept, &DIAGNOSIS_SYSTEMS, "ICD-10"),
            };
            if let (Some(sequence), Some(code)) = (sequence, code) {
                by_sequence.insert(sequence, code);
            }
        }
        by_sequence
    }

    fn sequence(&mut self, base: &str, sequence: Option<u32>, taken: bool) -> Option<u32> {
        let path = join(base, "sequence");
        match sequence {
            None => {
                self.missing(path, "a sequence number is required");
                None
            }
            Some(0) => {
                self.invalid(path, "a sequence number is a positive integer");
                None
            }
            Some(_) if taken => {
                self.invalid(path, "this sequence number is used twice");
                None
            }
            Some(sequence) => Some(sequence),
        }
    }

    /// The code of a concept in one of `systems`, checked by the domain type.
    fn code<T>(
        &mut self,
        path: &str,
        concept: &CodeableConcept,
        systems: &[&str],
        name: &str,
    ) -> Option<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let Some(code) = concept.code_in(systems) else {
            self.invalid(
                path,
                format!("no {name} coding (system {})", systems.join(" or ")),
            );
            return None;
        };
        T::from_str(code)
            .map_err(|error| self.invalid(join(path, "coding"), error.to_string()))
            .ok()
    }

    fn items(
        &mut self,
        items: &[ItemIn],
        diagnoses: &BTreeMap<u32, DiagnosisCode>,
        care_team: &BTreeSet<u32>,
    ) -> Vec<(String, SubmittedLine)> {
        if items.is_empty() {
            self.missing("item", "a claim must bill at least one item");
        }
        let mut numbers = BTreeSet::new();
        items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| {
                let base = format!("item[{index}]");
                let number = self.sequence(
                    &base,
                    item.sequence,
                    numbers.contains(&item.sequence.unwrap_or(0)),
                );
                numbers.extend(number);
                for (index, sequence) in item.care_team_sequence.iter().enumerate() {
                    if !care_team.contains(sequence) {
                        self.invalid(
                            format!("{base}.careTeamSequence[{index}]"),
                            format!("no care team member with sequence {sequence} on the claim"),
                        );
                    }
                }
                let line = self.item(&base, item, diagnoses);
                Some((base, SubmittedLine { number, ..line? }))
            })
            .collect()
    }

    fn item(
        &mut self,
        base: &str,
        item: &ItemIn,
        diagnoses: &BTreeMap<u32, DiagnosisCode>,
    ) -> Option<SubmittedLine> {
        self.refuse_item_elements(base, item);
        let procedure = match &item.product_or_service {
            None => {
                self.missing(
                    join(base, "productOrService"),
                    "a CPT or HCPCS code is required",
                );
                None
            }
            Some(concept) => self.code::<ProcedureCode>(
                &join(base, "productOrService"),
                concept,
                &PROCEDURE_SYSTEMS,
                "CPT or HCPCS",
            ),
        };
        let modifiers: BTreeSet<Modifier> = item
            .modifier
            .iter()
            .enumerate()
            .filter_map(|(index, concept)| {
                let path = format!("{base}.modifier[{index}]");
                match concept
                    .coding
                    .first()
                    .and_then(|coding| coding.code.as_deref())
                {
                    None => {
                        self.missing(path, "a modifier needs a coding with a code");
                        None
                    }
                    Some(code) => Modifier::new(code)
                        .map_err(|error| {
                            self.invalid(format!("{path}.coding[0].code"), error.to_string())
                        })
                        .ok(),
                }
            })
            .collect();
        let diagnoses: Vec<DiagnosisCode> = item
            .diagnosis_sequence
            .iter()
            .enumerate()
            .filter_map(|(index, sequence)| {
                let found = diagnoses.get(sequence).cloned();
                if found.is_none() {
                    self.invalid(
                        format!("{base}.diagnosisSequence[{index}]"),
                        format!("no diagnosis with sequence {sequence} on the claim"),
                    );
                }
                found
            })
            .collect();
        let date_of_service = match item.serviced_date.as_deref() {
            Some(date) => self.date(&join(base, "servicedDate"), date),
            None if item.serviced_period.is_some() => None,
            None => {
                self.missing(
                    join(base, "servicedDate"),
                    "the date of service is required",
                );
                None
            }
        };
        let units = self.units(base, item.quantity.as_ref());
        let billed = self.billed(base, item, units);
        Some(SubmittedLine {
            number: None,
            procedure: procedure?,
            modifiers,
            diagnoses,
            date_of_service: date_of_service?,
            units: units?,
            billed: billed?,
            authorization: None,
            primary_paid: None,
        })
    }

    fn refuse_item_elements(&mut self, base: &str, item: &ItemIn) {
        self.refuse_present(
            base,
            &[
                (
                    item.modifier_extension.is_some(),
                    "modifierExtension",
                    "modifier extensions change the item's meaning and none is understood",
                ),
                (
                    item.procedure_sequence.is_some(),
                    "procedureSequence",
                    "ICD-10-PCS procedures are institutional",
                ),
                (
                    item.information_sequence.is_some(),
                    "informationSequence",
                    "supporting information is not recorded and would be dropped",
                ),
                (
                    item.revenue.is_some(),
                    "revenue",
                    "revenue codes are institutional pricing",
                ),
                (
                    item.category.is_some(),
                    "category",
                    "benefit categories come from the plan's fee schedule, not the claim",
                ),
                (
                    item.program_code.is_some(),
                    "programCode",
                    "program codes are not recorded and would be dropped",
                ),
                (
                    item.serviced_period.is_some(),
                    "servicedPeriod",
                    "send one item per date of service (servicedDate)",
                ),
                (
                    item.location_codeable_concept.is_some(),
                    "locationCodeableConcept",
                    "the place of service is not recorded and would be dropped",
                ),
                (
                    item.location_address.is_some(),
                    "locationAddress",
                    "the place of service is not recorded and would be dropped",
                ),
                (
                    item.location_reference.is_some(),
                    "locationReference",
                    "the place of service is not recorded and would be dropped",
                ),
                (
                    item.udi.is_some(),
                    "udi",
                    "device identifiers are not recorded and would be dropped",
                ),
                (
                    item.body_site.is_some(),
                    "bodySite",
                    "body sites are not recorded; use modifiers (LT, RT…)",
                ),
                (
                    item.sub_site.is_some(),
                    "subSite",
                    "body sites are not recorded; use modifiers (LT, RT…)",
                ),
                (
                    item.encounter.is_some(),
                    "encounter",
                    "encounters are not recorded and would be dropped",
                ),
                (
                    item.detail.is_some(),
                    "detail",
                    "sub-lines are not supported; send each as its own item",
                ),
            ],
        );
    }

    fn units(&mut self, base: &str, quantity: Option<&QuantityIn>) -> Option<u32> {
        let Some(quantity) = quantity else {
            return Some(1);
        };
        let path = join(base, "quantity");
        if quantity.comparator.is_some() {
            self.unsupported(join(&path, "comparator"), "a bound is not a count of units");
        }
        let Some(value) = &quantity.value else {
            self.missing(join(&path, "value"), "a quantity needs a value");
            return None;
        };
        let value_path = join(&path, "value");
        let count = self.decimal(&value_path, value)?;
        match u32::try_from(count.normalize().mantissa()) {
            Ok(units) if count.fract().is_zero() && units > 0 => Some(units),
            _ => {
                self.invalid(
                    value_path,
                    format!("{count} is not a whole, positive number of units"),
                );
                None
            }
        }
    }

    /// The line's charge: `net`, or `unitPrice × quantity × factor`; both must agree when
    /// both are sent.
    fn billed(&mut self, base: &str, item: &ItemIn, units: Option<u32>) -> Option<Money> {
        let net = item
            .net
            .as_ref()
            .map(|net| self.money(&join(base, "net"), net));
        let unit_price = item
            .unit_price
            .as_ref()
            .map(|price| self.money(&join(base, "unitPrice"), price));
        let factor = match &item.factor {
            None => Some(Decimal::ONE),
            Some(raw) => self.decimal(&join(base, "factor"), raw),
        };
        let computed = match (unit_price, units, factor) {
            (Some(Some(price)), Some(units), Some(factor)) => {
                let amount = price
                    .amount()
                    .checked_mul(Decimal::from(units))
                    .and_then(|amount| amount.checked_mul(factor));
                match amount {
                    Some(amount) => Some(Some(Money::new(amount, price.currency()))),
                    None => {
                        self.invalid(
                            join(base, "unitPrice"),
                            "unitPrice × quantity × factor overflows",
                        );
                        Some(None)
                    }
                }
            }
            (None, _, _) => None,
            _ => Some(None),
        };
        match (net, computed) {
            (None, None) => {
                self.missing(
                    join(base, "net"),
                    "the item's charge is required (net or unitPrice)",
                );
                None
            }
            (Some(net), None) => net,
            (None, Some(computed)) => computed,
            (Some(net), Some(computed)) => {
                let (net, computed) = (net?, computed?);
                if net.currency() != computed.currency() || net.amount() != computed.amount() {
                    self.invalid(
                        join(base, "net"),
                        format!("{net} is not unitPrice × quantity × factor ({computed})"),
                    );
                    return None;
                }
                Some(net)
            }
        }
    }

    fn money(&mut self, path: &str, money: &MoneyIn) -> Option<Money> {
        let value = match &money.value {
            Some(value) => self.decimal(&join(path, "value"), value),
            None => {
                self.missing(join(path, "value"), "an amount needs a value");
                None
            }
        };
        let currency = match money.currency.as_deref() {
            Some(code) => Currency::from_str(code)
                .map_err(|error| self.invalid(join(path, "currency"), error.to_string()))
                .ok(),
            None => {
                self.missing(
                    join(path, "currency"),
                    "an amount needs its ISO 4217 currency",
                );
                None
            }
        };
        let value = value?;
        if value.is_sign_negative() {
            self.invalid(join(path, "value"), format!("{value} is negative"));
            return None;
        }
        Some(Money::new(value, currency?))
    }

    /// A JSON number read exactly from its text; exponents and strings are refused.
    fn decimal(&mut self, path: &str, raw: &RawValue) -> Option<Decimal> {
        let text = raw.get();
        Decimal::from_str_exact(text)
            .ok()
            .filter(|_| {
                text.bytes()
                    .all(|byte| byte.is_ascii_digit() || byte == b'.' || byte == b'-')
            })
            .or_else(|| {
                self.invalid(
                    path,
                    format!(
                        "{text} is not a decimal number (digits, an optional point, no exponent)"
                    ),
                );
                None
            })
    }

    fn total(&mut self, total: Option<&MoneyIn>, lines: &[(String, SubmittedLine)]) {
        let Some(total) = total else { return };
        let Some(total) = self.money("total", total) else {
            return;
        };
        if !self.problems.is_empty() {
            return;
        }
        match Money::sum(total.currency(), lines.iter().map(|(_, line)| &line.billed)) {
            Ok(sum) if sum == total => {}
            Ok(sum) => self.invalid(
                "total",
                format!("{total} is not the sum of the items ({sum})"),
            ),
            Err(error) => self.invalid(
                "total",
                format!(
                    "the items cannot be totalled in {}: {error}",
                    total.currency()
                ),
            ),
        }
    }
}

fn join(base: &str, element: &str) -> String {
    if base.is_empty() {
        element.to_owned()
    } else {
        format!("{base}.{element}")
    }
}
