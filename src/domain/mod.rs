//! Pure types and rules, no I/O: ids, roles, pipelines, hooks, variables, templates.

pub mod filter;
pub mod hook;
pub mod ids;
pub mod key;
pub mod pipeline;
pub mod role;
pub mod template;
pub mod time;
pub mod variable;

use serde::Serialize;

/// One problem with one field of a request, reported in a 422's `details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Where the problem is, as a path into the request body (`settings.variables[2].path`).
    pub field: String,
    /// What is wrong, in words.
    pub problem: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// Checks a display name: 1 to 100 characters, no control characters.
pub fn check_name(field: &str, name: &str) -> Result<(), FieldError> {
    if name.trim().is_empty() {
        Err(FieldError::new(field, "must not be empty"))
    } else if name.chars().count() > 100 {
        Err(FieldError::new(field, "must be at most 100 characters"))
    } else if name.chars().any(char::is_control) {
        Err(FieldError::new(
            field,
            "must not contain control characters",
        ))
    } else {
        Ok(())
    }
}
