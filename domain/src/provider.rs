//! Providers: the clinics, hospitals and doctors that are paid, and the wallet they are
//! paid to.

use crate::chain_values::WalletAddress;
use crate::decider::Decider;
use crate::ids::ProviderId;
use serde::{Deserialize, Serialize};

/// A provider registered for payouts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// The provider's identifier.
    pub id: ProviderId,
    /// Its name, as on remittance advice.
    pub name: String,
    /// Where payouts go.
    pub wallet: WalletAddress,
}

/// Commands on a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderCommand {
    /// Registers the provider, or updates its name or payout wallet.
    Register(Provider),
}

/// What happened to a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ProviderEvent {
    /// The provider's registration as it stands from now on. Payouts scheduled later go to
    /// this wallet.
    Registered {
        /// The registration.
        provider: Provider,
    },
}

/// What is known of a provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderState {
    /// The registration, if any.
    pub provider: Option<Provider>,
}

/// Why a provider command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// A provider needs a name for its remittance advice.
    #[error("provider {0} has no name")]
    NoName(ProviderId),
}

/// The provider aggregate.
pub struct ProviderDecider;

impl Decider for ProviderDecider {
    type State = ProviderState;
    type Command = ProviderCommand;
    type Event = ProviderEvent;
    type Error = ProviderError;

    fn decide(
        state: &ProviderState,
        command: ProviderCommand,
    ) -> Result<Vec<ProviderEvent>, ProviderError> {
        let ProviderCommand::Register(provider) = command;
        if provider.name.trim().is_empty() {
            return Err(ProviderError::NoName(provider.id));
        }
        if state.provider.as_ref() == Some(&provider) {
            return Ok(vec![]);
        }
        Ok(vec![ProviderEvent::Registered { provider }])
    }

    fn evolve(_state: ProviderState, event: &ProviderEvent) -> ProviderState {
        let ProviderEvent::Registered { provider } = event;
        ProviderState {
            provider: Some(provider.clone()),
        }
    }
}
