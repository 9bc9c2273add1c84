//! [`CommitFiles`]: a push's `commits[]` read straight into a [`PathUnion`].
//!
//! GitHub, Gitea and GitLab list, per commit, the files it `added`, `removed` and
//! `modified`. Deserializing that into a `Vec` of commits, each with three `Vec`s, and
//! only then folding it into the union cost one allocation per commit and per list; a
//! 1 MB push has thousands. Here a serde visitor walks the array and feeds every path to
//! the union as it is read, skipping every other member of a commit unparsed.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::path_union::{Net, PathUnion};

/// The net changed paths of a `commits` array, and what the provider's caps need. With
/// `PATHS` false the commits are only counted and skipped unread (see
/// [`ParseOptions::changed_paths`](crate::ParseOptions::changed_paths)).
#[derive(Debug, Default)]
pub(crate) struct CommitFiles<'a, const PATHS: bool = true> {
    /// Every listed path with its net status across the commits.
    pub(crate) paths: PathUnion<'a>,
    /// How many commits the array held.
    pub(crate) listed: usize,
    /// The most paths any one commit listed (its `added`, `removed` and `modified`
    /// together), to spot a provider's per-commit file cap.
    pub(crate) max_files_in_a_commit: usize,
}

// Generic over the borrowed lifetime `'a` (not just `'de`): serde's `borrow` attribute on
// the enclosing structs asks for `CommitFiles<'a>: Deserialize<'de>` with `'de: 'a`.
impl<'de: 'a, 'a, const PATHS: bool> Deserialize<'de> for CommitFiles<'a, PATHS> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(CommitsVisitor(PhantomData))
    }
}

struct CommitsVisitor<'a, const PATHS: bool>(PhantomData<CommitFiles<'a, PATHS>>);

impl<'de: 'a, 'a, const PATHS: bool> Visitor<'de> for CommitsVisitor<'a, PATHS> {
    type Value = CommitFiles<'a, PATHS>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of commits")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut commits: A) -> Result<Self::Value, A::Error> {
        let mut out = CommitFiles::default();
        if !PATHS {
            while commits.next_element::<IgnoredAny>()?.is_some() {
                out.listed += 1;
            }
            return Ok(out);
        }
        while let Some(files) = commits.next_element_seed(CommitSeed {
            paths: &mut out.paths,
        })? {
            out.listed += 1;
            out.max_files_in_a_commit = out.max_files_in_a_commit.max(files);
        }
        Ok(out)
    }
}

/// Reads one commit object into the union; its value is the number of paths it listed.
struct CommitSeed<'u, 'a> {
    paths: &'u mut PathUnion<'a>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for CommitSeed<'_, 'a> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for CommitSeed<'_, 'a> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a commit object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut commit: A) -> Result<usize, A::Error> {
        let mut files = 0;
        // A repeated list would be applied twice; refuse it as derived structs do.
        let mut seen = [false; 3];
        while let Some(key) = commit.next_key::<CommitKey>()? {
            let (op, name, slot) = match key {
                CommitKey::Added => (Net::Added, "added", 0),
                CommitKey::Removed => (Net::Removed, "removed", 1),
                CommitKey::Modified => (Net::Modified, "modified", 2),
                CommitKey::Other => {
                    commit.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if std::mem::replace(&mut seen[slot], true) {
                return Err(de::Error::duplicate_field(name));
            }
            files += commit.next_value_seed(FileListSeed {
                paths: &mut *self.paths,
                op,
            })?;
        }
        Ok(files)
    }
}

/// The members of a commit object this module reads.
enum CommitKey {
    Added,
    Removed,
    Modified,
    Other,
}

impl<'de> Deserialize<'de> for CommitKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // As bytes: the key is only compared with ASCII names, so it need not be checked
        // as UTF-8 first (as a `str` key would be).
        deserializer.deserialize_bytes(CommitKeyVisitor)
    }
}

struct CommitKeyVisitor;

