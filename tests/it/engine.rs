//! The engine layer on its own: DataFusion over a Delta Lake warehouse in a temp dir.

use std::collections::BTreeMap;
use std::path::Path;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::util::display::array_value_to_string;
use weir::engine::{Engine, RelationKind};

fn warehouse() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("weir-engine-")
        .tempdir()
        .expect("tempdir")
}

async fn open(dir: &Path) -> Engine {
    let options = weir::engine::EngineOptions {
        memory_limit: 1 << 30,
        temp_directory: std::env::temp_dir().join("weir-spill"),
    };
    Engine::open(dir.to_str().unwrap(), "warehouse", "main", &options)
        .await
        .expect("open")
}

/// Rows as `a|b|c` strings (NULL prints as nothing).
fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let cells: Vec<String> = (0..b.num_columns())
                .map(|c| array_value_to_string(b.column(c), r).unwrap())
                .collect();
            out.push(cells.join("|"));
        }
    }
    out
}

async fn q(e: &Engine, sql: &str) -> Vec<String> {
    match e.query(sql).await {
        Ok(b) => rows(&b),
        Err(err) => panic!("{sql}\n{err}"),
    }
}

fn versions(table_dir: &Path) -> usize {
    std::fs::read_dir(table_dir.join("_delta_log"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".json")
        })
        .count()
}

const ORDERS: &str = "select * from (values (1, 'ann', 10.5), (2, 'bob', 20.0), (3, 'cy', 5.25)) \
                      as t(id, name, amount)";

