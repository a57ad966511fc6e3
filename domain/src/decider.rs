//! The decider shape every aggregate follows.

/// An aggregate as a pair of pure functions.
///
/// `decide` looks at the current state and a command and says what happened (events) or
/// why not (error); `evolve` applies one event to the state. State is never stored: it is
/// the fold of the aggregate's events, so the event log stays the only truth.
pub trait Decider {
    /// What the aggregate knows; `Default` is the state before its first event.
    type State: Default;
    /// What someone asks it to do.
    type Command;
    /// What happened.
    type Event;
    /// Why a command was refused.
    type Error;

    /// Decides a command against the current state. Deciding a command that has already
    /// taken effect returns no events (commands are idempotent).
    fn decide(state: &Self::State, command: Self::Command)
    -> Result<Vec<Self::Event>, Self::Error>;

    /// Applies one event.
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    /// The state after a sequence of events.
    fn fold<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self::State
    where
        Self::Event: 'a,
    {
        events
            .into_iter()
            .fold(Self::State::default(), |state, event| {
                Self::evolve(state, event)
            })
    }
}
