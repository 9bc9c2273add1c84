//! The API's JSON shape of search hits (`/search`, the MCP tool `search_code` and
//! `context-gateway search --json`).

use serde::Serialize;

/// One hit as the API answers it. The first eight fields are the original shape, in order;
/// `others` is present only when grouping by file.
#[derive(Debug, Serialize)]
pub struct HitJson<'a> {
    repo: &'a str,
    #[serde(rename = "ref")]
    git_ref: &'a str,
    commit: Option<&'a str>,
    path: &'a str,
    start_line: u32,
    end_line: u32,
    score: f32,
    snippet: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    others: Option<Vec<ChunkJson<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    matches: Option<Vec<MatchJson>>,
}

/// Where a literal or regex matched: the file's line and the byte range in it.
#[derive(Debug, Serialize)]
pub struct MatchJson {
    line: u32,
    start: u32,
    end: u32,
}

/// Another matching chunk of a hit's file (grouped by file).
#[derive(Debug, Serialize)]
pub struct ChunkJson<'a> {
    start_line: u32,
    end_line: u32,
    score: f32,
    snippet: &'a str,
}

impl<'a> HitJson<'a> {
    /// The API shape of `hit`; `grouped` adds the file's other chunks (possibly none),
    /// `exact` the match ranges.
    pub fn new(hit: &'a search::Hit, grouped: bool, exact: bool) -> Self {
        HitJson {
            repo: &hit.repo,
            git_ref: &hit.git_ref,
            commit: hit.commit.as_deref(),
            path: &hit.path,
            start_line: hit.start_line,
            end_line: hit.end_line,
            score: hit.score,
            snippet: &hit.snippet,
            others: grouped.then(|| {
                hit.others
                    .iter()
                    .map(|c| ChunkJson {
                        start_line: c.start_line,
                        end_line: c.end_line,
                        score: c.score,
                        snippet: &c.snippet,
                    })
                    .collect()
            }),
            matches: exact.then(|| {
                hit.matches
                    .iter()
                    .map(|m| MatchJson {
                        line: m.line,
                        start: m.start,
                        end: m.end,
                    })
                    .collect()
            }),
        }
    }
}

/// The hits of `results` in the API shape.
pub fn hits_json<'a>(
    results: &'a search::SearchResults,
    query: &search::Query,
) -> Vec<HitJson<'a>> {
    let grouped = query.group == search::Grouping::File;
    let exact = query.mode != search::Mode::Lexical;
    results
        .hits
        .iter()
        .map(|h| HitJson::new(h, grouped, exact))
        .collect()
}
