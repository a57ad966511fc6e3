//! Helpers shared by the embedded-chain tests: a chain with a float, two providers, claims
//! named by settlement index, balances.

#![allow(dead_code)] // Each test file uses its own subset.

use claims_domain::WalletAddress;
use claims_domain::payout::SettlementIndex;
use claims_settlement::embedded::{EmbeddedChainConfig, RecordedTransaction};
use claims_settlement::{
    ChainBatch, ChainClaim, EmbeddedChain, SettlementCaps, SettlementChain, TokenAmount,
};

/// One million USDC, in base units.
pub const FLOAT: u128 = 1_000_000 * USDC;

/// One USDC, in base units.
pub const USDC: u128 = 1_000_000;

pub fn launch() -> EmbeddedChain {
    launch_with_float(FLOAT)
}

pub fn launch_with_float(units: u128) -> EmbeddedChain {
    EmbeddedChain::launch(EmbeddedChainConfig::with_float(usdc(units)))
        .expect("the embedded chain launches")
}

/// A chain with a float of one million USDC and these caps, in base units.
pub fn launch_with_caps(per_claim: u128, per_day: u128) -> EmbeddedChain {
    EmbeddedChain::launch(EmbeddedChainConfig {
        float: usdc(FLOAT),
        caps: SettlementCaps {
            per_claim: usdc(per_claim),
            per_day: usdc(per_day),
        },
    })
    .expect("the embedded chain launches")
}

pub fn batch_id(label: &str) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..label.len()].copy_from_slice(label.as_bytes());
    bytes
}

pub fn clinic() -> WalletAddress {
    "0x1111111111111111111111111111111111111111"
        .parse()
        .expect("an address")
}

pub fn hospital() -> WalletAddress {
    "0x2222222222222222222222222222222222222222"
        .parse()
        .expect("an address")
}

pub fn stranger() -> WalletAddress {
    "0x3333333333333333333333333333333333333333"
        .parse()
        .expect("an address")
}

pub fn usdc(units: u128) -> TokenAmount {
    TokenAmount::from_base_units(units)
}

pub fn index(n: u64) -> SettlementIndex {
    SettlementIndex::new(n)
}

pub fn claim(n: u64, provider: WalletAddress, units: u128) -> ChainClaim {
    ChainClaim {
        index: index(n),
        provider,
        amount: usdc(units),
    }
}

pub fn batch(label: &str, claims: Vec<ChainClaim>) -> ChainBatch {
    ChainBatch::netted(batch_id(label), claims)
}

/// Four claims, two for each provider: the clinic is owed 123.45, the hospital 2500.000001.
pub fn four_claims_for_two_providers() -> ChainBatch {
    batch(
        "batch-1",
        vec![
            claim(0, clinic(), 100_000_000),
            claim(1, hospital(), 2_500_000_000),
            claim(2, clinic(), 23_450_000),
            claim(3, hospital(), 1),
        ],
    )
}

/// Balances of the clinic, the hospital and the settlement contract.
pub async fn balances(chain: &EmbeddedChain) -> (u128, u128, u128) {
    let clinic = chain.token_balance(clinic()).await.expect("a balance");
    let hospital = chain.token_balance(hospital()).await.expect("a balance");
    let contract = chain
        .token_balance(chain.settlement_address())
        .await
        .expect("a balance");
    (
        clinic.base_units(),
        hospital.base_units(),
        contract.base_units(),
    )
}

pub fn committed(chain: &EmbeddedChain) -> Vec<RecordedTransaction> {
    chain
        .transactions()
        .into_iter()
        .filter(|tx| tx.block.is_some())
        .collect()
}

pub async fn is_settled(chain: &EmbeddedChain, n: u64) -> bool {
    chain.is_claim_settled(index(n)).await.expect("an answer")
}
