//! Decisions: approved, denied or pended, what the payer pays, what the member owes, what
//! the provider writes off, and every line's amounts and reason codes.

use super::explain::explain;
use super::params::{MoneyParam, StatusParam};
use super::world::{ClaimsWorld, describe_status};
use claims_domain::Money;
use claims_domain::adjudication::{AdjudicatedLine, Adjudication, Decision};
use claims_features::Rows;
use cucumber::gherkin::Step;
use cucumber::then;
use std::collections::BTreeSet;

/// The latest claim's adjudication and the explanation of it for a failure message.
async fn decided(world: &mut ClaimsWorld) -> Result<(Adjudication, String), String> {
    let adjudication = world.last_adjudication().await?;
    let why = explain(&adjudication, world.before.as_ref());
    Ok((adjudication, why))
}

fn line(adjudication: &Adjudication, number: u32) -> Result<&AdjudicatedLine, String> {
    adjudication
        .lines
        .iter()
        .find(|line| line.line == number)
        .ok_or_else(|| format!("the claim has no adjudicated line {number}"))
}

#[then(expr = "the claim is {status}")]
async fn claim_is(world: &mut ClaimsWorld, expected: StatusParam) -> Result<(), String> {
    let state = world.last_claim_state().await?;
    let actual = describe_status(&state);
    if actual == expected.0 {
        return Ok(());
    }
    let why = state
        .adjudication
        .as_ref()
        .map(|adjudication| explain(adjudication, world.before.as_ref()))
        .unwrap_or_default();
    Err(format!(
        "expected the claim to be {}; it is {actual}: {why}",
        expected.0
    ))
}

#[then(expr = "the claim is pended because {string}")]
async fn pended_because(world: &mut ClaimsWorld, expected: String) -> Result<(), String> {
    let (adjudication, why) = decided(world).await?;
    match &adjudication.decision {
        Decision::Pended { reason } if *reason == expected => Ok(()),
        _ => Err(format!(
            "expected the claim to be pended because \"{expected}\"; {why}"
        )),
    }
}

#[then(expr = "the payer pays {money}")]
async fn payer_pays(world: &mut ClaimsWorld, expected: MoneyParam) -> Result<(), String> {
    let (adjudication, why) = decided(world).await?;
    if adjudication.payer_paid == expected.0 {
        return Ok(());
    }
    Err(format!(
        "expected the payer to pay {}; the engine paid {}: {why}",
        expected.0, adjudication.payer_paid
    ))
}

#[then(expr = "the member owes {money}")]
async fn member_owes(world: &mut ClaimsWorld, expected: MoneyParam) -> Result<(), String> {
    let (adjudication, why) = decided(world).await?;
    if adjudication.member_responsibility == expected.0 {
        return Ok(());
    }
    Err(format!(
        "expected the member to owe {}; the engine made the member responsible for {}: {why}",
        expected.0, adjudication.member_responsibility
    ))
}

#[then(expr = "the provider writes off {money}")]
async fn provider_writes_off(world: &mut ClaimsWorld, expected: MoneyParam) -> Result<(), String> {
    let (adjudication, why) = decided(world).await?;
    if adjudication.contractual_adjustment == expected.0 {
        return Ok(());
    }
    Err(format!(
        "expected the provider to write off {}; the engine wrote off {}: {why}",
        expected.0, adjudication.contractual_adjustment
    ))
}

#[then(expr = "line {int} is paid {money}")]
async fn line_paid(
    world: &mut ClaimsWorld,
    number: u32,
    expected: MoneyParam,
) -> Result<(), String> {
    let (adjudication, why) = decided(world).await?;
    let actual = line(&adjudication, number)?.payer_paid;
    if actual == expected.0 {
        return Ok(());
    }
    Err(format!(
        "expected the payer to pay {} on line {number}; the engine paid {actual}: {why}",
        expected.0
    ))
}

#[then(expr = "line {int} is allowed {money}")]
async fn line_allowed(
    world: &mut ClaimsWorld,
    number: u32,
    expected: MoneyParam,
) -> Result<(), String> {
    let (adjudication, why) = decided(world).await?;
    let actual = line(&adjudication, number)?.allowed;
    if actual == expected.0 {
        return Ok(());
    }
    Err(format!(
        "expected line {number} to be allowed {}; the engine allowed {actual}: {why}",
        expected.0
    ))
}

#[then(expr = "line {int} is not paid, reason {word}")]
async fn line_not_paid(world: &mut ClaimsWorld, number: u32, code: String) -> Result<(), String> {
    let (adjudication, why) = decided(world).await?;
    let adjudicated = line(&adjudication, number)?;
    let whole_line = adjudicated.adjustments.len() == 1
        && adjudicated.adjustments[0].code() == code
        && adjudicated.adjustments[0].amount == adjudicated.billed;
    if whole_line && !adjudicated.payer_paid.is_positive() {
        return Ok(());
    }
    Err(format!(
        "expected line {number} not to be paid, its whole billed {} adjusted as {code}; {why}",
        adjudicated.billed
    ))
}

#[then(expr = "line {int} has these adjustments:")]
async fn line_adjustments(world: &mut ClaimsWorld, number: u32, step: &Step) -> Result<(), String> {
    let table = step
        .table
        .as_ref()
        .ok_or("list the adjustments in a table: code | amount")?;
    let rows = Rows::with_header(&table.rows)?;
    let mut expected = BTreeSet::new();
    for row in rows.iter() {
        expected.insert((
            row.get::<String>("code")?,
            row.get::<Money>("amount")?.to_string(),
        ));
    }
    let (adjudication, why) = decided(world).await?;
    let actual: BTreeSet<(String, String)> = line(&adjudication, number)?
        .adjustments
        .iter()
        .map(|adjustment| (adjustment.code(), adjustment.amount.to_string()))
        .collect();
    if actual == expected {
        return Ok(());
    }
    let show = |set: &BTreeSet<(String, String)>| {
        if set.is_empty() {
            "none".to_owned()
        } else {
            set.iter()
                .map(|(code, amount)| format!("{code} {amount}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    Err(format!(
        "expected line {number} to be adjusted by {}; the engine adjusted it by {}: {why}",
        show(&expected),
        show(&actual)
    ))
}
