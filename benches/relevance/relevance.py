#!/usr/bin/env python3
"""Judged relevance of `context-gateway search` against SQLite FTS5, by the docstring method.

The method of CodeSearchNet: the first sentence of a function's docstring is the query, the
function's own name is removed from it, every docstring is blanked out of the corpus, and the
file that defines the function is the one right answer. Two corpora in two languages: the
Python standard library of this machine's python3, and Rust crate sources from the cargo
registry (whose `///` docs become the queries). Per corpus, QUERIES queries drawn with a fixed
seed; for each engine: recall@10 (the answer among the first ten hits), MRR@10 and empty
answers.

Engines, from the same blanked files:
- gateway: `context-gateway index` then `context-gateway search --json --limit 10` per query
  (the release binary; pass --bin);
- fts5: SQLite FTS5 built here with Python's sqlite3: porter stemmer, 50-line windows, the
  query's words OR'ed, ranked by bm25.

Usage: relevance.py --bin target/release/context-gateway [--queries 300] [--seed 21]
                    [--work DIR] [--json OUT]
"""

import argparse
import ast
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

WINDOW_LINES = 50
TOP = 10
MAX_QUERY_WORDS = 20
MIN_QUERY_WORDS = 3
RUST_CRATES = [
    "aho-corasick", "bytes", "clap_builder", "criterion", "crossbeam-channel",
    "crossbeam-epoch", "futures-util", "globset", "hashbrown", "http", "hyper", "hyper-util",
    "ignore", "indexmap", "lz4_flex", "memchr", "proptest", "rayon", "rayon-core",
    "regex-automata", "regex-syntax", "serde_json", "smallvec", "tantivy", "tantivy-columnar",
    "tantivy-sstable", "time", "tokio", "toml_edit", "tracing-subscriber",
]
PY_SKIP_DIRS = {"site-packages", "test", "tests", "idle_test", "__pycache__", "lib2to3"}


def first_sentence(doc):
    text = " ".join(doc.strip().split("\n\n")[0].split())
    m = re.search(r"\.(\s|$)", text)
    return text[: m.start()] if m else text


def query_from(doc, name):
    sentence = first_sentence(doc)
    # The function's own name is removed (as a word, any case).
    sentence = re.sub(r"(?i)(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])", " ", sentence)
    words = sentence.split()
    if len(re.findall(r"[A-Za-z0-9_]+", sentence)) < MIN_QUERY_WORDS:
        return None
    return " ".join(words[:MAX_QUERY_WORDS])


def python_corpus(src, dst):
    """Copies the stdlib with docstrings blanked; returns [(query, relpath)]."""
    candidates = []
    for root, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d not in PY_SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = Path(root) / name
            rel = path.relative_to(src).as_posix()
            try:
                text = path.read_text(encoding="utf-8")
                tree = ast.parse(text)
            except (UnicodeDecodeError, SyntaxError, ValueError):
                continue
            lines = text.split("\n")
            for node in ast.walk(tree):
                if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                body = node.body
                if not (body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
                        and isinstance(body[0].value.value, str)):
                    continue
                doc_node = body[0]
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    q = query_from(doc_node.value.value, node.name)
                    if q:
                        candidates.append((q, rel))
                # Blank the docstring, keeping line numbers.
                a, b = doc_node.lineno - 1, doc_node.end_lineno - 1
                first = lines[a]
                lines[a] = first[: doc_node.col_offset] + '""' + (lines[b][doc_node.end_col_offset:] if a == b else "")
                for i in range(a + 1, b + 1):
                    lines[i] = lines[b][doc_node.end_col_offset:] if i == b else ""
            out = dst / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("\n".join(lines), encoding="utf-8")
    return candidates


FN_RE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:(?:const|async|unsafe|extern\s+\"[^\"]*\"|default)\s+)*fn\s+([A-Za-z_][A-Za-z0-9_]*)")


