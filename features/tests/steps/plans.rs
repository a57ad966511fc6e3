//! Plans: cost sharing, the fee schedule, copays, and the rules beyond them (network,
//! family limits, benefit limits, prior authorisation, exclusions, code-pair edits, timely
//! filing, coordination of benefits, review threshold).

use super::params::{MoneyParam, PercentParam, PeriodParam};
use super::world::{ClaimsWorld, invalid, replace};
use claims_domain::plan::{
    BenefitPlan, CodePairEdit, CoordinationMethod, FeeScheduleEntry, FilingLimit, Network,
    OutOfNetwork,
};
use claims_domain::{Currency, Money, Rate};
use claims_features::{Rows, slug};
use cucumber::gherkin::Step;
use cucumber::given;
use std::collections::{BTreeMap, BTreeSet};

#[given(expr = "the plan {string} in {word} with:")]
fn plan_with(
    world: &mut ClaimsWorld,
    name: String,
    currency: String,
    step: &Step,
) -> Result<(), String> {
    let table = step
        .table
        .as_ref()
        .ok_or("the plan needs a table of its terms")?;
    let terms = Rows::pairs(&table.rows)?;
    let currency: Currency = currency.parse().map_err(invalid)?;
    let term = |name: &str| {
        terms
            .get(name)
            .ok_or_else(|| format!("the plan table has no '{name}' row"))
    };
    let money = |name: &str| -> Result<Money, String> {
        term(name)?
            .parse()
            .map_err(|error: claims_domain::MoneyError| format!("'{name}': {error}"))
    };
    let plan = BenefitPlan {
        id: ClaimsWorld::plan_id(&name)?,
        name: name.clone(),
        currency,
        deductible: money("deductible")?,
        coinsurance: term("coinsurance")?
            .parse::<Rate>()
            .map_err(|error| format!("'coinsurance': {error}"))?,
        out_of_pocket_max: money("out-of-pocket max")?,
        copays: BTreeMap::new(),
        fee_schedule: BTreeMap::new(),
        review_threshold: if terms.contains_key("review threshold") {
            Some(money("review threshold")?)
        } else {
            None
        },
    };
    world.define(|reference| replace(&mut reference.plans, plan, |entry| entry.id.clone()));
    Ok(())
}

#[given(expr = "the plan {string} allows these procedures:")]
fn plan_allows(world: &mut ClaimsWorld, name: String, step: &Step) -> Result<(), String> {
    let table = step
        .table
        .as_ref()
        .ok_or("the fee schedule needs a table")?;
    let rows = Rows::with_header(&table.rows)?;
    let mut entries = Vec::new();
    for row in rows.iter() {
        entries.push((
            row.get("procedure")?,
            FeeScheduleEntry {
                category: row.get("category")?,
                allowed_per_unit: row.get("allowed per unit")?,
            },
        ));
    }
    world.plan_mut(&name)?.fee_schedule.extend(entries);
    Ok(())
}

#[given(expr = "the plan {string} has a copay of {money} for {string}")]
fn plan_copay(
    world: &mut ClaimsWorld,
    name: String,
    copay: MoneyParam,
    category: String,
) -> Result<(), String> {
    let category = category.parse().map_err(invalid)?;
    world.plan_mut(&name)?.copays.insert(category, copay.0);
    Ok(())
}

#[given(expr = "the plan {string} sends claims billed above {money} to a reviewer")]
fn plan_review_threshold(
    world: &mut ClaimsWorld,
    name: String,
    threshold: MoneyParam,
) -> Result<(), String> {
    world.plan_mut(&name)?.review_threshold = Some(threshold.0);
    Ok(())
}

#[given(expr = "the plan {string} has a family deductible of {money}")]
fn family_deductible(
    world: &mut ClaimsWorld,
    name: String,
    limit: MoneyParam,
) -> Result<(), String> {
    world.rules_mut(&name)?.family_deductible = Some(limit.0);
    Ok(())
}

#[given(expr = "the plan {string} has a family out-of-pocket max of {money}")]
fn family_out_of_pocket(
    world: &mut ClaimsWorld,
    name: String,
    limit: MoneyParam,
) -> Result<(), String> {
    world.rules_mut(&name)?.family_out_of_pocket_max = Some(limit.0);
    Ok(())
}

#[given(expr = "the plan {string} pays at most {money} a year")]
fn annual_maximum(world: &mut ClaimsWorld, name: String, limit: MoneyParam) -> Result<(), String> {
    world.rules_mut(&name)?.annual_maximum = Some(limit.0);
    Ok(())
}

