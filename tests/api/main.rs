//! Integration tests through the real HTTP interface, on SQLite and on PostgreSQL.

// Helpers the tests share: spawning the app per backend, signing, fixtures, fakes.
mod support;
use support::{
    approval_support, console_support, console_webdriver, crash_support, helpers, ingest_support,
    outage_support, smtp_sink,
};

/// projects, tokens and roles, pipelines, incoming hooks and their rules
mod manage {
    pub mod allowed_ips;
    pub mod bodies;
    pub mod hook_rules;
    pub mod hook_test_route;
    pub mod hooks;
    pub mod long_keys;
    pub mod pipelines;
    pub mod projects;
    pub mod roles;
    pub mod strict_bodies;
}

/// POST /hooks/{hk}: ingest, the request log, replay, provider recipes, hostile and slow clients
mod receive {
    pub mod deliveries;
    pub mod ingest;
    pub mod ingest_flow;
    pub mod ingest_hostile;
    pub mod ingest_outage;
    pub mod provider_recipes;
    pub mod slow_clients;
}

/// runs: workers, step processes, approvals, live logs, crashes and outages
mod execution {
    pub mod approval_restart;
    pub mod approvals;
    pub mod crash;
    pub mod live_logs;
    pub mod run_outage;
    pub mod runner_processes;
    pub mod runs;
}

/// outgoing hooks and their events
mod outgoing {
    pub mod events;
    pub mod notify;
    pub mod outgoing_seeds;
}

/// apply, diff and export (docs/config-as-code.md)
mod config_as_code {
    pub mod apply;
    pub mod apply_cli;
    pub mod apply_examples;
    pub mod apply_processes;
    pub mod apply_roundtrip;
}

/// the CLI, the storage contract, logs, metrics, readiness, the PostgreSQL outage test
mod operations {
    pub mod cli;
    pub mod cli_rules;
    pub mod contract;
    pub mod json_logs;
    pub mod metrics;
    pub mod metrics_snapshot;
    pub mod parent_rows;
    pub mod pg_outage;
    pub mod readiness;
}

/// the web console: HTTP-level tests and the real-browser walk
mod console {
    pub mod browser;
    pub mod pages;
}
