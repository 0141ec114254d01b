//! Integration tests through the real HTTP interface, on SQLite and on PostgreSQL.

mod helpers;

mod allowed_ips;
mod apply;
mod apply_cli;
mod apply_examples;
mod apply_processes;
mod apply_roundtrip;
mod approval_restart;
mod approval_support;
mod approvals;
mod bodies;
mod events;
mod outgoing_seeds;
mod smtp_sink;

mod cli;
mod cli_rules;
mod contract;
mod crash;
mod crash_support;
mod deliveries;
mod hook_rules;
mod hook_test_route;
mod hooks;
mod ingest;
mod ingest_flow;
mod ingest_hostile;
mod ingest_outage;
mod ingest_support;
mod long_keys;
mod notify;
mod outage_support;
mod pg_outage;
mod pipelines;
mod projects;
mod provider_recipes;
mod readiness;
mod roles;
mod run_outage;
mod runner_processes;
mod runs;
mod slow_clients;
mod strict_bodies;
