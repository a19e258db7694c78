#!/usr/bin/env bash
# How an incremental merge scales with the size of the table it merges into.
#
# Usage: scripts/bench_merge.sh [options] [WEIR_BIN]
#   WEIR_BIN        weir binary (default target/dist/weir)
#   --sizes "A B"   table sizes in rows (default "1000000 10000000")
#   --changed N     rows in each incremental run (default 10000): N/2 updates of the newest
#                   existing rows, N/2 new rows
#   --runs R        incremental runs per size, best is reported (default 3)
#   --keep DIR      work directory, kept afterwards (default: a temp dir, removed)
#   -h, --help      this text
#
# For each size: a generated project builds `events` (a Delta table of that many rows, one per
# id, partitioned by day, 10,000 rows a day) with a first `weir run`, then times
# `weir run --select events --vars '{batch: k}'`, which merges N changed rows on
# `unique_key: id` with `incremental_predicates` on the day (the dbt pattern for updating
# recent rows of a large table). Reports the best incremental time per size and the ratio between
# the largest and the smallest size.
set -euo pipefail

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

SIZES="1000000 10000000" CHANGED=10000 RUNS=3 KEEP="" POS=()
while (($#)); do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --sizes) SIZES="$2"; shift 2 ;;
    --changed) CHANGED="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --keep) KEEP="$2"; shift 2 ;;
    -*) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
    *) POS+=("$1"); shift ;;
  esac
done
WEIR="$(realpath "${POS[0]:-target/dist/weir}")"
[[ -x "$WEIR" ]] || { echo "weir binary '$WEIR' not found (cargo build --profile dist)" >&2; exit 2; }
if [[ -n "$KEEP" ]]; then WORK="$KEEP"; mkdir -p "$WORK"; else WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT; fi

now() { date +%s.%N; }

declare -A BEST
for rows in $SIZES; do
  p="$WORK/merge-$rows"
  rm -rf "$p"; mkdir -p "$p/models"
  cat > "$p/dbt_project.yml" <<YML
name: merge_bench
version: '1.0'
profile: merge_bench
vars:
  rows: $rows
  changed: $CHANGED
  batch: 0
YML
  # Batch 0 builds the whole table; batch k >= 1 is an incremental run whose rows are the
  # newest changed/2 existing ids (updated) and changed/2 ids past the end (inserted).
  # The table is partitioned by day (10,000 events a day) and the merge carries dbt's
  # incremental_predicates on the day, so it reads and rewrites only the days it touches.
  cat > "$p/models/events.sql" <<'SQL'
{% set rows = var('rows') | int %}
{% set half = (var('changed') | int) // 2 %}
{% set batch = var('batch') | int %}
{% set per_day = 10000 %}
{% set first_id = rows + (batch - 1) * half - half + 1 %}
{{ config(
    materialized='incremental',
    unique_key='id',
    incremental_strategy='merge',
    partition_by=['event_day'],
    incremental_predicates=['DBT_INTERNAL_DEST.event_day >= ' ~ ((first_id - 1) // per_day)]
) }}
select
    value as id,
    cast(floor((value - 1) / {{ per_day }}) as bigint) as event_day,
    value % 1000 as customer_id,
    cast(value % 97 as double) * 1.25 + {{ batch }} as amount,
    concat('event-', cast(value as varchar)) as label,
    {{ batch }} as batch
{% if is_incremental() %}
from generate_series({{ first_id }}, {{ rows + batch * half }})
{% else %}
from generate_series(1, {{ rows }})
{% endif %}
SQL
  echo "== $rows rows: first build" >&2
  t0=$(now); "$WEIR" run -q --no-progress --project-dir "$p" >"$p/first.log" 2>&1 || { cat "$p/first.log"; exit 1; }
  t1=$(now)
  files=$(find "$p/warehouse/main/events" -name '*.parquet' | wc -l)
  echo "   built in $(echo "$t1 - $t0" | bc) s ($files parquet files)" >&2
  best=""
  for k in $(seq 1 "$RUNS"); do
    t0=$(now)
    "$WEIR" run -q --no-progress --project-dir "$p" --select events --vars "{batch: $k}" >"$p/inc-$k.log" 2>&1 \
      || { cat "$p/inc-$k.log"; exit 1; }
    t1=$(now)
    s=$(echo "$t1 - $t0" | bc)
    echo "   incremental run $k: $s s" >&2
    if [[ -z "$best" ]] || (( $(echo "$s < $best" | bc) )); then best=$s; fi
  done
  BEST[$rows]=$best
done

echo
echo "| table rows | changed rows | best incremental merge (s) |"
echo "| ---: | ---: | ---: |"
first="" last=""
for rows in $SIZES; do
  echo "| $rows | $CHANGED | ${BEST[$rows]} |"
  [[ -z "$first" ]] && first=${BEST[$rows]}
  last=${BEST[$rows]}
done
echo
echo "ratio largest/smallest: $(echo "scale=2; $last / $first" | bc)"
