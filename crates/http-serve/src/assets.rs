//! A small static site served from memory: one HTML page whose asset references go through a
//! content-hashed directory, so the page is revalidated on every load (`no-cache` + ETag) and
//! its assets are cached for good (`immutable`), and every answer carries a strict
//! Content-Security-Policy.
//!
//! ```
//! use http_serve::assets::Site;
//!
//! let files: &[(&str, &[u8])] = &[
//!     ("index.html", b"<script type=\"module\" src=\"{{assets}}/app.js\"></script>"),
//!     ("app.js", b"console.log(1);"),
//! ];
//! let site = Site::new(files, "/ui/assets");
//! let page = site.page(None);
//! assert_eq!(page.status(), 200);
//! let script = site.asset(site.hash(), "app.js", None);
//! assert_eq!(script.status(), 200);
//! assert_eq!(site.asset("0000000000000000", "app.js", None).status(), 404);
//! ```

use std::collections::HashMap;

use bytes::Bytes;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderMap, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};

use crate::respond::{self, Body};

/// The page every other file is referenced from.
pub const INDEX: &str = "index.html";

/// The literal the page uses where its assets' directory goes.
pub const ASSETS_TOKEN: &str = "{{assets}}";

/// What the browser may load and run on a served page: only this origin's scripts, styles,
/// images and connections; no inline code, no framing, no plugins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const PAGE_CACHE: &str = "no-cache";
const ASSET_CACHE: &str = "public, max-age=31536000, immutable";

/// One file ready to send: its bytes, its type and its validator.
#[derive(Debug, Clone)]
struct File {
    body: Bytes,
    content_type: &'static str,
    etag: HeaderValue,
}

impl File {
    fn new(name: &str, body: Bytes) -> File {
        let digest = blake3::hash(&body).to_hex();
        let etag = HeaderValue::from_str(&format!("\"{}\"", &digest[..16]))
            .unwrap_or_else(|_| HeaderValue::from_static("\"\""));
        File {
            body,
            content_type: content_type(name),
            etag,
        }
    }

    /// The file, or 304 when `if_none_match` names its ETag.
    fn answer(&self, cache: &'static str, if_none_match: Option<&HeaderValue>) -> Response<Body> {
        let fresh = if_none_match
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| etag_matches(v, &self.etag));
        let mut response = if fresh {
            let mut response = Response::new(respond::full(Bytes::new()));
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            let mut response = Response::new(respond::full(self.body.clone()));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
            response
        };
        let headers = response.headers_mut();
        headers.insert(ETAG, self.etag.clone());
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
        secure(headers);
        response
    }
}

