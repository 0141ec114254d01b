//! Settings: built-in defaults, then a TOML file, then `HOOKGATE_*` environment variables.
//!
//! Every setting is checked at start; a bad one stops hookgate with one line that names it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

/// Which database a URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

/// The validated settings hookgate runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: String,
    pub master_key: Option<SecretString>,
    /// Base of the hook URLs handed out, without a trailing slash.
    pub public_url: String,
    pub workers: usize,
    pub allow_private_targets: bool,
    pub log: String,
    pub log_format: LogFormat,
    /// Largest ingest body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long delivery records are kept, in days.
    pub delivery_retention_days: u32,
    /// How long provider delivery ids are remembered for dedup, in days (at least 7).
    pub dedup_window_days: u32,
    /// A running run's lease, in seconds: a run whose worker stopped heartbeating is recovered
    /// this long after its last heartbeat.
    pub lease_secs: u32,
    /// On shutdown, how long runs in flight may take to finish before they are handed back.
    pub shutdown_grace_secs: u32,
    /// Serve the benchmark's baseline endpoints (`/bench/…`). For measuring only; a binary
    /// built without the `bench-endpoints` feature refuses it.
    pub bench_endpoints: bool,
    /// Outgoing hooks: the wait before each retry (`HOOKGATE_NOTIFY_BACKOFF_SECS`, seconds,
    /// comma-separated, fractions allowed); an event gets one attempt more than there are delays.
    pub notify_backoff: Vec<std::time::Duration>,
    /// Peers whose `X-Forwarded-For` / `Forwarded` is believed when finding a client's address
    /// (`HOOKGATE_TRUSTED_PROXIES`, CIDRs, comma-separated; default none).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Slow clients (SPEC §7): most connections open at once (`HOOKGATE_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// A request body must arrive within this many seconds of its head.
    pub body_read_timeout_secs: u32,
    /// …and no slower than this many bytes a second over each 5 s window (0: no rate check).
    pub body_min_bytes_per_sec: u64,
    /// The email channel's relay (`HOOKGATE_SMTP_URL`): `smtps://user:pass@host:465` (TLS) or
    /// `smtp://host:587?starttls=required` (STARTTLS); plain `smtp://host:25` only without
    /// either. Unset: email hooks fail their attempts with a clear error. Holds a password.
    pub smtp_url: Option<SecretString>,
    /// The sender of hookgate's mails (`HOOKGATE_SMTP_FROM`, default `hookgate@localhost`).
    pub smtp_from: String,
    /// When set, `GET /metrics` requires `Authorization: Bearer <this>`; open otherwise.
    pub metrics_token: Option<SecretString>,
}

/// The default retry schedule of outgoing hooks: 5 s, 30 s, 2 min, 15 min, 1 h, 6 h, 12 h
/// (8 attempts over about 20 hours).
pub const DEFAULT_NOTIFY_BACKOFF_SECS: &str = "5,30,120,900,3600,21600,43200";

/// Parses `"10.0.0.0/8, ::1"` (or `["10.0.0.0/8"]` from a file): CIDRs or single addresses.
pub fn parse_proxies(s: &str) -> Result<Vec<ipnet::IpNet>, String> {
    let inner = s.trim().trim_start_matches('[').trim_end_matches(']');
    inner
        .split(',')
        .map(|part| part.trim().trim_matches('"').trim())
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<ipnet::IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(|n| n.trunc())
                .map_err(|_| format!("{part:?} is not a CIDR (10.0.0.0/8, fd00::/8) or an address"))
        })
        .collect()
}

