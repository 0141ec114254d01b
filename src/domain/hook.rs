//! Incoming-hook settings: the request form (a superset of the Devopness body), the stored
//! form, and compiling both into what ingest evaluates per request.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::filter::{compile_filters, CompiledFilters, FilterSpec};
use super::variable::{
    compile_variables, CompiledVariables, Keep, VariableSpec, BUILTIN_VARIABLES,
};
use super::FieldError;
use crate::signature::{Algorithm, Provider, VerifyConfig};

/// Longest timestamp tolerance a hook may set: one day.
const MAX_TOLERANCE_SECS: u64 = 86_400;
/// Longest secret a caller may supply.
const MAX_SECRET_LEN: usize = 1024;

/// Variables and filters of a hook.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HookSettings {
    #[serde(default)]
    pub variables: Vec<VariableSpec>,
    #[serde(default)]
    pub filters: Vec<FilterSpec>,
}

/// The stored settings of a hook (everything but id, name, provider, activity and secrets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HookConfig {
    pub requires_secret: bool,
    /// `generic`: `sha1`, `sha256` or `sha512`. Absent from a preset hook's reads.
    #[schema(required = false)]
    pub secret_algorithm: String,
    /// `generic`: the header carrying the signature. Absent from a preset hook's reads.
    #[schema(required = false)]
    pub secret_header_name: String,
    /// Free text carried into every run as `${action_type}` (e.g. `deploy`).
    pub action_type: String,
    pub settings: HookSettings,
    /// Timestamp tolerance for timestamped schemes (Stripe, Slack, Paddle, Standard Webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_secs: Option<u64>,
    /// `github`: also accept the legacy SHA-1 `X-Hub-Signature`.
    #[serde(default)]
    pub accept_legacy_sha1: bool,
    /// The header holding the sender's delivery id, used for dedup. Replaces the preset's
    /// (for `generic`, which has none, dedup is off unless this is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id_header: Option<String>,
    /// Verified deliveries accepted per minute (per process); more answer 429 with Retry-After.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_minute: Option<u32>,
    /// Networks (IPv4 and IPv6 CIDRs, or single addresses) requests may come from; empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_ips: Vec<String>,
}

impl Default for HookConfig {
    fn default() -> Self {
        Self {
            requires_secret: true,
            secret_algorithm: "sha256".into(),
            secret_header_name: crate::signature::DEFAULT_GENERIC_HEADER.into(),
            action_type: "deploy".into(),
            settings: HookSettings::default(),
            tolerance_secs: None,
            accept_legacy_sha1: false,
            delivery_id_header: None,
            rate_limit_per_minute: None,
            allowed_ips: Vec::new(),
        }
    }
}

/// What ingest evaluates for a hook, compiled once.
#[derive(Debug, Clone)]
pub struct CompiledHook {
    pub verify: VerifyConfig,
    pub variables: CompiledVariables,
    pub filters: CompiledFilters,
    pub requires_secret: bool,
    pub action_type: String,
    /// What of a body ingest reads: the variables' paths and the provider's own fields.
    pub keep: Keep,
    /// Headers that carry a credential (`VerifyConfig::redacted_headers`), lower case: redacted
    /// in the request log, and no variable may read them.
    pub redacted_headers: Vec<String>,
    /// Where requests may come from; empty: anywhere.
    pub allowed_ips: Vec<ipnet::IpNet>,
}

