//! Bounded retention: old deliveries and old provider delivery ids are deleted hourly.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::time::now_ms;
use crate::store::Store;

const DAY_MS: i64 = 86_400_000;

/// Starts the hourly clean-up on the current runtime.
pub fn spawn(store: Arc<dyn Store>, delivery_days: u32, dedup_days: u32) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let now = now_ms();
            match store
                .purge(
                    now - delivery_days as i64 * DAY_MS,
                    now - dedup_days as i64 * DAY_MS,
                )
                .await
            {
                Ok(0) => {}
                Ok(n) => tracing::info!(deliveries = n, "deleted deliveries past their retention"),
                Err(e) => {
                    tracing::warn!(error = %crate::telemetry::chain(&e), "retention clean-up failed; will try again in an hour")
                }
            }
        }
    });
}
