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

/// The body's bytes, refused as `web::Json` would: 415 for another type, 413 over the limit.
fn read_json_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> LocalBoxFuture<'static, Result<web::Bytes, ApiError>> {
    let is_json = json_or_none(req);
    let body = web::Bytes::from_request(req, payload);
    Box::pin(async move {
        if !is_json {
            return Err(json_error(JsonPayloadError::ContentType));
        }
        let body = body.await.map_err(|e| {
            ApiError::bad_request("invalid_body", format!("the body could not be read: {e}"))
        })?;
        if body.len() > API_BODY_LIMIT {
            return Err(json_error(JsonPayloadError::Overflow {
                limit: API_BODY_LIMIT,
            }));
        }
        Ok(body)
    })
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
    let message = e.to_string();
    // "… at line 1 column 20" points into the text; the field name says more.
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => &message,
    };
    let (field, problem) = match unknown_field(message) {
        Some((name, known)) => {
            let field = join_path(&path, &name);
            let mut problem = format!("unknown field {name:?}");
            match crate::domain::closest(&name, known.iter().map(String::as_str)) {
                Some(best) => problem.push_str(&format!("; did you mean {best:?}?")),
                None if !known.is_empty() => {
                    problem.push_str(&format!("; known fields: {}", known.join(", ")))
                }
                None => {}
            }
            (field, problem)
        }
        None => match missing_field(message) {
            // The path stops at the object that lacks the field; name the field itself.
            Some(name) => (join_path(&path, name), format!("{name:?} is required")),
            None => (
                if path == "." {
                    "body".to_string()
                } else {
                    path
                },
                without_values(message),
            ),
        },
    };
    ApiError::validation(vec![FieldError::new(field, problem)])
}

/// `unknown field `filter`, expected one of `variables`, `filters`` → ("filter", [variables, filters]).
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (name, rest) = rest.split_once('`')?;
    let known = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    Some((name.to_string(), known))
}

/// `missing field `name`` → "name".
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// serde_path_to_error's path stops at the object that refused the field; add the field.
fn join_path(path: &str, name: &str) -> String {
    if path == "." || path.is_empty() {
        name.to_string()
    } else if path.ends_with(name) {
        path.to_string()
    } else {
        format!("{path}.{name}")
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
        let json_or_none = json_or_none(req);
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
            from_slice(&body).map(Self)
        })
    }
}

/// serde's "invalid type: integer `123456`, expected a string" repeats the value it refused,
/// and that value may be a secret sent with the wrong type: keep its kind, drop the value.
fn without_values(message: &str) -> String {
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
