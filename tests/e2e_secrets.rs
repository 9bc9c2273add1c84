//! End to end: a repository seeded with secret files and secret-bearing lines, indexed by the
//! real `serve` (and the `index` command); no `/search` answer ever contains a secret, while the
//! rest of each file stays searchable.

mod support;

use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;
use support::*;

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `len` random characters of `alphabet` (fresh each run: the secrets are never in this file).
fn random(alphabet: &[u8], len: usize) -> String {
    let mut bytes = vec![0u8; len];
    SystemRandom::new().fill(&mut bytes).unwrap();
    bytes
        .iter()
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect()
}

/// The seeded secrets: (the secret's random part, the words around it in its line).
struct Seeded {
    secrets: Vec<String>,
    neighbours: Vec<&'static str>,
}

/// Writes the repository's files: secret files, source files with one secret line each among
/// ordinary code, and ordinary files.
fn seed(repo: &Repo) -> Seeded {
    let mut seeded = Seeded {
        secrets: Vec::new(),
        neighbours: Vec::new(),
    };
    let pem = |material: &[String]| {
        format!(
            "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
            material.join("\n")
        )
    };
    let key_lines: Vec<String> = (0..4).map(|_| random(BASE64, 64)).collect();
    seeded.secrets.extend(key_lines.iter().cloned());

    // Well-known secret files: skipped whole.
    let env_password = random(ALNUM, 24);
    repo.write(
        ".env",
        &format!("envfile_marker_word=1\nDATABASE_PASSWORD={env_password}\n"),
    );
    seeded.secrets.push(env_password);
    seeded.neighbours.push("envfile_marker_word");
    repo.write("deploy/tls/server.pem", &pem(&key_lines[..2]));
    repo.write(".ssh/id_rsa", &pem(&key_lines[2..]));
    let aws_secret = random(BASE64, 40);
    repo.write(
        ".aws/credentials",
        &format!("[default]\ncredentials_marker_word = 1\naws_secret_access_key = {aws_secret}\n"),
    );
    seeded.secrets.push(aws_secret);
    seeded.neighbours.push("credentials_marker_word");
    repo.write(
        ".env.example",
        "example_template_word=1\nDATABASE_PASSWORD=change-me\n",
    );

    // Secret-bearing lines in ordinary files, each after enough code to fill a chunk.
    let lines = [
        (
            "src/github_client.rs",
            "github_neighbour_word",
            format!("ghp_{}", random(ALNUM, 36)),
        ),
        (
            "src/aws.py",
            "aws_neighbour_word",
            format!("AKIA{}", random(UPPER, 16)),
        ),
        (
            "src/billing.ts",
            "stripe_neighbour_word",
            format!("sk_live_{}", random(ALNUM, 24)),
        ),
        (
            "src/ai.go",
            "openai_neighbour_word",
            format!("sk-proj-{}", random(ALNUM, 80)),
        ),
        (
            "ci/gitlab.yml",
            "gitlab_neighbour_word",
            format!("glpat-{}", random(ALNUM, 20)),
        ),
        (
            "src/storage.cs",
            "azure_neighbour_word",
            format!(
                "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={}==",
                random(BASE64, 86)
            ),
        ),
    ];
    for (path, neighbour, secret) in lines {
        let ident = path.rsplit('/').next().unwrap().replace('.', "_") + "_clean_code";
        let text = format!(
            "{}let value = \"{secret}\"; // {neighbour}\n",
            source_file(&ident, 40)
        );
        repo.write(path, &text);
        seeded.secrets.push(
            secret
                .rsplit(['_', '-', '='])
                .find(|p| p.len() >= 16)
                .unwrap()
                .to_string(),
        );
        seeded.neighbours.push(neighbour);
    }
    let sa_key: Vec<String> = (0..3).map(|_| random(BASE64, 64)).collect();
    repo.write(
        "deploy/service-account.json",
        &format!(
            "{{\n  \"type\": \"service_account\",\n  \"project_id\": \"gcp_neighbour_word\",\n  \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{}\\n-----END PRIVATE KEY-----\\n\"\n}}\n",
            sa_key.join("\\n")
        ),
    );
    seeded.secrets.extend(sa_key);
    repo.write("src/lib.rs", &source_file("ordinary_library_code", 3));
    seeded
}

fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The raw answer to a search, and its hits when it is a 200.
fn search(gw: &Gateway, query: &str) -> (String, Vec<Value>) {
    let answer = gw.manage(
        "GET",
        &format!("/search?q={}&limit=100", encode(query)),
        b"",
    );
    let text = answer.text();
    let hits = match answer.status {
        200 => answer.json()["hits"].as_array().cloned().unwrap(),
        _ => Vec::new(),
    };
    (text, hits)
}

