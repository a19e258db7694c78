//! `weir build` end to end: every materialization of the example project, an incremental run
//! with new data, and failures that must leave previous table versions readable.

use crate::common::*;

#[test]
fn example_project_builds_then_runs_incrementally() {
    let project = copy_project(&repo().join("example_project"));
    let dir = project.path().to_str().unwrap();
    let out = weir(&["build", "--project-dir", dir], project.path());
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("ERROR=0 SKIP=0"), "{}", out.stdout);
    for unit in [
        "customer_lifetime::customer_lifetime_skips_small_orders",
        "fct_daily_revenue::daily_revenue_sums_orders_per_day",
        "stg_payments::stg_payments_converts_cents",
        "stock_daily_flow::stock_daily_flow_merges_restated_days",
    ] {
        assert!(
            out.stdout.contains(&format!("PASS unit_test {unit}")),
            "unit test {unit} (dict, sql and csv inputs):\n{}",
            out.stdout
        );
    }
    let wh = project.path().join("warehouse");
    assert!(wh.join("main/orders/_delta_log").is_dir());
    assert!(
        wh.join("main/stg_orders/_weir_view.json").is_file(),
        "views are stored with the relation"
    );
    assert!(
        !wh.join("main/int_order_payments").exists(),
        "ephemeral models are never written"
    );
    let days_before = count(&wh, "select count(*) from main.fct_daily_revenue");

    // A new order on a new day, paid in full: the incremental model merges it in on the next
    // run. (Product 5's unit price is 8.99: the first order of the seed pays 899 cents for it.)
    let append = |file: &str, line: &str| {
        let path = project.path().join("seeds").join(file);
        let mut text = std::fs::read_to_string(&path).unwrap();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(line);
        text.push('\n');
        std::fs::write(&path, text).unwrap();
    };
    append("raw_orders.csv", "9001,1,5,1,2031-01-01,completed");
    append("raw_payments.csv", "9001,9001,bank_transfer,899");
    // The next load of the stock feed arrives too (load_batch 2): every strategy runs on its
    // existing table (scripts/test.sh compares the rows with dbt-duckdb's).
    let again = weir(
        &["build", "--project-dir", dir, "--vars", "{load_batch: 2}"],
        project.path(),
    );
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    for (model, how) in [
        ("fct_daily_revenue", "MERGE"),
        ("stock_daily_flow", "MERGE"),
        ("stock_movement_log", "APPEND"),
        ("stock_location_daily", "DELETE+INSERT"),
        ("stock_on_hand", "INSERT_OVERWRITE"),
        ("fct_stock_sales", "MICROBATCH"),
    ] {
        assert!(
            again
                .stdout
                .lines()
                .any(|l| l.contains(&format!("main.{model} ")) && l.contains(how)),
            "the second run of {model} is {how}:\n{}",
            again.stdout
        );
    }
    // on_schema_change: ignore drops the new column, append_new_columns adds it, sync_all_columns
    // also drops the retired one.
    let columns = |table: &str| {
        count(
            &wh,
            &format!(
                "select count(*) from information_schema.columns where table_schema = 'main' and table_name = '{table}'"
            ),
        )
    };
    assert_eq!(columns("stock_movement_log"), 7);
    assert_eq!(columns("stock_daily_flow"), 9);
    assert_eq!(
        count(
            &wh,
            "select count(*) from information_schema.columns where table_name = 'stock_location_daily' and column_name in ('units_damaged', 'movement_count')"
        ),
        1
    );
    assert_eq!(
        count(&wh, "select count(*) from main.fct_daily_revenue"),
        days_before + 1
    );
    // on_schema_change: append_new_columns — the table gains the model's new column.
    let model = project.path().join("models/marts/fct_daily_revenue.sql");
    let sql = std::fs::read_to_string(&model).unwrap();
    std::fs::write(
        &model,
        sql.replacen(
            "count(*) as order_count,",
            "count(*) as order_count,\n    max(quantity) as max_units,",
            1,
        ),
    )
    .unwrap();
    let third = weir(
        &["run", "--project-dir", dir, "-s", "fct_daily_revenue"],
        project.path(),
    );
    assert_eq!(third.code, 0, "{}\n{}", third.stdout, third.stderr);
    assert_eq!(
        count(&wh, "select count(*) from main.fct_daily_revenue"),
        days_before + 1
    );
    assert!(count(&wh, "select count(max_units) from main.fct_daily_revenue") >= 1);

    // Source freshness: raw_products was last loaded long ago (warn), payments_feed opts out.
    let fresh = weir(
        &["source", "freshness", "--project-dir", dir],
        project.path(),
    );
    assert_eq!(fresh.code, 0, "{}\n{}", fresh.stdout, fresh.stderr);
    assert!(
        fresh
            .stdout
            .contains("1 of 1 WARN freshness of shop_raw.raw_products"),
        "{}",
        fresh.stdout
    );
    let sources: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join("target/sources.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sources["results"][0]["status"], "warn");
    let rr: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join("target/run_results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        rr["metadata"]["dbt_schema_version"],
        "https://schemas.getdbt.com/dbt/run-results/v6.json"
    );
}

