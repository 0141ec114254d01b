//! Builds the application: settings → master key → store → HTTP server.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{middleware, web, App, HttpServer};
use anyhow::{bail, Context};
use tokio_util::sync::CancellationToken;

use crate::api;
use crate::app::AppState;
use crate::config::{DatabaseKind, Settings};
use crate::crypto::MasterKey;
use crate::ingest::committer::Committer;
use crate::ingest::handler::IngestState;
use crate::metrics::Metrics;
use crate::store::{self, Store};
use crate::wake::Wake;
use crate::worker::Workers;

/// A built, bound server (with its workers, unless switched off) that has not started yet.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    workers: Option<Workers>,
    notifier: Option<crate::notify::Notifier>,
    /// Stops the metrics' queue snapshots.
    snapshots: CancellationToken,
}

impl Application {
    /// Resolves the master key, connects and migrates the database (or, when it is
    /// unreachable, goes on and migrates it when it returns, answering 503 until then), binds
    /// the listener and, when `run_workers` (and `workers` > 0), starts the workers.
    pub async fn build(mut settings: Settings, run_workers: bool) -> anyhow::Result<Self> {
        let key = resolve_master_key(&settings)?;
        let store = store::connect_or_wait(&settings).await?;
        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("binding {}", settings.listen))?;
        let bound = listener.local_addr()?;
        // With port 0 (tests) the default public URL must name the port actually bound.
        if settings.public_url == format!("http://{}", settings.listen) {
            settings.public_url = format!("http://{bound}");
        }
        tracing::info!(listen = %bound, database = store.backend(), "hookgate is listening");
        let key = Arc::new(key);
        let wake = Wake::new(store.clone());
        store.watch_config();
        let metrics = Arc::new(Metrics::new());
        let ingest = web::Data::new(IngestState::new(Committer::start(
            store.clone(),
            wake.clone(),
            metrics.clone(),
        )));
        let workers = (run_workers && settings.workers > 0).then(|| {
            Workers::start(
                store.clone(),
                key.clone(),
                &settings,
                wake.clone(),
                metrics.clone(),
            )
        });
        // Outgoing hooks are delivered by processes that run workers.
        let notifier = run_workers.then(|| {
            crate::notify::Notifier::start(store.clone(), key.clone(), &settings, metrics.clone())
        });
        let snapshots = CancellationToken::new();
        crate::metrics::snapshot::spawn(
            store.clone(),
            metrics.clone(),
            crate::metrics::snapshot::EVERY,
            snapshots.clone(),
        );
        crate::ingest::retention::spawn(
            store.clone(),
            settings.delivery_retention_days,
            settings.dedup_window_days,
        );
        let state = web::Data::new(AppState {
            store,
            key,
            settings: Arc::new(settings),
            wake,
            metrics,
            live: Default::default(),
        });
        let server = serve(listener, state.clone(), ingest)?;
        Ok(Self {
            port: bound.port(),
            server,
            state,
            workers,
            notifier,
            snapshots,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The store the application uses.
    pub fn store(&self) -> Arc<dyn Store> {
        self.state.store.clone()
    }

    /// Runs until SIGTERM or Ctrl-C, then shuts down gracefully: stops accepting, lets requests
    /// in flight finish (up to 30 s), then returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let stop_claiming = self.workers.as_ref().map(Workers::stop_token);
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutdown requested: finishing requests in flight");
            // Workers stop claiming at once, while HTTP requests in flight drain.
            if let Some(token) = stop_claiming {
                token.cancel();
            }
            handle.stop(true).await;
        });
        let served = self.server.await;
        self.snapshots.cancel();
        if let Some(workers) = self.workers {
            workers.shutdown().await;
        }
        if let Some(notifier) = self.notifier {
            notifier.shutdown().await;
        }
        served
    }
}

fn serve(
    listener: TcpListener,
    state: web::Data<AppState>,
    ingest: web::Data<IngestState>,
) -> anyhow::Result<Server> {
    let bench = state.settings.bench_endpoints;
    let max_connections = state.settings.max_connections;
    // One limiter for all of the server's worker threads.
    let sign_in_limiter = web::Data::new(crate::console::SignInLimiter::default());
    let server = HttpServer::new(move || {
        App::new()
            .wrap(middleware::from_fn(crate::body_deadline::guard))
            .wrap(middleware::from_fn(api::health::schema_gate))
            .wrap(middleware::from_fn(crate::telemetry::request_span))
            .app_data(state.clone())
            .app_data(ingest.clone())
            .app_data(sign_in_limiter.clone())
            .configure(api::configure)
            .configure(crate::console::configure)
            .configure(crate::ingest::handler::routes)
            .configure(|cfg| {
                if bench {
                    crate::ingest::baseline::routes(cfg);
                }
            })
            .default_service(web::to(api::no_such_route))
    })
    // actix counts connections per worker thread; the setting is the total.
    .max_connections(max_connections.div_ceil(http_workers()))
    // The request head must arrive within 5 s (408 otherwise); the body is `body_deadline`'s.
    .client_request_timeout(std::time::Duration::from_secs(5))
    .workers(http_workers())
    .listen(listener)?
    // Signals are handled in `run_until_stopped`, so that Ctrl-C is as graceful as SIGTERM.
    .disable_signals()
    .shutdown_timeout(30)
    .run();
    Ok(server)
}

/// HTTP worker threads: actix-web's own default, named here so the connection cap can be
/// divided among them.
fn http_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The master key: from `HOOKGATE_MASTER_KEY`; else, with SQLite, from a key file beside the
/// database (created with mode 0600 on first start); with PostgreSQL it is required.
pub fn resolve_master_key(settings: &Settings) -> anyhow::Result<MasterKey> {
    use secrecy::ExposeSecret;
    if let Some(k) = &settings.master_key {
        return Ok(MasterKey::from_base64(k.expose_secret())?);
    }
    if settings.database_kind() == DatabaseKind::Postgres {
        bail!("invalid setting master_key (HOOKGATE_MASTER_KEY): required with PostgreSQL, so that every process shares one key");
    }
    let db = settings
        .sqlite_path()
        .context("the SQLite URL names no file")?;
    let key_path = db.with_file_name(format!(
        "{}.key",
        db.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("hookgate.db")
    ));
    load_or_create_key_file(&key_path)
}

fn load_or_create_key_file(path: &Path) -> anyhow::Result<MasterKey> {
    match std::fs::read_to_string(path) {
        Ok(text) => MasterKey::from_base64(&text)
            .with_context(|| format!("the key file {} is not valid", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = MasterKey::generate();
            write_private(path, key.to_base64().as_bytes())
                .with_context(|| format!("creating the key file {}", path.display()))?;
            tracing::warn!(path = %path.display(), "no HOOKGATE_MASTER_KEY: created a master key file; back it up, secrets cannot be read without it");
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading the key file {}", path.display())),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// `hookgate worker`: workers only, until SIGTERM or Ctrl-C, then a graceful stop.
pub async fn run_workers_only(settings: Settings) -> anyhow::Result<()> {
    let key = Arc::new(resolve_master_key(&settings)?);
    let store = store::connect_or_wait(&settings).await?;
    let wake = Wake::new(store.clone());
    // No HTTP server here, so no /metrics: these counts are not exported (docs/observability.md).
    let metrics = Arc::new(Metrics::new());
    let notifier =
        crate::notify::Notifier::start(store.clone(), key.clone(), &settings, metrics.clone());
    let workers = Workers::start(store, key, &settings, wake, metrics);
    shutdown_signal().await;
    tracing::info!("shutdown requested: stopping workers");
    workers.shutdown().await;
    notifier.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
