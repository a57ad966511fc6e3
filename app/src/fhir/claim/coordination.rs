//! Coordination of benefits from FHIR: a claim to this payer as the secondary one carries
//! the primary payer's decision, and what it paid for each line is read from it.
//!
//! FHIR R4 says it with two `insurance` entries, in the order the payers pay
//! (`sequence`): the primary payer's, not focal, whose `claimResponse` names its decision,
//! and this payer's, focal. The decision travels inside the claim, in `contained`, as a
//! `ClaimResponse` named `#<id>`; its items' `benefit` amounts (category system
//! `http://terminology.hl7.org/CodeSystem/adjudication`) become the lines' `primary_paid`,
//! the same as X12 837's COB loop 2430 gives a secondary payer each line's primary payment.
//!
//! A claim item the primary payer's decision does not list has no primary payment, and
//! the coordination rule sends that line to the primary payer first (CO-22), as a native
//! line without `primary_paid` is. An insurance entry after this payer's (a tertiary payer)
//! changes nothing this payer pays and is checked, not read. Anything the decision says
//! that no line can carry (claim-level adjudication, added items, sub-lines) is refused by
//! name.

use super::{Mapping, ProblemKind, join};
use crate::fhir::claim_response::ADJUDICATION_SYSTEM;
use crate::fhir::model::{ClaimIn, ContainedIn, PrimaryItemIn, PrimaryResponseIn};
use crate::submission::SubmittedLine;
use claims_domain::Money;
use claims_domain::coding::AuthorizationNumber;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, BTreeSet};

/// What the claim's `insurance` entries say this payer needs.
#[derive(Default)]
pub(super) struct Insurance {
    /// The prior authorisation number this payer's entry quotes.
    pub authorization: Option<AuthorizationNumber>,
    /// The primary payer's decision, as its entry names it: `(path, id)` of `#<id>`.
    pub primary_response: Option<(String, String)>,
    /// Every `#<id>` any entry names, read or refused: a contained decision one of them
    /// names is already answered for.
    pub named: BTreeSet<String>,
}

/// The primary payer's decisions the claim contains, by id, with where each one is.
pub(super) type Contained = BTreeMap<String, (String, PrimaryResponseIn)>;

impl Mapping {
    /// Checks the insurance entries: one, focal, for this payer; or two, the other one
    /// paying before or after this payer by `sequence`.
    pub(super) fn insurance(&mut self, claim: &ClaimIn) -> Insurance {
        let entries = &claim.insurance;
        if entries.is_empty() {
            self.missing("insurance", "at least one insurance entry is required");
            return Insurance::default();
        }
        if entries.len() > 2 {
            self.unsupported(
                "insurance[2]",
                "at most two payers are read: this payer (focal) and one other; coordination with a third payer is not supported",
            );
        }
        let named = entries
            .iter()
            .filter_map(|entry| entry.claim_response.as_ref()?.reference.as_deref())
            .filter_map(|literal| literal.strip_prefix('#'))
            .map(str::to_owned)
            .collect();
        let entries = &entries[..entries.len().min(2)];
        for (index, entry) in entries.iter().enumerate() {
            if entry.coverage.is_none() {
                self.missing(
                    format!("insurance[{index}].coverage"),
                    "a coverage reference is required",
                );
            }
        }
        let focal: Vec<usize> = (0..entries.len())
            .filter(|&index| entries[index].focal == Some(true))
            .collect();
        let ours = match focal.as_slice() {
            [ours] => *ours,
            [] => {
                for index in 0..entries.len() {
                    self.invalid(
                        format!("insurance[{index}].focal"),
                        "the insurance to adjudicate against (this payer's) must be focal (true)",
                    );
                }
                return Insurance {
                    named,
                    ..Insurance::default()
                };
            }
            [_, second, ..] => {
                self.invalid(
                    format!("insurance[{second}].focal"),
                    "only this payer's insurance is focal; the other payer's is focal false",
                );
                return Insurance {
                    named,
                    ..Insurance::default()
                };
            }
        };
        let base = format!("insurance[{ours}]");
        if entries[ours].claim_response.is_some() {
            self.invalid(
                join(&base, "claimResponse"),
                "this payer's own decision cannot come with the claim; the primary payer's goes on the primary payer's insurance entry",
            );
        }
        let authorization = self.authorization(&base, entries[ours].pre_auth_ref.as_deref());
        let primary_response = match (ours, entries.len()) {
            (_, 1) => None,
            (ours, _) => self.other_payer(claim, ours, 1 - ours),
        };
        Insurance {
            authorization,
            primary_response,
            named,
        }
    }

