//! One phase driven and costed: requests per second from the load generator, CPU per request
//! from /proc (the server's and, on PostgreSQL, the database's).

use crate::args::Args;
use crate::load::{drive, Phase, Target};
use crate::procfs::{cpu_us, DbCpu};

/// A phase and what it cost.
pub struct Measured {
    pub phase: Phase,
    /// Server CPU µs per request answered.
    pub server_cpu_us: f64,
    /// PostgreSQL CPU µs per request answered: (the bench database's backends, all of
    /// PostgreSQL); `None` on SQLite.
    pub db_cpu_us: Option<(f64, f64)>,
}

/// How one phase is driven.
pub struct Load<'a> {
    pub connections: usize,
    pub seconds: u64,
    /// The PostgreSQL database's name, to read its backends' CPU; `None` on SQLite.
    pub database: Option<&'a str>,
}

impl Load<'_> {
    /// As the command line asks.
    pub fn of(args: &Args) -> Load<'_> {
        Load {
            connections: args.connections,
            seconds: args.seconds,
            database: args.database.as_deref().map(database_name),
        }
    }
}

/// Drives `target` back to back for `load.seconds` and reads the CPU used around it.
pub async fn measure(server_pid: u32, target: &Target, load: &Load<'_>, tag: &str) -> Measured {
    let db_before = load.database.map(DbCpu::sample);
    let cpu_before = cpu_us(server_pid);
    let phase = drive(target, load.connections, load.seconds, None, tag).await;
    let server = cpu_us(server_pid) - cpu_before;
    let db = db_before
        .zip(load.database)
        .map(|(before, name)| DbCpu::sample(name).since(&before));
    let n = phase.requests.max(1) as f64;
    Measured {
        server_cpu_us: server / n,
        db_cpu_us: db.map(|(backends, all)| (backends / n, all / n)),
        phase,
    }
}

/// The database name at the end of a PostgreSQL URL (`postgres://u@h:5432/NAME?…`).
pub fn database_name(url: &str) -> &str {
    let path = url.rsplit_once('/').map_or(url, |(_, name)| name);
    path.split_once('?').map_or(path, |(name, _)| name)
}
