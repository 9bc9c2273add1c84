//! The dashboard's server side on the real binary: the embedded UI files with their cache
//! and security headers, login sessions and the Origin check, the live event stream, job
//! retry and the status additions.

mod support;

use support::*;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; \
                   base-uri 'none'";

fn assert_secured(answer: &Response, what: &str) {
    assert_eq!(
        answer.header("content-security-policy"),
        Some(CSP),
        "{what}"
    );
    assert_eq!(
        answer.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        answer.header("referrer-policy"),
        Some("no-referrer"),
        "{what}"
    );
    assert_eq!(answer.header("x-frame-options"), Some("DENY"), "{what}");
}

/// The first `/ui/assets/<hash>/<file>` the page refers to.
fn first_asset(page: &str) -> (String, String) {
    let start = page
        .find("/ui/assets/")
        .unwrap_or_else(|| panic!("the page refers to no asset: {page}"));
    let rest = &page[start..];
    let end = rest.find(['"', '\'', ' ', '>']).unwrap_or(rest.len());
    let path = &rest[..end];
    let hash = path.split('/').nth(3).unwrap().to_string();
    (path.to_string(), hash)
}

#[test]
fn the_ui_is_served_with_its_headers() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path(), &config_for("file:///nowhere", "github", ""));

    let redirect = gw.request("GET", "/ui", &[], b"");
    assert_eq!(redirect.status, 308);
    assert_eq!(redirect.header("location"), Some("/ui/"));

    let page = gw.request("GET", "/ui/", &[], b"");
    assert_eq!(page.status, 200, "{}", page.text());
    assert_secured(&page, "page");
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let text = page.text();
    assert!(
        !text.contains("{{assets}}"),
        "the token is replaced: {text}"
    );
    let (path, hash) = first_asset(&text);
    assert_eq!(hash.len(), 16, "{path}");
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{path}");

    let etag = page
        .header("etag")
        .expect("the page has an ETag")
        .to_string();
    let again = gw.request("GET", "/ui/", &[("If-None-Match", &etag)], b"");
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_secured(&again, "304 page");

    let asset = gw.request("GET", &path, &[], b"");
    assert_eq!(asset.status, 200, "{path}: {}", asset.text());
    assert_secured(&asset, "asset");
    assert_eq!(
        asset.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(!asset.body.is_empty());
    let asset_etag = asset.header("etag").unwrap().to_string();
    let again = gw.request("GET", &path, &[("If-None-Match", &asset_etag)], b"");
    assert_eq!(again.status, 304);

    let stale = path.replace(&hash, "0000000000000000");
    let answer = gw.request("GET", &stale, &[], b"");
    assert_eq!(answer.status, 404, "a hash that is not the current one");
    assert_secured(&answer, "stale asset");
    let unknown = format!("/ui/assets/{hash}/no-such-file.js");
    assert_eq!(gw.request("GET", &unknown, &[], b"").status, 404);
    assert_eq!(gw.request("GET", "/ui/jobs", &[], b"").status, 404);
    gw.stop();
}
