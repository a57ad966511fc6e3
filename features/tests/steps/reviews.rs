//! Reviews and appeals: a reviewer approves or denies a pended claim; a provider appeals a
//! denied one. Each is recorded on the claim with its new decision.

use super::world::ClaimsWorld;
use claims_domain::claim::{Appeal, Review, ReviewVerdict};
use cucumber::{then, when};

async fn review(
    world: &mut ClaimsWorld,
    reviewer: String,
    verdict: ReviewVerdict,
) -> Result<(), String> {
    let claim = world.last_claim()?;
    let engine = world.engine().await?;
    engine
        .review(claim, Review { reviewer, verdict })
        .await
        .map_err(|error| format!("the review was refused: {error:#}"))?;
    Ok(())
}

#[when(expr = "reviewer {string} approves the claim")]
async fn reviewer_approves(world: &mut ClaimsWorld, reviewer: String) -> Result<(), String> {
    review(world, reviewer, ReviewVerdict::Approve).await
}

#[when(expr = "reviewer {string} denies the claim because {string}")]
async fn reviewer_denies(
    world: &mut ClaimsWorld,
    reviewer: String,
    reason: String,
) -> Result<(), String> {
    review(world, reviewer, ReviewVerdict::Deny { reason }).await
}

#[then(expr = "the claim was {word} by reviewer {string}")]
async fn reviewed_by(
    world: &mut ClaimsWorld,
    verdict: String,
    reviewer: String,
) -> Result<(), String> {
    let state = world.last_claim_state().await?;
    let recorded = state.review.as_ref().map(|review| {
        let verdict = match review.verdict {
            ReviewVerdict::Approve => "approved",
            ReviewVerdict::Deny { .. } => "denied",
        };
        (verdict, review.reviewer.as_str())
    });
    match recorded {
        Some((given, by)) if given == verdict && by == reviewer => Ok(()),
        Some((given, by)) => Err(format!(
            "expected the claim to have been {verdict} by reviewer \"{reviewer}\"; the engine records it {given} by \"{by}\""
        )),
        None => Err(format!(
            "expected the claim to have been {verdict} by reviewer \"{reviewer}\"; the engine records no review"
        )),
    }
}

#[when(expr = "{string} appeals the claim because {string}")]
async fn provider_appeals(
    world: &mut ClaimsWorld,
    by: String,
    reason: String,
) -> Result<(), String> {
    let claim = world.last_claim()?;
    let engine = world.engine().await?;
    engine
        .appeal(claim, Appeal { by, reason })
        .await
        .map_err(|error| format!("the appeal was refused: {error:#}"))?;
    Ok(())
}

#[then(expr = "the claim was appealed by {string}")]
async fn appealed_by(world: &mut ClaimsWorld, by: String) -> Result<(), String> {
    let state = world.last_claim_state().await?;
    match &state.appeal {
        Some(appeal) if appeal.by == by => Ok(()),
        Some(appeal) => Err(format!(
            "expected the claim to have been appealed by \"{by}\"; the engine records an appeal by \"{}\"",
            appeal.by
        )),
        None => Err(format!(
            "expected the claim to have been appealed by \"{by}\"; the engine records no appeal"
        )),
    }
}
