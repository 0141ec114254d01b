//! What the tests share: `helpers` (the app on each backend, `on_both_backends!`), the
//! ingest, approval, crash and outage helpers, and a fake SMTP server.

pub mod approval_support;
pub mod crash_support;
pub mod helpers;
pub mod ingest_support;
pub mod outage_support;
pub mod smtp_sink;
