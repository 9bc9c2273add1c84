#!/usr/bin/env bash
# Instruction counts (callgrind) of one whole `context-gateway index` of TREE into a fresh data
# dir, of the rescan that follows, and of the indexer crate's index_tree example (counting
# sink) on the same tree. Deterministic to ~0.05 % for the same binary and tree.
#
#   benches/compare/cg_index.sh LABEL TARGET_DIR TREE OUT_DIR
set -euo pipefail
label=$1 target=$2 tree=$3 out=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
cg() { valgrind --tool=callgrind --callgrind-out-file="$out/$1-$label.cg" "${@:2}" 2>>"$work/vg.log"; }
RUST_LOG=warn cg index "$target/release/context-gateway" index "$tree" --name tree --data-dir "$work/data" --json
RUST_LOG=warn cg rescan "$target/release/context-gateway" index "$tree" --name tree --data-dir "$work/data" --json
cg indextree "$target/release/examples/index_tree" "$tree"
grep -h "Collected" "$work/vg.log"
