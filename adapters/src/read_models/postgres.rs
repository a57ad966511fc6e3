//! The read models in the PostgreSQL database (and schema) of the production event store.
//!
//! Statements live beside this file in `postgres/*.sql`; the schema is the event store's
//! migration `0002_read_models.sql`. Amounts are `NUMERIC`: sent as their exact decimal
//! text and cast by the statement, read back cast to text.

use super::projection::Change;
use super::rows::{
    self, AdjustmentRow, BatchRow, ClaimRow, CostSharingRow, OwedRow, RemittanceRow, WithholdingRow,
};
use super::{
    AccumulatorView, CHECKPOINT, ClaimView, ReadModelError, ReadModels, Remittance, Snapshot,
};
use crate::event_store::{LogPosition, PostgresEventStore};
use async_trait::async_trait;
use chrono::SecondsFormat;
use claims_domain::ids::{ClaimId, InsurerId, MemberId, PayoutBatchId, ProviderId};
use sqlx::PgPool;
use sqlx::postgres::PgConnection;

mod statements {
    pub(super) const INSERT_CLAIM: &str = include_str!("postgres/insert_claim.sql");
    pub(super) const DECIDE_CLAIM: &str = include_str!("postgres/decide_claim.sql");
    pub(super) const INSERT_ADJUSTMENT: &str = include_str!("postgres/insert_adjustment.sql");
    pub(super) const DELETE_ADJUSTMENTS: &str = include_str!("postgres/delete_adjustments.sql");
    pub(super) const SCHEDULE_CLAIM: &str = include_str!("postgres/schedule_claim.sql");
    pub(super) const PAY_CLAIM: &str = include_str!("postgres/pay_claim.sql");
    pub(super) const INSERT_BATCH: &str = include_str!("postgres/insert_batch.sql");
    pub(super) const INSERT_REMITTANCE: &str = include_str!("postgres/insert_remittance.sql");
    pub(super) const SETTLE_BATCH: &str = include_str!("postgres/settle_batch.sql");
    pub(super) const INSERT_OWED: &str = include_str!("postgres/insert_owed.sql");
    pub(super) const SELECT_OWED: &str = include_str!("postgres/select_owed.sql");
    pub(super) const VOID_CLAIM: &str = include_str!("postgres/void_claim.sql");
    pub(super) const DELETE_COST_SHARING: &str = include_str!("postgres/delete_cost_sharing.sql");
    pub(super) const INSERT_WITHHOLDING: &str = include_str!("postgres/insert_withholding.sql");
    pub(super) const SELECT_WITHHOLDINGS: &str = include_str!("postgres/select_withholdings.sql");
    pub(super) const INSERT_COST_SHARING: &str = include_str!("postgres/insert_cost_sharing.sql");
    pub(super) const SAVE_POSITION: &str = include_str!("postgres/save_position.sql");
    pub(super) const LOAD_POSITION: &str = include_str!("postgres/load_position.sql");
    pub(super) const RESET: &str = include_str!("postgres/reset.sql");
    pub(super) const SELECT_CLAIM: &str = include_str!("postgres/select_claim.sql");
    pub(super) const SELECT_CLAIMS_OF_INSURER: &str =
        include_str!("postgres/select_claims_of_insurer.sql");
    pub(super) const SELECT_ALL_CLAIMS: &str = include_str!("postgres/select_all_claims.sql");
    pub(super) const SELECT_BATCH: &str = include_str!("postgres/select_batch.sql");
    pub(super) const SELECT_ALL_BATCHES: &str = include_str!("postgres/select_all_batches.sql");
    pub(super) const SELECT_LATEST_BATCHES: &str =
        include_str!("postgres/select_latest_batches.sql");
    pub(super) const SELECT_LATEST_BATCHES_OF_PROVIDER: &str =
        include_str!("postgres/select_latest_batches_of_provider.sql");
    pub(super) const SELECT_REMITTANCES: &str = include_str!("postgres/select_remittances.sql");
    pub(super) const SELECT_BATCH_ADJUSTMENTS: &str =
        include_str!("postgres/select_batch_adjustments.sql");
    pub(super) const SELECT_COST_SHARING: &str = include_str!("postgres/select_cost_sharing.sql");
    pub(super) const SELECT_ALL_COST_SHARING: &str =
        include_str!("postgres/select_all_cost_sharing.sql");
}

