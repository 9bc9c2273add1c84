//! Ref names and object ids from payloads: validated before git ever sees them.

/// A ref as a person names it: a branch name (`main`) means `refs/heads/main`; a full ref
/// name (`refs/tags/v1`) stays as it is. Not validated: see [`valid_ref_name`].
pub fn full_ref(name: &str) -> String {
    if name.starts_with("refs/") {
        name.to_string()
    } else {
        format!("refs/heads/{name}")
    }
}

/// `git check-ref-format` rules for a full ref name (it must contain a `/`).
pub fn valid_ref_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 1024 || !name.contains('/') {
        return false;
    }
    if name.starts_with('/') || name.ends_with('/') || name.ends_with('.') || name.starts_with('-')
    {
        return false;
    }
    if name.contains("..") || name.contains("//") || name.contains("@{") || name == "@" {
        return false;
    }
    let bad_byte = |b: u8| {
        b < 0x20 || b == 0x7f || matches!(b, b' ' | b'~' | b'^' | b':' | b'?' | b'*' | b'[' | b'\\')
    };
    if name.bytes().any(bad_byte) {
        return false;
    }
    name.split('/')
        .all(|part| !part.is_empty() && !part.starts_with('.') && !part.ends_with(".lock"))
}

/// A full commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
pub fn valid_object_id(id: &str) -> bool {
    (id.len() == 40 || id.len() == 64)
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The all-zeros id providers send for "no commit" (a created or deleted ref).
pub fn is_zero_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names_become_full_refs_and_full_refs_stay() {
        assert_eq!(full_ref("main"), "refs/heads/main");
        assert_eq!(full_ref("release/1.x"), "refs/heads/release/1.x");
        assert_eq!(full_ref("refs/tags/v1"), "refs/tags/v1");
        assert_eq!(full_ref("refs/pull/3/head"), "refs/pull/3/head");
    }

    #[test]
    fn ref_names_follow_check_ref_format() {
        for good in [
            "refs/heads/main",
            "refs/heads/feature/x-1",
            "refs/pull/12/head",
            "refs/tags/v1.2.3",
        ] {
            assert!(valid_ref_name(good), "{good}");
        }
        for bad in [
            "main",
            "--upload-pack=evil",
            "refs/heads/../../x",
            "refs/heads/a..b",
            "refs/heads/x.lock",
            "refs/heads/.hidden",
            "refs/heads/a b",
            "refs/heads/a\0b",
            "refs/heads/a~1",
            "refs/heads/a:b",
            "refs/heads/",
            "/refs/heads/x",
            "refs/heads/x@{1}",
        ] {
            assert!(!valid_ref_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn object_ids_are_full_lowercase_hex() {
        assert!(valid_object_id(&"a".repeat(40)));
        assert!(valid_object_id(&"0123456789abcdef".repeat(4)));
        assert!(!valid_object_id(&"A".repeat(40)));
        assert!(!valid_object_id("abc"));
        assert!(!valid_object_id(&format!("-{}", "a".repeat(39))));
        assert!(is_zero_id(&"0".repeat(40)));
    }
}