impl HookConfig {
    /// Validates and compiles. Lists every bad field; field names follow the request body.
    pub fn compile(&self, provider: &str) -> Result<CompiledHook, Vec<FieldError>> {
        let mut errors = Vec::new();
        let provider = Provider::parse(provider).unwrap_or_else(|| {
            let names: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
            errors.push(FieldError::new(
                "provider",
                format!("unknown provider; one of {}", names.join(", ")),
            ));
            Provider::Generic
        });
        let algorithm = Algorithm::parse(&self.secret_algorithm).unwrap_or_else(|| {
            errors.push(FieldError::new(
                "secret_algorithm",
                "must be sha1, sha256 or sha512",
            ));
            Algorithm::Sha256
        });
        if actix_web::http::header::HeaderName::from_bytes(self.secret_header_name.as_bytes())
            .is_err()
        {
            errors.push(FieldError::new(
                "secret_header_name",
                "is not a valid header name",
            ));
        }
        if let Some(h) = &self.delivery_id_header {
            if actix_web::http::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
                errors.push(FieldError::new(
                    "delivery_id_header",
                    "is not a valid header name",
                ));
            }
        }
        if self.rate_limit_per_minute == Some(0) {
            errors.push(FieldError::new(
                "rate_limit_per_minute",
                "must be at least 1 (leave it out for no limit)",
            ));
        }
        if let Some(t) = self.tolerance_secs {
            if t == 0 || t > MAX_TOLERANCE_SECS {
                errors.push(FieldError::new(
                    "tolerance_secs",
                    format!("must be 1 to {MAX_TOLERANCE_SECS}"),
                ));
            }
        }
        if self.action_type.chars().count() > 100 {
            errors.push(FieldError::new(
                "action_type",
                "must be at most 100 characters",
            ));
        }
        let variables = compile_variables(&self.settings.variables, "settings.variables")
            .map_err(|e| errors.extend(e));
        let mut known: Vec<&str> = self
            .settings
            .variables
            .iter()
            .map(|v| v.name.as_str())
            .collect();
        let builtins: Vec<&str> = BUILTIN_VARIABLES
            .iter()
            .copied()
            .filter(|b| !known.contains(b))
            .collect();
        known.extend(builtins);
        let filters = compile_filters(&self.settings.filters, &known, "settings.filters")
            .map_err(|e| errors.extend(e));
        let verify = VerifyConfig {
            provider,
            header_name: Some(self.secret_header_name.to_ascii_lowercase()),
            algorithm,
            tolerance_secs: self.tolerance_secs,
            accept_legacy_sha1: self.accept_legacy_sha1,
        };
        let redacted_headers = verify.redacted_headers();
        for (i, v) in self.settings.variables.iter().enumerate() {
            let name = v.path.as_deref().unwrap_or("").trim().to_ascii_lowercase();
            if v.source.as_deref() == Some("header") && redacted_headers.contains(&name) {
                // Its value would be stored with the variables, unredacted.
                errors.push(FieldError::new(
                    format!("settings.variables[{i}].path"),
                    format!(
                        "{name} carries the hook's secret or signature; a variable may not read it"
                    ),
                ));
            }
        }
        let allowed_ips = parse_networks(&self.allowed_ips, "allowed_ips", &mut errors);
        match (variables, filters) {
            (Ok(variables), Ok(filters)) if errors.is_empty() => Ok(CompiledHook {
                allowed_ips,
                redacted_headers,
                keep: {
                    let mut keep = variables.keep();
                    for field in provider.body_fields() {
                        keep.add_member(field);
                    }
                    keep
                },
                verify,
                variables,
                filters,
                requires_secret: self.requires_secret,
                action_type: self.action_type.clone(),
            }),
            _ => Err(errors),
        }
    }

    /// Warnings shown with the hook, e.g. when unsigned requests are accepted.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if !self.requires_secret {
            w.push(
                "requires_secret is false: unsigned requests are accepted by this hook".to_string(),
            );
        }
        w
    }
}

/// Parses CIDRs (`192.30.252.0/22`, `2001:db8::/32`) or single addresses (a /32 or /128).
/// Each bad entry is an error naming `{field}[{i}]`.
pub fn parse_networks(
    entries: &[String],
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Vec<ipnet::IpNet> {
    let mut nets = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let entry = entry.trim();
        match entry
            .parse::<ipnet::IpNet>()
            .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        {
            Ok(net) => nets.push(net.trunc()),
            Err(_) => errors.push(FieldError::new(
                format!("{field}[{i}]"),
                "is not an IP network: write a CIDR such as 192.30.252.0/22 or 2001:db8::/32, or one address",
            )),
        }
    }
    nets
}

/// Checks a secret supplied by the caller (the provider's own secret).
pub fn check_supplied_secret(field: &str, secret: &str) -> Result<(), FieldError> {
    if secret.trim().is_empty() {
        Err(FieldError::new(field, "must not be empty"))
    } else if secret.len() > MAX_SECRET_LEN {
        Err(FieldError::new(
            field,
            format!("must be at most {MAX_SECRET_LEN} bytes"),
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_devopness_settings_compile() {
        let settings = serde_json::from_value(json!({
            "variables": [
                { "name": "source_type", "type": "string", "required": false, "default_value": "branch" },
                { "name": "source_ref", "path": "pull_request.head.ref", "type": "string", "default_value": "main" },
                { "name": "pull_request_id", "path": "$.pull_request.number", "type": "integer" },
                { "name": "event", "source": "header", "path": "X-GitHub-Event", "type": "string", "required": true }
            ],
            "filters": [ { "variable": "source_ref", "matches": "^(main|release/.*)$" } ] }))
        .unwrap();
        let mut c = HookConfig {
            settings,
            ..HookConfig::default()
        };
        assert!(c.compile("github").is_ok());
        // `hook_id` and `delivery_id` identify the delivery and may not be redeclared.
        c.settings.variables[3].name = "delivery_id".into();
        let errs = c.compile("github").unwrap_err();
        assert_eq!(
            errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            vec!["settings.variables[3].name"]
        );
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut c = HookConfig {
            secret_algorithm: "md5".into(),
            tolerance_secs: Some(0),
            ..HookConfig::default()
        };
        c.settings = serde_json::from_value(json!({
            "variables": [{ "name": "n", "path": "$[", "type": "integer", "default_value": "abc" }],
            "filters": [{ "variable": "missing", "matches": "(" }] }))
        .unwrap();
        let fields: Vec<String> = c
            .compile("gitbucket")
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        for f in [
            "provider",
            "secret_algorithm",
            "tolerance_secs",
            "settings.variables[0].path",
            "settings.filters[0].variable",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} not in {fields:?}");
        }
    }
}
