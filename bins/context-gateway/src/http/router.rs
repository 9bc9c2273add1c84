//! The one route table: every path, its methods, its template for metrics and logs, and who
//! may call it. Paths match with `matchit` (the router axum is built on); queries decode with
//! `http_serve::query`, and a malformed one is a 400 naming the parameter.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use tracing::Instrument;

use http_serve::query::{decode_path, parse_query};

use super::mcp::Mcp;
use super::respond::{self, Body};
use super::{auth, changes, deliveries, events, manage, read, session, ui, webhook};
use crate::app::App;
use metrics::{self, DeliveryOutcome};
use webhook_core::ProviderId;

/// The templates of webhook deliveries start with this.
const WEBHOOK_ROUTES: &str = "/webhooks/{provider}";

/// The access line's target (what `RUST_LOG` directives name to turn it off).
pub const ACCESS_TARGET: &str = "context_gateway::http::router";

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Anyone (health checks; webhooks carry their own signatures).
    Open,
    /// `Authorization: Bearer $GATEWAY_TOKEN`, or a direct loopback client without a token.
    Management,
}

#[derive(Debug)]
struct Route {
    endpoint: Endpoint,
    template: &'static str,
    methods: &'static [Method],
    access: Access,
    /// Whether the handler reads the URL query (a webhook's query is not ours to judge).
    reads_query: bool,
}

/// One line per route: `Endpoint "template" [METHODS] Access query?` declares the endpoint
/// and its table entry together.
macro_rules! routes {
    ($($endpoint:ident $template:literal [$($method:ident),+] $access:ident $query:literal;)+) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Endpoint { $($endpoint),+ }
        const ROUTES: &[Route] = &[$(Route {
            endpoint: Endpoint::$endpoint,
            template: $template,
            methods: &[$(Method::$method),+],
            access: Access::$access,
            reads_query: $query,
        }),+];
    };
}

// The UI's login, logout and session routes are Open: each checks what it needs itself (the
// Origin, the token, the session).
routes! {
    Healthz "/healthz" [GET] Open false;
    Readyz "/readyz" [GET] Open false;
    Metrics "/metrics" [GET] Management false;
    Status "/webhooks/status" [GET] Management false;
    Config "/webhooks/config" [GET] Management false;
    Jobs "/webhooks/jobs" [GET] Management true;
    Job "/webhooks/jobs/{id}" [GET, DELETE] Management false;
    Trigger "/webhooks/trigger/{repo}" [POST] Management false;
    Cleanup "/webhooks/cleanup" [POST] Management true;
    Deliveries "/webhooks/deliveries" [GET] Management true;
    Delivery "/webhooks/deliveries/{id}" [GET] Management false;
    Redeliver "/webhooks/deliveries/{id}/redeliver" [POST] Management false;
    TestDelivery "/webhooks/test/{provider}" [POST] Management true;
    Search "/search" [GET] Management true;
    Changes "/changes" [GET] Management true;
    Repos "/repos" [GET] Management false;
    Repo "/repos/{repo}" [GET] Management false;
    Tree "/tree/{repo}" [GET] Management true;
    File "/files/{repo}/{*path}" [GET] Management true;
    Mcp "/mcp" [GET, POST, DELETE] Management false;
    Webhook "/webhooks/{provider}/{repo}" [POST] Open false;
    OrgWebhook "/webhooks/{provider}" [POST] Open false;
    UiRedirect "/ui" [GET] Open false;
    UiPage "/ui/" [GET] Open false;
    UiAsset "/ui/assets/{hash}/{*file}" [GET] Open false;
    UiLogin "/ui/login" [POST] Open false;
    UiLogout "/ui/logout" [POST] Open false;
    UiSession "/ui/session" [GET] Open false;
    Events "/webhooks/events" [GET] Management false;
    Retry "/webhooks/jobs/{id}/retry" [POST] Management false;
}

static TABLE: LazyLock<matchit::Router<&'static Route>> = LazyLock::new(|| {
    let mut table = matchit::Router::new();
    for route in ROUTES {
        // The templates above are fixed and distinct; a clash is a programming error caught
        // by the first test that routes anything.
        table
            .insert(route.template, route)
            .unwrap_or_else(|e| panic!("route table: {}: {e}", route.template));
    }
    table
});

