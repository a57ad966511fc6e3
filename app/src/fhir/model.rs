//! The FHIR R4 (4.0.1) elements the engine reads and writes, and no more.
//!
//! Reading (`Claim`): every element is optional here, so that the mapping in
//! [`super::claim`] can report every missing element at once with its path, instead of
//! stopping at the first. Elements the engine cannot map are declared (as
//! [`IgnoredAny`]) so the mapping can refuse them by name; an element FHIR does not define
//! at all is refused by serde (`deny_unknown_fields`). Decimals are kept as their JSON
//! text ([`RawValue`]) so that `150.00` is read as exactly 150.00, never through a float.
//!
//! Writing (`ClaimResponse`): decimals are written from `rust_decimal` as their exact
//! text.

use rust_decimal::Decimal;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// A code in a code system.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Coding {
    /// The code system's URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Its human-readable meaning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Coding {
    /// A code in `system`.
    pub fn new(system: &str, code: impl ToString) -> Self {
        Self {
            system: Some(system.to_owned()),
            code: Some(code.to_string()),
            display: None,
        }
    }

    /// The same, with a display text.
    pub fn with_display(mut self, display: impl ToString) -> Self {
        self.display = Some(display.to_string());
        self
    }
}

/// A concept given by one or more codings and/or text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CodeableConcept {
    /// Codes for the concept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    /// Plain text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl CodeableConcept {
    /// A concept of one coding.
    pub fn of(coding: Coding) -> Self {
        Self {
            coding: vec![coding],
            text: None,
        }
    }

    /// The code of the first coding in one of `systems`.
    pub fn code_in(&self, systems: &[&str]) -> Option<&str> {
        self.coding
            .iter()
            .find(|coding| {
                coding
                    .system
                    .as_deref()
                    .is_some_and(|system| systems.contains(&system))
            })
            .and_then(|coding| coding.code.as_deref())
    }
}

/// A business identifier.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Identifier {
    /// The namespace of the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A reference to another resource: a literal `Type/id`, or a business identifier.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// `Patient/M-1001`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// An identifier of the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
    /// Text for the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// An amount of money as read: the value is kept as its JSON text.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneyIn {
    /// Element id (carries no meaning).
    pub id: Option<IgnoredAny>,
    /// Extensions (carry no meaning the engine uses).
    pub extension: Option<IgnoredAny>,
    /// The amount, as written.
    pub value: Option<Box<RawValue>>,
    /// ISO 4217 currency code.
    pub currency: Option<String>,
}

/// A quantity as read: the value is kept as its JSON text.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantityIn {
    /// Element id (carries no meaning).
    pub id: Option<IgnoredAny>,
    /// Extensions (carry no meaning the engine uses).
    pub extension: Option<IgnoredAny>,
    /// How many, as written.
    pub value: Option<Box<RawValue>>,
    /// `<`, `<=`, `>=`, `>`: a bound, not a count; refused.
    pub comparator: Option<IgnoredAny>,
    /// The unit, as text.
    pub unit: Option<IgnoredAny>,
    /// The unit's code system.
    pub system: Option<IgnoredAny>,
    /// The unit's code.
    pub code: Option<IgnoredAny>,
}

