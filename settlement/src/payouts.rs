//! The packed form of a batch's payouts: what `ClaimsSettlement.settleBatch` takes and its
//! `BatchSettled` log gives back.
//!
//! A sequence of runs, each `provider (20 bytes) ‖ first index (8) ‖ count (2) ‖ count ×
//! amount (6)`, big-endian and unpadded; a run settles the consecutive indices `first …
//! first + count - 1` with those amounts. Runs come in ascending provider order, and the
//! contract nets consecutive runs of one provider into one transfer. The engine gives a
//! provider's claims in a batch consecutive indices, so a provider is usually one run:
//! 30 bytes per provider and 6 per claim, against 96 per claim as ABI arrays. An amount
//! has 48 bits: up to 281,474,976.710655 at 6 decimals.

use crate::chain::{ChainBatch, ChainError, SettledClaim};
use crate::token::TokenAmount;
use claims_domain::WalletAddress;
use claims_domain::payout::SettlementIndex;

/// Bytes of a run's header: provider, first index, count.
pub const RUN_HEADER: usize = 20 + 8 + 2;
/// Bytes of one claim's amount.
pub const AMOUNT_BYTES: usize = 6;

/// The largest amount a claim can carry, in base units.
pub const MAX_AMOUNT: u64 = (1 << 48) - 1;

/// The batch's payouts, packed. Each provider's claims are split into runs of consecutive
/// indices, in the order given.
pub fn encode(batch: &ChainBatch) -> Result<Vec<u8>, ChainError> {
    let mut packed =
        Vec::with_capacity(batch.providers.len() * RUN_HEADER + batch.claim_count() * AMOUNT_BYTES);
    for payout in &batch.providers {
        let mut claims = payout.claims.iter().peekable();
        while let Some(first) = claims.next() {
            let mut amounts = vec![amount_bytes(first.index, first.amount)?];
            let mut last = first.index.get();
            while let Some(next) = claims.peek() {
                let consecutive = last.checked_add(1) == Some(next.index.get());
                if !consecutive || amounts.len() == usize::from(u16::MAX) {
                    break;
                }
                amounts.push(amount_bytes(next.index, next.amount)?);
                last = next.index.get();
                claims.next();
            }
            packed.extend_from_slice(payout.provider.as_bytes());
            packed.extend_from_slice(&first.index.get().to_be_bytes());
            let count = u16::try_from(amounts.len()).unwrap_or(u16::MAX);
            packed.extend_from_slice(&count.to_be_bytes());
            for amount in amounts {
                packed.extend_from_slice(&amount);
            }
        }
    }
    Ok(packed)
}

/// Every claim of packed payouts, in order: what a `BatchSettled` log says was settled.
pub fn decode(packed: &[u8]) -> Result<Vec<SettledClaim>, ChainError> {
    let malformed = |offset: usize| {
        ChainError::Unavailable(format!(
            "packed payouts of {} bytes end in the middle of the run at byte {offset}",
            packed.len()
        ))
    };
    let mut claims = Vec::new();
    let mut offset = 0;
    while offset < packed.len() {
        let header = packed
            .get(offset..offset + RUN_HEADER)
            .ok_or_else(|| malformed(offset))?;
        let (provider, rest) = header.split_at(20);
        let (first, count) = rest.split_at(8);
        let provider =
            WalletAddress::from_bytes(provider.try_into().map_err(|_| malformed(offset))?);
        let first = u64::from_be_bytes(first.try_into().map_err(|_| malformed(offset))?);
        let count = usize::from(u16::from_be_bytes(
            count.try_into().map_err(|_| malformed(offset))?,
        ));
        let amounts_at = offset + RUN_HEADER;
        let amounts = packed
            .get(amounts_at..amounts_at + count * AMOUNT_BYTES)
            .ok_or_else(|| malformed(offset))?;
        for (n, amount) in (0u64..).zip(amounts.chunks_exact(AMOUNT_BYTES)) {
            let index = first.checked_add(n).ok_or_else(|| {
                ChainError::Unavailable(format!("a run from index {first} runs past 2^64"))
            })?;
            let mut word = [0u8; 8];
            word[8 - AMOUNT_BYTES..].copy_from_slice(amount);
            let amount = u64::from_be_bytes(word);
            claims.push(SettledClaim {
                index: SettlementIndex::new(index),
                provider,
                amount: TokenAmount::from_base_units(u128::from(amount)),
            });
        }
        offset = amounts_at + count * AMOUNT_BYTES;
    }
    Ok(claims)
}

