//! The access line: one per answered request, formatted by hand and written with one `write`.
//!
//! It reads exactly like the lines `tracing`'s formatter writes for every other event (the
//! same timestamp, level, span, target and `key=value` fields, or the same JSON object with
//! `--log-format json`), and it obeys `RUST_LOG` like them: the caller asks
//! `tracing::enabled!` first, at the router's own target. What it skips is the generic path:
//! a visitor per field and a `fmt::write` per value. Measured with callgrind, that event cost
//! 17.8 k instructions of a durable 202's ~469 k; see docs/BENCHMARKS.md ("fifth pass").
//!
//! Nothing is written until [`init`] has chosen a style, as with `tracing` before a
//! subscriber is installed.

use std::cell::RefCell;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::SystemTime;

/// The target the line is filed under (what `RUST_LOG` directives name).
pub const TARGET: &str = "context_gateway::http::router";

/// How the line is laid out; set once by [`init`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `tracing`'s default human format; `ansi` adds its colours (for a terminal).
    Human { ansi: bool },
    /// `tracing`'s JSON format with flattened fields and the current span.
    Json,
}

static STYLE: OnceLock<Style> = OnceLock::new();

/// Chooses the style for the life of the process (the first call wins).
pub fn init(style: Style) {
    let _ = STYLE.set(style);
}

/// What the access line says about one request.
#[derive(Debug, Clone, Copy)]
pub struct AccessLine<'a> {
    /// The id of the request's span, which the handler's own lines carry too.
    pub request_id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub peer: SocketAddr,
    pub status: u16,
    /// The route template (`/webhooks/{provider}/{repo}`), never the raw path.
    pub route: &'a str,
    /// The error code of an error answer, or empty.
    pub error: &'a str,
    pub elapsed_us: u64,
}

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Writes `line` to stderr as one `write`, in the style [`init`] chose.
pub fn write(line: &AccessLine<'_>) {
    let Some(style) = STYLE.get().copied() else {
        return;
    };
    BUFFER.with(|buffer| {
        let Ok(mut out) = buffer.try_borrow_mut() else {
            return;
        };
        out.clear();
        format(&mut out, style, SystemTime::now(), line);
        // Like tracing's writer: a log line that cannot be written is dropped, not an error
        // of the request.
        let _ = std::io::stderr().lock().write_all(&out);
    });
}

/// Appends the whole line, newline included, to `out`.
pub fn format(out: &mut Vec<u8>, style: Style, now: SystemTime, line: &AccessLine<'_>) {
    match style {
        Style::Human { ansi } => human(out, ansi, now, line),
        Style::Json => json(out, now, line),
    }
}

fn timestamp(out: &mut Vec<u8>, now: SystemTime) {
    // humantime writes the RFC 3339 text from a stack buffer with one `write_str`.
    let _ = write!(out, "{}", humantime::format_rfc3339_micros(now));
}

fn number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// `2026-11-29T13:28:45.776363Z  INFO request{id=req-…}: context_gateway::http::router:
/// answered method=POST path="/webhooks/github/x" peer=127.0.0.1:56844 status=404 …`
fn human(out: &mut Vec<u8>, ansi: bool, now: SystemTime, line: &AccessLine<'_>) {
    let paint = |out: &mut Vec<u8>, code: &str, text: &[u8]| {
        if ansi {
            out.extend_from_slice(code.as_bytes());
            out.extend_from_slice(text);
            out.extend_from_slice(b"\x1b[0m");
        } else {
            out.extend_from_slice(text);
        }
    };
    const DIM: &str = "\x1b[2m";
    const BOLD: &str = "\x1b[1m";
    const ITALIC: &str = "\x1b[3m";
    const GREEN: &str = "\x1b[32m";
    if ansi {
        out.extend_from_slice(DIM.as_bytes());
    }
    timestamp(out, now);
    if ansi {
        out.extend_from_slice(b"\x1b[0m");
    }
    out.push(b' ');
    paint(out, GREEN, b" INFO");
    out.push(b' ');
    paint(out, BOLD, b"request");
    paint(out, BOLD, b"{");
    paint(out, ITALIC, b"id");
    paint(out, DIM, b"=");
    out.extend_from_slice(line.request_id.as_bytes());
    paint(out, BOLD, b"}");
    paint(out, DIM, b":");
    out.push(b' ');
    paint(out, DIM, TARGET.as_bytes());
    paint(out, DIM, b":");
    out.extend_from_slice(b" answered");
    let field = |out: &mut Vec<u8>, name: &str| {
        out.push(b' ');
        paint(out, ITALIC, name.as_bytes());
        paint(out, DIM, b"=");
    };
    field(out, "method");
    out.extend_from_slice(line.method.as_bytes());
    field(out, "path");
    quoted(out, line.path);
    field(out, "peer");
    let _ = write!(out, "{}", line.peer);
    field(out, "status");
    number(out, u64::from(line.status));
    field(out, "route");
    quoted(out, line.route);
    field(out, "error");
    quoted(out, line.error);
    field(out, "elapsed_us");
    number(out, line.elapsed_us);
    out.push(b'\n');
}

