//! `weir compile` end to end: dbt's own compiled output as the reference, golden files for the
//! example project, and the content-keyed cache.

use crate::common::*;

/// Our jaffle_shop-shaped fixture compiles to exactly what dbt-core 1.12 compiled for it
/// (tests/fixtures/jaffle_like_expected), up to whitespace and the database name.
#[test]
fn jaffle_like_matches_dbt() {
    let project = copy_project(&repo().join("tests/fixtures/jaffle_like"));
    let out = weir(
        &["compile", "--project-dir", project.path().to_str().unwrap()],
        project.path(),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let expected_root = repo().join("tests/fixtures/jaffle_like_expected/compiled");
    let actual_root = project.path().join("target/compiled/library");
    let expected = files_under(&expected_root, "sql");
    assert_eq!(expected.len(), 25, "5 models and 20 tests in the reference");
    for exp in expected {
        let rel = exp.strip_prefix(&expected_root).unwrap();
        let act = actual_root.join(rel);
        let a = std::fs::read_to_string(&act)
            .unwrap_or_else(|_| panic!("weir did not write {}", rel.display()));
        let e = std::fs::read_to_string(&exp).unwrap();
        assert_eq!(
            normalize_sql(&a, "library"),
            normalize_sql(&e, "library"),
            "{}",
            rel.display()
        );
    }
}

/// Every model of the example project compiles; the compiled SQL is pinned as golden files.
#[test]
fn example_project_compiles_to_golden_sql() {
    let project = copy_project(&repo().join("example_project"));
    let out = weir(
        &["compile", "--project-dir", project.path().to_str().unwrap()],
        project.path(),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("Found 19 models"), "{}", out.stdout);
    let root = project.path().join("target/compiled/greenhouse");
    let mut all = String::new();
    for f in files_under(&root.join("models"), "sql")
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains(".yml/"))
    {
        let rel = f.strip_prefix(&root).unwrap().display().to_string();
        all.push_str(&format!(
            "-- ===== {rel}\n{}\n",
            std::fs::read_to_string(&f).unwrap().trim_end()
        ));
    }
    insta::with_settings!({snapshot_path => repo().join("snapshots"), prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("example_project_compiled_models", all);
    });
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join("target/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        manifest["metadata"]["dbt_schema_version"],
        "https://schemas.getdbt.com/dbt/manifest/v12.json"
    );
    let orders = &manifest["nodes"]["model.greenhouse.orders"];
    assert_eq!(orders["config"]["materialized"], "table");
    assert!(orders["compiled_code"]
        .as_str()
        .unwrap()
        .contains("__dbt__cte__int_order_payments as ("));
    assert_eq!(
        manifest["parent_map"]["model.greenhouse.orders"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

/// A second compile with nothing changed is answered from the cache; a changed file is not.
#[test]
fn recompile_uses_the_content_cache() {
    let project = copy_project(&repo().join("tests/fixtures/jaffle_like"));
    let dir = project.path().to_str().unwrap();
    assert_eq!(
        weir(&["compile", "--project-dir", dir], project.path()).code,
        0
    );
    let again = weir(&["compile", "--project-dir", dir], project.path());
    assert!(again.stdout.contains("Nothing changed"), "{}", again.stdout);
    let model = project.path().join("models/members.sql");
    let text = std::fs::read_to_string(&model).unwrap();
    std::fs::write(&model, format!("{text}\n-- edited\n")).unwrap();
    let third = weir(&["compile", "--project-dir", dir], project.path());
    assert!(third.stdout.contains("Compiled"), "{}", third.stdout);
    let compiled = std::fs::read_to_string(
        project
            .path()
            .join("target/compiled/library/models/members.sql"),
    )
    .unwrap();
    assert!(compiled.contains("-- edited"));
}

/// A model is rendered once when its parse-phase output is what compiling it would give; every
/// way that can fail sends it through a second render. Each model below breaks one guess.
#[test]
fn parse_output_is_reused_only_when_compile_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("dbt_project.yml", "name: probe\nversion: '1'\n");
    // a: a config() call that never runs; b reads a's name.
    write(
        "models/a.sql",
        "{% if false %}{{ config(alias='never') }}{% endif %}select 1 as id\n",
    );
    write("models/b.sql", "select * from {{ ref('a') }}\n");
    // c: config() from a macro; d reads c's name.
    write(
        "macros/set_alias.sql",
        "{% macro set_alias() %}{{ config(alias='c_table') }}{% endmacro %}\n",
    );
    write("models/c.sql", "{{ set_alias() }}select 2 as id\n");
    write("models/d.sql", "select * from {{ ref('c') }}\n");
    // e: names that differ between the phases.
    write(
        "models/e.sql",
        "{{ config(materialized='table', schema='marts') }}\nselect '{{ this }}' as me, '{{ schema }}' as s, \
         '{{ config.get(\"materialized\") }}' as m, {% if execute %}1{% else %}0{% endif %} as executed\n",
    );
    // f: incremental once its table exists.
    write(
        "models/f.sql",
        "{{ config(materialized='incremental') }}select 1 as id\n\
         {% if is_incremental() %}where id > (select max(id) from {{ this }}){% endif %}\n",
    );
    // g, h: guessed right, so rendered once.
    write("models/g.sql", "select * from {{ ref('e') }}\n");
    write(
        "models/h.sql",
        "{{ config(alias='h_view') }}select * from {{ ref('f') }}\n",
    );
    let p = root.to_str().unwrap();
    let compiled = |name: &str| {
        std::fs::read_to_string(root.join(format!("target/compiled/probe/models/{name}.sql")))
            .unwrap()
    };
    let out = weir_env(
        &["compile", "--project-dir", p],
        root,
        &[("WEIR_TIMINGS", "1")],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        compiled("b").contains("\"main\".\"a\""),
        "{}",
        compiled("b")
    );
    assert!(
        compiled("d").contains("\"main\".\"c_table\""),
        "{}",
        compiled("d")
    );
    let e = compiled("e");
    assert!(
        e.contains("'\"warehouse\".\"main_marts\".\"e\"' as me"),
        "{e}"
    );
    assert!(e.contains("'main_marts' as s"), "{e}");
    assert!(e.contains("'table' as m"), "{e}");
    assert!(e.contains("1 as executed"), "{e}");
    assert!(
        compiled("g").contains("\"main_marts\".\"e\""),
        "{}",
        compiled("g")
    );
    assert!(!compiled("f").contains("where"), "{}", compiled("f"));
    // a, c, f (its table does not exist yet), g and h render once; b, d and e twice.
    assert!(
        out.stderr.contains("5 of 8 nodes from the parse render"),
        "{}",
        out.stderr
    );
    let run = weir(&["run", "--project-dir", p], root);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = weir(&["compile", "--project-dir", p], root);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        compiled("f").contains("where id > (select max(id) from \"warehouse\".\"main\".\"f\")"),
        "{}",
        compiled("f")
    );
    assert!(
        compiled("h").contains("\"main\".\"f\""),
        "{}",
        compiled("h")
    );
}

#[test]
fn help_lists_the_commands() {
    let out = weir(&["--help"], &repo());
    insta::with_settings!({snapshot_path => repo().join("snapshots"), prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("cli_help", out.stdout);
    });
}
