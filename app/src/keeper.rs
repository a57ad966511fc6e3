//! Who keeps a piece of reference data: the engine's operator, or the insurer that sent it.
//!
//! Plans, members, providers and rule sets arrive from the operator's files (`claims
//! reference load`, `claims rules load`) and from insurers over the bus. Over the bus an
//! insurer may add entries and change the ones it sent, but never one another insurer sent
//! or the operator loaded: otherwise insurer A could change insurer B's plan, or the wallet
//! a provider is paid to on B's claims. The keeper of a stream is whoever stored its first
//! event, recorded in that event's metadata (`kept_by`); a stream whose first event names
//! nobody is the operator's (every stream stored before keepers were recorded, too). The
//! operator may change any entry. Sending an entry exactly as stored is never refused: it
//! stores nothing, so it changes nothing.
//!
//! An insurer's members may be on the operator's plans (plans shared by every insurer) or
//! on the insurer's own, never on another insurer's.

use claims_adapters::event_store::{EventStore, StoreError, StreamId};
use claims_domain::InsurerId;
use serde_json::{Value, json};

/// The metadata key that names the insurer keeping a stream.
const KEPT_BY: &str = "kept_by";

/// Who sends (or kept) reference data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keeper {
    /// The engine's operator, through the CLI's files.
    Operator,
    /// An insurer, over the bus.
    Insurer(InsurerId),
}

impl Keeper {
    /// `metadata` with this keeper recorded in it (nothing for the operator).
    pub fn stamp(&self, mut metadata: Value) -> Value {
        if let (Keeper::Insurer(insurer), Value::Object(fields)) = (self, &mut metadata) {
            fields.insert(KEPT_BY.to_owned(), json!(insurer));
        }
        metadata
    }

    /// Who keeps `stream`: `None` when it has no events yet.
    pub async fn of_stream(
        store: &dyn EventStore,
        stream: &StreamId,
    ) -> Result<Option<Keeper>, StoreError> {
        let events = store.read_stream(stream, 1).await?;
        Ok(events.first().map(|first| {
            first
                .metadata
                .field::<String>(KEPT_BY)
                .ok()
                .flatten()
                .and_then(|insurer| InsurerId::new(insurer).ok())
                .map_or(Keeper::Operator, Keeper::Insurer)
        }))
    }

    /// Why `self` may not change an entry kept by `kept_by`, if it may not.
    pub fn refusal(&self, kept_by: &Keeper) -> Option<&'static str> {
        match (self, kept_by) {
            (Keeper::Operator, _) => None,
            (Keeper::Insurer(sender), Keeper::Insurer(keeper)) if sender == keeper => None,
            (Keeper::Insurer(_), Keeper::Insurer(_)) => {
                Some("it is kept by another insurer; only that insurer may change it")
            }
            (Keeper::Insurer(_), Keeper::Operator) => Some(
                "it is kept by the engine's operator (loaded from a file); ask them to change it",
            ),
        }
    }

    /// Why a member sent by `self` may not be on a plan kept by `plan_keeper`, if it may not.
    pub fn plan_refusal(&self, plan_keeper: &Keeper) -> Option<&'static str> {
        match (self, plan_keeper) {
            (Keeper::Insurer(sender), Keeper::Insurer(keeper)) if sender != keeper => {
                Some("its plan is kept by another insurer")
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insurer(name: &str) -> Keeper {
        Keeper::Insurer(InsurerId::new(name).unwrap())
    }

    #[test]
    fn an_insurer_changes_only_what_it_keeps_and_the_operator_anything() {
        let (a, b) = (insurer("acme-health"), insurer("beta-care"));
        assert_eq!(a.refusal(&a), None);
        assert!(a.refusal(&b).is_some());
        assert!(a.refusal(&Keeper::Operator).is_some());
        assert_eq!(Keeper::Operator.refusal(&a), None);
        assert_eq!(Keeper::Operator.refusal(&Keeper::Operator), None);
    }

    #[test]
    fn members_use_the_operators_plans_or_their_insurers_own() {
        let (a, b) = (insurer("acme-health"), insurer("beta-care"));
        assert_eq!(a.plan_refusal(&Keeper::Operator), None);
        assert_eq!(a.plan_refusal(&a), None);
        assert!(a.plan_refusal(&b).is_some());
    }

    #[test]
    fn only_an_insurer_is_recorded_in_the_metadata() {
        assert_eq!(
            insurer("acme-health").stamp(json!({"rule_set": "r"})),
            json!({"rule_set": "r", "kept_by": "acme-health"})
        );
        assert_eq!(Keeper::Operator.stamp(json!({})), json!({}));
    }
}
