//! The one place where failures become HTTP answers: OpenAI's error body with the right status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use engine::{EngineError, SamplerError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { message: String, param: Option<String> },
    #[error("missing or invalid API key: send the header 'Authorization: Bearer <key>'")]
    Unauthorized,
    #[error("the model '{0}' does not exist")]
    ModelNotFound(String),
    #[error("no such endpoint: {method} {path}")]
    UnknownRoute { method: String, path: String },
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the server is busy: {waiting} requests are already queued; retry shortly")]
    QueueFull { waiting: usize },
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("{0}")]
    Internal(String),
    #[error("could not start the server: {0}")]
    Startup(String),
}

impl ApiError {
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest { message: message.into(), param: None }
    }

    pub fn bad_param(param: &str, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest { message: message.into(), param: Some(param.to_string()) }
    }

    /// Status, OpenAI `type`, `param` and `code`.
    fn parts(&self) -> (StatusCode, &'static str, Option<String>, Option<&'static str>) {
        match self {
            ApiError::BadRequest { param, .. } => (StatusCode::BAD_REQUEST, "invalid_request_error", param.clone(), None),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "invalid_request_error", None, Some("invalid_api_key")),
            ApiError::ModelNotFound(_) => {
                (StatusCode::NOT_FOUND, "invalid_request_error", Some("model".into()), Some("model_not_found"))
            }
            ApiError::UnknownRoute { .. } => (StatusCode::NOT_FOUND, "invalid_request_error", None, Some("unknown_url")),
            ApiError::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "invalid_request_error", None, Some("method_not_allowed"))
            }
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "invalid_request_error", None, Some("request_too_large"))
            }
            ApiError::QueueFull { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", None, Some("queue_full")),
            ApiError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "server_error", None, Some("shutting_down")),
            ApiError::Internal(_) | ApiError::Startup(_) => (StatusCode::INTERNAL_SERVER_ERROR, "server_error", None, None),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    /// `{"error": {"message", "type", "param", "code"}}`, also sent as an SSE event mid-stream.
    pub fn body(&self) -> serde_json::Value {
        let (_, kind, param, code) = self.parts();
        serde_json::json!({ "error": { "message": self.to_string(), "type": kind, "param": param, "code": code } })
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        match e {
            EngineError::InvalidRequest(m) => ApiError::bad(m),
            EngineError::Sampler(SamplerError::InvalidConfig { field, value, expected }) => {
                ApiError::bad_param(field, format!("{field} is {value}, expected {expected}"))
            }
            EngineError::QueueFull { limit } => ApiError::QueueFull { waiting: limit },
            EngineError::ShuttingDown => ApiError::ShuttingDown,
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, [(header::CONTENT_TYPE, "application/json")], self.body().to_string()).into_response();
        if matches!(self, ApiError::QueueFull { .. } | ApiError::ShuttingDown) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if matches!(self, ApiError::Unauthorized) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
