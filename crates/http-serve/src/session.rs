//! Browser sessions behind a cookie, and the Origin check that keeps other sites from using
//! them: a login trades the management token for a random 256-bit session id, kept in memory
//! only as its blake3 digest with an expiry, in a bounded table.
//!
//! ```
//! use http_serve::session::{Sessions, UiConfig, cookie_value};
//! use hyper::header::{COOKIE, HeaderMap, HeaderValue};
//!
//! let sessions = Sessions::new(UiConfig::default());
//! let id = sessions.create().unwrap();
//! assert!(sessions.set_cookie(&id).starts_with("cg_session="));
//!
//! let mut headers = HeaderMap::new();
//! headers.insert(COOKIE, HeaderValue::from_str(&format!("theme=dark; cg_session={id}")).unwrap());
//! let sent = cookie_value(&headers, "cg_session").unwrap();
//! assert!(sessions.is_valid(sent));
//! sessions.forget(sent);
//! assert!(!sessions.is_valid(sent));
//! ```

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::HeaderMap;
use hyper::header::{COOKIE, HOST, ORIGIN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "cg_session";

/// How long a session lasts unless `[ui] session_ttl_secs` says otherwise: 12 hours.
pub const DEFAULT_TTL: Duration = Duration::from_secs(12 * 3600);

/// The longest session `[ui] session_ttl_secs` may ask for: 30 days.
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// How many live sessions the table holds; a login past this drops the oldest.
pub const MAX_SESSIONS: usize = 10_000;

/// `[ui]`: how the dashboard's session cookie is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UiConfig {
    /// Adds `Secure` to the cookie and expects `https://` origins (behind a TLS proxy).
    pub secure_cookie: bool,
    /// How long a session lasts after login (the cookie's `Max-Age`).
    pub session_ttl: Duration,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig {
            secure_cookie: false,
            session_ttl: DEFAULT_TTL,
        }
    }
}

/// `[ui]` as written in the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiSection {
    secure_cookie: Option<bool>,
    session_ttl_secs: Option<u64>,
}

impl UiSection {
    /// The settings (defaults for what is not set), or each key whose value is out of range.
    pub fn into_config(self) -> Result<UiConfig, Vec<(&'static str, String)>> {
        let mut config = UiConfig::default();
        if let Some(secure) = self.secure_cookie {
            config.secure_cookie = secure;
        }
        match self.session_ttl_secs {
            Some(secs) if secs == 0 || secs > MAX_TTL.as_secs() => Err(vec![(
                "session_ttl_secs",
                format!(
                    "{secs} is out of range: choose from 1 to {} seconds (30 days)",
                    MAX_TTL.as_secs()
                ),
            )]),
            Some(secs) => {
                config.session_ttl = Duration::from_secs(secs);
                Ok(config)
            }
            None => Ok(config),
        }
    }
}

/// Why no session could be made.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The system's random source failed.
    #[error("the system random source failed")]
    Random,
}

/// The live sessions: digests of their ids and when they expire.
#[derive(Debug)]
pub struct Sessions {
    config: UiConfig,
    random: SystemRandom,
    live: Mutex<HashMap<[u8; 32], Instant>>,
    max: usize,
}

impl Sessions {
    /// An empty table for sessions made as `config` says.
    pub fn new(config: UiConfig) -> Sessions {
        Sessions::with_capacity(config, MAX_SESSIONS)
    }

    /// An empty table holding at most `max` sessions (at least one).
    pub fn with_capacity(config: UiConfig, max: usize) -> Sessions {
        Sessions {
            config,
            random: SystemRandom::new(),
            live: Mutex::default(),
            max: max.max(1),
        }
    }

    /// The settings sessions are made with.
    pub fn config(&self) -> UiConfig {
        self.config
    }

    /// A new session; returns its id (64 hex digits), which is stored only as its digest.
    pub fn create(&self) -> Result<String, SessionError> {
        let mut id = [0u8; 32];
        self.random
            .fill(&mut id)
            .map_err(|_| SessionError::Random)?;
        let id = hex(&id);
        let now = Instant::now();
        let mut live = self.lock();
        live.retain(|_, expires| *expires > now);
        while live.len() >= self.max {
            // Full of live sessions: the one closest to expiry goes.
            let oldest = live.iter().min_by_key(|(_, e)| **e).map(|(k, _)| *k);
            match oldest {
                Some(key) => live.remove(&key),
                None => break,
            };
        }
        live.insert(digest(&id), now + self.config.session_ttl);
        Ok(id)
    }

