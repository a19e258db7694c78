//! Bounded memory (issue 12): every query of a command draws from one memory pool; sorts and
//! aggregates spill to the temp directory, and what cannot spill fails with a message that
//! names the model and the limit.

use std::path::Path;

use crate::common::{count, weir};

const ROWS: i64 = 3_000_000;

/// Every row numbered in descending order of its label: a full sort.
const SORT: &str = "select value as n, value % 1000 as k, \
     row_number() over (order by 'row number ' || cast(value as varchar) desc) as rn \
     from generate_series(1, 3000000) as t(value)";

/// A project whose models sort and group three million generated rows, with the limit and the
/// spill directory in its profile (`extra` adds lines to the output).
fn project(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("weir-mem-")
        .tempdir()
        .expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("models")).unwrap();
    std::fs::write(
        d.join("dbt_project.yml"),
        "name: mem\nversion: '1.0'\nprofile: mem\n",
    )
    .unwrap();
    std::fs::write(
        d.join("profiles.yml"),
        format!(
            "mem:\n  target: dev\n  outputs:\n    dev:\n      type: datafusion\n      \
             schema: main\n      threads: 2\n      memory_limit: 20MB\n      \
             temp_directory: spill\n{extra}"
        ),
    )
    .unwrap();
    let model = |name: &str, sql: &str| {
        std::fs::write(
            d.join(format!("models/{name}.sql")),
            format!("{{{{ config(materialized='table') }}}}\n{sql}\n"),
        )
        .unwrap();
    };
    // ~120 MB of rows to sort, six times the limit (a window over all rows: the writer
    // would not keep a plain `order by` of a table's rows).
    model("big_sort", SORT);
    model(
        "big_group",
        &format!(
            "select value % 300000 as g, count(*) as c, sum(value) as s \
             from generate_series(1, {ROWS}) as t(value) group by value % 300000"
        ),
    );
    // One group holding every string: an aggregate that cannot spill.
    model(
        "one_group",
        &format!(
            "select string_agg(cast(value as varchar), ',') as everything \
             from generate_series(1, {ROWS}) as t(value)"
        ),
    );
    dir
}

/// How many times the sort of `big_sort`'s query spilled, from DataFusion's metrics, in an
/// engine set up as `weir run` sets it up with a 20 MB limit.
fn spill_count(warehouse: &Path, temp: &Path) -> u64 {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let options = weir::engine::EngineOptions {
            memory_limit: 20_000_000,
            temp_directory: temp.to_path_buf(),
        };
        let engine =
            weir::engine::Engine::open(warehouse.to_str().unwrap(), "warehouse", "main", &options)
                .await
                .unwrap();
        let batches = engine
            .query(&format!("explain analyze {SORT}"))
            .await
            .unwrap();
        let mut text = String::new();
        for b in &batches {
            for c in 0..b.num_columns() {
                for r in 0..b.num_rows() {
                    text.push_str(
                        &datafusion::arrow::util::display::array_value_to_string(b.column(c), r)
                            .unwrap(),
                    );
                    text.push('\n');
                }
            }
        }
        let re = regex::Regex::new(r"spill_count=(\d+)").unwrap();
        re.captures_iter(&text)
            .map(|c| c[1].parse::<u64>().unwrap())
            .sum()
    })
}

#[test]
fn sorts_and_aggregates_spill_to_stay_within_the_limit() {
    let project = project("");
    let dir = project.path();
    let d = dir.to_str().unwrap();
    let out = weir(
        &["run", "--project-dir", d, "-s", "big_sort", "big_group"],
        dir,
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let wh = dir.join("warehouse");
    assert_eq!(count(&wh, "select count(*) from main.big_sort"), ROWS);
    assert_eq!(
        count(&wh, "select sum(n) from main.big_sort"),
        ROWS * (ROWS + 1) / 2
    );
    assert_eq!(
        count(&wh, "select count(distinct k) from main.big_sort"),
        1000
    );
    // The largest label is 'row number 999999'; the numbers are 1..ROWS.
    assert_eq!(
        count(&wh, "select n from main.big_sort where rn = 1"),
        999_999
    );
    assert_eq!(
        count(&wh, "select n from main.big_sort where rn = 2"),
        999_998
    );
    assert_eq!(
        count(&wh, "select count(distinct rn) from main.big_sort"),
        ROWS
    );
    assert_eq!(count(&wh, "select count(*) from main.big_group"), 300_000);
    assert_eq!(count(&wh, "select sum(c) from main.big_group"), ROWS);
    assert_eq!(count(&wh, "select min(c) from main.big_group"), 10);
    assert_eq!(
        count(&wh, "select sum(s) from main.big_group"),
        ROWS * (ROWS + 1) / 2
    );
    // The profile's temp_directory (relative to the project) is where queries spill.
    let spill = dir.join("spill");
    assert!(spill.is_dir(), "temp_directory is created");
    assert!(
        spill_count(&wh, &spill) > 0,
        "the sort spilled under a 20 MB limit"
    );
}

#[test]
fn a_model_that_cannot_fit_names_itself_and_the_limit() {
    let project = project("");
    let dir = project.path();
    let d = dir.to_str().unwrap();
    let out = weir(
        &[
            "run",
            "--project-dir",
            d,
            "-s",
            "one_group",
            "--memory-limit",
            "5MB",
        ],
        dir,
    );
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(
            "error[E507]: model 'one_group' ran out of memory: it needs more than the memory \
             limit of 5 MB"
        ),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("memory_limit"), "{}", out.stderr);
    assert!(out.stderr.contains("--memory-limit"), "{}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    // With room enough, the same model builds.
    let out = weir(
        &[
            "run",
            "--project-dir",
            d,
            "-s",
            "one_group",
            "--memory-limit",
            "1GB",
        ],
        dir,
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
}

#[test]
fn a_memory_limit_that_is_not_a_size_is_refused_at_its_line() {
    let project = project("");
    let dir = project.path();
    let profiles = dir.join("profiles.yml");
    let text = std::fs::read_to_string(&profiles).unwrap();
    std::fs::write(
        &profiles,
        text.replace("memory_limit: 20MB", "memory_limit: 20XB"),
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let out = weir(&["compile", "--project-dir", d], dir);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("error[E114]"), "{}", out.stderr);
    assert!(out.stderr.contains("unknown unit `xb`"), "{}", out.stderr);
    assert!(out.stderr.contains("profiles.yml:8:"), "{}", out.stderr);
    let out = weir(
        &["compile", "--project-dir", d, "--memory-limit", "lots"],
        dir,
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--memory-limit"), "{}", out.stderr);
}
