//! `/console/api/v1`: the management API itself, for console sessions. The session cookie
//! stands in for the bearer token, and every request that is not a read must carry the
//! session's CSRF token (`X-CSRF-Token`), else 403. The handlers, role checks and answers are
//! the API's own: the console has no second copy of a rule.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};

use super::session::{self, CSRF_HEADER};
use crate::app::AppState;
use crate::error::ApiError;

/// Turns a console session into the API's caller ([`crate::api::Auth`]), checking CSRF.
pub async fn session_to_auth(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        let err = ApiError::internal(anyhow::anyhow!("AppState missing"));
        return Ok(req.into_response(err.error_response()));
    };
    if session::cookie_value(req.request(), session::COOKIE).is_none() {
        let err = ApiError::unauthorized("sign in to the console first");
        return Ok(req.into_response(err.error_response()));
    }
    let found = match session::current(&state, req.request()).await {
        Ok(found) => found,
        Err(err) => return Ok(req.into_response(err.error_response())),
    };
    let Some(signed_in) = found else {
        let err = ApiError::unauthorized("the console session has ended; sign in again");
        return Ok(req.into_response(err.error_response()));
    };
    let reads = matches!(*req.method(), Method::GET | Method::HEAD);
    let presented = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    if !reads && !signed_in.csrf_ok(presented) {
        let err = ApiError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "csrf_token_invalid",
            "this request does not carry the session's CSRF token",
        );
        return Ok(req.into_response(err.error_response()));
    }
    req.extensions_mut().insert(signed_in.auth);
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}
