//! `/mcp` end to end: the real binary indexes a real Git repo, then the official MCP Python
//! client (PyPI `mcp`, its Streamable HTTP transport) lists the tools, finds the code with
//! `search_code`, reads the file back with `read_file`, gets tool errors (not transport
//! failures) for bad arguments, and is refused without the token. A plain HTTP client checks
//! the 403 for a foreign `Origin` and a handshake-era session (`initialize` with
//! `2025-06-18`, then `tools/list` under the session id).
//!
//! The Python module `mcp` 2.x is needed (`python3 -m pip install mcp`); without it the test is
//! skipped with a message, unless `CG_REQUIRE_PY_MCP=1` (as CI sets it), which makes its
//! absence a failure.

mod support;

use std::process::Command;

use serde_json::{Value, json};
use support::*;

/// The client script: argv is the `/mcp` URL and the token. Prints one JSON object with what
/// each step saw.
const CLIENT: &str = r#"
import asyncio, json, sys
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

URL, TOKEN, COMMIT = sys.argv[1], sys.argv[2], sys.argv[3]

def result(r):
    text = "".join(getattr(c, "text", "") for c in r.content)
    return {"is_error": bool(r.is_error), "structured": r.structured_content, "text": text}

async def session_with(headers, steps, modern=False):
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(URL, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                if modern:
                    # The 2026-07-28 era: no handshake, every request stands alone.
                    await session.discover()
                else:
                    await session.initialize()
                return await steps(session)

async def modern(session):
    found = result(await session.call_tool(
        "search_code", {"query": "reconcile_ledger_totals", "limit": 1}))
    return {"version": session.protocol_version, "search": found}

async def authorized(session):
    out = {}
    tools = await session.list_tools()
    out["tools"] = {t.name: {"description": t.description, "schema": t.input_schema,
                             "read_only": bool(t.annotations and t.annotations.read_only_hint)}
                    for t in tools.tools}
    out["search"] = result(await session.call_tool(
        "search_code", {"query": "reconcile_ledger_totals", "repo": "demo", "limit": 5}))
    out["read"] = result(await session.call_tool(
        "read_file", {"repo": "demo", "path": "src/ledger.rs", "ref": "main",
                      "start_line": 2, "end_line": 3}))
    out["missing"] = result(await session.call_tool(
        "read_file", {"repo": "demo", "path": "src/nope.rs"}))
    out["bad_line"] = result(await session.call_tool(
        "read_file", {"repo": "demo", "path": "src/ledger.rs", "start_line": 0}))
    out["repos"] = result(await session.call_tool("list_repos", {}))
    out["status"] = result(await session.call_tool(
        "index_status", {"repo": "demo", "ref": "main"}))
    out["changes"] = result(await session.call_tool(
        "changes_since", {"repo": "demo", "ref": "main", "limit": 50}))
    out["unknown_repo"] = result(await session.call_tool(
        "changes_since", {"repo": "nope", "ref": "main"}))
    out["after_commit"] = result(await session.call_tool(
        "changes_since", {"repo": "demo", "ref": "main", "commit": COMMIT}))
    out["unknown_commit"] = result(await session.call_tool(
        "changes_since", {"repo": "demo", "ref": "main", "commit": "f" * 40}))
    return out

async def main():
    auth = {"Authorization": f"Bearer {TOKEN}"}
    out = await session_with(auth, authorized)
    out["modern"] = await session_with(auth, modern, modern=True)
    async def version(session):
        return session.protocol_version
    out["handshake_version"] = await session_with(auth, version)
    # Without the token: the client's HTTP layer records each status it gets back.
    statuses = []
    async def record(response):
        statuses.append(response.status_code)
    async with httpx2.AsyncClient(event_hooks={"response": [record]}) as http:
        try:
            async with streamable_http_client(URL, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
            out["unauthorized_error"] = None
        except BaseException as e:
            out["unauthorized_error"] = f"{type(e).__name__}: {e}"
    out["unauthorized_statuses"] = statuses
    print(json.dumps(out))

asyncio.run(main())
"#;

/// What the test imports of the `mcp` module: the 2.x client, with the httpx2 transport and
/// `discover` for the 2026-07-28 era.
const CLIENT_PROBE: &str = "import httpx2; from mcp import ClientSession; \
     from mcp.client.streamable_http import streamable_http_client; \
     ClientSession.discover";

const LEDGER: &str = "/// Sums every account and checks the books balance.\npub fn reconcile_ledger_totals(accounts: &[i64]) -> i64 {\n    accounts.iter().sum()\n}\n";

/// A gateway with the repo `demo` (a real Git repo fetched over file://) indexed at `main`.
fn indexed_gateway(tmp: &std::path::Path) -> (Gateway, String) {
    let repo = Repo::new(&tmp.join("src"));
    repo.write("src/ledger.rs", LEDGER);
    repo.write("src/other.rs", &source_file("unrelated_helper", 40));
    let commit = repo.commit("ledger");
    let gw = Gateway::start(tmp, &config_for(&repo.url(), "github", ""));
    gw.trigger_and_wait("demo", b"");
    (gw, commit)
}

#[test]
fn the_official_python_client_lists_searches_and_reads_and_needs_the_token() {
    if !python_has(CLIENT_PROBE, "mcp", "mcp", "CG_REQUIRE_PY_MCP") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (gw, commit) = indexed_gateway(tmp.path());
    let url = format!("http://{}/mcp", gw.addr);
    let out = Command::new("python3")
        .args(["-c", CLIENT, &url, TOKEN, &commit])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the MCP client failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.log_text()
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stdout));
    });

    // Every tool is listed, read-only, described, with a schema naming its parameters.
    let tools = seen["tools"].as_object().unwrap();
    let mut names: Vec<&str> = tools.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "changes_since",
            "index_status",
            "list_repos",
            "read_file",
            "search_code"
        ]
    );
    for (name, tool) in tools {
        assert_eq!(tool["read_only"], true, "{name}");
        assert!(
            tool["description"].as_str().unwrap().len() > 40,
            "{name}: {tool}"
        );
        assert_eq!(tool["schema"]["type"], "object", "{name}");
    }
    let search_props = &tools["search_code"]["schema"]["properties"];
    for param in ["query", "repo", "ref", "path", "limit"] {
        assert!(search_props.get(param).is_some(), "search_code {param}");
    }
    assert_eq!(tools["search_code"]["schema"]["required"], json!(["query"]));
    let read_props = &tools["read_file"]["schema"]["properties"];
    for param in ["repo", "path", "ref", "start_line", "end_line"] {
        assert!(read_props.get(param).is_some(), "read_file {param}");
    }

    // search_code finds the function, at the indexed commit.
    let search = &seen["search"];
    assert_eq!(search["is_error"], false, "{search}");
    let hit = &search["structured"]["hits"][0];
    assert_eq!(hit["path"], "src/ledger.rs", "{search}");
    assert_eq!(hit["commit"], commit.as_str());
    assert!(
        hit["snippet"]
            .as_str()
            .unwrap()
            .contains("reconcile_ledger_totals")
    );

    // read_file gives the lines back exactly.
    let read = &seen["read"];
    assert_eq!(read["is_error"], false, "{read}");
    assert_eq!(
        read["structured"]["text"],
        "pub fn reconcile_ledger_totals(accounts: &[i64]) -> i64 {\n    accounts.iter().sum()\n"
    );
    assert_eq!(read["structured"]["commit"], commit.as_str());
    assert_eq!(read["structured"]["total_lines"], 4);

    // Bad arguments are tool errors whose message names the problem.
    tool_error(&seen["missing"], |text| {
        text.contains("`src/nope.rs` is not an indexed file")
    });
    tool_error(&seen["bad_line"], |text| text.contains("start_line"));
    // A caller that already holds main at the indexed commit gets nothing new; a commit the
    // feed never indexed is a tool error that says where to start instead.
    let after = &seen["after_commit"];
    assert_eq!(after["is_error"], false, "{after}");
    assert_eq!(after["structured"]["entries"], json!([]), "{after}");
    tool_error(&seen["unknown_commit"], |text| {
        text.starts_with("commit_not_in_feed:")
    });
    tool_error(&seen["unknown_repo"], |text| text.contains("`nope`"));

    // Freshness: the repo's main is indexed at the commit and up to date.
    let repos = &seen["repos"]["structured"]["repos"];
    assert_eq!(repos[0]["repo"], "demo", "{repos}");
    assert_eq!(repos[0]["refs"][0]["indexed_commit"], commit.as_str());
    let status = &seen["status"]["structured"];
    assert_eq!(status["refs"].as_array().unwrap().len(), 1, "{status}");
    assert_eq!(status["refs"][0]["ref"], "refs/heads/main");
    assert_eq!(status["refs"][0]["up_to_date"], true, "{status}");

    // The change feed's snapshot holds the ledger's chunk.
    let changes = &seen["changes"];
    assert_eq!(changes["is_error"], false, "{changes}");
    assert!(
        changes["structured"]["next_cursor"].is_string(),
        "{changes}"
    );
    assert!(
        changes["structured"]
            .to_string()
            .contains("reconcile_ledger_totals"),
        "{changes}"
    );

    // Both protocol eras: the handshake (with a session) above, and 2026-07-28 (stateless).
    assert_eq!(seen["handshake_version"], "2025-11-25", "{seen}");
    let modern = &seen["modern"];
    assert_eq!(modern["version"], "2026-07-28", "{modern}");
    assert_eq!(modern["search"]["is_error"], false, "{modern}");
    assert_eq!(
        modern["search"]["structured"]["hits"][0]["path"], "src/ledger.rs",
        "{modern}"
    );

    // Without the token the client is refused with a 401 and its initialize fails.
    assert_eq!(seen["unauthorized_statuses"], json!([401]), "{seen}");
    assert!(seen["unauthorized_error"].is_string(), "{seen}");
    gw.stop();
}