/// Every query an assistant might try: each secret whole and in pieces, and the words around it.
fn queries(seeded: &Seeded) -> Vec<String> {
    let mut queries: Vec<String> = seeded.neighbours.iter().map(|w| w.to_string()).collect();
    for secret in &seeded.secrets {
        queries.push(secret.clone());
        queries.push(format!("\"{secret}\""));
        queries.extend(
            secret
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|p| p.len() >= 4)
                .map(str::to_string),
        );
    }
    queries.extend(
        [
            "BEGIN RSA PRIVATE KEY",
            "PRIVATE KEY",
            "private_key",
            "DATABASE_PASSWORD",
            "aws_secret_access_key",
            "AccountKey",
            "ghp",
            "sk_live",
            "glpat",
            "AKIA",
        ]
        .map(str::to_string),
    );
    queries
}

#[test]
fn no_search_answer_contains_a_seeded_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(&tmp.path().join("src"));
    let seeded = seed(&repo);
    let commit = repo.commit("seed secrets");
    for secret in &seeded.secrets {
        assert!(
            secret.len() >= 16,
            "a secret part too short to check: {secret}"
        );
    }

    // The `index` command reports what it skipped and withheld.
    let data = tmp.path().join("cli-data");
    let summary = cli_index(&repo.dir, "demo", &data);
    assert_eq!(summary["files_skipped_secret"], 4, "{summary}");
    assert_eq!(
        summary["chunks_withheld"], 7,
        "six secret lines and the service account: {summary}"
    );

    let gw = Gateway::start(tmp.path(), &config_for(&repo.url(), "github", ""));
    let body = github_push("refs/heads/main", ZEROS, &commit, false);
    let headers = signed_headers("github", "push", "secrets-1", &body, SECRET);
    let answer = post_webhook(&gw, "github", "demo", &headers, &body);
    assert!(matches!(answer.status, 200 | 202), "{}", answer.text());
    if let Some(id) = answer.json()["job_id"].as_str() {
        let job = gw.wait_finished(id);
        assert_eq!(job["state"], "succeeded", "{job}");
    }

    // The code around the secrets is searchable, so the files are indexed...
    for ident in [
        "github_client_rs_clean_code",
        "aws_py_clean_code",
        "ordinary_library_code",
    ] {
        let (_, hits) = search(&gw, ident);
        assert!(!hits.is_empty(), "{ident} is searchable");
    }
    let (_, hits) = search(&gw, "example_template_word");
    assert_eq!(hits.len(), 1, ".env.example is indexed");
    // ...and no answer to any query holds a secret, its line or a secret file.
    for query in queries(&seeded) {
        let (text, hits) = search(&gw, &query);
        for secret in &seeded.secrets {
            assert!(
                !text.contains(secret.as_str()),
                "query {query:?} answered a secret"
            );
        }
        for hit in &hits {
            let path = hit["path"].as_str().unwrap();
            assert!(!indexer::is_secret_path(path), "{query:?} found {path}");
        }
        if seeded.neighbours.contains(&query.as_str()) {
            assert!(
                hits.is_empty(),
                "{query:?}: the secret's chunk is withheld: {hits:?}"
            );
        }
    }
    let log = gw.log_text();
    for secret in &seeded.secrets {
        assert!(!log.contains(secret.as_str()), "the log holds a secret");
    }
}

#[test]
fn index_secret_files_indexes_them_but_still_withholds_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(&tmp.path().join("src"));
    let seeded = seed(&repo);
    let commit = repo.commit("seed secrets");
    let config = config_for(&repo.url(), "github", "index_secret_files = true");
    let gw = Gateway::start(tmp.path(), &config);
    let shown = gw.manage("GET", "/webhooks/config", b"").json();
    assert_eq!(shown["repos"][0]["index_secret_files"], true, "{shown}");
    let body = github_push("refs/heads/main", ZEROS, &commit, false);
    let headers = signed_headers("github", "push", "secrets-2", &body, SECRET);
    let answer = post_webhook(&gw, "github", "demo", &headers, &body);
    if let Some(id) = answer.json()["job_id"].as_str() {
        assert_eq!(gw.wait_finished(id)["state"], "succeeded");
    }
    let (_, hits) = search(&gw, "envfile_marker_word");
    assert_eq!(hits.len(), 1, "the switch indexes .env");
    assert_eq!(hits[0]["path"], ".env");
    // The key blocks inside the secret files are still withheld.
    for secret in &seeded.secrets[..4] {
        let (text, _) = search(&gw, secret);
        assert!(!text.contains(secret.as_str()));
    }
}
