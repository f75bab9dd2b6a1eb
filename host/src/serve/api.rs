//! The HTTP API's request body, its errors, and a JSON extractor whose
//! refusals say what was wrong in the same error shape as everything else.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::config::Limits;

/// `POST /v1/invocations`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvokeRequest {
    /// Any source `sandrun run` accepts (subject to the tenant's allowed
    /// kinds and hosts).
    #[serde(default)]
    pub source: Option<String>,
    /// The AWS-RunRemoteScript form: `GitHub` or `S3`, with `source_info`
    /// (its JSON text); a `tokenInfo` of `{{ssm-secure:NAME}}` takes the
    /// tenant's secret NAME.
    #[serde(default)]
    pub source_type: Option<String>,
    #[serde(default)]
    pub source_info: Option<String>,
    /// Inline Python text (run as `script.py`).
    #[serde(default)]
    pub script: Option<String>,
    /// A `.zip`, base64-encoded.
    #[serde(default)]
    pub zip_base64: Option<String>,
    #[serde(default)]
    pub handler: Option<String>,
    #[serde(default)]
    pub command_line: Option<String>,
    #[serde(default)]
    pub payload: Option<Value>,
    #[serde(default)]
    pub runtime: Option<String>,
    /// Environment variables for the guest (it sees no others).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub limits: Limits,
    /// Answer 202 at once; the result is read with GET.
    #[serde(default, rename = "async")]
    pub run_async: bool,
}

/// An error answer: `{"error": {"type", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "Forbidden", message)
    }

    pub fn not_found(id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no invocation {id} for this tenant"),
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }

    pub fn unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ShuttingDown",
            "the server is shutting down; send the request to another replica",
        )
    }

    /// A fault of ours: the detail goes to the log, the caller gets a
    /// generic message with the id to quote.
    pub fn internal(context: &str, error: &anyhow::Error) -> ApiError {
        let incident = crate::id::new_uuid();
        tracing::error!(
            incident,
            context,
            error = format!("{error:#}"),
            "internal error"
        );
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("sandrun failed to handle the request (incident {incident})"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"type": self.kind, "message": self.message}});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// JSON in, with refusals as [`ApiError`]s that name the field.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => {
                let status = match rejection.status() {
                    StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
                    other => other,
                };
                let kind = match status {
                    StatusCode::PAYLOAD_TOO_LARGE => "PayloadTooLarge",
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => "UnsupportedMediaType",
                    _ => "BadRequest",
                };
                Err(ApiError::new(status, kind, rejection.body_text()))
            }
        }
    }
}
