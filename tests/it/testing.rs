//! Testing features failing on purpose, end to end: every kind of test with bad data (the right
//! status, output and exit code), constraints checked before the write, source freshness, and
//! `result:` / `source_status:` selection with `--state`.
//!
//! The projects are written here, small, so each case is a few rows; tests/it/build.rs already
//! covers the jaffle-shaped fixture's stored failures, a unit-test row diff and a contract type
//! mismatch.

use crate::common::*;
use std::path::Path;

fn write(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// The `N of M <STATUS> ...` lines of a run, as `(status, rest)`.
fn node_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("of"))
        .map(|l| l.split_whitespace().skip(3).collect::<Vec<_>>().join(" "))
        .collect()
}

/// The block of stderr that reports one node (`Failure in test x` ... up to the next block).
fn report<'a>(stderr: &'a str, header: &str) -> &'a str {
    let start = stderr
        .find(header)
        .unwrap_or_else(|| panic!("no {header:?} in:\n{stderr}"));
    let rest = &stderr[start..];
    let end = rest[header.len()..]
        .find("\n\n")
        .map_or(rest.len(), |i| i + header.len());
    &rest[..end]
}

/// A small project where every kind of test has something to find: the generic tests (built
/// in, from a package, from macros/, from tests/generic/), a singular test, unit tests in the
/// three formats, a warn-severity test and a model whose contract is broken.
fn checks_project() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("weir-it-checks-")
        .tempdir()
        .unwrap();
    let d = dir.path();
    write(
        d,
        "dbt_project.yml",
        "name: 'checks'\nconfig-version: 2\nversion: '1.0'\nprofile: 'checks'\n\
         models:\n  checks:\n    +materialized: table\n",
    );
    // Seven people: id 2 twice, a NULL name, team 9 that does not exist, a status nobody
    // accepts, scores over the limit.
    write(
        d,
        "seeds/raw_people.csv",
        "id,name,status,team_id,score\n\
         1,Ann,active,1,10\n\
         2,Bob,active,1,20\n\
         2,Bea,retired,2,30\n\
         3,,active,9,40\n\
         4,Dan,zombie,2,50\n\
         5,Eve,active,1,60\n\
         6,Fay,active,2,70\n",
    );
    write(d, "seeds/raw_teams.csv", "id,team\n1,red\n2,blue\n");
    write(
        d,
        "models/people.sql",
        "select id, name, status, team_id, score from {{ ref('raw_people') }}\n",
    );
    write(
        d,
        "models/doubled.sql",
        "select id, score * 2 as double_score from {{ ref('raw_people') }}\n",
    );
    write(
        d,
        "models/contracted.sql",
        "select id, name from {{ ref('raw_people') }}\n",
    );
    write(
        d,
        "models/after_contracted.sql",
        "select * from {{ ref('contracted') }}\n",
    );
    write(
        d,
        "models/schema.yml",
        r#"version: 2

models:
  - name: people
    columns:
      - name: id
        data_tests: [unique]
      - name: name
        data_tests:
          - not_null
          - max_length:
              length: 2
      - name: status
        data_tests:
          - accepted_values:
              values: ['active', 'retired']
      - name: team_id
        data_tests:
          - relationships:
              to: ref('raw_teams')
              field: id
          - accepted_values:
              name: team_is_red
              values: [1]
              quote: false
              config:
                severity: warn
      - name: score
        data_tests:
          - greenhouse_utils.expression_is_true:
              expression: "< 55"
          - is_multiple_of:
              n: 20

  - name: contracted
    config:
      contract:
        enforced: true
    columns:
      - name: id
        data_type: bigint
      - name: name
        data_type: varchar
      - name: email
        data_type: varchar

unit_tests:
  - name: doubles_from_dict
    model: doubled
    given:
      - input: ref('raw_people')
        rows:
          - {id: 1, score: 10}
    expect:
      rows:
        - {id: 1, double_score: 21}
  - name: doubles_from_csv
    model: doubled
    given:
      - input: ref('raw_people')
        format: csv
        rows: |
          id,score
          7,5
    expect:
      format: csv
      rows: |
        id,double_score
        7,11
  - name: doubles_from_sql
    model: doubled
    given:
      - input: ref('raw_people')
        format: sql
        rows: |
          select 8 as id, 100 as score
    expect:
      rows:
        - {id: 8, double_score: 201}
"#,
    );
    write(
        d,
        "macros/max_length.sql",
        "{% test max_length(model, column_name, length) %}\n\
         select * from {{ model }} where length({{ column_name }}) > {{ length }}\n\
         {% endtest %}\n",
    );
    write(
        d,
        "tests/generic/is_multiple_of.sql",
        "{% test is_multiple_of(model, column_name, n) %}\n\
         select * from {{ model }} where {{ column_name }} % {{ n }} <> 0\n\
         {% endtest %}\n",
    );
    write(
        d,
        "tests/assert_scores_below_45.sql",
        "-- nobody scores 45 or more\nselect id, score from {{ ref('people') }} where score >= 45\n",
    );
    // The example project's package, vendored here with its generic test only.
    let pkg = repo().join("example_project/packages_src/greenhouse_utils");
    let to = d.join("dbt_packages/greenhouse_utils");
    std::fs::create_dir_all(to.join("macros")).unwrap();
    std::fs::copy(pkg.join("dbt_project.yml"), to.join("dbt_project.yml")).unwrap();
    std::fs::copy(
        pkg.join("macros/expression_is_true.sql"),
        to.join("macros/expression_is_true.sql"),
    )
    .unwrap();
    dir
}

