//! An incoming-hook request checked by the API's rules ([`HookDraft`]): what
//! `POST /pipelines/{pl}/hooks/incoming` stores and what `apply` compares with a stored hook.

use secrecy::{ExposeSecret, SecretString};

use super::hooks::HookIn;
use crate::crypto::{last4, MasterKey, SealContext};
use crate::domain::check_name;
use crate::domain::hook::{check_supplied_secret, HookConfig};
use crate::domain::ids::{new_id, IdKind};
use crate::domain::FieldError;
use crate::error::ApiError;
use crate::store::HookRow;

/// A hook request checked by the API's rules: what `create` stores and what `apply` compares.
pub struct HookDraft {
    pub name: String,
    pub provider: String,
    pub is_active: bool,
    pub config: HookConfig,
    /// Supplied by the caller, and checked; `None`: generated when the hook is created.
    pub secret: Option<SecretString>,
}

impl HookIn {
    /// Checks the request by the API's rules; every bad field is named.
    pub fn into_draft(self) -> Result<HookDraft, Vec<FieldError>> {
        let provider = self.provider.unwrap_or_else(|| "generic".into());
        let defaults = HookConfig::default();
        let config = HookConfig {
            requires_secret: self.requires_secret,
            secret_algorithm: self.secret_algorithm.unwrap_or(defaults.secret_algorithm),
            secret_header_name: self
                .secret_header_name
                .unwrap_or(defaults.secret_header_name),
            action_type: self.action_type.unwrap_or(defaults.action_type),
            settings: self.settings,
            tolerance_secs: self.tolerance_secs,
            accept_legacy_sha1: self.accept_legacy_sha1,
            delivery_id_header: self.delivery_id_header,
            rate_limit_per_minute: self.rate_limit_per_minute,
            allowed_ips: self.allowed_ips,
        };
        let mut errors: Vec<FieldError> =
            check_name("name", &self.name).err().into_iter().collect();
        if let Err(e) = config.compile(&provider) {
            errors.extend(e);
        }
        if let Some(s) = &self.secret {
            errors.extend(check_supplied_secret("secret", s.expose_secret()).err());
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(HookDraft {
            name: self.name.trim().to_string(),
            provider,
            is_active: self.is_active,
            config,
            secret: self.secret,
        })
    }
}

impl HookDraft {
    /// A new hook row on the pipeline `pipeline_id` of `project_id`, with `secret` sealed.
    pub fn new_row(
        &self,
        key: &MasterKey,
        pipeline_id: &str,
        project_id: &str,
        secret: &SecretString,
        now: i64,
    ) -> Result<HookRow, ApiError> {
        let id = new_id(IdKind::IncomingHook);
        Ok(HookRow {
            secret_ct: key.seal(
                &SealContext::IncomingHook(&id),
                secret.expose_secret().as_bytes(),
            ),
            secret_last4: last4(secret.expose_secret()),
            id,
            pipeline_id: pipeline_id.to_string(),
            project_id: project_id.to_string(),
            name: self.name.clone(),
            provider: self.provider.clone(),
            is_active: self.is_active,
            config: serde_json::to_string(&self.config)
                .map_err(|e| ApiError::internal(e.into()))?,
            prev_secret_ct: None,
            prev_secret_expires_at: None,
            created_at: now,
            updated_at: now,
        })
    }
}