/// Asserts that a tool call's `result` is a tool error whose text `says` what it should.
fn tool_error(result: &Value, says: impl Fn(&str) -> bool) {
    assert_eq!(result["is_error"], true, "{result}");
    let text = result["text"].as_str().expect("a tool error has a text");
    assert!(says(text), "{result}");
}

fn post_json(gw: &Gateway, headers: &[(&str, &str)], body: &Value) -> Response {
    let auth = format!("Bearer {TOKEN}");
    let mut all = vec![
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    all.extend_from_slice(headers);
    gw.request("POST", "/mcp", &all, body.to_string().as_bytes())
}

#[test]
fn foreign_origins_are_refused_and_handshake_era_sessions_work() {
    let tmp = tempfile::tempdir().unwrap();
    let (gw, _) = indexed_gateway(tmp.path());
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "e2e", "version": "1"}
        }
    });

    // A web page elsewhere may not drive the tools, token or not.
    let foreign = post_json(&gw, &[("Origin", "https://evil.example")], &initialize);
    assert_eq!(foreign.status, 403, "{}", foreign.text());
    assert_eq!(foreign.json()["error"]["code"], "forbidden_origin");
    assert!(foreign.text().contains("evil.example"));

    // No token at all: 401 before MCP sees the request.
    let anonymous = gw.request(
        "POST",
        "/mcp",
        &[("Content-Type", "application/json")],
        initialize.to_string().as_bytes(),
    );
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());

    // A loopback origin passes; the 2025-06-18 handshake opens a session whose id lists the
    // tools.
    let opened = post_json(&gw, &[("Origin", "http://localhost:5173")], &initialize);
    assert_eq!(opened.status, 200, "{}", opened.text());
    assert!(
        opened.text().contains("\"2025-06-18\""),
        "{}",
        opened.text()
    );
    let session = opened
        .header("mcp-session-id")
        .unwrap_or_else(|| panic!("no session id: {:?}", opened.headers))
        .to_string();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let headers = [
        ("Mcp-Session-Id", session.as_str()),
        ("MCP-Protocol-Version", "2025-06-18"),
    ];
    let ack = post_json(&gw, &headers, &initialized);
    assert_eq!(ack.status, 202, "{}", ack.text());
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let listed = post_json(&gw, &headers, &list);
    assert_eq!(listed.status, 200, "{}", listed.text());
    for tool in [
        "search_code",
        "read_file",
        "list_repos",
        "index_status",
        "changes_since",
    ] {
        assert!(listed.text().contains(tool), "{tool}: {}", listed.text());
    }
    gw.stop();
}
