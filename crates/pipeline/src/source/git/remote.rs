//! A remote's URL split into what may be written down and what may not: the URL without
//! userinfo (kept in the mirror's config, shown in messages) and the credential it carried,
//! handed to each git command that talks to the remote as an `Authorization` header in git's
//! environment (`GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n`), so it is never
//! stored in a file and never appears on a command line that `ps` shows.

use base64::Engine as _;
use tokio::process::Command;

/// A configured remote URL, split.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Remote {
    /// The URL with any `user:password@` removed.
    pub(crate) url: String,
    /// `(config key, header)`: `http.<scheme>://<host>/.extraHeader` and
    /// `Authorization: Basic …`, when the URL carried userinfo on http(s).
    auth: Option<(String, String)>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.url)
            .field("auth", &self.auth.as_ref().map(|_| "***"))
            .finish()
    }
}

impl Remote {
    /// Splits `configured`. Only `http://` and `https://` URLs have their userinfo turned into
    /// a header; any other URL is kept as it is (an `ssh://git@host/` user name is no secret).
    pub(crate) fn parse(configured: &str) -> Remote {
        let plain = Remote {
            url: configured.to_string(),
            auth: None,
        };
        let Some((scheme, rest)) = configured.split_once("://") else {
            return plain;
        };
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return plain;
        }
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let Some(at) = rest[..authority_end].rfind('@') else {
            return plain;
        };
        let (userinfo, host) = (&rest[..at], &rest[at + 1..authority_end]);
        let decode = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (decode(user), decode(password)),
            None => (decode(userinfo), Vec::new()),
        };
        let mut pair = user;
        pair.push(b':');
        pair.extend_from_slice(&password);
        let header = format!(
            "Authorization: Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        );
        // Scoped to the remote's own scheme and host: git sends it nowhere else.
        let key = format!("http.{scheme}://{host}/.extraHeader");
        Remote {
            url: format!("{scheme}://{host}{}", &rest[authority_end..]),
            auth: Some((key, header)),
        }
    }

    /// Gives `command` the credential, if there is one, through its environment.
    pub(crate) fn authorize(&self, command: &mut Command) {
        if let Some((key, header)) = &self.auth {
            command
                .env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", key)
                .env("GIT_CONFIG_VALUE_0", header);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_becomes_a_scoped_header() {
        let remote = Remote::parse("https://x-access-token:s%40cret@git.example.com:8443/o/r.git");
        assert_eq!(remote.url, "https://git.example.com:8443/o/r.git");
        let (key, header) = remote.auth.clone().expect("a credential");
        assert_eq!(key, "http.https://git.example.com:8443/.extraHeader");
        // base64("x-access-token:s@cret")
        assert_eq!(header, "Authorization: Basic eC1hY2Nlc3MtdG9rZW46c0BjcmV0");
        assert!(!format!("{remote:?}").contains("cret"));
    }

    #[test]
    fn urls_without_http_credentials_are_kept() {
        for url in [
            "https://host/o/r.git",
            "file:///srv/r",
            "ssh://git@host/o/r.git",
            "/srv/r",
        ] {
            let remote = Remote::parse(url);
            assert_eq!((remote.url.as_str(), remote.auth.is_none()), (url, true));
        }
        let token_only = Remote::parse("http://tok@h/r");
        assert_eq!(token_only.url, "http://h/r");
        assert!(token_only.auth.unwrap().1.ends_with("dG9rOg=="), "tok:");
    }
}
