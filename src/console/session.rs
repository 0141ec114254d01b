//! Console sessions: a random id in an `HttpOnly` cookie, only its hash in the database, idle
//! expiry, and a CSRF token derived from the id (so it needs no storage and dies with it).

use actix_web::HttpRequest;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::api::{AppState, Auth};
use crate::crypto::{ct_eq, generate_secret, hash_token};
use crate::domain::role::Role;
use crate::domain::time::now_ms;
use crate::error::ApiError;
use crate::store::SessionRow;

/// The session cookie's name.
pub const COOKIE: &str = "hg_console";
/// A session unused this long is over (SPEC §10: 12 h).
pub const IDLE_MS: i64 = 12 * 3600 * 1000;
/// `last_seen_at` is written at most this often, so reading pages costs no write each time.
const TOUCH_EVERY_MS: i64 = 60 * 1000;
/// The header the console's script sends the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A signed-in console user.
#[derive(Debug, Clone)]
pub struct Session {
    /// The caller as the API's rules see it (the token the session was opened with).
    pub auth: Auth,
    /// The token every state-changing request must carry.
    pub csrf: String,
    pub id_hash: String,
}

impl Session {
    /// Whether the role may change things (write controls are shown).
    pub fn can_write(&self) -> bool {
        self.auth.role.allows(Role::Member)
    }

    /// Whether `presented` is this session's CSRF token (constant time).
    pub fn csrf_ok(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| ct_eq(p.as_bytes(), self.csrf.as_bytes()))
    }
}

/// The CSRF token of a session id.
pub fn csrf_of(session_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"hookgate/console/csrf/v1\0");
    h.update(session_id.as_bytes());
    hex::encode(h.finalize())
}

/// Opens a session for the token `token_id`; returns the session id for the cookie.
pub async fn open(state: &AppState, token_id: &str) -> Result<String, ApiError> {
    let id = generate_secret().expose_secret().to_string();
    let now = now_ms();
    state
        .store
        .insert_session(&SessionRow {
            id_hash: hash_token(&id),
            token_id: token_id.to_string(),
            created_at: now,
            last_seen_at: now,
        })
        .await?;
    // Idle sessions of everyone go now and then; a sign-in is a fine moment.
    state.store.purge_sessions(now - IDLE_MS).await?;
    Ok(id)
}

/// The session the request's cookie names, if it is alive. A session past its idle expiry, or
/// whose token was deleted, is none.
pub async fn current(state: &AppState, req: &HttpRequest) -> Result<Option<Session>, ApiError> {
    let Some(id) = cookie_value(req, COOKIE) else {
        return Ok(None);
    };
    let id = id.as_str();
    let id_hash = hash_token(id);
    let Some(row) = state.store.get_session(&id_hash).await? else {
        return Ok(None);
    };
    let now = now_ms();
    if now - row.last_seen_at > IDLE_MS {
        state.store.delete_session(&id_hash).await?;
        return Ok(None);
    }
    let Some(token) = state.store.get_token(&row.token_id).await? else {
        return Ok(None);
    };
    let Some(role) = Role::parse(&token.role) else {
        return Ok(None);
    };
    if now - row.last_seen_at > TOUCH_EVERY_MS {
        state.store.touch_session(&id_hash, now).await?;
    }
    Ok(Some(Session {
        auth: Auth {
            token_id: token.id,
            project_id: token.project_id,
            role,
        },
        csrf: csrf_of(id),
        id_hash,
    }))
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(actix_web::http::header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value of a session cookie: `HttpOnly`, `SameSite=Strict`, `Secure` when the
/// public URL is https, scoped to `/console`. The server's idle expiry decides how long it
/// works; the cookie itself lasts for the browser session.
pub fn set_cookie(state: &AppState, name: &str, value: &str) -> String {
    let secure = if state.settings.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict{secure}")
}

/// The `Set-Cookie` value that removes cookie `name`.
pub fn clear_cookie(state: &AppState, name: &str) -> String {
    format!("{}; Max-Age=0", set_cookie(state, name, ""))
}
