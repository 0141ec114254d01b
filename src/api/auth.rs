//! Bearer-token authentication and the role rules.
//!
//! A token never sees another project's objects: such ids answer 404, not 403.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{dev::Payload, web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::AppState;
use crate::crypto::hash_token;
use crate::domain::role::Role;
use crate::error::ApiError;

/// The caller, as its token says.
#[derive(Debug, Clone)]
pub struct Auth {
    pub token_id: String,
    /// `None` for the instance admin.
    pub project_id: Option<String>,
    pub role: Role,
}

impl Auth {
    /// Only the instance admin.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("this needs an admin token"))
        }
    }

    /// Access to an object of `project_id` with at least `needed`. Another project's object is a
    /// 404 naming `what`, so ids of other tenants cannot be probed.
    pub fn require(&self, project_id: &str, needed: Role, what: &str) -> Result<(), ApiError> {
        if self.role == Role::Admin {
            return Ok(());
        }
        if self.project_id.as_deref() != Some(project_id) {
            return Err(ApiError::not_found(what));
        }
        if !self.role.allows(needed) {
            return Err(ApiError::forbidden(format!(
                "the {} role may not do this; it needs {}",
                self.role.as_str(),
                needed.as_str()
            )));
        }
        Ok(())
    }
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The web console's session layer (console/bridge.rs) authenticates by cookie and CSRF
        // token and leaves the caller here, so its pages use these very handlers and rules.
        if let Some(auth) = req.extensions().get::<Auth>().cloned() {
            return Box::pin(async move { Ok(auth) });
        }
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let presented = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|t| t.trim().to_string());
        Box::pin(async move {
            let state =
                state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("AppState missing")))?;
            let token = presented
                .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer hg_…"))?;
            if !token.starts_with("hg_") {
                return Err(ApiError::unauthorized("the token is not valid"));
            }
            // Looked up by hash: the database never holds the token, and an equality lookup on a
            // hash reveals nothing usable about the token through timing.
            let row = state
                .store
                .find_token_by_hash(&hash_token(&token))
                .await?
                .ok_or_else(|| ApiError::unauthorized("the token is not valid"))?;
            let role = Role::parse(&row.role)
                .ok_or_else(|| ApiError::unauthorized("the token is not valid"))?;
            Ok(Auth {
                token_id: row.id,
                project_id: row.project_id,
                role,
            })
        })
    }
}
