#!/usr/bin/env bash
# The one entry point of the benchmark suite: installs the peers if missing, builds in release
# mode, runs the chosen benchmarks against 127.0.0.1 only with bounded durations, and writes a
# Markdown report (docs/BENCHMARKS.md explains every number).
#
#   benches/run.sh                     # everything (about 25 minutes on 2 cores)
#   benches/run.sh --quick             # everything, short runs, one repetition (about 8 minutes)
#   benches/run.sh ingest coalescing   # a subset
#   benches/run.sh --reps 5 --duration 10 ingest
#   benches/run.sh --no-build p2s      # reuse the release binaries already built
#   benches/run.sh relevance           # judged relevance beside SQLite FTS5 (about 4 minutes)
#
# Parts: ingest coalescing p2s p2d search indexer jobstore feed verify relevance
# Output: $BENCH_OUT (default $CARGO_TARGET_DIR/bench-report, else target/bench-report):
#   report.md plus the raw JSON and criterion logs it was built from.
# Peers are taken from PATH, else from $BENCH_TOOLS/bin (default $CARGO_TARGET_DIR/bench-tools).
# Missing ones are installed: rg and b3sum with `cargo install --root $BENCH_TOOLS`; wrk,
# webhook and nginx from the distribution (apt-get, as root). The search bench reads the
# CPython standard library of the machine's python3 unless SEARCH_BENCH_CORPUS names a tree.
# CI does not run this; it runs `cargo bench --no-run`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
export CARGO_TARGET_DIR=$target
out=${BENCH_OUT:-$target/bench-report}
quick=0 build=1 reps="" duration="" parts=()
while (($#)); do
  case $1 in
    --quick) quick=1 ;;
    --no-build) build=0 ;;
    --reps) reps=$2; shift ;;
    --duration) duration=$2; shift ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;;
    ingest|coalescing|p2s|p2d|search|indexer|jobstore|feed|verify|relevance) parts+=("$1") ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
