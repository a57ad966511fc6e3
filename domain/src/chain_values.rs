//! Values that name things on the settlement chain. The domain validates and carries them;
//! it never talks to a chain.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha3::{Digest, Keccak256};
use std::fmt;
use std::str::FromStr;

/// Why a chain value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {kind}: {reason}")]
pub struct InvalidChainValue {
    /// What was expected.
    pub kind: &'static str,
    /// The text given.
    pub value: String,
    /// What is wrong.
    pub reason: &'static str,
}

fn parse_hex<const N: usize>(kind: &'static str, text: &str) -> Result<[u8; N], InvalidChainValue> {
    let invalid = |reason| InvalidChainValue {
        kind,
        value: text.chars().take(2 * N + 8).collect(),
        reason,
    };
    let digits = text
        .strip_prefix("0x")
        .ok_or_else(|| invalid("it must start with 0x"))?;
    if digits.len() != 2 * N {
        return Err(invalid(if N == 20 {
            "it must have 40 hex digits"
        } else {
            "it must have 64 hex digits"
        }));
    }
    let mut bytes = [0u8; N];
    hex::decode_to_slice(digits, &mut bytes).map_err(|_| invalid("it has a non-hex digit"))?;
    Ok(bytes)
}

/// A provider's payout wallet: a 20-byte EVM account address.
///
/// Parsed from `0x` and 40 hex digits. All-lowercase or all-uppercase digits are accepted
/// as given; mixed case must carry a valid EIP-55 checksum, which catches a mistyped digit
/// before money is sent to it. Displayed with the checksum.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WalletAddress([u8; 20]);

impl WalletAddress {
    /// An address from its bytes.
    pub fn from_bytes(bytes: [u8; 20]) -> Self {
        Self(bytes)
    }

    /// The 20 bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// True for the all-zero address, where tokens would be burnt.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 20]
    }

    fn checksummed(&self) -> String {
        let lower = hex::encode(self.0);
        let hash = Keccak256::digest(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
            out.push(if nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            });
        }
        out
    }
}

impl FromStr for WalletAddress {
    type Err = InvalidChainValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let address = WalletAddress(parse_hex::<20>("wallet address", s)?);
        let digits = &s[2..];
        let mixed_case = digits.chars().any(|c| c.is_ascii_lowercase())
            && digits.chars().any(|c| c.is_ascii_uppercase());
        if mixed_case && address.checksummed() != s {
            return Err(InvalidChainValue {
                kind: "wallet address",
                value: s.to_owned(),
                reason: "its EIP-55 checksum does not match (a digit may be mistyped)",
            });
        }
        if address.is_zero() {
            return Err(InvalidChainValue {
                kind: "wallet address",
                value: s.to_owned(),
                reason: "it is the zero address, where payouts would be lost",
            });
        }
        Ok(address)
    }
}

impl fmt::Display for WalletAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.checksummed())
    }
}

impl fmt::Debug for WalletAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WalletAddress({self})")
    }
}