/// One `weir build` over a project where every kind of test fails: each failure is reported
/// with its status line, its model and column, the failing-row count, up to 5 rows and the
/// compiled file; warn-severity tests warn; the exit code is 1. Then the warn test alone exits
/// 0, and `result:error+` against the build's artifacts picks the broken model and its child.
#[test]
fn every_kind_of_test_fails_with_the_right_report() {
    let project = checks_project();
    let dir = project.path();
    let d = dir.to_str().unwrap();
    // A fresh warehouse: `build` runs each unit test after its model's parents (the seeds), so
    // csv inputs are typed from the real relations.
    let out = weir(&["build", "--project-dir", d], dir);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let lines = node_lines(&out.stdout);
    let (so, se) = (&out.stdout, &out.stderr);
    for failing in [
        "FAIL test unique_people_id",
        "FAIL test not_null_people_name",
        "FAIL test accepted_values_people_status__active__retired",
        "FAIL test relationships_people_team_id__id__ref_raw_teams_",
        "FAIL test greenhouse_utils_expression_is_true_people_score___55",
        "FAIL test is_multiple_of_people_score__20",
        "FAIL test max_length_people_name__2",
        "FAIL test assert_scores_below_45",
        "WARN test team_is_red",
        "ERROR creating table model main.contracted",
        "SKIP table model main.after_contracted",
        "FAIL unit_test doubled::doubles_from_dict",
        "FAIL unit_test doubled::doubles_from_csv",
        "FAIL unit_test doubled::doubles_from_sql",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(failing)),
            "no line {failing:?} in:\n{so}\n{se}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("SKIP table model main.doubled ")),
        "a model whose unit tests fail is skipped:\n{so}"
    );
    assert!(!dir.join("warehouse/main/doubled").exists());
    assert!(so.contains("Done. PASS="), "{so}");

    // A data test's report: the test, the model and column, the count, the rows, the file.
    let unique = report(se, "Failure in test unique_people_id");
    assert!(unique.contains("on model people, column id"), "{unique}");
    assert!(
        unique.contains("Got 1 result, configured to fail if != 0"),
        "{unique}"
    );
    assert!(unique.contains("first failing rows"), "{unique}");
    assert!(
        unique.contains(
            "compiled code at target/compiled/checks/models/schema.yml/unique_people_id.sql"
        ),
        "{unique}"
    );
    let status = report(se, "Failure in test accepted_values_people_status");
    assert!(
        status.contains("on model people, column status"),
        "{status}"
    );
    assert!(status.contains("zombie"), "{status}");
    let rel = report(se, "Failure in test relationships_people_team_id");
    assert!(rel.contains("on model people, column team_id"), "{rel}");
    assert!(rel.contains("| 9 "), "the orphan key is shown:\n{rel}");
    let not_null = report(se, "Failure in test not_null_people_name");
    assert!(not_null.contains("Got 1 result"), "{not_null}");
    let pkg = report(se, "Failure in test greenhouse_utils_expression_is_true");
    assert!(pkg.contains("Got 2 results"), "{pkg}");
    assert!(pkg.contains("| 60 ") && pkg.contains("| 70 "), "{pkg}");
    let custom = report(se, "Failure in test is_multiple_of_people_score__20");
    assert!(custom.contains("Got 4 results"), "{custom}");
    // Six names are longer than 2: the count says 6, the preview shows 5 rows.
    let long = report(se, "Failure in test max_length_people_name__2");
    assert!(long.contains("Got 6 results"), "{long}");
    let shown = long
        .lines()
        .filter(|l| l.trim_start().starts_with("| ") && !l.contains("| id "))
        .count();
    assert_eq!(shown, 5, "five failing rows are shown:\n{long}");
    let singular = report(se, "Failure in test assert_scores_below_45");
    assert!(singular.contains("Got 3 results"), "{singular}");
    assert!(
        singular
            .contains("compiled code at target/compiled/checks/tests/assert_scores_below_45.sql"),
        "{singular}"
    );
    assert!(
        dir.join("target/compiled/checks/tests/assert_scores_below_45.sql")
            .is_file(),
        "the compiled file named in the report exists"
    );
    let warned = report(se, "Warning in test team_is_red");
    assert!(warned.contains("configured to warn if != 0"), "{warned}");
    let contract = report(se, "Error in model contracted");
    assert!(
        contract.contains("E525")
            && contract.contains("column 'email' is declared but the query does not return it"),
        "{contract}"
    );
    assert!(!dir.join("warehouse/main/contracted").exists());
    let dict = report(se, "Failure in unit_test doubles_from_dict");
    assert!(dict.contains("21"), "{dict}");

    // Keep the build's artifacts (the next command rewrites target/run_results.json).
    crate::common::copy_tree(&dir.join("target"), &dir.join("state"));

    // A warn-severity test alone: WARN and exit 0.
    let warn = weir(&["test", "--project-dir", d, "-s", "team_is_red"], dir);
    assert_eq!(warn.code, 0, "{}\n{}", warn.stdout, warn.stderr);
    assert!(
        warn.stdout.contains("WARN test team_is_red"),
        "{}",
        warn.stdout
    );
    assert!(warn.stdout.contains("WARN=1 ERROR=0"), "{}", warn.stdout);

    // result:error+ against the build's artifacts: the broken model and what it skipped.
    let ls = weir(
        &[
            "ls",
            "--project-dir",
            d,
            "--state",
            "state",
            "-s",
            "result:error+",
            "--resource-type",
            "model",
        ],
        dir,
    );
    assert_eq!(ls.code, 0, "{}", ls.stderr);
    assert_eq!(
        ls.stdout.lines().collect::<Vec<_>>(),
        vec!["checks.after_contracted", "checks.contracted"],
        "{}",
        ls.stderr
    );
}

