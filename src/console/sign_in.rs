//! Sign-in with an API token, and sign-out. The token is checked as the API checks it and then
//! forgotten: the browser keeps only the session cookie. Sign-in attempts are limited per client
//! address, and the sign-in form carries a CSRF token of its own (a double-submit cookie), since
//! there is no session yet.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use actix_web::http::header::{LOCATION, SET_COOKIE};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::render::{render, PageError};
use super::session::{self, cookie_value};
use crate::app::AppState;
use crate::crypto::{ct_eq, generate_secret, hash_token};
use crate::domain::time::now_ms;
use crate::error::ApiError;

/// The sign-in form's CSRF cookie.
const PRE_COOKIE: &str = "hg_console_signin";
/// Sign-in attempts a client address may make in one minute.
pub const ATTEMPTS_PER_MINUTE: u32 = 10;
/// Addresses remembered at most; past this, earlier minutes are forgotten.
const MAX_ADDRESSES: usize = 10_000;

/// Sign-in attempts per client address and minute, in this process's memory.
#[derive(Default)]
pub struct SignInLimiter {
    seen: Mutex<HashMap<IpAddr, (i64, u32)>>,
}

impl SignInLimiter {
    /// Counts an attempt from `ip` at `now_ms`; false when the address is over its budget.
    pub fn allow(&self, ip: IpAddr, now_ms: i64) -> bool {
        let minute = now_ms / 60_000;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_ADDRESSES {
            seen.retain(|_, (m, _)| *m == minute);
        }
        let entry = seen.entry(ip).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 += 1;
        entry.1 <= ATTEMPTS_PER_MINUTE
    }
}

/// The sign-in form, with a fresh form CSRF token.
fn form(
    state: &AppState,
    status: StatusCode,
    problem: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let csrf = generate_secret().expose_secret().to_string();
    let body = render(
        "sign_in.html",
        serde_json::json!({ "title": "Sign in", "form_csrf": csrf, "problem": problem, "asset": super::assets::names() }),
    )?;
    Ok(HttpResponse::build(status)
        .insert_header((SET_COOKIE, session::set_cookie(state, PRE_COOKIE, &csrf)))
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// `GET /console/sign-in`.
#[get("/sign-in")]
pub async fn show(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    form(&state, StatusCode::OK, None)
}

#[derive(Deserialize)]
struct SignInForm {
    token: String,
    csrf: String,
}

/// `POST /console/sign-in` (form: `token`, `csrf`).
#[post("/sign-in")]
pub async fn sign_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    limiter: web::Data<SignInLimiter>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let ip = client_ip(&req, &state);
    if !limiter.allow(ip, now_ms()) {
        let err = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many sign-in attempts from this address; wait a minute",
        )
        .retry_after(60);
        return Err(err.into());
    }
    let Ok(input) = serde_urlencoded::from_bytes::<SignInForm>(&body) else {
        return form(
            &state,
            StatusCode::BAD_REQUEST,
            Some("the form was incomplete"),
        );
    };
    let expected = cookie_value(&req, PRE_COOKIE).unwrap_or_default();
    if expected.is_empty() || !ct_eq(expected.as_bytes(), input.csrf.as_bytes()) {
        return form(
            &state,
            StatusCode::FORBIDDEN,
            Some("the form had expired; please sign in again"),
        );
    }
    let token = input.token.trim();
    let found = if token.starts_with("hg_") {
        state.store.find_token_by_hash(&hash_token(token)).await?
    } else {
        None
    };
    let Some(row) = found else {
        return form(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("that token is not valid"),
        );
    };
    let id = session::open(&state, &row.id).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, "/console/"))
        .append_header((
            SET_COOKIE,
            session::set_cookie(&state, session::COOKIE, &id),
        ))
        .append_header((SET_COOKIE, session::clear_cookie(&state, PRE_COOKIE)))
        .finish())
}

#[derive(Deserialize)]
struct SignOutForm {
    csrf: String,
}

/// `POST /console/sign-out` (form: `csrf`): ends the session on the server.
#[post("/sign-out")]
pub async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let signed_in = session::current(&state, &req)
        .await?
        .ok_or(PageError::SignIn)?;
    let presented = serde_urlencoded::from_bytes::<SignOutForm>(&body)
        .ok()
        .map(|f| f.csrf);
    if !signed_in.csrf_ok(presented.as_deref()) {
        return Err(
            ApiError::forbidden("this form does not carry the session's CSRF token").into(),
        );
    }
    state.store.delete_session(&signed_in.id_hash).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((LOCATION, "/console/sign-in"))
        .insert_header((SET_COOKIE, session::clear_cookie(&state, session::COOKIE)))
        .finish())
}

/// The client's address: the TCP peer, or what a trusted proxy forwards (as at ingest).
fn client_ip(req: &HttpRequest, state: &AppState) -> IpAddr {
    let all = |name: &str| -> Vec<String> {
        req.headers()
            .get_all(name)
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    };
    crate::ingest::client_ip::client_ip(
        req.peer_addr().map(|a| a.ip()),
        &state.settings.trusted_proxies,
        &all,
    )
    .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_counts_per_address_and_minute() {
        let l = SignInLimiter::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..ATTEMPTS_PER_MINUTE {
            assert!(l.allow(a, 60_000));
        }
        assert!(!l.allow(a, 60_001));
        assert!(l.allow(b, 60_001));
        assert!(l.allow(a, 120_000));
    }
}
