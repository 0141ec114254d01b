//! Reads for observability, written once for both dialects (the `impl_observe!` macro each
//! backend expands inside its `impl Store`):
//!
//! - the periodic queue snapshot behind the `hookgate_runs` gauges: counts per pipeline and
//!   state read through the partial indexes on `runs.status`, each capped at `cap` rows, so a
//!   snapshot's work is bounded however long the queue grows;
//! - a run's progress for live logs: its status and each step's status and log length (in
//!   characters, as `LENGTH` and `SUBSTR` count in both databases), then only the new tail.

/// Runs per pipeline and state, the oldest queued run and the outgoing backlog.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueSnapshot {
    /// `(pipeline id, status, count)` for `queued`, `running` and `waiting_approval`.
    pub runs: Vec<(String, String, i64)>,
    /// `created_at` of the oldest queued run (Unix ms).
    pub oldest_queued_at: Option<i64>,
    pub outgoing_pending: i64,
    /// A count reached the cap: the true number is at least what is reported.
    pub capped: bool,
}

/// A run's state and its steps' progress, as one consistent read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunProgress {
    pub status: String,
    pub reason: Option<String>,
    pub attempt: i64,
    pub steps: Vec<StepProgress>,
}

/// One step's state and how long its stored log is, in characters.
#[derive(Debug, Clone, PartialEq)]
pub struct StepProgress {
    pub idx: i64,
    pub name: String,
    pub status: String,
    pub exit_code: Option<i64>,
    pub log_chars: i64,
}

/// The queries, as inherent methods of `$ty`; each backend's `impl Store` calls them (an
/// `async_trait` impl cannot expand a macro call inside itself).
macro_rules! impl_observe {
    ($ty:ty) => {
        impl $ty {
        pub(crate) async fn observe_queue_snapshot(
            &self,
            cap: i64,
        ) -> Result<$crate::store::QueueSnapshot, StoreError> {
            // One literal status per query, so each can use its partial index.
            const COUNTS: [&str; 3] = [
                "SELECT pipeline_id, 'queued', COUNT(*) FROM (SELECT pipeline_id FROM runs WHERE status = 'queued' LIMIT $1) q GROUP BY pipeline_id",
                "SELECT pipeline_id, 'running', COUNT(*) FROM (SELECT pipeline_id FROM runs WHERE status = 'running' LIMIT $1) q GROUP BY pipeline_id",
                "SELECT pipeline_id, 'waiting_approval', COUNT(*) FROM (SELECT pipeline_id FROM runs WHERE status = 'waiting_approval' LIMIT $1) q GROUP BY pipeline_id",
            ];
            let mut snap = $crate::store::QueueSnapshot::default();
            for sql in COUNTS {
                let rows: Vec<(String, String, i64)> =
                    sqlx::query_as(sql).bind(cap).fetch_all(&self.pool).await?;
                snap.capped |= rows.iter().map(|r| r.2).sum::<i64>() >= cap;
                snap.runs.extend(rows);
            }
            let (oldest,): (Option<i64>,) =
                sqlx::query_as("SELECT MIN(created_at) FROM runs WHERE status = 'queued'")
                    .fetch_one(&self.pool)
                    .await?;
            snap.oldest_queued_at = oldest;
            let (pending,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM (SELECT 1 FROM outgoing_events WHERE status = 'pending' LIMIT $1) q",
            )
            .bind(cap)
            .fetch_one(&self.pool)
            .await?;
            snap.capped |= pending >= cap;
            snap.outgoing_pending = pending;
            Ok(snap)
        }

        pub(crate) async fn observe_run_progress(
            &self,
            run_id: &str,
        ) -> Result<Option<$crate::store::RunProgress>, StoreError> {
            type Row = (String, Option<String>, i64, Option<i64>, Option<String>, Option<String>, Option<i64>, Option<i64>);
            let rows: Vec<Row> = sqlx::query_as(
                "SELECT r.status, r.reason, r.attempt, s.idx, s.name, s.status, s.exit_code, CAST(LENGTH(s.log) AS BIGINT) \
                 FROM runs r LEFT JOIN run_steps s ON s.run_id = r.id WHERE r.id = $1 ORDER BY s.idx",
            )
            .bind(run_id)
            .fetch_all(&self.pool)
            .await?;
            let Some(first) = rows.first() else {
                return Ok(None);
            };
            let mut progress = $crate::store::RunProgress {
                status: first.0.clone(),
                reason: first.1.clone(),
                attempt: first.2,
                steps: Vec::new(),
            };
            for (_, _, _, idx, name, status, exit_code, chars) in rows {
                if let (Some(idx), Some(name), Some(status)) = (idx, name, status) {
                    progress.steps.push($crate::store::StepProgress {
                        idx,
                        name,
                        status,
                        exit_code,
                        log_chars: chars.unwrap_or(0),
                    });
                }
            }
            Ok(Some(progress))
        }

        pub(crate) async fn observe_step_log_tail(
            &self,
            run_id: &str,
            idx: i64,
            from_chars: i64,
        ) -> Result<Option<String>, StoreError> {
            let row: Option<(String,)> = sqlx::query_as(
                "SELECT SUBSTR(log, CAST($3 AS INTEGER)) FROM run_steps WHERE run_id = $1 AND idx = $2",
            )
            .bind(run_id)
            .bind(idx)
            .bind(from_chars + 1)
            .fetch_optional(&self.pool)
            .await?;
            Ok(row.map(|r| r.0))
        }
    }
    };
}
