//! Extractor settings that turn malformed requests into JSON errors instead of plain text.

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

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
            ApiError::validation(vec![FieldError::new(
                "body",
                without_values(&e.to_string()),
            )])
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

/// A JSON body that may be left out: an empty body is `T::default()`. Anything else must be
/// JSON of the right shape, and is refused with the same errors as `web::Json`. (actix-web's
/// `Option<Json<T>>` would turn every one of those errors into `None`, silently.)
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json_or_none = match req.mime_type() {
            Ok(None) => true,
            Ok(Some(m)) => {
                m.essence_str() == "application/json" || m.suffix().is_some_and(|s| s == "json")
            }
            Err(_) => false,
        };
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = body.await.map_err(|e| {
                ApiError::bad_request("invalid_body", format!("the body could not be read: {e}"))
            })?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Self(T::default()));
            }
            if !json_or_none {
                return Err(json_error(JsonPayloadError::ContentType));
            }
            if body.len() > API_BODY_LIMIT {
                return Err(json_error(JsonPayloadError::Overflow {
                    limit: API_BODY_LIMIT,
                }));
            }
            serde_json::from_slice(&body)
                .map(Self)
                .map_err(|e| json_error(JsonPayloadError::Deserialize(e)))
        })
    }
}

/// serde's "invalid type: integer `123456`, expected a string" repeats the value it refused,
/// and that value may be a secret sent with the wrong type: keep its kind, drop the value.
pub(crate) fn without_values(message: &str) -> String {
    static VALUE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r#"(invalid (?:type|value|length): [a-z ]+?) (?:`[^`]*`|"(?:[^"\\]|\\.)*")"#,
        )
        .expect("a valid regex")
    });
    VALUE.replace_all(message, "$1").into_owned()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_values_are_not_repeated() {
        for (json, hidden) in [
            (r#"{"value": 123456}"#, "123456"),
            (r#"{"value": 1.5e3}"#, "1500"),
            (r#"{"n": "s3cr3t \\" quoted"}"#, "s3cr3t"),
        ] {
            #[derive(serde::Deserialize, Debug)]
            #[allow(dead_code)]
            struct Shape {
                value: Option<String>,
                n: Option<u32>,
            }
            let e = serde_json::from_str::<Shape>(json).unwrap_err();
            assert!(
                e.to_string().contains(hidden),
                "the test needs serde to show it: {e}"
            );
            let shown = without_values(&e.to_string());
            assert!(!shown.contains(hidden), "{shown}");
            assert!(shown.contains("invalid type"), "{shown}");
        }
    }
}
