//! What the tests share: `helpers` (the app on each backend, `on_both_backends!`), the
//! ingest, approval, crash and outage helpers, a fake SMTP server, and the console's
//! sign-in helpers and WebDriver client.

pub mod approval_support;
pub mod console_support;
pub mod console_webdriver;
pub mod crash_support;
pub mod helpers;
pub mod ingest_support;
pub mod outage_support;
pub mod smtp_sink;