#[given(expr = "the plan {string} allows {int} {string} visits a year")]
fn visit_limit(
    world: &mut ClaimsWorld,
    name: String,
    visits: u32,
    category: String,
) -> Result<(), String> {
    let category = category.parse().map_err(invalid)?;
    world
        .rules_mut(&name)?
        .visit_limits
        .insert(category, visits);
    Ok(())
}

#[given(expr = "the plan {string} requires prior authorisation for {string}")]
fn requires_authorization(
    world: &mut ClaimsWorld,
    name: String,
    procedure: String,
) -> Result<(), String> {
    let procedure = procedure.parse().map_err(invalid)?;
    world
        .rules_mut(&name)?
        .prior_authorization
        .insert(procedure);
    Ok(())
}

#[given(expr = "the plan {string} excludes the procedure {string}")]
fn excludes_procedure(
    world: &mut ClaimsWorld,
    name: String,
    procedure: String,
) -> Result<(), String> {
    let procedure = procedure.parse().map_err(invalid)?;
    world
        .rules_mut(&name)?
        .excluded_procedures
        .insert(procedure);
    Ok(())
}

#[given(expr = "the plan {string} excludes the diagnosis {string}")]
fn excludes_diagnosis(
    world: &mut ClaimsWorld,
    name: String,
    diagnosis: String,
) -> Result<(), String> {
    let diagnosis = diagnosis.parse().map_err(invalid)?;
    world.rules_mut(&name)?.excluded_diagnoses.insert(diagnosis);
    Ok(())
}

#[given(expr = "the plan {string} bundles these procedure pairs:")]
fn code_pairs(world: &mut ClaimsWorld, name: String, step: &Step) -> Result<(), String> {
    let table = step.table.as_ref().ok_or(
        "list the pairs in a table: paid procedure | bundled procedure | modifier allowed",
    )?;
    let rows = Rows::with_header(&table.rows)?;
    let mut edits = Vec::new();
    for row in rows.iter() {
        let allowed: String = row.get("modifier allowed")?;
        edits.push(CodePairEdit {
            column_one: row.get("paid procedure")?,
            column_two: row.get("bundled procedure")?,
            modifier_allowed: match allowed.as_str() {
                "yes" => true,
                "no" => false,
                other => return Err(format!("'modifier allowed' is yes or no, not {other:?}")),
            },
        });
    }
    world.rules_mut(&name)?.code_pair_edits.extend(edits);
    Ok(())
}

#[given(expr = "the plan {string} accepts claims within {int} {period} of the date of service")]
fn filing_limit(
    world: &mut ClaimsWorld,
    name: String,
    count: u32,
    period: PeriodParam,
) -> Result<(), String> {
    world.rules_mut(&name)?.filing_limit = Some(match period {
        PeriodParam::Days => FilingLimit::Days(count),
        PeriodParam::Months => FilingLimit::Months(count),
    });
    Ok(())
}

#[given(expr = "the network of {string} includes {string}")]
fn network_includes(world: &mut ClaimsWorld, name: String, provider: String) -> Result<(), String> {
    let provider = slug(&provider).parse().map_err(invalid)?;
    let rules = world.rules_mut(&name)?;
    rules
        .network
        .get_or_insert_with(|| Network {
            providers: BTreeSet::new(),
            out_of_network: OutOfNetwork::NotCovered,
        })
        .providers
        .insert(provider);
    Ok(())
}

#[given(
    expr = "the plan {string} covers care outside its network with a deductible of {money} and {percent} coinsurance"
)]
fn out_of_network_covered(
    world: &mut ClaimsWorld,
    name: String,
    deductible: MoneyParam,
    coinsurance: PercentParam,
) -> Result<(), String> {
    let rules = world.rules_mut(&name)?;
    let network = rules.network.as_mut().ok_or_else(|| {
        format!("the plan \"{name}\" has no network yet; name its providers first with 'Given the network of \"{name}\" includes \"…\"'")
    })?;
    network.out_of_network = OutOfNetwork::Covered {
        deductible: deductible.0,
        coinsurance: coinsurance.0,
    };
    Ok(())
}

#[given(expr = "the plan {string} pays second by {word} coordination")]
fn coordination_method(
    world: &mut ClaimsWorld,
    name: String,
    method: String,
) -> Result<(), String> {
    world.rules_mut(&name)?.coordination = match method.as_str() {
        "standard" => CoordinationMethod::Standard,
        "non-duplication" => CoordinationMethod::NonDuplication,
        other => {
            return Err(format!(
                "coordination is standard or non-duplication, not {other:?}"
            ));
        }
    };
    Ok(())
}
