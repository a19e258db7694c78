#!/usr/bin/env python3
"""Generate a layered, dbt-compatible project of N models (for benchmarks).

Shape: 3 seeds of 5 rows, ~10% staging models that ref the seeds, then
`--layers` folders (models/layer_01 ...) whose models each ref 1-3 models
from earlier layers (always one from the layer just before). Every model
outputs `id` (unique int), `value` (number) and `category` (text), and has
`unique` + `not_null` tests on `id`, so there are 2 tests per model.
Materializations are a deterministic ~40/40/15/5 mix of
view/table/incremental/ephemeral. Output is the same for the same arguments.

Example:
  python3 scripts/gen_project.py --models 10000 --out /tmp/gen10k
  python3 scripts/gen_project.py --models 200 --with-duckdb-profile --out /tmp/gen200
"""
import argparse
import os
import random
import shutil
import sys

PROJECT = "gen_project"
SEEDS = ["seed_a", "seed_b", "seed_c"]
CATEGORIES = ["alpha", "beta", "gamma", "delta", "epsilon"]
MATERIALIZATIONS = [("view", 40), ("table", 40), ("incremental", 15), ("ephemeral", 5)]

MACROS = {
    # default argument
    "scale_value.sql": """\
{% macro scale_value(col, factor=1) -%}
    ({{ col }} * {{ factor }})
{%- endmacro %}
""",
    # adapter.dispatch: no adapter-specific override used by duckdb, so both
    # dbt-duckdb and weir end up in default__category_label
    "category_label.sql": """\
{% macro category_label(col) -%}
    {{ return(adapter.dispatch('category_label')(col)) }}
{%- endmacro %}

{% macro default__category_label(col) -%}
    lower({{ col }})
{%- endmacro %}

{% macro postgres__category_label(col) -%}
    lower({{ col }}::text)
{%- endmacro %}
""",
    # if / for
    "sum_values.sql": """\
{% macro sum_values(cols) -%}
    {%- if cols | length == 0 -%}
        0
    {%- else -%}
        ({%- for c in cols -%}
            coalesce({{ c }}, 0){% if not loop.last %} + {% endif %}
        {%- endfor -%})
    {%- endif -%}
{%- endmacro %}
""",
    "safe_add.sql": """\
{% macro safe_add(a, b) -%}
    (coalesce({{ a }}, 0) + coalesce({{ b }}, 0))
{%- endmacro %}
""",
    "bucket.sql": """\
{% macro bucket(col, buckets=10) -%}
    ({{ col }} % {{ buckets }})
{%- endmacro %}
""",
    "min_id_filter.sql": """\
{% macro min_id_filter(col='id') -%}
    {{ col }} >= {{ var('min_id', 0) }}
{%- endmacro %}
""",
    "standard_columns.sql": """\
{% macro standard_columns(alias) -%}
    {%- set cols = ['id', 'value', 'category'] -%}
    {%- for c in cols %}{{ alias }}.{{ c }}{% if not loop.last %}, {% endif %}{% endfor -%}
{%- endmacro %}
""",
    "cast_columns.sql": """\
{% macro cast_columns() -%}
    cast(id as integer) as id,
    cast(value as double) as value,
    cast(category as varchar) as category
{%- endmacro %}
""",
    "default_category.sql": """\
{% macro default_category(col) -%}
    coalesce({{ col }}, '{{ var("default_category") }}')
{%- endmacro %}
""",
    "weighted_value.sql": """\
{% macro weighted_value(col) -%}
    {{ scale_value(col, var('value_multiplier')) }}
{%- endmacro %}
""",
}


def pick_materialization(rng):
    r = rng.randrange(100)
    for name, weight in MATERIALIZATIONS:
        if r < weight:
            return name
        r -= weight
    raise AssertionError


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


INCREMENTAL_FILTER = """
{% if is_incremental() %}
where id > (select max(id) from {{ this }})
{% endif %}"""


def staging_sql(mat, seed):
    return f"""{{{{ config(materialized='{mat}') }}}}

select id, value, category from (
    select
        {{{{ cast_columns() }}}}
    from {{{{ ref('{seed}') }}}}
    where {{{{ min_id_filter() }}}}
) as src{INCREMENTAL_FILTER if mat == "incremental" else ""}
"""


def layer_sql(rng, mat, parents):
    ctes = ",\n".join(
        f"src_{i} as (\n    select {{{{ standard_columns('s') }}}} from {{{{ ref('{p}') }}}} as s\n)"
        for i, p in enumerate(parents, 1)
    )
    joins = "".join(
        f"\n    left join src_{i} as s{i} on s1.id = s{i}.id" for i in range(2, len(parents) + 1)
    )
    cols = [f"'s{i}.value'" for i in range(1, len(parents) + 1)]
    value = rng.choice([
        f"{{{{ weighted_value(sum_values([{', '.join(cols)}])) }}}}",
        f"{{{{ sum_values([{', '.join(cols)}]) }}}} * {{{{ var('value_multiplier') }}}}",
        (f"{{{{ safe_add('s1.value', 's2.value') }}}}" if len(parents) > 1
         else "{{ scale_value('s1.value') }}") + " + {{ bucket('s1.id') }}",
    ])
    category = rng.choice([
        "{{ category_label('s1.category') }}",
        "{{ default_category('s1.category') }}",
    ])
    incremental = INCREMENTAL_FILTER if mat == "incremental" else ""
    return f"""{{{{ config(materialized='{mat}') }}}}

with {ctes},
joined as (
    select
        s1.id as id,
        {value} as value,
        {category} as category
    from src_1 as s1{joins}
)
select id, value, category from joined{incremental}
"""


