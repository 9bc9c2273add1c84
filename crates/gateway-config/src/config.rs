//! The resolved settings ([`Config`]) and the parse of the file into them.
//!
//! Precedence is flags > environment > file > defaults; this module handles the file and the
//! defaults, the caller layers the environment and flags on top through [`Overrides`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http_serve::rate_limit::{RateLimitConfig, RateLimitSection};
use http_serve::session::{UiConfig, UiSection};
use pipeline::deliveries::{DeliveriesConfig, DeliveriesSection};
use pipeline::{OrgConfig, RepoConfig, RepoSection};
use serde::Deserialize;

use crate::cluster::{ClusterConfig, ClusterSection};
use crate::problem::{ConfigError, Entry, Problem, find_key_line, line_in, syntax_problem};

/// The fully resolved configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The address the server listens on (`listen`).
    pub listen: SocketAddr,
    /// Where every store lives (`data_dir`).
    pub data_dir: PathBuf,
    /// Jobs run at once (`workers`, 1 to 256; default: the CPUs).
    pub workers: usize,
    /// The largest webhook body taken (`max_body_bytes`).
    pub max_body_bytes: u64,
    /// Connections open at once (`max_connections`).
    pub max_connections: usize,
    /// Requests being answered at once; more get 503 + `Retry-After`.
    pub max_in_flight: usize,
    /// How long a request's headers, and each piece of a body, may take to arrive.
    pub header_read_timeout: Duration,
    /// How long an answer may wait for the client to read it before the connection closes.
    pub write_timeout: Duration,
    /// How long one git command may run.
    pub git_timeout: Duration,
    /// How long finished jobs are kept.
    pub job_retention: Duration,
    /// Attempts of a job before it fails for good.
    pub max_attempts: u32,
    /// `[rate_limit]`: the failure budget of each client address.
    pub rate_limit: RateLimitConfig,
    /// How long the change feed keeps entries (`[feed]`).
    pub feed_retention: feed::Retention,
    /// `[[repos]]`, each checked, names unique.
    pub repos: Vec<RepoConfig>,
    /// `[[orgs]]`: one hook per owner; their repos are discovered on their first push.
    pub orgs: Vec<OrgConfig>,
    /// `[cluster]`: jobs on PostgreSQL, shared with other replicas; `None` keeps them in sled.
    pub cluster: Option<ClusterConfig>,
    /// `[ui]`: the dashboard's session cookie.
    pub ui: UiConfig,
    /// `[deliveries]`: how much of the delivery log is kept, and whether bodies are.
    pub deliveries: DeliveriesConfig,
}

/// Values from flags and environment that beat the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--listen` or `CONTEXT_GATEWAY_LISTEN`.
    pub listen: Option<String>,
    /// `--data-dir` or `CONTEXT_GATEWAY_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `WEBHOOK_SECRET`: the secret for every repo that names none of its own.
    pub default_secret: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    workers: Option<usize>,
    max_body_bytes: Option<u64>,
    max_connections: Option<usize>,
    max_in_flight: Option<usize>,
    header_read_timeout_secs: Option<u64>,
    write_timeout_secs: Option<u64>,
    git_timeout_secs: Option<u64>,
    job_retention_secs: Option<u64>,
    max_attempts: Option<u32>,
    rate_limit: Option<RateLimitSection>,
    feed: Option<RawFeed>,
    cluster: Option<toml::Spanned<ClusterSection>>,
    deliveries: Option<toml::Spanned<DeliveriesSection>>,
    #[serde(default)]
    repos: Vec<toml::Spanned<RepoSection>>,
    #[serde(default)]
    orgs: Vec<toml::Spanned<RepoSection>>,
    ui: Option<UiSection>,
}

/// `[feed]`: retention of the change feed; 0 keeps entries forever on that measure.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    retention_days: Option<u64>,
    retention_entries_per_ref: Option<u64>,
}

