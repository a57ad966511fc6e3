//! Duplicate detection against the member's earlier claims.

use super::whole_line;
use crate::claim::{Claim, ServiceLine};
use crate::coding::Modifier;
use crate::ids::{ClaimId, ProcedureCode, ProviderId};
use crate::money::Money;
use crate::reason::{Adjustment, GroupCode, ReasonCode};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A line of one of the member's earlier claims that the plan allowed: what duplicate
/// detection compares a new line with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorService {
    /// The earlier claim.
    pub claim: ClaimId,
    /// Its provider.
    pub provider: ProviderId,
    /// The line's date of service.
    pub date_of_service: NaiveDate,
    /// The line's procedure.
    pub procedure: ProcedureCode,
    /// The line's modifiers.
    #[serde(default)]
    pub modifiers: BTreeSet<Modifier>,
    /// The line's units.
    pub units: u32,
    /// What the line billed.
    pub billed: Money,
}

/// The member's earlier services, always in order of date of service (services of the same
/// day in the order they were added). A duplicate has the line's date of service, so only
/// the services of that day are compared with a line, found by binary search; the order is
/// kept where the services are added (the member's benefit year, as it is folded), not
/// checked or sorted for every claim. The dates are also kept on their own, side by side
/// with the services: the search reads a few bytes per service instead of a whole one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EarlierServices {
    services: Vec<PriorService>,
    /// `services[i].date_of_service` at `i`.
    dates: Vec<NaiveDate>,
}

impl EarlierServices {
    /// No services.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a service after every one of its day or earlier.
    pub fn insert(&mut self, service: PriorService) {
        let at = self
            .dates
            .partition_point(|date| *date <= service.date_of_service);
        self.dates.insert(at, service.date_of_service);
        self.services.insert(at, service);
    }

    /// Keeps only the services for which `keep` is true, in their order.
    pub fn retain(&mut self, keep: impl FnMut(&PriorService) -> bool) {
        self.services.retain(keep);
        self.dates = self.dates_of_services();
    }

    /// Every service given on `date`.
    pub fn on(&self, date: NaiveDate) -> &[PriorService] {
        let first = self.dates.partition_point(|given| *given < date);
        let count = self
            .dates
            .get(first..)
            .unwrap_or_default()
            .partition_point(|given| *given <= date);
        self.services.get(first..first + count).unwrap_or_default()
    }

    fn dates_of_services(&self) -> Vec<NaiveDate> {
        self.services
            .iter()
            .map(|service| service.date_of_service)
            .collect()
    }
}

impl From<Vec<PriorService>> for EarlierServices {
    /// The services in date order (a stable sort: those of one day keep their order).
    fn from(mut services: Vec<PriorService>) -> Self {
        services.sort_by_key(|service| service.date_of_service);
        let mut earlier = Self {
            services,
            dates: Vec::new(),
        };
        earlier.dates = earlier.dates_of_services();
        earlier
    }
}

impl FromIterator<PriorService> for EarlierServices {
    fn from_iter<I: IntoIterator<Item = PriorService>>(services: I) -> Self {
        Self::from(services.into_iter().collect::<Vec<_>>())
    }
}

impl std::ops::Deref for EarlierServices {
    type Target = [PriorService];

    fn deref(&self) -> &[PriorService] {
        &self.services
    }
}

/// **Duplicate (CARC 18).** A line that repeats a service the plan already allowed on
/// another claim (same provider, date of service, procedure, modifiers, units and billed
/// amount) is not paid again (OA-18). The claim's own earlier decision is not a duplicate
/// of itself. Only the earlier services of the line's day are compared.
pub fn duplicate(
    claim: &Claim,
    line: &ServiceLine,
    modifiers: &BTreeSet<Modifier>,
    history: &EarlierServices,
) -> Option<Adjustment> {
    // The cheapest and most telling comparisons come first: the date and units (integers)
    // rule out almost every earlier service before a code or an id is compared as text.
    history
        .on(line.date_of_service)
        .iter()
        .any(|prior| {
            prior.date_of_service == line.date_of_service
                && prior.units == line.units
                && prior.procedure == line.procedure
                && prior.billed == line.billed
                && prior.provider == claim.provider
                && prior.modifiers == *modifiers
                && prior.claim != claim.id
        })
        .then(|| whole_line(line, GroupCode::OA, ReasonCode::Duplicate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use proptest::prelude::*;

    fn service(claim: u128, day: u32) -> PriorService {
        PriorService {
            claim: ClaimId::from_uuid(uuid::Uuid::from_u128(claim)),
            provider: ProviderId::new("clinic-a").expect("an id"),
            date_of_service: NaiveDate::from_ymd_opt(2026, 3, day).expect("a date"),
            procedure: ProcedureCode::new("99213").expect("a code"),
            modifiers: BTreeSet::new(),
            units: 1,
            billed: Money::new(rust_decimal::Decimal::new(15_000, 2), Currency::USD),
        }
    }

    proptest! {
        /// Whatever order the services arrive in, a day's services are exactly those a scan
        /// of every service finds for that day, in the order they were added.
        #[test]
        fn a_days_services_are_those_a_full_scan_finds(days in proptest::collection::vec(1_u32..8, 0..40)) {
            let added: Vec<PriorService> = days
                .iter()
                .enumerate()
                .map(|(index, day)| service(index as u128, *day))
                .collect();
            let mut inserted = EarlierServices::new();
            for service in &added {
                inserted.insert(service.clone());
            }
            prop_assert_eq!(&inserted, &EarlierServices::from(added.clone()));
            // Then a claim's services given back (every other one here), as a reversal does.
            let kept: Vec<PriorService> = added
                .iter()
                .filter(|service| service.claim.as_uuid().as_u128() % 2 == 0)
                .cloned()
                .collect();
            let mut retained = inserted.clone();
            retained.retain(|service| service.claim.as_uuid().as_u128() % 2 == 0);
            for (earlier, services) in [(&inserted, &added), (&retained, &kept)] {
                for day in 0..9 {
                    let Some(date) = NaiveDate::from_ymd_opt(2026, 3, day) else { continue };
                    let scanned: Vec<&PriorService> =
                        services.iter().filter(|service| service.date_of_service == date).collect();
                    let found: Vec<&PriorService> = earlier.on(date).iter().collect();
                    prop_assert_eq!(found, scanned);
                }
            }
        }
    }
}
