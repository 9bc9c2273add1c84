//! CLI commands that talk to a running gateway over HTTP: `changes` (the change feed as JSON
//! lines) and `cat` (a file at the indexed commit). The token comes from `GATEWAY_TOKEN`.

use std::io::Write;
use std::process::ExitCode;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, StatusCode, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::cli::CliError;

/// A running gateway: its base URL and the bearer token, if any.
#[derive(Debug)]
pub struct Remote {
    authority: String,
    token: Option<String>,
}

/// Everything but RFC 3986's unreserved characters is escaped.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode(text: &str) -> String {
    utf8_percent_encode(text, ESCAPED).to_string()
}

impl Remote {
    /// `url` is `http://host:port` (TLS is a proxy's job); the token is `GATEWAY_TOKEN`.
    pub fn new(url: &str) -> Result<Remote, CliError> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("--url `{url}` is not a URL: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("--url `{url}`: only http:// URLs are supported").into());
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("--url `{url}` names no host"))?
            .to_string();
        let token = std::env::var("GATEWAY_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
        Ok(Remote { authority, token })
    }

    /// GET `path_and_query`: the status and the body.
    async fn get(&self, path_and_query: &str) -> Result<(StatusCode, Bytes), CliError> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| format!("cannot reach the gateway at {}: {e}", self.authority))?;
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
    async fn get_json(&self, path_and_query: &str) -> Result<Value, CliError> {
        let (status, body) = self.get(path_and_query).await?;
        let value: Value = serde_json::from_slice(&body)
            .map_err(|_| format!("the gateway answered {status} with a body that is not JSON"))?;
        if !status.is_success() {
            let message = value["error"]["message"].as_str().unwrap_or("no message");
            return Err(format!("the gateway answered {status}: {message}").into());
        }
        Ok(value)
    }
}

/// `changes`: prints entries as JSON lines from `since`; with `follow`, long-polls for more
/// forever, else stops once caught up.
pub fn changes(
    remote: &Remote,
    repo: &str,
    git_ref: &str,
    since: &str,
    follow: bool,
) -> Result<ExitCode, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut cursor = since.to_string();
        let stdout = std::io::stdout();
        loop {
            let wait = if follow { 60 } else { 0 };
            let page = remote
                .get_json(&format!(
                    "/changes?repo={}&ref={}&since={}&limit=500&wait={wait}",
                    encode(repo),
                    encode(git_ref),
                    encode(&cursor)
                ))
                .await?;
            let entries = page["entries"].as_array().cloned().unwrap_or_default();
            let mut out = stdout.lock();
            for entry in &entries {
                writeln!(out, "{entry}")?;
            }
            out.flush()?;
            let next = page["next_cursor"].as_str().unwrap_or(&cursor).to_string();
            let caught_up = entries.is_empty() && next == cursor;
            cursor = next;
            if caught_up && !follow {
                return Ok(ExitCode::SUCCESS);
            }
        }
    })
}

/// `cat`: prints a file's text at the indexed commit.
pub fn cat(
    remote: &Remote,
    repo: &str,
    path: &str,
    git_ref: Option<&str>,
) -> Result<ExitCode, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let path: String = path.split('/').map(encode).collect::<Vec<_>>().join("/");
    let query = git_ref.map_or(String::new(), |r| format!("?ref={}", encode(r)));
    let file =
        runtime.block_on(remote.get_json(&format!("/files/{}/{path}{query}", encode(repo))))?;
    let mut out = std::io::stdout().lock();
    out.write_all(file["text"].as_str().unwrap_or("").as_bytes())?;
    if let Some(gaps) = file["withheld"].as_array().filter(|g| !g.is_empty()) {
        eprintln!(
            "note: lines withheld for holding secrets: {}",
            Value::from(gaps.clone())
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_pass_unescaped_and_the_rest_is_escaped() {
        assert_eq!(encode("context-gateway_1.0~x"), "context-gateway_1.0~x");
        assert_eq!(encode("a b/ä&"), "a%20b%2F%C3%A4%26");
    }
}
