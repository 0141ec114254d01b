//! The bench's command line (`scripts/bench -- …` or `cargo bench --bench ingest -- …`).

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// The ingest benchmark: durable ingest against baselines served by the same binary, in one
/// run. Prints one JSON line.
#[derive(Debug, Parser)]
#[command(name = "ingest")]
pub struct Args {
    /// Keep-alive connections driven at once.
    #[arg(long, default_value_t = 64, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub connections: usize,
    /// Length of each phase of each round.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub seconds: u64,
    /// Interleaved rounds (figures are medians over them); with `--ab`, the alternations.
    #[arg(long, default_value_t = 3, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub rounds: usize,
    /// A PostgreSQL URL (used as it is); a temporary SQLite database otherwise.
    #[arg(long)]
    pub database: Option<String>,
    /// Drive only this phase, a JSON line per round: for profiling one of them.
    #[arg(long, value_enum)]
    pub only: Option<PhaseName>,
    /// Alternate rounds of durable ingest between this binary and the one under test
    /// (`HOOKGATE_BIN`, else this build's), and print each one's server CPU per request.
    #[arg(long, value_name = "OTHER_BIN")]
    pub ab: Option<PathBuf>,
    /// Passed by `cargo bench`; without it the program exits at once (see `main`).
    #[arg(long, hide = true)]
    pub bench: bool,
}

/// The phases of a round, each one endpoint driven the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum PhaseName {
    /// `/bench/bare`: answers 202, nothing else.
    Bare,
    /// `/bench/hmac/{hk}`: the signature checked, nothing else.
    Hmac,
    /// `/bench/verify-parse/{hk}`: signature, full parse, variables; nothing stored.
    #[value(name = "verify_parse")]
    VerifyParse,
    /// `/hooks/{hk}` with a wrong signature: the 401 a forged flood gets.
    Forged,
    /// `/hooks/{hk}`: durable ingest.
    Ingest,
}

impl PhaseName {
    pub const ALL: [PhaseName; 5] = [
        PhaseName::Bare,
        PhaseName::Hmac,
        PhaseName::VerifyParse,
        PhaseName::Forged,
        PhaseName::Ingest,
    ];

    /// The key in the JSON line.
    pub fn key(self) -> &'static str {
        match self {
            PhaseName::Bare => "bare",
            PhaseName::Hmac => "hmac",
            PhaseName::VerifyParse => "verify_parse",
            PhaseName::Forged => "forged",
            PhaseName::Ingest => "ingest",
        }
    }
}