/// Parses `"5,30,0.5"` (or `[5, 30, 0.5]` from a file) into delays; each must be above 0 and
/// at most a week.
pub fn parse_backoff(s: &str) -> Result<Vec<std::time::Duration>, String> {
    let inner = s.trim().trim_start_matches('[').trim_end_matches(']');
    let delays = inner
        .split(',')
        .map(|part| {
            let part = part.trim().trim_matches('"');
            match part.parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 && v <= 7.0 * 86_400.0 => {
                    Ok(std::time::Duration::from_secs_f64(v))
                }
                _ => Err(format!(
                    "{part:?} is not a number of seconds above 0 and at most 604800"
                )),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    if delays.is_empty() || delays.len() > 50 {
        return Err("give 1 to 50 delays, comma-separated".into());
    }
    Ok(delays)
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A setting that is not valid; the message names it.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}: {problem}")]
pub struct ConfigError {
    pub name: String,
    pub problem: String,
}

fn bad(name: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        name: name.to_string(),
        problem: problem.into(),
    }
}

/// The file form: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    database_url: Option<String>,
    master_key: Option<String>,
    public_url: Option<String>,
    workers: Option<usize>,
    allow_private_targets: Option<bool>,
    log: Option<String>,
    log_format: Option<String>,
    max_body_bytes: Option<usize>,
    delivery_retention_days: Option<u32>,
    dedup_window_days: Option<u32>,
    lease_secs: Option<u32>,
    shutdown_grace_secs: Option<u32>,
    bench_endpoints: Option<bool>,
    notify_backoff_secs: Option<serde_json::Value>,
    trusted_proxies: Option<serde_json::Value>,
    max_connections: Option<usize>,
    body_read_timeout_secs: Option<u32>,
    body_min_bytes_per_sec: Option<u64>,
    smtp_url: Option<String>,
    smtp_from: Option<String>,
    metrics_token: Option<String>,
}

const KEYS: &[&str] = &[
    "listen",
    "database_url",
    "master_key",
    "public_url",
    "workers",
    "allow_private_targets",
    "log",
    "log_format",
    "max_body_bytes",
    "delivery_retention_days",
    "dedup_window_days",
    "lease_secs",
    "shutdown_grace_secs",
    "bench_endpoints",
    "notify_backoff_secs",
    "trusted_proxies",
    "max_connections",
    "body_read_timeout_secs",
    "body_min_bytes_per_sec",
    "smtp_url",
    "smtp_from",
    "metrics_token",
];

