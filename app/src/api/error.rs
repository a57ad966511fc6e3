//! What the API answers when it cannot answer the question: JSON with a machine-readable
//! error and a sentence saying why, and the HTTP status that fits.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Why a request was not answered.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request names something malformed (an id that cannot be one, a bad query).
    #[error("{0}")]
    BadRequest(String),
    /// The request names something the engine does not know.
    #[error("{0}")]
    NotFound(String),
    /// The engine's storage failed; the reason is logged, not sent.
    #[error("the claims engine could not read its records")]
    Unavailable(#[source] anyhow::Error),
}

#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    reason: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error) = match &self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            ApiError::Unavailable(source) => {
                tracing::error!(error = %format!("{source:#}"), "an API request failed");
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
        };
        let body = ErrorBody {
            error,
            reason: self.to_string(),
        };
        (status, Json(body)).into_response()
    }
}

impl ApiError {
    /// A storage failure.
    pub fn unavailable(error: impl Into<anyhow::Error>) -> Self {
        ApiError::Unavailable(error.into())
    }
}
