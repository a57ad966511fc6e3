//! Corrections: the insurer voids a claim or sends a replacement for it; what a provider
//! owes back for a paid claim that was voided, and what its next payout withheld for it.

use super::params::MoneyParam;
use super::world::{ClaimsWorld, INSURER, describe_status, invalid};
use claims::intake::ReplyStatus;
use claims_adapters::aggregate::{load, streams};
use claims_domain::Money;
use claims_domain::provider_ledger::ProviderLedgerDecider;
use claims_features::slug;
use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use std::time::Duration;

/// How long a step waits for the read models to catch up with the log.
const PATIENCE: Duration = Duration::from_secs(10);

#[given("the insurer voided the claim")]
#[when("the insurer voids the claim")]
async fn insurer_voids(world: &mut ClaimsWorld) -> Result<(), String> {
    let original = world.last_claim()?;
    let original_ref = world.claim_ref(original)?;
    let state = world.last_claim_state().await?;
    let claim = state.claim.ok_or("the claim to void was never accepted")?;
    let body = serde_json::json!({
        "claim_ref": world.next_claim_ref(),
        "member": claim.member,
        "provider": claim.provider,
        "received_on": claim.received_on,
        "lines": [],
        "corrects": { "claim_ref": original_ref, "kind": "void" },
    });
    let insurer = INSURER.parse().map_err(invalid)?;
    let engine = world.engine().await?;
    let reply = engine
        .submit(&insurer, serde_json::to_vec(&body).map_err(invalid)?)
        .await
        .map_err(|error| format!("the void got no answer: {error:#}"))?;
    if reply.status != ReplyStatus::Accepted {
        return Err(format!(
            "expected the void to be accepted; the engine rejected it: {}",
            reply.reasons_text()
        ));
    }
    world.original = Some(original);
    world.last_reply = Some(reply);
    Ok(())
}

#[when(expr = "{string} submits a replacement of the claim for member {string} with:")]
async fn submits_replacement(
    world: &mut ClaimsWorld,
    provider: String,
    member: String,
    step: &Step,
) -> Result<(), String> {
    let original = world.last_claim()?;
    let corrects =
        serde_json::json!({ "claim_ref": world.claim_ref(original)?, "kind": "replacement" });
    world
        .submit_correcting(&provider, &member, None, step, Some(corrects))
        .await?;
    world.original = Some(original);
    Ok(())
}

#[then(expr = "the original claim is {status}")]
async fn original_is(
    world: &mut ClaimsWorld,
    expected: super::params::StatusParam,
) -> Result<(), String> {
    let original = world
        .original
        .ok_or("no claim has been voided or replaced yet in this scenario")?;
    let engine = world.engine().await?;
    let state = engine.claim(original).await.map_err(invalid)?;
    let actual = describe_status(&state);
    if actual == expected.0 {
        Ok(())
    } else {
        Err(format!(
            "expected the original claim to be {}; it is {actual}",
            expected.0
        ))
    }
}

#[then(expr = "{string} owes back {money}")]
async fn provider_owes_back(
    world: &mut ClaimsWorld,
    name: String,
    expected: MoneyParam,
) -> Result<(), String> {
    let provider = slug(&name).parse().map_err(invalid)?;
    let engine = world.engine().await?;
    let ledger =
        load::<ProviderLedgerDecider>(engine.store().as_ref(), streams::provider_ledger(&provider))
            .await
            .map_err(invalid)?
            .state;
    let owed = ledger.owed().unwrap_or(Money::zero(expected.0.currency()));
    if owed == expected.0 {
        return Ok(());
    }
    let recouped = ledger
        .outstanding
        .iter()
        .map(|(claim, amount)| format!("{amount} for claim {claim}"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(format!(
        "expected \"{name}\" to owe back {}; it owes {owed} ({})",
        expected.0,
        if recouped.is_empty() {
            "nothing outstanding".to_owned()
        } else {
            recouped
        }
    ))
}

#[then(expr = "the remittance withholds {money} from the claim to recover the original claim")]
async fn remittance_withholds(world: &mut ClaimsWorld, expected: MoneyParam) -> Result<(), String> {
    let claim = world.last_claim()?;
    let original = world
        .original
        .ok_or("no claim has been voided or replaced yet in this scenario")?;
    let engine = world.engine().await?;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let snapshot = engine.read_models().snapshot().await.map_err(invalid)?;
        let remitted = snapshot
            .remittances
            .iter()
            .flat_map(|remittance| remittance.claims.iter())
            .find(|remitted| remitted.claim == claim);
        if let Some(remitted) = remitted.filter(|remitted| !remitted.withheld.is_empty()) {
            let withheld: Vec<_> = remitted
                .withheld
                .iter()
                .filter(|withholding| withholding.recouped_claim == original)
                .map(|withholding| withholding.amount)
                .collect();
            return match withheld.as_slice() {
                [amount] if *amount == expected.0 => Ok(()),
                [amount] => Err(format!(
                    "expected the remittance to withhold {} from the claim to recover the original claim; it withholds {amount} (the claim is paid {})",
                    expected.0, remitted.paid
                )),
                _ => Err(format!(
                    "expected the remittance to withhold {} from the claim to recover the original claim; it withholds nothing for it",
                    expected.0
                )),
            };
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "expected the remittance to withhold {} from the claim to recover the original claim; {}",
                expected.0,
                match remitted {
                    Some(remitted) =>
                        format!("it withholds nothing (the claim is paid {})", remitted.paid),
                    None => "the claim is in no remittance".to_owned(),
                }
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
