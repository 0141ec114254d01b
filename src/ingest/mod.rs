//! Ingest: what happens to a request on `POST /hooks/{hk}` before it becomes a run.
//!
//! - the provider's signature is checked over the raw bytes, before anything is parsed, by the
//!   top-level pure module `crate::signature`.
//! - `body` parses JSON or GitHub's form mode.
//! - `hooks` keeps hooks compiled (`single_flight`: one read of a stale hook at a time); `record` builds request-log rows.
//! - `committer` groups concurrent commits into one transaction.
//! - `accept` is the core after verification (no HTTP); `evaluate` its decision without I/O.
//! - `handler` is the route, in the order SPEC §4 gives; `route` matches it without a regex.
//! - `baseline` holds the benchmark's comparison endpoints (off by default).

pub mod accept;
pub mod baseline;
pub mod body;
pub mod client_ip;
pub mod committer;
pub mod evaluate;
pub mod handler;
pub mod hooks;
pub mod record;
pub mod retention;
pub mod route;
pub mod single_flight;
