//! Snippets: the best-matching lines of a chunk, each prefixed with its line number.

use std::collections::HashSet;

use crate::exact::MatchRange;
use crate::tokenizer::{TokenKind, for_each_code_token, push_token_text};

/// At most this many lines per snippet.
pub(crate) const MAX_SNIPPET_LINES: usize = 3;
/// Lines longer than this are cut (minified code would otherwise fill the answer).
const MAX_LINE_CHARS: usize = 200;

fn truncate_chars(line: &str, max: usize) -> &str {
    match line.char_indices().nth(max) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

/// The snippet of a chunk that starts at `start_line`, for a query looking for `terms`.
///
/// Lines are ranked by how many distinct query terms they contain, then by how many
/// occurrences; ties go to the earlier line, so the snippet is deterministic. Chosen lines
/// are shown in file order as `LINE: text`. A chunk that matched only by its path shows its
/// first non-blank lines.
pub(crate) fn snippet(text: &str, start_line: u32, terms: &HashSet<&str>) -> String {
    let mut scored: Vec<(usize, usize, usize)> = Vec::new(); // (distinct, total, index)
    let mut lowered = String::new();
    for (index, line) in text.lines().enumerate() {
        let mut distinct: Vec<&str> = Vec::new();
        let mut total = 0;
        for_each_code_token(line, |raw, _, _, _, kind| {
            if kind == TokenKind::Joined {
                // Its raw text is the whole identifier's, already counted.
                return;
            }
            lowered.clear();
            push_token_text(&mut lowered, raw, kind);
            if let Some(&t) = terms.get(lowered.as_str()) {
                total += 1;
                if !distinct.contains(&t) {
                    distinct.push(t);
                }
            }
        });
        if total > 0 {
            scored.push((distinct.len(), total, index));
        }
    }
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    let mut chosen: Vec<usize> = scored.iter().take(MAX_SNIPPET_LINES).map(|s| s.2).collect();
    if chosen.is_empty() {
        chosen = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .take(MAX_SNIPPET_LINES)
            .map(|(i, _)| i)
            .collect();
    }
    chosen.sort_unstable();
    let lines: Vec<&str> = text.lines().collect();
    chosen
        .iter()
        .map(|&i| {
            let number = u64::from(start_line) + i as u64;
            format!(
                "{number}: {}",
                truncate_chars(lines[i], MAX_LINE_CHARS).trim_end()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The snippet of an exact match: the first matching lines of the chunk (from `matches`,
/// in line order), as `LINE: text`.
pub(crate) fn matched_lines(text: &str, start_line: u32, matches: &[MatchRange]) -> String {
    let mut numbers: Vec<u32> = matches.iter().map(|m| m.line).collect();
    numbers.dedup();
    numbers.truncate(MAX_SNIPPET_LINES);
    let lines: Vec<&str> = text.lines().collect();
    numbers
        .iter()
        .filter_map(|&n| {
            let line = lines.get(usize::try_from(n.checked_sub(start_line)?).ok()?)?;
            Some(format!(
                "{n}: {}",
                truncate_chars(line, MAX_LINE_CHARS).trim_end()
            ))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_matching_lines_with_numbers() {
        let text = "import os\n\ndef parse_http_request(raw):\n    return raw\n# parse it\n";
        let terms: HashSet<&str> = ["pars", "http", "request"].into_iter().collect();
        assert_eq!(
            snippet(text, 10, &terms),
            "12: def parse_http_request(raw):\n14: # parse it"
        );
    }

    #[test]
    fn falls_back_to_first_lines() {
        let terms: HashSet<&str> = ["nothing"].into_iter().collect();
        assert_eq!(snippet("\na\nb\nc\nd", 1, &terms), "2: a\n3: b\n4: c");
    }
}
