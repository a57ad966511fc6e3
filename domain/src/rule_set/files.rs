//! A rule set's files, parsed and checked without touching a disk: the edge reads the
//! directory into a map of relative path to text, and [`parse`] turns it into a
//! [`RuleSet`] or the first problem, naming the file, the line and the column or field.
//!
//! ```text
//! rule-set.toml                    the manifest: id, version, which files hold what
//! plans.toml                       [[plan]]: cost sharing, network, exclusions, and the
//!                                  names of its fee schedule and tables
//! limits.toml                      [<plan>]: visit limits, annual maximum, family limits,
//!                                  filing limit
//! fee-schedules/<name>.csv         procedure,category,allowed_per_unit
//! code-pair-edits.csv              column_one,column_two,modifier_allowed
//! prior-authorisation.csv          procedure
//! ```
//!
//! Every CSV table may also have a `description` column, for people. Amounts in the CSV
//! tables are in the plan's currency, written without it (`120.00`).

use super::table::{self, TableProblem, TableRow};
use super::{PlanParameters, RuleSet, RuleSetVersion};
use crate::ids::{DiagnosisCode, PlanId, ProcedureCode, RuleSetId, ServiceCategory};
use crate::money::{Currency, Money, Rate};
use crate::plan::{
    BenefitPlan, CodePairEdit, CoordinationMethod, FeeScheduleEntry, FilingLimit, Network,
    PlanRules,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use toml::Spanned;

/// The manifest's file name, at the top of the rule set's directory.
pub const MANIFEST: &str = "rule-set.toml";

/// What is wrong with a rule set's files, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleFileError {
    /// The file, relative to the rule set's directory.
    pub file: String,
    /// The line, from 1, when the problem is on one.
    pub line: Option<usize>,
    /// The column: its name in a CSV table, its number in a TOML file.
    pub column: Option<String>,
    /// What is wrong, as a sentence.
    pub problem: String,
}

impl fmt::Display for RuleFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column {column}")?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl RuleFileError {
    fn in_file(file: &str, problem: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: None,
            column: None,
            problem: problem.into(),
        }
    }

    /// A problem at a byte offset of a file's text.
    fn at(file: &str, text: &str, offset: usize, problem: impl Into<String>) -> Self {
        let (line, column) = line_and_column(text, offset);
        Self {
            file: file.to_owned(),
            line: Some(line),
            column: Some(column.to_string()),
            problem: problem.into(),
        }
    }

    fn in_table(file: &str, problem: TableProblem) -> Self {
        Self {
            file: file.to_owned(),
            line: Some(problem.line),
            column: problem.column,
            problem: problem.problem,
        }
    }
}

/// The line and column (from 1, in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    (line, column)
}

/// The manifest: which rule set, which version, and where its parts are.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    rule_set: Spanned<String>,
    version: u32,
    #[serde(default)]
    description: String,
    plans: Spanned<String>,
    #[serde(default)]
    limits: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlansFile {
    #[serde(default, rename = "plan")]
    plans: Vec<PlanEntry>,
}

/// A plan in `plans.toml`: the benefit plan's own fields, the rules that are lists of
/// names, and the files holding its tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanEntry {
    id: Spanned<String>,
    name: String,
    currency: Currency,
    deductible: Money,
    coinsurance: Rate,
    out_of_pocket_max: Money,
    #[serde(default)]
    copays: BTreeMap<ServiceCategory, Money>,
    #[serde(default)]
    review_threshold: Option<Money>,
    fee_schedule: Spanned<String>,
    #[serde(default)]
    code_pair_edits: Option<Spanned<String>>,
    #[serde(default)]
    prior_authorisation: Option<Spanned<String>>,
    #[serde(default)]
    network: Option<Network>,
    #[serde(default)]
    excluded_procedures: BTreeSet<ProcedureCode>,
    #[serde(default)]
    excluded_diagnoses: BTreeSet<DiagnosisCode>,
    #[serde(default)]
    coordination: CoordinationMethod,
}

/// A plan's limits in `limits.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    #[serde(default)]
    visit_limits: BTreeMap<ServiceCategory, u32>,
    #[serde(default)]
    annual_maximum: Option<Money>,
    #[serde(default)]
    family_deductible: Option<Money>,
    #[serde(default)]
    family_out_of_pocket_max: Option<Money>,
    #[serde(default)]
    filing_limit: Option<FilingLimit>,
}

