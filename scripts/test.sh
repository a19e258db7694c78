#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the checks need, then runs them all.
#   1. cargo fmt --check
#   2. the manifests written for example_project and the jaffle_shop-shaped fixture validate
#      against dbt's published manifest v12 schema
#   3. the Rust tests (unit tests and the end-to-end binary tests/it), last so their summary
#      closes the output
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo build --locked

# Tables weir builds hold the rows dbt-duckdb builds, read back by another Delta reader.
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore deltalake pyarrow
# example_project is built twice on the same warehouse: the second build is the next load of
# its stock feed (`load_batch: 2`), so every incremental strategy and on_schema_change mode
# runs on existing tables with new data; both states are compared.
rows="$(mktemp -d)"
for p in example_project tests/fixtures/jaffle_like; do
  name="$(basename "$p")"
  cp -a "$p" "$rows/$name"
  rm -rf "$rows/$name/target" "$rows/$name/warehouse"
  target/debug/weir build -q --project-dir "$rows/$name"
  python3 scripts/expected_rows.py compare "tests/fixtures/expected_rows/$name" "$rows/$name/warehouse"
  if [[ -d "tests/fixtures/expected_rows/${name}_run2" ]]; then
    target/debug/weir build -q --project-dir "$rows/$name" --vars '{load_batch: 2}'
    python3 scripts/expected_rows.py compare "tests/fixtures/expected_rows/${name}_run2" "$rows/$name/warehouse"
  fi
done
rm -rf "$rows"
python3 scripts/check_store_failures.py target/debug/weir  # store_failures tables read by deltalake
# Two builds at once on one warehouse: the lock keeps every table's rows exact (5 + 5 trials).
python3 scripts/check_concurrency.py target/debug/weir --trials 5
# A full refresh killed with SIGKILL at 20 random points: every table whole, then restored.
python3 scripts/check_crash.py target/debug/weir --kills 20

if [[ -f scripts/check_manifest_schema.py ]]; then
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r scripts/requirements-check.txt
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  for p in example_project tests/fixtures/jaffle_like; do
    cp -a "$p" "$work/$(basename "$p")"
    rm -rf "$work/$(basename "$p")/target"
    target/debug/weir compile -q --project-dir "$work/$(basename "$p")"
    python3 scripts/check_manifest_schema.py "$work/$(basename "$p")/target/manifest.json"
  done
fi

cargo test --locked
