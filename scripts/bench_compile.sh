#!/usr/bin/env bash
# Time `weir compile` on a generated N-model project, optionally next to dbt.
#
# Usage: scripts/bench_compile.sh [options] [WEIR_BIN] [N]
#   WEIR_BIN           weir binary (default target/dist/weir; skipped if missing)
#   N                  number of models (default 10000); project in /tmp/weir-bench-N
#   --runs R           runs per weir measurement, best is reported (default 3)
#   --dbt DBT_BIN      also time dbt parse (cold, warm) and dbt compile
#   --dbt-runs R       runs per dbt measurement (default 1; dbt is slow)
#   --dbt-timeout S    give up on one dbt run after S seconds (default 900)
#   -h, --help         this text
#
# Uses hyperfine when installed (apt-get install -y hyperfine), else a date loop.
set -euo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

RUNS=3 DBT="" DBT_RUNS=1 DBT_TIMEOUT=900 POS=()
while (($#)); do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --dbt) DBT="$2"; shift 2 ;;
    --dbt-runs) DBT_RUNS="$2"; shift 2 ;;
    --dbt-timeout) DBT_TIMEOUT="$2"; shift 2 ;;
    -*) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
    *) POS+=("$1"); shift ;;
  esac
done
WEIR="${POS[0]:-target/dist/weir}"
N="${POS[1]:-10000}"
HERE="$(cd "$(dirname "$0")" && pwd)"
PROJ="/tmp/weir-bench-$N"
export DBT_SEND_ANONYMOUS_USAGE_STATS=false DBT_VERSION_CHECK=false

if [[ ! -f "$PROJ/dbt_project.yml" ]]; then
  python3 "$HERE/gen_project.py" --models "$N" --with-duckdb-profile --out "$PROJ"
fi

ROWS=()
# bench LABEL RUNS PREPARE COMMAND: best wall time of RUNS runs of COMMAND, each
# after PREPARE (untimed); with hyperfine also mean user+sys CPU seconds.
# Appends a markdown row to ROWS.
bench() {
  local label="$1" runs="$2" prep="$3" cmd="$4" best="" cpu="-"
  echo ">> $label: $cmd" >&2
  if command -v hyperfine >/dev/null; then
    local json; json="$(mktemp)"
    if hyperfine --style basic --runs "$runs" --prepare "${prep:-true}" \
         --export-json "$json" -- "$cmd" >&2; then
      read -r best cpu < <(python3 -c 'import json,sys; r = json.load(open(sys.argv[1]))["results"][0]
print("%.2f %.2f" % (min(r["times"]), r["user"] + r["system"]))' "$json")
    fi
    rm -f "$json"
  else
    local i t0 t1 ms ok=1
    for ((i = 0; i < runs; i++)); do
      bash -c "${prep:-true}"
      t0=$(date +%s%N)
      bash -c "$cmd" >/dev/null 2>&1 || { ok=0; break; }
      t1=$(date +%s%N); ms=$(((t1 - t0) / 1000000))
      [[ -z "$best" || $ms -lt $best ]] && best=$ms
    done
    if ((ok)); then best="$(printf '%d.%02d' $((best / 1000)) $((best % 1000 / 10)))"; else best=""; fi
  fi
  ROWS+=("| $label | ${best:-FAILED or timed out} | $cpu | $runs |")
}

if [[ -x "$WEIR" ]]; then
  # The bench project carries a duckdb profile for dbt; weir gets an empty profiles dir, so it
  # runs on its embedded default target.
  mkdir -p /tmp/weir-bench-noprofile
  W="$(realpath "$WEIR") compile --profiles-dir /tmp/weir-bench-noprofile --project-dir $PROJ"
  bench "weir compile (cold, no target/)" "$RUNS" "rm -rf $PROJ/target" "$W"
  bash -c "$W" >/dev/null   # make sure the warm state exists
  # A full parse + compile whose outputs are already on disk (nothing to rewrite): the cache
  # file is removed so the compile cannot be skipped.
  bench "weir compile (files present, cache dropped)" "$RUNS" "rm -f $PROJ/target/weir_cache.json" "$W"
  bash -c "$W" >/dev/null
  bench "weir compile (no-op re-compile)" "$RUNS" "" "$W"
else
  echo "note: weir binary '$WEIR' not found, skipping weir" >&2
fi

if [[ -n "$DBT" ]]; then
  D="timeout $DBT_TIMEOUT $DBT --quiet"
  A="--project-dir $PROJ --profiles-dir $PROJ"
  rm -rf "$PROJ/target"
  bench "dbt parse --no-partial-parse (cold)" "$DBT_RUNS" "rm -rf $PROJ/target" "$D parse --no-partial-parse $A"
  $D parse $A >/dev/null    # write partial_parse.msgpack for the warm runs
  bench "dbt parse (warm, partial parse)" "$DBT_RUNS" "" "$D parse $A"
  bench "dbt compile --threads 2 (after parse)" "$DBT_RUNS" "" "$D compile --threads 2 $A"
fi

echo
echo "$N models, $((2 * N)) tests; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$(free -g | awk '/^Mem/ {print $2}') GiB RAM, load avg now $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| step | best wall (s) | user+sys (s) | runs |"
echo "| --- | ---: | ---: | ---: |"
printf '%s\n' "${ROWS[@]}"