    /// Whether `id` names a live session.
    pub fn is_valid(&self, id: &str) -> bool {
        let key = digest(id);
        let mut live = self.lock();
        match live.get(&key) {
            Some(expires) if *expires > Instant::now() => true,
            Some(_) => {
                live.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Ends the session `id` (nothing happens for an unknown one).
    pub fn forget(&self, id: &str) {
        self.lock().remove(&digest(id));
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.lock().values().filter(|e| **e > now).count()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `Set-Cookie` value that hands `id` to the browser.
    pub fn set_cookie(&self, id: &str) -> String {
        let ttl = self.config.session_ttl.as_secs();
        format!(
            "{COOKIE_NAME}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={ttl}{}",
            self.secure_attribute()
        )
    }

    /// The `Set-Cookie` value that makes the browser drop the cookie.
    pub fn clear_cookie(&self) -> String {
        format!(
            "{COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
            self.secure_attribute()
        )
    }

    fn secure_attribute(&self) -> &'static str {
        if self.config.secure_cookie {
            "; Secure"
        } else {
            ""
        }
    }

    /// Whether the request's `Origin` is its own origin (`http://` + `Host`, or `https://`
    /// with `secure_cookie`). A missing `Origin` does not match.
    pub fn same_origin(&self, headers: &HeaderMap) -> bool {
        origin_matches(headers, self.config.secure_cookie) == Some(true)
    }

    /// Whether the request carries an `Origin` that is not its own (a missing one is not).
    pub fn foreign_origin(&self, headers: &HeaderMap) -> bool {
        origin_matches(headers, self.config.secure_cookie) == Some(false)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Instant>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `None` without an `Origin` header; otherwise whether it equals `scheme://Host`.
fn origin_matches(headers: &HeaderMap, https: bool) -> Option<bool> {
    let origin = headers.get(ORIGIN)?;
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        return Some(false);
    };
    let scheme = if https { "https://" } else { "http://" };
    let matches = origin.to_str().ok().is_some_and(|origin| {
        origin
            .strip_prefix(scheme)
            .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
    });
    Some(matches)
}

/// The value of the cookie `name` in the request's `Cookie` headers.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

fn digest(id: &str) -> [u8; 32] {
    *blake3::hash(id.as_bytes()).as_bytes()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(hyper::header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn ids_are_random_and_long() {
        let sessions = Sessions::new(UiConfig::default());
        let (a, b) = (sessions.create().unwrap(), sessions.create().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(sessions.is_valid(&a) && sessions.is_valid(&b));
        assert!(!sessions.is_valid(&"0".repeat(64)));
    }

    #[test]
    fn the_table_is_bounded() {
        let sessions = Sessions::with_capacity(UiConfig::default(), 2);
        let first = sessions.create().unwrap();
        let second = sessions.create().unwrap();
        let third = sessions.create().unwrap();
        assert_eq!(sessions.len(), 2);
        assert!(!sessions.is_valid(&first), "the oldest went");
        assert!(sessions.is_valid(&second) && sessions.is_valid(&third));
    }

    #[test]
    fn expired_sessions_are_refused() {
        let config = UiConfig {
            session_ttl: Duration::ZERO,
            ..UiConfig::default()
        };
        let sessions = Sessions::new(config);
        let id = sessions.create().unwrap();
        assert!(!sessions.is_valid(&id));
        assert!(sessions.is_empty());
    }

    #[test]
    fn cookies_carry_the_attributes() {
        let plain = Sessions::new(UiConfig::default());
        assert_eq!(
            plain.set_cookie("ab"),
            "cg_session=ab; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200"
        );
        let secure = Sessions::new(UiConfig {
            secure_cookie: true,
            ..UiConfig::default()
        });
        assert!(secure.set_cookie("ab").ends_with("; Secure"));
        assert!(secure.clear_cookie().contains("Max-Age=0"));
    }

    #[test]
    fn origins_compare_with_the_host() {
        let sessions = Sessions::new(UiConfig::default());
        let own = headers(&[(HOST, "127.0.0.1:8080"), (ORIGIN, "http://127.0.0.1:8080")]);
        assert!(sessions.same_origin(&own));
        let other = headers(&[(HOST, "127.0.0.1:8080"), (ORIGIN, "http://evil.example")]);
        assert!(!sessions.same_origin(&other) && sessions.foreign_origin(&other));
        let none = headers(&[(HOST, "127.0.0.1:8080")]);
        assert!(!sessions.same_origin(&none) && !sessions.foreign_origin(&none));
        let https = headers(&[(HOST, "gw.example"), (ORIGIN, "https://gw.example")]);
        assert!(!sessions.same_origin(&https), "https needs secure_cookie");
    }

    #[test]
    fn cookie_values_are_found_among_others() {
        let map = headers(&[(COOKIE, "a=1; cg_session=xyz"), (COOKIE, "b=2")]);
        assert_eq!(cookie_value(&map, "cg_session"), Some("xyz"));
        assert_eq!(cookie_value(&map, "b"), Some("2"));
        assert_eq!(cookie_value(&map, "c"), None);
    }

    #[test]
    fn the_section_checks_the_ttl() {
        let section = |ttl| UiSection {
            secure_cookie: Some(true),
            session_ttl_secs: ttl,
        };
        let config = section(Some(60)).into_config().unwrap();
        assert_eq!(config.session_ttl, Duration::from_secs(60));
        assert!(config.secure_cookie);
        let wrong = section(Some(0)).into_config().unwrap_err();
        assert_eq!(wrong[0].0, "session_ttl_secs");
    }
}