/// A claim's amount as the 6 bytes the contract reads; an amount beyond 48 bits is
/// refused rather than truncated.
fn amount_bytes(
    index: SettlementIndex,
    amount: TokenAmount,
) -> Result<[u8; AMOUNT_BYTES], ChainError> {
    let units = u64::try_from(amount.base_units())
        .ok()
        .filter(|units| *units <= MAX_AMOUNT)
        .ok_or_else(|| {
            ChainError::InvalidBatch(format!(
                "claim {index} pays {amount} base units, more than the {MAX_AMOUNT} a claim can carry"
            ))
        })?;
    let mut bytes = [0u8; AMOUNT_BYTES];
    bytes.copy_from_slice(&units.to_be_bytes()[8 - AMOUNT_BYTES..]);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::ChainClaim;

    fn wallet(n: u8) -> WalletAddress {
        WalletAddress::from_bytes([n; 20])
    }

    fn claim(index: u64, provider: u8, units: u128) -> ChainClaim {
        ChainClaim {
            index: SettlementIndex::new(index),
            provider: wallet(provider),
            amount: TokenAmount::from_base_units(units),
        }
    }

    #[test]
    fn consecutive_indices_of_a_provider_pack_into_one_run() {
        let batch = ChainBatch::netted(
            [1; 32],
            [
                claim(7, 2, 5),
                claim(4, 1, 10),
                claim(5, 1, 20),
                claim(8, 2, 6),
            ],
        );

        let packed = encode(&batch).expect("packed");

        assert_eq!(packed.len(), 2 * RUN_HEADER + 4 * AMOUNT_BYTES);
        assert_eq!(&packed[..20], &[1; 20]);
        assert_eq!(&packed[20..28], &4u64.to_be_bytes());
        assert_eq!(&packed[28..30], &2u16.to_be_bytes());
        assert_eq!(&packed[30..36], &10u64.to_be_bytes()[2..]);
        let decoded: Vec<_> = decode(&packed)
            .expect("decoded")
            .into_iter()
            .map(|claim| (claim.index.get(), claim.provider, claim.amount.base_units()))
            .collect();
        assert_eq!(
            decoded,
            vec![
                (4, wallet(1), 10),
                (5, wallet(1), 20),
                (7, wallet(2), 5),
                (8, wallet(2), 6)
            ]
        );
    }

    #[test]
    fn a_gap_in_a_providers_indices_starts_a_new_run() {
        let batch = ChainBatch::netted([1; 32], [claim(1, 1, 1), claim(3, 1, 1), claim(4, 1, 1)]);

        let packed = encode(&batch).expect("packed");

        assert_eq!(packed.len(), 2 * RUN_HEADER + 3 * AMOUNT_BYTES);
        let indices: Vec<u64> = decode(&packed)
            .expect("decoded")
            .iter()
            .map(|claim| claim.index.get())
            .collect();
        assert_eq!(indices, vec![1, 3, 4]);
    }

    #[test]
    fn an_amount_beyond_48_bits_is_refused_not_truncated() {
        let largest = ChainBatch::netted([1; 32], [claim(1, 1, u128::from(MAX_AMOUNT))]);
        let decoded = decode(&encode(&largest).expect("packed")).expect("decoded");
        assert_eq!(decoded[0].amount.base_units(), u128::from(MAX_AMOUNT));

        let batch = ChainBatch::netted([1; 32], [claim(1, 1, u128::from(MAX_AMOUNT) + 1)]);

        assert!(matches!(encode(&batch), Err(ChainError::InvalidBatch(_))));
    }

    #[test]
    fn truncated_payouts_are_reported() {
        let packed = encode(&ChainBatch::netted([1; 32], [claim(1, 1, 1)])).expect("packed");

        assert!(decode(&packed[..packed.len() - 1]).is_err());
        assert!(decode(&packed[..RUN_HEADER - 1]).is_err());
    }
}
