//! The web console (SPEC §10) at `/console/`: server-rendered pages from templates compiled
//! into the binary, a little plain JavaScript, embedded static files. Nothing is loaded from
//! another host, and the Content-Security-Policy says so.
//!
//! - session.rs: sign-in sessions (cookie, idle expiry, CSRF); sign_in.rs: the forms;
//! - bridge.rs: `/console/api/v1`, the management API itself for a session (writes need CSRF);
//! - pages/: the pages, reading through the store with the API's role checks;
//! - send.rs: the test panel's signed send; assets.rs, render.rs, samples.rs, wording.rs.

pub mod assets;
pub mod bridge;
pub mod pages;
pub mod render;
pub mod samples;
pub mod send;
pub mod session;
pub mod sign_in;
pub mod wording;

use actix_web::http::header::LOCATION;
use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{web, HttpResponse};

pub use sign_in::SignInLimiter;

/// What the console's pages may load: only this origin; no inline script or style.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Registers `/console` (the app must hold a `web::Data<SignInLimiter>` shared by its workers).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/console",
        web::get().to(|| async {
            HttpResponse::PermanentRedirect()
                .insert_header((LOCATION, "/console/"))
                .finish()
        }),
    )
    .service(
        web::scope("/console")
            .wrap(
                DefaultHeaders::new()
                    .add(("Content-Security-Policy", CSP))
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("X-Frame-Options", "DENY"))
                    // Hook URLs are credentials: never leak one in a Referer.
                    .add(("Referrer-Policy", "no-referrer"))
                    .add(("Cache-Control", "no-store")),
            )
            .service(
                web::scope("/api/v1")
                    .wrap(from_fn(crate::api::extract::integral_numbers))
                    .wrap(from_fn(crate::api::extract::refuse_content_encoding))
                    .wrap(from_fn(bridge::session_to_auth))
                    .configure(crate::api::v1_routes),
            )
            .service(assets::file)
            .service(sign_in::show)
            .service(sign_in::sign_in)
            .service(sign_in::sign_out)
            .service(send::send)
            .service(pages::catalog::projects)
            .service(pages::catalog::project)
            .service(pages::runs::list)
            .service(pages::catalog::pipeline)
            .service(pages::requests::test_panel)
            .service(pages::requests::log)
            .service(pages::requests::delivery)
            .service(pages::runs::run),
    );
}
