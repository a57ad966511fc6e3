//! Who may be paid for whom: the member is the insurer's, the provider is registered, and
//! the provider is in the plan's network (or the plan says what it pays outside it).

use super::whole_line;
use crate::claim::{Claim, ServiceLine};
use crate::ids::ProviderId;
use crate::member::Member;
use crate::money::{Money, Rate};
use crate::plan::{BenefitPlan, OutOfNetwork, PlanRules};
use crate::provider::Provider;
use crate::reason::{Adjustment, GroupCode, ReasonCode};

/// **Member identity (CARC 31).** The member must be insured by the insurer that submitted
/// the claim; otherwise the patient cannot be identified as our insured and the provider
/// writes off the line (CO-31).
pub fn member_identified(claim: &Claim, member: &Member, line: &ServiceLine) -> Option<Adjustment> {
    (member.insurer != claim.insurer)
        .then(|| whole_line(line, GroupCode::CO, ReasonCode::NotOurInsured))
}

/// **Provider registration (CARC 185).** Only a registered provider can be paid; a line
/// from a provider the engine does not know is written off (CO-185).
pub fn provider_registered(provider: Option<&Provider>, line: &ServiceLine) -> Option<Adjustment> {
    provider
        .is_none()
        .then(|| whole_line(line, GroupCode::CO, ReasonCode::ProviderNotEligible))
}

/// The benefit tier a line is paid at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkBenefit {
    /// In network: the plan's own deductible and coinsurance.
    InNetwork {
        /// The plan's deductible.
        deductible: Money,
        /// The plan's coinsurance.
        coinsurance: Rate,
    },
    /// Out of network, covered at the plan's out-of-network deductible and coinsurance.
    OutOfNetwork {
        /// The out-of-network deductible.
        deductible: Money,
        /// The out-of-network coinsurance.
        coinsurance: Rate,
    },
    /// Out of network and not covered: the member owes each line ([`out_of_network`]).
    NotCovered,
}

/// **Network (CARC 242).** A plan without a network treats every registered provider as in
/// network. With one, a provider outside it is paid at the out-of-network deductible and
/// coinsurance, or, if the plan does not cover out-of-network care, not at all: the
/// provider is not contracted, so the member owes the line (PR-242, [`out_of_network`]).
/// A claim has one provider, so the benefit is the same for every line: worked out once
/// per claim.
pub fn network_benefit(
    plan: &BenefitPlan,
    rules: &PlanRules,
    provider: &ProviderId,
) -> NetworkBenefit {
    let in_network = NetworkBenefit::InNetwork {
        deductible: plan.deductible,
        coinsurance: plan.coinsurance,
    };
    let Some(network) = &rules.network else {
        return in_network;
    };
    if network.providers.contains(provider) {
        return in_network;
    }
    match network.out_of_network {
        OutOfNetwork::NotCovered => NetworkBenefit::NotCovered,
        OutOfNetwork::Covered {
            deductible,
            coinsurance,
        } => NetworkBenefit::OutOfNetwork {
            deductible,
            coinsurance,
        },
    }
}

/// A line from a provider outside the network when the plan does not cover out-of-network
/// care: the member owes the whole line (PR-242).
pub fn out_of_network(line: &ServiceLine) -> Adjustment {
    whole_line(line, GroupCode::PR, ReasonCode::OutOfNetwork)
}