impl Settings {
    /// Loads settings from `config` (or `./hookgate.toml` when present) and the process environment.
    pub fn load(config: Option<&Path>) -> Result<Self, ConfigError> {
        let env: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("HOOKGATE_"))
            .collect();
        Self::from_sources(config, &env)
    }

    /// Loads settings from a file and an explicit environment map (used by tests).
    pub fn from_sources(
        config: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let file = match config {
            Some(p) => read_file(p, true)?,
            None => read_file(Path::new("hookgate.toml"), false)?,
        };
        let mut raw: HashMap<&str, String> = HashMap::new();
        let file_json = serde_json::to_value(FileAsMap(&file)).unwrap_or_default();
        for key in KEYS {
            if let Some(v) = file_json.get(*key).filter(|v| !v.is_null()) {
                raw.insert(
                    key,
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                );
            }
            let env_name = format!("HOOKGATE_{}", key.to_uppercase());
            if let Some(v) = env.get(&env_name) {
                raw.insert(key, v.clone());
            }
        }
        Self::from_raw(&raw)
    }

    fn from_raw(raw: &HashMap<&str, String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            raw.get(k)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let name = |k: &str| format!("{} (HOOKGATE_{})", k, k.to_uppercase());

        let listen_s = get("listen").unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_s.parse().map_err(|_| {
            bad(
                &name("listen"),
                format!("{listen_s:?} is not an address:port such as 127.0.0.1:8080"),
            )
        })?;

        let database_url = get("database_url").unwrap_or_else(|| "sqlite://hookgate.db".into());
        database_kind(&database_url).ok_or_else(|| {
            bad(
                &name("database_url"),
                "must start with sqlite:// or postgres:// (or postgresql://)",
            )
        })?;

        let master_key = get("master_key").map(SecretString::from);
        if let Some(k) = &master_key {
            use secrecy::ExposeSecret;
            crate::crypto::MasterKey::from_base64(k.expose_secret())
                .map_err(|e| bad(&name("master_key"), e.to_string()))?;
        }

        let public_url = get("public_url").unwrap_or_else(|| format!("http://{listen}"));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(bad(
                &name("public_url"),
                "must start with http:// or https://",
            ));
        }
        let public_url = public_url.trim_end_matches('/').to_string();

        let workers = match get("workers") {
            None => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            Some(s) => s
                .parse()
                .map_err(|_| bad(&name("workers"), format!("{s:?} is not a whole number")))?,
        };
        let allow_private_targets =
            parse_bool(get("allow_private_targets"), &name("allow_private_targets"))?;
        let bench_endpoints = parse_bool(get("bench_endpoints"), &name("bench_endpoints"))?;
        if bench_endpoints && !cfg!(feature = "bench-endpoints") {
            return Err(bad(
                &name("bench_endpoints"),
                "this binary was built without the bench-endpoints feature (scripts/bench builds one with it)",
            ));
        }
        let log = get("log").unwrap_or_else(|| "info".into());
        tracing_subscriber::EnvFilter::try_new(&log)
            .map_err(|e| bad(&name("log"), e.to_string()))?;
        let log_format = match get("log_format").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(s) => {
                return Err(bad(
                    &name("log_format"),
                    format!("{s:?} is not text or json"),
                ))
            }
        };
        let max_body_bytes = parse_num(
            get("max_body_bytes"),
            5 * 1024 * 1024,
            &name("max_body_bytes"),
        )?;
        if max_body_bytes == 0 {
            return Err(bad(&name("max_body_bytes"), "must be more than 0"));
        }
        let delivery_retention_days = parse_num(
            get("delivery_retention_days"),
            30,
            &name("delivery_retention_days"),
        )?;
        let dedup_window_days = parse_num(get("dedup_window_days"), 7, &name("dedup_window_days"))?;
        if dedup_window_days < 7 {
            return Err(bad(&name("dedup_window_days"), "must be at least 7"));
        }
        let lease_secs = parse_num(get("lease_secs"), 30, &name("lease_secs"))?;
        if !(2..=3600).contains(&lease_secs) {
            return Err(bad(&name("lease_secs"), "must be 2 to 3600"));
        }
        let shutdown_grace_secs =
            parse_num(get("shutdown_grace_secs"), 30, &name("shutdown_grace_secs"))?;
        let notify_backoff = parse_backoff(
            &get("notify_backoff_secs").unwrap_or_else(|| DEFAULT_NOTIFY_BACKOFF_SECS.into()),
        )
        .map_err(|e| bad(&name("notify_backoff_secs"), e))?;
        let trusted_proxies = parse_proxies(&get("trusted_proxies").unwrap_or_default())
            .map_err(|e| bad(&name("trusted_proxies"), e))?;
        let max_connections = parse_num(get("max_connections"), 10_000, &name("max_connections"))?;
        if max_connections == 0 {
            return Err(bad(&name("max_connections"), "must be more than 0"));
        }
        let body_read_timeout_secs = parse_num(
            get("body_read_timeout_secs"),
            30,
            &name("body_read_timeout_secs"),
        )?;
        if !(1..=3600).contains(&body_read_timeout_secs) {
            return Err(bad(&name("body_read_timeout_secs"), "must be 1 to 3600"));
        }
        let body_min_bytes_per_sec = parse_num(
            get("body_min_bytes_per_sec"),
            1024,
            &name("body_min_bytes_per_sec"),
        )?;
        let smtp_url = get("smtp_url").map(SecretString::from);
        if let Some(u) = &smtp_url {
            use secrecy::ExposeSecret;
            crate::notify::email::check_url(u.expose_secret())
                .map_err(|e| bad(&name("smtp_url"), e))?;
        }
        let smtp_from = get("smtp_from").unwrap_or_else(|| "hookgate@localhost".into());
        if smtp_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(bad(&name("smtp_from"), "is not an email address"));
        }
        // Set but blank is refused rather than read as unset: it would leave /metrics open.
        let metrics_token = raw
            .get("metrics_token")
            .map(|t| SecretString::from(t.clone()));
        if let Some(t) = &metrics_token {
            use secrecy::ExposeSecret;
            let t = t.expose_secret();
            if t.len() < 16 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad(
                    &name("metrics_token"),
                    "must be at least 16 characters, without spaces (or unset for an open /metrics)",
                ));
            }
        }
        Ok(Settings {
            trusted_proxies,
            listen,
            database_url,
            master_key,
            public_url,
            workers,
            allow_private_targets,
            log,
            log_format,
            max_body_bytes,
            delivery_retention_days,
            dedup_window_days,
            lease_secs,
            shutdown_grace_secs,
            bench_endpoints,
            notify_backoff,
            max_connections,
            body_read_timeout_secs,
            body_min_bytes_per_sec,
            smtp_url,
            smtp_from,
            metrics_token,
        })
    }

    /// The limits request bodies are read under (see `body_deadline`).
    pub fn body_limits(&self) -> crate::body_deadline::BodyLimits {
        crate::body_deadline::BodyLimits {
            deadline: std::time::Duration::from_secs(self.body_read_timeout_secs.into()),
            min_bytes_per_sec: self.body_min_bytes_per_sec,
            window: crate::body_deadline::RATE_WINDOW,
        }
    }

    /// The kind of database `database_url` names.
    pub fn database_kind(&self) -> DatabaseKind {
        database_kind(&self.database_url).expect("validated at load")
    }

    /// For SQLite, the database file's path (used to place the key file beside it).
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let rest = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or(rest);
        Some(PathBuf::from(path))
    }
}

