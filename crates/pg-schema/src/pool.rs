//! The connection pool every store draws from.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::error::SetupError;

/// Parses `url` (a libpq-style `host=... user=... dbname=...` string or a `postgresql://`
/// URL) and builds a pool of at most `size` connections (at least one) on it, connecting
/// lazily. Returns the parsed configuration too, for a store's own listening connection.
pub fn pool(url: &str, size: usize) -> Result<(tokio_postgres::Config, Pool), SetupError> {
    let config: tokio_postgres::Config = url.parse().map_err(|_| SetupError::InvalidUrl)?;
    let manager = Manager::from_config(
        config.clone(),
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(size.max(1))
        .build()
        .map_err(|_| SetupError::InvalidUrl)?;
    Ok((config, pool))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_url_is_refused_without_repeating_it() {
        let url = "host=127.0.0.1 password='hunter2-secret";
        let error = pool(url, 2).expect_err("an unterminated quote");
        assert!(matches!(error, SetupError::InvalidUrl));
        assert!(!format!("{error} {error:?}").contains("hunter2"));
    }

    #[test]
    fn a_pool_has_at_least_one_connection() {
        let (_, pool) = pool("host=127.0.0.1 user=postgres", 0).expect("a good url");
        assert_eq!(pool.status().max_size, 1);
    }
}
