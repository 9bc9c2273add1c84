//! A small client for a running Context Gateway's HTTP API: the change feed of a ref, page by
//! page or followed by long-polling, and a file's text at its indexed commit.
//!
//! It speaks plain HTTP/1.1 over one connection per request (TLS is a proxy's job) and sends
//! the gateway's bearer token when it has one. Answers are JSON values as docs/API.md shows
//! them; a refused request is a [`ClientError::Refused`] carrying the gateway's own message.
//!
//! ```no_run
//! # async fn run() -> Result<(), client::ClientError> {
//! let gateway = client::Client::new("http://127.0.0.1:8080", None)?;
//! let file = gateway.file("context-gateway", "README.md", Some("main")).await?;
//! print!("{}", file["text"].as_str().unwrap_or(""));
//! let cursor = gateway
//!     .follow_changes("context-gateway", "main", "0", false, |entry| {
//!         println!("{entry}");
//!         Ok(())
//!     })
//!     .await?;
//! println!("caught up at {cursor}");
//! # Ok(()) }
//! ```
//!
//! Without a runtime of its own (a CLI), [`block_on`] runs one call to completion;
//! [`Client::write_changes`] and [`Client::cat`] write what they read as
//! `context-gateway changes` and `cat` print it.

#![deny(missing_docs)]

use std::io::Write;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, StatusCode, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