def schema_yml(names):
    out = ["version: 2", "", "models:"]
    for name in names:
        out += [
            f"  - name: {name}",
            f"    description: Generated model {name}.",
            "    columns:",
            "      - name: id",
            "        data_tests:",
            "          - unique",
            "          - not_null",
            "      - name: value",
            "      - name: category",
        ]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=int, default=1000, help="total number of models (default 1000)")
    ap.add_argument("--out", required=True, help="output directory (replaced if it exists)")
    ap.add_argument("--layers", type=int, default=9, help="number of layers after staging (default 9)")
    ap.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    ap.add_argument("--with-duckdb-profile", action="store_true",
                    help="also write profiles.yml (duckdb, database file inside --out)")
    args = ap.parse_args()
    if args.models < 2:
        sys.exit("--models must be at least 2")

    rng = random.Random(args.seed)
    out = os.path.abspath(args.out)
    if os.path.exists(out):
        shutil.rmtree(out)

    n = args.models
    width = max(5, len(str(n)))
    n_stg = max(1, round(n * 0.1))
    rest = n - n_stg
    n_layers = max(1, min(args.layers, rest))

    # seeds
    for s, seed in enumerate(SEEDS):
        rows = ["id,value,category"] + [
            f"{i},{(i * 7 + s * 3) % 50 + 0.5},{CATEGORIES[(i + s) % len(CATEGORIES)].upper()}"
            for i in range(1, 6)
        ]
        write(f"{out}/seeds/{seed}.csv", "\n".join(rows) + "\n")

    for fname, text in MACROS.items():
        write(f"{out}/macros/{fname}", text)

    counter = 0
    mats = {m: 0 for m, _ in MATERIALIZATIONS}

    def next_name(prefix):
        nonlocal counter
        counter += 1
        return f"{prefix}_{counter:0{width}d}"

    # staging
    layers = [[]]
    for _ in range(n_stg):
        name, mat = next_name("stg"), pick_materialization(rng)
        mats[mat] += 1
        write(f"{out}/models/staging/{name}.sql", staging_sql(mat, rng.choice(SEEDS)))
        layers[0].append(name)
    write(f"{out}/models/staging/_staging__models.yml", schema_yml(layers[0]))

    # layers
    earlier = list(layers[0])
    for li in range(1, n_layers + 1):
        size = rest // n_layers + (1 if li <= rest % n_layers else 0)
        folder = f"layer_{li:02d}"
        names = []
        for _ in range(size):
            name, mat = next_name(f"l{li:02d}"), pick_materialization(rng)
            mats[mat] += 1
            parents = [rng.choice(layers[-1])]
            for _ in range(rng.randint(0, 2)):
                p = rng.choice(earlier)
                if p not in parents:
                    parents.append(p)
            write(f"{out}/models/{folder}/{name}.sql", layer_sql(rng, mat, parents))
            names.append(name)
        write(f"{out}/models/{folder}/_{folder}__models.yml", schema_yml(names))
        layers.append(names)
        earlier += names

    # dbt_project.yml: folder-level configs, overridden per model by config()
    folder_cfg = [
        "    staging:",
        "      +materialized: view",
        "      +tags: ['staging']",
    ]
    for li in range(1, n_layers + 1):
        folder_cfg += [
            f"    layer_{li:02d}:",
            f"      +materialized: {'view' if li % 2 else 'table'}",
            f"      +tags: ['layer_{li:02d}', '{'odd' if li % 2 else 'even'}']",
        ]
    write(f"{out}/dbt_project.yml", "\n".join([
        f"name: {PROJECT}",
        "version: '1.0.0'",
        "config-version: 2",
        f"profile: {PROJECT}",
        "",
        "model-paths: ['models']",
        "seed-paths: ['seeds']",
        "macro-paths: ['macros']",
        "target-path: target",
        "clean-targets: ['target']",
        "",
        "vars:",
        "  value_multiplier: 2",
        "  min_id: 0",
        "  default_category: misc",
        "",
        "seeds:",
        f"  {PROJECT}:",
        "    +tags: ['seed']",
        "",
        "models:",
        f"  {PROJECT}:",
        *folder_cfg,
    ]) + "\n")

    if args.with_duckdb_profile:
        write(f"{out}/profiles.yml", "\n".join([
            f"{PROJECT}:",
            "  target: dev",
            "  outputs:",
            "    dev:",
            "      type: duckdb",
            f"      path: '{out}/{PROJECT}.duckdb'",
            "      threads: 2",
        ]) + "\n")

    print(f"wrote {out}: {n} models ({n_stg} staging + {rest} in {n_layers} layers), "
          f"{len(SEEDS)} seeds, {len(MACROS)} macro files, {2 * n} tests; "
          + ", ".join(f"{k}={v}" for k, v in mats.items()))


if __name__ == "__main__":
    main()
