#!/usr/bin/env bash
# Instruction counts (callgrind) of one query each through `context-gateway search` (a fresh
# process per query) on DATA_DIR, counting only inside search::index::SearchIndex::search
# (--toggle-collect), so process start and index opening are left out.
#
#   benches/compare/cg_search.sh LABEL BINARY DATA_DIR OUT_DIR
set -euo pipefail
label=$1 bin=$2 data=$3 out=$4
mkdir -p "$out"
q() {
  local name=$1; shift
  RUST_LOG=warn valgrind --tool=callgrind --toggle-collect='search::index::SearchIndex::search' \
    --callgrind-out-file="$out/search-$label-$name.cg" "$bin" search --data-dir "$data" "$@" --json \
    >"$out/search-$label-$name.json" 2>/dev/null
  echo "$label $name $(grep -h '^summary:\|^totals:' "$out/search-$label-$name.cg" | head -1 | cut -d' ' -f2) instructions," \
    "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$out/search-$label-$name.json") hits"
}
q identifier parse_args
q identifier_camel HTTPConnection
q phrase '"return self"'
q filtered_repo_ref_prefix "decode header" --repo cpython --ref main --path email/
q filtered_glob assertEqual --path '**/test_*.py'
q words_ranked "parse the header of a tar archive"
