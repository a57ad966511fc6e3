//! The submitter's transaction ledger, in the event store: every nonce the settler key has
//! used and every transaction signed with it, kept before anything is broadcast.
//!
//! One stream per signing key and chain, `chaintx-<chain id>-<address>`. Signing a new
//! transaction takes the ledger's next nonce and is appended expecting the version read,
//! so two submitters sharing a key (a second process, a restarted one) conflict instead of
//! both using one nonce. The raw signed bytes are stored so that a transaction dropped by
//! the node or reorged out of the chain is broadcast again, byte for byte, after a crash as
//! well as before; a replacement for a stuck transaction is one more signed transaction for
//! the same nonce, and any of them may be the one the chain includes.

use crate::json_rpc::fees::{FeeBumpError, Fees};
use claims_adapters::aggregate::StoredAggregate;
use claims_adapters::event_store::StreamId;
use claims_domain::{Decider, TransactionHash, WalletAddress};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One signed transaction, as stored before its broadcast.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTransaction {
    /// The signing key's nonce it uses.
    pub nonce: u64,
    /// Its hash (of the signed bytes).
    pub hash: TransactionHash,
    /// The on-chain batch id it settles, `0x`-prefixed hex.
    pub batch: String,
    /// Its fee fields.
    pub fees: Fees,
    /// The signed EIP-2718 bytes, `0x`-prefixed hex: what is broadcast, again if need be.
    pub raw: String,
}

impl std::fmt::Debug for SignedTransaction {
    // The raw bytes are long and say nothing a reader of logs needs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedTransaction")
            .field("nonce", &self.nonce)
            .field("hash", &self.hash)
            .field("batch", &self.batch)
            .field("fees", &self.fees)
            .finish_non_exhaustive()
    }
}

/// What happened to the key's transactions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SubmissionEvent {
    /// A transaction was signed for the next nonce (stored before it is broadcast).
    TransactionSigned {
        /// The transaction.
        transaction: SignedTransaction,
    },
    /// A stuck transaction's nonce was signed again with higher fees.
    TransactionReplaced {
        /// The replacement.
        transaction: SignedTransaction,
        /// The transaction it replaces.
        replaces: TransactionHash,
    },
    /// One of a nonce's transactions was included and is as deep as the submitter waits
    /// for: the nonce is spent.
    TransactionConfirmed {
        /// The nonce.
        nonce: u64,
        /// The transaction the chain included.
        hash: TransactionHash,
        /// Its block.
        block: u64,
        /// False if it reverted (the nonce is spent all the same).
        succeeded: bool,
    },
}

impl SubmissionEvent {
    /// The stored type name.
    pub fn event_type(&self) -> &'static str {
        match self {
            SubmissionEvent::TransactionSigned { .. } => "TransactionSigned",
            SubmissionEvent::TransactionReplaced { .. } => "TransactionReplaced",
            SubmissionEvent::TransactionConfirmed { .. } => "TransactionConfirmed",
        }
    }
}

/// A confirmed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmed {
    /// The nonce.
    pub nonce: u64,
    /// The transaction.
    pub hash: TransactionHash,
    /// Its block.
    pub block: u64,
    /// False if it reverted.
    pub succeeded: bool,
}

/// The ledger's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmissionState {
    /// The nonce the next new transaction takes.
    pub next_nonce: u64,
    /// Nonces signed but not confirmed, each with every transaction signed for it, the
    /// latest last.
    pub open: BTreeMap<u64, Vec<SignedTransaction>>,
    /// Confirmed transactions by the batch they settle (a batch whose transaction
    /// reverted may have several, one per attempt).
    pub confirmed: BTreeMap<String, Vec<Confirmed>>,
}

impl SubmissionState {
    /// The open nonce whose transactions settle `batch`, if any.
    pub fn open_for(&self, batch: &str) -> Option<(u64, &[SignedTransaction])> {
        self.open
            .iter()
            .find(|(_, attempts)| attempts.iter().any(|tx| tx.batch == batch))
            .map(|(nonce, attempts)| (*nonce, attempts.as_slice()))
    }

    /// The confirmed, successful transaction that settled `batch`, if any.
    pub fn settled(&self, batch: &str) -> Option<&Confirmed> {
        self.confirmed
            .get(batch)
            .and_then(|all| all.iter().find(|confirmed| confirmed.succeeded))
    }
}

