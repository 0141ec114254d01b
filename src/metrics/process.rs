//! Process metrics read from `/proc/self` at scrape time (cheap: three small reads, no
//! database): resident memory, CPU seconds, open file descriptors, start time. On systems
//! without `/proc` they are left out.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

/// The standard `process_*` families, as other Prometheus clients name them.
#[derive(Debug)]
pub struct ProcessCollector;

/// What `/proc/self` says about this process.
#[derive(Debug, Default, PartialEq)]
pub struct ProcessStats {
    pub resident_bytes: u64,
    pub cpu_seconds: f64,
    pub open_fds: u64,
    pub start_time_seconds: f64,
}

impl ProcessStats {
    /// Reads `/proc/self`; `None` where it cannot be read.
    pub fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let boot = boot_time_seconds().unwrap_or(0.0);
        Self::from_stat(&stat, open_fds, page_size(), clock_ticks(), boot)
    }

    /// Parses `/proc/self/stat` (fields after the command name, which may hold spaces).
    pub fn from_stat(stat: &str, open_fds: u64, page: u64, ticks: f64, boot: f64) -> Option<Self> {
        let after_comm = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        // Field numbers from proc(5), minus the 3 before `state` (pid, comm) → index = n - 3.
        let utime: f64 = fields.get(14 - 3)?.parse().ok()?;
        let stime: f64 = fields.get(15 - 3)?.parse().ok()?;
        let start: f64 = fields.get(22 - 3)?.parse().ok()?;
        let rss_pages: u64 = fields.get(24 - 3)?.parse().ok()?;
        Some(Self {
            resident_bytes: rss_pages * page,
            cpu_seconds: (utime + stime) / ticks,
            open_fds,
            start_time_seconds: boot + start / ticks,
        })
    }
}

fn page_size() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 {
        n as f64
    } else {
        100.0
    }
}

fn boot_time_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(s) = ProcessStats::read() else {
            return Ok(());
        };
        let rss = ConstGauge::new(s.resident_bytes as i64);
        rss.encode(encoder.encode_descriptor(
            "process_resident_memory",
            "Resident memory size",
            Some(&Unit::Bytes),
            rss.metric_type(),
        )?)?;
        let cpu = ConstCounter::new(s.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu",
            "User and system CPU time spent",
            Some(&Unit::Seconds),
            cpu.metric_type(),
        )?)?;
        let fds = ConstGauge::new(s.open_fds as i64);
        fds.encode(encoder.encode_descriptor(
            "process_open_fds",
            "Open file descriptors",
            None,
            fds.metric_type(),
        )?)?;
        let start = ConstGauge::new(s.start_time_seconds);
        start.encode(encoder.encode_descriptor(
            "process_start_time",
            "Start time of the process since the Unix epoch",
            Some(&Unit::Seconds),
            start.metric_type(),
        )?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_whose_command_has_spaces_and_parens() {
        let stat = "42 (hook gate) (x) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1000 123456789 2560 18446744073709551615";
        let s = ProcessStats::from_stat(stat, 7, 4096, 100.0, 1_700_000_000.0).unwrap();
        assert_eq!(s.cpu_seconds, 3.0);
        assert_eq!(s.resident_bytes, 2560 * 4096);
        assert_eq!(s.open_fds, 7);
        assert_eq!(s.start_time_seconds, 1_700_000_010.0);
    }

    #[test]
    fn reads_this_process() {
        if let Some(s) = ProcessStats::read() {
            assert!(s.resident_bytes > 0 && s.open_fds > 0);
        }
    }
}