macro_rules! bytes32 {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 32]);

        impl $name {
            /// The value from its bytes.
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The 32 bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidChainValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex::<32>($kind, s).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "0x{}", hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

bytes32!(
    /// An opaque name for a claim's payout: 32 random bytes chosen when the payout is
    /// scheduled and stored with it, revealing nothing about the claim, the member or the
    /// care. It stays off chain: the contract names a claim only by its settlement index
    /// (`payout::SettlementIndex`).
    PayoutReference, "payout reference"
);
bytes32!(
    /// The hash of a transaction on the settlement chain.
    TransactionHash, "transaction hash"
);

impl Serialize for WalletAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WalletAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mixed-case examples of the EIP-55 specification.
    const CHECKSUMMED: [&str; 4] = [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ];

    /// The EIP-55 examples whose checksum happens to be all capitals or all lowercase.
    const SINGLE_CASE: [&str; 4] = [
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77",
        "0x27b1fdb04752bbc536007a920d24acb045561c26",
    ];

    fn flip_case(text: &str, at: usize) -> String {
        text.char_indices()
            .map(|(i, c)| {
                if i != at {
                    c
                } else if c.is_ascii_uppercase() {
                    c.to_ascii_lowercase()
                } else {
                    c.to_ascii_uppercase()
                }
            })
            .collect()
    }

    #[test]
    fn eip55_reference_addresses_parse_and_display_identically() {
        for text in CHECKSUMMED.into_iter().chain(SINGLE_CASE) {
            let address: WalletAddress = text
                .parse()
                .unwrap_or_else(|error| panic!("{text}: {error}"));
            assert_eq!(address.to_string(), text);
        }
    }

    #[test]
    fn a_single_case_flip_is_refused() {
        for text in CHECKSUMMED {
            let mut flips = 0;
            for (at, c) in text.char_indices().skip(2) {
                if !c.is_ascii_alphabetic() {
                    continue;
                }
                let flipped = flip_case(text, at);
                let error = flipped.parse::<WalletAddress>().unwrap_err();
                assert_eq!(
                    error.reason, "its EIP-55 checksum does not match (a digit may be mistyped)",
                    "{flipped}"
                );
                flips += 1;
            }
            assert!(flips > 10, "{text} has too few letters to test");
        }
    }

    #[test]
    fn single_case_addresses_are_accepted_and_displayed_with_the_checksum() {
        let lower = CHECKSUMMED[0].to_ascii_lowercase();
        let upper = format!("0x{}", CHECKSUMMED[0][2..].to_ascii_uppercase());
        for text in [lower, upper] {
            let address: WalletAddress = text.parse().unwrap();
            assert_eq!(address.to_string(), CHECKSUMMED[0]);
        }
    }

    #[test]
    fn the_zero_address_is_refused() {
        let error = "0x0000000000000000000000000000000000000000"
            .parse::<WalletAddress>()
            .unwrap_err();
        assert_eq!(
            error.reason,
            "it is the zero address, where payouts would be lost"
        );
        assert!(WalletAddress::from_bytes([0; 20]).is_zero());
    }

    #[test]
    fn a_wallet_address_of_the_wrong_shape_is_refused() {
        let digits = &CHECKSUMMED[0][2..];
        let cases = [
            (format!("0x{}", &digits[1..]), "it must have 40 hex digits"),
            (format!("0x{digits}0"), "it must have 40 hex digits"),
            ("0x".to_owned(), "it must have 40 hex digits"),
            (digits.to_owned(), "it must start with 0x"),
            (format!("0X{digits}"), "it must start with 0x"),
            (
                format!("0x{}g", &digits.to_ascii_lowercase()[1..]),
                "it has a non-hex digit",
            ),
        ];
        for (text, reason) in cases {
            let error = text.parse::<WalletAddress>().unwrap_err();
            assert_eq!(
                (error.kind, error.reason),
                ("wallet address", reason),
                "{text}"
            );
        }
    }

    #[test]
    fn a_wallet_address_serialises_with_its_checksum() {
        let address: WalletAddress = CHECKSUMMED[1].to_ascii_lowercase().parse().unwrap();
        let json = serde_json::to_string(&address).unwrap();
        assert_eq!(json, format!("\"{}\"", CHECKSUMMED[1]));
        assert_eq!(
            serde_json::from_str::<WalletAddress>(&json).unwrap(),
            address
        );
        let mistyped = format!("\"{}\"", flip_case(CHECKSUMMED[1], 3));
        assert!(serde_json::from_str::<WalletAddress>(&mistyped).is_err());
        assert_eq!(
            format!("{address:?}"),
            format!("WalletAddress({})", CHECKSUMMED[1])
        );
    }

    #[test]
    fn a_transaction_hash_is_32_bytes_of_hex() {
        let text = format!("0x{}", "ab".repeat(32));
        let hash: TransactionHash = text.parse().unwrap();
        assert_eq!(hash.as_bytes(), &[0xab; 32]);
        assert_eq!(hash.to_string(), text);
        assert_eq!(serde_json::to_string(&hash).unwrap(), format!("\"{text}\""));
        let upper = format!("0x{}", "AB".repeat(32));
        assert_eq!(upper.parse::<TransactionHash>(), Ok(hash));
        let short = format!("0x{}", "ab".repeat(31));
        assert_eq!(
            short.parse::<TransactionHash>().unwrap_err().reason,
            "it must have 64 hex digits"
        );
    }

    #[test]
    fn a_payout_reference_round_trips() {
        let reference = PayoutReference::from_bytes([7; 32]);
        let json = serde_json::to_string(&reference).unwrap();
        assert_eq!(json, format!("\"0x{}\"", "07".repeat(32)));
        assert_eq!(
            serde_json::from_str::<PayoutReference>(&json).unwrap(),
            reference
        );
        let error = "0x07".parse::<PayoutReference>().unwrap_err();
        assert_eq!(error.kind, "payout reference");
    }
}
