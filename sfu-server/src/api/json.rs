//! A JSON body extractor whose rejections use the API's error shape.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Like `axum::Json`, but a bad body answers `{"error": {...}}` with 400, 413 or 415.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<serde_json::Value>::from_request(req, state).await {
            // Every request body of the API is an object; serde would also take a struct
            // from an array, which is never what a caller meant.
            Ok(axum::Json(v)) if !v.is_object() => Err(ApiError::bad_request(
                "invalid_body",
                "the request body must be a JSON object",
            )),
            Ok(axum::Json(v)) => serde_json::from_value(v).map(JsonBody).map_err(|e| {
                ApiError::bad_request("invalid_body", format!("invalid request body: {e}"))
            }),
            Err(rejection) => Err(match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "request body too large",
                ),
                StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "expected Content-Type: application/json",
                ),
                _ => match rejection {
                    JsonRejection::JsonSyntaxError(e) => {
                        ApiError::bad_request("invalid_json", e.body_text())
                    }
                    other => ApiError::bad_request("invalid_body", other.body_text()),
                },
            }),
        }
    }
}
