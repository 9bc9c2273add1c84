//! Credentials out of URLs and messages, before anything is logged, stored or shown.

/// Removes `user:password@` from a URL so it can be logged or shown.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let host_start = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..host_start].rfind('@') {
            return format!("{scheme}://***@{}", &rest[at + 1..]);
        }
    }
    url.to_string()
}

/// Removes credentials from every URL in a message, and the configured URL's own userinfo.
pub fn redact_text(text: &str, url: &str) -> String {
    let mut out = if url.is_empty() {
        text.to_string()
    } else {
        text.replace(url, &redact_url(url))
    };
    let mut search_from = 0;
    while let Some(pos) = out[search_from..].find("://") {
        let start = search_from + pos + 3;
        let end = out[start..]
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
            .map_or(out.len(), |e| start + e);
        if let Some(at) = out[start..end].rfind('@') {
            out.replace_range(start..start + at, "***");
            search_from = start + 4;
        } else {
            search_from = end;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_redacted() {
        assert_eq!(
            redact_url("https://user:tok@host/x.git"),
            "https://***@host/x.git"
        );
        assert_eq!(redact_url("file:///srv/x"), "file:///srv/x");
    }

    #[test]
    fn credentials_never_survive_in_messages() {
        let msg = "fatal: unable to access 'https://bob:s3cret@example.com/x.git/': 403";
        let out = redact_text(msg, "");
        assert!(!out.contains("s3cret") && !out.contains("bob"), "{out}");
    }
}