    /// The one prior authorisation number this payer's entry quotes, if any.
    fn authorization(
        &mut self,
        base: &str,
        numbers: Option<&[String]>,
    ) -> Option<AuthorizationNumber> {
        let path = join(base, "preAuthRef");
        match numbers? {
            [] => {
                self.invalid(path, "an empty list: send one number, or leave it out");
                None
            }
            [number] => AuthorizationNumber::new(number)
                .map_err(|error| self.invalid(format!("{path}[0]"), error.to_string()))
                .ok(),
            [_, ..] => {
                self.unsupported(
                    format!("{path}[1]"),
                    "several authorisation numbers cannot be matched to lines; send one per claim, or the native format's authorization on each line",
                );
                None
            }
        }
    }

    /// The other payer's entry: before this payer's by `sequence`, the primary payer, whose
    /// decision it may name; after it, a later payer, which cannot have decided yet. Its
    /// `preAuthRef` is that payer's and is not read.
    fn other_payer(
        &mut self,
        claim: &ClaimIn,
        ours: usize,
        other: usize,
    ) -> Option<(String, String)> {
        let base = format!("insurance[{other}]");
        let (Some(our_sequence), Some(other_sequence)) = (
            claim.insurance[ours].sequence,
            claim.insurance[other].sequence,
        ) else {
            for index in [ours, other] {
                if claim.insurance[index].sequence.is_none() {
                    self.missing(
                        format!("insurance[{index}].sequence"),
                        "with two payers, the sequence says which one pays first",
                    );
                }
            }
            return None;
        };
        if other_sequence == our_sequence {
            self.invalid(
                join(&base, "sequence"),
                "two payers cannot pay in the same place; the primary payer's sequence is the lower",
            );
            return None;
        }
        let reference = claim.insurance[other].claim_response.as_ref()?;
        let path = join(&base, "claimResponse");
        if other_sequence > our_sequence {
            self.invalid(
                path,
                "this payer pays before that one (a lower sequence), so that payer cannot have decided yet",
            );
            return None;
        }
        let id = reference
            .reference
            .as_deref()
            .and_then(|literal| literal.strip_prefix('#'))
            .filter(|id| !id.is_empty());
        match id {
            Some(id) => Some((join(&path, "reference"), id.to_owned())),
            None => {
                self.invalid(
                    path,
                    "the primary payer's ClaimResponse is read only from the claim itself: put it in contained and name it here as {\"reference\": \"#<its id>\"}",
                );
                None
            }
        }
    }

    /// The contained resources: primary payers' decisions by id; any other resource is
    /// refused.
    pub(super) fn contained(&mut self, contained: &[Box<RawValue>]) -> Contained {
        let mut responses = Contained::new();
        for (index, raw) in contained.iter().enumerate() {
            let base = format!("contained[{index}]");
            let kind = serde_json::from_str::<ContainedIn>(raw.get())
                .ok()
                .and_then(|resource| resource.resource_type);
            if kind.as_deref() != Some("ClaimResponse") {
                self.unsupported(
                    &base,
                    format!(
                        "{}: only the primary payer's ClaimResponse is read from contained; refer to other resources as Type/<id> or by identifier",
                        kind.as_deref().unwrap_or("a resource without resourceType")
                    ),
                );
                continue;
            }
            let mut reader = serde_json::Deserializer::from_str(raw.get());
            let response: PrimaryResponseIn = match serde_path_to_error::deserialize(&mut reader) {
                Ok(response) => response,
                Err(error) => {
                    let path = error.path().to_string();
                    let path = if path == "." {
                        base
                    } else {
                        join(&base, &path)
                    };
                    self.report(
                        ProblemKind::Malformed,
                        path,
                        super::trim_expected(&error.into_inner().to_string())
                            .replace("FHIR R4 Claim", "FHIR R4 ClaimResponse"),
                    );
                    continue;
                }
            };
            match response.id.clone() {
                None => self.missing(
                    join(&base, "id"),
                    "a contained ClaimResponse needs the id its insurance entry names (#<id>)",
                ),
                Some(id) if responses.contains_key(&id) => self.invalid(
                    join(&base, "id"),
                    format!("{id:?} is the id of another contained resource"),
                ),
                Some(id) => {
                    responses.insert(id, (base, response));
                }
            }
        }
        responses
    }

