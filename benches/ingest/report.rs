//! The figures gathered over the rounds, and the JSON line they make.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::args::PhaseName;
use crate::measure::Measured;

pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// `x` to `digits` decimals.
pub fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// One phase's figures, a value per round.
#[derive(Default)]
pub struct Figures {
    pub per_s: Vec<f64>,
    pub server_cpu_us: Vec<f64>,
    pub db_cpu_us: Vec<f64>,
    pub db_all_cpu_us: Vec<f64>,
    /// (p50, p99) in ms.
    pub latency_ms: Vec<(f64, f64)>,
}

impl Figures {
    pub fn push(&mut self, m: &mut Measured) {
        self.per_s.push(m.phase.per_s());
        self.server_cpu_us.push(m.server_cpu_us);
        if let Some((backends, all)) = m.db_cpu_us {
            self.db_cpu_us.push(backends);
            self.db_all_cpu_us.push(all);
        }
        let p50 = m.phase.percentile_ms(0.5);
        self.latency_ms.push((p50, m.phase.percentile_ms(0.99)));
    }
}

/// Everything the JSON line reports besides the rounds' figures.
pub struct Totals {
    pub database: &'static str,
    pub connections: usize,
    pub seconds: u64,
    pub rounds: usize,
    pub payload_bytes: usize,
    pub half_load_per_s: f64,
    pub half_load_p99_ms: f64,
    pub accepted_total: u64,
    pub runs_committed: i64,
    pub run_start_p50_ms: i64,
    pub run_start_samples: usize,
    pub rss_mib: f64,
}

/// The one JSON line: the keys of the first version of this bench (`ratio`, `p99_ms`,
/// `rss_mib`, …) and those of issue 17 (`cpu_ratio`, `forged_ratio`, `db_cpu_us_per_request`).
pub fn line(figures: &HashMap<PhaseName, Figures>, t: &Totals) -> Value {
    let f = |name: PhaseName| &figures[&name];
    let per_s = |name| median(&f(name).per_s);
    let per_phase = |pick: fn(&Figures) -> &Vec<f64>| -> Map<String, Value> {
        PhaseName::ALL
            .iter()
            .map(|&n| (n.key().to_string(), json!(round(median(pick(f(n))), 1))))
            .collect()
    };
    let server_cpu = |name| median(&f(name).server_cpu_us);
    let db_cpu = |name| median(&f(name).db_cpu_us);
    let on_postgres = !f(PhaseName::Ingest).db_cpu_us.is_empty();
    // Durable ingest's whole cost: on PostgreSQL, the database's own CPU is counted too.
    let ingest_cpu = server_cpu(PhaseName::Ingest)
        + if on_postgres {
            db_cpu(PhaseName::Ingest)
        } else {
            0.0
        };
    let (p50s, p99s): (Vec<f64>, Vec<f64>) =
        f(PhaseName::Ingest).latency_ms.iter().copied().unzip();
    let accepted_per_s = per_s(PhaseName::Ingest);
    let mut line = json!({
        "database": t.database,
        "connections": t.connections,
        "seconds": t.seconds,
        "rounds": t.rounds,
        "payload_bytes": t.payload_bytes,
        "accepted_per_s": accepted_per_s.round(),
        "p50_ms": median(&p50s),
        "p99_ms": median(&p99s),
        "bare_per_s": per_s(PhaseName::Bare).round(),
        "verify_parse_per_s": per_s(PhaseName::VerifyParse).round(),
        "ratio": round(accepted_per_s / per_s(PhaseName::VerifyParse), 3),
        "cpu_ratio": round(server_cpu(PhaseName::VerifyParse) / ingest_cpu, 3),
        "hmac_per_s": per_s(PhaseName::Hmac).round(),
        "forged_per_s": per_s(PhaseName::Forged).round(),
        "forged_ratio": round(per_s(PhaseName::Forged) / per_s(PhaseName::Hmac), 3),
        "server_cpu_us_per_request": per_phase(|f| &f.server_cpu_us),
        "half_load_per_s": t.half_load_per_s.round(),
        "half_load_p99_ms": t.half_load_p99_ms,
        "accepted_total": t.accepted_total,
        "runs_committed": t.runs_committed,
        "all_accepted_committed": t.runs_committed as u64 == t.accepted_total,
        "run_start_p50_ms": t.run_start_p50_ms,
        "run_start_samples": t.run_start_samples,
        "rss_mib": t.rss_mib,
    });
    if on_postgres {
        line["db_cpu_us_per_request"] = per_phase(|f| &f.db_cpu_us).into();
        line["db_all_cpu_us_per_request"] = per_phase(|f| &f.db_all_cpu_us).into();
    }
    line
}