fn parse_num<T: std::str::FromStr>(
    v: Option<String>,
    default: T,
    name: &str,
) -> Result<T, ConfigError> {
    match v {
        None => Ok(default),
        Some(s) => s
            .parse()
            .map_err(|_| bad(name, format!("{s:?} is not a whole number"))),
    }
}

fn parse_bool(v: Option<String>, name: &str) -> Result<bool, ConfigError> {
    match v.as_deref() {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(s) => Err(bad(name, format!("{s:?} is not true or false"))),
    }
}

fn database_kind(url: &str) -> Option<DatabaseKind> {
    if url.starts_with("sqlite:") {
        Some(DatabaseKind::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(DatabaseKind::Postgres)
    } else {
        None
    }
}

fn read_file(path: &Path, must_exist: bool) -> Result<FileSettings, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
            return Ok(FileSettings::default())
        }
        Err(e) => {
            return Err(bad(
                "--config",
                format!("cannot read {}: {e}", path.display()),
            ))
        }
    };
    toml::from_str(&text)
        .map_err(|e| bad(&format!("in {}", path.display()), e.message().to_string()))
}

/// Serializes the file settings as a map so each key can be read by name.
struct FileAsMap<'a>(&'a FileSettings);

impl serde::Serialize for FileAsMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let f = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("listen", &f.listen)?;
        m.serialize_entry("database_url", &f.database_url)?;
        m.serialize_entry("master_key", &f.master_key)?;
        m.serialize_entry("public_url", &f.public_url)?;
        m.serialize_entry("workers", &f.workers)?;
        m.serialize_entry("allow_private_targets", &f.allow_private_targets)?;
        m.serialize_entry("log", &f.log)?;
        m.serialize_entry("log_format", &f.log_format)?;
        m.serialize_entry("max_body_bytes", &f.max_body_bytes)?;
        m.serialize_entry("delivery_retention_days", &f.delivery_retention_days)?;
        m.serialize_entry("dedup_window_days", &f.dedup_window_days)?;
        m.serialize_entry("lease_secs", &f.lease_secs)?;
        m.serialize_entry("shutdown_grace_secs", &f.shutdown_grace_secs)?;
        m.serialize_entry("bench_endpoints", &f.bench_endpoints)?;
        m.serialize_entry("notify_backoff_secs", &f.notify_backoff_secs)?;
        m.serialize_entry("trusted_proxies", &f.trusted_proxies)?;
        m.serialize_entry("max_connections", &f.max_connections)?;
        m.serialize_entry("body_read_timeout_secs", &f.body_read_timeout_secs)?;
        m.serialize_entry("body_min_bytes_per_sec", &f.body_min_bytes_per_sec)?;
        m.serialize_entry("smtp_url", &f.smtp_url)?;
        m.serialize_entry("smtp_from", &f.smtp_from)?;
        m.serialize_entry("metrics_token", &f.metrics_token)?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_parse_from_the_environment_and_the_file_forms() {
        assert_eq!(parse_proxies("").unwrap(), vec![]);
        let nets = parse_proxies("10.0.0.0/8, ::1").unwrap();
        assert_eq!(nets.len(), 2);
        assert!(nets[0].contains(&"10.1.2.3".parse::<std::net::IpAddr>().unwrap()));
        assert_eq!(
            parse_proxies(r#"["10.0.0.0/8","fd00::/8"]"#).unwrap().len(),
            2
        );
        assert!(parse_proxies("10.0.0.0/33")
            .unwrap_err()
            .contains("10.0.0.0/33"));
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults() {
        let s = Settings::from_sources(Some(Path::new("/dev/null")), &env(&[])).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_kind(), DatabaseKind::Sqlite);
        assert_eq!(s.public_url, "http://127.0.0.1:8080");
        assert_eq!(s.sqlite_path().unwrap(), PathBuf::from("hookgate.db"));
        assert_eq!(s.max_body_bytes, 5 * 1024 * 1024);
        assert_eq!(s.notify_backoff.len(), 7);
        assert_eq!(s.notify_backoff[6].as_secs(), 43_200);
        assert_eq!(s.max_connections, 10_000);
        assert_eq!(s.body_limits().deadline.as_secs(), 30);
        assert_eq!(s.body_limits().min_bytes_per_sec, 1024);
    }

    #[test]
    fn backoff_accepts_fractions_and_names_bad_values() {
        let s = Settings::from_sources(
            Some(Path::new("/dev/null")),
            &env(&[("HOOKGATE_NOTIFY_BACKOFF_SECS", "0.1, 0.2,3")]),
        )
        .unwrap();
        assert_eq!(s.notify_backoff[0].as_millis(), 100);
        assert_eq!(s.notify_backoff[2].as_secs(), 3);
        assert_eq!(parse_backoff("[5, 30]").unwrap().len(), 2);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("h.toml");
        std::fs::write(&file, "notify_backoff_secs = [5, 0.5]\n").unwrap();
        let s = Settings::from_sources(Some(&file), &env(&[])).unwrap();
        assert_eq!(s.notify_backoff.len(), 2);
        assert_eq!(s.notify_backoff[1].as_millis(), 500);
        for bad in ["", "0", "-1", "x", "1,,2", "NaN"] {
            let e = Settings::from_sources(
                Some(Path::new("/dev/null")),
                &env(&[("HOOKGATE_NOTIFY_BACKOFF_SECS", bad)]),
            );
            if bad.is_empty() {
                assert!(e.is_ok(), "empty means the default");
            } else {
                let e = e.unwrap_err().to_string();
                assert!(e.contains("HOOKGATE_NOTIFY_BACKOFF_SECS"), "{e}");
            }
        }
    }

    #[test]
    fn bench_endpoints_need_the_cargo_feature() {
        let s = Settings::from_sources(
            Some(Path::new("/dev/null")),
            &env(&[("HOOKGATE_BENCH_ENDPOINTS", "true")]),
        );
        if cfg!(feature = "bench-endpoints") {
            assert!(s.unwrap().bench_endpoints);
        } else {
            let e = s.unwrap_err().to_string();
            assert!(e.contains("HOOKGATE_BENCH_ENDPOINTS"), "{e}");
            assert!(e.contains("bench-endpoints feature"), "{e}");
        }
    }

    #[test]
    fn env_overrides_file_and_errors_name_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.toml");
        std::fs::write(&p, "listen = \"127.0.0.1:9000\"\nworkers = 3\n").unwrap();
        let s = Settings::from_sources(Some(&p), &env(&[("HOOKGATE_WORKERS", "5")])).unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.workers, 5);
        let e = Settings::from_sources(Some(&p), &env(&[("HOOKGATE_LISTEN", "nope")])).unwrap_err();
        assert!(e.to_string().contains("HOOKGATE_LISTEN"), "{e}");
        let e =
            Settings::from_sources(Some(&p), &env(&[("HOOKGATE_MASTER_KEY", "AAAA")])).unwrap_err();
        assert!(e.to_string().contains("HOOKGATE_MASTER_KEY"), "{e}");
        assert!(!e.to_string().contains("AAAA"));
        std::fs::write(&p, "bogus = 1\n").unwrap();
        assert!(Settings::from_sources(Some(&p), &env(&[])).is_err());
    }
}
