//! The schema names a store accepts.

use crate::error::SetupError;

/// Longest schema name accepted: stores add suffixes to it for their NOTIFY channels, which
/// must stay under PostgreSQL's 63-byte identifier limit.
pub const MAX_SCHEMA: usize = 40;

/// Whether `schema` is a plain lower-case identifier of at most [`MAX_SCHEMA`] bytes
/// (`[a-z][a-z0-9_]*`), safe to splice into SQL text and channel names.
pub fn is_plain_schema(schema: &str) -> bool {
    schema.len() <= MAX_SCHEMA
        && schema.starts_with(|c: char| c.is_ascii_lowercase())
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `schema` when [`is_plain_schema`], else [`SetupError::InvalidSchema`] naming it.
pub fn check_schema(schema: &str) -> Result<&str, SetupError> {
    if is_plain_schema(schema) {
        Ok(schema)
    } else {
        Err(SetupError::InvalidSchema(schema.to_owned()))
    }
}

/// `schema` as a quoted identifier, for SQL text.
pub fn quoted(schema: &str) -> String {
    format!("\"{schema}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for good in ["cg_jobs", "cg_feed", "a", "a1_b2", &"a".repeat(MAX_SCHEMA)] {
            assert_eq!(
                check_schema(good).ok(),
                Some(good),
                "{good:?} must be taken"
            );
        }
        for bad in [
            "",
            "1abc",
            "a-b",
            "A",
            "x\"; DROP TABLE y; --",
            &"a".repeat(MAX_SCHEMA + 1),
        ] {
            let Err(SetupError::InvalidSchema(named)) = check_schema(bad) else {
                panic!("{bad:?} must be refused");
            };
            assert_eq!(named, bad);
        }
    }
}
