#!/usr/bin/env bash
# Runs every fuzz target once, one after another, for SECS seconds each (default 180).
# Usage: fuzz/run_campaigns.sh [SECS] [target...]
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and, on a stable toolchain, RUSTC_BOOTSTRAP=1
# (set below; cargo-fuzz passes -Zsanitizer flags). New corpus entries go to
# fuzz/corpus/<target>/ (git-ignored), crashes to fuzz/artifacts/<target>/, logs to
# fuzz/logs/<target>.log (git-ignored).
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
SECS=${1:-180}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(verify_parse signature_headers chunker search_query config)
max_len() {
  case $1 in
    verify_parse | chunker) echo 8192 ;;
    config) echo 4096 ;;
    signature_headers) echo 2048 ;;
    search_query) echo 1024 ;;
  esac
}
dict() {
  case $1 in
    verify_parse | signature_headers) echo "-dict=dicts/webhook.dict" ;;
    config) echo "-dict=dicts/config.dict" ;;
  esac
}
mkdir -p logs
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t"
  # shellcheck disable=SC2046
  cargo fuzz run "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$SECS" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 $(dict "$t") 2>&1 | tee "logs/$t.log" | grep -E "INITED|DONE|ERROR|panicked|SUMMARY" || true
done