/// The read models beside a [`PostgresEventStore`], in the same database.
#[derive(Debug, Clone)]
pub struct PostgresReadModels {
    pool: PgPool,
}

impl PostgresReadModels {
    /// The read models of `store`'s database.
    pub fn of(store: &PostgresEventStore) -> Self {
        Self {
            pool: store.pool().clone(),
        }
    }
}

#[async_trait]
impl ReadModels for PostgresReadModels {
    async fn position(&self) -> Result<LogPosition, ReadModelError> {
        let stored: Option<(String, i64)> = sqlx::query_as(statements::LOAD_POSITION)
            .bind(CHECKPOINT)
            .fetch_optional(&self.pool)
            .await?;
        stored.map_or(Ok(LogPosition::START), |(transaction, sequence)| {
            position_of(transaction, sequence)
        })
    }

    async fn apply(&self, changes: &[Change], through: LogPosition) -> Result<(), ReadModelError> {
        let mut tx = self.pool.begin().await?;
        for change in changes {
            apply(&mut tx, change).await?;
        }
        sqlx::query(statements::SAVE_POSITION)
            .bind(CHECKPOINT)
            .bind(through.transaction.to_string())
            .bind(integer("position", through.sequence)?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn reset(&self) -> Result<(), ReadModelError> {
        let mut tx = self.pool.begin().await?;
        sqlx::raw_sql(statements::RESET).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn claim(&self, claim: ClaimId) -> Result<Option<ClaimView>, ReadModelError> {
        sqlx::query_as::<_, ClaimRow>(statements::SELECT_CLAIM)
            .bind(claim.to_string())
            .fetch_optional(&self.pool)
            .await?
            .map(ClaimRow::into_view)
            .transpose()
    }

    async fn claims_of_insurer(
        &self,
        insurer: &InsurerId,
        limit: u32,
    ) -> Result<Vec<ClaimView>, ReadModelError> {
        sqlx::query_as::<_, ClaimRow>(statements::SELECT_CLAIMS_OF_INSURER)
            .bind(insurer.to_string())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(ClaimRow::into_view)
            .collect()
    }

    async fn remittance(&self, batch: PayoutBatchId) -> Result<Option<Remittance>, ReadModelError> {
        let Some(row) = sqlx::query_as::<_, BatchRow>(statements::SELECT_BATCH)
            .bind(batch.to_string())
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(self.remittances_of(vec![row]).await?.pop())
    }

    async fn latest_remittances(
        &self,
        provider: Option<&ProviderId>,
        limit: u32,
    ) -> Result<Vec<Remittance>, ReadModelError> {
        let batches = match provider {
            None => {
                sqlx::query_as::<_, BatchRow>(statements::SELECT_LATEST_BATCHES)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
            Some(provider) => {
                sqlx::query_as::<_, BatchRow>(statements::SELECT_LATEST_BATCHES_OF_PROVIDER)
                    .bind(provider.to_string())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        self.remittances_of(batches).await
    }

    async fn accumulators(
        &self,
        member: &MemberId,
    ) -> Result<Vec<AccumulatorView>, ReadModelError> {
        rows::accumulators(
            sqlx::query_as::<_, CostSharingRow>(statements::SELECT_COST_SHARING)
                .bind(member.to_string())
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn snapshot(&self) -> Result<Snapshot, ReadModelError> {
        let claims = sqlx::query_as::<_, ClaimRow>(statements::SELECT_ALL_CLAIMS)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(ClaimRow::into_view)
            .collect::<Result<_, _>>()?;
        let remittances = self
            .remittances_of(
                sqlx::query_as::<_, BatchRow>(statements::SELECT_ALL_BATCHES)
                    .fetch_all(&self.pool)
                    .await?,
            )
            .await?;
        let accumulators = rows::accumulators(
            sqlx::query_as::<_, CostSharingRow>(statements::SELECT_ALL_COST_SHARING)
                .fetch_all(&self.pool)
                .await?,
        )?;
        Ok(Snapshot {
            claims,
            remittances,
            accumulators,
        })
    }
}

impl PostgresReadModels {
    /// The remittances of `batches`, in their order, each batch's rows read with the others'.
    async fn remittances_of(
        &self,
        batches: Vec<BatchRow>,
    ) -> Result<Vec<Remittance>, ReadModelError> {
        if batches.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = batches.iter().map(|batch| batch.batch_id.clone()).collect();
        let claims = sqlx::query_as::<_, RemittanceRow>(statements::SELECT_REMITTANCES)
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
        let adjustments = sqlx::query_as::<_, AdjustmentRow>(statements::SELECT_BATCH_ADJUSTMENTS)
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
        let owed = sqlx::query_as::<_, OwedRow>(statements::SELECT_OWED)
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
        let withholdings = sqlx::query_as::<_, WithholdingRow>(statements::SELECT_WITHHOLDINGS)
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
        rows::remittances(batches, claims, adjustments, owed, withholdings)
    }
}

/// Stores one change.
async fn apply(connection: &mut PgConnection, change: &Change) -> Result<(), ReadModelError> {
    match change {
        Change::ClaimReceived(claim) => {
            sqlx::query(statements::INSERT_CLAIM)
                .bind(claim.claim.to_string())
                .bind(integer("stream version", claim.version)?)
                .bind(claim.insurer.to_string())
                .bind(&claim.insurer_ref)
                .bind(claim.member.to_string())
                .bind(claim.provider.to_string())
                .bind(claim.received_on.to_string())
                .bind(claim.billed.currency().to_string())
                .bind(claim.billed.amount().to_string())
                .execute(&mut *connection)
                .await?;
        }
        Change::ClaimDecided(decided) => {
            let version = integer("stream version", decided.version)?;
            let moved = sqlx::query(statements::DECIDE_CLAIM)
                .bind(rows::status_code(decided.status))
                .bind(decided.decided_on.to_string())
                .bind(decided.payer_paid.amount().to_string())
                .bind(decided.member_responsibility.amount().to_string())
                .bind(version)
                .bind(decided.claim.to_string())
                .bind(version)
                .execute(&mut *connection)
                .await?;
            // A claim decided again (a review, an appeal) keeps only its latest decision's
            // adjustments; an older decision seen again (a replayed page) changes nothing.
            if moved.rows_affected() == 0 {
                return Ok(());
            }
            sqlx::query(statements::DELETE_ADJUSTMENTS)
                .bind(decided.claim.to_string())
                .execute(&mut *connection)
                .await?;
            for line in &decided.adjustments {
                sqlx::query(statements::INSERT_ADJUSTMENT)
                    .bind(decided.claim.to_string())
                    .bind(i64::from(line.line))
                    .bind(i64::from(line.sequence))
                    .bind(rows::group_code(line.adjustment.group))
                    .bind(i64::from(line.adjustment.reason.code()))
                    .bind(line.adjustment.amount.currency().to_string())
                    .bind(line.adjustment.amount.amount().to_string())
                    .execute(&mut *connection)
                    .await?;
            }
        }
        Change::ClaimScheduled {
            claim,
            version,
            batch,
            withheld,
        } => {
            let version = integer("stream version", *version)?;
            sqlx::query(statements::SCHEDULE_CLAIM)
                .bind(batch.to_string())
                .bind(version)
                .bind(claim.to_string())
                .bind(version)
                .execute(&mut *connection)
                .await?;
            for withholding in withheld {
                sqlx::query(statements::INSERT_WITHHOLDING)
                    .bind(batch.to_string())
                    .bind(claim.to_string())
                    .bind(withholding.recouped_claim.to_string())
                    .bind(withholding.amount.currency().to_string())
                    .bind(withholding.amount.amount().to_string())
                    .execute(&mut *connection)
                    .await?;
            }
        }
        Change::ClaimVoided {
            claim,
            version,
            status,
        } => {
            let version = integer("stream version", *version)?;
            sqlx::query(statements::VOID_CLAIM)
                .bind(rows::status_code(*status))
                .bind(version)
                .bind(claim.to_string())
                .bind(version)
                .execute(&mut *connection)
                .await?;
        }
        Change::CostSharingReversed {
            member,
            year,
            claim,
        } => {
            sqlx::query(statements::DELETE_COST_SHARING)
                .bind(member.to_string())
                .bind(i64::from(*year))
                .bind(claim.to_string())
                .execute(&mut *connection)
                .await?;
        }
        Change::ClaimPaid {
            claim,
            version,
            transaction,
        } => {
            let version = integer("stream version", *version)?;
            sqlx::query(statements::PAY_CLAIM)
                .bind(transaction.to_string())
                .bind(version)
                .bind(claim.to_string())
                .bind(version)
                .execute(&mut *connection)
                .await?;
        }
        Change::BatchOpened {
            batch,
            created_at,
            payouts,
        } => {
            sqlx::query(statements::INSERT_BATCH)
                .bind(batch.to_string())
                .bind(created_at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
                .execute(&mut *connection)
                .await?;
            for payout in payouts {
                sqlx::query(statements::INSERT_REMITTANCE)
                    .bind(batch.to_string())
                    .bind(payout.claim.to_string())
                    .bind(payout.provider.to_string())
                    .bind(payout.wallet.to_string())
                    .bind(payout.amount.currency().to_string())
                    .bind(payout.amount.amount().to_string())
                    .execute(&mut *connection)
                    .await?;
            }
        }
        Change::BatchOwed { batch, owed } => {
            for (wallet, amount) in owed {
                sqlx::query(statements::INSERT_OWED)
                    .bind(batch.to_string())
                    .bind(wallet.to_string())
                    .bind(amount.currency().to_string())
                    .bind(amount.amount().to_string())
                    .execute(&mut *connection)
                    .await?;
            }
        }
        Change::BatchSettled {
            batch,
            transaction,
            block,
        } => {
            sqlx::query(statements::SETTLE_BATCH)
                .bind(transaction.to_string())
                .bind(integer("block", *block)?)
                .bind(batch.to_string())
                .execute(&mut *connection)
                .await?;
        }
        Change::CostShared {
            member,
            year,
            claim,
            deductible,
            out_of_pocket,
        } => {
            sqlx::query(statements::INSERT_COST_SHARING)
                .bind(member.to_string())
                .bind(i64::from(*year))
                .bind(claim.to_string())
                .bind(deductible.currency().to_string())
                .bind(deductible.amount().to_string())
                .bind(out_of_pocket.amount().to_string())
                .execute(&mut *connection)
                .await?;
        }
    }
    Ok(())
}

fn integer(what: &str, value: u64) -> Result<i64, ReadModelError> {
    i64::try_from(value).map_err(|_| ReadModelError::Corrupt {
        row: what.to_owned(),
        reason: format!("{value} does not fit a 64-bit integer"),
    })
}

fn position_of(transaction: String, sequence: i64) -> Result<LogPosition, ReadModelError> {
    match (transaction.parse::<u64>(), u64::try_from(sequence)) {
        (Ok(transaction), Ok(sequence)) => Ok(LogPosition {
            transaction,
            sequence,
        }),
        _ => Err(ReadModelError::Corrupt {
            row: format!("checkpoints {CHECKPOINT}"),
            reason: format!("{transaction}/{sequence} is not a log position"),
        }),
    }
}
