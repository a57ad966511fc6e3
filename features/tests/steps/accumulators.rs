//! Accumulators: what a member and a family have paid toward the deductible and the
//! out-of-pocket maximum, and the visits used, in a benefit year.

use super::params::MoneyParam;
use super::world::{ClaimsWorld, invalid};
use claims_domain::ServiceCategory;
use cucumber::then;

#[then(expr = "member {string} has met {money} of the {int} deductible")]
async fn deductible_met(
    world: &mut ClaimsWorld,
    member: String,
    expected: MoneyParam,
    year: i32,
) -> Result<(), String> {
    let met = world
        .member_year(&member, year)
        .await?
        .accumulated(expected.0.currency())
        .deductible;
    if met == expected.0 {
        return Ok(());
    }
    Err(format!(
        "expected member {member} to have met {} of the {year} deductible; the engine has {met}",
        expected.0
    ))
}

#[then(expr = "member {string} has paid {money} out of pocket in {int}")]
async fn out_of_pocket_paid(
    world: &mut ClaimsWorld,
    member: String,
    expected: MoneyParam,
    year: i32,
) -> Result<(), String> {
    let paid = world
        .member_year(&member, year)
        .await?
        .accumulated(expected.0.currency())
        .out_of_pocket;
    if paid == expected.0 {
        return Ok(());
    }
    Err(format!(
        "expected member {member} to have paid {} out of pocket in {year}; the engine has {paid}",
        expected.0
    ))
}

#[then(expr = "the family {string} has met {money} of the {int} deductible")]
async fn family_deductible_met(
    world: &mut ClaimsWorld,
    family: String,
    expected: MoneyParam,
    year: i32,
) -> Result<(), String> {
    let family_id = claims_features::slug(&family);
    let met = world
        .family_year(&family_id, year)
        .await?
        .accumulated(expected.0.currency())
        .deductible;
    if met == expected.0 {
        return Ok(());
    }
    Err(format!(
        "expected the family \"{family}\" to have met {} of the {year} deductible; the engine has {met}",
        expected.0
    ))
}

#[then(expr = "member {string} has used {int} {string} visits in {int}")]
async fn visits_used(
    world: &mut ClaimsWorld,
    member: String,
    expected: u32,
    category: String,
    year: i32,
) -> Result<(), String> {
    let category: ServiceCategory = category.parse().map_err(invalid)?;
    let state = world.member_year(&member, year).await?;
    let used = state.visits.get(&category).copied().unwrap_or(0);
    if used == expected {
        return Ok(());
    }
    Err(format!(
        "expected member {member} to have used {expected} {category} visits in {year}; the engine counts {used}"
    ))
}
