//! Integration tests through the real HTTP interface, on SQLite and on PostgreSQL.

mod helpers;

mod cli;
mod contract;
mod deliveries;
mod hooks;
mod pipelines;
mod projects;
mod roles;
