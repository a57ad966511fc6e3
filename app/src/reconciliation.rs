//! Reconciliation as an operator runs it: `claims reconcile` once, or a background job
//! beside the settler that reconciles every interval and logs what it finds.

use crate::shutdown::Shutdown;
use anyhow::Context;
use claims_adapters::event_store::EventStore;
use claims_domain::WalletAddress;
use claims_settlement::SettlementChain;
use claims_settlement::json_rpc::endpoint::RpcEndpoint;
use claims_settlement::json_rpc::read_settlement_logs;
use claims_settlement::reconcile::{ReconciliationReport, reconcile, reconcile_logs};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};

/// Reconciles the store with the contract at `settlement` on the node at `rpc_url`
/// (trusting `ca_file`'s certificates for HTTPS besides the platform's roots), from the
/// contract's deployment block. Reading logs needs no key.
pub async fn against_rpc(
    store: &dyn EventStore,
    rpc_url: &str,
    ca_file: Option<&Path>,
    settlement: WalletAddress,
    from_block: u64,
) -> anyhow::Result<ReconciliationReport> {
    let endpoint = RpcEndpoint::new(rpc_url, ca_file)?;
    let provider = endpoint.provider()?;
    // The origin only: the URL's path may hold the node provider's API key.
    let logs = read_settlement_logs(&provider, settlement, from_block)
        .await
        .with_context(|| {
            format!(
                "reading the logs of {settlement} from {}",
                endpoint.origin()
            )
        })?;
    reconcile_logs(store, &logs)
        .await
        .context("reading the event store")
}

/// Reconciles every `interval` until shutdown, logging a warning per discrepancy; the
/// settler runs it beside its own loop.
pub async fn run_periodically(
    store: Arc<dyn EventStore>,
    chain: Arc<dyn SettlementChain>,
    interval: Duration,
    mut shutdown: Shutdown,
) {
    loop {
        match reconcile(store.as_ref(), chain.as_ref()).await {
            Ok(report) if report.is_clean() => {
                info!(
                    logs = report.logs_read,
                    paid = report.claims_paid,
                    "reconciliation clean"
                )
            }
            Ok(report) => {
                warn!(discrepancies = report.discrepancies(), report = %render(&report), "reconciliation found discrepancies")
            }
            Err(failure) => error!(error = %failure, "reconciliation could not run"),
        }
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// The report in words, one discrepancy per line.
pub fn render(report: &ReconciliationReport) -> String {
    let mut text = format!(
        "{} settled claims read from BatchSettled logs, {} claims recorded as paid, {} discrepancies\n",
        report.logs_read,
        report.claims_paid,
        report.discrepancies()
    );
    for twice in &report.paid_twice {
        let claim = twice.claim.map_or_else(
            || "an index the store never gave out".to_owned(),
            |c| format!("claim {c}"),
        );
        let indices: Vec<String> = twice.indices.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            text,
            "PAID TWICE: {claim}, settlement indices {}",
            indices.join(", ")
        );
    }
    for unrecorded in &report.paid_not_recorded {
        match unrecorded.claim {
            Some((claim, batch)) => {
                let _ = writeln!(
                    text,
                    "PAID, NOT RECORDED: index {} (claim {claim}, batch {batch}); resume the batch to record it",
                    unrecorded.index
                );
            }
            None => {
                let _ = writeln!(
                    text,
                    "PAID, NOT RECORDED: index {} was never given out by this event store",
                    unrecorded.index
                );
            }
        }
    }
    for claim in &report.recorded_not_on_chain {
        let _ = writeln!(
            text,
            "RECORDED, NOT ON CHAIN: claim {claim} (a reorg deeper than the confirmations?)"
        );
    }
    for claim in &report.approved_never_paid {
        let _ = writeln!(text, "APPROVED, NOT PAID: claim {claim}");
    }
    text
}
