//! The dashboard's login: `POST /ui/login` trades the management token for a session cookie,
//! `POST /ui/logout` ends it, `GET /ui/session` says whether (and how) the caller is
//! authenticated. Sessions live in [`http_serve::session::Sessions`]; the cookie is
//! accepted on every management route by [`super::auth`].

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, HeaderValue, SET_COOKIE};
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use super::auth::{authenticate, origin_mismatch, refuse};
use super::respond::{self, Body};
use crate::app::App;
use http_serve::body::read_body;
use http_serve::session::{COOKIE_NAME, cookie_value};

/// A login body is one short JSON object.
const MAX_LOGIN_BODY: u64 = 4096;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    token: String,
}

/// `POST /ui/login` with `{"token": "<GATEWAY_TOKEN>"}`: 204 and the session cookie.
pub async fn login(app: &App, peer: SocketAddr, request: Request<Incoming>) -> Response<Body> {
    if !app.sessions.same_origin(request.headers()) {
        return origin_mismatch();
    }
    let Some(expected) = &app.token else {
        return respond::error(
            StatusCode::CONFLICT,
            "no_token_configured",
            "GATEWAY_TOKEN is not set: the dashboard is open to direct loopback clients \
             without a login",
        );
    };
    let (parts, body) = request.into_parts();
    let idle = app.config.header_read_timeout;
    let body = match read_body(&parts.headers, body, MAX_LOGIN_BODY, idle).await {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let login: Login = match serde_json::from_slice(&body) {
        Ok(login) => login,
        Err(error) => {
            return respond::error(
                StatusCode::BAD_REQUEST,
                "malformed_body",
                format!("login body: {error}; expected {{\"token\": \"<GATEWAY_TOKEN>\"}}"),
            );
        }
    };
    if !webhook_core::constant_time_eq(login.token.as_bytes(), expected) {
        return refuse(
            app,
            peer,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "wrong token",
        );
    }
    let id = match app.sessions.create() {
        Ok(id) => id,
        Err(error) => {
            tracing::error!(%error, "could not make a session");
            return respond::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "session_failed",
                "no session could be made; see the server log",
            );
        }
    };
    with_cookie(app.sessions.set_cookie(&id))
}

/// `POST /ui/logout`: 204; the session is forgotten and the cookie expired.
pub fn logout(app: &App, request: &Request<Incoming>) -> Response<Body> {
    if !app.sessions.same_origin(request.headers()) {
        return origin_mismatch();
    }
    if let Some(id) = cookie_value(request.headers(), COOKIE_NAME) {
        app.sessions.forget(id);
    }
    with_cookie(app.sessions.clear_cookie())
}

/// `GET /ui/session`: how the caller is authenticated, or 401. Only a wrong bearer token is
/// charged to the failure budget: the page asks this on every load, before any login.
pub fn session(app: &App, peer: SocketAddr, request: &Request<Incoming>) -> Response<Body> {
    match authenticate(app, peer, request) {
        Ok(via) => respond::json(
            StatusCode::OK,
            &json!({
                "authenticated": true,
                "via": via.as_str(),
                "token_required": app.token.is_some(),
            }),
        ),
        Err(message) if request.headers().contains_key(AUTHORIZATION) => {
            refuse(app, peer, StatusCode::UNAUTHORIZED, "unauthorized", message)
        }
        Err(message) => respond::error(StatusCode::UNAUTHORIZED, "unauthorized", message),
    }
}

fn with_cookie(cookie: String) -> Response<Body> {
    let mut response = Response::new(respond::full(""));
    *response.status_mut() = StatusCode::NO_CONTENT;
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}
