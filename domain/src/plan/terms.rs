//! A plan revision's terms gathered by procedure: for each procedure, its fee schedule
//! entry, the copay and visit limit of its category, whether the plan excludes it or needs
//! an authorisation for it, and the code-pair edits that bundle it into another procedure.
//!
//! Why: adjudication asks the plan's tables about every line, and each table is keyed by
//! text (fee schedule, copays, visit limits, exclusions, authorisation list, code-pair
//! edits): seven lookups per line, each comparing codes byte by byte. Gathered once per
//! plan revision (a revision never changes), a line asks once. [`PlanTerms::of`] is the
//! only way to build them, from the revision's own tables, so they say exactly what the
//! tables say (`terms_say_what_the_tables_say` checks it for generated plans).

use super::{BenefitPlan, FeeScheduleEntry, PlanRules};
use crate::ids::{DiagnosisCode, ProcedureCode};
use crate::money::Money;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// What the plan says about one procedure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcedureTerms {
    /// The fee schedule's entry; `None` when the procedure is not covered.
    pub scheduled: Option<FeeScheduleEntry>,
    /// The copay of the entry's category, if the plan has one.
    pub copay: Option<Money>,
    /// The most visits a year in the entry's category, if limited.
    pub visit_limit: Option<u32>,
    /// True when the plan excludes the procedure.
    pub excluded: bool,
    /// True when the plan pays it only with a prior authorisation.
    pub needs_authorization: bool,
    /// The code-pair edits whose column-two code this procedure is, in the plan's order.
    pub bundled_into: Vec<Bundling>,
}

/// A code-pair edit as seen from its column-two procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundling {
    /// The comprehensive procedure it is bundled into.
    pub column_one: ProcedureCode,
    /// Whether a distinct-service modifier lets the pair through.
    pub modifier_allowed: bool,
}

/// A plan revision's terms by procedure, and its excluded diagnoses, for lookups by code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanTerms {
    by_procedure: HashMap<ProcedureCode, ProcedureTerms, CodeHashing>,
    excluded_diagnoses: HashSet<DiagnosisCode, CodeHashing>,
    /// The terms of a procedure no table lists.
    unlisted: ProcedureTerms,
}

impl PlanTerms {
    /// The terms of a plan revision, from its own tables.
    pub fn of(plan: &BenefitPlan, rules: &PlanRules) -> Self {
        let mut by_procedure: HashMap<ProcedureCode, ProcedureTerms, CodeHashing> =
            HashMap::default();
        for (code, entry) in &plan.fee_schedule {
            by_procedure.insert(
                code.clone(),
                ProcedureTerms {
                    scheduled: Some(entry.clone()),
                    copay: plan.copays.get(&entry.category).copied(),
                    visit_limit: rules.visit_limits.get(&entry.category).copied(),
                    ..ProcedureTerms::default()
                },
            );
        }
        for code in &rules.excluded_procedures {
            by_procedure.entry(code.clone()).or_default().excluded = true;
        }
        for code in &rules.prior_authorization {
            by_procedure
                .entry(code.clone())
                .or_default()
                .needs_authorization = true;
        }
        for edit in &rules.code_pair_edits {
            by_procedure
                .entry(edit.column_two.clone())
                .or_default()
                .bundled_into
                .push(Bundling {
                    column_one: edit.column_one.clone(),
                    modifier_allowed: edit.modifier_allowed,
                });
        }
        Self {
            by_procedure,
            excluded_diagnoses: rules.excluded_diagnoses.iter().cloned().collect(),
            unlisted: ProcedureTerms::default(),
        }
    }

    /// What the plan says about a procedure (nothing, for one no table lists).
    #[inline]
    pub fn procedure(&self, code: &ProcedureCode) -> &ProcedureTerms {
        self.by_procedure.get(code).unwrap_or(&self.unlisted)
    }

    /// True when the plan excludes treatment of the diagnosis.
    #[inline]
    pub fn excludes_diagnosis(&self, diagnosis: &DiagnosisCode) -> bool {
        !self.excluded_diagnoses.is_empty() && self.excluded_diagnoses.contains(diagnosis)
    }
}

/// Hashing for the plan's codes: procedure and diagnosis codes are a few bytes, which
/// the standard library's keyed hasher (built to resist keys chosen by an attacker) takes
/// about a hundred instructions to hash. Here the keys are the plan's own codes, published
/// by the insurer; a claim's codes are only looked up, never inserted, so they cannot
/// crowd a table. A multiply-and-rotate hash in the manner of rustc's FxHash is enough.
type CodeHashing = BuildHasherDefault<CodeHasher>;

/// See [`CodeHashing`].
#[derive(Debug, Default, Clone, Copy)]
pub struct CodeHasher(u64);

