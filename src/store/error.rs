use std::fmt;

/// A storage failure, sorted by what the caller should do about it. It displays its cause (a
/// run's reason reads "database error: …no such table…"); `telemetry::chain` says it once.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (for example a duplicate name).
    #[error("conflict: {0}")]
    Conflict(ConstraintName),
    /// The database cannot be reached now; try again later.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else.
    #[error("database error: {0}")]
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

impl StoreError {
    /// The database cannot take this request now (down, unreachable, locked, read-only, full):
    /// worth trying again later, and answered 503 at the HTTP edge.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
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
            sqlx::Error::Database(db)
                if db
                    .try_downcast_ref::<sqlx::sqlite::SqliteError>()
                    .is_some_and(|s| {
                        sqlite_unavailable(sqlx::error::DatabaseError::code(s).as_deref())
                    })
                    || db
                        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                        .is_some_and(|p| pg_unavailable(p.code())) =>
            {
                StoreError::Unavailable(e)
            }
            // A connection cut mid-message (a proxy or the network dropping it).
            sqlx::Error::Protocol(_) => StoreError::Unavailable(e),
            _ => StoreError::Other(e),
        }
    }
}

/// A write names a pipeline or hook that is gone (deleted before the write committed): what a
/// foreign key refused before PostgreSQL's migration 0015, which checks it once per write
/// transaction instead (store/postgres_ingest.rs, `Dialect::PIPELINE_LOCK`).
pub(crate) fn parent_deleted(what: &str) -> StoreError {
    StoreError::Other(sqlx::Error::InvalidArgument(format!(
        "{what} was deleted before this write was committed"
    )))
}

/// A failure of SQLite's commit connection (rusqlite, `sqlite_writer`), sorted as sqlx's are.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        let code = e.sqlite_error().map(|f| f.extended_code);
        sqlite_write_failed(code, e.to_string())
    }
}

/// Sorts a failure of SQLite's commit connection by its extended result code, keeping the
/// code and message as the cause.
pub(crate) fn sqlite_write_failed(code: Option<i32>, message: String) -> StoreError {
    let unique = matches!(
        code,
        Some(SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY)
    );
    let unavailable = sqlite_unavailable(code.map(|c| c.to_string()).as_deref());
    let e = sqlx::Error::Database(Box::new(SqliteWriteError { code, message }));
    if unique {
        StoreError::Conflict(ConstraintName(None))
    } else if unavailable {
        StoreError::Unavailable(e)
    } else {
        StoreError::Other(e)
    }
}

const SQLITE_CONSTRAINT_UNIQUE: i32 = 2067;
const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = 1555;

/// What SQLite's commit connection said, as sqlx carries a database's error.
#[derive(Debug)]
struct SqliteWriteError {
    code: Option<i32>,
    message: String,
}

impl fmt::Display for SqliteWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqliteWriteError {}

impl sqlx::error::DatabaseError for SqliteWriteError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.code.map(|c| c.to_string().into())
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        match self.code {
            Some(SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY) => {
                sqlx::error::ErrorKind::UniqueViolation
            }
            Some(787) => sqlx::error::ErrorKind::ForeignKeyViolation,
            Some(1299) => sqlx::error::ErrorKind::NotNullViolation,
            Some(275) => sqlx::error::ErrorKind::CheckViolation,
            _ => sqlx::error::ErrorKind::Other,
        }
    }
}

/// PostgreSQL classes for a server that is shutting down or refusing connections (57P, 08),
/// out of resources (53: disk full, out of memory, too many connections) or read-only (25006).
fn pg_unavailable(code: &str) -> bool {
    code.starts_with("57P") || code.starts_with("08") || code.starts_with("53") || code == "25006"
}

/// SQLite's result codes (extended: the primary code is the low byte) for a database that is
/// busy or locked (5, 6), read-only (8), failing to read or write its file (10), full (13) or
/// that cannot be opened (14).
fn sqlite_unavailable(code: Option<&str>) -> bool {
    code.and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6 | 8 | 10 | 13 | 14))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_error_displays_its_cause_and_the_chain_says_it_once() {
        let e = StoreError::Other(sqlx::Error::RowNotFound);
        let cause = sqlx::Error::RowNotFound.to_string();
        assert_eq!(e.to_string(), format!("database error: {cause}"));
        assert_eq!(crate::telemetry::chain(&e).to_string(), e.to_string());
        let e = StoreError::Unavailable(sqlx::Error::PoolTimedOut);
        assert!(e.to_string().starts_with("database unavailable: "));
    }

    #[test]
    fn read_only_full_and_locked_sqlite_databases_are_unavailable() {
        for code in ["5", "6", "517", "8", "1032", "13", "10", "14"] {
            assert!(sqlite_unavailable(Some(code)), "{code}");
        }
        for code in ["1", "19", "2067", "abc"] {
            assert!(!sqlite_unavailable(Some(code)), "{code}");
        }
    }

    #[test]
    fn the_sqlite_writer_sorts_its_failures_as_sqlx_does() {
        assert!(
            sqlite_write_failed(Some(8), "attempt to write a readonly database".into())
                .is_unavailable()
        );
        assert!(sqlite_write_failed(Some(13), "database or disk is full".into()).is_unavailable());
        assert!(matches!(
            sqlite_write_failed(Some(2067), "UNIQUE".into()),
            StoreError::Conflict(_)
        ));
        let other = sqlite_write_failed(Some(787), "FOREIGN KEY constraint failed".into());
        assert!(matches!(&other, StoreError::Other(_)));
        assert_eq!(
            other.to_string(),
            "database error: error returned from database: FOREIGN KEY constraint failed"
        );
    }

    #[test]
    fn postgres_outage_classes_are_unavailable_and_constraints_are_not() {
        for code in ["57P01", "08006", "53100", "53300", "25006"] {
            assert!(pg_unavailable(code), "{code}");
        }
        for code in ["23505", "54000", "22001"] {
            assert!(!pg_unavailable(code), "{code}");
        }
    }
}