/// The rule set in `files` (relative path to text, with [`MANIFEST`] among them).
pub fn parse(files: &BTreeMap<String, String>) -> Result<RuleSet, RuleFileError> {
    let source = Source { files };
    let manifest: Manifest = source.toml(MANIFEST)?;
    let id = RuleSetId::new(manifest.rule_set.get_ref().as_str())
        .map_err(|error| source.at(MANIFEST, manifest.rule_set.span().start, error.to_string()))?;
    let mut limits: BTreeMap<String, Spanned<Limits>> = match &manifest.limits {
        Some(file) => {
            let name = source.referenced(MANIFEST, file)?;
            source.toml(name)?
        }
        None => BTreeMap::new(),
    };
    let limits_file = manifest.limits.as_ref().map(|file| file.get_ref().clone());
    let plans_file = source.referenced(MANIFEST, &manifest.plans)?;
    let entries: PlansFile = source.toml(plans_file)?;
    if entries.plans.is_empty() {
        return Err(RuleFileError::in_file(
            plans_file,
            "the file lists no plan; add a [[plan]] table",
        ));
    }
    let mut plans = BTreeMap::new();
    for entry in entries.plans {
        let id_at = entry.id.span().start;
        let plan_id = PlanId::new(entry.id.get_ref().as_str())
            .map_err(|error| source.at(plans_file, id_at, error.to_string()))?;
        if plans.contains_key(&plan_id) {
            return Err(source.at(plans_file, id_at, format!("plan {plan_id} is listed twice")));
        }
        let plan_limits = limits
            .remove(plan_id.as_str())
            .map(Spanned::into_inner)
            .unwrap_or_default();
        let parameters = source.plan(plans_file, plan_id.clone(), entry, plan_limits)?;
        let problems: Vec<String> = parameters
            .plan
            .problems()
            .into_iter()
            .chain(parameters.rules.problems(parameters.plan.currency))
            .collect();
        if !problems.is_empty() {
            return Err(source.at(
                plans_file,
                id_at,
                format!("plan {plan_id}: {}", problems.join("; ")),
            ));
        }
        plans.insert(plan_id, parameters);
    }
    if let (Some((unknown, at)), Some(file)) = (limits.iter().next(), &limits_file) {
        return Err(source.at(
            file,
            at.span().start,
            format!("[{unknown}] names no plan of {plans_file}"),
        ));
    }
    Ok(RuleSet {
        id: RuleSetVersion {
            rule_set: id,
            version: manifest.version,
        },
        description: manifest.description,
        plans,
    })
}

/// The files being parsed.
struct Source<'a> {
    files: &'a BTreeMap<String, String>,
}