/// Constraints under an enforced contract are checked on the data before the write: a
/// violation names the model, the constraint, its columns or expression, the number of
/// violating rows and the first of them, and the table keeps its previous version.
#[test]
fn constraints_are_checked_before_the_write() {
    let dir = tempfile::Builder::new()
        .prefix("weir-it-constraints-")
        .tempdir()
        .unwrap();
    let d = dir.path();
    write(
        d,
        "dbt_project.yml",
        "name: 'shop'\nconfig-version: 2\nversion: '1.0'\nprofile: 'shop'\n\
         models:\n  shop:\n    +materialized: table\n    +contract:\n      enforced: true\n",
    );
    write(
        d,
        "seeds/raw_items.csv",
        "id,sku,name,price\n1,A-1,pot,10\n2,A-2,soil,5\n3,A-3,seeds,2\n",
    );
    let model = "select cast(id as integer) as id, sku, name, cast(price as integer) as price from {{ ref('raw_items') }}\n";
    for m in ["items_pk", "items_check", "items_fk"] {
        write(d, &format!("models/{m}.sql"), model);
    }
    write(
        d,
        "models/items_log.sql",
        "{{ config(materialized='incremental') }}\n\
         select distinct cast(id as integer) as id from {{ ref('raw_items') }}\n",
    );
    write(
        d,
        "models/items_merged.sql",
        "{{ config(materialized='incremental', unique_key='id') }}\n\
         select distinct cast(id as integer) as id from {{ ref('raw_items') }}\n",
    );
    let cols = "      - {name: sku, data_type: varchar}\n      - {name: name, data_type: varchar}\n      - {name: price, data_type: integer}\n";
    write(
        d,
        "models/schema.yml",
        &format!(
            r#"version: 2
models:
  - name: items_pk
    columns:
      - name: id
        data_type: integer
        constraints:
          - type: primary_key
{cols}
  - name: items_check
    constraints:
      - type: check
        name: price_not_negative
        expression: "price >= 0"
      - type: unique
        columns: [sku]
    columns:
      - name: id
        data_type: integer
        constraints:
          - type: not_null
{cols}
  - name: items_fk
    columns:
      - name: id
        data_type: integer
        constraints:
          - type: foreign_key
            to: ref('items_pk')
            to_columns: [id]
{cols}
  - name: items_log
    columns:
      - name: id
        data_type: integer
        constraints:
          - type: unique
  - name: items_merged
    columns:
      - name: id
        data_type: integer
        constraints:
          - type: unique
"#
        ),
    );
    let p = d.to_str().unwrap();
    let first = weir(&["build", "--project-dir", p], d);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert!(
        first.stderr.contains("W527")
            && first
                .stderr
                .contains("model 'items_fk': the foreign_key constraint on (id)"),
        "foreign keys are not enforced, and a warning says so:\n{}",
        first.stderr
    );
    let wh = d.join("warehouse");
    for m in [
        "items_pk",
        "items_check",
        "items_fk",
        "items_log",
        "items_merged",
    ] {
        assert_eq!(
            count(&wh, &format!("select count(*) from main.{m}")),
            3,
            "{m}"
        );
    }
    // No temporary relation is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(wh.join("main"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("__weir"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Bad data: id 2 twice, a negative price, a repeated sku.
    write(
        d,
        "seeds/raw_items.csv",
        "id,sku,name,price\n1,A-1,pot,10\n2,A-2,soil,5\n2,A-1,soil,-5\n4,A-4,rake,-1\n",
    );
    let out = weir(&["build", "--project-dir", p], d);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let se = &out.stderr;
    let pk = report(se, "Error in model items_pk");
    assert!(
        pk.contains("E527")
            && pk.contains("model 'items_pk' violates its primary_key constraint on (id): 1 value(s) of (id) repeated"),
        "{pk}"
    );
    assert!(
        pk.contains("| 2  | 2 "),
        "the repeated key and its count:\n{pk}"
    );
    assert!(
        pk.contains("main.items_pk keeps its previous version"),
        "{pk}"
    );
    let check = report(se, "Error in model items_check");
    assert!(
        check.contains("check constraint 'price_not_negative' `price >= 0`: 2 row(s) where `price >= 0` is false"),
        "{check}"
    );
    assert!(check.contains("-5") && check.contains("rake"), "{check}");
    // The incremental model appends ids it already has.
    let log = report(se, "Error in model items_log");
    assert!(
        log.contains("unique constraint on (id): 2 new value(s) of (id) already in main.items_log"),
        "{log}"
    );
    // A merge on the key replaces the rows whose key comes again: no collision.
    assert!(
        out.stdout
            .contains("OK created incremental model main.items_merged"),
        "{}",
        out.stdout
    );
    assert_eq!(count(&wh, "select count(*) from main.items_merged"), 4);
    // Each table keeps the version written by the first build.
    for m in ["items_pk", "items_check", "items_log"] {
        assert_eq!(
            count(&wh, &format!("select count(*) from main.{m}")),
            3,
            "{m}"
        );
    }
    assert_eq!(
        count(&wh, "select count(*) from main.items_pk where price < 0"),
        0
    );
    // Without the failing constraints the same data goes through.
    edit(
        d,
        "models/schema.yml",
        "expression: \"price >= 0\"",
        "expression: \"price >= -10\"",
    );
    edit(
        d,
        "models/schema.yml",
        "      - type: unique\n        columns: [sku]\n",
        "",
    );
    let fixed = weir(&["build", "--project-dir", p, "-s", "items_check"], d);
    assert_eq!(fixed.code, 0, "{}\n{}", fixed.stdout, fixed.stderr);
    assert_eq!(count(&wh, "select count(*) from main.items_check"), 4);
}

