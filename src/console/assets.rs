//! The console's static files, embedded in the binary and served under content-hashed names
//! (`console.<hash>.js`), so they can be cached for a year: a new build has new names.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use actix_web::{get, web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

/// One embedded file.
struct Asset {
    /// The key templates use (`asset.js`).
    key: &'static str,
    stem: &'static str,
    ext: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const FILES: &[Asset] = &[
    Asset {
        key: "css",
        stem: "console",
        ext: "css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("static/console.css"),
    },
    Asset {
        key: "js",
        stem: "console",
        ext: "js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("static/console.js"),
    },
];

/// An embedded file under its served name.
struct Served {
    asset: &'static Asset,
    name: String,
    etag: String,
}

fn served() -> &'static [Served] {
    static SERVED: OnceLock<Vec<Served>> = OnceLock::new();
    SERVED.get_or_init(|| {
        FILES
            .iter()
            .map(|asset| {
                let hash = hex::encode(Sha256::digest(asset.bytes));
                Served {
                    asset,
                    name: format!("{}.{}.{}", asset.stem, &hash[..12], asset.ext),
                    etag: format!("\"{}\"", &hash[..32]),
                }
            })
            .collect()
    })
}

/// The URL of each file by key (`css`, `js`), for the templates.
pub fn names() -> BTreeMap<&'static str, String> {
    served()
        .iter()
        .map(|s| (s.asset.key, format!("/console/static/{}", s.name)))
        .collect()
}

/// `GET /console/static/{name}`: an embedded file; 304 for a matching `If-None-Match`.
#[get("/static/{name}")]
pub async fn file(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    let Some(s) = served().iter().find(|s| s.name == *name) else {
        return HttpResponse::NotFound()
            .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body("no such file");
    };
    let cache = (CACHE_CONTROL, "public, max-age=31536000, immutable");
    let matches = req
        .headers()
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == s.etag));
    if matches {
        return HttpResponse::NotModified()
            .insert_header(cache)
            .insert_header((ETAG, s.etag.clone()))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header(cache)
        .insert_header((ETAG, s.etag.clone()))
        .insert_header((CONTENT_TYPE, s.asset.content_type))
        .body(s.asset.bytes)
}
