//! Extractor settings that turn malformed requests into JSON errors instead of plain text.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::web;

use crate::domain::FieldError;
use crate::error::ApiError;

/// Largest management-API body accepted.
const API_BODY_LIMIT: usize = 1024 * 1024;

/// JSON bodies: syntax errors are 400, wrong shapes 422, other content types 415, too large 413.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(API_BODY_LIMIT)
        .error_handler(|err, _req| json_error(err).into())
}

fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::validation(vec![FieldError::new("body", e.to_string())])
        }
        JsonPayloadError::Deserialize(e) => {
            ApiError::bad_request("invalid_body", format!("the body is not valid JSON: {e}"))
        }
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ),
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is over {limit} bytes"),
        ),
        other => ApiError::bad_request("invalid_body", other.to_string()),
    }
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, _req| {
        ApiError::bad_request("invalid_path", err.to_string()).into()
    })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        ApiError::bad_request("invalid_query", err.to_string()).into()
    })
}
