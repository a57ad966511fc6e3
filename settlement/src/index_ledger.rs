//! The settlement-index ledger of each contract, in the event store.
//!
//! Every claim sent to a `ClaimsSettlement` contract is named there by a settlement index
//! from that contract's own sequence. The sequence is a stream in the event store,
//! `settlementindex-<contract address>`, whose events
//! ([`SettlementIndexEvent::Reserved`](claims_domain::payout::SettlementIndexEvent)) each
//! reserve a run of indices for one batch. The reservation is appended in the same atomic
//! append as the batch and its claims, expecting the ledger's version as read: two
//! schedulers (in one process or on two hosts) that read the same next index conflict, and
//! the loser reads the ledger again and retries. So no index is ever given to two claims,
//! and the contract's bitmap refuses an index it has seen, should anything go wrong anyway.
//!
//! The ledger's state is only its next index, so [`IndexLedger`] remembers the state and
//! version it last read and reads only the events appended since: scheduling a batch does
//! not replay every batch ever scheduled.

use claims_adapters::aggregate::{self, AggregateError, Loaded, StoredAggregate};
use claims_adapters::event_store::{EventStore, StreamId, StreamVersion};
use claims_domain::payout::{SettlementIndexDecider, SettlementIndexState};
use claims_domain::{Decider, WalletAddress};
use tokio::sync::Mutex;

/// The ledger's stream for a contract.
pub fn stream(contract: WalletAddress) -> StreamId {
    // Lowercase hex, so the id does not depend on how the address was written.
    let hex: String = contract
        .as_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    StreamId::new(SettlementIndexDecider::CATEGORY, format!("0x{hex}"))
}

/// One contract's ledger, read incrementally.
pub struct IndexLedger {
    stream: StreamId,
    seen: Mutex<(SettlementIndexState, StreamVersion)>,
}

impl IndexLedger {
    /// The ledger of this contract; nothing is read until [`IndexLedger::load`].
    pub fn new(contract: WalletAddress) -> Self {
        Self {
            stream: stream(contract),
            seen: Mutex::new((SettlementIndexState::default(), 0)),
        }
    }

    /// The ledger as it stands: the remembered state, brought up to date with the events
    /// appended since it was last read.
    pub async fn load(
        &self,
        store: &dyn EventStore,
    ) -> Result<Loaded<SettlementIndexDecider>, AggregateError> {
        let mut seen = self.seen.lock().await;
        let (mut state, mut version) = *seen;
        for recorded in store.read_stream(&self.stream, version + 1).await? {
            let event = aggregate::decode::<SettlementIndexDecider>(&recorded)?;
            state = SettlementIndexDecider::evolve(state, &event);
            version = recorded.version;
        }
        *seen = (state, version);
        Ok(Loaded {
            stream: self.stream.clone(),
            state,
            version,
        })
    }
}
