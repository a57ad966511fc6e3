//! Given / when / then for deciders: most domain tests are three lines.
//!
//! ```
//! # use claims_domain::testing::given;
//! # use claims_domain::provider::{ProviderDecider, ProviderCommand, ProviderEvent, Provider};
//! # let provider: Provider = serde_json::from_str(r#"{"id":"clinic-a","name":"Clinic A","wallet":"0x52908400098527886e0f7030069857d2e4169ee7"}"#).unwrap();
//! given::<ProviderDecider>([])
//!     .when(ProviderCommand::Register(provider.clone()))
//!     .then([ProviderEvent::Registered { provider }]);
//! ```

use crate::decider::Decider;
use std::fmt::Debug;

/// Past events of an aggregate.
pub fn given<D: Decider>(events: impl IntoIterator<Item = D::Event>) -> Given<D> {
    Given {
        events: events.into_iter().collect(),
    }
}

/// The aggregate's history, waiting for a command.
pub struct Given<D: Decider> {
    events: Vec<D::Event>,
}

impl<D: Decider> Given<D> {
    /// Decides a command on the state those events build.
    pub fn when(self, command: D::Command) -> Then<D> {
        let state = D::fold(&self.events);
        Then {
            result: D::decide(&state, command),
        }
    }
}

/// The outcome of a decision, to check.
pub struct Then<D: Decider> {
    result: Result<Vec<D::Event>, D::Error>,
}

impl<D: Decider> Then<D>
where
    D::Event: Debug + PartialEq,
    D::Error: Debug,
{
    /// Asserts exactly these events were decided.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = D::Event>) {
        let expected: Vec<_> = expected.into_iter().collect();
        match self.result {
            Ok(events) => assert_eq!(events, expected, "decided events differ"),
            Err(error) => {
                panic!("expected events {expected:?}, but the command was refused: {error:?}")
            }
        }
    }

    /// Asserts the command was refused, and returns the error to inspect.
    #[track_caller]
    pub fn then_error(self) -> D::Error {
        match self.result {
            Ok(events) => panic!("expected the command to be refused, but it decided {events:?}"),
            Err(error) => error,
        }
    }

    /// The decided events, to inspect.
    #[track_caller]
    pub fn events(self) -> Vec<D::Event> {
        match self.result {
            Ok(events) => events,
            Err(error) => panic!("expected events, but the command was refused: {error:?}"),
        }
    }
}
