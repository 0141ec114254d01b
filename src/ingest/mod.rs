//! Ingest: what happens to a request on `POST /hooks/{hk}` before it becomes a run.
//!
//! `signature` checks the provider's signature over the raw bytes, before anything is parsed.

pub mod signature;