/// A string as `{:?}` writes it: quoted, with `"`, `\` and control characters escaped.
fn quoted(out: &mut Vec<u8>, text: &str) {
    let plain = text
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
    if plain {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        let _ = write!(out, "{text:?}");
    }
}

/// A JSON string, quoted and escaped.
fn json_string(out: &mut Vec<u8>, text: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// The object `tracing_subscriber`'s JSON formatter writes with `flatten_event(true)` and
/// `with_current_span(true)`, in its field order.
fn json(out: &mut Vec<u8>, now: SystemTime, line: &AccessLine<'_>) {
    out.extend_from_slice(b"{\"timestamp\":\"");
    timestamp(out, now);
    out.extend_from_slice(b"\",\"level\":\"INFO\",\"message\":\"answered\",\"method\":");
    json_string(out, line.method);
    out.extend_from_slice(b",\"path\":");
    json_string(out, line.path);
    out.extend_from_slice(b",\"peer\":\"");
    let _ = write!(out, "{}", line.peer);
    out.extend_from_slice(b"\",\"status\":");
    number(out, u64::from(line.status));
    out.extend_from_slice(b",\"route\":");
    json_string(out, line.route);
    out.extend_from_slice(b",\"error\":");
    json_string(out, line.error);
    out.extend_from_slice(b",\"elapsed_us\":");
    number(out, line.elapsed_us);
    out.extend_from_slice(b",\"target\":\"");
    out.extend_from_slice(TARGET.as_bytes());
    out.extend_from_slice(b"\",\"span\":{\"id\":");
    json_string(out, line.request_id);
    out.extend_from_slice(b",\"name\":\"request\"},\"spans\":[{\"id\":");
    json_string(out, line.request_id);
    out.extend_from_slice(b",\"name\":\"request\"}]}\n");
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    fn sample(path: &'static str) -> AccessLine<'static> {
        AccessLine {
            request_id: "req-6616a45cd55b9-1",
            method: "POST",
            path,
            peer: "127.0.0.1:56844".parse().unwrap(),
            status: 404,
            route: "/webhooks/{provider}/{repo}",
            error: "not_found",
            elapsed_us: 46,
        }
    }

    /// What `tracing`'s own formatter writes for the same event, as the router used to emit it.
    fn from_tracing(style: Style, line: &AccessLine<'_>) -> String {
        let captured = Captured::default();
        let builder = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_max_level(tracing::Level::INFO);
        let emit = || {
            let span = tracing::info_span!("request", id = %line.request_id);
            span.in_scope(|| {
                tracing::info!(
                    target: TARGET,
                    method = %line.method,
                    path = line.path,
                    peer = %line.peer,
                    status = line.status,
                    route = line.route,
                    error = line.error,
                    elapsed_us = line.elapsed_us,
                    "answered"
                );
            });
        };
        match style {
            Style::Human { ansi } => {
                tracing::subscriber::with_default(builder.with_ansi(ansi).finish(), emit)
            }
            Style::Json => tracing::subscriber::with_default(
                builder
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .finish(),
                emit,
            ),
        }
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    fn ours(style: Style, line: &AccessLine<'_>) -> String {
        let mut out = Vec::new();
        format(&mut out, style, SystemTime::now(), line);
        String::from_utf8(out).unwrap()
    }

    /// The timestamp is the one part that differs between two calls.
    fn without_timestamp(text: &str) -> String {
        let text = text.trim_start_matches("\x1b[2m");
        match text.strip_prefix("{\"timestamp\":\"") {
            Some(rest) => rest[rest.find('"').unwrap()..].to_string(),
            None => text[text.find('Z').unwrap() + 1..].to_string(),
        }
    }

    #[test]
    fn lines_match_what_tracing_writes_in_every_style() {
        let paths = [
            "/webhooks/github/nope%22x",
            "/healthz",
            "/a\"quote\\and\ttab",
            "/",
        ];
        for style in [
            Style::Human { ansi: false },
            Style::Human { ansi: true },
            Style::Json,
        ] {
            for path in paths {
                let line = sample(path);
                let theirs = from_tracing(style, &line);
                let ours = ours(style, &line);
                assert_eq!(
                    without_timestamp(&ours),
                    without_timestamp(&theirs),
                    "{style:?} {path:?}"
                );
            }
        }
    }

    #[test]
    fn the_timestamp_is_rfc3339_utc_with_microseconds() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_764_422_925_776_363);
        let human = ours_at(Style::Human { ansi: false }, at);
        assert!(
            human.starts_with("2025-11-29T13:28:45.776363Z  INFO request{id="),
            "{human}"
        );
        let json = ours_at(Style::Json, at);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["timestamp"], "2025-11-29T13:28:45.776363Z");
        assert_eq!(value["status"], 404);
        assert!(json.ends_with("}\n"));
    }

    fn ours_at(style: Style, at: SystemTime) -> String {
        let mut out = Vec::new();
        format(&mut out, style, at, &sample("/healthz"));
        String::from_utf8(out).unwrap()
    }
}
