//! Step executors: run one already-rendered pipeline step and capture its log (SPEC §5).
//!
//! The run queue and worker decide which step runs when; these only execute one.

pub mod command;
pub mod http;
pub mod step_log;

pub use command::{run_command, CommandSpec, StepOutcome};
pub use http::{run_http, HttpSpec};
pub use step_log::StepLog;
