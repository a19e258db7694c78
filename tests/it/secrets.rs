//! Secrets stay secret: a `DBT_ENV_SECRET_*` value read in profiles.yml never reaches
//! `target/`, the logs, the warehouse or a message, and models and hooks cannot read one.

use std::path::Path;

use crate::common::{all_files_under, count, weir_env};

const SECRET: &str = "s3cr3t-Zq81x-token";
const ENV: &[(&str, &str)] = &[("DBT_ENV_SECRET_TOKEN", SECRET)];

fn write(dir: &Path, path: &str, text: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// Every file under `dir` (recursively) that holds the secret's bytes.
fn files_with_secret(dir: &Path) -> Vec<String> {
    all_files_under(dir)
        .into_iter()
        .filter(|p| {
            let bytes = std::fs::read(p).unwrap();
            bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes())
        })
        .map(|p| p.display().to_string())
        .collect()
}

fn project(hook: &str, warehouse: &str) -> tempfile::TempDir {
    let tmp = tempfile::Builder::new()
        .prefix("weir-secret-")
        .tempdir()
        .unwrap();
    let d = tmp.path();
    write(
        d,
        "dbt_project.yml",
        &format!("name: sec\nprofile: sec\nversion: '1.0'\n{hook}"),
    );
    write(
        d,
        "profiles.yml",
        &format!(
            "sec:\n  target: dev\n  outputs:\n    dev:\n      type: datafusion\n      schema: main\n      warehouse: {warehouse}\n      token: \"{{{{ env_var('DBT_ENV_SECRET_TOKEN') }}}}\"\n"
        ),
    );
    write(
        d,
        "models/uses_target.sql",
        "select '{{ target.token }}' as token, 1 as id\n",
    );
    write(
        d,
        "models/broken.sql",
        "select no_such_column from {{ ref('uses_target') }}\n",
    );
    tmp
}

#[test]
fn secrets_never_leave_profiles_yml() {
    // 1. Read in profiles.yml and shown to a model through `target`: the model sees `*****`.
    let tmp = project("", "./warehouse");
    let d = tmp.path();
    let ds = d.to_str().unwrap();
    let out = weir_env(&["build", "--project-dir", ds], d, ENV);
    assert_eq!(
        out.code, 1,
        "the broken model fails, the other builds\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(!out.stdout.contains(SECRET) && !out.stderr.contains(SECRET));
    assert_eq!(
        count(
            &d.join("warehouse"),
            "select count(*) from main.uses_target where token = '*****'"
        ),
        1
    );
    assert!(
        files_with_secret(d).is_empty(),
        "{:?}",
        files_with_secret(d)
    );

    // 2. A hook that reads a secret is refused (E212), naming the variable and not its value.
    let tmp = project(
        "on-run-start: \"select '{{ env_var('DBT_ENV_SECRET_TOKEN') }}' as x\"\n",
        "./warehouse",
    );
    let d = tmp.path();
    let out = weir_env(&["build", "--project-dir", d.to_str().unwrap()], d, ENV);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("E212") && out.stderr.contains("DBT_ENV_SECRET_TOKEN"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(SECRET) && !out.stdout.contains(SECRET));
    assert!(
        files_with_secret(d).is_empty(),
        "{:?}",
        files_with_secret(d)
    );

    // 3. A secret inside a path that an error message names is printed as `*****`.
    let tmp = project("", "./not_a_dir/{{ env_var('DBT_ENV_SECRET_TOKEN') }}");
    let d = tmp.path();
    write(
        d,
        "not_a_dir",
        "a file where the warehouse's parent should be\n",
    );
    let out = weir_env(&["build", "--project-dir", d.to_str().unwrap()], d, ENV);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("not_a_dir/*****"), "{}", out.stderr);
    assert!(!out.stderr.contains(SECRET) && !out.stdout.contains(SECRET));
    assert!(
        files_with_secret(d).is_empty(),
        "{:?}",
        files_with_secret(d)
    );
}
