//! `/search`'s query parameters, as the HTTP handler and the MCP tool `search_code` take them.

use std::collections::HashMap;

use http_serve::respond::Failure;
use hyper::StatusCode;

/// The longest time budget a request may ask for (`timeout_ms`).
const MAX_TIMEOUT_MS: u64 = 10_000;

fn bad_parameter(name: &str, accepts: &str) -> Failure {
    Failure::bad_parameter(name, accepts)
}

/// A search request from `/search`'s query parameters (`q`, `repo`, `ref`, `path`, `limit`,
/// `group`, `mode`, `case`, `timeout_ms`), or the 400 that says which one is wrong.
pub fn search_query(params: &HashMap<String, String>) -> Result<search::Query, Failure> {
    let Some(text) = params.get("q").filter(|q| !q.trim().is_empty()) else {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "missing_query",
            "give the query as ?q=...",
        ));
    };
    let non_empty = |key: &str| params.get(key).filter(|v| !v.is_empty());
    let limit = http_serve::query::limit(
        params.get("limit"),
        search::DEFAULT_LIMIT,
        search::MAX_LIMIT,
    )?;
    let group = match non_empty("group").map(String::as_str) {
        None | Some("chunk") => search::Grouping::Chunk,
        Some("file") => search::Grouping::File,
        Some(_) => return Err(bad_parameter("group", "`chunk` or `file`")),
    };
    let mode = match non_empty("mode").map(String::as_str) {
        None | Some("lexical") => search::Mode::Lexical,
        Some("literal") => search::Mode::Literal,
        Some("regex") => search::Mode::Regex,
        Some(_) => {
            return Err(bad_parameter("mode", "`lexical`, `literal` or `regex`"));
        }
    };
    let case_sensitive = match non_empty("case").map(String::as_str) {
        None | Some("yes") => true,
        Some("no") => false,
        Some(_) => return Err(bad_parameter("case", "`yes` or `no`")),
    };
    let budget = match non_empty("timeout_ms") {
        None => None,
        Some(text) => match text.parse::<u64>() {
            Ok(ms) if (1..=MAX_TIMEOUT_MS).contains(&ms) => {
                Some(std::time::Duration::from_millis(ms))
            }
            _ => {
                return Err(bad_parameter(
                    "timeout_ms",
                    &format!("a whole number of milliseconds from 1 to {MAX_TIMEOUT_MS}"),
                ));
            }
        },
    };
    Ok(search::Query {
        text: text.clone(),
        repo: non_empty("repo").cloned(),
        git_ref: non_empty("ref").cloned(),
        path: non_empty("path").cloned(),
        limit,
        group,
        mode,
        case_sensitive,
        budget,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parameters_become_a_query_and_each_mistake_names_its_parameter() {
        let query = search_query(&params(&[
            ("q", "parse"),
            ("limit", "5"),
            ("group", "file"),
        ]))
        .unwrap();
        assert_eq!((query.limit, query.group), (5, search::Grouping::File));
        assert_eq!(
            search_query(&params(&[])).unwrap_err().code,
            "missing_query"
        );
        assert_eq!(
            search_query(&params(&[("q", "x"), ("limit", "0")]))
                .unwrap_err()
                .code,
            "bad_limit"
        );
        let wrong = search_query(&params(&[("q", "x"), ("mode", "fuzzy")])).unwrap_err();
        assert_eq!(wrong.code, "bad_parameter");
        assert!(wrong.message.contains("`mode`"), "{}", wrong.message);
    }
}