/// `weir source freshness`: a source past `error_after` exits 1, one past `warn_after` only
/// warns (exit 0); then `source_status:fresher` against the earlier sources.json selects the
/// source that got newer data, and what reads it.
#[test]
fn stale_sources_and_source_status_fresher() {
    let dir = tempfile::Builder::new()
        .prefix("weir-it-fresh-")
        .tempdir()
        .unwrap();
    let d = dir.path();
    write(
        d,
        "dbt_project.yml",
        "name: 'feeds'\nconfig-version: 2\nversion: '1.0'\nprofile: 'feeds'\n",
    );
    write(
        d,
        "seeds/loads_a.csv",
        "id,loaded_at\n1,2020-01-01 00:00:00\n",
    );
    write(
        d,
        "seeds/loads_b.csv",
        "id,loaded_at\n1,2020-01-01 00:00:00\n",
    );
    write(
        d,
        "models/from_a.sql",
        "select * from {{ source('feeds', 'late') }}\n",
    );
    write(
        d,
        "models/from_b.sql",
        "select * from {{ source('feeds', 'lagging') }}\n",
    );
    write(
        d,
        "models/sources.yml",
        r#"version: 2
sources:
  - name: feeds
    schema: main
    loaded_at_field: loaded_at
    tables:
      - name: late
        identifier: loads_a
        freshness:
          error_after: {count: 1, period: day}
      - name: lagging
        identifier: loads_b
        freshness:
          warn_after: {count: 1, period: day}
      - name: queried
        identifier: loads_b
        loaded_at_query: "select max(loaded_at) from main.loads_b;"
        freshness:
          warn_after: {count: 1, period: day}
"#,
    );
    let p = d.to_str().unwrap();
    assert_eq!(weir(&["seed", "--project-dir", p], d).code, 0);
    let warn = weir(
        &[
            "source",
            "freshness",
            "--project-dir",
            p,
            "-s",
            "source:feeds.lagging",
        ],
        d,
    );
    assert_eq!(warn.code, 0, "{}\n{}", warn.stdout, warn.stderr);
    assert!(
        warn.stdout.contains("WARN freshness of feeds.lagging"),
        "{}",
        warn.stdout
    );
    // loaded_at_query instead of loaded_at_field: its one value is the last load.
    let queried = weir(
        &[
            "source",
            "freshness",
            "--project-dir",
            p,
            "-s",
            "source:feeds.queried",
        ],
        d,
    );
    assert_eq!(queried.code, 0, "{}\n{}", queried.stdout, queried.stderr);
    assert!(
        queried.stdout.contains("WARN freshness of feeds.queried"),
        "{}",
        queried.stdout
    );
    let sources = std::fs::read_to_string(d.join("target/sources.json")).unwrap();
    assert!(sources.contains("2020-01-01"), "{sources}");
    let stale = weir(&["source", "freshness", "--project-dir", p], d);
    assert_eq!(stale.code, 1, "{}\n{}", stale.stdout, stale.stderr);
    assert!(
        stale.stdout.contains("ERROR STALE freshness of feeds.late"),
        "{}",
        stale.stdout
    );
    assert!(
        stale.stdout.contains("WARN freshness of feeds.lagging"),
        "{}",
        stale.stdout
    );

    // Keep this run's artifacts, load newer data into loads_a only, check again.
    crate::common::copy_tree(&d.join("target"), &d.join("state"));
    write(
        d,
        "seeds/loads_a.csv",
        "id,loaded_at\n1,2020-01-01 00:00:00\n2,2021-06-01 00:00:00\n",
    );
    assert_eq!(
        weir(&["seed", "--project-dir", p, "-s", "loads_a"], d).code,
        0
    );
    weir(&["source", "freshness", "--project-dir", p], d);
    let ls = weir(
        &[
            "ls",
            "--project-dir",
            p,
            "--state",
            "state",
            "-s",
            "source_status:fresher+",
        ],
        d,
    );
    assert_eq!(ls.code, 0, "{}", ls.stderr);
    assert_eq!(
        ls.stdout.lines().collect::<Vec<_>>(),
        vec!["feeds.from_a", "source:feeds.feeds.late"],
        "{}",
        ls.stderr
    );
    // Without --state the selector says what it needs.
    let no_state = weir(
        &["ls", "--project-dir", p, "-s", "source_status:fresher"],
        d,
    );
    assert_eq!(no_state.code, 2, "{}", no_state.stdout);
    assert!(no_state.stderr.contains("--state"), "{}", no_state.stderr);
}

