#!/usr/bin/env bash
# Time `weir build` (seeds, models, tests) on jaffle_shop and on a generated N-model project,
# optionally next to `dbt build` on dbt-duckdb.
#
# Usage: scripts/bench_build.sh [options] WEIR_BIN
#   WEIR_BIN           weir binary, e.g. target/dist/weir
#   --dbt DBT_BIN      also time `dbt build` (dbt-duckdb, a fresh .duckdb file for cold runs)
#   --jaffle DIR       jaffle_shop checkout (default /tmp/jaffle_shop; when it has no
#                      dbt_project.yml, the repo's tests/fixtures/jaffle_like is used)
#   --models N         models in the generated project (default 1000); it goes to /tmp/weir-build-bench-N
#   --test-models M    also time `weir test --threads 2` alone (2 tests per model) on a generated
#                      M-model project built once beforehand with `weir run` (untimed); with
#                      --dbt, `dbt test` the same way (default 0: skip)
#   --runs R           runs per weir measurement, best is reported (default 5)
#   --dbt-runs R       runs per dbt measurement (default 1; dbt is slow)
#   --dbt-timeout S    give up on one dbt run after S seconds (default 1800)
#   --no-build         skip the jaffle_shop and N-model build timings (with --test-models)
#   --keep DIR         work directory, kept afterwards (default: a temp dir, removed)
#   -h, --help         this text
#
# Every build's output goes to a log in the work directory; a failed step shows its first
# error lines and the table says FAILED. Uses hyperfine when installed
# (apt-get install -y hyperfine), else a date loop.
set -euo pipefail

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }

DBT="" JAFFLE=/tmp/jaffle_shop N=1000 TN=0 BUILD=1 RUNS=5 DBT_RUNS=1 DBT_TIMEOUT=1800 KEEP="" POS=()
while (($#)); do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --dbt) DBT="$2"; shift 2 ;;
    --jaffle) JAFFLE="$2"; shift 2 ;;
    --models) N="$2"; shift 2 ;;
    --test-models) TN="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --runs) RUNS="$2"; shift 2 ;;
    --dbt-runs) DBT_RUNS="$2"; shift 2 ;;
    --dbt-timeout) DBT_TIMEOUT="$2"; shift 2 ;;
    --keep) KEEP="$2"; shift 2 ;;
    -*) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
    *) POS+=("$1"); shift ;;
  esac
