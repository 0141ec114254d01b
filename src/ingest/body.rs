//! Parsing an ingest body: JSON, or a form with a `payload` field (GitHub's form mode).

use serde_json::Value;

use crate::domain::variable::Keep;

/// Why a body could not be parsed; maps to 400 `invalid_body` or 415 `unsupported_media_type`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the body is not valid JSON: {0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
}

impl BodyError {
    pub fn code(&self) -> &'static str {
        match self {
            BodyError::Invalid(_) => "invalid_body",
            BodyError::Unsupported(_) => "unsupported_media_type",
        }
    }
}

/// Refuses a body sent with a `Content-Encoding` (gzip, br, deflate, …): hookgate decodes none.
/// The signature covers the bytes as sent, and providers send bodies unencoded; decoding would
/// also let a small request grow into a large one past the size limit. `identity` (or no header)
/// passes.
pub fn check_encoding(content_encoding: Option<&str>) -> Result<(), BodyError> {
    let Some(value) = content_encoding else {
        return Ok(());
    };
    let coded: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
        .collect();
    if coded.is_empty() {
        return Ok(());
    }
    Err(BodyError::Unsupported(format!(
        "content encoding {:?} is not supported: hookgate decodes no content encoding; send the body uncompressed",
        coded.join(", ")
    )))
}

/// Parses `body` by its content type, building only what `keep` names (see [`Keep`]); all of
/// it is checked. A missing content type is read as JSON.
pub fn parse_body(
    content_type: Option<&str>,
    body: &[u8],
    keep: &Keep,
) -> Result<Value, BodyError> {
    let media = content_type.map(|c| {
        c.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    match media.as_deref() {
        None | Some("") | Some("application/json") | Some("text/json") => parse_json(body, keep),
        Some(m) if m.ends_with("+json") => parse_json(body, keep),
        Some("application/x-www-form-urlencoded") => {
            let fields: Vec<(String, String)> =
                serde_urlencoded::from_bytes(body).map_err(|e| BodyError::Invalid(format!("the form does not parse: {e}")))?;
            match fields.into_iter().find(|(k, _)| k == "payload") {
                Some((_, payload)) => parse_json(payload.as_bytes(), keep),
                None => Err(BodyError::Unsupported("a form body needs a payload field holding JSON".into())),
            }
        }
        Some(other) => Err(BodyError::Unsupported(format!(
            "content type {other:?} is not supported; send application/json or a form with a payload field"
        ))),
    }
}

fn parse_json(bytes: &[u8], keep: &Keep) -> Result<Value, BodyError> {
    keep.parse(bytes)
        .map_err(|e| BodyError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A full parse, as before pruning existed.
    fn parse_body(content_type: Option<&str>, body: &[u8]) -> Result<Value, BodyError> {
        super::parse_body(content_type, body, &Keep::everything())
    }

    #[test]
    fn a_pruned_parse_of_a_form_payload() {
        let mut keep = Keep::nothing();
        keep.add_member("ref");
        let form = format!(
            "payload={}",
            "%7B%22ref%22%3A%22main%22%2C%22x%22%3A%5B1%5D%7D"
        );
        assert_eq!(
            super::parse_body(
                Some("application/x-www-form-urlencoded"),
                form.as_bytes(),
                &keep
            ),
            Ok(json!({"ref": "main"}))
        );
        assert!(super::parse_body(None, b"{\"ref\":", &keep).is_err());
    }

    #[test]
    fn json_and_form_payloads() {
        assert_eq!(
            parse_body(Some("application/json; charset=utf-8"), b"{\"a\":1}"),
            Ok(json!({"a": 1}))
        );
        assert_eq!(parse_body(None, b"[1]"), Ok(json!([1])));
        assert_eq!(
            parse_body(Some("application/vnd.api+json"), b"{}"),
            Ok(json!({}))
        );
        let form = format!("payload={}", "%7B%22ref%22%3A%22main%22%7D");
        assert_eq!(
            parse_body(Some("application/x-www-form-urlencoded"), form.as_bytes()),
            Ok(json!({"ref": "main"}))
        );
    }

    #[test]
    fn errors() {
        assert!(matches!(
            parse_body(Some("application/json"), b""),
            Err(BodyError::Invalid(_))
        ));
        assert!(matches!(
            parse_body(Some("application/json"), b"\xff\xfe"),
            Err(BodyError::Invalid(_))
        ));
        assert!(matches!(
            parse_body(Some("text/plain"), b"{}"),
            Err(BodyError::Unsupported(_))
        ));
        assert!(matches!(
            parse_body(Some("application/x-www-form-urlencoded"), b"a=1"),
            Err(BodyError::Unsupported(_))
        ));
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(matches!(
            parse_body(None, deep.as_bytes()),
            Err(BodyError::Invalid(_))
        ));
    }

    #[test]
    fn only_identity_passes_as_an_encoding() {
        for ok in [None, Some("identity"), Some(" Identity "), Some("")] {
            assert_eq!(check_encoding(ok), Ok(()), "{ok:?}");
        }
        for bad in [
            "gzip",
            "br",
            "deflate",
            "zstd",
            "identity, gzip",
            "x-custom",
        ] {
            let e = check_encoding(Some(bad)).unwrap_err();
            assert_eq!(e.code(), "unsupported_media_type");
            assert!(e.to_string().contains("decodes no content encoding"), "{e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(ct in proptest::option::of(".{0,40}"), body in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = parse_body(ct.as_deref(), &body);
        }
    }
}