impl<'a> Source<'a> {
    fn text(&self, file: &str) -> Result<&'a str, RuleFileError> {
        self.files
            .get(file)
            .map(String::as_str)
            .ok_or_else(|| RuleFileError::in_file(file, "the rule set has no such file"))
    }

    fn at(&self, file: &str, offset: usize, problem: impl Into<String>) -> RuleFileError {
        let text = self.files.get(file).map_or("", String::as_str);
        RuleFileError::at(file, text, offset, problem)
    }

    /// A file named in another one, which must be in the rule set.
    fn referenced<'n>(
        &self,
        from: &str,
        name: &'n Spanned<String>,
    ) -> Result<&'n str, RuleFileError> {
        let file = name.get_ref().as_str();
        if self.files.contains_key(file) {
            Ok(file)
        } else {
            Err(self.at(
                from,
                name.span().start,
                format!("{file:?} is not a file of the rule set's directory"),
            ))
        }
    }

    fn toml<T: DeserializeOwned>(&self, file: &str) -> Result<T, RuleFileError> {
        let text = self.text(file)?;
        toml::from_str(text).map_err(|error| match error.span() {
            Some(span) => RuleFileError::at(file, text, span.start, error.message().trim()),
            None => RuleFileError::in_file(file, error.message().trim()),
        })
    }

    fn table(
        &self,
        file: &str,
        required: &[&str],
        optional: &[&str],
    ) -> Result<Vec<TableRow>, RuleFileError> {
        let mut optional = optional.to_vec();
        optional.push("description");
        table::read(self.text(file)?, required, &optional)
            .map_err(|problem| RuleFileError::in_table(file, problem))
    }

    /// A plan's parameters from its entry, its limits and the tables it names.
    fn plan(
        &self,
        plans_file: &str,
        id: PlanId,
        entry: PlanEntry,
        limits: Limits,
    ) -> Result<PlanParameters, RuleFileError> {
        let currency = entry.currency;
        let fee_file = self.referenced(plans_file, &entry.fee_schedule)?;
        let fee_schedule = self.fee_schedule(fee_file, currency)?;
        let code_pair_edits = match &entry.code_pair_edits {
            Some(file) => self.code_pair_edits(self.referenced(plans_file, file)?)?,
            None => Vec::new(),
        };
        let prior_authorization = match &entry.prior_authorisation {
            Some(file) => self.prior_authorisation(self.referenced(plans_file, file)?)?,
            None => BTreeSet::new(),
        };
        Ok(PlanParameters {
            plan: BenefitPlan {
                id,
                name: entry.name,
                currency,
                deductible: entry.deductible,
                coinsurance: entry.coinsurance,
                out_of_pocket_max: entry.out_of_pocket_max,
                copays: entry.copays,
                fee_schedule,
                review_threshold: entry.review_threshold,
            },
            rules: PlanRules {
                network: entry.network,
                family_deductible: limits.family_deductible,
                family_out_of_pocket_max: limits.family_out_of_pocket_max,
                visit_limits: limits.visit_limits,
                annual_maximum: limits.annual_maximum,
                prior_authorization,
                excluded_procedures: entry.excluded_procedures,
                excluded_diagnoses: entry.excluded_diagnoses,
                code_pair_edits,
                filing_limit: limits.filing_limit,
                coordination: entry.coordination,
            },
        })
    }

    fn fee_schedule(
        &self,
        file: &str,
        currency: Currency,
    ) -> Result<BTreeMap<ProcedureCode, FeeScheduleEntry>, RuleFileError> {
        let problem = |problem| RuleFileError::in_table(file, problem);
        let mut schedule = BTreeMap::new();
        for row in self.table(file, &["procedure", "category", "allowed_per_unit"], &[])? {
            let procedure: ProcedureCode = row.parsed("procedure").map_err(problem)?;
            let allowed = amount(&row, "allowed_per_unit", currency).map_err(problem)?;
            let entry = FeeScheduleEntry {
                category: row.parsed("category").map_err(problem)?,
                allowed_per_unit: allowed,
            };
            if schedule.insert(procedure.clone(), entry).is_some() {
                return Err(problem(row.problem(
                    "procedure",
                    format!("procedure {procedure} is priced twice"),
                )));
            }
        }
        if schedule.is_empty() {
            return Err(RuleFileError::in_file(
                file,
                "the fee schedule prices no procedure, so the plan would cover nothing",
            ));
        }
        Ok(schedule)
    }

    fn code_pair_edits(&self, file: &str) -> Result<Vec<CodePairEdit>, RuleFileError> {
        let problem = |problem| RuleFileError::in_table(file, problem);
        let rows = self.table(file, &["column_one", "column_two", "modifier_allowed"], &[])?;
        let mut edits: Vec<CodePairEdit> = Vec::with_capacity(rows.len());
        for row in rows {
            let edit = CodePairEdit {
                column_one: row.parsed("column_one").map_err(problem)?,
                column_two: row.parsed("column_two").map_err(problem)?,
                modifier_allowed: yes_or_no(&row, "modifier_allowed").map_err(problem)?,
            };
            if edit.column_one == edit.column_two {
                return Err(problem(row.problem(
                    "column_two",
                    format!("the edit pairs procedure {} with itself", edit.column_one),
                )));
            }
            if edits.iter().any(|earlier| {
                earlier.column_one == edit.column_one && earlier.column_two == edit.column_two
            }) {
                return Err(problem(row.problem(
                    "column_two",
                    format!(
                        "the pair {} / {} is listed twice",
                        edit.column_one, edit.column_two
                    ),
                )));
            }
            edits.push(edit);
        }
        Ok(edits)
    }

    fn prior_authorisation(&self, file: &str) -> Result<BTreeSet<ProcedureCode>, RuleFileError> {
        let problem = |problem| RuleFileError::in_table(file, problem);
        let mut listed = BTreeSet::new();
        for row in self.table(file, &["procedure"], &[])? {
            let procedure: ProcedureCode = row.parsed("procedure").map_err(problem)?;
            if !listed.insert(procedure.clone()) {
                return Err(problem(row.problem(
                    "procedure",
                    format!("procedure {procedure} is listed twice"),
                )));
            }
        }
        Ok(listed)
    }
}

/// An amount in the plan's currency, written without it: `120.00`.
fn amount(row: &TableRow, column: &str, currency: Currency) -> Result<Money, TableProblem> {
    let text = row.required(column)?;
    let plain = text.chars().all(|c| c.is_ascii_digit() || c == '.');
    let decimal = Decimal::from_str_exact(text).ok().filter(|_| plain);
    let Some(decimal) = decimal else {
        return Err(row.problem(
            column,
            format!(
                "{text:?} is not an amount; write it in {currency} without the currency, such as 120.00"
            ),
        ));
    };
    let money = Money::new(decimal, currency);
    if !money.is_in_minor_units() {
        return Err(row.problem(column, format!("{text} is not a whole number of cents")));
    }
    Ok(money)
}

/// `yes`/`no` (also `1`/`0` as in the NCCI tables, and `true`/`false`).
fn yes_or_no(row: &TableRow, column: &str) -> Result<bool, TableProblem> {
    match row.required(column)?.to_lowercase().as_str() {
        "yes" | "y" | "true" | "1" => Ok(true),
        "no" | "n" | "false" | "0" => Ok(false),
        other => Err(row.problem(column, format!("{other:?} is neither yes nor no"))),
    }
}
