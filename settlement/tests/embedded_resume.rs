//! A crash between the embedded chain settling a batch and the service recording it: the
//! batch stays open, reconciliation sees it paid but not recorded, and resuming it records
//! the receipt read from the contract's `BatchSettled` log, paying nothing a second time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A failed unwrap is a failed test.

#[path = "anvil_support/claims.rs"]
mod approved;

use async_trait::async_trait;
use chrono::Utc;
use claims_adapters::aggregate::{load, streams};
use claims_adapters::event_store::{EventStore, SqliteEventStore};
use claims_domain::claim::{ClaimDecider, ClaimStatus};
use claims_domain::payout::SettlementIndex;
use claims_domain::{Currency, WalletAddress};
use claims_settlement::embedded::EmbeddedChainConfig;
use claims_settlement::reconcile::reconcile;
use claims_settlement::service::{SettlementError, SettlementService, TokenDenomination};
use claims_settlement::{
    BatchReceipt, ChainBatch, ChainError, EmbeddedChain, SettlementChain, SettlementLog,
    TokenAmount, TokenInfo,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The embedded chain, except that the first batch it settles is lost on the way back, as
/// if the engine crashed after sending it.
struct LosesFirstReceipt {
    chain: Arc<EmbeddedChain>,
    lost: AtomicBool,
}

#[async_trait]
impl SettlementChain for LosesFirstReceipt {
    fn token(&self) -> &TokenInfo {
        self.chain.token()
    }

    fn contract(&self) -> WalletAddress {
        self.chain.contract()
    }

    async fn settle_batch(&self, batch: &ChainBatch) -> Result<BatchReceipt, ChainError> {
        let receipt = self.chain.settle_batch(batch).await?;
        if self.lost.swap(true, Ordering::SeqCst) {
            Ok(receipt)
        } else {
            Err(ChainError::Unavailable("the connection dropped".to_owned()))
        }
    }

    async fn head(&self) -> Result<u64, ChainError> {
        self.chain.head().await
    }

    async fn is_claim_settled(&self, index: SettlementIndex) -> Result<bool, ChainError> {
        self.chain.is_claim_settled(index).await
    }

    async fn owed(&self, provider: WalletAddress) -> Result<TokenAmount, ChainError> {
        self.chain.owed(provider).await
    }

    async fn token_balance(&self, wallet: WalletAddress) -> Result<TokenAmount, ChainError> {
        self.chain.token_balance(wallet).await
    }

    async fn settlement_logs(&self) -> Result<Vec<SettlementLog>, ChainError> {
        self.chain.settlement_logs().await
    }
}

#[tokio::test]
async fn a_batch_settled_but_never_recorded_is_recorded_from_the_logs_on_resume() {
    let embedded = Arc::new(
        EmbeddedChain::launch(EmbeddedChainConfig::with_float(
            TokenAmount::from_base_units(1_000_000_000_000),
        ))
        .unwrap(),
    );
    let chain = Arc::new(LosesFirstReceipt {
        chain: embedded.clone(),
        lost: AtomicBool::new(false),
    });
    let store: Arc<dyn EventStore> = Arc::new(SqliteEventStore::in_memory().await.unwrap());
    let clinic = approved::provider("clinic-1", "Clinic", WalletAddress::from_bytes([0xc1; 20]));
    let hospital = approved::provider(
        "hospital-1",
        "Hospital",
        WalletAddress::from_bytes([0xd2; 20]),
    );
    approved::register(store.as_ref(), &clinic).await;
    approved::register(store.as_ref(), &hospital).await;
    let mut claims = Vec::new();
    let mut owed = [0u128; 2];
    for (n, (provider, billed)) in [
        (&clinic, "400.00"),
        (&hospital, "250.00"),
        (&clinic, "90.00"),
    ]
    .into_iter()
    .enumerate()
    {
        let (claim, units) =
            approved::approve(store.as_ref(), provider, &format!("CLAIM-{n}"), billed).await;
        claims.push(claim);
        owed[usize::from(provider.id == hospital.id)] += units;
    }
    let service = SettlementService::new(
        store.clone(),
        chain.clone(),
        TokenDenomination(Currency::USD),
    );

    let lost = service.settle(&claims, Utc::now()).await;

    assert!(
        matches!(
            lost,
            Err(SettlementError::Chain {
                source: ChainError::Unavailable(_),
                ..
            })
        ),
        "{lost:?}"
    );
    let open = service.unsettled_batches().await.unwrap();
    assert_eq!(open.len(), 1, "the batch stays open");
    let gap = reconcile(store.as_ref(), embedded.as_ref()).await.unwrap();
    assert_eq!(gap.paid_not_recorded.len(), claims.len(), "{gap:?}");
    let sent = embedded.transactions().len();

    let resumed = service
        .resume(open[0])
        .await
        .unwrap()
        .expect("recorded from the logs");

    assert_eq!(resumed.claims.len(), claims.len());
    let resend = embedded.transactions();
    assert_eq!(resend.len(), sent + 1, "one simulation, refused");
    assert_eq!(
        resend.last().unwrap().block,
        None,
        "nothing sent to a block"
    );
    for claim in &claims {
        let status = load::<ClaimDecider>(store.as_ref(), streams::claim(*claim))
            .await
            .unwrap()
            .state
            .status;
        assert_eq!(status, Some(ClaimStatus::Paid));
    }
    assert!(service.unsettled_batches().await.unwrap().is_empty());
    assert_eq!(
        embedded.token_balance(clinic.wallet).await.unwrap(),
        TokenAmount::from_base_units(owed[0])
    );
    assert_eq!(
        embedded.token_balance(hospital.wallet).await.unwrap(),
        TokenAmount::from_base_units(owed[1])
    );
    let report = reconcile(store.as_ref(), embedded.as_ref()).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
}