/// Answers one request, then writes its access line and counts it in the metrics.
pub async fn route(
    app: Arc<App>,
    mcp: &Mcp,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Response<Body> {
    let started = Instant::now();
    let request_id = app.next_id("req");
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let span = tracing::info_span!("request", id = %request_id);
    let (template, response) = dispatch(app.clone(), mcp, peer, &path, request)
        .instrument(span.clone())
        .await;
    let mut response = response;
    if path == "/ui" || path.starts_with("/ui/") {
        // Every dashboard answer, errors included, carries the CSP and its companions.
        http_serve::assets::secure(response.headers_mut());
    }
    let status = response.status().as_u16();
    app.metrics.request(template, status, started.elapsed());
    let error = response
        .extensions()
        .get::<respond::ErrorCode>()
        .map_or("", |code| code.0);
    if template.starts_with(WEBHOOK_ROUTES) && status >= 400 {
        // Every refused delivery, whichever step refused it; the event is not known (or not
        // trusted) before verification, so it is never taken from the request.
        let provider = path
            .split('/')
            .nth(2)
            .and_then(|p| p.parse::<ProviderId>().ok())
            .map_or("unknown", ProviderId::as_str);
        let cause = metrics::refusal_cause(status, error);
        app.metrics
            .delivery(provider, "unknown", DeliveryOutcome::Refused(cause));
    }
    let _entered = span.enter();
    tracing::info!(
        target: ACCESS_TARGET,
        method = %method,
        path = path.as_str(),
        peer = %peer,
        status,
        route = template,
        error,
        elapsed_us = started.elapsed().as_micros() as u64,
        "answered"
    );
    response
}

async fn dispatch(
    app: Arc<App>,
    mcp: &Mcp,
    peer: SocketAddr,
    path: &str,
    request: Request<Incoming>,
) -> (&'static str, Response<Body>) {
    let Ok(matched) = TABLE.at(path) else {
        return ("unknown", respond::not_found("no such endpoint"));
    };
    let route = *matched.value;
    let method = request.method();
    if !route.methods.contains(method) {
        let message = format!("{method} is not allowed on {path}");
        return (
            "method_not_allowed",
            respond::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                message,
            ),
        );
    }
    let Ok(_in_flight) = app.in_flight.clone().try_acquire_owned() else {
        app.metrics.in_flight_refused(route.template);
        return (route.template, respond::overloaded());
    };
    if route.access == Access::Management {
        if let Err(response) = auth::authorize(&app, peer, &request) {
            return (route.template, *response);
        }
    }
    let param = |name: &str| matched.params.get(name).unwrap_or("").to_string();
    let query = match route
        .reads_query
        .then(|| parse_query(request.uri().query().unwrap_or("")))
    {
        None => HashMap::new(),
        Some(Ok(query)) => query,
        Some(Err(response)) => return (route.template, *response),
    };
    let response = match route.endpoint {
        Endpoint::Healthz => manage::healthz(),
        Endpoint::Readyz => manage::readyz(&app).await,
        Endpoint::Metrics => manage::metrics(&app).await,
        Endpoint::Status => manage::status(&app).await,
        Endpoint::Config => manage::config(&app),
        Endpoint::Jobs => manage::list_jobs(&app, &query).await,
        Endpoint::Job if request.method() == Method::DELETE => {
            manage::cancel_job(&app, &param("id")).await
        }
        Endpoint::Job => manage::get_job(&app, &param("id")).await,
        Endpoint::Trigger => manage::trigger(&app, &param("repo"), request).await,
        Endpoint::Cleanup => manage::cleanup(&app, &query).await,
        Endpoint::Deliveries => deliveries::list(&app, &query).await,
        Endpoint::Delivery => deliveries::get(&app, &param("id")).await,
        Endpoint::Redeliver => deliveries::redeliver(&app, peer, &param("id")).await,
        Endpoint::TestDelivery => {
            manage::test_delivery(&app, peer, &param("provider"), &query).await
        }
        Endpoint::Search => manage::search(&app, &query).await,
        Endpoint::Changes => changes::answer(&app, &query, request.headers()).await,
        Endpoint::Repos => read::repos(&app).await,
        Endpoint::Repo => read::repo(&app, &param("repo")).await,
        Endpoint::Tree => read::tree(&app, &param("repo"), &query).await,
        Endpoint::File => match decode_path(&param("path")) {
            Some(path) => read::file(&app, &param("repo"), &path, &query).await,
            None => respond::error(
                StatusCode::BAD_REQUEST,
                "bad_path",
                "the file path is not valid percent-encoded UTF-8",
            ),
        },
        Endpoint::Mcp => mcp.answer(request).await,
        Endpoint::Webhook => {
            webhook::receive(&app, peer, &param("provider"), &param("repo"), request).await
        }
        Endpoint::OrgWebhook => webhook::receive_org(&app, peer, &param("provider"), request).await,
        Endpoint::UiRedirect => ui::redirect(),
        Endpoint::UiPage => ui::page(request.headers()),
        Endpoint::UiAsset => ui::asset(&param("hash"), &param("file"), request.headers()),
        Endpoint::UiLogin => session::login(&app, peer, request).await,
        Endpoint::UiLogout => session::logout(&app, &request),
        Endpoint::UiSession => session::session(&app, peer, &request),
        Endpoint::Events => events::stream(&app, request.headers()),
        Endpoint::Retry => manage::retry_job(&app, &param("id")).await,
    };
    (route.template, response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_routes_to_itself() {
        for route in ROUTES {
            let path = route
                .template
                .replace("{id}", "j1")
                .replace("{repo}", "r")
                .replace("{provider}", "github")
                .replace("{*path}", "src/lib.rs")
                .replace("{hash}", "0123456789abcdef")
                .replace("{*file}", "app.js");
            let matched = TABLE.at(&path).unwrap();
            assert_eq!(matched.value.template, route.template, "{path}");
        }
        // Static segments win over the webhook route's parameters.
        assert_eq!(
            TABLE.at("/webhooks/jobs/x").unwrap().value.endpoint,
            Endpoint::Job
        );
        assert_eq!(
            TABLE.at("/webhooks/github/demo").unwrap().value.endpoint,
            Endpoint::Webhook
        );
        assert_eq!(
            TABLE.at("/webhooks/github").unwrap().value.endpoint,
            Endpoint::OrgWebhook
        );
        // The delivery log's paths are not deliveries.
        assert_eq!(
            TABLE.at("/webhooks/deliveries").unwrap().value.endpoint,
            Endpoint::Deliveries
        );
        assert_eq!(
            TABLE.at("/webhooks/deliveries/x").unwrap().value.endpoint,
            Endpoint::Delivery
        );
        // Static segments win over the org hook's parameter too.
        assert_eq!(
            TABLE.at("/webhooks/status").unwrap().value.endpoint,
            Endpoint::Status
        );
        assert!(TABLE.at("/webhooks/a/b/c").is_err());
    }
}
