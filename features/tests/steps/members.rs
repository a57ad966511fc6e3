//! Members and providers: coverage, families, other coverage, authorisations on file and
//! payout wallets.

use super::params::DateParam;
use super::world::{ClaimsWorld, invalid, replace};
use claims_domain::WalletAddress;
use claims_domain::member::CoveragePeriod;
use claims_domain::provider::Provider;
use claims_domain::rules::authorization::Authorization;
use claims_features::slug;
use cucumber::given;

#[given(expr = "the member {string} is covered by {string} from {date}")]
fn member_covered(
    world: &mut ClaimsWorld,
    member: String,
    plan: String,
    start: DateParam,
) -> Result<(), String> {
    world.enrol(
        &member,
        &plan,
        CoveragePeriod {
            start: start.0,
            end: None,
        },
    )
}

#[given(expr = "the member {string} was covered by {string} from {date} to {date}")]
fn member_was_covered(
    world: &mut ClaimsWorld,
    member: String,
    plan: String,
    start: DateParam,
    end: DateParam,
) -> Result<(), String> {
    world.enrol(
        &member,
        &plan,
        CoveragePeriod {
            start: start.0,
            end: Some(end.0),
        },
    )
}

#[given(expr = "the member {string} belongs to the family {string}")]
fn member_in_family(world: &mut ClaimsWorld, member: String, family: String) -> Result<(), String> {
    let family = slug(&family).parse().map_err(invalid)?;
    world.member_mut(&member)?.family = Some(family);
    Ok(())
}

#[given(expr = "the member {string} has other coverage with {string} that pays first")]
fn member_other_coverage(
    world: &mut ClaimsWorld,
    member: String,
    payer: String,
) -> Result<(), String> {
    let payer = slug(&payer).parse().map_err(invalid)?;
    world.member_mut(&member)?.primary_payer = Some(payer);
    Ok(())
}

#[given(
    expr = "the payer authorised {string} for member {string} at {string} from {date} to {date} as {string}"
)]
fn authorised(
    world: &mut ClaimsWorld,
    procedure: String,
    member: String,
    provider: String,
    from: DateParam,
    through: DateParam,
    number: String,
) -> Result<(), String> {
    let authorization = Authorization {
        number: number.parse().map_err(invalid)?,
        procedure: procedure.parse().map_err(invalid)?,
        provider: slug(&provider).parse().map_err(invalid)?,
        from: from.0,
        through: through.0,
    };
    let member = member.parse().map_err(invalid)?;
    world.authorizations.push((member, authorization));
    world.define(|_| {});
    Ok(())
}

#[given(expr = "the provider {string} is paid to wallet {word}")]
fn provider_wallet(world: &mut ClaimsWorld, name: String, wallet: String) -> Result<(), String> {
    let provider = Provider {
        id: slug(&name).parse().map_err(invalid)?,
        name,
        wallet: wallet.parse::<WalletAddress>().map_err(invalid)?,
    };
    world.define(|reference| replace(&mut reference.providers, provider, |entry| entry.id.clone()));
    Ok(())
}
