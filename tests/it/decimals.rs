//! The write path takes the types its own plan declared: decimal arithmetic whose physical
//! result has another precision or scale than the logical plan promised (`round(avg(..), 2)`,
//! a `case` over decimal(10,2) and decimal(38,6)) is written by every materialization.

use crate::common::weir;

/// `round(avg(..), 2)` and a `case` of two decimal types over ten rows in two groups.
const AGGREGATES: &str = "select g, \
     sum(cast(x as decimal(15,2)) * cast(2.5 as decimal(3,1))) as s, \
     sum(cast(x as decimal(15,2)) * 1.5) as f, \
     round(avg(cast(x as decimal(15,2))), 2) as a, \
     sum(case when id > 5 then cast(x as decimal(10,2)) else cast(x as decimal(38,6)) end) as c, \
     case when g = 'a' then cast(1 as decimal(10,2)) else cast(2.5 as decimal(38,6)) end as k \
     from {{ ref('src') }} group by g";

fn project() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("weir-dec-")
        .tempdir()
        .expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("models")).unwrap();
    std::fs::create_dir_all(d.join("snapshots")).unwrap();
    std::fs::write(d.join("dbt_project.yml"), "name: dec\nversion: '1.0'\n").unwrap();
    let write = |path: &str, text: String| std::fs::write(d.join(path), text).unwrap();
    write(
        "models/src.sql",
        "{{ config(materialized='table') }}\n\
         select value as id, cast(value as double) / 3 as x, \
         case when value % 2 = 0 then 'a' else 'b' end as g \
         from generate_series(1, 10) as t(value)\n"
            .into(),
    );
    write(
        "models/dec_table.sql",
        format!("{{{{ config(materialized='table') }}}}\n{AGGREGATES}\n"),
    );
    write(
        "models/dec_append.sql",
        format!(
            "{{{{ config(materialized='incremental') }}}}\n\
             select *, {{% if is_incremental() %}} 2 {{% else %}} 1 {{% endif %}} as run \
             from ({AGGREGATES}) q\n"
        ),
    );
    for strategy in ["merge", "delete+insert"] {
        write(
            &format!("models/dec_{}.sql", strategy.replace('+', "_")),
            format!(
                "{{{{ config(materialized='incremental', incremental_strategy='{strategy}', \
                 unique_key='g') }}}}\n{AGGREGATES}\n"
            ),
        );
    }
    write(
        "snapshots/dec_snap.sql",
        format!(
            "{{% snapshot dec_snap %}}\n\
             {{{{ config(unique_key='g', strategy='check', check_cols='all', target_schema='main') }}}}\n\
             {AGGREGATES}\n{{% endsnapshot %}}\n"
        ),
    );
    dir
}

/// The rows of `sql` as `a|b|c` lines, from `weir show`, sorted (`show` keeps no order).
fn rows(dir: &std::path::Path, sql: &str) -> Vec<String> {
    let d = dir.to_str().unwrap();
    let out = weir(
        &[
            "show",
            "--project-dir",
            d,
            "--inline",
            sql,
            "--limit",
            "100",
        ],
        dir,
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    out.stdout
        .lines()
        .filter(|l| l.starts_with("| ") && !l.contains(" g "))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[test]
fn decimal_results_are_written_by_every_materialization() {
    let project = project();
    let dir = project.path();
    let d = dir.to_str().unwrap();
    for run in 1..=2 {
        let out = weir(&["build", "--project-dir", d], dir);
        assert_eq!(out.code, 0, "run {run}\n{}\n{}", out.stdout, out.stderr);
        assert!(out.stdout.contains("PASS=6"), "{}", out.stdout);
    }
    // x is n / 3 as decimal(15,2): group a (even n) sums to 10.00, group b (odd n) to 8.33.
    let expected = [
        "a|25.000|15.000|2.0|10.000000|1.000000",
        "b|20.825|12.495|1.67|8.330000|2.500000",
    ];
    for model in ["dec_table", "dec_merge", "dec_delete_insert"] {
        assert_eq!(
            rows(dir, &format!("select g, s, f, a, c, k from main.{model}")),
            expected,
            "{model}"
        );
    }
    assert_eq!(
        rows(dir, "select g, s, f, a, c, k, run from main.dec_append"),
        [
            format!("{}|1", expected[0]),
            format!("{}|2", expected[0]),
            format!("{}|1", expected[1]),
            format!("{}|2", expected[1]),
        ]
    );
    // The second snapshot finds nothing changed: one current version per group.
    assert_eq!(
        rows(
            dir,
            "select g, a, c, k, dbt_valid_to is null from main.dec_snap"
        ),
        [
            "a|2.0|10.000000|1.000000|true",
            "b|1.67|8.330000|2.500000|true"
        ]
    );
}