def rust_corpus(registry, dst):
    """Copies the chosen crates with `///` and `//!` docs blanked; returns [(query, relpath)]."""
    candidates = []
    for crate in RUST_CRATES:
        versions = sorted(
            (p for p in registry.glob(crate + "-*") if re.fullmatch(re.escape(crate) + r"-\d+\.\d+\.\d+.*", p.name)),
            key=lambda p: [int(x) if x.isdigit() else 0 for x in re.split(r"[.\-+]", p.name[len(crate) + 1:])],
        )
        if not versions:
            continue
        top = versions[-1]
        for path in sorted(top.rglob("*.rs")):
            rel_in = path.relative_to(top)
            if any(part in ("tests", "benches", "examples", "target") for part in rel_in.parts[:-1]):
                continue
            rel = (Path(top.name) / rel_in).as_posix()
            try:
                lines = path.read_text(encoding="utf-8").split("\n")
            except UnicodeDecodeError:
                continue
            doc = []
            for i, line in enumerate(lines):
                stripped = line.strip()
                if stripped.startswith("///") and not stripped.startswith("////"):
                    doc.append(stripped[3:].strip())
                    lines[i] = ""
                    continue
                if stripped.startswith("//!"):
                    lines[i] = ""
                    continue
                if doc and (stripped.startswith("#[") or stripped == ""):
                    continue
                if doc:
                    m = FN_RE.match(line)
                    if m:
                        q = query_from("\n".join(doc), m.group(1))
                        if q:
                            candidates.append((q, rel))
                    doc = []
            out = dst / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("\n".join(lines), encoding="utf-8")
    return candidates


def fts5_engine(root, db_path, build=True):
    db = sqlite3.connect(db_path)
    rows = []
    if build:
        fts5_fill(db, root, rows)
    else:
        rows = db.execute("SELECT count(*) FROM w").fetchone()[0] * [None]

    def search(query):
        words = re.findall(r"[A-Za-z0-9_]+", query)
        if not words:
            return []
        match = " OR ".join('"' + w + '"' for w in words)
        return [r[0] for r in db.execute(
            "SELECT path FROM w WHERE w MATCH ? ORDER BY bm25(w) LIMIT ?", (match, TOP))]

    return search, len(rows)


def fts5_fill(db, root, rows):
    db.execute("CREATE VIRTUAL TABLE w USING fts5(path UNINDEXED, body, tokenize='porter unicode61')")
    rows = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
        for start in range(0, len(lines), WINDOW_LINES):
            rows.append((rel, "\n".join(lines[start : start + WINDOW_LINES])))
    db.executemany("INSERT INTO w (path, body) VALUES (?, ?)", rows)
    db.commit()


def batch_engine(batch, data_dir, group_by_file):
    """All queries through one process of the search crate's `batch_query` example."""
    cache = {}

    def run(queries):
        args = [batch, str(data_dir / "search"), "--limit", str(TOP)]
        if group_by_file:
            args.append("--group-by-file")
        out = subprocess.run(args, input="\n".join(queries) + "\n", capture_output=True,
                             text=True, check=True).stdout.split("\n")
        for q, line in zip(queries, out):
            cache[q] = None if line.startswith("!") else [p for p in line.split("\t") if p]

    def search(query):
        return cache[query]

    return run, search


def gateway_engine(binary, root, data_dir, name, build=True):
    summary = None
    if build:
        out = subprocess.run(
            [binary, "index", str(root), "--name", name, "--data-dir", str(data_dir), "--json"],
            check=True, capture_output=True, text=True)
        summary = json.loads(out.stdout.strip().splitlines()[-1])

    def search(query):
        res = subprocess.run(
            [binary, "search", "--data-dir", str(data_dir), "--limit", str(TOP), "--json", "--", query],
            capture_output=True, text=True)
        if res.returncode != 0:
            return None  # refused (counted as empty)
        return [h["path"] for h in json.loads(res.stdout)]

    return search, summary


