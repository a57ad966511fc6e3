//! Payouts: settling approved claims on chain and the providers' wallets.

use super::params::AmountParam;
use super::world::ClaimsWorld;
use cucumber::{given, then, when};
use rust_decimal::Decimal;

#[given(expr = "{string} holds {amount} USDC on chain")]
async fn provider_holds(
    world: &mut ClaimsWorld,
    name: String,
    amount: AmountParam,
) -> Result<(), String> {
    let wallet = world.provider(&name)?.wallet;
    let balance = world.balance(wallet).await?;
    if balance.amount() != amount.0 {
        return Err(format!(
            "expected \"{name}\" to hold {} USDC; its wallet holds {}",
            amount.0,
            balance.amount()
        ));
    }
    world.balances_before.insert(name, balance.amount());
    Ok(())
}

#[given("the payer settled the approved claims")]
#[when("the payer settles the approved claims")]
async fn payer_settles(world: &mut ClaimsWorld) -> Result<(), String> {
    let claims = world.submitted.clone();
    let now = claims::clock::Clock::now(world.clock.as_ref());
    world.settle_now(&claims, now).await
}

#[then(expr = "{string} receives {amount} USDC on chain")]
async fn provider_receives(
    world: &mut ClaimsWorld,
    name: String,
    amount: AmountParam,
) -> Result<(), String> {
    let wallet = world.provider(&name)?.wallet;
    let before = world
        .balances_before
        .get(&name)
        .copied()
        .unwrap_or(Decimal::ZERO);
    let balance = world.balance(wallet).await?;
    let received = balance.amount() - before;
    if received == amount.0 {
        return Ok(());
    }
    Err(format!(
        "expected \"{name}\" to receive {} USDC on chain; its wallet received {received} (it holds {})",
        amount.0,
        balance.amount()
    ))
}

#[then("the chain and the engine's records agree")]
async fn records_agree(world: &mut ClaimsWorld) -> Result<(), String> {
    let engine = world.engine().await?;
    let report = claims_settlement::reconcile::reconcile(
        engine.store().as_ref(),
        engine.settlement_chain().as_ref(),
    )
    .await
    .map_err(|error| format!("reconciliation could not run: {error}"))?;
    if report.is_clean() {
        return Ok(());
    }
    Err(format!(
        "expected the chain's settlement logs and the engine's records to agree; reconciliation found {} discrepancies: {report:?}",
        report.discrepancies()
    ))
}