#[tokio::test]
async fn ctas_queries_back_and_a_failing_ctas_keeps_the_old_version() {
    let wh = warehouse();
    let e = open(wh.path()).await;
    assert_eq!(
        e.create_table_as("main", "orders", ORDERS, &[])
            .await
            .unwrap(),
        3
    );
    assert!(e.exists("main", "orders"));
    assert_eq!(e.kind("main", "orders"), Some(RelationKind::Table));
    for sql in [
        "select count(*), sum(amount) from warehouse.main.orders",
        "select count(*), sum(amount) from \"warehouse\".\"main\".\"orders\"",
        "select count(*), sum(amount) from main.orders",
        "select count(*), sum(amount) from ORDERS",
    ] {
        assert_eq!(q(&e, sql).await, ["3|35.75"], "{sql}");
    }
    let cols = e.columns("main", "orders").await.unwrap();
    let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["id", "name", "amount"]);

    let dir = wh.path().join("main/orders");
    assert_eq!(versions(&dir), 1);
    // Fails while planning.
    let err = e
        .create_table_as(
            "main",
            "orders",
            "select no_such_column from main.orders",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(err.diagnostic().code, "E501");
    assert!(err.diagnostic().message.contains("no_such_column"), "{err}");
    // Fails while running, after reading the table it replaces.
    let err = e
        .create_table_as(
            "main",
            "orders",
            "select cast(name as int) as n from main.orders",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(err.diagnostic().code, "E503", "{err}");
    assert_eq!(versions(&dir), 1);
    assert_eq!(
        q(&e, "select id, name from orders order by id").await,
        ["1|ann", "2|bob", "3|cy"]
    );

    // A new version may change the schema, including timestamps with and without time zone.
    let n = e
        .create_table_as(
            "main",
            "orders",
            "select id, cast('2024-01-02 03:04:05' as timestamp) as ts, now() as loaded_at \
             from main.orders where id < 3",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        q(&e, "select id, ts from orders order by id").await,
        ["1|2024-01-02T03:04:05", "2|2024-01-02T03:04:05"]
    );

    // A bad statement is an error, not a panic; so is an unknown relation.
    assert!(e.query("selec 1").await.is_err());
    assert_eq!(
        e.query("select * from main.nope")
            .await
            .unwrap_err()
            .diagnostic()
            .code,
        "E501"
    );
    assert_eq!(
        e.columns("main", "nope")
            .await
            .unwrap_err()
            .diagnostic()
            .code,
        "E502"
    );
    let schema = e.schema_of("select id, name from main.orders").await;
    assert!(schema.is_err(), "name was dropped by the last CTAS");
    let schema = e.schema_of("select id, ts from main.orders").await.unwrap();
    assert_eq!(schema.fields().len(), 2);
}

#[tokio::test]
async fn views_survive_reopening_and_replace_tables() {
    let wh = warehouse();
    {
        let e = open(wh.path()).await;
        e.create_table_as("main", "orders", ORDERS, &[])
            .await
            .unwrap();
        e.create_view(
            "main",
            "big_orders",
            "select id, amount from warehouse.main.orders where amount > 6",
        )
        .await
        .unwrap();
        assert_eq!(e.kind("main", "big_orders"), Some(RelationKind::View));
        // A view on a view, in another schema.
        e.create_view("reporting", "big_ids", "select id from main.big_orders")
            .await
            .unwrap();
        // Invalid SQL is refused and writes nothing.
        let err = e
            .create_view("main", "bad", "select nope from main.orders")
            .await
            .unwrap_err();
        assert_eq!(err.diagnostic().code, "E501");
        assert!(!e.exists("main", "bad"));
        // A view may not end up depending on itself.
        let err = e
            .create_view("main", "big_orders", "select id from reporting.big_ids")
            .await
            .unwrap_err();
        assert_eq!(err.diagnostic().code, "E506", "{err}");
    }
    let e = open(wh.path()).await;
    assert_eq!(e.kind("main", "big_orders"), Some(RelationKind::View));
    assert_eq!(
        q(&e, "select id from main.big_orders order by id").await,
        ["1", "2"]
    );
    assert_eq!(
        q(&e, "select count(*) from warehouse.reporting.big_ids").await,
        ["2"]
    );
    let cols = e.columns("main", "big_orders").await.unwrap();
    assert_eq!(cols.len(), 2);
    // Views see later versions of their tables.
    e.append(
        "main",
        "orders",
        "select 4 as id, 'dee' as name, 99.0 as amount",
    )
    .await
    .unwrap();
    assert_eq!(q(&e, "select count(*) from main.big_orders").await, ["3"]);
    // A table replaces a view and a view replaces a table.
    e.create_table_as("main", "big_orders", "select 1 as x", &[])
        .await
        .unwrap();
    assert_eq!(e.kind("main", "big_orders"), Some(RelationKind::Table));
    assert_eq!(q(&e, "select x from main.big_orders").await, ["1"]);
    e.create_view("main", "big_orders", "select 2 as y")
        .await
        .unwrap();
    assert_eq!(e.kind("main", "big_orders"), Some(RelationKind::View));
    assert_eq!(q(&e, "select y from main.big_orders").await, ["2"]);
    assert!(!wh.path().join("main/big_orders/_delta_log").exists());
    // information_schema lists both kinds.
    let listed = q(
        &e,
        "select table_schema, table_name, table_type from information_schema.tables \
         where table_catalog = 'warehouse' and table_schema <> 'information_schema' \
         order by 1, 2",
    )
    .await;
    assert_eq!(
        listed,
        [
            "main|big_orders|VIEW",
            "main|orders|BASE TABLE",
            "reporting|big_ids|VIEW"
        ]
    );
    e.drop_relation("main", "big_orders").await.unwrap();
    e.drop_relation("main", "big_orders").await.unwrap();
    assert!(!e.exists("main", "big_orders"));
}

#[tokio::test]
async fn append_adds_rows_matched_by_name() {
    let wh = warehouse();
    let e = open(wh.path()).await;
    // Appending to a missing table creates it.
    assert_eq!(e.append("main", "events", ORDERS).await.unwrap(), 3);
    // Columns in another order, one missing, one extra: matched by name (dbt's 'ignore').
    let n = e
        .append(
            "main",
            "events",
            "select 9.0 as amount, 7 as id, 'x' as extra",
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        q(&e, "select id, name, amount from main.events order by id").await,
        // `10.5` and `5.25` are decimal literals (as in DuckDB): the column is decimal(4, 2).
        ["1|ann|10.50", "2|bob|20.00", "3|cy|5.25", "7||9.00"]
    );
    assert_eq!(versions(&wh.path().join("main/events")), 2);
}

#[tokio::test]
async fn merge_updates_inserts_and_rejects_duplicate_keys() {
    let wh = warehouse();
    let e = open(wh.path()).await;
    e.create_table_as("main", "customers", ORDERS, &[])
        .await
        .unwrap();
    let key = ["id".to_string()];
    let n = e
        .merge(
            "main",
            "customers",
            "select * from (values (2, 'bobby', 21.0), (4, 'dee', 4.0)) as t(id, name, amount)",
            &key,
            None,
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        q(
            &e,
            "select id, name, amount from main.customers order by id"
        )
        .await,
        ["1|ann|10.50", "2|bobby|21.00", "3|cy|5.25", "4|dee|4.00"]
    );
    let dir = wh.path().join("main/customers");
    assert_eq!(versions(&dir), 2);

    // Only the listed columns are updated.
    let only = ["amount".to_string()];
    e.merge(
        "main",
        "customers",
        "select 1 as id, 'ANN' as name, 1.0 as amount",
        &key,
        Some(&only),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        q(&e, "select name, amount from main.customers where id = 1").await,
        ["ann|1.00"]
    );

    let err = e
        .merge(
            "main",
            "customers",
            "select * from (values (3, 'a', 1.0), (3, 'b', 2.0), (5, 'c', 3.0)) as t(id, name, amount)",
            &key,
            None,
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(err.diagnostic().code, "E504");
    assert!(err.diagnostic().message.contains("id = 3"), "{err}");
    assert_eq!(versions(&dir), 3, "a rejected merge commits nothing");

    let err = e
        .merge(
            "main",
            "customers",
            ORDERS,
            &["nope".to_string()],
            None,
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(err.diagnostic().code, "E506", "{err}");

    // incremental_predicates narrow what the merge may match: id 2 is outside them, so the
    // new row for it is inserted beside the old one, as dbt's merge does.
    let predicates = ["DBT_INTERNAL_DEST.id >= 3".to_string()];
    e.merge(
        "main",
        "customers",
        "select * from (values (2, 'b3', 2.0), (3, 'cy2', 6.0)) as t(id, name, amount)",
        &key,
        None,
        &predicates,
    )
    .await
    .unwrap();
    assert_eq!(
        q(
            &e,
            "select id, name from main.customers where id in (2, 3) order by id, name"
        )
        .await,
        ["2|b3", "2|bobby", "3|cy2"]
    );
    let err = e
        .merge(
            "main",
            "customers",
            ORDERS,
            &key,
            None,
            &["DBT_INTERNAL_DEST.nope > 1".to_string()],
        )
        .await
        .unwrap_err();
    assert!(
        err.diagnostic().message.contains("incremental_predicates"),
        "{err}"
    );
}

#[tokio::test]
async fn delete_insert_replaces_rows_by_key_in_one_commit() {
    let wh = warehouse();
    let e = open(wh.path()).await;
    e.create_table_as(
        "main",
        "facts",
        "select * from (values (1, 'a'), (2, 'b'), (2, 'b2'), (3, 'c'), (null, 'n')) as t(id, v)",
        &[],
    )
    .await
    .unwrap();
    let n = e
        .delete_insert(
            "main",
            "facts",
            "select * from (values (2, 'new2'), (4, 'new4'), (null, 'n2')) as t(id, v)",
            &["id".to_string()],
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        q(&e, "select id, v from main.facts order by id nulls last, v").await,
        ["1|a", "2|new2", "3|c", "4|new4", "|n", "|n2"]
    );
    assert_eq!(versions(&wh.path().join("main/facts")), 2);
}

#[tokio::test]
async fn seeds_are_typed_like_dbt_duckdb() {
    let wh = warehouse();
    let e = open(wh.path()).await;
    let csv = wh.path().join("raw_orders.csv");
    std::fs::write(
        &csv,
        "ID,Amount,Order_Date,Is_Paid,Status,Created_At,Price\n\
         1,10.5,2024-01-31,true,shipped,2024-01-31 10:00:00,1.50\n\
         2,,2024-02-01,False,,2024-02-01T11:30:00Z,2\n\
         3,7,,,null,,\n",
    )
    .unwrap();
    let mut types = BTreeMap::new();
    types.insert("PRICE".to_string(), "decimal(10,2)".to_string());
    let n = e
        .load_seed("main", "raw_orders", &csv, b',', &types)
        .await
        .unwrap();
    assert_eq!(n, 3);
    let cols = e.columns("main", "raw_orders").await.unwrap();
    let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "id",
            "amount",
            "order_date",
            "is_paid",
            "status",
            "created_at",
            "price"
        ]
    );
    let types: Vec<&DataType> = cols.iter().map(|(_, t)| t).collect();
    assert_eq!(types[0], &DataType::Int32);
    assert_eq!(types[1], &DataType::Float64);
    assert_eq!(types[2], &DataType::Date32);
    assert_eq!(types[3], &DataType::Boolean);
    assert!(
        matches!(
            types[4],
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
        ),
        "{:?}",
        types[4]
    );
    assert!(
        matches!(types[5], DataType::Timestamp(TimeUnit::Microsecond, _)),
        "{:?}",
        types[5]
    );
    assert_eq!(types[6], &DataType::Decimal128(10, 2));
    assert_eq!(
        q(&e, "select * from raw_orders order by id").await,
        [
            "1|10.5|2024-01-31|true|shipped|2024-01-31T10:00:00|1.50",
            "2||2024-02-01|false||2024-02-01T11:30:00|2.00",
            "3|7.0|||null||",
        ]
    );

    // A value that does not cast to its column_types type is a seed error.
    let mut bad = BTreeMap::new();
    bad.insert("status".to_string(), "int".to_string());
    let err = e
        .load_seed("main", "raw_orders", &csv, b',', &bad)
        .await
        .unwrap_err();
    assert_eq!(err.diagnostic().code, "E505", "{err}");
    assert_eq!(q(&e, "select count(*) from raw_orders").await, ["3"]);

    // Another delimiter.
    let tsv = wh.path().join("codes.tsv");
    std::fs::write(&tsv, "code\tlabel\n1\tone\n2\ttwo\n").unwrap();
    e.load_seed("main", "codes", &tsv, b'\t', &BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(
        q(&e, "select label from codes where code = 2").await,
        ["two"]
    );
}

#[tokio::test]
async fn partitioned_tables_write_partition_dirs_and_overwrite_partitions() {
    let wh = warehouse();
    let e = open(wh.path()).await;
    let sql = "select * from (values (1, 'eu', 10), (2, 'us', 20), (3, 'eu', 30)) \
               as t(id, region, amount)";
    e.create_table_as("main", "sales", sql, &["region".to_string()])
        .await
        .unwrap();
    let dir = wh.path().join("main/sales");
    assert!(dir.join("region=eu").is_dir());
    assert!(dir.join("region=us").is_dir());
    assert_eq!(
        q(
            &e,
            "select region, sum(amount) from main.sales group by region order by region"
        )
        .await,
        ["eu|40", "us|20"]
    );

    // Only the partitions in the new data are replaced.
    let n = e
        .insert_overwrite(
            "main",
            "sales",
            "select 9 as id, 'eu' as region, 1 as amount union all \
             select 8, 'apac', 2",
            &["region".to_string()],
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        q(&e, "select id, region from main.sales order by id").await,
        ["2|us", "8|apac", "9|eu"]
    );
    assert!(dir.join("region=apac").is_dir());

    let err = e
        .create_table_as("main", "sales", sql, &["nope".to_string()])
        .await
        .unwrap_err();
    assert_eq!(err.diagnostic().code, "E506");
}

#[tokio::test]
async fn warehouse_sql_functions() {
    let wh = warehouse();
    let e = open(wh.path()).await;
    e.create_table_as("main", "orders", ORDERS, &[])
        .await
        .unwrap();
    assert_eq!(
        q(
            &e,
            "select count_if(amount > 6), sum(iff(amount > 6, 1, 0)), \
             max(nvl(null, name)), max(iff(id > 100, 1 % (id - id), 7)) from orders"
        )
        .await,
        ["2|2|cy|7"]
    );
    assert_eq!(
        q(
            &e,
            "select json_get_str('{\"a\": \"x\"}', 'a'), date_add(date '2024-01-30', cast(2 as int)), \
             concat('a', null, 'b')"
        )
        .await,
        ["x|2024-02-01|ab"]
    );
    // hash(): stable values (FNV-1a of the text; a change here changes users' keys), distinct
    // for distinct inputs, NULL hashed as its own value, several arguments.
    assert_eq!(
        q(
            &e,
            "select hash('a'), hash(1) = hash('1'), hash(null) = hash(''), \
             hash('a', 'b') = hash('ab'), count(distinct hash(id, name)) from orders"
        )
        .await,
        ["-3381167475385802792|true|false|false|3"]
    );
}

#[tokio::test]
async fn edge_cases() {
    let wh = warehouse();
    let e = open(wh.path()).await;
    // An empty result still makes a table, with its columns.
    let n = e
        .create_table_as(
            "main",
            "empty",
            "select 1 as id, 'x' as name where false",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(q(&e, "select count(*) from main.empty").await, ["0"]);
    // Columns of a table made from literals still take NULLs later.
    e.append("main", "empty", "select 2 as id, null as name")
        .await
        .unwrap();
    assert_eq!(q(&e, "select id, name from main.empty").await, ["2|"]);

    // Merging into a missing table creates it; types are cast to the table's (Int32 here).
    let csv = wh.path().join("k.csv");
    std::fs::write(&csv, "id,v\n1,a\n2,b\n").unwrap();
    e.load_seed("main", "k", &csv, b',', &BTreeMap::new())
        .await
        .unwrap();
    let key = ["ID".to_string()];
    e.merge("main", "k", "select 2 as id, 'B' as v", &key, None, &[])
        .await
        .unwrap();
    e.merge("main", "k_copy", "select * from main.k", &key, None, &[])
        .await
        .unwrap();
    assert_eq!(
        q(&e, "select id, v from main.k_copy order by id").await,
        ["1|a", "2|B"]
    );
    // insert_overwrite without partition_by replaces everything.
    e.insert_overwrite("main", "k_copy", "select 7 as id, 'z' as v", &[])
        .await
        .unwrap();
    assert_eq!(q(&e, "select id, v from main.k_copy").await, ["7|z"]);

    // DDL through query(): a schema is a directory.
    e.query("create schema staging").await.unwrap();
    assert!(wh.path().join("staging").is_dir());
    // schema_of never runs statements.
    assert!(e.schema_of("create schema other").await.is_err());
    assert!(!wh.path().join("other").exists());

    // A view whose table is gone fails with a message naming the view.
    e.create_view("staging", "v", "select * from main.k")
        .await
        .unwrap();
    e.drop_relation("main", "k").await.unwrap();
    let err = e.query("select * from staging.v").await.unwrap_err();
    assert_eq!(err.diagnostic().code, "E501");
    assert!(err.diagnostic().message.contains("staging.v"), "{err}");
}

/// The engine is shared between tasks that run models concurrently.
#[test]
fn engine_and_its_futures_are_send() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: T) {}
    fn check(e: &Engine) {
        send_sync(e);
        let key = ["id".to_string()];
        send(e.query("select 1"));
        send(e.create_table_as("main", "t", "select 1", &[]));
        send(e.create_view("main", "v", "select 1"));
        send(e.append("main", "t", "select 1"));
        send(e.merge("main", "t", "select 1", &key, None, &[]));
        send(e.delete_insert("main", "t", "select 1", &key, &[]));
        send(e.insert_overwrite("main", "t", "select 1", &key));
        send(e.load_seed("main", "s", Path::new("x.csv"), b',', &BTreeMap::new()));
        send(e.drop_relation("main", "t"));
    }
    let _ = check;
}

/// Warehouse spellings that dbt's cross-database macros and Snowflake/MySQL projects use.
#[tokio::test]
async fn warehouse_date_and_string_spellings() {
    let wh = warehouse();
    let e = open(wh.path()).await;
    assert_eq!(
        q(
            &e,
            "select cast(cast('2024-01-31' as date) + 1 * interval '1 month' as varchar), \
             cast(dateadd('day', 2, cast('2024-01-01' as date)) as varchar), \
             cast('2024-01-01' + interval '1 day' as varchar), \
             cast(date('2024-05-05 10:00:00') as varchar), \
             (select listagg(x, '|') within group (order by x) from (values ('b'), ('a')) t(x)), \
             (select group_concat(x) from (values ('a')) t(x)), \
             datediff('day', cast('2024-01-01' as date), cast('2024-03-01' as date)), \
             datediff('month', cast('2024-01-31' as date), cast('2024-03-01' as date)), \
             datediff('hour', cast('2024-01-01 00:00:00' as timestamp), cast('2024-01-01 05:30:00' as timestamp))"
        )
        .await,
        ["2024-02-29T00:00:00|2024-01-03T00:00:00|2024-01-02T00:00:00|2024-05-05|a|b|a|60|2|5"]
    );
}

/// DuckDB's date functions and rules, as dbt packages' `duckdb__` macros use them: names of
/// months and days, part functions, ISO day numbers (Monday 1 .. Sunday 7), `date + interval`
/// as a timestamp (hours kept), `interval '1 quarter'`, an offset in a timestamp literal dropped,
/// and `x at time zone 'a' at time zone 'b'` as the wall-clock time in 'b'.
#[tokio::test]
async fn duckdb_date_functions_and_rules() {
    let wh = warehouse();
    let e = open(wh.path()).await;
    assert_eq!(
        q(
            &e,
            "select monthname(date '2020-11-29'), dayname(date '2020-11-29'), \
             dayofyear(date '2020-11-29'), isodow(date '2020-11-29') a, \
             date_part('isodow', date '2020-11-30'), extract(isodow from date '2020-11-29') b, \
             date_part('dayofweek', date '2020-11-29'), year(date '2020-11-29'), \
             strftime(date '2020-11-29', '%Y/%m'), regexp_matches('abc', 'b')"
        )
        .await,
        ["November|Sunday|334|7|1|7|0|2020|2020/11|true"]
    );
    assert_eq!(
        q(
            &e,
            "select cast(date '2020-01-01' + (-2) * interval '1 hour' as varchar), \
             cast(date '2020-01-01' + interval '1 quarter' as varchar), \
             cast(cast('1997-09-29 06:14:00-07:53' as timestamp) as varchar), \
             cast(cast(timestamp '2021-06-07 14:35:20' at time zone 'UTC' \
                  at time zone 'America/Los_Angeles' as timestamp) as varchar)"
        )
        .await,
        ["2019-12-31T22:00:00|2020-04-01T00:00:00|1997-09-29T06:14:00|2021-06-07T07:35:20"]
    );
}

/// Planned views are reused only while nothing under them changed: a new version of a table
/// under a view of a view, or a replaced view definition, is seen by the next query.
#[tokio::test]
async fn views_see_every_change_under_them() {
    let wh = warehouse();
    let e = open(wh.path()).await;
    e.create_table_as("main", "base", "select 1 as id union all select 2", &[])
        .await
        .unwrap();
    e.create_view("main", "v1", "select id from main.base")
        .await
        .unwrap();
    e.create_view("main", "v2", "select count(*) as n from main.v1")
        .await
        .unwrap();
    assert_eq!(q(&e, "select n from main.v2").await, ["2"]);
    assert_eq!(q(&e, "select n from main.v2").await, ["2"], "reused");
    e.append("main", "base", "select 3 as id").await.unwrap();
    assert_eq!(
        q(&e, "select n from main.v2").await,
        ["3"],
        "a new table version"
    );
    e.create_view("main", "v1", "select id from main.base where id > 1")
        .await
        .unwrap();
    assert_eq!(
        q(&e, "select n from main.v2").await,
        ["2"],
        "a replaced inner view"
    );
    // Another process's engine sees this one's writes too.
    let other = open(wh.path()).await;
    assert_eq!(q(&other, "select n from main.v2").await, ["2"]);
    other
        .create_table_as(
            "main",
            "base",
            "select 5 as id union all select 6 union all select 7",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        q(&e, "select n from main.v2").await,
        ["3"],
        "a table rewritten elsewhere"
    );
}

/// A view over small tables is run once and its rows kept: it still reads as a view (type,
/// definition, schema), a view with a function that is not immutable is planned into every
/// query instead, and a view that fails to run fails where it is read, with the engine's error.
#[tokio::test]
async fn small_view_results_are_kept_and_stay_views() {
    use datafusion::datasource::TableType;
    let wh = warehouse();
    let e = open(wh.path()).await;
    e.create_table_as(
        "main",
        "base",
        "select 1 as id, 'x' as s union all select 2, '7'",
        &[],
    )
    .await
    .unwrap();
    e.create_view("main", "kept", "select id * 10 as id10 from main.base")
        .await
        .unwrap();
    e.create_view("main", "noisy", "select id, random() as r from main.base")
        .await
        .unwrap();
    e.create_view(
        "main",
        "broken",
        "select cast(s as int) as n from main.base",
    )
    .await
    .unwrap();
    assert_eq!(
        q(&e, "select id10 from main.kept order by 1").await,
        ["10", "20"]
    );
    let provider = e.context().table_provider("main.kept").await.unwrap();
    assert_eq!(provider.table_type(), TableType::View);
    assert!(
        provider.get_logical_plan().is_none(),
        "kept rows, not a plan"
    );
    assert_eq!(
        provider.get_table_definition(),
        Some("select id * 10 as id10 from main.base")
    );
    assert_eq!(
        q(
            &e,
            "select table_type from information_schema.tables where table_name = 'kept'"
        )
        .await,
        ["VIEW"]
    );
    let noisy = e.context().table_provider("main.noisy").await.unwrap();
    assert!(
        noisy.get_logical_plan().is_some(),
        "random() is planned each time"
    );
    let a = q(&e, "select r from main.noisy order by id").await;
    let b = q(&e, "select r from main.noisy order by id").await;
    assert_ne!(a, b, "random() runs again");
    let err = e.query("select * from main.broken").await.unwrap_err();
    assert!(err.to_string().contains("'x'"), "{err}");
    e.create_table_as("main", "base", "select 1 as id, '5' as s", &[])
        .await
        .unwrap();
    assert_eq!(q(&e, "select n from main.broken").await, ["5"]);
    assert_eq!(q(&e, "select id10 from main.kept").await, ["10"]);
}

/// Decimal arithmetic has DuckDB's result types (docs/compatibility.md, "Decimals"), and a
/// table written from it keeps them.
#[tokio::test]
async fn decimal_arithmetic_is_typed_as_duckdb_types_it() {
    let wh = warehouse();
    let e = open(wh.path()).await;
    let src = "(select cast(x as decimal(15,2)) as d, cast(x as decimal(9,2)) as n from (values (1), (2), (4)) t(x)) s";
    let types = q(
        &e,
        &format!(
            "select arrow_typeof(avg(d)), arrow_typeof(sum(d)), arrow_typeof(round(sum(d) / 3, 1)) \
             from {src}"
        ),
    )
    .await;
    assert_eq!(types, ["Float64|Decimal128(38, 2)|Float64"]);
    let types = q(
        &e,
        &format!(
            "select arrow_typeof(d * 2), arrow_typeof(d + 1.5), arrow_typeof(n * n), \
             arrow_typeof(d / 3), arrow_typeof(1.5) from {src} limit 1"
        ),
    )
    .await;
    assert_eq!(
        types,
        ["Decimal128(18, 2)|Decimal128(16, 2)|Decimal128(18, 4)|Float64|Decimal128(2, 1)"]
    );
    // Values: avg over doubles, exact decimal sums and products.
    let values = q(
        &e,
        &format!("select avg(d), sum(d * 2), sum(n * n), max(d / 4) from {src}"),
    )
    .await;
    assert_eq!(values, ["2.3333333333333335|14.00|21.0000|1.0"]);
    // Materialized, the table has the planned types (a comparison against an avg still works).
    e.create_table_as(
        "main",
        "dec",
        &format!("select sum(d) as total, avg(d) as mean, sum(d * 1.5) as scaled from {src} having avg(d) > 2"),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        q(
            &e,
            "select arrow_typeof(total), arrow_typeof(mean), arrow_typeof(scaled), total, scaled from main.dec"
        )
        .await,
        ["Decimal128(38, 2)|Float64|Decimal128(38, 3)|7.00|10.500"]
    );
}

/// Spellings of other warehouses that DataFusion refuses: multi-column `count(distinct ...)`,
/// string types with a length, DuckDB's `string_split`.
#[tokio::test]
async fn warehouse_spellings_of_distinct_counts_string_types_and_splits() {
    let wh = warehouse();
    let e = open(wh.path()).await;
    assert_eq!(
        q(
            &e,
            "select count(distinct a, b) from (values (1, 2), (1, 2), (2, 3), (null, 3)) t(a, b)"
        )
        .await,
        ["2"]
    );
    assert_eq!(
        q(
            &e,
            "select cast('abc' as varchar(2)), 12::character varying(256), cast(7 as char(3))"
        )
        .await,
        ["abc|12|7"]
    );
    assert_eq!(
        q(
            &e,
            "select string_split('a,b,c', ','), str_split('x y', ' '), split_part('a,b,c', ',', 2)"
        )
        .await,
        ["[a, b, c]|[x, y]|b"]
    );
}
