//! Hooks as ingest needs them: compiled once, decrypted once, re-loaded when the hook changes.
//!
//! Every request still reads the hook's row (one primary-key lookup), so a change made by
//! another process is seen at once; only the compiling and decrypting are cached, keyed by the
//! row's `updated_at`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use secrecy::SecretString;

use crate::api::hooks::hook_secret_context;
use crate::crypto::MasterKey;
use crate::domain::hook::{CompiledHook, HookConfig};
use crate::domain::ids::{looks_like, IdKind};
use crate::error::ApiError;
use crate::store::{HookRow, Store, StoreError};

/// A hook ready for ingest.
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
    updated_at: i64,
}

/// Compiled hooks by id.
#[derive(Default)]
pub struct HookCache {
    hooks: RwLock<HashMap<String, Arc<LoadedHook>>>,
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
        let Some(row) = store.get_hook(id).await.map_err(unavailable)? else {
            self.hooks.write().expect("hook cache lock").remove(id);
            return Ok(None);
        };
        if let Some(hit) = self.hooks.read().expect("hook cache lock").get(id) {
            if hit.updated_at == row.updated_at && hit.is_active == row.is_active {
                return Ok(Some(hit.clone()));
            }
        }
        let loaded = Arc::new(load(row, key)?);
        let mut hooks = self.hooks.write().expect("hook cache lock");
        if hooks.len() >= MAX_CACHED {
            hooks.clear();
        }
        hooks.insert(id.to_string(), loaded.clone());
        Ok(Some(loaded))
    }
}

/// Any failure to read the hook is answered 503 with Retry-After, like a failed commit, so that
/// the sender retries: a PostgreSQL database refusing connections fails with SQLSTATE 55000,
/// which the store does not class as unavailable, and that must not become a 500.
fn unavailable(e: StoreError) -> ApiError {
    let mut err = ApiError::unavailable();
    err.source = Some(e.into());
    err
}

fn load(row: HookRow, key: &MasterKey) -> Result<LoadedHook, ApiError> {
    let internal =
        |e: anyhow::Error| ApiError::internal(e.context(format!("loading hook {}", row.id)));
    let config: HookConfig = serde_json::from_str(&row.config).map_err(|e| internal(e.into()))?;
    let compiled = config.compile(&row.provider).map_err(|errors| {
        internal(anyhow::anyhow!(
            "stored settings no longer compile: {errors:?}"
        ))
    })?;
    let context = hook_secret_context(&row.id);
    let secret = key
        .open(&context, &row.secret_ct)
        .map_err(|e| internal(e.into()))?;
    let previous = match (&row.prev_secret_ct, row.prev_secret_expires_at) {
        (Some(ct), Some(until)) => Some((
            key.open(&context, ct).map_err(|e| internal(e.into()))?,
            until,
        )),
        _ => None,
    };
    Ok(LoadedHook {
        id: row.id,
        pipeline_id: row.pipeline_id,
        project_id: row.project_id,
        is_active: row.is_active,
        config,
        compiled,
        secret,
        previous,
        updated_at: row.updated_at,
    })
}
