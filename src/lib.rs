//! hookgate: a self-hosted incoming-webhook gateway.
//!
//! Incoming requests are verified, turned into typed variables and committed as pipeline runs
//! before they are answered. See `docs/architecture.md` for a map of the modules.

pub mod accounts;
pub mod api;
pub mod app;
pub mod apply;
pub mod body_deadline;
pub mod cli;
pub mod config;
pub mod console;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod ingest;
pub mod live_runs;
pub mod memory;
pub mod metrics;
pub mod net_guard;
pub mod notify;
pub mod signature;
pub mod startup;
pub mod steps;
pub mod store;
pub mod telemetry;
pub mod wake;
pub mod worker;
