#!/usr/bin/env python3
"""Regenerates the committed seed corpus under fuzz/seeds/<target>/.

Run from anywhere: `python3 fuzz/make_seeds.py`. The seeds are small: the webhook-core
fixtures in the verify_parse layout, example configs, code-shaped texts and query words.
"""
import json
import pathlib

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent
SEEDS = FUZZ / "seeds"
FIXTURES = ROOT / "crates/webhook-core/tests/fixtures"
# Registry::ids() order, as the verify_parse target indexes it.
IDS = ["azure-devops", "bitbucket", "gitea", "github", "gitlab"]


def write(target, name, data):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def verify_parse():
    for provider in IDS:
        for case in sorted((FIXTURES / provider).glob("*.case.json")):
            body = case.with_name(case.name.replace(".case.json", ".json")).read_bytes()
            headers = json.loads(case.read_text())["headers"]
            head = "".join(f"{k}: {v}\n" for k, v in headers.items()).encode()
            stem = case.name.replace(".case.json", "")
            index = IDS.index(provider)
            # Unsigned (verify fails) and signed (bit 7) variants.
            write("verify_parse", f"{provider}-{stem}", bytes([index]) + head + b"\n" + body)
            write("verify_parse", f"{provider}-{stem}-signed", bytes([0x80 | index]) + head + b"\n" + body)
    gitlab = IDS.index("gitlab")
    write("verify_parse", "gitlab-whsec-signed", bytes([0xC0 | gitlab]) + b"X-Gitlab-Event: Push Hook\n\n{}")
    write("verify_parse", "github-bad-sig", bytes([IDS.index("github")])
          + b"X-GitHub-Event: push\nX-Hub-Signature-256: sha256=00\nX-Hub-Signature-256: sha256=zz\n\n{\"ref\":1}")
    write("verify_parse", "azure-basic", bytes([0])
          + b"Authorization: Basic Z2F0ZXdheTpmaXh0dXJlLXBhc3N3b3Jk\n\n{\"eventType\":\"git.push\"}")


def signature_headers():
    # Structured (arbitrary) input: any bytes decode; these give the fuzzer varied starts.
    for i, raw in enumerate([
        b"\x00\x00",
        b"\x03\x02\x01\x07sha256=\x00\x01\x02",
        b"\x04\x01\x02\x08\x02\x03v1,AAAA\x07\x00",
        b"\x00\x01\x00\x09\x06\x02Z2F0ZXdheTpmaXh0dXJlLXBhc3N3b3Jk",
        b"\x04\x02\x02\x01\x02\x00\x00{}\x05\x01",
    ]):
        write("signature_headers", f"seed-{i}", raw)


CODE = """use std::io;

/// Parses a request.
pub fn parse_http_request(raw: &[u8]) -> io::Result<Request> {
    let mut lines = raw.split(|b| *b == b'\\n');
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
    }
    Ok(Request::default())
}

impl Drop for Request {
    fn drop(&mut self) {}
}
"""


def chunker():
    write("chunker", "rust-default", b"\x00\x00\x00\x00" + CODE.encode())
    write("chunker", "rust-small", b"\x03\x10\x02\x04" + CODE.encode())
    write("chunker", "crlf", b"\x01\x01\x01\x01" + CODE.replace("\n", "\r\n").encode())
    write("chunker", "braces", b"\x02\x08\x00\x00" + b"}\n" * 64 + b"{\n" * 8)
    write("chunker", "long-line", b"\x00\x40\x00\x01" + b"x" * 2000 + b"\ny\n")
    write("chunker", "unicode", b"\x05\x05\x05\x05" + "日本語\n🦀\tß\n\n\n".encode() + b"\xff\xfe\n")
    write("chunker", "python", b"\x04\x20\x04\x20" + b"class A:\n    def f(self):\n        pass\n\n\ndef g():\n    return 1\n")


def search_query():
    for i, text in enumerate([
        b"parse_http_request",
        b"parseHttpRequest",
        b"\"signature verifier\"",
        b"AND OR NOT field:value",
        b"[*?]{}()+:~^ \"",
        b"\x01demo\x01refs/heads/main\x01src/**/*.rs",
        b"verify\x01other/repo\x00\x01deep/\x05",
        "日本語 🦀 Ünïcödé".encode(),
    ]):
        write("search_query", f"seed-{i}", text)


def config():
    write("config", "example", (ROOT / "examples/gateway.toml").read_bytes())
    write("config", "minimal", """#secret=default-secret
listen = "127.0.0.1:0"
data_dir = "/tmp/x"

[[repos]]
name = "demo"
provider = "github"
url = "file:///tmp/demo"
branches = ["main", "*"]
""")
    write("config", "bad", """listen = 12
[[repos]]
name = "a/../b"
provider = "nope"
branches = ["--upload-pack=x"]
[rate_limit]
per_ip_per_sec = -1
""")


for make in (verify_parse, signature_headers, chunker, search_query, config):
    make()
