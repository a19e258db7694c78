//! weir: a SQL-first transformation compiler and runner for dbt projects.
//!
//! ```text
//! project ──▶ jinja ──▶ parse ──▶ graph ──▶ compile ──▶ artifacts
//! (files,     (dbt       (nodes,   (DAG,     (SQL out,   (manifest.json)
//!  YAML)       context)   configs)  select)   CTEs)
//! ```
//!
//! - [`diagnostics`]: the one error type, rendered rustc-style with file, line and caret.
//! - [`fsio`]: files under `target/` written whole or not at all (temporary file, rename).
//! - [`project`]: `dbt_project.yml`, profiles, packages, every file read; no rendering.
//! - [`deps`]: `weir deps`: packages from the hub, git, local paths and tarballs, installed
//!   all at once, pinned in `package-lock.yml`.
//! - [`jinja`]: minijinja with dbt's context and macros; error locations mapped to user files.
//! - [`parse`]: the parse phase: nodes, configs, generic tests, sources, names.
//! - [`graph`]: the DAG, cycle errors, dbt's selection syntax.
//! - [`sql`]: sqlparser-based rewrites (ephemeral CTE injection).
//! - [`compile`]: the compile phase and `target/` output, with a content-keyed cache.
//! - [`artifacts`]: dbt-shaped JSON artifacts.
//! - [`cli`]: commands and the printer.

// Diagnostics are large by design (source text, notes, help) and only built on the error
// path; boxing every `Result<_, Diagnostic>` would buy nothing measurable.
#![allow(clippy::result_large_err)]

pub mod artifacts;
// The CLI presents errors, warnings and progress: it owns stderr.
#[allow(clippy::print_stderr)]
pub mod cli;
pub mod compile;
pub mod deps;
pub mod diagnostics;
pub mod engine;
pub mod fsio;
pub mod graph;
pub mod jinja;
pub mod parse;
pub mod project;
pub mod run;
pub mod sql;
