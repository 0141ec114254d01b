//! Extractor settings that turn malformed requests into JSON errors instead of plain text.

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::domain::body_problem::{field_problem, without_values};
use crate::domain::FieldError;
use crate::error::ApiError;

/// Largest management-API body accepted (docs/api.md: 1 MiB); larger is 413 `body_too_large`.
pub const API_BODY_LIMIT: usize = 1024 * 1024;

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

/// A JSON body, strict: the request types refuse unknown fields (`deny_unknown_fields`), and
/// a refused body is a 422 whose `field` is the path to the bad member (`settings.filter`,
/// `steps[0].timeout_secs`), with the closest known name for an unknown one.
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_json_body(req, payload);
        Box::pin(async move {
            let body = body.await?;
            from_slice(&body).map(Self)
        })
    }
}

/// Whether the request says its body is JSON (or says nothing).
fn json_or_none(req: &HttpRequest) -> bool {
    match req.mime_type() {
        Ok(None) => true,
        Ok(Some(m)) => {
            m.essence_str() == "application/json" || m.suffix().is_some_and(|s| s == "json")
        }
        Err(_) => false,
    }
}

/// The body's bytes, refused as `web::Json` would: 415 for another type, 413 over the limit
/// (before reading, when `Content-Length` says so).
fn read_json_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> LocalBoxFuture<'static, Result<web::Bytes, ApiError>> {
    let is_json = json_or_none(req);
    let declared = declared_length(req);
    let payload = payload.take();
    Box::pin(async move {
        if !is_json {
            return Err(json_error(JsonPayloadError::ContentType));
        }
        if declared.is_some_and(|n| n > API_BODY_LIMIT as u64) {
            return Err(too_large());
        }
        read_limited(payload, API_BODY_LIMIT).await
    })
}

/// The `Content-Length` the request declares, if any.
fn declared_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
}

/// Reads a request type from JSON bytes: 400 when it is not JSON, 422 naming the field when
/// it does not fit the type.
pub fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        shape_error(path, e.into_inner())
    })?;
    de.end().map_err(|e| {
        ApiError::bad_request("invalid_body", format!("the body is not valid JSON: {e}"))
    })?;
    Ok(value)
}

/// Reads a request type from an already parsed body (routes that pick the type by id).
pub fn from_value<T: DeserializeOwned>(body: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        shape_error(path, e.into_inner())
    })
}

fn shape_error(path: String, e: serde_json::Error) -> ApiError {
    if !e.is_data() {
        return ApiError::bad_request("invalid_body", format!("the body is not valid JSON: {e}"));
    }
    ApiError::validation(vec![field_problem(&path, &e)])
}

/// A JSON body that may be left out: an empty body (or `null`) is `T::default()`. Anything else must be
/// JSON of the right shape, and is refused with the same errors as `web::Json`. (actix-web's
/// `Option<Json<T>>` would turn every one of those errors into `None`, silently.)
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json_or_none = json_or_none(req);
        let declared = declared_length(req);
        let payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|n| n > API_BODY_LIMIT as u64) {
                return Err(too_large());
            }
            let body = read_limited(payload, API_BODY_LIMIT).await?;
            // No body, or JSON `null`: the defaults.
            if body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null" {
                return Ok(Self(T::default()));
            }
            if !json_or_none {
                return Err(json_error(JsonPayloadError::ContentType));
            }
            from_slice(&body).map(Self)
        })
    }
}

fn too_large() -> ApiError {
    json_error(JsonPayloadError::Overflow {
        limit: API_BODY_LIMIT,
    })
}

