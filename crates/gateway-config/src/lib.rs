//! The gateway's config file: the typed settings it resolves to ([`Config`]), their
//! [`defaults`], and the parse that reports every mistake with its key and line
//! ([`ConfigError::Invalid`] holds one [`Problem`] each).
//!
//! Each section is checked by the crate that owns what it configures and assembled here:
//! `[[repos]]` and `[[orgs]]` by `pipeline` ([`pipeline::RepoSection`]), `[rate_limit]` by
//! `http-serve`, `[feed]` into a [`feed::Retention`]; `[cluster]` (the job queue on
//! PostgreSQL) is checked in [`cluster`], which also opens that store. Unknown keys are
//! errors that name the key and its line. Precedence is flags > environment > file >
//! defaults: the binary passes the flags and environment it read as [`Overrides`].
//! [`gateway_token`] reads `GATEWAY_TOKEN`; [`Config::summary`] is what `check-config`
//! prints.
//!
//! ```
//! use std::path::Path;
//! use gateway_config::{Config, ConfigError, Overrides};
//!
//! let text = "workers = 2\n\n[[repos]]\nname = \"demo\"\nprovider = \"github\"\nurl = \"https://git.example/demo.git\"\nsecret = \"s3cret\"\n";
//! let config = Config::from_str_with(text, Path::new("gateway.toml"), &Overrides::default())?;
//! assert_eq!(config.workers, 2);
//! assert_eq!(config.repos[0].spec.name, "demo");
//!
//! let Err(ConfigError::Invalid { problems, .. }) =
//!     Config::from_str_with("workers = 2\nworkres = 3\n", Path::new("gateway.toml"), &Overrides::default())
//! else {
//!     panic!("a misspelt key is an error");
//! };
//! assert_eq!(problems[0].key, "workres");
//! assert_eq!(problems[0].line, Some(2));
//! # Ok::<(), ConfigError>(())
//! ```

#![deny(missing_docs)]

pub mod cluster;
mod config;
mod problem;
mod report;
mod token;

pub use config::{Config, Overrides, defaults};
pub use http_serve::rate_limit::RateLimitConfig;
pub use http_serve::session::UiConfig;
pub use pipeline::deliveries::DeliveriesConfig;
pub use pipeline::{OrgConfig, RepoConfig, valid_repo_name};
pub use problem::{ConfigError, Problem};
pub use token::{TokenError, gateway_token};
