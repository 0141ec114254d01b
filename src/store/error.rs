use std::fmt;

/// A storage failure, sorted by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (for example a duplicate name).
    #[error("conflict: {0}")]
    Conflict(ConstraintName),
    /// The database cannot be reached now; try again later.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else.
    #[error("database error")]
    Other(#[source] sqlx::Error),
}

/// The name of the constraint that refused a write, when the database says it.
#[derive(Debug)]
pub struct ConstraintName(pub Option<String>);

impl fmt::Display for ConstraintName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_deref().unwrap_or("unique constraint"))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(ConstraintName(db.constraint().map(str::to_string)))
            }
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            sqlx::Error::Database(db) if is_unavailable_code(db.code().as_deref()) => {
                StoreError::Unavailable(e)
            }
            _ => StoreError::Other(e),
        }
    }
}

/// PostgreSQL codes for a server that is shutting down or refusing connections (class 57P, 08),
/// and SQLite's busy/locked codes.
fn is_unavailable_code(code: Option<&str>) -> bool {
    match code {
        Some(c) => {
            c.starts_with("57P") || c.starts_with("08") || c == "5" || c == "6" || c == "517"
        }
        None => false,
    }
}