((${#parts[@]})) || parts=(ingest coalescing p2s p2d search indexer jobstore feed verify relevance)
if ((quick)); then reps=${reps:-1} duration=${duration:-3}; else reps=${reps:-3} duration=${duration:-10}; fi
criterion_args=(--warm-up-time 1 --measurement-time 3)
((quick)) && criterion_args=(--warm-up-time 1 --measurement-time 1)
mkdir -p "$out"
want() { local p; for p in "${parts[@]}"; do [[ $p == "$1" ]] && return 0; done; return 1; }
log() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)" >&2; }
# Each part starts with the disk settled: on ext4 (data=ordered) an fsync also writes out other
# files' dirty pages, so a part that fsyncs (the gateway's index commits) would otherwise pay
# for the previous part's writes (seen: `context-gateway index` 16-19 s right after p2s or a
# cargo build, 7.9-8.9 s after `sync`).
begin() { sync; log "$@"; }
# criterion BENCH: one criterion bench of gateway-benches, its output into $out/BENCH.txt.
criterion() {
  cargo bench -q -p gateway-benches --bench "$1" -- "${criterion_args[@]}" >"$out/$1.txt" 2>&1
}

# --- peers -------------------------------------------------------------------------------
# PATH first, then the tools this script installed earlier; the Python scripts and the search
# bench look in the same places.
export BENCH_TOOLS=${BENCH_TOOLS:-$target/bench-tools}
export PATH=$PATH:$BENCH_TOOLS/bin
crates=() packages=()
{ want search || want indexer; } && for pair in rg:ripgrep b3sum:b3sum; do
  command -v "${pair%%:*}" >/dev/null || crates+=("${pair#*:}")
done
want ingest && for cmd in wrk webhook nginx; do
  command -v "$cmd" >/dev/null || packages+=("$cmd")
done
if ((${#crates[@]})); then
  log "cargo install --locked --root $BENCH_TOOLS ${crates[*]}"
  cargo install --locked --quiet --root "$BENCH_TOOLS" "${crates[@]}"
fi
if ((${#packages[@]})); then
  if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
    log "installing ${packages[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
    # The nginx package starts a service on port 80 where an init system exists; we run our own.
  else
    echo "missing peers: ${packages[*]} (install them with your package manager)" >&2
    exit 1
  fi
fi
if want search && [[ -z ${SEARCH_BENCH_CORPUS:-} ]]; then
  SEARCH_BENCH_CORPUS=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
  export SEARCH_BENCH_CORPUS
fi

# --- build -------------------------------------------------------------------------------
gateway=$target/release/context-gateway
if ((build)) && { want ingest || want coalescing || want p2s || want p2d || want indexer || want relevance; }; then
  log "cargo build --release -p context-gateway"
  cargo build --release -q -p context-gateway
fi
if { want ingest || want coalescing || want p2s || want p2d || want indexer || want relevance; } && [[ ! -x $gateway ]]; then
  echo "$gateway is missing: run without --no-build, or set CARGO_TARGET_DIR" >&2
  exit 1
fi
if ((build)) && want indexer; then
  log "cargo build --release -p indexer --example index_tree"
  cargo build --release -q -p indexer --example index_tree
fi
if ((build)) && want relevance; then
  log "cargo build --release -p search --example batch_query"
  cargo build --release -q -p search --example batch_query
fi

# --- runs --------------------------------------------------------------------------------
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "cores: $(nproc)"
  echo "flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|avx512f|sha_ni|aes|vaes|bmi2' | tr '\n' ' ')"
  echo "memory: $(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "quick: $quick, reps: $reps, duration: ${duration}s"
  echo "wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
  echo "webhook: $(webhook -version 2>/dev/null || true)"
  echo "nginx: $(nginx -v 2>&1 | cut -d/ -f2)"
} >"$out/machine.txt" 2>/dev/null || true

status=0
if want ingest; then
  begin "ingest: wrk against context-gateway, adnanh/webhook, nginx"
  python3 benches/load/ingest.py --binary "$gateway" --duration "$duration" --reps "$reps" \
    --json-out "$out/ingest.json" ${BENCH_PROFILE:+--profile-dir "$out/profile"} || status=1
fi
if want coalescing; then
  begin "coalescing: a burst of pushes to one branch"
  python3 benches/load/coalescing.py --binary "$gateway" --json-out "$out/coalescing.json" \
    $( ((quick)) && echo "--pushes 300 --files 300") || status=1
fi
if want p2s; then
  begin "push-to-searchable"
  python3 benches/push_to_searchable.py --binary "$gateway" --json \
    $( ((quick)) && echo "--files 2000 --pushes 10" || echo "--pushes 50") >"$out/p2s.json" || status=1
fi
if want p2d; then
  begin "push-to-delta: a long-polling consumer of /changes"
  python3 benches/push_to_delta.py --binary "$gateway" --json \
    $( ((quick)) && echo "--files 2000 --pushes 10" || echo "--pushes 50") >"$out/p2d.json" || status=1
fi
if want indexer; then
  begin "indexer whole-process on the CPython stdlib beside b3sum and git status"
  python3 benches/load/tree_index.py --index-tree "$target/release/examples/index_tree" \
    --gateway "$gateway" --tree "$out/corpus/cpython" --reps "$reps" \
    --json-out "$out/indexer.json" || status=1
fi
if want search; then
  begin "criterion: search_query (query latency beside rg)"
  criterion search_query || status=1
fi
if want relevance; then
  begin "relevance: the docstring method on two corpora beside SQLite FTS5"
  python3 benches/relevance/relevance.py --bin "$gateway" --work "$out/relevance" \
    --json "$out/relevance.json" >"$out/relevance.md" || status=1
fi
if want jobstore; then
  begin "criterion: jobstore_queue"
  criterion jobstore_queue || status=1
fi
if want feed; then
  begin "criterion: feed_commit (sled, and PostgreSQL when CG_POSTGRES_URL is set)"
  criterion feed_commit || status=1
fi
if want verify; then
  begin "criterion: webhook_verify"
  criterion webhook_verify || status=1
fi

python3 benches/load/report.py "$out" >"$out/report.md"
log "report: $out/report.md"
cat "$out/report.md"
exit $status
