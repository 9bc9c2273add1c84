//! Declared names: the identifiers a line of code defines (`fn parse`, `class Parser`).
//!
//! Indexed into a boosted `symbols` field so that a query for an identifier ranks its
//! definition above its uses. This is a line-level heuristic over many languages, not a
//! parser: it looks for a declaration keyword after optional modifiers at the start of a
//! line and takes the identifier that follows.

/// Words that may precede a declaration keyword (`pub async fn`, `export default class`).
const MODIFIERS: &[&str] = &[
    "pub",
    "export",
    "default",
    "async",
    "public",
    "private",
    "protected",
    "internal",
    "abstract",
    "final",
    "sealed",
    "open",
    "override",
    "virtual",
    "inline",
    "unsafe",
    "extern",
    "declare",
    "data",
    "case",
    "partial",
    "readonly",
];

/// Keywords after which the next identifier is a declared name.
const KEYWORDS: &[&str] = &[
    "fn",
    "def",
    "class",
    "struct",
    "enum",
    "trait",
    "union",
    "interface",
    "type",
    "func",
    "function",
    "mod",
    "module",
    "namespace",
    "const",
    "static",
    "object",
    "record",
    "protocol",
    "typedef",
    "impl",
    "macro_rules",
    "let",
    "var",
    "val",
];

fn leading_word(s: &str) -> (&str, &str) {
    let end = s
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .map_or(s.len(), |(i, _)| i);
    (&s[..end], &s[end..])
}

/// Skips a balanced `( ... )` group at the start of `s` (`pub(crate)`, Go receivers).
fn skip_parens(s: &str) -> Option<&str> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(&s[i + 1..]);
                }
            }
            _ => {}
        }
    }
    None
}

/// The name declared on `line`, if the line starts a declaration.
pub(crate) fn declared_name(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    if let Some(after) = rest.strip_prefix("#define") {
        let (name, _) = leading_word(after.trim_start());
        return (!name.is_empty()).then_some(name);
    }
    // A declaration has at most a handful of modifiers; the bound keeps odd lines cheap.
    for _ in 0..6 {
        let (word, after) = leading_word(rest);
        if word.is_empty() {
            return None;
        }
        let mut after = after;
        if MODIFIERS.contains(&word) {
            if after.starts_with('(') {
                after = skip_parens(after)?;
            }
            rest = after.trim_start();
            continue;
        }
        if !KEYWORDS.contains(&word) {
            return None;
        }
        after = after.strip_prefix('!').unwrap_or(after); // macro_rules!
        // `fn` must be followed by whitespace or a receiver: `type(x)` is a call, not a type.
        if !after.starts_with(char::is_whitespace) {
            return None;
        }
        after = after.trim_start();
        if word == "func" && after.starts_with('(') {
            after = skip_parens(after)?.trim_start();
        }
        if word == "impl" && after.starts_with('<') {
            after = &after[after.find('>')? + 1..];
            after = after.trim_start();
        }
        let (name, tail) = leading_word(after);
        if name.is_empty() || name.starts_with(|c: char| c.is_numeric()) {
            return None;
        }
        // `class of problems` in prose: a real declaration is followed by punctuation or
        // the end of the line, not by another plain word.
        let tail = tail.trim_start();
        if tail.starts_with(|c: char| c.is_alphabetic()) && !matches!(word, "impl" | "type") {
            let (next, _) = leading_word(tail);
            if !matches!(
                next,
                "extends" | "implements" | "for" | "where" | "struct" | "interface"
            ) {
                return None;
            }
        }
        return Some(name);
    }
    None
}

/// The declared names of every line of `text`, one per line of the result.
pub(crate) fn declared_names(text: &str) -> String {
    let mut out = String::new();
    for name in text.lines().filter_map(declared_name) {
        out.push_str(name);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::declared_name;

    #[test]
    fn finds_declarations_across_languages() {
        let cases = [
            (
                "pub(crate) async fn parse_http_request(x: u8) {",
                "parse_http_request",
            ),
            ("    def parseHttpRequest(self):", "parseHttpRequest"),
            ("class HttpParser(Base):", "HttpParser"),
            ("export default function handler(req) {", "handler"),
            (
                "func (s *Server) ServeHTTP(w http.ResponseWriter) {",
                "ServeHTTP",
            ),
            ("type Config struct {", "Config"),
            ("interface Shape {", "Shape"),
            ("const MAX_SIZE = 10;", "MAX_SIZE"),
            ("pub struct SearchIndex {", "SearchIndex"),
            ("#define BUFFER_LEN 4096", "BUFFER_LEN"),
            ("macro_rules! ensure {", "ensure"),
            ("public class Foo extends Bar {", "Foo"),
        ];
        for (line, name) in cases {
            assert_eq!(declared_name(line), Some(name), "{line}");
        }
    }

    #[test]
    fn ignores_uses_and_prose() {
        for line in [
            "x = parse_http_request(y)",
            "t = type(x)",
            "    the class of problems",
            "# def commented_out():",
            "fn",
            "",
        ] {
            assert_eq!(declared_name(line), None, "{line}");
        }
    }
}
