//! Wake-ups: ingest and the API call [`Wake::runs_ready`] after committing runs. It notifies
//! this process's workers at once and, on PostgreSQL, other processes through NOTIFY; the
//! workers' one-second poll is only the fallback.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::store::Store;

/// Wakes workers when runs may be ready: locally at once, other processes via the store.
#[derive(Clone)]
pub struct Wake {
    local: Arc<Notify>,
    store: Arc<dyn Store>,
}

impl Wake {
    pub fn new(store: Arc<dyn Store>) -> Self {
        let local = Arc::new(Notify::new());
        store.listen_runs(local.clone());
        Self { local, store }
    }

    /// Runs were committed or a concurrency slot was freed.
    pub async fn runs_ready(&self) {
        self.local.notify_one();
        if let Err(e) = self.store.announce_runs().await {
            tracing::debug!(error = %crate::telemetry::chain(&e), "could not announce runs to other processes");
        }
    }

    /// Resolves when this process was told that runs may be ready.
    pub async fn notified(&self) {
        self.local.notified().await
    }
}