impl CodeHasher {
    /// An odd constant with well-mixed bits (FxHash's).
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for CodeHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while rest.len() > 8 {
            let Some((word, tail)) = rest.split_first_chunk::<8>() else {
                break;
            };
            self.add(u64::from_le_bytes(*word));
            rest = tail;
        }
        // Eight bytes or fewer, as most codes are: from four bytes up, the first four and
        // the last four (overlapping) hold them all, in two reads instead of a loop.
        let word = match (rest.first_chunk::<4>(), rest.last_chunk::<4>()) {
            (Some(first), Some(last)) => {
                u64::from(u32::from_le_bytes(*first)) | u64::from(u32::from_le_bytes(*last)) << 32
            }
            _ => rest
                .iter()
                .fold(0_u64, |word, byte| (word << 8) | u64::from(*byte)),
        };
        self.add(word);
    }

    #[inline]
    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The table takes its bucket from the low bits, which the multiplication mixes
        // least: bring high bits down.
        self.0.rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{PlanId, ServiceCategory};
    use crate::money::{Currency, Rate};
    use crate::plan::CodePairEdit;
    use proptest::prelude::*;
    use rust_decimal::Decimal;
    use std::collections::{BTreeMap, BTreeSet};

    /// Few codes, so that the tables overlap: a procedure priced, excluded, needing an
    /// authorisation and bundled all at once, and codes no table lists.
    const PROCEDURES: [&str; 6] = ["99213", "97110", "29881", "15780", "99213-25", "A"];
    const CATEGORIES: [&str; 3] = ["office-visit", "physiotherapy", "surgery"];
    const DIAGNOSES: [&str; 4] = ["J06.9", "M54.5", "Z41.1", "M23.2"];

    fn procedure(index: usize) -> ProcedureCode {
        ProcedureCode::new(PROCEDURES[index]).expect("a code")
    }

    fn category(index: usize) -> ServiceCategory {
        ServiceCategory::new(CATEGORIES[index]).expect("a category")
    }

    fn usd(cents: i64) -> Money {
        Money::new(Decimal::new(cents, 2), Currency::USD)
    }

    fn indices(of: usize) -> impl Strategy<Value = BTreeSet<usize>> {
        proptest::collection::btree_set(0..of, 0..=of)
    }

    prop_compose! {
        fn plans()(
            schedule in proptest::collection::btree_map(0..PROCEDURES.len(), (0..CATEGORIES.len(), 1..100_000_i64), 0..=PROCEDURES.len()),
            copays in proptest::collection::btree_map(0..CATEGORIES.len(), 0..10_000_i64, 0..=CATEGORIES.len()),
            visit_limits in proptest::collection::btree_map(0..CATEGORIES.len(), 0..50_u32, 0..=CATEGORIES.len()),
            excluded in indices(PROCEDURES.len()),
            authorised in indices(PROCEDURES.len()),
            diagnoses in indices(DIAGNOSES.len()),
            edits in proptest::collection::vec((0..PROCEDURES.len(), 0..PROCEDURES.len(), any::<bool>()), 0..6),
        ) -> (BenefitPlan, PlanRules) {
            let plan = BenefitPlan {
                id: PlanId::new("gold-ppo").expect("an id"),
                name: "Gold PPO".to_owned(),
                currency: Currency::USD,
                deductible: usd(25_000),
                coinsurance: Rate::from_fraction(Decimal::new(2, 1)).expect("a rate"),
                out_of_pocket_max: usd(300_000),
                copays: copays.into_iter().map(|(index, cents)| (category(index), usd(cents))).collect(),
                fee_schedule: schedule
                    .into_iter()
                    .map(|(index, (category_index, cents))| {
                        (procedure(index), FeeScheduleEntry { category: category(category_index), allowed_per_unit: usd(cents) })
                    })
                    .collect(),
                review_threshold: None,
            };
            let rules = PlanRules {
                visit_limits: visit_limits.into_iter().map(|(index, limit)| (category(index), limit)).collect::<BTreeMap<_, _>>(),
                excluded_procedures: excluded.into_iter().map(procedure).collect(),
                prior_authorization: authorised.into_iter().map(procedure).collect(),
                excluded_diagnoses: diagnoses
                    .into_iter()
                    .map(|index| DiagnosisCode::new(DIAGNOSES[index]).expect("a diagnosis"))
                    .collect(),
                code_pair_edits: edits
                    .into_iter()
                    .map(|(one, two, modifier_allowed)| CodePairEdit { column_one: procedure(one), column_two: procedure(two), modifier_allowed })
                    .collect(),
                ..PlanRules::default()
            };
            (plan, rules)
        }
    }

    proptest! {
        /// For every procedure and diagnosis, listed or not, the terms answer as the
        /// plan's own tables do.
        #[test]
        fn terms_say_what_the_tables_say((plan, rules) in plans()) {
            let terms = PlanTerms::of(&plan, &rules);
            for code in PROCEDURES.iter().chain(&["00000"]) {
                let code = ProcedureCode::new(*code).expect("a code");
                let said = terms.procedure(&code);
                let entry = plan.fee_schedule.get(&code);
                prop_assert_eq!(said.scheduled.as_ref(), entry);
                if let Some(entry) = entry {
                    prop_assert_eq!(said.copay.unwrap_or(Money::zero(plan.currency)), plan.copay_for(&entry.category));
                    prop_assert_eq!(said.visit_limit, rules.visit_limits.get(&entry.category).copied());
                }
                prop_assert_eq!(said.excluded, rules.excluded_procedures.contains(&code));
                prop_assert_eq!(said.needs_authorization, rules.prior_authorization.contains(&code));
                let edits: Vec<Bundling> = rules
                    .code_pair_edits
                    .iter()
                    .filter(|edit| edit.column_two == code)
                    .map(|edit| Bundling { column_one: edit.column_one.clone(), modifier_allowed: edit.modifier_allowed })
                    .collect();
                prop_assert_eq!(&said.bundled_into, &edits);
            }
            for diagnosis in DIAGNOSES.iter().chain(&["R69"]) {
                let diagnosis = DiagnosisCode::new(*diagnosis).expect("a diagnosis");
                prop_assert_eq!(terms.excludes_diagnosis(&diagnosis), rules.excluded_diagnoses.contains(&diagnosis));
            }
        }
    }

    #[test]
    fn codes_that_differ_hash_apart() {
        use std::hash::BuildHasher;
        let hash =
            |code: &str| CodeHashing::default().hash_one(ProcedureCode::new(code).expect("a code"));
        let codes = [
            "99213", "99214", "97110", "29881", "99213-25", "99213-2", "A", "AB",
        ];
        let hashes: BTreeSet<u64> = codes.iter().map(|code| hash(code)).collect();
        assert_eq!(hashes.len(), codes.len());
    }
}