/// Why a request to the gateway failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL does not parse.
    #[error("`{url}` is not a URL: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// The base URL is not `http://`.
    #[error("`{0}`: only http:// URLs are supported")]
    NotHttp(String),
    /// The base URL has no host.
    #[error("`{0}` names no host")]
    NoHost(String),
    /// The connection could not be made.
    #[error("cannot reach the gateway at {authority}: {source}")]
    Connect {
        /// `host:port`.
        authority: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    /// The request could not be built (a path that is not a valid URI).
    #[error("request: {0}")]
    Request(#[from] hyper::http::Error),
    /// The answer is not JSON.
    #[error("the gateway answered {0} with a body that is not JSON")]
    NotJson(StatusCode),
    /// The gateway refused: its status and its error message.
    #[error("the gateway answered {status}: {message}")]
    Refused {
        /// The answer's status.
        status: StatusCode,
        /// `error.message` of the answer.
        message: String,
    },
    /// Writing what was read failed (the caller's sink).
    #[error("{0}")]
    Output(#[from] std::io::Error),
}

/// A running gateway: its address and the bearer token, if any.
#[derive(Debug, Clone)]
pub struct Client {
    authority: String,
    token: Option<String>,
}

/// Everything but RFC 3986's unreserved characters is escaped.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Runs `request` to completion on a runtime of its own, for callers that have none.
pub fn block_on<T>(
    request: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(request)
}

/// `text` as one escaped URL component.
pub fn encode(text: &str) -> String {
    utf8_percent_encode(text, ESCAPED).to_string()
}

impl Client {
    /// `url` is `http://host:port`; `token` is sent as `Authorization: Bearer` (an empty one
    /// is none).
    pub fn new(url: &str, token: Option<String>) -> Result<Client, ClientError> {
        let uri: Uri = url.parse().map_err(|e| ClientError::BadUrl {
            url: url.to_string(),
            reason: format!("{e}"),
        })?;
        if uri.scheme_str() != Some("http") {
            return Err(ClientError::NotHttp(url.to_string()));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| ClientError::NoHost(url.to_string()))?
            .to_string();
        let token = token.filter(|t| !t.is_empty());
        Ok(Client { authority, token })
    }

    /// GET `path_and_query`: the status and the body.
    async fn get(&self, path_and_query: &str) -> Result<(StatusCode, Bytes), ClientError> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|source| ClientError::Connect {
                authority: self.authority.clone(),
                source,
            })?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        let driver = tokio::spawn(connection);
        let mut request = Request::get(path_and_query).header("Host", &self.authority);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let response = sender
            .send_request(request.body(Empty::<Bytes>::new())?)
            .await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        driver.abort();
        Ok((status, body))
    }

    /// A JSON answer, or an error carrying the gateway's own message.
    pub async fn get_json(&self, path_and_query: &str) -> Result<Value, ClientError> {
        let (status, body) = self.get(path_and_query).await?;
        let value: Value =
            serde_json::from_slice(&body).map_err(|_| ClientError::NotJson(status))?;
        if !status.is_success() {
            let message = value["error"]["message"].as_str().unwrap_or("no message");
            return Err(ClientError::Refused {
                status,
                message: message.to_string(),
            });
        }
        Ok(value)
    }

    /// One page of `GET /changes` after `since`, waiting up to `wait_secs` for entries.
    pub async fn changes(
        &self,
        repo: &str,
        git_ref: &str,
        since: &str,
        wait_secs: u64,
    ) -> Result<Value, ClientError> {
        self.get_json(&format!(
            "/changes?repo={}&ref={}&since={}&limit=500&wait={wait_secs}",
            encode(repo),
            encode(git_ref),
            encode(since)
        ))
        .await
    }

    /// Hands every entry after `since` to `on_entry`, page by page; with `follow` it
    /// long-polls for more forever, else it returns the cursor it caught up at.
    pub async fn follow_changes(
        &self,
        repo: &str,
        git_ref: &str,
        since: &str,
        follow: bool,
        mut on_entry: impl FnMut(&Value) -> std::io::Result<()>,
    ) -> Result<String, ClientError> {
        let mut cursor = since.to_string();
        loop {
            let wait = if follow { 60 } else { 0 };
            let page = self.changes(repo, git_ref, &cursor, wait).await?;
            let entries = page["entries"].as_array().cloned().unwrap_or_default();
            for entry in &entries {
                on_entry(entry)?;
            }
            let next = page["next_cursor"].as_str().unwrap_or(&cursor).to_string();
            let caught_up = entries.is_empty() && next == cursor;
            cursor = next;
            if caught_up && !follow {
                return Ok(cursor);
            }
        }
    }

    /// [`Client::follow_changes`] writing each entry to `out` as one JSON line, flushed.
    pub async fn write_changes(
        &self,
        repo: &str,
        git_ref: &str,
        since: &str,
        follow: bool,
        out: &mut impl Write,
    ) -> Result<String, ClientError> {
        let write = |entry: &Value| {
            writeln!(out, "{entry}")?;
            out.flush()
        };
        self.follow_changes(repo, git_ref, since, follow, write)
            .await
    }

    /// [`Client::file`] with its text written to `out`; answers the withheld line ranges
    /// (lines held back for holding secrets), if there are any.
    pub async fn cat(
        &self,
        repo: &str,
        path: &str,
        git_ref: Option<&str>,
        out: &mut impl Write,
    ) -> Result<Option<Value>, ClientError> {
        let file = self.file(repo, path, git_ref).await?;
        out.write_all(file["text"].as_str().unwrap_or("").as_bytes())?;
        let gaps = file["withheld"].as_array().filter(|g| !g.is_empty());
        Ok(gaps.map(|gaps| Value::from(gaps.clone())))
    }

    /// `GET /files/{repo}/{path}`: the file's text at the indexed commit of `git_ref` (needed
    /// when the repo has several indexed refs), with its withheld line ranges.
    pub async fn file(
        &self,
        repo: &str,
        path: &str,
        git_ref: Option<&str>,
    ) -> Result<Value, ClientError> {
        let path: String = path.split('/').map(encode).collect::<Vec<_>>().join("/");
        let query = git_ref.map_or(String::new(), |r| format!("?ref={}", encode(r)));
        self.get_json(&format!("/files/{}/{path}{query}", encode(repo)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_pass_unescaped_and_the_rest_is_escaped() {
        assert_eq!(encode("context-gateway_1.0~x"), "context-gateway_1.0~x");
        assert_eq!(encode("a b/ä&"), "a%20b%2F%C3%A4%26");
    }

    /// A server on 127.0.0.1 that answers each connection with the next of `bodies` (as
    /// 200 JSON) and hands back the request lines it read.
    fn serve(bodies: Vec<&'static str>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for body in bodies {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                seen.push(line.trim_end().to_string());
                while line != "\r\n" {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                }
                let mut stream = stream;
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
            }
            seen
        });
        (url, server)
    }

    #[test]
    fn cat_writes_the_text_and_answers_the_withheld_ranges() {
        let (url, server) = serve(vec![
            r#"{"text":"line one\nline two\n","withheld":[[3,4]]}"#,
            r#"{"text":"clean\n","withheld":[]}"#,
        ]);
        let gateway = Client::new(&url, None).unwrap();
        let mut out = Vec::new();
        let gaps = block_on(gateway.cat("demo", "src/a b.rs", Some("main"), &mut out)).unwrap();
        assert_eq!(out, b"line one\nline two\n");
        assert_eq!(gaps.unwrap().to_string(), "[[3,4]]");
        let mut out = Vec::new();
        let gaps = block_on(gateway.cat("demo", "README.md", None, &mut out)).unwrap();
        assert_eq!((out.as_slice(), gaps), (&b"clean\n"[..], None));
        let seen = server.join().unwrap();
        assert_eq!(seen[0], "GET /files/demo/src/a%20b.rs?ref=main HTTP/1.1");
        assert_eq!(seen[1], "GET /files/demo/README.md HTTP/1.1");
    }

    #[test]
    fn changes_are_written_one_json_line_each_until_caught_up() {
        let (url, server) = serve(vec![
            r#"{"entries":[{"seq":1},{"seq":2}],"next_cursor":"c2"}"#,
            r#"{"entries":[],"next_cursor":"c2"}"#,
        ]);
        let gateway = Client::new(&url, None).unwrap();
        let mut out = Vec::new();
        let cursor = block_on(gateway.write_changes("demo", "main", "0", false, &mut out));
        assert_eq!(cursor.unwrap(), "c2");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"seq\":1}\n{\"seq\":2}\n"
        );
        let seen = server.join().unwrap();
        assert!(
            seen[1].starts_with("GET /changes?repo=demo&ref=main&since=c2&"),
            "{seen:?}"
        );
    }

    #[test]
    fn only_plain_http_urls_with_a_host_are_taken() {
        assert!(Client::new("http://127.0.0.1:8080", Some(String::new())).is_ok());
        assert!(matches!(
            Client::new("https://gateway.example", None),
            Err(ClientError::NotHttp(_))
        ));
        assert!(matches!(
            Client::new("http://", None),
            Err(ClientError::BadUrl { .. })
        ));
        assert!(matches!(
            Client::new("/changes", None),
            Err(ClientError::NotHttp(_))
        ));
    }
}