def score(engine, queries):
    found, rr, empty, ranks, empties = 0, 0.0, 0, [], []
    for q, answer in queries:
        hits = engine(q)
        empties.append(not hits)
        if not hits:
            empty += 1
            ranks.append(None)
            continue
        rank = next((i + 1 for i, p in enumerate(hits[:TOP]) if p == answer), None)
        ranks.append(rank)
        if rank:
            found += 1
            rr += 1.0 / rank
    n = len(queries)
    return {"recall@10": found / n, "mrr@10": rr / n, "empty": empty, "ranks": ranks, "empties": empties}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the context-gateway binary (release)")
    ap.add_argument("--batch", help="the search crate's batch_query example: run the queries in "
                    "one process instead of one `context-gateway search` per query")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--work", help="keep corpora and indexes here (default: a temp dir)")
    ap.add_argument("--json", help="write the full results here")
    ap.add_argument("--corpus", action="append", choices=["python", "rust"], help="default: both")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse the corpora and indexes already in --work (only the queries run)")
    args = ap.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="relevance-"))
    work.mkdir(parents=True, exist_ok=True)
    binary = str(Path(args.bin).resolve())
    corpora = {
        "python": (lambda d: python_corpus(Path(sysconfig.get_paths()["stdlib"]), d),
                   "Python " + sys.version.split()[0] + " standard library"),
        "rust": (lambda d: rust_corpus(Path.home() / ".cargo/registry/src" / next(iter(os.listdir(Path.home() / ".cargo/registry/src"))), d),
                 "Rust crates (" + str(len(RUST_CRATES)) + " from the cargo registry)"),
    }
    results = {}
    print("| corpus | files | queries | engine | recall@10 | MRR@10 | empty | empty where FTS5 is not |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.corpus or ["python", "rust"]:
        build, label = corpora[name]
        root = work / name / "src"
        reuse = args.reuse and root.exists()
        if reuse:
            candidates = json.loads((work / name / "candidates.json").read_text())
        else:
            if root.exists():
                shutil.rmtree(root)
            root.mkdir(parents=True)
            candidates = build(root)
            (work / name / "candidates.json").write_text(json.dumps(candidates))
        candidates = [tuple(c) for c in candidates]
        queries = random.Random(args.seed).sample(candidates, min(args.queries, len(candidates)))
        files = sum(1 for p in root.rglob("*") if p.is_file())
        db = work / name / "fts5.db"
        if db.exists() and not reuse:
            db.unlink()
        fts, windows = fts5_engine(root, db, build=not db.exists())
        data_dir = work / name / "gateway"
        if data_dir.exists() and not reuse:
            shutil.rmtree(data_dir)
        gateway, summary = gateway_engine(binary, root, data_dir, name, build=not data_dir.exists())
        per = {"fts5": score(fts, queries)}
        if args.batch:
            for engine, grouped in (("gateway", False), ("gateway, group=file", True)):
                run, search = batch_engine(str(Path(args.batch).resolve()), data_dir, grouped)
                run([q for q, _ in queries])
                per[engine] = score(search, queries)
        else:
            per["gateway"] = score(gateway, queries)
        for engine in per:
            per[engine]["empty_where_fts5_not"] = sum(
                1 for g, f in zip(per[engine]["empties"], per["fts5"]["empties"]) if g and not f)
        for engine in [e for e in per if e != "fts5"] + ["fts5"]:
            r = per[engine]
            worse = "" if engine == "fts5" else str(r["empty_where_fts5_not"])
            print(f"| {label} | {files} | {len(queries)} | {engine} | {r['recall@10']:.3f} | "
                  f"{r['mrr@10']:.3f} | {r['empty']} | {worse} |", flush=True)
        results[name] = {"label": label, "files": files, "fts5_windows": windows, "gateway_index": summary,
                         "queries": [{"query": q, "answer": a, "gateway_rank": g, "fts5_rank": f}
                                     for (q, a), g, f in zip(queries, per["gateway"]["ranks"], per["fts5"]["ranks"])],
                         **{e: {k: v for k, v in per[e].items() if k not in ("ranks", "empties")} for e in per}}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
