//! The state every request handler shares (the management API, ingest, health).

use std::sync::Arc;

use crate::config::Settings;
use crate::crypto::MasterKey;
use crate::store::Store;

/// What every handler can reach.
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub key: Arc<MasterKey>,
    pub settings: Arc<Settings>,
    /// Tells workers that runs were enqueued.
    pub wake: crate::wake::Wake,
    /// This process's Prometheus metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Runs being followed live (`GET /runs/{run}/logs?follow=true`).
    pub live: crate::live_runs::LiveRuns,
}
