//! Hooks as ingest needs them: compiled once, decrypted once, re-loaded when the hook or its
//! pipeline changes.
//!
//! A compiled hook is used without reading the database while both hold:
//! - the store's config generation is unchanged. It moves on every hook or pipeline change made
//!   by this process, and on PostgreSQL on every change announced by another process;
//! - the entry was checked against the database less than [`FRESH_FOR`] ago. This bounds how long
//!   a change that was not announced is missed: SQLite shared by several processes, or a lost
//!   NOTIFY.
//!
//! Otherwise the hook's row, joined with its pipeline, is read again (one primary-key lookup),
//! once for all the requests that find the entry stale at the same time (`single_flight`).
//! It is compiled and decrypted again only when the stored text it came from has changed.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{Map, Value};

use super::single_flight::SingleFlight;
use crate::crypto::{MasterKey, SealContext};
use crate::domain::hook::{CompiledHook, HookConfig};
use crate::domain::ids::{looks_like, IdKind};
use crate::domain::pipeline::{Concurrency, PipelineSpec};
use crate::error::ApiError;
use crate::store::{IngestHookRow, Store, StoreError};

/// A hook ready for ingest, with what its runs need from the pipeline.
pub struct LoadedHook {
    pub id: String,
    pub pipeline_id: String,
    pub project_id: String,
    pub is_active: bool,
    pub config: HookConfig,
    pub compiled: CompiledHook,
    pub secret: SecretString,
    /// The previous secret and when it stops verifying (rotation grace period).
    pub previous: Option<(SecretString, i64)>,
    /// The pipeline's concurrency block (its key is rendered per run).
    pub concurrency: Option<Concurrency>,
    /// 1 + the pipeline's `retries`.
    pub max_attempts: i64,
    /// Defaults of the pipeline's declared variables (added to a run after the filters).
    pub defaults: Map<String, Value>,
    /// The pipeline, for its required variables and the test route's warnings.
    pub pipeline: PipelineSpec,
    source: Source,
}

/// The stored text a cached entry was built from.
#[derive(PartialEq)]
struct Source {
    hook_updated_at: i64,
    pipeline_updated_at: i64,
    is_active: bool,
    provider: String,
    config: String,
    secret_ct: Vec<u8>,
    prev_secret_ct: Option<Vec<u8>>,
    prev_secret_expires_at: Option<i64>,
    pipeline_spec: String,
}

impl Source {
    fn of(row: &IngestHookRow) -> Self {
        let h = &row.hook;
        Self {
            hook_updated_at: h.updated_at,
            pipeline_updated_at: row.pipeline_updated_at,
            is_active: h.is_active,
            provider: h.provider.clone(),
            config: h.config.clone(),
            secret_ct: h.secret_ct.clone(),
            prev_secret_ct: h.prev_secret_ct.clone(),
            prev_secret_expires_at: h.prev_secret_expires_at,
            pipeline_spec: row.pipeline_spec.clone(),
        }
    }
}

/// How long a cached hook is trusted without reading its row, when no change was announced.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// Compiled hooks by id.
#[derive(Default)]
pub struct HookCache {
    hooks: RwLock<HashMap<String, Entry>>,
    /// Reads of a hook's row under way. Requests that find an entry stale while its read is
    /// under way wait for that read instead of making their own: when a busy hook's entry
    /// expired, every request in flight read the row, and the pool opened all its connections,
    /// each with its own page cache (docs/performance.md, issue 17).
    reading: SingleFlight<Result<Option<Arc<LoadedHook>>, Failure>>,
}

struct Entry {
    hook: Arc<LoadedHook>,
    /// The store's config generation when the row was last read.
    generation: u64,
    checked_at: Instant,
}

/// Most hooks kept compiled; past this the cache starts again (hooks are cheap to compile).
const MAX_CACHED: usize = 10_000;

impl HookCache {
    /// The hook with this id, or `None` when there is none.
    pub async fn get(
        &self,
        store: &dyn Store,
        key: &MasterKey,
        id: &str,
    ) -> Result<Option<Arc<LoadedHook>>, ApiError> {
        if !looks_like(IdKind::IncomingHook, id) {
            return Ok(None);
        }
        // Read before the row: a change committed during the read makes this entry stale.
        let generation = store.config_generation();
        let mut previous = None;
        if let Some(hit) = self.hooks.read().expect("hook cache lock").get(id) {
            if hit.generation == generation && hit.checked_at.elapsed() < FRESH_FOR {
                return Ok(Some(hit.hook.clone()));
            }
            previous = Some(hit.hook.clone());
        }
        self.reading
            .run(id, generation, || {
                self.read(store, key, id, generation, previous)
            })
            .await
            .map_err(Failure::into_api_error)
    }

