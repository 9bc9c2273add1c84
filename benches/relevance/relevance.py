#!/usr/bin/env python3
"""Judged relevance of `context-gateway search` against SQLite FTS5, by the docstring method.

The method of CodeSearchNet: the first sentence of a function's docstring is the query, the
function's own name is removed from it, every docstring is blanked out of the corpus, and the
file that defines the function is the one right answer. Two corpora in two languages: the
Python standard library of this machine's python3, and Rust crate sources from the cargo
registry (whose `///` docs become the queries). Per corpus, 2 x QUERIES queries drawn with a
fixed seed and cut in two halves: ranking changes are tuned on the first ("tune") and checked
on the second ("held out"), so a gain that only fits the answer key shows as a gap between
them. For each engine and half: recall@10 (the answer among the first ten hits), MRR@10, the
ratio of MRR@10 to FTS5's, and empty answers (in all and where FTS5 has hits).

Engines, from the same blanked files:
- gateway: `context-gateway index` (the release binary; pass --bin), then the queries through
  the search crate's `batch_query` example in one process (found beside the binary, or
  --batch), per chunk and grouped by file; without the example, `context-gateway search
  --json --limit 10` per query;
- fts5: SQLite FTS5 built here with Python's sqlite3: porter stemmer, 50-line windows, the
  query's words OR'ed, ranked by bm25.

Usage: relevance.py --bin target/release/context-gateway [--queries 300] [--seed 21]
                    [--work DIR] [--json OUT] [--corpus python|rust] [--half tune|held-out]
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
                # (ast columns are UTF-8 byte offsets.)
                a, b = doc_node.lineno - 1, doc_node.end_lineno - 1
                head = lines[a].encode()[: doc_node.col_offset].decode()
                tail = lines[b].encode()[doc_node.end_col_offset:].decode()
                lines[a] = head + '""' + (tail if a == b else "")
                for i in range(a + 1, b + 1):
                    lines[i] = tail if i == b else ""
            out = dst / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("\n".join(lines), encoding="utf-8")
    return candidates


FN_RE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:(?:const|async|unsafe|extern\s+\"[^\"]*\"|default)\s+)*fn\s+([A-Za-z_][A-Za-z0-9_]*)")


def rust_corpus(registry, dst):
    """Copies the chosen crates with their docs (`///`, `//!`, `/** */`, `/*! */`) blanked;
    returns [(query, relpath)]."""
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
            in_block_doc = False
            for i, line in enumerate(lines):
                stripped = line.strip()
                # `/** ... */` and `/*! ... */` are docs too: blanked (never queries).
                if in_block_doc or ((stripped.startswith("/**") and not stripped.startswith("/***")
                                     and stripped != "/**/") or stripped.startswith("/*!")):
                    in_block_doc = "*/" not in stripped[3 if not in_block_doc else 0:]
                    lines[i] = ""
                    continue
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
    if build:
        fts5_fill(db, root)
    windows = db.execute("SELECT count(*) FROM w").fetchone()[0]

    def search(query):
        words = re.findall(r"[A-Za-z0-9_]+", query)
        if not words:
            return []
        match = " OR ".join('"' + w + '"' for w in words)
        return [r[0] for r in db.execute(
            "SELECT path FROM w WHERE w MATCH ? ORDER BY bm25(w) LIMIT ?", (match, TOP))]

    return search, windows


def fts5_fill(db, root):
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


def ranks_of(engine, queries):
    """Per query: the rank of the answer in the first TOP hits (None if absent), and whether
    the answer was empty."""
    ranks, empties = [], []
    for q, answer in queries:
        hits = engine(q)
        empties.append(not hits)
        ranks.append(next((i + 1 for i, p in enumerate((hits or [])[:TOP]) if p == answer), None))
    return ranks, empties


def metrics(ranks, empties, fts5_empties):
    n = len(ranks)
    return {"recall@10": sum(1 for r in ranks if r) / n,
            "mrr@10": sum(1.0 / r for r in ranks if r) / n,
            "empty": sum(empties),
            "empty_where_fts5_not": sum(1 for e, f in zip(empties, fts5_empties) if e and not f)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the context-gateway binary (release)")
    ap.add_argument("--batch", help="the search crate's batch_query example (default: "
                    "examples/batch_query beside --bin, if built; else one `context-gateway "
                    "search` per query)")
    ap.add_argument("--queries", type=int, default=300, help="queries per half (default 300)")
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--work", help="keep corpora and indexes here (default: a temp dir)")
    ap.add_argument("--json", help="write the full results here")
    ap.add_argument("--corpus", action="append", choices=["python", "rust"], help="default: both")
    ap.add_argument("--half", choices=["tune", "held-out"],
                    help="print only this half (tune with --half tune, so the held-out half stays unseen)")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse the corpora and indexes already in --work (only the queries run)")
    args = ap.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="relevance-"))
    work.mkdir(parents=True, exist_ok=True)
    binary = str(Path(args.bin).resolve())
    batch = args.batch or str(Path(binary).parent / "examples" / "batch_query")
    if not Path(batch).is_file():
        if args.batch:
            sys.exit(f"--batch {args.batch}: no such file")
        batch = None
    registry = Path.home() / ".cargo/registry/src"
    corpora = {
        "python": (lambda d: python_corpus(Path(sysconfig.get_paths()["stdlib"]), d),
                   "Python " + sys.version.split()[0] + " stdlib"),
        "rust": (lambda d: rust_corpus(registry / sorted(os.listdir(registry))[0], d),
                 str(len(RUST_CRATES)) + " Rust crates"),
    }
    halves = {"tune": slice(0, args.queries), "held-out": slice(args.queries, 2 * args.queries)}
    if args.half:
        halves = {args.half: halves[args.half]}
    results = {}
    print("| corpus | files | half | queries | engine | recall@10 | MRR@10 | ÷ FTS5 | empty | empty where FTS5 has hits |")
    print("|---|---|---|---|---|---|---|---|---|---|")
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
        queries = random.Random(args.seed).sample(candidates, min(2 * args.queries, len(candidates)))
        files = sum(1 for p in root.rglob("*") if p.is_file())
        db = work / name / "fts5.db"
        if db.exists() and not reuse:
            db.unlink()
        fts, windows = fts5_engine(root, db, build=not db.exists())
        data_dir = work / name / "gateway"
        if data_dir.exists() and not reuse:
            shutil.rmtree(data_dir)
        gateway, summary = gateway_engine(binary, root, data_dir, name, build=not data_dir.exists())
        per = {"fts5": ranks_of(fts, queries)}
        if batch:
            for engine, grouped in (("gateway", False), ("gateway, group=file", True)):
                run, search = batch_engine(batch, data_dir, grouped)
                run([q for q, _ in queries])
                per[engine] = ranks_of(search, queries)
        else:
            per["gateway"] = ranks_of(gateway, queries)
        order = [e for e in per if e != "fts5"] + ["fts5"]
        results[name] = {"label": label, "files": files, "fts5_windows": windows,
                         "gateway_index": summary, "halves": {},
                         "queries": [{"query": q, "answer": a, "half": "tune" if i < args.queries else "held-out",
                                      **{e + "_rank": per[e][0][i] for e in per}}
                                     for i, (q, a) in enumerate(queries)]}
        for half, cut in halves.items():
            n = len(queries[cut])
            if not n:
                continue
            fts5_empties = per["fts5"][1][cut]
            m = {e: metrics(per[e][0][cut], per[e][1][cut], fts5_empties) for e in per}
            results[name]["halves"][half] = m
            for engine in order:
                r = m[engine]
                ratio = r["mrr@10"] / m["fts5"]["mrr@10"] if m["fts5"]["mrr@10"] else float("nan")
                worse = "" if engine == "fts5" else str(r["empty_where_fts5_not"])
                print(f"| {label} | {files} | {half} | {n} | {engine} | {r['recall@10']:.3f} | "
                      f"{r['mrr@10']:.3f} | {ratio:.2f}× | {r['empty']} | {worse} |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
