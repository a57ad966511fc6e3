//! A member's prior authorisations on file: the services the payer approved in advance.
//! The prior-authorisation rule ([`crate::rules::authorization`]) reads them.

use crate::decider::Decider;
use crate::ids::MemberId;
use crate::rules::authorization::Authorization;
use serde::{Deserialize, Serialize};

/// Commands on a member's authorisations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationCommand {
    /// Records an authorisation the payer approved.
    Grant {
        /// The member it is for.
        member: MemberId,
        /// The authorisation.
        authorization: Authorization,
    },
}

/// What happened to a member's authorisations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AuthorizationEvent {
    /// The payer approved a service in advance.
    Granted {
        /// The member.
        member: MemberId,
        /// The authorisation.
        authorization: Authorization,
    },
}

/// A member's authorisations on file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizationsOnFile {
    /// Every authorisation granted, in order.
    pub authorizations: Vec<Authorization>,
}

/// Why an authorisation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationError {
    /// A number identifies one authorisation; it cannot be reused for another.
    #[error("authorisation {0} is already on file for another service; use a new number")]
    NumberInUse(String),
    /// The period ends before it starts.
    #[error("authorisation {0} ends before it starts")]
    EndsBeforeStart(String),
}

/// The member's authorisations aggregate.
pub struct AuthorizationsDecider;

impl Decider for AuthorizationsDecider {
    type State = AuthorizationsOnFile;
    type Command = AuthorizationCommand;
    type Event = AuthorizationEvent;
    type Error = AuthorizationError;

    fn decide(
        state: &AuthorizationsOnFile,
        command: AuthorizationCommand,
    ) -> Result<Vec<AuthorizationEvent>, AuthorizationError> {
        let AuthorizationCommand::Grant {
            member,
            authorization,
        } = command;
        if authorization.through < authorization.from {
            return Err(AuthorizationError::EndsBeforeStart(
                authorization.number.to_string(),
            ));
        }
        match state
            .authorizations
            .iter()
            .find(|on_file| on_file.number == authorization.number)
        {
            Some(on_file) if *on_file == authorization => Ok(vec![]),
            Some(_) => Err(AuthorizationError::NumberInUse(
                authorization.number.to_string(),
            )),
            None => Ok(vec![AuthorizationEvent::Granted {
                member,
                authorization,
            }]),
        }
    }

    fn evolve(mut state: AuthorizationsOnFile, event: &AuthorizationEvent) -> AuthorizationsOnFile {
        let AuthorizationEvent::Granted { authorization, .. } = event;
        state.authorizations.push(authorization.clone());
        state
    }
}