/// A FHIR R4 `Claim`, as far as the engine reads it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimIn {
    /// Must be `Claim`.
    pub resource_type: Option<String>,
    /// Resource metadata and narrative: carry nothing the engine adjudicates on.
    pub id: Option<IgnoredAny>,
    /// See `id`.
    pub meta: Option<IgnoredAny>,
    /// See `id`.
    pub implicit_rules: Option<IgnoredAny>,
    /// See `id`.
    pub language: Option<IgnoredAny>,
    /// See `id`.
    pub text: Option<IgnoredAny>,
    /// See `id`.
    pub extension: Option<IgnoredAny>,
    /// Who entered the claim: informational.
    pub enterer: Option<IgnoredAny>,
    /// The period the claim covers: informational, each item carries its own date.
    pub billable_period: Option<IgnoredAny>,
    /// The insurer's business identifiers; the first one with a value is its claim reference.
    #[serde(default)]
    pub identifier: Vec<Identifier>,
    /// `active` (others are refused).
    pub status: Option<String>,
    /// The claim type (`professional`).
    #[serde(rename = "type")]
    pub claim_type: Option<CodeableConcept>,
    /// `claim` (a preauthorization or predetermination is refused).
    #[serde(rename = "use")]
    pub claim_use: Option<String>,
    /// The member.
    pub patient: Option<Reference>,
    /// When the claim was created; the engine's received-on date.
    pub created: Option<String>,
    /// The insurer; must be the one the subject names.
    pub insurer: Option<Reference>,
    /// The billing provider, who is paid.
    pub provider: Option<Reference>,
    /// Required by FHIR; does not change adjudication.
    pub priority: Option<CodeableConcept>,
    /// The member's coverages; exactly one, focal.
    #[serde(default)]
    pub insurance: Vec<InsuranceIn>,
    /// Diagnoses, referred to by items.
    #[serde(default)]
    pub diagnosis: Vec<DiagnosisIn>,
    /// The service lines.
    #[serde(default)]
    pub item: Vec<ItemIn>,
    /// The claim total; must equal the sum of the items.
    pub total: Option<MoneyIn>,
    // Elements the engine cannot map: a message carrying one is refused by name, not
    // silently trimmed.
    /// Extensions that change the meaning of the claim.
    pub modifier_extension: Option<IgnoredAny>,
    /// Contained resources: only the primary payer's `ClaimResponse` that an
    /// `insurance[].claimResponse` names (`#id`) is read; each is parsed on its own so
    /// that a problem is reported with its path.
    #[serde(default)]
    pub contained: Vec<Box<RawValue>>,
    /// A finer claim type.
    pub sub_type: Option<IgnoredAny>,
    /// A request to reserve funds.
    pub funds_reserve: Option<IgnoredAny>,
    /// The earlier claim this one replaces or voids (at most one).
    #[serde(default)]
    pub related: Vec<RelatedIn>,
    /// A prescription.
    pub prescription: Option<IgnoredAny>,
    /// The original prescription.
    pub original_prescription: Option<IgnoredAny>,
    /// Someone other than the provider to pay.
    pub payee: Option<IgnoredAny>,
    /// A referral.
    pub referral: Option<IgnoredAny>,
    /// The facility.
    pub facility: Option<IgnoredAny>,
    /// The practitioners who gave the care, referred to by items; checked, not read.
    #[serde(default)]
    pub care_team: Vec<CareTeamIn>,
    /// Supporting information.
    pub supporting_info: Option<IgnoredAny>,
    /// Procedures (ICD-10-PCS).
    pub procedure: Option<IgnoredAny>,
    /// An accident.
    pub accident: Option<IgnoredAny>,
}

/// One `Claim.insurance` entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InsuranceIn {
    /// Element id.
    pub id: Option<IgnoredAny>,
    /// Extensions.
    pub extension: Option<IgnoredAny>,
    /// Its order.
    pub sequence: Option<u32>,
    /// True for the coverage to adjudicate against.
    pub focal: Option<bool>,
    /// The insurer's identifier of the coverage.
    pub identifier: Option<IgnoredAny>,
    /// The coverage; the engine adjudicates against the member's enrolment instead.
    pub coverage: Option<Reference>,
    /// A business agreement.
    pub business_arrangement: Option<IgnoredAny>,
    /// Prior authorisation numbers; one, quoted on every line.
    pub pre_auth_ref: Option<Vec<String>>,
    /// The adjudication of the payer of this coverage: on the entry before the focal one,
    /// the primary payer's `ClaimResponse`, contained in the claim (`#id`).
    pub claim_response: Option<Reference>,
}

/// Just enough of a contained resource to tell what it is.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainedIn {
    /// `ClaimResponse` is the only type read.
    pub resource_type: Option<String>,
}