#[test]
fn a_failing_model_skips_downstream_and_keeps_the_previous_version() {
    let project = copy_project(&repo().join("tests/fixtures/jaffle_like"));
    let dir = project.path().to_str().unwrap();
    assert_eq!(
        weir(&["build", "--project-dir", dir], project.path()).code,
        0
    );
    let wh = project.path().join("warehouse");
    let loans_before = count(&wh, "select count(*) from main.loans");

    // A table model upstream of others now fails in the engine.
    let model = project.path().join("models/loans.sql");
    let text = std::fs::read_to_string(&model).unwrap();
    std::fs::write(&model, text.replacen("select", "select no_such_column,", 1)).unwrap();
    let out = weir(&["build", "--project-dir", dir], project.path());
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("ERROR creating table model main.loans"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("SKIP"),
        "tests of loans are skipped:\n{}",
        out.stdout
    );
    assert!(out.stderr.contains("no_such_column"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("target/compiled/library/models/loans.sql"),
        "{}",
        out.stderr
    );
    // The previous version is still there and readable.
    assert_eq!(count(&wh, "select count(*) from main.loans"), loans_before);
}

#[test]
fn duplicate_merge_keys_are_an_error_that_names_the_key() {
    let project = copy_project(&repo().join("tests/fixtures/jaffle_like"));
    let dir = project.path();
    std::fs::write(
        dir.join("models/loan_days.sql"),
        "{{ config(materialized='incremental', unique_key='day') }}\n\
         select loan_date as day, count(*) as n from {{ ref('stg_loans') }}\n\
         {% if is_incremental() %} group by loan_date union all select loan_date, 1 from {{ ref('stg_loans') }} {% endif %}\n\
         {% if not is_incremental() %} group by loan_date {% endif %}\n",
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let first = weir(&["build", "--project-dir", d, "-s", "+loan_days"], dir);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let wh = dir.join("warehouse");
    let before = count(&wh, "select count(*) from main.loan_days");
    let second = weir(&["run", "--project-dir", d, "-s", "loan_days"], dir);
    assert_eq!(second.code, 1, "{}", second.stdout);
    assert!(
        second.stderr.contains("unique_key") && second.stderr.contains("day"),
        "{}",
        second.stderr
    );
    assert_eq!(count(&wh, "select count(*) from main.loan_days"), before);
}

/// Bad data fails the right tests, with the failing rows shown; `store_failures` keeps them as
/// Delta tables in the audit schema; the models that depend on a failing model are skipped.
#[test]
fn bad_data_fails_the_right_tests_and_stores_failures() {
    let project = copy_project(&repo().join("tests/fixtures/jaffle_like"));
    let dir = project.path();
    let edit = |file: &str, from: &str, to: &str| {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has no {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit("seeds/raw_members.csv", "\n2,", "\n1,");
    edit(
        "seeds/raw_loans.csv",
        "1,35,2021-03-03,returned",
        "1,35,2021-03-03,misplaced",
    );
    let project_file = dir.join("dbt_project.yml");
    let mut text = std::fs::read_to_string(&project_file).unwrap();
    text.push_str("\ndata_tests:\n  library:\n    +store_failures: true\n");
    std::fs::write(&project_file, text).unwrap();

    let out = weir(&["build", "--project-dir", dir.to_str().unwrap()], dir);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("FAIL test unique_stg_members_member_id"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("FAIL test accepted_values_stg_loans_status"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains("on model stg_members, column member_id"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("first failing rows"), "{}", out.stderr);
    assert!(
        out.stderr.contains("misplaced"),
        "the failing value is shown:\n{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("SKIP table model main.members"),
        "{}",
        out.stdout
    );
    let audit = dir.join("warehouse/main_dbt_test__audit");
    let stored = std::fs::read_dir(&audit)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect::<Vec<_>>();
    assert!(
        stored.iter().any(|s| s == "unique_stg_members_member_id"),
        "{stored:?}"
    );
    assert_eq!(
        count(
            &dir.join("warehouse"),
            "select count(*) from main_dbt_test__audit.unique_stg_members_member_id"
        ),
        1
    );
}

/// A unit test whose expectation is wrong fails with a row diff, and `build` does not build the
/// model it tests.
#[test]
fn a_failing_unit_test_prints_a_row_diff() {
    let project = copy_project(&repo().join("example_project"));
    let dir = project.path();
    let yml = dir.join("models/marts/_unit_tests.yml");
    let text = std::fs::read_to_string(&yml).unwrap();
    std::fs::write(
        &yml,
        text.replace("2,10,coupon,500,5.0", "2,10,coupon,500,6.0"),
    )
    .unwrap();
    let out = weir(&["build", "--project-dir", dir.to_str().unwrap()], dir);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("FAIL unit_test stg_payments::stg_payments_converts_cents"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("missing (expected, not returned)") && out.stderr.contains("6.0"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("unexpected (returned, not expected)") && out.stderr.contains("5.0"),
        "{}",
        out.stderr
    );
    assert!(
        !dir.join("warehouse/main/stg_payments").exists(),
        "the model under a failing unit test is not built"
    );
}

/// An enforced contract is checked on the planned schema before anything is written.
#[test]
fn a_broken_contract_writes_nothing() {
    let project = copy_project(&repo().join("example_project"));
    let dir = project.path();
    let yml = dir.join("models/marts/_marts.yml");
    let text = std::fs::read_to_string(&yml).unwrap();
    let broken = text.replacen(
        "      - name: number_of_orders\n        data_type: bigint",
        "      - name: number_of_orders\n        data_type: varchar",
        1,
    );
    assert_ne!(text, broken);
    std::fs::write(&yml, broken).unwrap();
    let out = weir(
        &[
            "build",
            "--project-dir",
            dir.to_str().unwrap(),
            "-s",
            "+customers",
        ],
        dir,
    );
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stderr.contains("E525") && out.stderr.contains("number_of_orders"),
        "{}",
        out.stderr
    );
    assert!(!dir.join("warehouse/main/customers").exists());
}

/// Microbatch: the first run fills every batch from `begin`; a later run only redoes the last
/// `lookback` batches and keeps the rest.
#[test]
fn microbatch_builds_by_batches() {
    let project = copy_project(&repo().join("tests/fixtures/jaffle_like"));
    let dir = project.path();
    std::fs::write(
        dir.join("models/loans_by_month.sql"),
        "{{ config(materialized='incremental', incremental_strategy='microbatch', event_time='loaned_at', batch_size='month', begin='2021-01-01') }}\n\
         select cast(loan_date as timestamp) as loaned_at, loan_id from {{ ref('stg_loans') }}\n",
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let first = weir(&["build", "--project-dir", d, "-s", "+loans_by_month"], dir);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert!(first.stdout.contains("MICROBATCH"), "{}", first.stdout);
    let wh = dir.join("warehouse");
    let loans = count(&wh, "select count(*) from main.stg_loans");
    assert_eq!(
        count(&wh, "select count(*) from main.loans_by_month"),
        loans
    );
    let second = weir(&["run", "--project-dir", d, "-s", "loans_by_month"], dir);
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    assert!(
        second.stdout.contains("MICROBATCH 2 batches"),
        "{}",
        second.stdout
    );
    assert_eq!(
        count(&wh, "select count(*) from main.loans_by_month"),
        loans
    );

    // --event-time-start/--event-time-end: only the batches in the window are rebuilt (two
    // months of 2021, replaced in place by the same rows).
    let in_window = "select count(*) from main.loans_by_month \
                     where loaned_at >= timestamp '2021-02-01' and loaned_at < timestamp '2021-04-01'";
    let window = count(&wh, in_window);
    let ranged = weir(
        &[
            "run",
            "--project-dir",
            d,
            "-s",
            "loans_by_month",
            "--event-time-start",
            "2021-02-01",
            "--event-time-end",
            "2021-04-01",
        ],
        dir,
    );
    assert_eq!(ranged.code, 0, "{}\n{}", ranged.stdout, ranged.stderr);
    assert!(
        ranged.stdout.contains("MICROBATCH 2 batches"),
        "{}",
        ranged.stdout
    );
    assert_eq!(count(&wh, in_window), window);
    assert_eq!(
        count(&wh, "select count(*) from main.loans_by_month"),
        loans
    );
    let bad = weir(
        &["run", "--project-dir", d, "--event-time-start", "soon"],
        dir,
    );
    assert_eq!(bad.code, 2, "{}", bad.stdout);
    assert!(bad.stderr.contains("E105"), "{}", bad.stderr);
}

/// `append`, `delete+insert` and `insert_overwrite` on a second run with new data.
#[test]
fn incremental_strategies_apply_new_data() {
    let project = copy_project(&repo().join("tests/fixtures/jaffle_like"));
    let dir = project.path();
    let model = |name: &str, config: &str| {
        std::fs::write(
            dir.join(format!("models/{name}.sql")),
            format!(
                "{{{{ config(materialized='incremental', {config}) }}}}\n\
                 select loan_id, status, cast(loan_date as date) as loan_date from {{{{ ref('stg_loans') }}}}\n\
                 {{% if is_incremental() %}} where loan_id > (select max(loan_id) from {{{{ this }}}}) - 5 {{% endif %}}\n"
            ),
        )
        .unwrap();
    };
    model("loans_append", "incremental_strategy='append'");
    model(
        "loans_delete_insert",
        "incremental_strategy='delete+insert', unique_key='loan_id'",
    );
    model(
        "loans_overwrite",
        "incremental_strategy='insert_overwrite', partition_by=['status']",
    );
    let d = dir.to_str().unwrap();
    let sel = [
        "-s",
        "+loans_append",
        "+loans_delete_insert",
        "+loans_overwrite",
    ];
    let mut args = vec!["build", "--project-dir", d];
    args.extend(sel);
    let first = weir(&args, dir);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let wh = dir.join("warehouse");
    let loans = count(&wh, "select count(*) from main.stg_loans");
    assert!(
        wh.join("main/loans_overwrite/status=returned").is_dir(),
        "partition_by makes Delta partitions"
    );

    let second = weir(
        &[
            "run",
            "--project-dir",
            d,
            "-s",
            "loans_append",
            "loans_delete_insert",
            "loans_overwrite",
        ],
        dir,
    );
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    // append re-adds the last 5 loans; delete+insert replaces them; insert_overwrite replaces
    // the partitions (statuses) those 5 loans fall in, with only those loans.
    assert_eq!(
        count(&wh, "select count(*) from main.loans_append"),
        loans + 5
    );
    assert_eq!(
        count(&wh, "select count(*) from main.loans_delete_insert"),
        loans
    );
    assert_eq!(
        count(
            &wh,
            "select count(distinct loan_id) from main.loans_delete_insert"
        ),
        loans
    );
    let kept = count(
        &wh,
        "select count(*) from main.stg_loans where status not in (select status from main.stg_loans where loan_id > (select max(loan_id) from main.stg_loans) - 5)",
    );
    assert_eq!(
        count(&wh, "select count(*) from main.loans_overwrite"),
        kept + 5
    );
}

/// `--log-format json` prints only JSON events on stdout, closing with `run_finished`; `-q`
/// prints nothing on stdout when everything passes.
#[test]
fn json_log_format_and_quiet_print_only_what_they_promise() {
    let project = copy_project(&repo().join("tests/fixtures/jaffle_like"));
    let dir = project.path();
    let d = dir.to_str().unwrap();
    let out = weir(&["seed", "--project-dir", d, "--log-format", "json"], dir);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let events: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    let last = events.last().expect("events");
    assert_eq!(last["event"], "run_finished", "{}", out.stdout);
    assert_eq!(last["pass"], 3, "{}", out.stdout);
    let quiet = weir(&["seed", "--project-dir", d, "-q"], dir);
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert_eq!(
        quiet.stdout.trim(),
        "",
        "-q prints nothing when all is well"
    );
}

/// `full_refresh: false` on a model keeps its table through `--full-refresh`, as in dbt; the
/// other models are rebuilt.
#[test]
fn full_refresh_false_keeps_the_table() {
    let project = copy_project(&repo().join("tests/fixtures/jaffle_like"));
    let dir = project.path();
    let d = dir.to_str().unwrap();
    std::fs::write(
        dir.join("models/loans_kept.sql"),
        "{{ config(materialized='incremental', full_refresh=false) }}\n\
         select loan_id, {{ 'true' if is_incremental() else 'false' }} as incremental_run, \
         {{ 'true' if flags.FULL_REFRESH else 'false' }} as flag_full_refresh, \
         {{ 'true' if should_full_refresh() else 'false' }} as model_full_refresh, \
         '{{ flags.WHICH }}' as which \
         from {{ ref('stg_loans') }}\n",
    )
    .unwrap();
    let first = weir(&["build", "--project-dir", d, "-s", "+loans_kept"], dir);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let wh = dir.join("warehouse");
    let loans = count(&wh, "select count(*) from main.stg_loans");
    let again = weir(
        &[
            "run",
            "--project-dir",
            d,
            "-s",
            "loans_kept",
            "--full-refresh",
        ],
        dir,
    );
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert_eq!(
        count(
            &wh,
            "select count(*) from main.loans_kept where incremental_run"
        ),
        loans,
        "the run was incremental and appended to the kept table"
    );
    assert_eq!(
        count(&wh, "select count(*) from main.loans_kept"),
        2 * loans
    );
    assert_eq!(
        count(
            &wh,
            "select count(*) from main.loans_kept where which = 'build' and not incremental_run"
        ),
        loans,
        "flags.WHICH names the command"
    );
}

/// `weir test` judges the tests of a model together in one query; a broken test among them
/// still gets its own error, and the others their own results, as when run one by one.
#[test]
fn batched_tests_keep_their_own_results() {
    let project = copy_project(&repo().join("tests/fixtures/jaffle_like"));
    let dir = project.path();
    let d = dir.to_str().unwrap();
    let built = weir(&["build", "--project-dir", d], dir);
    assert_eq!(built.code, 0, "{}\n{}", built.stdout, built.stderr);
    let passed = built.stdout.matches("PASS test").count();

    let seed = dir.join("seeds/raw_members.csv");
    let text = std::fs::read_to_string(&seed).unwrap();
    std::fs::write(&seed, text.replacen("\n2,", "\n1,", 1)).unwrap();
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    std::fs::write(
        dir.join("tests/broken_on_purpose.sql"),
        "select no_such_column from {{ ref('stg_members') }}\n",
    )
    .unwrap();
    let seeded = weir(&["seed", "--project-dir", d], dir);
    assert_eq!(seeded.code, 0, "{}\n{}", seeded.stdout, seeded.stderr);
    let out = weir(&["test", "--project-dir", d], dir);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("ERROR test broken_on_purpose"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("no_such_column"),
        "the broken test's own error is shown:\n{}",
        out.stderr
    );
    assert!(
        out.stdout
            .contains("FAIL test unique_stg_members_member_id"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("first failing rows"), "{}", out.stderr);
    assert_eq!(
        out.stdout.matches("PASS test").count(),
        passed - 1,
        "every other test passes as before:\n{}",
        out.stdout
    );
}

/// A final-state unit test (`config: {meta: {expect_final_state: true}}`) checks the table after
/// the model's incremental strategy is applied to the given `this` rows: a wrong expectation
/// fails with the final state's row diff, and the strategy in the model's config decides it.
#[test]
fn a_final_state_unit_test_diffs_the_table_after_the_merge() {
    let project = copy_project(&repo().join("example_project"));
    let dir = project.path();
    let d = dir.to_str().unwrap();
    let yml = dir.join("models/inventory/_inventory.yml");
    let text = std::fs::read_to_string(&yml).unwrap();
    let edit = |from: &str, to: &str| {
        let t = std::fs::read_to_string(&yml).unwrap();
        assert!(t.contains(from), "{from:?}");
        std::fs::write(&yml, t.replacen(from, to, 1)).unwrap();
    };
    let unit = "stock_daily_flow::stock_daily_flow_merges_restated_days";

    // As committed: it passes. The untouched day (2024-06-01) is only in the final state: the
    // model's SELECT does not return it.
    let ok = weir(
        &["build", "--project-dir", d, "-s", "+stock_daily_flow"],
        dir,
    );
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    assert!(
        ok.stdout.contains(&format!("PASS unit_test {unit}")),
        "{}",
        ok.stdout
    );

    // Expect the restated day to take the new first_loaded_batch: merge_exclude_columns keeps
    // the old one, so the final state differs.
    edit(
        "units_sold: 6, units_net: -6, last_load_batch: 2, first_loaded_batch: 1}",
        "units_sold: 6, units_net: -6, last_load_batch: 2, first_loaded_batch: 2}",
    );
    std::fs::remove_dir_all(dir.join("warehouse")).unwrap();
    let out = weir(
        &["build", "--project-dir", d, "-s", "+stock_daily_flow"],
        dir,
    );
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!("FAIL unit_test {unit}")),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains(
            "final state (merge on product_id, location, movement_date into `this`) differs"
        ),
        "{}",
        out.stderr
    );
    // The diff: the expected row is missing, the merged row (first_loaded_batch kept) is not
    // expected.
    let diff = |stderr: &str, missing: &str, unexpected: &str| {
        let m = stderr.find("missing (expected, not returned):");
        let u = stderr.find("unexpected (returned, not expected):");
        match (m, u) {
            (Some(m), Some(u)) => {
                assert!(stderr[m..u].contains(missing), "{stderr}");
                assert!(stderr[u..].contains(unexpected), "{stderr}");
            }
            _ => panic!("no row diff:\n{stderr}"),
        }
    };
    diff(
        &out.stderr,
        r#"(5, "south_house", "2024-06-02", 6, -6, 2, 2)"#,
        r#"(5, "south_house", "2024-06-02", 6, -6, 2, 1)"#,
    );
    assert!(
        !dir.join("warehouse/main/stock_daily_flow").exists(),
        "the model under a failing unit test is not built"
    );

    // The same expectation, restored, under `append`: the old version of the restated day stays
    // in the table next to the new one.
    std::fs::write(&yml, &text).unwrap();
    let model = dir.join("models/inventory/stock_daily_flow.sql");
    let sql = std::fs::read_to_string(&model).unwrap();
    std::fs::write(
        &model,
        sql.replacen(
            "incremental_strategy='merge'",
            "incremental_strategy='append'",
            1,
        ),
    )
    .unwrap();
    let appended = weir(
        &["build", "--project-dir", d, "-s", "+stock_daily_flow"],
        dir,
    );
    assert_eq!(appended.code, 1, "{}", appended.stdout);
    assert!(
        appended.stderr.contains("final state (append into `this`)"),
        "{}",
        appended.stderr
    );
    // Append keeps the old version of the restated day and adds the new one as it is (no
    // merge_exclude_columns): both are unexpected, the merged row is missing.
    diff(
        &appended.stderr,
        r#"(5, "south_house", "2024-06-02", 6, -6, 2, 1)"#,
        r#"(5, "south_house", "2024-06-02", 5, NULL, 1, 1)"#,
    );
    diff(
        &appended.stderr,
        r#"(5, "south_house", "2024-06-02", 6, -6, 2, 1)"#,
        r#"(5, "south_house", "2024-06-02", 6, -6, 2, 2)"#,
    );

    // delete+insert replaces the restated day whole: first_loaded_batch is not kept.
    std::fs::write(
        &model,
        sql.replacen(
            "incremental_strategy='merge'",
            "incremental_strategy='delete+insert'",
            1,
        ),
    )
    .unwrap();
    let replaced = weir(
        &["build", "--project-dir", d, "-s", "+stock_daily_flow"],
        dir,
    );
    assert_eq!(replaced.code, 1, "{}", replaced.stdout);
    assert!(
        replaced.stderr.contains(
            "final state (delete+insert on product_id, location, movement_date into `this`)"
        ),
        "{}",
        replaced.stderr
    );
    diff(
        &replaced.stderr,
        r#"(5, "south_house", "2024-06-02", 6, -6, 2, 1)"#,
        r#"(5, "south_house", "2024-06-02", 6, -6, 2, 2)"#,
    );
    assert!(
        !replaced.stderr.contains("NULL, 1, 1)"),
        "the old version is deleted:\n{}",
        replaced.stderr
    );
}

/// `build` on a fresh warehouse runs each unit test after the parents of its model and before
/// the model, as dbt does: a csv input of a model not built yet (`orders`) is typed from the
/// real relation, so the test passes straight away. A failing unit test skips its model and
/// everything downstream (reported as SKIP); what does not depend on it is built.
#[test]
fn unit_tests_run_after_the_parents_of_their_model() {
    let project = copy_project(&repo().join("example_project"));
    let dir = project.path();
    let d = dir.to_str().unwrap();
    let yml = dir.join("models/marts/_unit_tests.yml");
    let edit = |from: &str, to: &str| {
        let t = std::fs::read_to_string(&yml).unwrap();
        assert!(t.contains(from), "{from:?}");
        std::fs::write(&yml, t.replacen(from, to, 1)).unwrap();
    };
    // The daily revenue test's input as csv: values are text until typed by `orders`.
    edit(
        "      - input: ref('orders')
        rows:
          - {order_id: 1, order_date: 2024-03-01, quantity: 2, amount: 20.0, status: completed}
          - {order_id: 2, order_date: 2024-03-01, quantity: 1, amount: 5.5, status: returned}
          - {order_id: 3, order_date: 2024-03-02, quantity: 3, amount: 30.0, status: shipped}",
        "      - input: ref('orders')
        format: csv
        rows: |
          order_id,order_date,quantity,amount,status
          1,2024-03-01,2,20.0,completed
          2,2024-03-01,1,5.5,returned
          3,2024-03-02,3,30.0,shipped",
    );
    let out = weir(&["build", "--project-dir", d, "--no-progress"], dir);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let so = &out.stdout;
    let at = |line: &str| {
        so.lines()
            .position(|l| l.contains(line))
            .unwrap_or_else(|| panic!("no line {line:?} in:\n{so}"))
    };
    let unit = at("PASS unit_test fct_daily_revenue::daily_revenue_sums_orders_per_day ");
    assert!(at("OK created table model main.orders ") < unit, "{so}");
    assert!(
        unit < at("OK created incremental model main.fct_daily_revenue "),
        "{so}"
    );
    let unit = at("PASS unit_test stg_payments::stg_payments_converts_cents ");
    assert!(at("OK loaded seed file main.raw_payments ") < unit, "{so}");
    assert!(
        unit < at("OK created view model main.stg_payments "),
        "{so}"
    );
    // Unit tests are counted with the other nodes.
    let total = so.lines().filter(|l| l.contains(" of ")).count();
    assert!(
        so.contains(&format!("Done. PASS={total} WARN=0 ERROR=0 SKIP=0")),
        "{so}"
    );

    // A wrong expectation on stg_payments, on a fresh warehouse: the unit test fails, the model
    // and what depends on it (through the ephemeral int_order_payments) are skipped, the unit
    // test of a model downstream too; the rest is built.
    edit("2,10,coupon,500,5.0", "2,10,coupon,500,6.0");
    std::fs::remove_dir_all(dir.join("warehouse")).unwrap();
    let out = weir(&["build", "--project-dir", d, "--no-progress"], dir);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let so = &out.stdout;
    for line in [
        "FAIL unit_test stg_payments::stg_payments_converts_cents ",
        "SKIP view model main.stg_payments ",
        "SKIP table model main.orders ",
        "SKIP unit_test fct_daily_revenue::daily_revenue_sums_orders_per_day ",
        "SKIP incremental model main.fct_daily_revenue ",
        "SKIP test unique_fct_daily_revenue_order_date ",
        "OK created view model main.stg_customers ",
        "PASS unit_test stock_daily_flow::stock_daily_flow_merges_restated_days ",
    ] {
        assert!(
            so.lines().any(|l| l.contains(line)),
            "no {line:?} in:\n{so}"
        );
    }
    let wh = dir.join("warehouse/main");
    assert!(!wh.join("stg_payments").exists() && !wh.join("fct_daily_revenue").exists());
    assert!(wh.join("stg_customers").exists());
    let rr: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("target/run_results.json")).unwrap(),
    )
    .unwrap();
    let status = |id: &str| {
        rr["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["unique_id"] == id)
            .map(|r| r["status"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(
        status("unit_test.greenhouse.stg_payments.stg_payments_converts_cents").as_deref(),
        Some("fail")
    );
    assert_eq!(
        status("model.greenhouse.stg_payments").as_deref(),
        Some("skipped")
    );
}

/// Unit-test `overrides` of any macro and of `env_vars`, as dbt has them: the model renders
/// with the given values instead of the real macro and environment.
#[test]
fn unit_test_overrides_macros_and_env_vars() {
    let project = copy_project(&repo().join("tests/fixtures/jaffle_like"));
    let dir = project.path();
    let d = dir.to_str().unwrap();
    std::fs::create_dir_all(dir.join("macros")).unwrap();
    std::fs::write(
        dir.join("macros/batch_label.sql"),
        "{% macro batch_label() %}'live'{% endmacro %}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("models/labelled_members.sql"),
        "select member_id, {{ batch_label() }} as label, \
         '{{ env_var(\"WEIR_TEST_REGION\", \"eu\") }}' as region \
         from {{ ref('stg_members') }}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("models/labelled_members.yml"),
        "unit_tests:\n\
         \x20 - name: labels_come_from_overrides\n\
         \x20   model: labelled_members\n\
         \x20   overrides:\n\
         \x20     macros:\n\
         \x20       batch_label: \"'frozen'\"\n\
         \x20     env_vars:\n\
         \x20       WEIR_TEST_REGION: us\n\
         \x20   given:\n\
         \x20     - input: ref('stg_members')\n\
         \x20       rows:\n\
         \x20         - {member_id: 7}\n\
         \x20   expect:\n\
         \x20     rows:\n\
         \x20       - {member_id: 7, label: frozen, region: us}\n",
    )
    .unwrap();
    let out = weir(
        &["build", "--project-dir", d, "-s", "+labelled_members"],
        dir,
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("PASS unit_test labelled_members::labels_come_from_overrides"),
        "{}",
        out.stdout
    );
    // The model itself is built with the real macro and environment.
    assert_eq!(
        count(
            &dir.join("warehouse"),
            "select count(*) from main.labelled_members where label = 'live' and region = 'eu'"
        ),
        count(
            &dir.join("warehouse"),
            "select count(*) from main.stg_members"
        )
    );
}

/// `weir show`: one model's rows (or an inline query), and a clear error for no or several
/// models.
#[test]
fn show_prints_rows_of_one_model() {
    let project = copy_project(&repo().join("tests/fixtures/jaffle_like"));
    let dir = project.path();
    let d = dir.to_str().unwrap();
    let seeded = weir(&["seed", "--project-dir", d], dir);
    assert_eq!(seeded.code, 0, "{}", seeded.stderr);
    let out = weir(
        &[
            "show",
            "--project-dir",
            d,
            "-s",
            "stg_members",
            "--limit",
            "2",
        ],
        dir,
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("member_id"), "{}", out.stdout);
    let rows = out.stdout.lines().filter(|l| l.starts_with("| ")).count();
    assert_eq!(rows, 3, "a header and two rows:\n{}", out.stdout);
    let inline = weir(
        &[
            "show",
            "--project-dir",
            d,
            "--inline",
            "select 41 + 1 as answer",
        ],
        dir,
    );
    assert!(inline.stdout.contains("42"), "{}", inline.stdout);
    let none = weir(&["show", "--project-dir", d], dir);
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("E403"), "{}", none.stderr);
    let many = weir(
        &["show", "--project-dir", d, "-s", "stg_members", "stg_loans"],
        dir,
    );
    assert_eq!(many.code, 2);
    assert!(many.stderr.contains("matches 2"), "{}", many.stderr);
}

/// A failing `on-run-end` hook is an error (exit 2) that names the hook, and the results of the
/// nodes that ran are still written to `run_results.json`.
#[test]
fn a_failing_on_run_end_hook_keeps_run_results() {
    let project = copy_project(&repo().join("tests/fixtures/jaffle_like"));
    let dir = project.path();
    let d = dir.to_str().unwrap();
    let file = dir.join("dbt_project.yml");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("\non-run-end:\n  - \"select * from main.no_such_table\"\n");
    std::fs::write(&file, text).unwrap();
    let out = weir(&["seed", "--project-dir", d], dir);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("on-run-end"), "{}", out.stderr);
    let results = std::fs::read_to_string(dir.join("target/run_results.json")).unwrap();
    let results: serde_json::Value = serde_json::from_str(&results).unwrap();
    assert_eq!(results["results"].as_array().map(Vec::len), Some(3));
}

/// `on_schema_change: sync_all_columns` widens types where no value is lost, also inside
/// structs, and adds new struct fields (`append_new_columns` too); a change that could lose
/// values is an error that leaves the table as it was.
#[test]
fn schema_changes_widen_types_and_evolve_structs() {
    let project = copy_project(&repo().join("tests/fixtures/jaffle_like"));
    let dir = project.path();
    let d = dir.to_str().unwrap();
    let model = |mode: &str| {
        format!(
            "{{{{ config(materialized='incremental', on_schema_change='{mode}') }}}}\n\
             {{% if var('v') == 1 %}}\n\
             select 1 as id, cast(1 as int) as n, named_struct('a', cast(1 as int), 'b', 'x') as s\n\
             {{% elif var('v') == 2 %}}\n\
             select 2 as id, cast(3000000000 as bigint) as n, \
             named_struct('b', 'y', 'c', true, 'a', cast(5000000000 as bigint)) as s\n\
             {{% else %}}\n\
             select 3 as id, 'text' as n, named_struct('a', cast(3 as int), 'b', 'z') as s\n\
             {{% endif %}}\n"
        )
    };
    std::fs::write(dir.join("models/evolving.sql"), model("sync_all_columns")).unwrap();
    std::fs::write(
        dir.join("models/appending.sql"),
        model("append_new_columns"),
    )
    .unwrap();
    let run = |v: u32| {
        weir(
            &[
                "run",
                "--project-dir",
                d,
                "-s",
                "evolving",
                "appending",
                "--vars",
                &format!("{{v: {v}}}"),
            ],
            dir,
        )
    };
    let first = run(1);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    let second = run(2);
    let wh = dir.join("warehouse");
    // sync_all_columns: n and s.a widened to bigint, s gains c.
    assert_eq!(second.code, 1, "{}\n{}", second.stdout, second.stderr);
    assert_eq!(
        count(&wh, "select sum(n) from main.evolving"),
        3_000_000_001
    );
    assert_eq!(
        count(&wh, "select sum(s['a']) from main.evolving"),
        5_000_000_001
    );
    assert_eq!(
        count(
            &wh,
            "select count(*) from main.evolving where (id = 1 and s['c'] is null and s['b'] = 'x') \
             or (id = 2 and s['c'] and s['b'] = 'y')"
        ),
        2
    );
    // append_new_columns: s gains c, but the types stay, so 3000000000 does not fit in int.
    let out = format!("{}{}", second.stdout, second.stderr);
    assert!(
        out.contains("ERROR creating incremental model main.appending")
            && out.contains("Can't cast value 3000000000 to type Int32"),
        "{out}"
    );
    assert_eq!(
        count(
            &wh,
            "select count(*) from main.appending where s['c'] is null"
        ),
        1
    );
    let third = run(3);
    assert_eq!(third.code, 1, "{}\n{}", third.stdout, third.stderr);
    let out = format!("{}{}", third.stdout, third.stderr);
    assert!(
        out.contains("E524") && out.contains("n: Int64 -> Utf8"),
        "{out}"
    );
    assert_eq!(
        count(&wh, "select count(*) from main.evolving"),
        2,
        "unchanged"
    );
}

/// An engine error in a model points at the model's own file, line and column, with the
/// compiled line as a note.
#[test]
fn sql_errors_point_at_the_model_file() {
    let project = copy_project(&repo().join("tests/fixtures/jaffle_like"));
    let dir = project.path();
    std::fs::write(
        dir.join("models/bad_column.sql"),
        "{{ config(materialized='table') }}\nselect\n    member_id,\n    no_such_col as x\nfrom {{ ref('stg_members') }}\n",
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let out = weir(&["build", "--project-dir", d, "-s", "+bad_column"], dir);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("--> models/bad_column.sql:4:5"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("= note: compiled line 4: no_such_col as x"),
        "{}",
        out.stderr
    );
}

/// As dbt compiles each node just before it runs: a model and a test that read a seed's columns
/// and values while compiling (`adapter.get_columns_in_relation`, `run_query`) build on a fresh
/// warehouse, where the seed exists only once the same `build` has loaded it; an analysis that
/// queries a missing table is not compiled by `build` at all; a model whose introspection
/// still fails at its turn is an error of that model alone.
#[test]
fn nodes_that_introspect_compile_at_their_turn() {
    let dir = project_of(&[
        ("dbt_project.yml",
        "name: late\nversion: '1.0'\nprofile: late\n"),
        ("seeds/colours.csv", "id,colour\n1,red\n2,blue\n"),
        ("models/colour_columns.sql",
        "{% set cols = adapter.get_columns_in_relation(ref('colours')) %}\n\
         {% set n = run_query('select count(*) from ' ~ ref('colours')).columns[0].values()[0] if execute else 0 %}\n\
         select {% for c in cols %}{{ c.name }}{% if not loop.last %}, {% endif %}{% endfor %}, {{ n }} as n\n\
         from {{ ref('colours') }}\n"),
        ("models/broken.sql",
        "{% set r = run_query('select * from main.no_such_table') %}\nselect 1 as x\n"),
        ("models/after_broken.sql",
        "select * from {{ ref('broken') }}\n"),
        ("analyses/peek.sql",
        "{% set r = run_query('select * from main.never_built') %}select 1\n"),
        ("models/schema.yml",
        "version: 2\nmodels:\n  - name: colour_columns\n    data_tests:\n      - dbt_utils_like_columns\n"),
        ("tests/generic/dbt_utils_like_columns.sql",
        "{% test dbt_utils_like_columns(model) %}\n\
         {% set cols = adapter.get_columns_in_relation(model) %}\n\
         select * from {{ model }} where {{ cols | length }} != 3\n\
         {% endtest %}\n"),
    ]);
    let root = dir.path();
    let out = weir(&["build", "--project-dir", root.to_str().unwrap()], root);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("PASS=3 WARN=0 ERROR=1 SKIP=1"),
        "{}",
        out.stdout
    );
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("ERROR creating view model main.broken"),
        "{all}"
    );
    assert!(all.contains("no_such_table"), "{all}");
    assert_eq!(
        count(
            &root.join("warehouse"),
            "select count(*) from main.colour_columns where n = 2 and colour in ('red', 'blue')"
        ),
        2
    );
    let compiled =
        std::fs::read_to_string(root.join("target/compiled/late/models/colour_columns.sql"))
            .unwrap();
    assert!(compiled.contains("select id, colour, 2 as n"), "{compiled}");
}

/// The Jinja surface dbt packages lean on, in one project of our own: `kwargs` forwarded to a
/// dispatched macro, columns as `api.Column` objects, relations as mappings, agate rows by
/// column name, mutable lists from YAML arguments and `list`, Python's `re` with lookahead,
/// date arithmetic with `timedelta`, and a source schema written in Jinja.
#[test]
fn the_jinja_surface_packages_use() {
    let dir = project_of(&[
        ("dbt_project.yml",
        "name: surface\nversion: '1.0'\nprofile: surface\n"),
        ("seeds/things.csv", "id,label,price\n1,a,1.5\n2,b,2.5\n"),
        ("seeds/fewer.csv", "id\n1\n"),
        ("macros/helpers.sql",
        "{% macro describe(rel) %}{{ return(adapter.dispatch('describe')(rel, **kwargs)) }}{% endmacro %}\n\
         {% macro default__describe(rel) %}\
         {%- set cols = adapter.get_columns_in_relation(rel) -%}\
         {%- set nums = [] -%}\
         {%- for c in cols if c.is_number() %}{% do nums.append(c.name) %}{% endfor -%}\
         {{ return(nums | join(',') ~ '|' ~ kwargs.get('tag', 'none')) }}\
         {% endmacro %}\n"),
        ("models/surface.sql",
        "{% set described = describe(ref('things'), tag='x') %}\n\
         {% set labels = [] %}\n\
         {% if execute %}{% for row in run_query('select label from ' ~ ref('things') ~ ' order by id') %}{% do labels.append(row.label) %}{% endfor %}{% endif %}\n\
         {% set last = (labels | list).pop() if labels else '' %}\n\
         {% set day = modules.datetime.date(2024, 3, 1) - modules.datetime.timedelta(days=1) %}\n\
         {% set found = modules.re.findall('x(?=y)', 'xy xz') %}\n\
         select '{{ described }}' as described, '{{ labels | join(\"\") }}' as labels, \
         '{{ last }}' as last_label, '{{ day }}' as day, '{{ found | length }}' as found, \
         '{{ ref(\"things\") is mapping }}' as rel_is_mapping, \
         '{{ ref(\"things\").get(\"metadata\")[\"type\"] }}' as rel_type, \
         '{{ adapter.get_missing_columns(ref(\"things\"), ref(\"fewer\")) | map(attribute=\"name\") | join(\",\") }}' as missing, \
         '{{ get_columns_in_query(\"select 1 as a, 2 as b\") | join(\",\") }}' as query_columns, \
         '{{ adapter.check_schema_exists(target.database, \"main\") }}' as schema_exists, \
         '{{ adapter.list_relations_without_caching(ref(\"things\")) | map(attribute=\"identifier\") | select(\"in\", [\"fewer\", \"things\"]) | join(\",\") }}' as listed\n"),
        ("models/sources.yml",
        "version: 2\nsources:\n  - name: raw\n    schema: \"{{ target.schema ~ '_raw' }}\"\n    tables:\n      - name: events\n"),
        ("models/from_source.sql",
        "select '{{ source(\"raw\", \"events\") }}' as rel\n"),
    ]);
    let root = dir.path();
    let dirs = root.to_str().unwrap();
    let out = weir(&["build", "--project-dir", dirs], root);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let sql =
        std::fs::read_to_string(root.join("target/compiled/surface/models/surface.sql")).unwrap();
    for want in [
        "'id,price|x' as described",
        "'ab' as labels",
        "'b' as last_label",
        "'2024-02-29' as day",
        "'1' as found",
        "'True' as rel_is_mapping",
        "'DataFusionRelation' as rel_type",
        "'label,price' as missing",
        "'a,b' as query_columns",
        "'True' as schema_exists",
        "'fewer,things' as listed",
    ] {
        assert!(sql.contains(want), "{want} not in\n{sql}");
    }
    let src = std::fs::read_to_string(root.join("target/compiled/surface/models/from_source.sql"))
        .unwrap();
    assert!(src.contains("\"main_raw\".\"events\""), "{src}");
}