    /// What the primary payer paid for each line, from the decision the insurance names;
    /// every contained decision must be the one it names.
    pub(super) fn primary_payments(
        &mut self,
        insurance: &Insurance,
        mut contained: Contained,
        lines: &[(String, SubmittedLine)],
    ) -> BTreeMap<u32, Money> {
        let response = insurance.primary_response.as_ref().and_then(|(path, id)| {
            let found = contained.remove(id);
            if found.is_none() {
                self.invalid(
                    path.as_str(),
                    format!("no ClaimResponse with id {id:?} in contained"),
                );
            }
            found
        });
        let unnamed = contained
            .iter()
            .filter(|(id, _)| !insurance.named.contains(*id));
        for (_, (base, _)) in unnamed {
            self.invalid(
                base.as_str(),
                "no insurance entry names this ClaimResponse: the primary payer's entry (the one before this payer's) names its decision as claimResponse #<id>",
            );
        }
        match response {
            Some((base, response)) => self.primary_response(&base, &response, lines),
            None => BTreeMap::new(),
        }
    }

    fn primary_response(
        &mut self,
        base: &str,
        response: &PrimaryResponseIn,
        lines: &[(String, SubmittedLine)],
    ) -> BTreeMap<u32, Money> {
        self.refuse_present(
            base,
            &[
                (
                    response.modifier_extension.is_some(),
                    "modifierExtension",
                    "modifier extensions change the decision's meaning and none is understood",
                ),
                (
                    response.contained.is_some(),
                    "contained",
                    "resources inside a contained resource are not read",
                ),
                (
                    response.add_item.is_some(),
                    "addItem",
                    "lines the primary payer added are not lines of this claim; send them as items of the claim",
                ),
                (
                    response.adjudication.is_some(),
                    "adjudication",
                    "claim-level adjudication cannot be put on a line; send what the primary payer paid on each item",
                ),
            ],
        );
        match response.status.as_deref() {
            Some("active") => {}
            Some(other) => self.invalid(
                join(base, "status"),
                format!(
                    "{other:?}: only the primary payer's active decision can be coordinated with"
                ),
            ),
            None => self.missing(
                join(base, "status"),
                "a ClaimResponse's status is required (active)",
            ),
        }
        match response.outcome.as_deref() {
            Some("complete" | "partial") => {}
            Some("queued") => self.invalid(
                join(base, "outcome"),
                "the primary payer has not decided yet (queued); send the claim once it has, or without its decision for the lines to go to it first (CO-22)",
            ),
            Some(other) => self.invalid(
                join(base, "outcome"),
                format!("{other:?}: only a decided claim (complete or partial) can be coordinated with"),
            ),
            None => self.missing(
                join(base, "outcome"),
                "a ClaimResponse's outcome is required (complete)",
            ),
        }
        let billed: BTreeMap<u32, &Money> = lines
            .iter()
            .filter_map(|(_, line)| Some((line.number?, &line.billed)))
            .collect();
        let mut paid = BTreeMap::new();
        let mut seen = BTreeSet::new();
        for (index, item) in response.item.iter().enumerate() {
            let base = format!("{base}.item[{index}]");
            let Some(sequence) = item.item_sequence else {
                self.missing(
                    join(&base, "itemSequence"),
                    "the claim item it adjudicates is required",
                );
                continue;
            };
            let Some(billed) = billed.get(&sequence) else {
                self.invalid(
                    join(&base, "itemSequence"),
                    format!("no item with sequence {sequence} on the claim"),
                );
                continue;
            };
            if !seen.insert(sequence) {
                self.invalid(
                    join(&base, "itemSequence"),
                    format!("item {sequence} is adjudicated twice"),
                );
                continue;
            }
            if let Some(benefit) = self.benefit(&base, item, billed) {
                paid.insert(sequence, benefit);
            }
        }
        paid
    }