/// The jaffle_shop-shaped fixture: built clean, then a seed gets a repeated key and an
/// unknown loan status; `weir test` fails exactly the tests that see it (the staging views;
/// the tables keep the data they were built from), showing the rows, exit 1. Then, with the
/// seeds fixed, `build --select result:fail+ --state` reruns only those tests.
#[test]
fn jaffle_like_bad_seed_fails_the_right_tests_then_reruns_them() {
    let project = copy_project(&repo().join("tests/fixtures/jaffle_like"));
    let dir = project.path();
    let d = dir.to_str().unwrap();
    let built = weir(&["build", "--project-dir", d], dir);
    assert_eq!(built.code, 0, "{}\n{}", built.stdout, built.stderr);

    let members = std::fs::read_to_string(dir.join("seeds/raw_members.csv")).unwrap();
    let loans = std::fs::read_to_string(dir.join("seeds/raw_loans.csv")).unwrap();
    edit(dir, "seeds/raw_members.csv", "\n2,", "\n1,");
    edit(
        dir,
        "seeds/raw_loans.csv",
        "1,35,2021-03-03,returned",
        "1,35,2021-03-03,misplaced",
    );
    assert_eq!(weir(&["seed", "--project-dir", d], dir).code, 0);
    let out = weir(&["test", "--project-dir", d], dir);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let mut failed: Vec<String> = node_lines(&out.stdout)
        .into_iter()
        .filter(|l| l.starts_with("FAIL"))
        .map(|l| l.split_whitespace().nth(2).unwrap().to_string())
        .collect();
    failed.sort();
    assert_eq!(
        failed,
        vec![
            "accepted_values_stg_loans_status__reserved__on_loan__overdue__returned__returned_late__lost",
            "unique_stg_members_member_id",
        ],
        "{}",
        out.stdout
    );
    let unique = report(&out.stderr, "Failure in test unique_stg_members_member_id");
    assert!(
        unique.contains("on model stg_members, column member_id"),
        "{unique}"
    );
    assert!(unique.contains("Got 1 result"), "{unique}");
    assert!(
        unique.contains("| 1 "),
        "the repeated key is shown:\n{unique}"
    );
    let status = report(
        &out.stderr,
        "Failure in test accepted_values_stg_loans_status",
    );
    assert!(status.contains("misplaced"), "{status}");

    // Fix the data, then rerun what failed and only that.
    crate::common::copy_tree(&dir.join("target"), &dir.join("state"));
    std::fs::write(dir.join("seeds/raw_members.csv"), members).unwrap();
    std::fs::write(dir.join("seeds/raw_loans.csv"), loans).unwrap();
    assert_eq!(weir(&["seed", "--project-dir", d], dir).code, 0);
    let rerun = weir(
        &[
            "build",
            "--project-dir",
            d,
            "--state",
            "state",
            "-s",
            "result:fail+",
        ],
        dir,
    );
    assert_eq!(rerun.code, 0, "{}\n{}", rerun.stdout, rerun.stderr);
    let ran = node_lines(&rerun.stdout);
    assert_eq!(ran.len(), 2, "{}", rerun.stdout);
    assert!(ran.iter().all(|l| l.starts_with("PASS test")), "{ran:?}");
    assert!(
        ran.iter()
            .any(|l| l.contains("unique_stg_members_member_id")),
        "{ran:?}"
    );
}
