//! `claims bench gas`: gas per claim of the `ClaimsSettlement` contract on the embedded EVM
//! (issue 5, item 7).
//!
//! Every case runs on a fresh embedded chain, so cases do not warm each other's storage:
//!
//! - **netted**: one `settleBatch` of `batch` claims, `per_provider` claims per provider
//!   (so `batch / per_provider` providers and as many token transfers);
//! - **naive**: the same claims, one transaction each (a one-claim batch per claim), the
//!   design the netted batch replaces.
//!
//! Holders are **new** (the provider has never held the token, so its balance slot is
//! written from zero) or **existing** (paid once before, by a warm-up batch whose
//! settlement indices lie in another bitmap word and on an earlier day, so that only the
//! providers' balances are warm). Gas is the transaction's `gasUsed` as revm reports it
//! under the Osaka rules (21 000 base, calldata with the EIP-7623 floor, execution), which
//! is deterministic: one run is the figure.
//!
//! Each provider's claims get consecutive settlement indices, as the settlement service
//! assigns them, so a provider is one run of the packed payouts.

use chrono::{NaiveDate, Utc};
use claims_domain::WalletAddress;
use claims_domain::payout::SettlementIndex;
use claims_settlement::embedded::EmbeddedChainConfig;
use claims_settlement::{
    ChainBatch, ChainClaim, EmbeddedChain, SettlementCaps, SettlementChain, TokenAmount,
};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;
use std::time::Duration;

/// Batch sizes measured.
pub const BATCH_SIZES: [u64; 4] = [1, 10, 50, 200];
/// Claims per provider measured (only those that fit in the batch).
pub const CLAIMS_PER_PROVIDER: [u64; 3] = [1, 10, 50];

/// One USDC in base units; every claim pays 12.34 USDC.
const CLAIM_UNITS: u128 = 12_340_000;
/// Warm-up indices start in a bitmap word no measured claim uses.
const WARM_UP_INDEX: u64 = 1 << 32;

/// How the claims were sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Design {
    /// One batch, netted per provider.
    Netted,
    /// One transaction per claim.
    Naive,
}

/// Whether the providers held the token before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Holders {
    /// Never held it.
    New,
    /// Paid once before.
    Existing,
}

/// One measured case.
#[derive(Debug, Clone, Serialize)]
pub struct GasCase {
    /// Netted or naive.
    pub design: Design,
    /// New or existing holders.
    pub holders: Holders,
    /// Claims in the case.
    pub batch: u64,
    /// Claims per provider.
    pub per_provider: u64,
    /// Providers (token transfers in a netted batch).
    pub providers: u64,
    /// Transactions sent.
    pub transactions: u64,
    /// Gas of all of them.
    pub gas_total: u64,
    /// `gas_total / batch`, rounded down.
    pub gas_per_claim: u64,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct GasBenchReport {
    /// The day of the run (UTC).
    pub date: NaiveDate,
    /// Every case, in the order run.
    pub cases: Vec<GasCase>,
}

impl GasBenchReport {
    /// The case for these parameters, if measured.
    pub fn case(
        &self,
        design: Design,
        holders: Holders,
        batch: u64,
        per_provider: u64,
    ) -> Option<&GasCase> {
        self.cases.iter().find(|case| {
            case.design == design
                && case.holders == holders
                && case.batch == batch
                && case.per_provider == per_provider
        })
    }

    /// The one JSON line the command ends with: the headline figures first (200 claims, 10
    /// per provider: `gas_per_claim` and `naive_gas_per_claim` for existing holders, the
    /// issue's goal, then the netted figure for new holders), then everything.
    pub fn json_line(&self) -> anyhow::Result<String> {
        #[derive(Serialize)]
        struct Line<'a> {
            benchmark: &'static str,
            gas_per_claim: Option<u64>,
            naive_gas_per_claim: Option<u64>,
            new_holders_gas_per_claim: Option<u64>,
            #[serde(flatten)]
            report: &'a GasBenchReport,
        }
        let per_claim = |design, holders| {
            self.case(design, holders, 200, 10)
                .map(|case| case.gas_per_claim)
        };
        Ok(serde_json::to_string(&Line {
            benchmark: "gas",
            gas_per_claim: per_claim(Design::Netted, Holders::Existing),
            naive_gas_per_claim: per_claim(Design::Naive, Holders::Existing),
            new_holders_gas_per_claim: per_claim(Design::Netted, Holders::New),
            report: self,
        })?)
    }
}

/// Runs every case.
pub async fn run() -> anyhow::Result<GasBenchReport> {
    let mut cases = Vec::new();
    for batch in BATCH_SIZES {
        for per_provider in CLAIMS_PER_PROVIDER
            .into_iter()
            .filter(|&per_provider| per_provider <= batch)
        {
            for holders in [Holders::New, Holders::Existing] {
                for design in [Design::Netted, Design::Naive] {
                    cases.push(measure(design, holders, batch, per_provider).await?);
                }
            }
        }
    }
    Ok(GasBenchReport {
        date: Utc::now().date_naive(),
        cases,
    })
}