/// The primary payer's FHIR R4 `ClaimResponse`, contained in a claim to this payer as the
/// secondary one: what it paid for each item is what coordination of benefits reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrimaryResponseIn {
    /// `ClaimResponse`.
    pub resource_type: Option<String>,
    /// What `insurance[].claimResponse` names, as `#id`.
    pub id: Option<String>,
    /// Metadata and narrative: carry nothing coordination reads.
    pub meta: Option<IgnoredAny>,
    /// See `meta`.
    pub implicit_rules: Option<IgnoredAny>,
    /// See `meta`.
    pub language: Option<IgnoredAny>,
    /// See `meta`.
    pub text: Option<IgnoredAny>,
    /// See `meta`.
    pub extension: Option<IgnoredAny>,
    /// The primary payer's identifiers of its decision: informational.
    pub identifier: Option<IgnoredAny>,
    /// `active` (a cancelled decision pays nothing to coordinate with).
    pub status: Option<String>,
    /// The claim type: informational (the claim's own is checked).
    #[serde(rename = "type")]
    pub response_type: Option<IgnoredAny>,
    /// See `type`.
    pub sub_type: Option<IgnoredAny>,
    /// `claim`: informational.
    #[serde(rename = "use")]
    pub response_use: Option<IgnoredAny>,
    /// The member: informational (the claim's own is read).
    pub patient: Option<IgnoredAny>,
    /// When the primary payer decided: informational.
    pub created: Option<IgnoredAny>,
    /// The primary payer: informational (the member's enrolment names it).
    pub insurer: Option<IgnoredAny>,
    /// The provider: informational.
    pub requestor: Option<IgnoredAny>,
    /// The primary payer's claim: informational.
    pub request: Option<IgnoredAny>,
    /// `complete` or `partial`: the primary payer has decided.
    pub outcome: Option<String>,
    /// The decision in words: informational.
    pub disposition: Option<IgnoredAny>,
    /// The primary payer's authorisation: informational.
    pub pre_auth_ref: Option<IgnoredAny>,
    /// See `preAuthRef`.
    pub pre_auth_period: Option<IgnoredAny>,
    /// Whom the primary payer paid: informational.
    pub payee_type: Option<IgnoredAny>,
    /// Each item's adjudication by the primary payer.
    #[serde(default)]
    pub item: Vec<PrimaryItemIn>,
    /// Totals: informational; the items' benefits are read.
    pub total: Option<IgnoredAny>,
    /// The primary payer's payment: informational; the items' benefits are read.
    pub payment: Option<IgnoredAny>,
    /// See `payment`.
    pub funds_reserve: Option<IgnoredAny>,
    /// Forms and notes: informational.
    pub form_code: Option<IgnoredAny>,
    /// See `formCode`.
    pub form: Option<IgnoredAny>,
    /// See `formCode`.
    pub process_note: Option<IgnoredAny>,
    /// See `formCode`.
    pub communication_request: Option<IgnoredAny>,
    /// The coverages the primary payer adjudicated against: informational.
    pub insurance: Option<IgnoredAny>,
    /// The primary payer's processing errors: informational; `outcome` says whether it
    /// decided.
    pub error: Option<IgnoredAny>,
    // Refused: they change what was paid in ways no line of this claim can carry.
    /// Extensions that change the meaning.
    pub modifier_extension: Option<IgnoredAny>,
    /// Resources inside the contained one.
    pub contained: Option<IgnoredAny>,
    /// Lines the primary payer added.
    pub add_item: Option<IgnoredAny>,
    /// Claim-level adjudication, which cannot be put on a line.
    pub adjudication: Option<IgnoredAny>,
}

/// One item of the primary payer's `ClaimResponse`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrimaryItemIn {
    /// Element id.
    pub id: Option<IgnoredAny>,
    /// Extensions.
    pub extension: Option<IgnoredAny>,
    /// Extensions that change the meaning: refused.
    pub modifier_extension: Option<IgnoredAny>,
    /// The claim item (`Claim.item.sequence`) it adjudicates.
    pub item_sequence: Option<u32>,
    /// Notes: informational.
    pub note_number: Option<IgnoredAny>,
    /// Amounts by category; `benefit` is what the primary payer paid.
    #[serde(default)]
    pub adjudication: Vec<PrimaryAdjudicationIn>,
    /// Sub-lines: refused, as on the claim.
    pub detail: Option<IgnoredAny>,
}

