//! What can keep a store from being set up, before or while it migrates.

/// Why a store could not be set up: the parts of the stores' own error types they share.
/// Messages never hold the connection string (nor its password).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The connection string does not parse. The string itself is not repeated: it may
    /// hold a password.
    #[error("the PostgreSQL connection string does not parse (check its keys and quoting)")]
    InvalidUrl,
    /// The schema name is not a plain lowercase identifier.
    #[error(
        "{0:?} is not a usable schema name (lowercase letters, digits and '_', starting with a letter, at most 40)"
    )]
    InvalidSchema(String),
    /// The schema was written by a newer release of the store.
    #[error(
        "the {store} schema {schema:?} is at version {found}, this build knows versions up to {supports}: \
         run the release that migrated it, or point this one at another schema"
    )]
    NewerSchema {
        /// Which store's schema (`job`, `feed`).
        store: &'static str,
        /// The schema.
        schema: String,
        /// The version found in its `schema_version` table.
        found: i32,
        /// The newest version this build knows.
        supports: i32,
    },
}
