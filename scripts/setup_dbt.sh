#!/usr/bin/env bash
# Install dbt-core 1.12 + dbt-duckdb into a venv, for comparing weir against dbt.
# Usage: scripts/setup_dbt.sh [VENV_DIR]    (default /opt/dbtenv)
set -euo pipefail

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

DIR="${1:-/opt/dbtenv}"
export DBT_SEND_ANONYMOUS_USAGE_STATS=false DBT_VERSION_CHECK=false

if [[ -x "$DIR/bin/dbt" ]] && "$DIR/bin/dbt" --version >/dev/null 2>&1; then
  echo "dbt already installed in $DIR"
  "$DIR/bin/dbt" --version
  exit 0
fi

python3 -m venv "$DIR"
"$DIR/bin/pip" install --quiet --upgrade pip

# dbt-core-experimental-parser only ships a prebuilt wheel at an alpha version
# (2.0.0a4); an sdist build would fail here, so fetch the wheel explicitly.
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
"$DIR/bin/pip" download --quiet --no-deps --only-binary :all: -d "$TMP" dbt-core-experimental-parser
"$DIR/bin/pip" install --quiet "$TMP"/*.whl dbt-core==1.12.0 dbt-duckdb
# Then move dbt-core to the latest 1.12 patch without re-resolving its deps.
"$DIR/bin/pip" install --quiet --no-deps dbt-core==1.12.6

"$DIR/bin/dbt" --version
