//! A request body that serde refused, said as a [`FieldError`]: the path of the field
//! (`steps[0].timeout_secs`, `settings.filter`), the closest known name for an unknown one, and
//! never the refused value. The API's extractor and the readers that pick a type by a body's
//! fields (outgoing hooks' forms) say it the same way.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{closest, FieldError};

/// Reads `T` from a parsed body, strictly; a refusal names its field.
pub fn read_value<T: DeserializeOwned>(body: Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        field_problem(&path, e.inner())
    })
}

/// The problem serde found at `path` (as serde_path_to_error writes it; `.` is the root).
pub fn field_problem(path: &str, e: &serde_json::Error) -> FieldError {
    let message = e.to_string();
    // "… at line 1 column 20" points into the text; the field name says more.
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => &message,
    };
    let (field, problem) = match unknown_field(message) {
        Some((name, known)) => {
            let field = join_path(path, &name);
            let mut problem = format!("unknown field {name:?}");
            match closest(&name, known.iter().map(String::as_str)) {
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
            Some(name) => (join_path(path, name), format!("{name:?} is required")),
            None => (
                if path == "." || path.is_empty() {
                    "body".to_string()
                } else {
                    path.to_string()
                },
                without_values(message),
            ),
        },
    };
    FieldError::new(field, problem)
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

/// serde's "invalid type: integer `123456`, expected a string" repeats the value it refused,
/// and that value may be a secret sent with the wrong type: keep its kind, drop the value.
pub fn without_values(message: &str) -> String {
    static VALUE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r#"(invalid (?:type|value|length): [a-z ]+?) (?:`[^`]*`|"(?:[^"\\]|\\.)*")"#,
        )
        .expect("a valid regex")
    });
    VALUE.replace_all(message, "$1").into_owned()
}