done
if ((${#POS[@]} != 1)); then usage >&2; exit 2; fi
[[ -x "${POS[0]}" ]] || { echo "weir binary '${POS[0]}' not found or not executable" >&2; exit 2; }
WEIR="$(realpath "${POS[0]}")"
if [[ -n "$DBT" ]]; then
  command -v "$DBT" >/dev/null || { echo "dbt binary '$DBT' not found" >&2; exit 2; }
  DBT="$(command -v "$DBT")"
fi
HERE="$(cd "$(dirname "$0")" && pwd)"
export DBT_SEND_ANONYMOUS_USAGE_STATS=false DBT_VERSION_CHECK=false

if [[ -n "$KEEP" ]]; then W="$(mkdir -p "$KEEP" && realpath "$KEEP")"
else W="$(mktemp -d /tmp/weir-build-bench.XXXXXX)"; trap 'rm -rf "$W"' EXIT; fi
mkdir -p "$W/noprofile" "$W/logs"   # empty profiles dir: weir uses its embedded default target

if [[ ! -f "$JAFFLE/dbt_project.yml" ]]; then
  echo "note: no jaffle_shop at $JAFFLE, using tests/fixtures/jaffle_like" >&2
  JAFFLE="$HERE/../tests/fixtures/jaffle_like"
fi
JAFFLE="$(realpath "$JAFFLE")"
JNAME="$(basename "$JAFFLE")"

ROWS=()
# bench LABEL RUNS PREPARE COMMAND: best wall time of RUNS runs of COMMAND, each after
# PREPARE (untimed); with hyperfine also the mean user+sys CPU seconds. COMMAND's output
# goes to $W/logs/<n>.log. Appends a markdown row to ROWS.
bench() {
  local label="$1" runs="$2" prep="${3:-true}" cmd="$4" best="" cpu="-"
  local log="$W/logs/${#ROWS[@]}.log"
  echo ">> $label: $cmd" >&2
  if command -v hyperfine >/dev/null; then
    local json="$W/logs/${#ROWS[@]}.json"
    if hyperfine --style basic --runs "$runs" --prepare "$prep" --export-json "$json" \
         -- "$cmd >$log 2>&1" >&2; then
      read -r best cpu < <(python3 -c 'import json,sys; r = json.load(open(sys.argv[1]))["results"][0]
print("%.2f %.2f" % (min(r["times"]), r["user"] + r["system"]))' "$json")
    fi
  else
    local i t0 t1 ms ok=1
    for ((i = 0; i < runs; i++)); do
      bash -c "$prep"
      t0=$(date +%s%N)
      bash -c "$cmd" >"$log" 2>&1 || { ok=0; break; }
      t1=$(date +%s%N); ms=$(((t1 - t0) / 1000000))
      [[ -z "$best" || $ms -lt $best ]] && best=$ms
    done
    if ((ok)); then best="$(printf '%d.%02d' $((best / 1000)) $((best % 1000 / 10)))"; else best=""; fi
  fi
  if [[ -z "$best" ]]; then
    echo "!! $label FAILED; first error lines of $log:" >&2
    { grep -m 15 -iE 'error|fail|panic|timed out' "$log" || tail -n 15 "$log"; } | sed 's/^/   /' >&2
  fi
  # the last run's summary, e.g. "PASS=28 WARN=0 ERROR=0 SKIP=0"
  local summary
  summary="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -oE 'PASS=[0-9]+ WARN=[0-9]+ ERROR=[0-9]+ SKIP=[0-9]+' | tail -n 1 || true)"
  ROWS+=("| $label | ${best:-FAILED} | $cpu | $runs | ${summary:--} |")
}

# --- (a) jaffle_shop: a fresh copy for every run --------------------------------------------
if ((BUILD)); then
fresh_copy() {  # fresh_copy DEST: the prepare command for a clean copy of $JAFFLE at DEST
  echo "rm -rf $1 && cp -r $JAFFLE $1 && rm -rf $1/warehouse $1/target $1/logs $1/*.duckdb"
}
JW="$W/jaffle-weir"
bench "$JNAME: weir build (fresh copy)" "$RUNS" "$(fresh_copy "$JW")" \
  "$WEIR build --project-dir $JW --profiles-dir $W/noprofile"

if [[ -n "$DBT" ]]; then
  JD="$W/jaffle-dbt"
  PROFILE="$(sed -nE "s/^profile:[[:space:]]*['\"]?([A-Za-z0-9_]+)['\"]?.*/\1/p" "$JAFFLE/dbt_project.yml")"
  mkdir -p "$W/dbt-profiles"
  # threads: 2 = weir's default (the number of CPUs on the benchmark machine)
  printf '%s:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: %s\n      threads: 2\n' \
    "$PROFILE" "$JD/$PROFILE.duckdb" > "$W/dbt-profiles/profiles.yml"
  bench "$JNAME: dbt build (fresh copy, new .duckdb)" "$DBT_RUNS" "$(fresh_copy "$JD")" \
    "timeout $DBT_TIMEOUT $DBT build --project-dir $JD --profiles-dir $W/dbt-profiles"
fi

# --- (b) generated N-model project -----------------------------------------------------------
P="/tmp/weir-build-bench-$N"
python3 "$HERE/gen_project.py" --models "$N" --with-duckdb-profile --out "$P" >&2
GEN="generated $N models"
WB="$WEIR build --threads 2 --project-dir $P --profiles-dir $W/noprofile"
bench "$GEN: weir build --threads 2, cold (no warehouse/, no target/)" "$RUNS" \
  "rm -rf $P/warehouse $P/target" "$WB"
# Right after the cold runs: incremental models take their incremental path (they append
# nothing), tables and views are rebuilt, tests run again.
bench "$GEN: weir build --threads 2, second build" "$RUNS" "" "$WB"

if [[ -n "$DBT" ]]; then
  DB="timeout $DBT_TIMEOUT $DBT build --threads 2 --project-dir $P --profiles-dir $P"
  bench "$GEN: dbt build --threads 2, cold (new .duckdb, no target/)" "$DBT_RUNS" \
    "rm -rf $P/target $P/*.duckdb $P/*.duckdb.wal $P/logs" "$DB"
  bench "$GEN: dbt build --threads 2, second build" "$DBT_RUNS" "" "$DB"
fi
fi  # BUILD

# --- (c) tests alone on a generated M-model project --------------------------------------------
if ((TN > 0)); then
  T="/tmp/weir-test-bench-$TN"
  python3 "$HERE/gen_project.py" --models "$TN" --with-duckdb-profile --out "$T" >&2
  rm -rf "$T/warehouse" "$T/target"
  echo ">> setting up $T: weir seed + run (untimed)" >&2
  "$WEIR" seed -q --project-dir "$T" --profiles-dir "$W/noprofile" >"$W/logs/test-setup.log" 2>&1
  "$WEIR" run -q --threads 2 --project-dir "$T" --profiles-dir "$W/noprofile" >>"$W/logs/test-setup.log" 2>&1
  bench "generated $TN models: weir test --threads 2 ($((2 * TN)) tests)" "$RUNS" "" \
    "$WEIR test --threads 2 --project-dir $T --profiles-dir $W/noprofile"
  if [[ -n "$DBT" ]]; then
    echo ">> setting up $T for dbt: dbt seed + run (untimed)" >&2
    rm -rf "$T/target" "$T"/*.duckdb "$T"/*.duckdb.wal
    timeout "$DBT_TIMEOUT" "$DBT" seed --project-dir "$T" --profiles-dir "$T" >"$W/logs/dbt-test-setup.log" 2>&1
    timeout "$DBT_TIMEOUT" "$DBT" run --threads 2 --project-dir "$T" --profiles-dir "$T" >>"$W/logs/dbt-test-setup.log" 2>&1
    bench "generated $TN models: dbt test --threads 2 ($((2 * TN)) tests)" "$DBT_RUNS" "" \
      "timeout $DBT_TIMEOUT $DBT test --threads 2 --project-dir $T --profiles-dir $T"
  fi
fi

echo
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$(free -g | awk '/^Mem/ {print $2}') GiB RAM; $(uptime | sed 's/^ *//')"
[[ -n "$KEEP" ]] && echo "logs of every step: $W/logs"
echo
echo "| project: step | best wall (s) | user+sys, mean (s) | runs | last run |"
echo "| --- | ---: | ---: | ---: | --- |"
printf '%s\n' "${ROWS[@]}"
