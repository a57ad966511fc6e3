//! The benchmark insurer's book: one plan, its members and providers, and the claims it
//! sends, all generated so that a run needs no files and collides with nobody's data.

use crate::reference::ReferenceData;
use crate::submission::{ClaimSubmission, SubmittedLine};
use anyhow::Context;
use chrono::{Days, NaiveDate};
use claims_domain::{
    ClaimId, DiagnosisCode, InsurerClaimRef, InsurerId, MemberId, Money, ProcedureCode, ProviderId,
};
use std::collections::BTreeSet;
use std::fmt::Write;

/// Services each claim may carry, in turn: (procedure, billed, diagnosis).
const SERVICES: [(&str, &str, &str); 3] = [
    ("99213", "180.00 USD", "J06.9"),
    ("97110", "60.00 USD", "M54.5"),
    ("99285", "2400.00 USD", "S06.0X0A"),
];

/// The insurer the benchmark plays, its members and providers.
#[derive(Debug, Clone)]
pub struct Book {
    /// The insurer.
    pub insurer: InsurerId,
    /// How many members claims are spread over (round robin).
    pub members: usize,
    /// How many providers claims are spread over (round robin).
    pub providers: usize,
    /// The day the engine decides on; services are dated in the weeks before it.
    pub today: NaiveDate,
}

/// One claim as the insurer sends it.
#[derive(Debug, Clone)]
pub struct OutgoingClaim {
    /// The insurer's reference, also its `Nats-Msg-Id`.
    pub claim_ref: String,
    /// The id the engine will give it.
    pub claim_id: ClaimId,
    /// The native JSON body.
    pub body: Vec<u8>,
}

impl Book {
    fn member(&self, index: usize) -> String {
        format!("BENCH-M{:06}", index % self.members.max(1))
    }

    fn provider(&self, index: usize) -> String {
        format!("bench-clinic-{:03}", index % self.providers.max(1))
    }

    /// The plan (office visits, physiotherapy and emergencies, a deductible, copays and
    /// coinsurance), every member covered since a year before `today`, every provider with
    /// a wallet.
    pub fn reference_data(&self) -> anyhow::Result<ReferenceData> {
        let since = self
            .today
            .checked_sub_days(Days::new(366))
            .context("the benchmark's day is too early")?;
        let mut toml = String::from(
            r#"
[[plan]]
id = "bench-ppo"
name = "Benchmark PPO"
currency = "USD"
deductible = "250.00 USD"
coinsurance = "20%"
out_of_pocket_max = "3000.00 USD"
review_threshold = "50000.00 USD"
copays = { office-visit = "25.00 USD", emergency = "150.00 USD" }

[plan.fee_schedule."99213"]
category = "office-visit"
allowed_per_unit = "120.00 USD"

[plan.fee_schedule."97110"]
category = "physiotherapy"
allowed_per_unit = "40.00 USD"

[plan.fee_schedule."99285"]
category = "emergency"
allowed_per_unit = "2000.00 USD"
"#,
        );
        for index in 0..self.members {
            write!(
                toml,
                "\n[[member]]\nid = {:?}\ninsurer = {:?}\nplan = \"bench-ppo\"\ncoverage = [{{ start = \"{since}\" }}]\n",
                self.member(index),
                self.insurer.as_str(),
            )?;
        }
        for index in 0..self.providers {
            // A distinct, valid address per provider: the index in the last bytes.
            write!(
                toml,
                "\n[[provider]]\nid = {:?}\nname = \"Benchmark clinic {index}\"\nwallet = \"0x{:040x}\"\n",
                self.provider(index),
                0xbe_4c00_0000_u64 + index as u64,
            )?;
        }
        ReferenceData::from_toml(&toml).context("the benchmark's reference data")
    }

    /// Claim number `index` of the run `run`: one line, its member and provider in turn,
    /// its service on one of the 20 days before `today`.
    pub fn claim(&self, run: &str, index: usize) -> anyhow::Result<OutgoingClaim> {
        let claim_ref = format!("{run}-{index:07}");
        let (procedure, billed, diagnosis) = SERVICES[index % SERVICES.len()];
        let serviced = self
            .today
            .checked_sub_days(Days::new(2 + (index % 20) as u64))
            .context("the benchmark's day is too early")?;
        let submission = ClaimSubmission {
            claim_ref: InsurerClaimRef::new(claim_ref.clone())?,
            insurer: None,
            member: MemberId::new(self.member(index))?,
            provider: ProviderId::new(self.provider(index))?,
            received_on: self.today,
            lines: vec![SubmittedLine {
                number: None,
                procedure: ProcedureCode::new(procedure)?,
                diagnoses: vec![DiagnosisCode::new(diagnosis)?],
                date_of_service: serviced,
                units: 1,
                billed: billed.parse::<Money>()?,
                modifiers: BTreeSet::new(),
                authorization: None,
                primary_paid: None,
            }],
            corrects: None,
        };
        let claim_id = ClaimId::for_submission(&self.insurer, &submission.claim_ref);
        Ok(OutgoingClaim {
            claim_ref,
            claim_id,
            body: serde_json::to_vec(&submission)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::submission::ClaimSubmission;

    fn book() -> Book {
        Book {
            insurer: InsurerId::new("bench-health").expect("a valid insurer"),
            members: 3,
            providers: 2,
            today: NaiveDate::from_ymd_opt(2026, 11, 24).expect("a date"),
        }
    }

    #[test]
    fn the_reference_data_covers_every_member_and_provider_claims_name() {
        let book = book();
        let data = book.reference_data().expect("reference data");
        assert_eq!(data.plans.len(), 1);
        assert_eq!(data.members.len(), 3);
        assert_eq!(data.providers.len(), 2);
        let claim = book.claim("run", 4).expect("a claim");
        let parsed = ClaimSubmission::parse(&claim.body).expect("a valid submission");
        assert!(data.members.iter().any(|member| member.id == parsed.member));
        assert!(
            data.providers
                .iter()
                .any(|provider| provider.id == parsed.provider)
        );
        let into = parsed.into_claim(&book.insurer).expect("a claim");
        assert_eq!(into.id, claim.claim_id);
    }
}