    /// Reads the hook's row and caches what it compiles to; `previous` is reused when the
    /// stored text it came from is unchanged.
    async fn read(
        &self,
        store: &dyn Store,
        key: &MasterKey,
        id: &str,
        generation: u64,
        previous: Option<Arc<LoadedHook>>,
    ) -> Result<Option<Arc<LoadedHook>>, Failure> {
        let checked_at = Instant::now();
        let row = store
            .get_hook_for_ingest(id)
            .await
            .map_err(|e| Failure::Unavailable(Arc::new(e)))?;
        let Some(row) = row else {
            self.hooks.write().expect("hook cache lock").remove(id);
            return Ok(None);
        };
        let source = Source::of(&row);
        let hook = match previous.filter(|p| p.source == source) {
            Some(unchanged) => unchanged,
            None => Arc::new(load(row, source, key).map_err(|e| {
                Failure::Internal(Arc::from(Box::<dyn std::error::Error + Send + Sync>::from(
                    e,
                )))
            })?),
        };
        let mut hooks = self.hooks.write().expect("hook cache lock");
        if hooks.len() >= MAX_CACHED && !hooks.contains_key(id) {
            hooks.clear();
        }
        hooks.insert(
            id.to_string(),
            Entry {
                hook: hook.clone(),
                generation,
                checked_at,
            },
        );
        Ok(Some(hook))
    }
}

/// A failed read of a hook, shared by every request that waited for it.
#[derive(Clone)]
enum Failure {
    /// The database did not answer.
    Unavailable(Arc<StoreError>),
    /// The stored hook no longer loads.
    Internal(Arc<dyn std::error::Error + Send + Sync>),
}

impl Failure {
    /// Any failure to read the hook is answered 503 with Retry-After, like a failed commit, so
    /// that the sender retries: whatever the database says, it must not become a 500. A hook
    /// that no longer loads is a 500.
    fn into_api_error(self) -> ApiError {
        match self {
            Failure::Unavailable(e) => {
                let mut err = ApiError::unavailable();
                err.source = Some(anyhow::Error::new(Shared(e)));
                err
            }
            Failure::Internal(e) => ApiError::internal(anyhow::Error::new(Shared(e))),
        }
    }
}

/// An error shared between requests, shown (with its chain) as the error itself.
#[derive(Debug)]
struct Shared<E: ?Sized>(Arc<E>);

impl<E: std::fmt::Display + ?Sized> std::fmt::Display for Shared<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: std::error::Error + ?Sized> std::error::Error for Shared<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

fn load(row: IngestHookRow, source: Source, key: &MasterKey) -> anyhow::Result<LoadedHook> {
    let h = row.hook;
    let internal = |e: anyhow::Error| e.context(format!("loading hook {}", h.id));
    let config: HookConfig = serde_json::from_str(&h.config).map_err(|e| internal(e.into()))?;
    let compiled = config.compile(&h.provider).map_err(|errors| {
        internal(anyhow::anyhow!(
            "stored settings no longer compile: {errors:?}"
        ))
    })?;
    let pipeline: PipelineSpec =
        serde_json::from_str(&row.pipeline_spec).map_err(|e| internal(e.into()))?;
    let context = SealContext::IncomingHook(&h.id);
    let secret = key
        .open(&context, &h.secret_ct)
        .map_err(|e| internal(e.into()))?;
    let previous = match (&h.prev_secret_ct, h.prev_secret_expires_at) {
        (Some(ct), Some(until)) => Some((
            key.open(&context, ct).map_err(|e| internal(e.into()))?,
            until,
        )),
        _ => None,
    };
    let defaults = pipeline.defaults();
    Ok(LoadedHook {
        id: h.id,
        pipeline_id: h.pipeline_id,
        project_id: h.project_id,
        is_active: h.is_active,
        config,
        compiled,
        secret,
        previous,
        concurrency: pipeline.concurrency.clone(),
        max_attempts: 1 + pipeline.retries as i64,
        defaults,
        pipeline,
        source,
    })
}