/// Whether an `If-None-Match` value (a list of ETags, weak or strong, or `*`) names `etag`.
fn etag_matches(header: &str, etag: &HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// The `Content-Type` of a file name, by its extension.
pub fn content_type(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map_or("", |(_, ext)| ext);
    match extension.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Adds the headers every answer of the site carries: the CSP, `nosniff`, `no-referrer` and
/// `DENY` framing.
pub fn secure(headers: &mut HeaderMap) {
    let fixed: [(HeaderName, &'static str); 4] = [
        (
            HeaderName::from_static("content-security-policy"),
            CONTENT_SECURITY_POLICY,
        ),
        (HeaderName::from_static("x-content-type-options"), "nosniff"),
        (HeaderName::from_static("referrer-policy"), "no-referrer"),
        (HeaderName::from_static("x-frame-options"), "DENY"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// The page and its assets, with the hash naming the current asset directory.
#[derive(Debug, Clone)]
pub struct Site {
    hash: String,
    page: Option<File>,
    assets: HashMap<String, File>,
}

impl Site {
    /// The site made of `files` (name relative to the site's root, `/`-separated, and bytes).
    /// [`INDEX`] is the page; every [`ASSETS_TOKEN`] in it becomes
    /// `{assets_prefix}/{hash}`, where `hash` is the first 16 hex digits of a blake3 over
    /// every file's name and bytes. Every other file is an asset.
    pub fn new(files: &[(&str, &'static [u8])], assets_prefix: &str) -> Site {
        let mut sorted: Vec<&(&str, &'static [u8])> = files.iter().collect();
        sorted.sort_by_key(|(name, _)| *name);
        let mut hasher = blake3::Hasher::new();
        for (name, bytes) in &sorted {
            // Lengths frame each part, so no two different sets of files hash alike.
            hasher.update(&(name.len() as u64).to_le_bytes());
            hasher.update(name.as_bytes());
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        }
        let hash = hasher.finalize().to_hex()[..16].to_string();
        let directory = format!("{assets_prefix}/{hash}");
        let mut page = None;
        let mut assets = HashMap::new();
        for (name, bytes) in sorted {
            if *name == INDEX {
                let text = String::from_utf8_lossy(bytes).replace(ASSETS_TOKEN, &directory);
                page = Some(File::new(name, Bytes::from(text)));
            } else {
                let body = Bytes::from_static(bytes);
                assets.insert((*name).to_string(), File::new(name, body));
            }
        }
        Site { hash, page, assets }
    }

    /// The current asset directory's name.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The page (`Cache-Control: no-cache`, ETag, 304 on a match), or 404 without one.
    pub fn page(&self, if_none_match: Option<&HeaderValue>) -> Response<Body> {
        match &self.page {
            Some(page) => page.answer(PAGE_CACHE, if_none_match),
            None => not_found("the site has no index.html"),
        }
    }

    /// One asset of the directory `hash` (cached for good, ETag, 304 on a match); 404 for a
    /// file that does not exist or a hash that is not the current one.
    pub fn asset(
        &self,
        hash: &str,
        name: &str,
        if_none_match: Option<&HeaderValue>,
    ) -> Response<Body> {
        if hash != self.hash {
            return not_found("no such asset version; reload the page");
        }
        match self.assets.get(name) {
            Some(file) => file.answer(ASSET_CACHE, if_none_match),
            None => not_found("no such asset"),
        }
    }
}

/// A 404 with the site's headers.
pub fn not_found(what: &str) -> Response<Body> {
    let mut response = respond::not_found(what);
    secure(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILES: &[(&str, &[u8])] = &[
        (
            "index.html",
            b"<link href=\"{{assets}}/style.css\"><script src=\"{{assets}}/app.js\"></script>",
        ),
        ("app.js", b"export const x = 1;"),
        ("style.css", b"body{}"),
    ];

    fn body_text(response: Response<Body>) -> String {
        use http_body_util::BodyExt;
        let bytes = block_on(response.into_body().collect()).unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn the_page_points_at_the_hashed_directory() {
        let site = Site::new(FILES, "/ui/assets");
        assert_eq!(site.hash().len(), 16);
        let text = body_text(site.page(None));
        let dir = format!("/ui/assets/{}", site.hash());
        assert_eq!(
            text,
            format!("<link href=\"{dir}/style.css\"><script src=\"{dir}/app.js\"></script>")
        );
    }

    #[test]
    fn the_hash_follows_every_file() {
        let a = Site::new(FILES, "/ui/assets");
        let mut changed = FILES.to_vec();
        changed[1] = ("app.js", b"export const x = 2;");
        let b = Site::new(&changed, "/ui/assets");
        assert_ne!(a.hash(), b.hash());
        let reordered: Vec<_> = FILES.iter().rev().copied().collect();
        assert_eq!(Site::new(&reordered, "/ui/assets").hash(), a.hash());
    }

    #[test]
    fn etags_revalidate() {
        let site = Site::new(FILES, "/ui/assets");
        let first = site.asset(site.hash(), "app.js", None);
        let etag = first.headers()[ETAG].clone();
        assert_eq!(
            first.headers()[CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        let again = site.asset(site.hash(), "app.js", Some(&etag));
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let listed = HeaderValue::from_str(&format!("\"x\", W/{}", etag.to_str().unwrap()));
        let again = site.page(Some(&listed.unwrap()));
        assert_eq!(again.status(), StatusCode::OK, "the page has its own ETag");
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("a/b.CSS"), "text/css; charset=utf-8");
        assert_eq!(content_type("logo.svg"), "image/svg+xml");
        assert_eq!(content_type("README"), "application/octet-stream");
    }
}
