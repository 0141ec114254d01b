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
//! Otherwise the hook's row, joined with its pipeline, is read again (one primary-key lookup).
//! It is compiled and decrypted again only when the stored text it came from has changed.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use serde_json::{Map, Value};

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
        let checked_at = Instant::now();
        let Some(row) = store.get_hook_for_ingest(id).await.map_err(unavailable)? else {
            self.hooks.write().expect("hook cache lock").remove(id);
            return Ok(None);
        };
        let source = Source::of(&row);
        let hook = match previous.filter(|p| p.source == source) {
            Some(unchanged) => unchanged,
            None => Arc::new(load(row, source, key)?),
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

/// Any failure to read the hook is answered 503 with Retry-After, like a failed commit, so that
/// the sender retries: whatever the database says, it must not become a 500.
fn unavailable(e: StoreError) -> ApiError {
    let mut err = ApiError::unavailable();
    err.source = Some(e.into());
    err
}

fn load(row: IngestHookRow, source: Source, key: &MasterKey) -> Result<LoadedHook, ApiError> {
    let h = row.hook;
    let internal =
        |e: anyhow::Error| ApiError::internal(e.context(format!("loading hook {}", h.id)));
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
