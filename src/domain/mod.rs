//! Pure types and rules, no I/O: ids, roles, pipelines, hooks, variables, templates.

pub mod filter;
pub mod ids;
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
        Self { field: field.into(), problem: problem.into() }
    }
}
