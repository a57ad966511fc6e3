//! Claims: submitting them with a table of service lines, and intake's answer.

use super::params::DateParam;
use super::world::ClaimsWorld;
use claims::intake::ReplyStatus;
use cucumber::gherkin::Step;
use cucumber::{given, then, when};

#[given(expr = "{string} submitted a claim for member {string} with:")]
#[when(expr = "{string} submits a claim for member {string} with:")]
async fn submits_claim(
    world: &mut ClaimsWorld,
    provider: String,
    member: String,
    step: &Step,
) -> Result<(), String> {
    world.submit(&provider, &member, None, step).await
}

#[when(expr = "{string} submits a claim for member {string} received on {date} with:")]
async fn submits_claim_received(
    world: &mut ClaimsWorld,
    provider: String,
    member: String,
    received: DateParam,
    step: &Step,
) -> Result<(), String> {
    world
        .submit(&provider, &member, Some(received.0), step)
        .await
}

#[then(expr = "the submission is rejected because {string}")]
fn submission_rejected(world: &mut ClaimsWorld, reason: String) -> Result<(), String> {
    let reply = world
        .last_reply
        .as_ref()
        .ok_or("nothing has been submitted yet")?;
    if reply.status != ReplyStatus::Rejected {
        return Err(format!(
            "expected the submission to be rejected because \"{reason}\"; the engine accepted it as claim {}",
            reply.claim_id.map(|id| id.to_string()).unwrap_or_default()
        ));
    }
    if !reply.reasons.iter().any(|given| given.message == reason) {
        return Err(format!(
            "expected the submission to be rejected because \"{reason}\"; the engine gave: {}",
            reply.reasons_text()
        ));
    }
    Ok(())
}
