//! A plain router over (method, path segments), the management auth rule, and access logs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::{Method, Request, Response, StatusCode};
use tracing::Instrument;

use super::respond::{self, Body};
use super::{access_log, manage, webhook};
use crate::app::App;

/// Answers one request and records it in the metrics and the access log.
pub async fn route(app: Arc<App>, peer: SocketAddr, request: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    let request_id = app.next_id("req");
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    // The span carries only the id (what ties a handler's own log lines to the access line);
    // everything else goes into the one access line below. Profiled: per-request logging was
    // a third of the CPU of a rejected webhook with a span of five fields and a second line
    // for the rejection.
    let span = tracing::info_span!("request", id = %request_id);
    let (template, response) = dispatch(app.clone(), peer, &path, request)
        .instrument(span)
        .await;
    let status = response.status().as_u16();
    app.metrics.request(template, status);
    let error = response
        .extensions()
        .get::<respond::ErrorCode>()
        .map_or("", |code| code.0);
    // Filtered by RUST_LOG like any event at this target; formatted without tracing's
    // per-field machinery (see access_log).
    if tracing::enabled!(target: access_log::TARGET, tracing::Level::INFO) {
        access_log::write(&access_log::AccessLine {
            request_id: &request_id,
            method: method.as_str(),
            path: &path,
            peer,
            status,
            route: template,
            error,
            elapsed_us: started.elapsed().as_micros() as u64,
        });
    }
    response
}

/// Routes `request`, whose path (copied once by [`route`] for the access line) is `path`.
async fn dispatch(
    app: Arc<App>,
    peer: SocketAddr,
    path: &str,
    request: Request<Incoming>,
) -> (&'static str, Response<Body>) {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let method = request.method().clone();
    let query = parse_query(request.uri().query().unwrap_or(""));

    // Open routes.
    match (&method, segments.as_slice()) {
        (&Method::GET, ["healthz"]) => return ("/healthz", manage::healthz()),
        (&Method::GET, ["readyz"]) => return ("/readyz", manage::readyz(&app).await),
        (&Method::POST, ["webhooks", provider, repo])
            if !matches!(*provider, "trigger" | "test" | "jobs" | "cleanup") =>
        {
            let (provider, repo) = (provider.to_string(), repo.to_string());
            return (
                "/webhooks/{provider}/{repo}",
                webhook::receive(&app, peer, &provider, &repo, request).await,
            );
        }
        _ => {}
    }

    let template = template_of(&method, &segments);
    if template == "unknown" {
        return (template, respond::not_found("no such endpoint"));
    }
    if template == "method_not_allowed" {
        return (
            template,
            respond::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{method} is not allowed on {path}"),
            ),
        );
    }
    if let Err(response) = authorize(&app, peer, &request) {
        return (template, *response);
    }
    let response = match (&method, segments.as_slice()) {
        (&Method::GET, ["metrics"]) => manage::metrics(&app).await,
        (&Method::GET, ["webhooks", "status"]) => manage::status(&app).await,
        (&Method::GET, ["webhooks", "config"]) => manage::config(&app),
        (&Method::GET, ["webhooks", "jobs"]) => manage::list_jobs(&app, &query).await,
        (&Method::GET, ["webhooks", "jobs", id]) => manage::get_job(&app, id).await,
        (&Method::DELETE, ["webhooks", "jobs", id]) => manage::cancel_job(&app, id).await,
        (&Method::POST, ["webhooks", "trigger", repo]) => {
            let repo = repo.to_string();
            manage::trigger(&app, &repo, request).await
        }
        (&Method::POST, ["webhooks", "cleanup"]) => manage::cleanup(&app, &query).await,
        (&Method::POST, ["webhooks", "test", provider]) => {
            let provider = provider.to_string();
            manage::test_delivery(&app, peer, &provider, &query).await
        }
        (&Method::GET, ["search"]) => manage::search(&app, &query).await,
        _ => respond::not_found("no such endpoint"),
    };
    (template, response)
}

/// The route template for metrics, `method_not_allowed` for a known path with the wrong
/// method, or `unknown`.
fn template_of(method: &Method, segments: &[&str]) -> &'static str {
    let (template, allowed): (&'static str, &[Method]) = match segments {
        ["metrics"] => ("/metrics", &[Method::GET]),
        ["healthz"] => ("/healthz", &[Method::GET]),
        ["readyz"] => ("/readyz", &[Method::GET]),
        ["webhooks", "status"] => ("/webhooks/status", &[Method::GET]),
        ["webhooks", "config"] => ("/webhooks/config", &[Method::GET]),
        ["webhooks", "jobs"] => ("/webhooks/jobs", &[Method::GET]),
        ["webhooks", "jobs", _] => ("/webhooks/jobs/{id}", &[Method::GET, Method::DELETE]),
        ["webhooks", "trigger", _] => ("/webhooks/trigger/{repo}", &[Method::POST]),
        ["webhooks", "cleanup"] => ("/webhooks/cleanup", &[Method::POST]),
        ["webhooks", "test", _] => ("/webhooks/test/{provider}", &[Method::POST]),
        ["webhooks", _, _] => ("/webhooks/{provider}/{repo}", &[Method::POST]),
        ["search"] => ("/search", &[Method::GET]),
        _ => return "unknown",
    };
    if allowed.contains(method) {
        template
    } else {
        "method_not_allowed"
    }
}

/// Management needs `Authorization: Bearer $GATEWAY_TOKEN`; without a configured token it is
/// served to loopback peers only (and `serve` refuses non-loopback listen addresses).
fn authorize(
    app: &App,
    peer: SocketAddr,
    request: &Request<Incoming>,
) -> Result<(), Box<Response<Body>>> {
    let Some(expected) = &app.token else {
        if super::is_loopback(&peer) {
            return Ok(());
        }
        return Err(Box::new(respond::error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "management API is only open to loopback clients when GATEWAY_TOKEN is not set",
        )));
    };
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match given {
        Some(token) if webhook_core::constant_time_eq(token.as_bytes(), expected) => Ok(()),
        Some(_) => Err(Box::new(respond::error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "wrong bearer token",
        ))),
        None => Err(Box::new(respond::error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing `Authorization: Bearer <GATEWAY_TOKEN>` header",
        ))),
    }
}

/// `a=1&b=x%20y` into a map (the last value of a repeated key wins).
pub fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        let q = parse_query("q=parse%20http+request&limit=5&bad=%zz&tail=%4");
        assert_eq!(q["q"], "parse http request");
        assert_eq!(q["limit"], "5");
        assert_eq!(q["bad"], "%zz");
        assert_eq!(q["tail"], "%4");
    }
}
