//! The dashboard's static files: `GET /ui` (a redirect), `GET /ui/` (the page) and
//! `GET /ui/assets/{hash}/{*file}`, served from the files under `ui/` that the build embeds
//! (see `build.rs`) through [`http_serve::assets::Site`]. These answers hold no data and are
//! open; every data call the page makes needs management auth. The router adds the security
//! headers to every `/ui` answer.

use std::sync::LazyLock;

use hyper::header::{HeaderValue, IF_NONE_MATCH, LOCATION};
use hyper::{HeaderMap, Response, StatusCode};

use super::respond::{self, Body};
use http_serve::assets::Site;

/// Where the page finds its assets; the hash of the embedded files follows.
const ASSETS_PREFIX: &str = "/ui/assets";

/// Every file under `ui/`, embedded at build time.
static FILES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/ui_files.rs"));

static SITE: LazyLock<Site> = LazyLock::new(|| Site::new(FILES, ASSETS_PREFIX));

/// `GET /ui`: 308 to `/ui/`, so relative links resolve inside the UI.
pub fn redirect() -> Response<Body> {
    let mut response = Response::new(respond::full(""));
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    let headers = response.headers_mut();
    headers.insert(LOCATION, HeaderValue::from_static("/ui/"));
    response
}

/// `GET /ui/`: the page, its `{{assets}}` token pointing at the current hashed directory.
pub fn page(headers: &HeaderMap) -> Response<Body> {
    SITE.page(headers.get(IF_NONE_MATCH))
}

/// `GET /ui/assets/{hash}/{*file}`.
pub fn asset(hash: &str, file: &str, headers: &HeaderMap) -> Response<Body> {
    SITE.asset(hash, file, headers.get(IF_NONE_MATCH))
}
