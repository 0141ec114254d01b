//! Making the database unavailable to ONE hookgate process, for the outage tests.
//!
//! - PostgreSQL: hookgate connects through a TCP proxy in the test. `cut` drops every
//!   connection it carries and refuses new ones (accepts and closes them at once); `restore`
//!   lets connections through again. The server itself and every other client are untouched.
//! - SQLite: `cut` opens a connection of the test's own that takes the write lock (`BEGIN
//!   EXCLUSIVE`) and holds it; every write of hookgate waits for its busy timeout and fails.
//!   `restore` rolls that transaction back.
//!
//! The test reads the database directly (not through the proxy, or through its locking
//! connection) while hookgate cannot.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::helpers::{fresh_database, start_with, test_settings, Backend, TestApp};

/// What the proxy does with connections.
const PASS: u8 = 0;
const REFUSE: u8 = 1;
const HANG: u8 = 2;

/// A TCP proxy that the test can cut.
pub struct Proxy {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let mode = Arc::new(AtomicU8::new(PASS));
        let links: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (m, l) = (mode.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                let link = match m.load(Ordering::SeqCst) {
                    REFUSE => continue,
                    // Held open, silent: a database that does not answer.
                    HANG => tokio::spawn(async move {
                        let _held = down;
                        std::future::pending::<()>().await
                    }),
                    _ => tokio::spawn(async move {
                        if let Ok(mut up) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                        }
                    }),
                };
                let mut links = l.lock().unwrap();
                links.retain(|h| !h.is_finished());
                links.push(link.abort_handle());
            }
        });
        Self { addr, mode, links }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    /// Drops every connection and refuses new ones (closes them at once).
    pub fn cut(&self) {
        self.set(REFUSE);
    }

    /// Drops every connection; new ones are accepted and never answered.
    pub fn hang(&self) {
        self.set(HANG);
    }

    pub fn restore(&self) {
        self.set(PASS);
    }
}

/// The way this test takes the database away from hookgate.
enum Cutter {
    Proxy(Proxy),
    /// The SQLite URL, and the locking connection while cut.
    Lock(String, Option<sqlx::SqliteConnection>),
}

/// A hookgate app whose database the test can take away, and a direct way to read it.
pub struct OutageApp {
    pub app: TestApp,
    cutter: Cutter,
    /// PostgreSQL, not through the proxy.
    direct: Option<sqlx::PgPool>,
}

impl OutageApp {
    /// Starts hookgate on a fresh database with a lease of `lease_secs`; `None` when the
    /// backend is not available (the test skipped, saying so).
    pub async fn start(backend: Backend, lease_secs: u32) -> Option<Self> {
        let (url, dir) = fresh_database(backend).await?;
        let (app_url, cutter, direct) = match backend {
            Backend::Sqlite => (url.clone(), Cutter::Lock(url.clone(), None), None),
            Backend::Postgres => {
                let mut parsed = reqwest::Url::parse(&url).expect("PostgreSQL URL");
                let host = parsed.host_str().expect("host").to_string();
                let port = parsed.port().unwrap_or(5432);
                let upstream = tokio::net::lookup_host((host.as_str(), port))
                    .await
                    .expect("resolve PostgreSQL")
                    .next()
                    .expect("an address");
                let proxy = Proxy::start(upstream).await;
                parsed.set_host(Some("127.0.0.1")).unwrap();
                parsed.set_port(Some(proxy.addr.port())).unwrap();
                let direct = sqlx::PgPool::connect(&url).await.expect("direct pool");
                (parsed.to_string(), Cutter::Proxy(proxy), Some(direct))
            }
        };
        let key = hookgate::crypto::MasterKey::generate().to_base64();
        let mut settings = test_settings(&app_url, &key);
        settings.lease_secs = lease_secs;
        settings.workers = 2;
        let mut app = start_with(settings).await;
        app._dir = dir;
        Some(Self {
            app,
            cutter,
            direct,
        })
    }

    /// Takes the database away from hookgate.
    pub async fn cut(&mut self) {
        match &mut self.cutter {
            Cutter::Proxy(p) => p.cut(),
            Cutter::Lock(url, held) => {
                let mut conn = sqlx::SqliteConnection::connect(url)
                    .await
                    .expect("locking connection");
                // Waits (busy timeout) for a write of hookgate in progress to finish.
                sqlx::query("PRAGMA busy_timeout = 10000")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                sqlx::query("BEGIN EXCLUSIVE")
                    .execute(&mut conn)
                    .await
                    .expect("take the write lock");
                *held = Some(conn);
            }
        }
    }

    /// Gives the database back.
    pub async fn restore(&mut self) {
        match &mut self.cutter {
            Cutter::Proxy(p) => p.restore(),
            Cutter::Lock(_, held) => {
                if let Some(mut conn) = held.take() {
                    sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
                    conn.close().await.unwrap();
                }
            }
        }
    }

    /// `(status, attempt, lease_expires_at)` of a run, read directly, also while hookgate is cut off.
    pub async fn run_row(&mut self, run_id: &str) -> (String, i64, Option<i64>) {
        const Q: &str = "SELECT status, attempt, lease_expires_at FROM runs WHERE id = $1";
        match (&mut self.cutter, &self.direct) {
            (_, Some(pool)) => sqlx::query_as(Q).bind(run_id).fetch_one(pool).await,
            (Cutter::Lock(_, Some(conn)), _) => {
                sqlx::query_as(Q).bind(run_id).fetch_one(conn).await
            }
            _ => {
                sqlx::query_as(Q)
                    .bind(run_id)
                    .fetch_one(&hookgate_pool(&self.app))
                    .await
            }
        }
        .expect("read the run")
    }
}

fn hookgate_pool(app: &TestApp) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect_lazy(&app.database_url).expect("SQLite pool")
}
