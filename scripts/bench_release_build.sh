#!/usr/bin/env bash
# Clean and incremental build times of a cargo profile, as a newcomer meets them.
#   scripts/bench_release_build.sh [PROFILE]     # release (default) or dist
# The clean build uses a target directory of its own (dependencies included, nothing cached
# but the downloaded crates); the incremental build then touches src/lib.rs and rebuilds.
# Prints one line per build: profile, kind, wall seconds, user+sys CPU seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-release}"
target="$(mktemp -d /tmp/weir-build-XXXXXX)"
trap 'rm -rf "$target"' EXIT
measure() {
  local kind="$1"
  /usr/bin/time -f "%e %U %S" -o "$target/time" \
    cargo build --locked --quiet --profile "$profile" --target-dir "$target" --bin weir
  read -r wall user sys < "$target/time"
  printf '%s %s wall %.0f s, cpu %.0f s\n' "$profile" "$kind" "$wall" "$(echo "$user + $sys" | bc)"
}
measure clean
touch src/lib.rs
measure incremental
