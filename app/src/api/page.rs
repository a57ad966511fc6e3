//! How many rows a list returns: `?limit=N`, from 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`]
//! when not asked. Lists are newest first, so the default is the recent past, never the
//! whole history.

use super::error::ApiError;
use serde::Deserialize;

/// The rows a list returns unless asked for another number.
pub const DEFAULT_LIMIT: u32 = 100;
/// The most a list returns.
pub const MAX_LIMIT: u32 = 1000;

/// The `limit` query parameter.
#[derive(Deserialize)]
pub struct Limit {
    limit: Option<u32>,
}

impl Limit {
    /// The number of rows asked for, or why it cannot be served; `rows` names them
    /// ("claims", "batches").
    pub fn rows(&self, rows: &str) -> Result<u32, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::BadRequest(format!(
                "limit {limit} is out of range: ask for 1 to {MAX_LIMIT} {rows}"
            )));
        }
        Ok(limit)
    }
}
