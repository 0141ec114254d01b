//! CPU time and memory from /proc: the server's, and PostgreSQL's when it runs on this machine.

use std::collections::HashMap;

/// Clock ticks per second, the unit of /proc/PID/stat's times.
fn ticks_per_s() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

/// What this bench reads of /proc/PID/stat.
struct Stat {
    ppid: u32,
    /// utime + stime: the process's own CPU, all its threads.
    cpu_ticks: u64,
    /// cutime + cstime: children that exited and were waited for.
    reaped_ticks: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses: proc(5) numbers them from
    // 3 (state), so field N is at index N - 3.
    let (_, rest) = text.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |n: usize| f.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        ppid: num(4)? as u32,
        cpu_ticks: num(14)? + num(15)?,
        reaped_ticks: num(16)? + num(17)?,
    })
}

/// CPU time the process has used so far (user + system, all threads), in microseconds.
pub fn cpu_us(pid: u32) -> f64 {
    stat(pid).map_or(0.0, |s| s.cpu_ticks as f64 * 1e6 / ticks_per_s())
}

/// The process's peak resident memory (VmHWM), in MiB, to one decimal.
pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0);
    (kb / 1024.0 * 10.0).round() / 10.0
}

fn pids() -> impl Iterator<Item = u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
}

/// A process's title as `ps` shows it (PostgreSQL rewrites it: `postgres: 15/main: USER DB
/// HOST(PORT) STATE` for a backend).
fn title(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// PostgreSQL's CPU at one moment, in ticks.
pub struct DbCpu {
    /// Each backend connected to the bench's database.
    backends: HashMap<u32, u64>,
    /// The postmaster and all its children (background processes and other databases'
    /// backends too), plus the children it has reaped.
    all: u64,
}

impl DbCpu {
    /// Reads the PostgreSQL processes on this machine: the postmaster is the `postgres`
    /// process whose parent is not one; the backends are its children. `database` picks the
    /// backends whose title names it.
    pub fn sample(database: &str) -> DbCpu {
        let procs: HashMap<u32, Stat> = pids()
            .filter(|&pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| matches!(c.trim(), "postgres" | "postmaster"))
            })
            .filter_map(|pid| Some((pid, stat(pid)?)))
            .collect();
        let mut sample = DbCpu {
            backends: HashMap::new(),
            all: 0,
        };
        for (pid, s) in &procs {
            if !procs.contains_key(&s.ppid) {
                sample.all += s.cpu_ticks + s.reaped_ticks;
                continue;
            }
            sample.all += s.cpu_ticks;
            if title(*pid).split_whitespace().any(|word| word == database) {
                sample.backends.insert(*pid, s.cpu_ticks);
            }
        }
        sample
    }

    /// CPU used since `before`, in microseconds: (the bench database's backends, all of
    /// PostgreSQL). A backend that started in between counts from zero; one that ended in
    /// between is missing from the first figure (the pool keeps its connections open).
    pub fn since(&self, before: &DbCpu) -> (f64, f64) {
        let backends: u64 = self
            .backends
            .iter()
            .map(|(pid, t)| t - before.backends.get(pid).copied().unwrap_or(0).min(*t))
            .sum();
        let us = |ticks: u64| ticks as f64 * 1e6 / ticks_per_s();
        (us(backends), us(self.all.saturating_sub(before.all)))
    }
}
