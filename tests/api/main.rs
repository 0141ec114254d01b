//! Integration tests through the real HTTP interface, on SQLite and on PostgreSQL.

mod helpers;

mod cli;
mod contract;
mod crash;
mod crash_support;
mod deliveries;
mod hooks;
mod ingest;
mod ingest_flow;
mod ingest_hostile;
mod ingest_outage;
mod ingest_support;
mod json_logs;
mod live_logs;
mod metrics;
mod metrics_snapshot;
mod notify;
mod pg_outage;
mod pipelines;
mod projects;
mod roles;
mod runner_processes;
mod runs;