impl Overrides {
    /// The flags given, and `WEBHOOK_SECRET` from the environment.
    pub fn with_env(listen: Option<String>, data_dir: Option<PathBuf>) -> Overrides {
        Overrides {
            listen,
            data_dir,
            default_secret: std::env::var("WEBHOOK_SECRET").ok(),
        }
    }
}

/// Default values, used when neither file, environment nor flags say otherwise.
#[allow(missing_docs)]
pub mod defaults {
    pub const LISTEN: &str = "127.0.0.1:8080";
    pub const DATA_DIR: &str = "data";
    pub const MAX_BODY_BYTES: u64 = 25 * 1024 * 1024;
    pub const MAX_CONNECTIONS: usize = 1024;
    pub const MAX_IN_FLIGHT: usize = 512;
    pub const HEADER_READ_TIMEOUT_SECS: u64 = 10;
    pub const WRITE_TIMEOUT_SECS: u64 = 15;
    pub const GIT_TIMEOUT_SECS: u64 = 300;
    pub const JOB_RETENTION_SECS: u64 = 7 * 24 * 3600;
    pub const MAX_ATTEMPTS: u32 = 5;
    pub const FEED_RETENTION_DAYS: u64 = 7;
    pub const FEED_RETENTION_ENTRIES_PER_REF: u64 = 100_000;
}

impl Config {
    /// Defaults only: an empty gateway.
    pub fn empty(overrides: &Overrides) -> Result<Config, ConfigError> {
        Config::from_str_with("", Path::new("<defaults>"), overrides)
    }

    /// The file at `path` if one is given, else the defaults.
    pub fn load_or_empty(
        path: Option<&Path>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        match path {
            Some(path) => Config::load(path, overrides),
            None => Config::empty(overrides),
        }
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_str_with(&text, path, overrides)
    }