/// One amount of the primary payer's adjudication of an item.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrimaryAdjudicationIn {
    /// Element id.
    pub id: Option<IgnoredAny>,
    /// Extensions.
    pub extension: Option<IgnoredAny>,
    /// Extensions that change the meaning: refused.
    pub modifier_extension: Option<IgnoredAny>,
    /// What the amount is (`benefit`, `eligible`, `copay`…).
    pub category: Option<CodeableConcept>,
    /// Why (a CARC): informational.
    pub reason: Option<IgnoredAny>,
    /// How much.
    pub amount: Option<MoneyIn>,
    /// A number that is not money (a percentage): informational.
    pub value: Option<IgnoredAny>,
}

/// One `Claim.careTeam` entry: a practitioner who gave or supervised the care.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CareTeamIn {
    /// Element id.
    pub id: Option<IgnoredAny>,
    /// Extensions.
    pub extension: Option<IgnoredAny>,
    /// Extensions that change the meaning: refused.
    pub modifier_extension: Option<IgnoredAny>,
    /// The number items refer to.
    pub sequence: Option<u32>,
    /// The practitioner, role or organisation.
    pub provider: Option<Reference>,
    /// Whether this one is responsible for the claim: informational.
    pub responsible: Option<IgnoredAny>,
    /// Rendering, supervising, assisting…: informational.
    pub role: Option<IgnoredAny>,
    /// The practitioner's qualification or specialty: informational.
    pub qualification: Option<IgnoredAny>,
}

/// One `Claim.diagnosis` entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DiagnosisIn {
    /// Element id.
    pub id: Option<IgnoredAny>,
    /// Extensions.
    pub extension: Option<IgnoredAny>,
    /// The number items refer to.
    pub sequence: Option<u32>,
    /// The ICD-10 code.
    pub diagnosis_codeable_concept: Option<CodeableConcept>,
    /// A `Condition` resource: refused (only codes are read).
    pub diagnosis_reference: Option<IgnoredAny>,
    /// Principal, admitting…: informational.
    #[serde(rename = "type")]
    pub diagnosis_type: Option<IgnoredAny>,
    /// Present on admission: informational.
    pub on_admission: Option<IgnoredAny>,
    /// A DRG: refused (institutional pricing).
    pub package_code: Option<IgnoredAny>,
}

/// One `Claim.related` entry: an earlier claim this one corrects.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RelatedIn {
    /// Element id.
    pub id: Option<IgnoredAny>,
    /// Extensions.
    pub extension: Option<IgnoredAny>,
    /// Extensions that change the meaning: refused.
    pub modifier_extension: Option<IgnoredAny>,
    /// The earlier claim: `Claim/<claim reference>` or its identifier.
    pub claim: Option<Reference>,
    /// How they are related; `prior` is the only relationship read.
    pub relationship: Option<CodeableConcept>,
    /// A file or case number: informational.
    pub reference: Option<IgnoredAny>,
}

