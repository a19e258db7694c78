//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copy a project into a fresh temp dir (symlinks copied as symlinks, `target/` and
/// `warehouse/` left out) and return the copy's path.
pub fn copy_project(src: &Path) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("weir-it-")
        .tempdir()
        .expect("tempdir");
    copy_dir(src, dir.path());
    dir
}

/// Copy a tree as it is (fixtures, and projects already built).
pub fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == "warehouse" || name == "logs" {
            continue;
        }
        let from = entry.path();
        let to = dst.join(&name);
        let ft = entry.file_type().unwrap();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from).unwrap(), &to).unwrap();
        } else if ft.is_dir() {
            copy_dir(&from, &to);
        } else {
            std::fs::copy(&from, &to).unwrap();
        }
    }
}

/// The first value of a query's first row, as an integer (`select count(*) ...`), read with
/// weir's engine from the warehouse at `warehouse`.
pub fn count(warehouse: &Path, sql: &str) -> i64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let options = weir::engine::EngineOptions {
            memory_limit: 1 << 30,
            temp_directory: std::env::temp_dir().join("weir-spill"),
        };
        let engine =
            weir::engine::Engine::open(warehouse.to_str().unwrap(), "warehouse", "main", &options)
                .await
                .unwrap();
        let batches = engine.query(sql).await.unwrap();
        use datafusion::arrow::array::AsArray;
        use datafusion::arrow::datatypes::Int64Type;
        batches[0].column(0).as_primitive::<Int64Type>().value(0)
    })
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run the weir binary with no user profile and no inherited dbt environment.
pub fn weir(args: &[&str], home: &Path) -> Output {
    weir_env(args, home, &[])
}

/// [`weir`] with these environment variables set.
pub fn weir_env(args: &[&str], home: &Path, env: &[(&str, &str)]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .env("HOME", home)
        .env_remove("DBT_PROFILES_DIR")
        .env_remove("DBT_PROJECT_DIR")
        .env_remove("WEIR_TIMINGS")
        .envs(env.iter().copied())
        .output()
        .expect("run weir");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Whitespace-insensitive form of SQL, with dbt-duckdb's database name replaced by weir's.
pub fn normalize_sql(sql: &str, dbt_database: &str) -> String {
    let sql = sql
        .replace(&format!("\"{dbt_database}\"."), "\"warehouse\".")
        .replace(&format!("{dbt_database}.main."), "warehouse.main.");
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every file below `dir`, sorted.
pub fn all_files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub fn files_under(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = all_files_under(dir);
    out.retain(|p| p.extension().is_some_and(|x| x == ext));
    out
}

/// A project of our own in a fresh directory: each (path, text) written under it.
pub fn project_of(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}
