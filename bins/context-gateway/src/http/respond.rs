//! Building answers: `http_serve`'s JSON answers and error shape
//! (`{"error": {"code": "...", "message": "..."}}`), and the `/metrics` text.

use hyper::Response;
use hyper::header::{CONTENT_TYPE, HeaderValue};

pub use http_serve::respond::*;

/// OpenMetrics text (what Prometheus scrapes, and what `prometheus-client` encodes).
pub fn metrics_text(text: String) -> Response<Body> {
    let mut response = Response::new(full(text));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    response
}
