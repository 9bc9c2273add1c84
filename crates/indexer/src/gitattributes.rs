//! `linguist-generated` / `linguist-vendored` from the tree's root `.gitattributes`.
//!
//! Supported subset: the root `.gitattributes` only (not per-directory ones, not
//! `.git/info/attributes`); unquoted patterns with gitattributes' meaning (no `/` matches the
//! name at any depth, a leading `/` or a `/` inside anchors at the root, `*` stops at `/`, `**`
//! crosses directories; a trailing `/` names a directory, which attributes do not reach through,
//! so such lines are ignored); `attr`, `attr=true`, `-attr`, `attr=false` and `!attr`; the last
//! matching line wins per attribute. Macros (`[attr]...`) and quoted patterns are ignored.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::skip::SkipReason;

/// Which paths are marked generated or vendored.
#[derive(Debug, Clone, Default)]
pub(crate) struct LinguistAttributes {
    patterns: Option<GlobSet>,
    rules: Vec<Rule>,
}

/// One line's (generated, vendored) settings, `None` when the line does not mention it.
type Rule = (Option<bool>, Option<bool>);

impl LinguistAttributes {
    pub(crate) fn parse(text: &str) -> Self {
        let mut set = GlobSetBuilder::new();
        let mut rules = Vec::new();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            let Some(pattern) = words.next() else {
                continue;
            };
            if pattern.starts_with('#') || pattern.starts_with('[') || pattern.starts_with('"') {
                continue;
            }
            let (mut generated, mut vendored) = (None, None);
            for word in words {
                let (name, value) = attribute_state(word);
                match name {
                    "linguist-generated" => generated = value,
                    "linguist-vendored" => vendored = value,
                    _ => {}
                }
            }
            if (generated.is_none() && vendored.is_none()) || pattern.ends_with('/') {
                continue;
            }
            let glob = match pattern.strip_prefix('/') {
                Some(anchored) => anchored.to_string(),
                None if !pattern.contains('/') => format!("**/{pattern}"),
                None => pattern.to_string(),
            };
            match GlobBuilder::new(&glob).literal_separator(true).build() {
                Ok(compiled) => {
                    set.add(compiled);
                    rules.push((generated, vendored));
                }
                Err(e) => {
                    tracing::warn!(pattern, error = %e, "ignoring bad .gitattributes pattern")
                }
            }
        }
        match set.build() {
            Ok(patterns) => LinguistAttributes {
                patterns: Some(patterns),
                rules,
            },
            Err(e) => {
                tracing::warn!(error = %e, "ignoring .gitattributes");
                LinguistAttributes::default()
            }
        }
    }

    /// `Generated` or `Vendored` when the path is marked so (generated wins when both are).
    pub(crate) fn classify(&self, rel: &str) -> Option<SkipReason> {
        let patterns = self.patterns.as_ref()?;
        if self.rules.is_empty() {
            return None;
        }
        let matched = patterns.matches(rel);
        let last = |pick: fn(&Rule) -> Option<bool>| {
            matched
                .iter()
                .rev()
                .find_map(|&i| pick(&self.rules[i]))
                .unwrap_or(false)
        };
        if last(|r| r.0) {
            Some(SkipReason::Generated)
        } else if last(|r| r.1) {
            Some(SkipReason::Vendored)
        } else {
            None
        }
    }
}

/// `attr` / `attr=true` -> true, `-attr` / `attr=false` -> false, `!attr` -> unset (false).
fn attribute_state(word: &str) -> (&str, Option<bool>) {
    if let Some(name) = word.strip_prefix('-') {
        return (name, Some(false));
    }
    if let Some(name) = word.strip_prefix('!') {
        return (name, Some(false));
    }
    match word.split_once('=') {
        Some((name, value)) => (name, Some(!matches!(value, "false" | "0" | "no"))),
        None => (word, Some(true)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_matching_line_wins_per_attribute() {
        let attrs = LinguistAttributes::parse(
            "# comment\n*.pb.go linguist-generated\nvendor/** linguist-vendored\n\
             vendor/keep.rs -linguist-vendored\n/gen/*.rs linguist-generated=true\n\
             docs/ linguist-vendored\n*.txt text\n",
        );
        assert_eq!(attrs.classify("a/b/x.pb.go"), Some(SkipReason::Generated));
        assert_eq!(attrs.classify("vendor/lib/a.c"), Some(SkipReason::Vendored));
        assert_eq!(attrs.classify("vendor/keep.rs"), None);
        assert_eq!(attrs.classify("gen/a.rs"), Some(SkipReason::Generated));
        assert_eq!(attrs.classify("sub/gen/a.rs"), None);
        assert_eq!(attrs.classify("docs/readme.md"), None);
        assert_eq!(attrs.classify("src/main.rs"), None);
    }
}
