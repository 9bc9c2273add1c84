//! The config parser's invariants (`gateway-config`), shared by tests/props.rs and the
//! `config` fuzz target; each includes this file with `#[path]`.

use gateway_config::{Config, ConfigError, valid_repo_name};

/// What parsing `text` answered must hold: every accepted repository name is valid; an
/// invalid file reports at least one problem, and every line number it names is a line of
/// the file (or the one past its end).
pub fn check_parsed(text: &str, parsed: Result<Config, ConfigError>) {
    match parsed {
        Ok(config) => {
            for repo in &config.repos {
                assert!(
                    valid_repo_name(&repo.spec.name),
                    "{:?} accepted",
                    repo.spec.name
                );
            }
        }
        Err(ConfigError::Invalid { problems, .. }) => {
            assert!(!problems.is_empty(), "invalid without a problem: {text:?}");
            let line_count = text.lines().count().max(1);
            for problem in &problems {
                if let Some(line) = problem.line {
                    assert!(line >= 1 && line <= line_count + 1, "{problem} in {text:?}");
                }
            }
        }
        Err(other) => panic!("unexpected error {other}"),
    }
}