async fn measure(
    design: Design,
    holders: Holders,
    batch: u64,
    per_provider: u64,
) -> anyhow::Result<GasCase> {
    let chain = EmbeddedChain::launch(EmbeddedChainConfig {
        float: TokenAmount::from_base_units(u128::from(u64::MAX)),
        caps: SettlementCaps {
            per_claim: TokenAmount::from_base_units(u128::from(u64::MAX)),
            per_day: TokenAmount::from_base_units(u128::from(u64::MAX)),
        },
    })?;
    let providers = batch.div_ceil(per_provider);
    let claims: Vec<ChainClaim> = (0..batch)
        .map(|n| claim(n, provider(n / per_provider)))
        .collect();
    if holders == Holders::Existing {
        let warm_up = (0..providers).map(|p| claim(WARM_UP_INDEX + p, provider(p)));
        chain
            .settle_batch(&ChainBatch::netted(batch_id(u64::MAX), warm_up))
            .await?;
        // A new day, so that the daily total's slot is as cold as in the new-holder case.
        chain.advance_time(Duration::from_secs(86_400))?;
    }
    let mut gas_total = 0;
    let transactions = match design {
        Design::Netted => {
            gas_total += chain
                .settle_batch(&ChainBatch::netted(batch_id(0), claims))
                .await?
                .gas_used;
            1
        }
        Design::Naive => {
            for (n, claim) in (0u64..).zip(claims) {
                gas_total += chain
                    .settle_batch(&ChainBatch::netted(batch_id(n), [claim]))
                    .await?
                    .gas_used;
            }
            batch
        }
    };
    Ok(GasCase {
        design,
        holders,
        batch,
        per_provider,
        providers,
        transactions,
        gas_total,
        gas_per_claim: gas_total / batch,
    })
}

fn claim(index: u64, provider: WalletAddress) -> ChainClaim {
    ChainClaim {
        index: SettlementIndex::new(index),
        provider,
        amount: TokenAmount::from_base_units(CLAIM_UNITS),
    }
}

/// Provider `n`'s wallet: distinct, never zero, never one of the chain's own accounts.
fn provider(n: u64) -> WalletAddress {
    let mut bytes = [0u8; 20];
    bytes[0] = 0xaa;
    bytes[12..].copy_from_slice(&(n + 1).to_be_bytes());
    WalletAddress::from_bytes(bytes)
}

fn batch_id(n: u64) -> [u8; 32] {
    let mut id = [0u8; 32];
    id[0] = 0xba;
    id[24..].copy_from_slice(&n.to_be_bytes());
    id
}

/// The report as a table for people.
pub fn render(report: &GasBenchReport) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "claims",
        "per provider",
        "providers",
        "holders",
        "netted gas/claim",
        "naive gas/claim",
        "naive/netted",
    ]);
    for case in report
        .cases
        .iter()
        .filter(|case| case.design == Design::Netted)
    {
        let naive = report.case(Design::Naive, case.holders, case.batch, case.per_provider);
        table.add_row([
            case.batch.to_string(),
            case.per_provider.to_string(),
            case.providers.to_string(),
            match case.holders {
                Holders::New => "new".to_owned(),
                Holders::Existing => "existing".to_owned(),
            },
            case.gas_per_claim.to_string(),
            naive.map_or_else(String::new, |naive| naive.gas_per_claim.to_string()),
            naive
                .filter(|_| case.gas_per_claim > 0)
                .map_or_else(String::new, |naive| {
                    // In tenths, with integers: the lints forbid float arithmetic.
                    let tenths = naive.gas_per_claim * 10 / case.gas_per_claim;
                    format!("{}.{}x", tenths / 10, tenths % 10)
                }),
        ]);
    }
    format!(
        "Gas per claim of ClaimsSettlement on the embedded EVM (revm, Osaka rules), {}\n{table}\n",
        report.date
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn netting_ten_claims_per_provider_is_cheaper_per_claim_than_one_transaction_each() {
        let netted = measure(Design::Netted, Holders::New, 10, 10)
            .await
            .expect("measured");
        let naive = measure(Design::Naive, Holders::New, 10, 10)
            .await
            .expect("measured");

        assert_eq!((netted.transactions, naive.transactions), (1, 10));
        assert_eq!(netted.providers, 1);
        assert!(
            netted.gas_per_claim * 5 < naive.gas_per_claim,
            "netted {} vs naive {}",
            netted.gas_per_claim,
            naive.gas_per_claim
        );
    }

    #[tokio::test]
    async fn an_existing_holder_costs_less_than_a_new_one() {
        let new = measure(Design::Netted, Holders::New, 10, 1)
            .await
            .expect("measured");
        let existing = measure(Design::Netted, Holders::Existing, 10, 1)
            .await
            .expect("measured");

        assert!(
            existing.gas_per_claim < new.gas_per_claim,
            "existing {} vs new {}",
            existing.gas_per_claim,
            new.gas_per_claim
        );
    }
}