    /// The one `benefit` amount of an item: what the primary payer paid for it.
    fn benefit(&mut self, base: &str, item: &PrimaryItemIn, billed: &Money) -> Option<Money> {
        self.refuse_present(
            base,
            &[
                (
                    item.modifier_extension.is_some(),
                    "modifierExtension",
                    "modifier extensions change the item's meaning and none is understood",
                ),
                (
                    item.detail.is_some(),
                    "detail",
                    "sub-lines are not supported, on the claim or in the primary payer's decision",
                ),
            ],
        );
        let mut benefits = Vec::new();
        for (index, adjudication) in item.adjudication.iter().enumerate() {
            let path = format!("{base}.adjudication[{index}]");
            if adjudication.modifier_extension.is_some() {
                self.unsupported(
                    join(&path, "modifierExtension"),
                    "modifier extensions change the amount's meaning and none is understood",
                );
            }
            let is_benefit = adjudication
                .category
                .as_ref()
                .and_then(|category| category.code_in(&[ADJUDICATION_SYSTEM]))
                == Some("benefit");
            if is_benefit {
                benefits.push((path, adjudication.amount.as_ref()));
            }
        }
        match benefits.as_slice() {
            [] => {
                self.missing(
                    join(base, "adjudication"),
                    format!(
                        "what the primary payer paid is required: an adjudication of category benefit ({ADJUDICATION_SYSTEM}), 0 for an item it did not pay"
                    ),
                );
                None
            }
            [(path, None)] => {
                self.missing(join(path, "amount"), "the benefit needs an amount");
                None
            }
            [(path, Some(amount))] => {
                let path = join(path, "amount");
                let benefit = self.money(&path, amount)?;
                if benefit.currency() != billed.currency() {
                    self.invalid(
                        join(&path, "currency"),
                        format!(
                            "{}: the item is billed in {}",
                            benefit.currency(),
                            billed.currency()
                        ),
                    );
                    return None;
                }
                Some(benefit)
            }
            [_, (path, _), ..] => {
                self.invalid(
                    path.as_str(),
                    "a second benefit for the same item: send what the primary payer paid once",
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // A test that cannot unwrap has failed; the panic says where.

    use super::super::to_submission;
    use serde_json::{Value, json};

    const SECONDARY: &str =
        include_str!("../../../tests/fixtures/fhir/claim/good/secondary-payer.json");

    /// The paths and kinds of what is wrong with the golden secondary claim once edited.
    fn problems(edit: impl FnOnce(&mut Value)) -> Vec<(String, &'static str)> {
        let mut claim: Value = serde_json::from_str(SECONDARY).unwrap();
        edit(&mut claim);
        match to_submission(claim.to_string().as_bytes()) {
            Ok(_) => Vec::new(),
            Err(problems) => problems
                .into_iter()
                .map(|problem| (problem.path, problem.kind.code()))
                .collect(),
        }
    }

    fn at(path: &str, code: &'static str) -> (String, &'static str) {
        (path.to_owned(), code)
    }

    #[test]
    fn the_golden_secondary_claim_is_accepted() {
        assert_eq!(problems(|_| {}), []);
    }

    #[test]
    fn two_payers_must_say_which_pays_first() {
        let missing = problems(|claim| {
            claim["insurance"][0]
                .as_object_mut()
                .unwrap()
                .remove("sequence");
        });
        assert_eq!(missing, [at("insurance[0].sequence", "fhir-missing")]);
        let same = problems(|claim| claim["insurance"][1]["sequence"] = json!(1));
        assert_eq!(same, [at("insurance[0].sequence", "fhir-invalid")]);
    }

    #[test]
    fn exactly_one_payer_is_focal() {
        let both = problems(|claim| claim["insurance"][0]["focal"] = json!(true));
        assert_eq!(both, [at("insurance[1].focal", "fhir-invalid")]);
        let neither = problems(|claim| claim["insurance"][1]["focal"] = json!(false));
        assert_eq!(
            neither,
            [
                at("insurance[0].focal", "fhir-invalid"),
                at("insurance[1].focal", "fhir-invalid"),
            ]
        );
    }

    #[test]
    fn a_contained_decision_no_payer_names_is_refused() {
        let alone = problems(|claim| {
            let ours = claim["insurance"][1].clone();
            claim["insurance"] = json!([ours]);
        });
        assert_eq!(alone, [at("contained[0]", "fhir-invalid")]);
    }

    #[test]
    fn a_primary_payer_without_its_decision_leaves_every_line_to_coordination() {
        let mut claim: Value = serde_json::from_str(SECONDARY).unwrap();
        claim.as_object_mut().unwrap().remove("contained");
        claim["insurance"][0]
            .as_object_mut()
            .unwrap()
            .remove("claimResponse");
        let submission = to_submission(claim.to_string().as_bytes()).unwrap();
        assert!(
            submission
                .lines
                .iter()
                .all(|line| line.primary_paid.is_none())
        );
    }

    #[test]
    fn a_decision_named_that_is_not_contained_is_refused() {
        let absent = problems(|claim| {
            claim["insurance"][0]["claimResponse"]["reference"] = json!("#another");
        });
        assert_eq!(
            absent,
            [
                at("insurance[0].claimResponse.reference", "fhir-invalid"),
                at("contained[0]", "fhir-invalid"),
            ]
        );
    }
}
