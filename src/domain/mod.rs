//! Pure types and rules, no I/O: ids, roles, pipelines, hooks, variables, templates.

/// Gives an enum stored and shown by name: `ALL`, `as_str`, `parse`, `FromStr` (error
/// [`UnknownName`]), `TryFrom<String>` and `Display`. Each variant's name is written once.
macro_rules! named_enum {
    ($ty:ident { $($variant:ident = $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: [$ty; [$($name),+].len()] = [$($ty::$variant),+];

            /// The stored and shown name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }

            /// The value a name stands for; `None` for a name no value has.
            pub fn parse(s: &str) -> Option<$ty> {
                match s {
                    $($name => Some($ty::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::domain::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::parse(s).ok_or_else(|| $crate::domain::UnknownName(s.to_string()))
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $crate::domain::UnknownName;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod approval;
pub mod body_problem;
pub mod concurrency;
pub mod dedup;
pub mod delivery;
pub mod filter;
pub mod hook;
pub mod ids;
pub mod key;
pub mod outgoing_forms;
pub mod pipeline;
pub mod role;
pub mod run;
pub mod run_status;
pub mod step_status;
pub mod template;
pub mod time;
pub mod variable;

use serde::Serialize;

/// A stored name that no value of its type has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown name {0:?}")]
pub struct UnknownName(pub String);

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

/// The candidate closest to `word` (by edit distance counting a swap of two neighbours as one
/// edit, case-insensitive), when one is close
/// enough to be a likely typo: at most a third of the word's length, and at least 1, away.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word_lc = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| !c.is_empty())
        .map(|c| (strsim::osa_distance(&word_lc, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= limit || c.starts_with(word) || word.starts_with(c))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `unknown variable "sourceref"; did you mean "source_ref"? Known: a, b, c`.
pub fn unknown_name_message(what: &str, name: &str, known: &[&str]) -> String {
    let mut message = format!("unknown {what} {name:?}");
    if let Some(best) = closest(name, known.iter().copied()) {
        message.push_str(&format!("; did you mean {best:?}?"));
    }
    if known.is_empty() {
        message.push_str(&format!(" (no {what}s are declared)"));
    } else {
        message.push_str(&format!(" Known: {}", known.join(", ")));
    }
    message
}

#[cfg(test)]
mod closest_tests {
    use super::*;

    #[test]
    fn typos_find_their_field() {
        assert_eq!(closest("filter", ["variables", "filters"]), Some("filters"));
        assert_eq!(closest("setting", ["name", "settings"]), Some("settings"));
        assert_eq!(
            closest("sourceref", ["source_ref", "event"]),
            Some("source_ref")
        );
        assert_eq!(closest("xyz", ["source_ref", "event"]), None);
        assert_eq!(
            unknown_name_message("variable", "evnt", &["event", "ref"]),
            "unknown variable \"evnt\"; did you mean \"event\"? Known: event, ref"
        );
    }
}
