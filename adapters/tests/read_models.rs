//! The read models' storage, on SQLite and on PostgreSQL: what is stored reads back
//! exactly (money to the last digit), changes are idempotent, a claim's row only moves
//! forward, and a rebuild starts from nothing.

#![allow(
    clippy::unwrap_used,
    reason = "tests: an unexpected error should fail them loudly"
)]

mod pg_support;

use chrono::{NaiveDate, TimeZone, Utc};
use claims_adapters::event_store::{LogPosition, PostgresEventStore, SqliteEventStore};
use claims_adapters::read_models::projection::{
    Change, DecidedClaim, LineAdjustment, ReceivedClaim, RemittedClaim,
};
use claims_adapters::read_models::{PostgresReadModels, ReadModels, SqliteReadModels};
use claims_domain::claim::ClaimStatus;
use claims_domain::provider_ledger::Withholding;
use claims_domain::reason::{Adjustment, GroupCode, ReasonCode};
use claims_domain::{
    ClaimId, InsurerId, MemberId, Money, PayoutBatchId, ProviderId, TransactionHash, WalletAddress,
};
use pg_support::TestSchema;
use uuid::Uuid;

#[tokio::test]
async fn sqlite_read_models_keep_what_they_are_given() {
    let store = SqliteEventStore::in_memory().await.unwrap();
    keep_what_they_are_given(&SqliteReadModels::of(&store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_read_models_keep_what_they_are_given() {
    let schema = TestSchema::new().await;
    let store: PostgresEventStore = schema.store().await;
    keep_what_they_are_given(&PostgresReadModels::of(&store)).await;
    store.close().await;
}

async fn keep_what_they_are_given(models: &dyn ReadModels) {
    let insurer = InsurerId::new("acme-health").unwrap();
    let member = MemberId::new("M-1001").unwrap();
    let provider = ProviderId::new("clinic-a").unwrap();
    let wallet: WalletAddress = "0xde709f2102306220921060314715629080e2fb77"
        .parse()
        .unwrap();
    let older = ClaimId::from_uuid(Uuid::from_u128(1));
    let newer = ClaimId::from_uuid(Uuid::from_u128(2));
    let batch = PayoutBatchId::from_uuid(Uuid::from_u128(3));
    let recouped = ClaimId::from_uuid(Uuid::from_u128(4));
    let transaction = TransactionHash::from_bytes([7; 32]);

    let received = |claim, day, reference: &str| {
        Change::ClaimReceived(ReceivedClaim {
            claim,
            version: 1,
            insurer: insurer.clone(),
            insurer_ref: reference.to_owned(),
            member: member.clone(),
            provider: provider.clone(),
            received_on: NaiveDate::from_ymd_opt(2026, 3, day).unwrap(),
            // More digits than cents: stored and read back as written.
            billed: money("1234.5678 USD"),
        })
    };
    let decided = Change::ClaimDecided(DecidedClaim {
        claim: older,
        version: 2,
        status: ClaimStatus::Approved,
        decided_on: NaiveDate::from_ymd_opt(2026, 3, 10).unwrap(),
        payer_paid: money("984.5678 USD"),
        member_responsibility: money("250.00 USD"),
        adjustments: vec![LineAdjustment {
            line: 1,
            sequence: 1,
            adjustment: Adjustment {
                group: GroupCode::PR,
                reason: ReasonCode::Deductible,
                amount: money("250.00 USD"),
            },
        }],
    });
    let changes = vec![
        received(older, 1, "ACME-1"),
        received(newer, 2, "ACME-2"),
        decided.clone(),
        Change::ClaimScheduled {
            claim: older,
            version: 3,
            batch,
            withheld: vec![Withholding {
                recouped_claim: recouped,
                amount: money("15.4322 USD"),
            }],
        },
        Change::BatchOpened {
            batch,
            created_at: Utc.with_ymd_and_hms(2026, 3, 11, 9, 30, 0).unwrap(),
            payouts: vec![RemittedClaim {
                claim: older,
                provider: provider.clone(),
                wallet,
                amount: money("984.5678 USD"),
            }],
        },
        Change::BatchOwed {
            batch,
            owed: vec![(wallet, money("984.5678 USD"))],
        },
        Change::BatchSettled {
            batch,
            transaction,
            block: 42,
        },
        Change::ClaimPaid {
            claim: older,
            version: 4,
            transaction,
        },
        Change::CostShared {
            member: member.clone(),
            year: 2026,
            claim: older,
            deductible: money("250.00 USD"),
            out_of_pocket: money("250.00 USD"),
        },
        Change::CostShared {
            member: member.clone(),
            year: 2026,
            claim: newer,
            deductible: money("0.00 USD"),
            out_of_pocket: money("30.50 USD"),
        },
        // The newer claim is voided: its row says so and its cost sharing is given back.
        Change::ClaimVoided {
            claim: newer,
            version: 2,
            status: ClaimStatus::Voided,
        },
        Change::CostSharingReversed {
            member: member.clone(),
            year: 2026,
            claim: newer,
        },
    ];
    let through = LogPosition {
        transaction: 9,
        sequence: 9,
    };
    models.apply(&changes, through).await.unwrap();
    assert_eq!(models.position().await.unwrap(), through);
    let first = models.snapshot().await.unwrap();

    // At least once: the same page again changes nothing, and a late, older event of a
    // claim's stream never moves its row back.
    models.apply(&changes, through).await.unwrap();
    models.apply(&[decided], through).await.unwrap();
    assert_eq!(models.snapshot().await.unwrap(), first);

    let paid = models.claim(older).await.unwrap().unwrap();
    assert_eq!(paid.status, ClaimStatus::Paid);
    assert_eq!(paid.billed, money("1234.5678 USD"));
    assert_eq!(paid.payer_paid, Some(money("984.5678 USD")));
    assert_eq!(paid.batch, Some(batch));
    assert_eq!(paid.transaction, Some(transaction));
    assert_eq!(
        models.claim(newer).await.unwrap().unwrap().status,
        ClaimStatus::Voided
    );

    let listed = models.claims_of_insurer(&insurer, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|view| view.claim).collect::<Vec<_>>(),
        vec![newer, older],
        "most recently received first"
    );
    assert_eq!(
        models.claims_of_insurer(&insurer, 1).await.unwrap().len(),
        1
    );
    let stranger = InsurerId::new("other-insurer").unwrap();
    assert!(
        models
            .claims_of_insurer(&stranger, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let remittance = models.remittance(batch).await.unwrap().unwrap();
    assert_eq!(remittance.settlement, Some((transaction, 42)));
    assert_eq!(remittance.owed, vec![(wallet, money("984.5678 USD"))]);
    assert_eq!(remittance.claims.len(), 1);
    assert_eq!(remittance.claims[0].insurer_ref, "ACME-1");
    assert_eq!(
        remittance.claims[0].adjustments[0].adjustment.code(),
        "PR-1"
    );
    assert_eq!(remittance.for_provider(&provider).count(), 1);
    assert_eq!(
        remittance.claims[0].withheld,
        vec![Withholding {
            recouped_claim: recouped,
            amount: money("15.4322 USD"),
        }],
        "what the payout withheld, to the last digit"
    );

    let years = models.accumulators(&member).await.unwrap();
    assert_eq!(years.len(), 1);
    assert_eq!(years[0].deductible_paid, money("250.00 USD"));
    assert_eq!(years[0].out_of_pocket_paid, money("250.00 USD"));
    assert_eq!(
        years[0].claims, 1,
        "the voided claim's share was given back"
    );

    models.reset().await.unwrap();
    assert_eq!(models.position().await.unwrap(), LogPosition::START);
    assert_eq!(models.snapshot().await.unwrap(), Default::default());
}

#[tokio::test]
async fn sqlite_a_claim_decided_again_shows_only_its_last_adjustments() {
    let store = SqliteEventStore::in_memory().await.unwrap();
    decided_again_shows_only_its_last_adjustments(&SqliteReadModels::of(&store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_claim_decided_again_shows_only_its_last_adjustments() {
    let schema = TestSchema::new().await;
    let store: PostgresEventStore = schema.store().await;
    decided_again_shows_only_its_last_adjustments(&PostgresReadModels::of(&store)).await;
    store.close().await;
}

/// A pended claim that a reviewer approves: the remittance explains the payment with the
/// approval's adjustments, not the pend's, even when the pend is seen again.
async fn decided_again_shows_only_its_last_adjustments(models: &dyn ReadModels) {
    let provider = ProviderId::new("clinic-a").unwrap();
    let wallet: WalletAddress = "0xde709f2102306220921060314715629080e2fb77"
        .parse()
        .unwrap();
    let claim = ClaimId::from_uuid(Uuid::from_u128(11));
    let batch = PayoutBatchId::from_uuid(Uuid::from_u128(12));
    let adjustment = |sequence, group, reason, amount| LineAdjustment {
        line: 1,
        sequence,
        adjustment: Adjustment {
            group,
            reason,
            amount: money(amount),
        },
    };
    let decided = |version, status, paid, adjustments| {
        Change::ClaimDecided(DecidedClaim {
            claim,
            version,
            status,
            decided_on: NaiveDate::from_ymd_opt(2026, 3, 10).unwrap(),
            payer_paid: money(paid),
            member_responsibility: money("0.00 USD"),
            adjustments,
        })
    };
    let pended = decided(
        2,
        ClaimStatus::Pended,
        "0.00 USD",
        vec![
            adjustment(1, GroupCode::OA, ReasonCode::Deductible, "400.00 USD"),
            adjustment(2, GroupCode::OA, ReasonCode::Copay, "100.00 USD"),
        ],
    );
    let approved = decided(
        4,
        ClaimStatus::Approved,
        "450.00 USD",
        vec![adjustment(
            1,
            GroupCode::CO,
            ReasonCode::Coinsurance,
            "50.00 USD",
        )],
    );
    let changes = vec![
        Change::ClaimReceived(ReceivedClaim {
            claim,
            version: 1,
            insurer: InsurerId::new("acme-health").unwrap(),
            insurer_ref: "ACME-11".to_owned(),
            member: MemberId::new("M-1001").unwrap(),
            provider: provider.clone(),
            received_on: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            billed: money("500.00 USD"),
        }),
        pended.clone(),
        approved,
        Change::ClaimScheduled {
            claim,
            version: 5,
            batch,
            withheld: vec![],
        },
        Change::BatchOpened {
            batch,
            created_at: Utc.with_ymd_and_hms(2026, 3, 11, 9, 30, 0).unwrap(),
            payouts: vec![RemittedClaim {
                claim,
                provider,
                wallet,
                amount: money("450.00 USD"),
            }],
        },
    ];
    let through = LogPosition {
        transaction: 5,
        sequence: 5,
    };
    models.apply(&changes, through).await.unwrap();
    models.apply(&[pended], through).await.unwrap();

    let remittance = models.remittance(batch).await.unwrap().unwrap();
    let codes: Vec<String> = remittance.claims[0]
        .adjustments
        .iter()
        .map(|line| line.adjustment.code())
        .collect();
    assert_eq!(codes, ["CO-2"], "only the approval's adjustments");
}

fn money(text: &str) -> Money {
    text.parse().unwrap()
}

#[tokio::test]
async fn sqlite_lists_the_newest_batches_first() {
    let store = SqliteEventStore::in_memory().await.unwrap();
    newest_batches_first(&SqliteReadModels::of(&store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lists_the_newest_batches_first() {
    let schema = TestSchema::new().await;
    let store: PostgresEventStore = schema.store().await;
    newest_batches_first(&PostgresReadModels::of(&store)).await;
    store.close().await;
}

/// Four batches, two per provider, opened in an order that neither their ids nor their
/// times as text follow (two within one second, one of them with a fraction): listed by
/// when they were opened, newest first, a page of them, or only a provider's.
async fn newest_batches_first(models: &dyn ReadModels) {
    let clinic = ProviderId::new("clinic-a").unwrap();
    let hospital = ProviderId::new("hospital-b").unwrap();
    let wallet: WalletAddress = "0xde709f2102306220921060314715629080e2fb77"
        .parse()
        .unwrap();
    let at = |day, second, millis| {
        Utc.with_ymd_and_hms(2026, 3, day, 9, 30, second).unwrap()
            + chrono::Duration::milliseconds(millis)
    };
    // Oldest first; ids descending, so that an order by id would be the reverse.
    let batches = [
        (40, at(11, 0, 0), &clinic),
        (30, at(11, 0, 500), &hospital),
        (20, at(11, 1, 0), &clinic),
        (10, at(12, 0, 0), &hospital),
    ];
    let mut changes = Vec::new();
    for (id, created_at, provider) in batches {
        let claim = ClaimId::from_uuid(Uuid::from_u128(id + 1));
        changes.push(Change::ClaimReceived(ReceivedClaim {
            claim,
            version: 1,
            insurer: InsurerId::new("acme-health").unwrap(),
            insurer_ref: format!("ACME-{id}"),
            member: MemberId::new("M-1001").unwrap(),
            provider: provider.clone(),
            received_on: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            billed: money("100.00 USD"),
        }));
        changes.push(Change::BatchOpened {
            batch: PayoutBatchId::from_uuid(Uuid::from_u128(id)),
            created_at,
            payouts: vec![RemittedClaim {
                claim,
                provider: provider.clone(),
                wallet,
                amount: money("80.00 USD"),
            }],
        });
    }
    let through = LogPosition {
        transaction: 1,
        sequence: 8,
    };
    models.apply(&changes, through).await.unwrap();

    let ids = |remittances: Vec<claims_adapters::read_models::Remittance>| -> Vec<u128> {
        remittances
            .iter()
            .map(|remittance| remittance.batch.as_uuid().as_u128())
            .collect()
    };
    let all = models.latest_remittances(None, 10).await.unwrap();
    // Read together, each batch still holds its own claim and nothing else.
    for remittance in &all {
        let references: Vec<&str> = remittance
            .claims
            .iter()
            .map(|claim| claim.insurer_ref.as_str())
            .collect();
        let id = remittance.batch.as_uuid().as_u128();
        assert_eq!(references, [format!("ACME-{id}")], "batch {id}");
    }
    assert_eq!(ids(all), [10, 20, 30, 40]);
    assert_eq!(
        ids(models.latest_remittances(None, 2).await.unwrap()),
        [10, 20]
    );
    let of_clinic = models.latest_remittances(Some(&clinic), 10).await.unwrap();
    assert_eq!(
        of_clinic[0].claims[0].insurer_ref, "ACME-20",
        "each batch whole"
    );
    assert_eq!(ids(of_clinic), [20, 40]);
    assert_eq!(
        ids(models.latest_remittances(Some(&hospital), 1).await.unwrap()),
        [10]
    );
    let stranger = ProviderId::new("nobody").unwrap();
    assert!(
        models
            .latest_remittances(Some(&stranger), 10)
            .await
            .unwrap()
            .is_empty()
    );
}
