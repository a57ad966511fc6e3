//! Reads a `ClaimResponse` the way an insurer should: amounts as their exact JSON text,
//! never through a float (a `serde_json::Value` would turn `120.00` into `120.0`).

use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    item: Vec<Item>,
    #[serde(default)]
    total: Vec<Entry>,
}

#[derive(Deserialize)]
struct Item {
    adjudication: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    category: Concept,
    reason: Option<Concept>,
    amount: Amount,
}

#[derive(Deserialize)]
struct Concept {
    coding: Vec<Code>,
}

#[derive(Deserialize)]
struct Code {
    code: String,
}

#[derive(Deserialize)]
struct Amount {
    value: Box<RawValue>,
}

/// One adjudication or total entry: its category code, its reason code (if any) and its
/// amount as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountEntry {
    pub category: String,
    pub reason: Option<String>,
    pub value: String,
}

fn entry(entry: Entry) -> AmountEntry {
    let code = |concept: Concept| concept.coding.into_iter().next().map(|code| code.code);
    AmountEntry {
        category: code(entry.category).unwrap_or_default(),
        reason: entry.reason.and_then(code),
        value: entry.amount.value.get().to_owned(),
    }
}

/// Every line's adjudication entries, in line order.
pub fn line_entries(payload: &[u8]) -> Vec<Vec<AmountEntry>> {
    let response: Response = serde_json::from_slice(payload).expect("a ClaimResponse");
    response
        .item
        .into_iter()
        .map(|item| item.adjudication.into_iter().map(entry).collect())
        .collect()
}

/// The claim's totals.
pub fn totals(payload: &[u8]) -> Vec<AmountEntry> {
    let response: Response = serde_json::from_slice(payload).expect("a ClaimResponse");
    response.total.into_iter().map(entry).collect()
}

/// The amount of the entry of `category` (the first one), as written.
pub fn amount<'a>(entries: &'a [AmountEntry], category: &str) -> Option<&'a str> {
    entries
        .iter()
        .find(|entry| entry.category == category)
        .map(|entry| entry.value.as_str())
}
