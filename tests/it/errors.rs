//! Golden tests for the errors (and warnings) a user must get clear messages for.
//!
//! Each case is a tiny dbt project under `tests/fixtures/errors/<case>/`. The test copies it to a
//! temp dir, runs `weir compile --project-dir <copy>` (with `--profiles-dir <copy>/profiles` when
//! the fixture has a `profiles/` folder), and snapshots the exit code and stderr into
//! `snapshots/errors__<case>.snap`, with the temp path replaced by `[PROJECT]`.
//!
//! Regenerate with `INSTA_UPDATE=always cargo test --test it errors`, then read every changed
//! `.snap` before committing: these files are the messages users see.

use std::path::{Path, PathBuf};
use std::process::Command;

/// An environment variable that no fixture may find set (case `missing_env_var`).
const UNSET_ENV_VAR: &str = "WEIR_TEST_UNSET_REGION";

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/errors")
        .join(case)
}

/// Run `weir compile` on a copy of the fixture and snapshot exit code and stderr.
fn check(case: &str) {
    let tmp = tempfile::Builder::new()
        .prefix("weir-errors-")
        .tempdir()
        .expect("tempdir");
    let project = tmp.path().join("project");
    crate::common::copy_tree(&fixture(case), &project);

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    cmd.arg("compile").arg("--project-dir").arg(&project);
    if project.join("profiles").is_dir() {
        cmd.arg("--profiles-dir").arg(project.join("profiles"));
    }
    let out = cmd
        .current_dir(tmp.path())
        .env("HOME", tmp.path())
        .env_remove("DBT_PROFILES_DIR")
        .env_remove("DBT_PROJECT_DIR")
        .env_remove("WEIR_TIMINGS")
        .env_remove(UNSET_ENV_VAR)
        .output()
        .expect("run weir");
    let code = out
        .status
        .code()
        .map_or("killed by a signal".to_string(), |c| c.to_string());
    let report = format!(
        "exit code: {code}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The project path as passed and as weir may canonicalize it (e.g. /tmp -> /private/tmp).
    let mut filters: Vec<(String, &str)> = Vec::new();
    for p in [project.canonicalize().unwrap(), project.clone()] {
        filters.push((regex::escape(&p.display().to_string()), "[PROJECT]"));
    }
    for p in [tmp.path().canonicalize().unwrap(), tmp.path().to_path_buf()] {
        filters.push((regex::escape(&p.display().to_string()), "[TMP]"));
    }
    let filters: Vec<(&str, &str)> = filters.iter().map(|(a, b)| (a.as_str(), *b)).collect();

    insta::with_settings!({
        snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
        description => format!("weir compile --project-dir tests/fixtures/errors/{case}"),
        filters => filters,
    }, {
        insta::assert_snapshot!(format!("errors__{case}"), report);
    });
}

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                check(stringify!($case));
            }
        )*
    };
}

cases! {
    // 1. `{{ ref('x' }}` in a model.
    jinja_syntax_model,
    // 2. A syntax error inside a macro that a model calls.
    jinja_syntax_macro,
    // 3. `{{ not_a_macro() }}` with a macro `not_a_macros` defined.
    undefined_macro,
    // 4. `ref('stg_orderz')` with `stg_orders` existing.
    missing_ref,
    // 5. a -> b -> a.
    cycle,
    // 6. An unterminated quoted string in a schema file.
    yaml_syntax,
    // 7. `columns: id` where a list is wanted.
    yaml_shape,
    // 8. `{{ config(materialised='table') }}`: a warning, exit 0.
    unknown_config_key,
    // 9. models/staging/orders.sql and models/marts/orders.sql.
    duplicate_model,
    // 10. `env_var('WEIR_TEST_UNSET_REGION')` without a default.
    missing_env_var,
    // 11. `source('raw', 'customers')` where source `raw` has only `orders`.
    undefined_source,
    // 12. --profiles-dir with a profiles.yml that lacks the project's profile `shop`.
    missing_profile,
    // 13. The profile's target has `type: duckdb`.
    duckdb_target,
    // 14. `exceptions.raise_compiler_error` from a macro called by a model.
    raise_compiler_error,
    // 15. `var('start_date')` with no value and no default.
    missing_var,
}
