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

#[test]
fn help_lists_the_commands() {
    let out = weir(&["--help"], &repo());
    insta::with_settings!({snapshot_path => repo().join("snapshots"), prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("cli_help", out.stdout);
    });
}
