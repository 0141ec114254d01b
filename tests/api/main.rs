//! Integration tests through the real HTTP interface, on SQLite and on PostgreSQL.

mod helpers;

mod approval_restart;
mod approval_support;
mod approvals;
mod events;
mod outgoing_seeds;
mod smtp_sink;

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
mod notify;
mod pg_outage;
mod pipelines;
mod projects;
mod roles;
mod runner_processes;
mod runs;