/// One `Claim.item`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ItemIn {
    /// Element id.
    pub id: Option<IgnoredAny>,
    /// Extensions.
    pub extension: Option<IgnoredAny>,
    /// The line number.
    pub sequence: Option<u32>,
    /// The diagnoses (by `Claim.diagnosis.sequence`).
    #[serde(default)]
    pub diagnosis_sequence: Vec<u32>,
    /// The procedure (CPT or HCPCS).
    pub product_or_service: Option<CodeableConcept>,
    /// The procedure's modifiers.
    #[serde(default)]
    pub modifier: Vec<CodeableConcept>,
    /// The date of service.
    pub serviced_date: Option<String>,
    /// How many units.
    pub quantity: Option<QuantityIn>,
    /// The charge per unit.
    pub unit_price: Option<MoneyIn>,
    /// A price factor.
    pub factor: Option<Box<RawValue>>,
    /// The line's charge (`quantity × unitPrice × factor`).
    pub net: Option<MoneyIn>,
    // Elements the engine cannot map: a message carrying one is refused by name, not
    // silently trimmed.
    /// Extensions that change the meaning of the item.
    pub modifier_extension: Option<IgnoredAny>,
    /// Care team members (by `Claim.careTeam.sequence`); checked, not read.
    #[serde(default)]
    pub care_team_sequence: Vec<u32>,
    /// Procedures (refused on the claim).
    pub procedure_sequence: Option<IgnoredAny>,
    /// Supporting information (refused on the claim).
    pub information_sequence: Option<IgnoredAny>,
    /// A revenue code (institutional pricing).
    pub revenue: Option<IgnoredAny>,
    /// The benefit category.
    pub category: Option<IgnoredAny>,
    /// Program codes.
    pub program_code: Option<IgnoredAny>,
    /// A period of service.
    pub serviced_period: Option<IgnoredAny>,
    /// The place of service.
    pub location_codeable_concept: Option<IgnoredAny>,
    /// The place of service.
    pub location_address: Option<IgnoredAny>,
    /// The place of service.
    pub location_reference: Option<IgnoredAny>,
    /// Device identifiers.
    pub udi: Option<IgnoredAny>,
    /// The body site.
    pub body_site: Option<IgnoredAny>,
    /// The body sub-sites.
    pub sub_site: Option<IgnoredAny>,
    /// The encounters.
    pub encounter: Option<IgnoredAny>,
    /// Sub-lines.
    pub detail: Option<IgnoredAny>,
}

/// An amount of money as written: the value's exact decimal text.
#[derive(Debug, Serialize)]
pub struct MoneyOut {
    /// The amount.
    pub value: Box<RawValue>,
    /// ISO 4217 currency code.
    pub currency: String,
}

impl MoneyOut {
    /// `amount` in `currency`, written exactly (`150.00` stays `150.00`).
    pub fn new(amount: Decimal, currency: &str) -> Self {
        let value = RawValue::from_string(amount.to_string())
            .unwrap_or_else(|error| unreachable!("a decimal is a JSON number: {error}"));
        Self {
            value,
            currency: currency.to_owned(),
        }
    }
}

/// A FHIR R4 `ClaimResponse`, as the engine writes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimResponseOut {
    /// `ClaimResponse`.
    pub resource_type: &'static str,
    /// The engine's claim id.
    pub id: String,
    /// The engine's claim id, as a business identifier.
    pub identifier: Vec<Identifier>,
    /// `active`, or `cancelled` for a claim a void or replacement cancelled.
    pub status: &'static str,
    /// `professional`.
    #[serde(rename = "type")]
    pub response_type: CodeableConcept,
    /// `claim`.
    #[serde(rename = "use")]
    pub response_use: &'static str,
    /// The member.
    pub patient: Reference,
    /// The day of the decision.
    pub created: String,
    /// The insurer.
    pub insurer: Reference,
    /// The billing provider.
    pub requestor: Reference,
    /// The claim answered: the insurer's claim reference.
    pub request: Reference,
    /// `complete` (decided) or `queued` (pended for review).
    pub outcome: &'static str,
    /// The decision, in words.
    pub disposition: String,
    /// Every line's adjudication.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub item: Vec<ResponseItemOut>,
    /// The claim's totals by category.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub total: Vec<TotalOut>,
}

/// One line's adjudication.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseItemOut {
    /// The line number on the claim.
    pub item_sequence: u32,
    /// Amounts by category, then every adjustment with its reason code.
    pub adjudication: Vec<AdjudicationOut>,
}

/// One adjudication amount.
#[derive(Debug, Serialize)]
pub struct AdjudicationOut {
    /// What the amount is.
    pub category: CodeableConcept,
    /// Why (a CARC), for an adjustment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<CodeableConcept>,
    /// How much.
    pub amount: MoneyOut,
}

/// One claim total.
#[derive(Debug, Serialize)]
pub struct TotalOut {
    /// What the total is.
    pub category: CodeableConcept,
    /// How much.
    pub amount: MoneyOut,
}