/// Reads a body into memory, stopping with 413 as soon as it passes `limit`. (actix-web's
/// `Bytes` extractor stops at its own default of 256 KiB, with a 400.)
async fn read_limited(mut payload: Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    use futures_util::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request("invalid_body", format!("the body could not be read: {e}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Middleware for the management API: a request with a `Content-Encoding` other than
/// `identity` is 415 `unsupported_media_type`, before any extractor runs. hookgate decodes no
/// content encoding (ingest refuses them too, in `ingest::accept::accept`, where the refusal is
/// recorded).
pub async fn refuse_content_encoding(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let encoding = req
        .headers()
        .get(actix_web::http::header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("(not text)").to_string());
    if let Err(e) = crate::ingest::body::check_encoding(encoding.as_deref()) {
        let err = ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.code(), e.to_string());
        return Ok(req.error_response(err));
    }
    next.call(req).await.map(|res| res.map_into_boxed_body())
}

/// Middleware for the management API: a JSON body's numbers written with a fraction of zero
/// (`5.0`, `1e3`) are rewritten as integers before any extractor reads them. JSON (and JSON
/// Schema, which the OpenAPI document uses) does not tell `5.0` from `5`, but serde refuses
/// `5.0` for an integer field. Other bodies (not JSON, malformed, over the limit) pass
/// untouched, for the extractor to refuse as usual.
pub async fn integral_numbers(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let json = match req.mime_type() {
        Ok(Some(m)) => {
            m.essence_str() == "application/json" || m.suffix().is_some_and(|s| s == "json")
        }
        _ => false,
    };
    if json {
        let payload = req.take_payload();
        match read_limited(payload, API_BODY_LIMIT).await {
            Ok(body) => {
                let body = with_integral_numbers(body);
                if let Ok(len) =
                    actix_web::http::header::HeaderValue::try_from(body.len().to_string())
                {
                    req.headers_mut()
                        .insert(actix_web::http::header::CONTENT_LENGTH, len);
                }
                req.set_payload(Payload::from(body));
            }
            Err(e) => return Ok(req.error_response(e)),
        }
    }
    next.call(req).await.map(|res| res.map_into_boxed_body())
}

/// `body` with every integral float rewritten as an integer, when it is JSON with such a
/// number; otherwise `body` itself.
fn with_integral_numbers(body: web::Bytes) -> web::Bytes {
    fn fix(v: &mut serde_json::Value) -> bool {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap_or(f64::NAN);
                let whole = f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15;
                if whole {
                    *v = serde_json::Value::from(f as i64);
                }
                whole
            }
            serde_json::Value::Array(items) => items.iter_mut().fold(false, |c, i| fix(i) | c),
            serde_json::Value::Object(m) => m.values_mut().fold(false, |c, i| fix(i) | c),
            _ => false,
        }
    }
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return body;
    };
    if !fix(&mut value) {
        return body;
    }
    serde_json::to_vec(&value).map_or(body, web::Bytes::from)
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

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        variables: Option<Vec<u32>>,
        filters: Option<Vec<u32>>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: Option<String>,
        settings: Option<Inner>,
        steps: Option<Vec<Step>>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Step {
        timeout_secs: Option<u64>,
    }

    fn refused(body: &str) -> (u16, String, String) {
        let e = from_slice::<Outer>(body.as_bytes()).unwrap_err();
        let body = e.details.clone().unwrap();
        let body = serde_json::json!({ "details": body });
        (
            e.status.as_u16(),
            body["details"][0]["field"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            body["details"][0]["problem"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        )
    }

    #[test]
    fn unknown_fields_are_named_with_the_closest_known_one() {
        let (status, field, problem) = refused(r#"{"setting": {}}"#);
        assert_eq!((status, field.as_str()), (422, "setting"));
        assert!(problem.contains("did you mean \"settings\"?"), "{problem}");
        let (_, field, problem) = refused(r#"{"settings": {"filter": []}}"#);
        assert_eq!(field, "settings.filter");
        assert!(problem.contains("did you mean \"filters\"?"), "{problem}");
        let (_, field, problem) = refused(r#"{"zzzzzzzz": 1}"#);
        assert_eq!(field, "zzzzzzzz");
        assert!(
            problem.contains("known fields: name, settings, steps"),
            "{problem}"
        );
    }

    #[test]
    fn type_errors_name_the_field() {
        let (status, field, problem) = refused(r#"{"steps": [{"timeout_secs": "ten"}]}"#);
        assert_eq!((status, field.as_str()), (422, "steps[0].timeout_secs"));
        assert!(problem.contains("invalid type"), "{problem}");
        assert!(!problem.contains("ten"), "{problem}");
        let e = from_slice::<Outer>(b"{").unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Needs {
            steps: Vec<Named>,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Named {
            name: String,
        }
        let e = from_slice::<Needs>(br#"{"steps": [{}]}"#).unwrap_err();
        let details = e.details.clone().unwrap();
        assert_eq!(details[0]["field"], "steps[0].name", "{details}");
        assert_eq!(details[0]["problem"], "\"name\" is required", "{details}");
    }

    #[test]
    fn integral_floats_become_integers_and_nothing_else_changes() {
        let fixed = |s: &str| {
            String::from_utf8(with_integral_numbers(web::Bytes::from(s.to_string())).to_vec())
                .unwrap()
        };
        assert_eq!(
            fixed(r#"{"a":5.0,"b":[1e3,-2.0],"c":1.5}"#),
            r#"{"a":5,"b":[1000,-2],"c":1.5}"#
        );
        assert_eq!(
            // Needs serde_json's `float_roundtrip`: without it this parses a half off.
            fixed(r#"{"grace_period_secs": 4010112479967310.0}"#),
            r#"{"grace_period_secs":4010112479967310}"#
        );
        for same in [r#"{"a":5, "b": "5.0"}"#, "{not json", r#"{"a":1e300}"#, ""] {
            assert_eq!(fixed(same), same);
        }
    }

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
