//! `POST {prefix}/{id}` matched without a regex.
//!
//! actix matches a pattern with a `{…}` segment by running a regex (regex-lite's PikeVM): about
//! 28,000 instructions for `/hooks/{hk}`, 3% of a durable ingest request. A scope is matched as
//! a prefix, compared as text; its guard takes only POST with exactly one more path segment, so
//! every other request under the prefix falls through to the app's default service (404, or
//! 405 with `Allow`), as it did with the pattern.

use actix_web::dev::HttpServiceFactory;
use actix_web::http::Method;
use actix_web::{guard, web, FromRequest, Handler, HttpRequest, Responder};

/// The route `POST {prefix}/{id}` to `handler`; the handler reads the id with [`segment`].
pub fn post_one_segment<F, Args>(prefix: &'static str, handler: F) -> impl HttpServiceFactory
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    web::scope(prefix)
        .guard(guard::fn_guard(move |ctx| {
            ctx.head().method == Method::POST && one_segment(ctx.head().uri.path(), prefix)
        }))
        .default_service(web::to(handler))
}

/// The path segment after the route's prefix (`/hooks/hk_1` → `hk_1`).
pub fn segment(req: &HttpRequest) -> &str {
    let rest = req.match_info().unprocessed();
    rest.strip_prefix('/').unwrap_or(rest)
}

/// True when `path` is `prefix/` followed by one non-empty segment (what `{id}` matched).
fn one_segment(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::{call_service, init_service, read_body, TestRequest};
    use actix_web::{App, HttpResponse};

    async fn echo(req: HttpRequest) -> HttpResponse {
        HttpResponse::Ok().body(segment(&req).to_string())
    }

    #[test]
    fn one_segment_is_what_the_pattern_matched() {
        for ok in ["/hooks/hk_1", "/hooks/a%2Fb", "/hooks/x.y"] {
            assert!(one_segment(ok, "/hooks"), "{ok}");
        }
        for not in [
            "/hooks",
            "/hooks/",
            "/hooks/a/",
            "/hooks/a/b",
            "/hooksx/a",
            "/hook/a",
        ] {
            assert!(!one_segment(not, "/hooks"), "{not}");
        }
    }

    #[actix_web::test]
    async fn the_handler_reads_its_segment_and_the_rest_falls_through() {
        let app = init_service(
            App::new()
                .service(post_one_segment("/hooks", echo))
                .default_service(web::to(|| async { HttpResponse::NotFound().finish() })),
        )
        .await;
        let post = |uri: &str| TestRequest::post().uri(uri).to_request();
        let res = call_service(&app, post("/hooks/hk_1")).await;
        assert_eq!(res.status(), 200);
        assert_eq!(read_body(res).await, "hk_1");
        for uri in ["/hooks", "/hooks/", "/hooks/a/b", "/hooks/a/"] {
            let res = call_service(&app, post(uri)).await;
            assert_eq!(res.status(), 404, "{uri}");
        }
        let get = TestRequest::get().uri("/hooks/hk_1").to_request();
        assert_eq!(call_service(&app, get).await.status(), 404);
    }
}