impl Visitor<'_> for CommitKeyVisitor {
    type Value = CommitKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_bytes<E: de::Error>(self, key: &[u8]) -> Result<CommitKey, E> {
        Ok(match key {
            b"added" => CommitKey::Added,
            b"removed" => CommitKey::Removed,
            b"modified" => CommitKey::Modified,
            _ => CommitKey::Other,
        })
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<CommitKey, E> {
        self.visit_bytes(key.as_bytes())
    }
}

/// Reads one `added`/`removed`/`modified` list (or `null`) into the union; its value is
/// the number of paths listed.
struct FileListSeed<'u, 'a> {
    paths: &'u mut PathUnion<'a>,
    op: Net,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for FileListSeed<'_, 'a> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for FileListSeed<'_, 'a> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of file paths")
    }

    fn visit_none<E: de::Error>(self) -> Result<usize, E> {
        Ok(0)
    }

    fn visit_unit<E: de::Error>(self) -> Result<usize, E> {
        Ok(0)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut list: A) -> Result<usize, A::Error> {
        let mut files = 0;
        while let Some(path) = list.next_element::<PathName<'a>>()? {
            self.paths.apply(path.0, self.op);
            files += 1;
        }
        Ok(files)
    }
}

/// A file path, borrowed from the body unless it had escapes.
struct PathName<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for PathName<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(PathNameVisitor(PhantomData))
    }
}

struct PathNameVisitor<'a>(PhantomData<PathName<'a>>);

impl<'de: 'a, 'a> Visitor<'de> for PathNameVisitor<'a> {
    type Value = PathName<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a file path string")
    }

    fn visit_borrowed_str<E: de::Error>(self, path: &'de str) -> Result<Self::Value, E> {
        Ok(PathName(Cow::Borrowed(path)))
    }

    fn visit_str<E: de::Error>(self, path: &str) -> Result<Self::Value, E> {
        Ok(PathName(Cow::Owned(path.to_owned())))
    }

    fn visit_string<E: de::Error>(self, path: String) -> Result<Self::Value, E> {
        Ok(PathName(Cow::Owned(path)))
    }
}

#[cfg(test)]
mod tests {
    use serde::forward_to_deserialize_any;

    use super::*;

    fn read(json: &str) -> Result<CommitFiles<'_>, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn streams_every_list_of_every_commit_and_skips_the_rest() {
        let commits = read(
            r#"[
              {"id":"1","message":"m","author":{"name":"a","added":["not/a/file"]},
               "added":["a","b"],"removed":null,"modified":["c"]},
              {"added":[],"removed":["a","c"],"timestamp":"t"},
              {},
              {"modified":["d\"q","b"],"added":["e"],"removed":[]}
            ]"#,
        )
        .unwrap();
        assert_eq!(commits.listed, 4);
        assert_eq!(commits.max_files_in_a_commit, 3);
        let paths = commits.paths.finish(true);
        assert_eq!(paths.added, vec!["b", "e"]);
        assert_eq!(paths.modified, vec!["d\"q"]);
        assert_eq!(paths.removed, vec!["a", "c"]);
    }

    #[test]
    fn refuses_what_is_not_a_list_of_commits_of_path_lists() {
        for bad in [
            r#"{"added":[]}"#,
            r#"[["a"]]"#,
            r#"[{"added":"a"}]"#,
            r#"[{"added":[1]}]"#,
            r#"[{"added":["a"],"added":["b"]}]"#,
            r#"[null]"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }

    /// A deserializer that hands out keys as `str` (not bytes), as non-JSON formats and
    /// serde_json's escaped keys may.
    struct StrKey<'a>(&'a str);

    impl<'de> Deserializer<'de> for StrKey<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            visitor.visit_str(self.0)
        }

        forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map struct enum identifier ignored_any
        }
    }

    #[test]
    fn keys_given_as_text_are_recognized_too() {
        assert!(matches!(
            CommitKey::deserialize(StrKey("removed")),
            Ok(CommitKey::Removed)
        ));
        assert!(matches!(
            CommitKey::deserialize(StrKey("removed ")),
            Ok(CommitKey::Other)
        ));
    }
}
