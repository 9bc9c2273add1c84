//! The command line: `index`, `search`, `sign`, `check-config`, and `serve`'s start-up rules.

mod support;

use std::process::Stdio;

use support::*;

#[test]
fn index_then_search_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(tree.join("src")).unwrap();
    std::fs::write(
        tree.join("src/http.rs"),
        "pub fn parse_http_request(input: &str) -> usize {\n    input.len()\n}\n",
    )
    .unwrap();
    std::fs::write(tree.join("src/other.rs"), "fn unrelated() {}\n").unwrap();
    std::fs::write(tree.join("blob.bin"), [0u8, 1, 2, 3, 0, 9]).unwrap();
    let data = tmp.path().join("data");

    let summary = cli_index(&tree, "cli", &data);
    assert_eq!(summary["files_changed"], 2, "{summary}");
    assert_eq!(summary["files_deleted"], 0);
    assert!(summary["chunks_added"].as_u64().unwrap() >= 2);
    for key in [
        "files_seen",
        "files_changed",
        "files_deleted",
        "chunks_added",
        "chunks_removed",
        "elapsed_ms",
    ] {
        assert!(summary[key].is_u64(), "{key} in {summary}");
    }

    // Unchanged tree: nothing to do.
    let again = cli_index(&tree, "cli", &data);
    assert_eq!(again["files_changed"], 0, "{again}");

    let search = |query: &str| {
        cli_json(
            gateway_cli()
                .args(["search", query, "--json", "--data-dir"])
                .arg(&data),
        )
    };
    let hits = search("parse http request");
    assert_eq!(hits[0]["path"], "src/http.rs", "{hits}");
    assert_eq!(hits[0]["repo"], "cli");
    assert_eq!(hits[0]["start_line"], 1);

    // A deleted file stops matching after the next index run.
    std::fs::remove_file(tree.join("src/http.rs")).unwrap();
    let after = cli_index(&tree, "cli", &data);
    assert_eq!(after["files_deleted"], 1, "{after}");
    let hits = search("parse_http_request");
    assert_eq!(hits.as_array().unwrap().len(), 0, "{hits}");
}

#[test]
fn sign_prints_the_published_github_vector() {
    let out = run_with_input(
        gateway_cli().args([
            "sign",
            "--provider",
            "github",
            "--secret",
            "It's a Secret to Everybody",
        ]),
        b"Hello, World!",
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "X-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
    let out = gateway_cli()
        .args(["sign", "--provider", "nope", "--secret", "s3cr3t-value"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("s3cr3t-value"), "{stderr}");
    assert!(
        stderr.contains("github, gitlab, gitea, bitbucket, azure-devops"),
        "{stderr}"
    );
    // An empty secret signs nothing: an empty HMAC key would let anyone sign.
    let out = gateway_cli()
        .args(["sign", "--provider", "github", "--secret", ""])
        .env_remove("WEBHOOK_SECRET")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("must not be empty"), "{stderr}");
}

#[test]
fn check_config_names_every_mistake_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.toml");
    std::fs::write(&path, "listen = \"127.0.0.1:8080\"\n\n[[repos]]\nname = \"ok\"\nprovider = \"gitbub\"\nurl = \"file:///x\"\n\n[[repos]]\nname = \"a/b\"\nprovider = \"github\"\npath = \"/srv\"\n").unwrap();
    let check_config = || {
        gateway_cli()
            .arg("check-config")
            .arg("--config")
            .arg(&path)
            .output()
            .unwrap()
    };
    let out = check_config();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 5") && err.contains("repos[0].provider") && err.contains("gitbub"),
        "{err}"
    );
    assert!(
        err.contains("line 9") && err.contains("repos[1].name"),
        "{err}"
    );

    std::fs::write(&path, "[[repos]]\nname = \"x\"\nprovider = \"github\"\nurl = \"file:///x\"\nbranchs = [\"main\"]\n").unwrap();
    let out = check_config();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("branchs") && err.contains("line 5"),
        "{err}"
    );

    run_ok(
        gateway_cli()
            .arg("check-config")
            .arg("--config")
            .arg("examples/gateway.toml")
            .current_dir(env!("CARGO_MANIFEST_DIR").to_string() + "/../.."),
        "the shipped example is valid",
    );
}

#[test]
fn serve_without_config_is_an_empty_gateway_and_refuses_open_management() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("serve.log");
    let mut child = gateway_cli()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(tmp.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let addr = listening_addr(&mut child, &log);
    let health = http(addr, "GET", "/healthz", &[], b"");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    // Without GATEWAY_TOKEN management is open to loopback clients only.
    assert_eq!(http(addr, "GET", "/webhooks/status", &[], b"").status, 200);
    let _ = child.kill();
    let _ = child.wait();

    let out = gateway_cli()
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(tmp.path().join("data2"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("GATEWAY_TOKEN"));

    // A data dir that cannot be written is a clear start-up error.
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let out = gateway_cli()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("data dir"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `serve` with `rust_log`, answers one `/healthz`, stops it with SIGKILL after the
/// answer, and returns what it wrote to stderr.
fn serve_log(data: &std::path::Path, rust_log: &str) -> String {
    let log = data.with_extension("log");
    let mut child = gateway_cli()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let addr = listening_addr(&mut child, &log);
    assert_eq!(http(addr, "GET", "/healthz", &[], b"").status, 200);
    // The access line is written before the answer leaves.
    let _ = child.kill();
    let _ = child.wait();
    std::fs::read_to_string(&log).unwrap()
}

#[test]
fn access_lines_follow_rust_log_like_every_other_line() {
    let tmp = tempfile::tempdir().unwrap();
    let on = serve_log(&tmp.path().join("a"), "info");
    let line = on
        .lines()
        .find(|l| l.contains(" answered "))
        .unwrap_or_else(|| panic!("no access line:\n{on}"));
    assert!(
        line.contains("INFO request{id=req-")
            && line
                .contains(": context_gateway::http::router: answered method=GET path=\"/healthz\"")
            && line.contains(" status=200 route=\"/healthz\" error=\"\" elapsed_us="),
        "{line}"
    );

    let off = serve_log(
        &tmp.path().join("b"),
        "info,context_gateway::http::router=warn",
    );
    assert!(off.contains("context-gateway serving"), "{off}");
    assert!(!off.contains("answered"), "{off}");
}
