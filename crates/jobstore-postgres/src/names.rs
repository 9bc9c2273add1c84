//! The names a store derives from its schema: quoted identifiers, NOTIFY channels and
//! advisory lock keys.

use crate::error::PgError;

#[derive(Debug, Clone)]
pub(crate) struct Names {
    /// The schema as given.
    pub(crate) schema: String,
    /// The schema as a quoted identifier, for SQL text.
    pub(crate) quoted: String,
    /// Channel on which enqueues and completions announce claimable work.
    pub(crate) wake_channel: String,
    /// Channel on which cancellations and lease take-overs reach the worker holding a job.
    pub(crate) cancel_channel: String,
    /// Advisory lock held while migrating.
    pub(crate) migration_lock: i64,
}

impl Names {
    pub(crate) fn new(schema: &str) -> Result<Names, PgError> {
        let schema = pg_schema::check_schema(schema)?;
        Ok(Names {
            schema: schema.to_owned(),
            quoted: pg_schema::quoted(schema),
            wake_channel: format!("{schema}_jobs_wake"),
            cancel_channel: format!("{schema}_jobs_cancel"),
            migration_lock: lock_key(&[schema.as_bytes(), b"migrate"]),
        })
    }

    /// The advisory lock that serialises every change to the jobs of one (repo, ref) in this
    /// schema: enqueue, completion, cancellation and lease expiry take it before touching the
    /// key's rows, so folding and follow-ups see one consistent picture across replicas.
    pub(crate) fn key_lock(&self, repo: &str, git_ref: &str) -> i64 {
        lock_key(&[
            self.schema.as_bytes(),
            b"key",
            repo.as_bytes(),
            git_ref.as_bytes(),
        ])
    }
}

/// 64 bits of the BLAKE3 hash of `parts`, each length-prefixed so that no two part lists
/// hash the same input.
fn lock_key(parts: &[&[u8]]) -> i64 {
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let hash = hasher.finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash.as_bytes()[..8]);
    i64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_locks_differ_by_schema_and_key() {
        let a = Names::new("a").expect("name");
        let b = Names::new("b").expect("name");
        assert_ne!(a.key_lock("r", "x"), b.key_lock("r", "x"));
        assert_ne!(a.key_lock("r", "x"), a.key_lock("r", "y"));
        assert_ne!(a.key_lock("rx", ""), a.key_lock("r", "x"));
    }
}