    /// Parses and validates config text; `path` is only used in messages.
    pub fn from_str_with(
        text: &str,
        path: &Path,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let invalid = |problems| ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        };
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| invalid(vec![syntax_problem(text, &e)]))?;
        let mut problems = Vec::new();
        let top_line = |key: &str| find_key_line(text, 0..text.len(), key);

        let listen_text = overrides
            .listen
            .clone()
            .or(raw.listen.clone())
            .unwrap_or_else(|| defaults::LISTEN.to_string());
        let listen = match listen_text.parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                problems.push(Problem {
                    line: if overrides.listen.is_some() {
                        None
                    } else {
                        top_line("listen")
                    },
                    key: "listen".into(),
                    message: format!(
                        "`{listen_text}` is not an address with a port, e.g. 127.0.0.1:8080"
                    ),
                });
                defaults::LISTEN
                    .parse()
                    .expect("default listen address parses")
            }
        };
        let data_dir = overrides
            .data_dir
            .clone()
            .or(raw.data_dir)
            .unwrap_or_else(|| PathBuf::from(defaults::DATA_DIR));
        let workers = raw.workers.unwrap_or_else(default_workers);
        if workers == 0 || workers > 256 {
            problems.push(Problem {
                line: top_line("workers"),
                key: "workers".into(),
                message: format!("{workers} workers: choose between 1 and 256"),
            });
        }
        let max_body_bytes = raw.max_body_bytes.unwrap_or(defaults::MAX_BODY_BYTES);
        if max_body_bytes == 0 {
            problems.push(Problem {
                line: top_line("max_body_bytes"),
                key: "max_body_bytes".into(),
                message: "must be above 0 (the default is 26214400, 25 MiB)".into(),
            });
        }
        let max_connections = raw
            .max_connections
            .unwrap_or(defaults::MAX_CONNECTIONS)
            .max(1);
        let max_in_flight = raw.max_in_flight.unwrap_or(defaults::MAX_IN_FLIGHT).max(1);
        // Timeouts of 0 would fail everything at once: one second is the least.
        let secs =
            |value: Option<u64>, default| Duration::from_secs(value.unwrap_or(default).max(1));
        let write_timeout = secs(raw.write_timeout_secs, defaults::WRITE_TIMEOUT_SECS);
        let header_read_timeout = secs(
            raw.header_read_timeout_secs,
            defaults::HEADER_READ_TIMEOUT_SECS,
        );
        let git_timeout = secs(raw.git_timeout_secs, defaults::GIT_TIMEOUT_SECS);
        let job_retention = Duration::from_secs(
            raw.job_retention_secs
                .unwrap_or(defaults::JOB_RETENTION_SECS),
        );
        let max_attempts = raw.max_attempts.unwrap_or(defaults::MAX_ATTEMPTS).max(1);
        let section = raw.rate_limit.unwrap_or_default();
        let rate_limit = section.into_config().unwrap_or_else(|wrong| {
            for (key, message) in wrong {
                problems.push(Problem {
                    line: top_line(key),
                    key: format!("rate_limit.{key}"),
                    message,
                });
            }
            RateLimitConfig::default()
        });

        let (days, entries) = raw.feed.map_or((None, None), |f| {
            (f.retention_days, f.retention_entries_per_ref)
        });
        let days = days.unwrap_or(defaults::FEED_RETENTION_DAYS);
        let entries = entries.unwrap_or(defaults::FEED_RETENTION_ENTRIES_PER_REF);
        let feed_retention = feed::Retention {
            max_age: (days > 0).then(|| Duration::from_secs(days.saturating_mul(86_400))),
            max_entries_per_ref: (entries > 0).then_some(entries),
        };

        let mut section = |name: &str, span: std::ops::Range<usize>, wrong: Vec<(&str, String)>| {
            for (key, message) in wrong {
                problems.push(Problem {
                    line: line_in(text, span.clone(), key),
                    key: format!("{name}.{key}"),
                    message,
                });
            }
        };
        let cluster = raw.cluster.and_then(|spanned| {
            let span = spanned.span();
            let checked = spanned.into_inner().into_config();
            checked
                .map_err(|wrong| section("cluster", span, wrong))
                .ok()
        });
        let deliveries = raw
            .deliveries
            .map_or_else(DeliveriesConfig::default, |spanned| {
                let span = spanned.span();
                let checked = spanned.into_inner().into_config();
                checked
                    .map_err(|wrong| section("deliveries", span, wrong))
                    .unwrap_or_default()
            });

        let default_secret = overrides.default_secret.as_deref();
        let mut repos: Vec<RepoConfig> = Vec::new();
        for (index, spanned) in raw.repos.into_iter().enumerate() {
            let mut at = Entry::new(text, &spanned, "repos", index, &mut problems);
            if let Some(repo) = at.check(spanned.into_inner().into_repo(default_secret)) {
                if repos.iter().any(|r| r.spec.name == repo.spec.name) {
                    at.push(
                        "name",
                        format!(
                            "`{}` is used by an earlier repo; names must be unique",
                            repo.spec.name
                        ),
                    );
                } else {
                    repos.push(repo);
                }
            }
        }

        let mut orgs: Vec<OrgConfig> = Vec::new();
        for (index, spanned) in raw.orgs.into_iter().enumerate() {
            let mut at = Entry::new(text, &spanned, "orgs", index, &mut problems);
            if let Some(org) = at.check(spanned.into_inner().into_org(default_secret)) {
                let same = orgs.iter().any(|o| {
                    o.provider == org.provider && o.owner.eq_ignore_ascii_case(&org.owner)
                });
                if same {
                    at.push(
                        "owner",
                        format!(
                            "`{}` of {} is configured by an earlier org",
                            org.owner, org.provider
                        ),
                    );
                } else {
                    orgs.push(org);
                }
            }
        }

        let ui = raw
            .ui
            .unwrap_or_default()
            .into_config()
            .unwrap_or_else(|wrong| {
                for (key, message) in wrong {
                    problems.push(Problem {
                        line: top_line(key),
                        key: format!("ui.{key}"),
                        message,
                    });
                }
                UiConfig::default()
            });

        if !problems.is_empty() {
            return Err(invalid(problems));
        }
        Ok(Config {
            listen,
            data_dir,
            workers,
            max_body_bytes,
            max_connections,
            max_in_flight,
            header_read_timeout,
            write_timeout,
            git_timeout,
            job_retention,
            max_attempts,
            rate_limit,
            feed_retention,
            repos,
            orgs,
            cluster,
            ui,
            deliveries,
        })
    }
}

fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_str_with(text, Path::new("test.toml"), &Overrides::default())
    }

    #[test]
    fn deliveries_section_has_defaults_and_names_wrong_keys_with_lines() {
        let config = parse("").unwrap();
        assert_eq!(config.deliveries, DeliveriesConfig::default());
        let config =
            parse("[deliveries]\nkeep = 5\nkeep_bodies = true\nbody_retention_secs = 60\n")
                .unwrap();
        assert_eq!(config.deliveries.retention.keep, 5);
        assert!(config.deliveries.keep_bodies);
        let ConfigError::Invalid { problems, .. } =
            parse("workers = 1\n[deliveries]\nkeep = 0\n").unwrap_err()
        else {
            panic!()
        };
        let keys: Vec<_> = problems.iter().map(|p| (p.key.as_str(), p.line)).collect();
        assert_eq!(keys, [("deliveries.keep", Some(3))]);
        let err = parse("[deliveries]\nkeep = 5\nkeep_body = true\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && err.contains("keep_body"), "{err}");
    }

    #[test]
    fn cluster_problems_name_their_keys_and_lines() {
        let text = "workers = 2\n\n[cluster]\npostgres_url = \"host=db password=pw\"\nschema = \"Bad\"\nport = 1\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains("line 6") && err.contains("`port`"), "{err}");
        let text = "[cluster]\npostgres_url = \"host=db password=pw\"\npool_size = 0\n";
        let ConfigError::Invalid { problems, .. } = parse(text).unwrap_err() else {
            panic!()
        };
        let keys: Vec<_> = problems.iter().map(|p| (p.key.as_str(), p.line)).collect();
        assert_eq!(keys, [("cluster.pool_size", Some(3))]);
        let ok = parse("[cluster]\npostgres_url = \"host=db password=pw\"\n").unwrap();
        assert!(!format!("{ok:?}").contains("pw\""), "{ok:?}");
        assert!(parse("").unwrap().cluster.is_none());
    }

    #[test]
    fn empty_file_is_an_empty_gateway_on_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.data_dir, PathBuf::from("data"));
        assert!(config.repos.is_empty());
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err =
            parse("listen = \"127.0.0.1:1\"\n\n[[repos]]\nname = \"a\"\nprovder = \"github\"\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("provder"), "{err}");
        assert!(err.contains("line 5"), "{err}");
    }

    #[test]
    fn every_mistake_is_reported_with_its_line() {
        let text = "[[repos]]\nname = \"ok\"\nprovider = \"gitbub\"\nurl = \"file:///x\"\n\n[[repos]]\nname = \"../x\"\nprovider = \"github\"\npath = \"/srv\"\nbranches = [\"bad..name\"]\n";
        let ConfigError::Invalid { problems, .. } = parse(text).unwrap_err() else {
            panic!()
        };
        let keys: Vec<_> = problems.iter().map(|p| (p.key.as_str(), p.line)).collect();
        assert!(keys.contains(&("repos[0].provider", Some(3))), "{keys:?}");
        assert!(keys.contains(&("repos[1].name", Some(7))), "{keys:?}");
        assert!(keys.contains(&("repos[1].branches", Some(10))), "{keys:?}");
    }

    #[test]
    fn tags_take_a_bool_or_globs_and_events_name_kinds() {
        let base =
            "[[repos]]\nname = \"a\"\nprovider = \"github\"\nurl = \"file:///a\"\nsecret = \"s\"\n";
        let spec = |extra: &str| {
            parse(&format!("{base}{extra}")).unwrap().repos[0]
                .spec
                .clone()
        };
        assert!(spec("tags = true\n").tracks_tag("refs/tags/anything"));
        let bad = format!("{base}tags = [\"v[\"]\nevents = [\"push\", \"issues\"]\n");
        let ConfigError::Invalid { problems, .. } = parse(&bad).unwrap_err() else {
            panic!()
        };
        let keys: Vec<_> = problems.iter().map(|p| (p.key.as_str(), p.line)).collect();
        assert!(keys.contains(&("repos[0].tags", Some(6))), "{keys:?}");
        assert!(keys.contains(&("repos[0].events", Some(7))), "{keys:?}");
        assert!(
            problems.iter().any(|p| p.message.contains("`issues`")),
            "{problems:?}"
        );
    }

    #[test]
    fn orgs_are_checked_like_repos_and_name_their_keys() {
        let good = "[[orgs]]\nprovider = \"github\"\nowner = \"acme\"\nsecret = \"s\"\nurl = \"https://github.com/{full_name}.git\"\nrepos = [\"*\", \"!archive-*\"]\ntags = [\"v*\"]\n";
        assert_eq!(parse(good).unwrap().orgs.len(), 1);
        let bad = "[[orgs]]\nprovider = \"github\"\nsecret = \"\"\nurl = \"https://github.com/{repo}.git\"\nevents = [\"pushes\"]\nrepos = [\"[\"]\n\n[[orgs]]\nprovider = \"gitlab\"\nowner = \"../up\"\nsecret = \"s\"\nurl = \"https://gitlab.com/group.git\"\n";
        let ConfigError::Invalid { problems, .. } = parse(bad).unwrap_err() else {
            panic!()
        };
        let keys: Vec<_> = problems.iter().map(|p| (p.key.as_str(), p.line)).collect();
        for want in [
            ("orgs[0].owner", Some(1)),
            ("orgs[0].secret", Some(3)),
            ("orgs[0].url", Some(4)),
            ("orgs[0].events", Some(5)),
            ("orgs[0].repos", Some(6)),
            ("orgs[1].owner", Some(10)),
            ("orgs[1].url", Some(12)),
        ] {
            assert!(keys.contains(&want), "{want:?} in {keys:?}");
        }
        let twice = format!("{good}\n{}", good.replace("acme", "ACME"));
        let ConfigError::Invalid { problems, .. } = parse(&twice).unwrap_err() else {
            panic!()
        };
        assert!(
            problems.iter().any(|p| p.key == "orgs[1].owner"),
            "{problems:?}"
        );
    }

    #[test]
    fn empty_secrets_are_mistakes_that_name_their_key() {
        // An empty secret would be counted as configured and then verify nothing.
        let text = "[[repos]]\nname = \"a\"\nprovider = \"github\"\nurl = \"file:///a\"\nsecret = [\"ok\", \"\"]\n\n[[repos]]\nname = \"b\"\nprovider = \"gitlab\"\nurl = \"file:///b\"\n";
        let overrides = Overrides {
            default_secret: Some(String::new()),
            ..Overrides::default()
        };
        let ConfigError::Invalid { problems, .. } =
            Config::from_str_with(text, Path::new("t"), &overrides).unwrap_err()
        else {
            panic!()
        };
        let keys: Vec<_> = problems.iter().map(|p| (p.key.as_str(), p.line)).collect();
        assert!(keys.contains(&("repos[0].secret", Some(5))), "{keys:?}");
        let default = problems
            .iter()
            .find(|p| p.key == "repos[1].secret")
            .expect("the empty WEBHOOK_SECRET is reported for the repo that falls back on it");
        assert!(
            default.message.contains("WEBHOOK_SECRET"),
            "{}",
            default.message
        );
        assert_eq!(problems.len(), 2, "{keys:?}");
    }
}