/// What the submitter asks of the ledger.
#[derive(Debug, Clone)]
pub enum SubmissionCommand {
    /// Record a transaction signed for the next nonce.
    Sign(SignedTransaction),
    /// Record a replacement for an open nonce; its fees must clear the bump rule.
    Replace(SignedTransaction),
    /// Record which of a nonce's transactions the chain included.
    Confirm {
        /// The nonce.
        nonce: u64,
        /// The included transaction.
        hash: TransactionHash,
        /// Its block.
        block: u64,
        /// Whether it succeeded.
        succeeded: bool,
    },
}

/// Why the ledger refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmissionError {
    /// A new transaction must take the next nonce.
    #[error("nonce {given} is not the key's next nonce {next}")]
    WrongNonce {
        /// The nonce given.
        given: u64,
        /// The next nonce.
        next: u64,
    },
    /// Only an open nonce can be replaced.
    #[error("nonce {0} has no open transaction to replace")]
    NothingToReplace(u64),
    /// The replacement's fees are too low for nodes to accept it.
    #[error(transparent)]
    Underpriced(#[from] FeeBumpError),
    /// The confirmed transaction was never signed for that nonce.
    #[error("transaction {hash} was never signed for nonce {nonce}")]
    UnknownTransaction {
        /// The nonce.
        nonce: u64,
        /// The transaction.
        hash: TransactionHash,
    },
}

/// The decider of a signing key's ledger.
pub struct SubmissionDecider;

impl Decider for SubmissionDecider {
    type State = SubmissionState;
    type Command = SubmissionCommand;
    type Event = SubmissionEvent;
    type Error = SubmissionError;

    fn decide(
        state: &SubmissionState,
        command: SubmissionCommand,
    ) -> Result<Vec<SubmissionEvent>, SubmissionError> {
        match command {
            SubmissionCommand::Sign(transaction) => {
                if transaction.nonce != state.next_nonce {
                    return Err(SubmissionError::WrongNonce {
                        given: transaction.nonce,
                        next: state.next_nonce,
                    });
                }
                Ok(vec![SubmissionEvent::TransactionSigned { transaction }])
            }
            SubmissionCommand::Replace(transaction) => {
                let latest = state
                    .open
                    .get(&transaction.nonce)
                    .and_then(|attempts| attempts.last())
                    .ok_or(SubmissionError::NothingToReplace(transaction.nonce))?;
                latest.fees.check_replacement(&transaction.fees)?;
                Ok(vec![SubmissionEvent::TransactionReplaced {
                    replaces: latest.hash,
                    transaction,
                }])
            }
            SubmissionCommand::Confirm {
                nonce,
                hash,
                block,
                succeeded,
            } => {
                let Some(attempts) = state.open.get(&nonce) else {
                    // Already confirmed: nothing to do.
                    return Ok(vec![]);
                };
                if !attempts.iter().any(|tx| tx.hash == hash) {
                    return Err(SubmissionError::UnknownTransaction { nonce, hash });
                }
                Ok(vec![SubmissionEvent::TransactionConfirmed {
                    nonce,
                    hash,
                    block,
                    succeeded,
                }])
            }
        }
    }

    fn evolve(mut state: SubmissionState, event: &SubmissionEvent) -> SubmissionState {
        match event {
            SubmissionEvent::TransactionSigned { transaction } => {
                state.next_nonce = state.next_nonce.max(transaction.nonce + 1);
                state
                    .open
                    .entry(transaction.nonce)
                    .or_default()
                    .push(transaction.clone());
            }
            SubmissionEvent::TransactionReplaced { transaction, .. } => {
                state
                    .open
                    .entry(transaction.nonce)
                    .or_default()
                    .push(transaction.clone());
            }
            SubmissionEvent::TransactionConfirmed {
                nonce,
                hash,
                block,
                succeeded,
            } => {
                if let Some(attempts) = state.open.remove(nonce)
                    && let Some(included) = attempts.iter().find(|tx| tx.hash == *hash)
                {
                    state
                        .confirmed
                        .entry(included.batch.clone())
                        .or_default()
                        .push(Confirmed {
                            nonce: *nonce,
                            hash: *hash,
                            block: *block,
                            succeeded: *succeeded,
                        });
                }
            }
        }
        state
    }
}

impl StoredAggregate for SubmissionDecider {
    // No dash: the category is the part of a stream id before the first one.
    const CATEGORY: &'static str = "chaintx";

    fn event_type(event: &SubmissionEvent) -> &'static str {
        event.event_type()
    }
}

/// The ledger's stream for a signing key on a chain.
pub fn stream(chain_id: u64, signer: WalletAddress) -> StreamId {
    let hex: String = signer
        .as_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    StreamId::new(SubmissionDecider::CATEGORY, format!("{chain_id}-0x{hex}"))
}
