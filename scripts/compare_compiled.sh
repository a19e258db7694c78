#!/usr/bin/env bash
# Compare weir's compiled SQL with dbt's, up to whitespace and the database name (dbt-duckdb
# names the database after its file; weir's default is "warehouse").
# usage: compare_compiled.sh EXPECTED_DIR ACTUAL_DIR DBT_DATABASE
set -euo pipefail
if [ "${1:-}" = "-h" ] || [ $# -lt 3 ]; then
  echo "usage: $0 EXPECTED_COMPILED_DIR ACTUAL_COMPILED_DIR DBT_DATABASE_NAME" >&2
  exit 2
fi
exp=$1 act=$2 db=$3
norm() { sed -e "s/\"$db\"\./\"warehouse\"./g" -e "s/\b$db\.main\./warehouse.main./g" "$1" | tr -s ' \n\t' ' ' | sed 's/^ *//;s/ *$//'; }
fail=0 total=0
while IFS= read -r f; do
  total=$((total + 1))
  if [ ! -f "$act/$f" ]; then echo "MISSING $f"; fail=$((fail + 1)); continue; fi
  if [ "$(norm "$exp/$f")" != "$(norm "$act/$f")" ]; then echo "DIFF $f"; fail=$((fail + 1)); fi
done < <(cd "$exp" && find . -type f -name '*.sql' | sort)
echo "$((total - fail)) of $total compiled files match"
[ "$fail" = 0 ]
