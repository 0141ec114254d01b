//! The load generator: keep-alive HTTP/1.1 connections, each sending one request at a time
//! with a raw client (no external tool), back to back or paced to a total rate.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What every request of a phase sends, and the status it should get.
#[derive(Clone, Debug)]
pub struct Target {
    pub port: u16,
    pub path: String,
    /// The `X-Hub-Signature-256` header.
    pub signature: String,
    pub body: Vec<u8>,
    pub expect: u16,
}

/// What one load phase measured.
#[derive(Default)]
pub struct Phase {
    /// Requests answered.
    pub requests: u64,
    /// Requests answered with the expected status.
    pub expected: u64,
    /// Other answers, and connections that failed.
    pub errors: u64,
    pub latencies_us: Vec<u32>,
    pub seconds: f64,
}

impl Phase {
    pub fn per_s(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    /// The `p` quantile of the latencies (0.99 for p99), in ms to two decimals.
    pub fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        self.latencies_us.sort_unstable();
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        (self.latencies_us[i] as f64 / 10.0).round() / 100.0
    }

    fn add(&mut self, other: Phase) {
        self.requests += other.requests;
        self.expected += other.expected;
        self.errors += other.errors;
        self.latencies_us.extend(other.latencies_us);
    }
}

/// Drives `connections` connections at `target` for `seconds`. With `rate`, requests are
/// paced to that many per second in total; otherwise each connection sends back to back.
/// `tag` makes each request's `X-GitHub-Delivery` unique.
pub async fn drive(
    target: &Target,
    connections: usize,
    seconds: u64,
    rate: Option<f64>,
    tag: &str,
) -> Phase {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let interval = rate.map(|r| Duration::from_secs_f64(connections as f64 / r));
    let tasks: Vec<_> = (0..connections)
        .map(|conn| {
            // Spread the paced connections' first requests over one interval.
            let first = interval.map_or(started, |i| {
                started + i.mul_f64(conn as f64 / connections as f64)
            });
            let pace = Pace {
                first,
                interval,
                deadline,
            };
            let (target, tag) = (target.clone(), format!("{tag}-{conn}"));
            tokio::spawn(async move { connection(target, pace, tag).await })
        })
        .collect();
    let mut total = Phase::default();
    for task in tasks {
        total.add(task.await.expect("a load connection panicked"));
    }
    total.seconds = started.elapsed().as_secs_f64();
    total
}

/// When one connection sends.
struct Pace {
    first: Instant,
    interval: Option<Duration>,
    deadline: Instant,
}

async fn connection(target: Target, pace: Pace, tag: String) -> Phase {
    let mut phase = Phase::default();
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", target.port)).await else {
        phase.errors += 1;
        return phase;
    };
    stream.set_nodelay(true).ok();
    let mut next = pace.first;
    let mut buf = vec![0u8; 16 * 1024];
    let mut n = 0u64;
    while Instant::now() < pace.deadline {
        if let Some(interval) = pace.interval {
            tokio::time::sleep_until(next.into()).await;
            next += interval;
        }
        n += 1;
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: {tag}-{n}\r\n\
             X-Hub-Signature-256: {}\r\n\r\n",
            target.path,
            target.body.len(),
            target.signature,
        );
        let sent = Instant::now();
        let written = stream.write_all(head.as_bytes()).await.is_ok()
            && stream.write_all(&target.body).await.is_ok();
        let status = match written {
            true => read_response(&mut stream, &mut buf).await,
            false => None,
        };
        let Some(status) = status else {
            phase.errors += 1;
            break;
        };
        phase.requests += 1;
        let latency = sent.elapsed().as_micros().min(u32::MAX as u128) as u32;
        phase.latencies_us.push(latency);
        if status == target.expect {
            phase.expected += 1;
        } else {
            phase.errors += 1;
        }
    }
    phase
}

/// Reads one HTTP/1.1 response (Content-Length bodies); returns its status.
async fn read_response(stream: &mut TcpStream, buf: &mut [u8]) -> Option<u16> {
    let mut filled = 0;
    loop {
        let n = stream.read(&mut buf[filled..]).await.ok()?;
        if n == 0 {
            return None;
        }
        filled += n;
        if let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).ok()?;
            let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            let mut have = filled - end - 4;
            while have < len {
                let n = stream.read(&mut buf[..]).await.ok()?;
                if n == 0 {
                    return None;
                }
                have += n;
            }
            return Some(status);
        }
        if filled == buf.len() {
            return None;
        }
    }
}
