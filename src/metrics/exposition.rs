//! The classic Prometheus text format (0.0.4) from `prometheus-client`'s OpenMetrics text.
//!
//! SPEC §9 names both `hookgate_runs_total` (a counter) and `hookgate_runs` (a gauge). In
//! OpenMetrics a counter's family is named without `_total`, so the two would be one family
//! name twice, which scrapers refuse. In the classic format a counter's family is named with
//! its `_total`, and the two names differ. So `/metrics` answers the classic format:
//! counters' `HELP`/`TYPE` lines take the `_total` suffix, info families become gauges named
//! `…_info`, and `# UNIT` / `# EOF` lines go.

/// The content type of [`to_classic`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Rewrites OpenMetrics text into the classic text format.
pub fn to_classic(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut help: Option<&str> = None;
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            // Written once the TYPE line (next) tells the family's classic name.
            help = Some(rest);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (suffix, kind) = match kind {
                "counter" => ("_total", "counter"),
                "info" => ("_info", "gauge"),
                "unknown" => ("", "untyped"),
                other => ("", other),
            };
            if let Some(h) = help.take() {
                let text = h.split_once(' ').map_or("", |(_, t)| t);
                out.push_str(&format!("# HELP {name}{suffix} {text}\n"));
            }
            out.push_str(&format!("# TYPE {name}{suffix} {kind}\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_infos_take_their_sample_names() {
        let om = "# HELP a Things.\n# TYPE a counter\na_total{x=\"1\"} 2\n# HELP b_seconds Time.\n# TYPE b_seconds histogram\n# UNIT b_seconds seconds\nb_seconds_sum 1.0\n# HELP v Version.\n# TYPE v info\nv_info{version=\"1\"} 1\n# EOF\n";
        assert_eq!(
            to_classic(om),
            "# HELP a_total Things.\n# TYPE a_total counter\na_total{x=\"1\"} 2\n# HELP b_seconds Time.\n# TYPE b_seconds histogram\nb_seconds_sum 1.0\n# HELP v_info Version.\n# TYPE v_info gauge\nv_info{version=\"1\"} 1\n"
        );
    }
}
