//! The bad-input corpus: broken projects and arguments, each with its golden message.
//!
//! Every case is one file `tests/bad_input/<group>/<case>.txt` (format in
//! `tests/bad_input/README.md`): weir's arguments, then files laid over the shared base project
//! `tests/bad_input/base/`. The base is built once (`seed`, `run`); each case runs on a copy of
//! that built project, and the test checks that weir
//!
//! - does not panic, crash or hang (exit code 101, 134 or 3, a signal, "panicked at",
//!   "internal error", or more than [`TIMEOUT`]);
//! - fails (exit code not 0) unless the case says `expect_exit: 0`;
//! - prints exactly the golden stderr in `snapshots/bad_input__<group>__<case>.snap`;
//! - names `file:line:col` (a ` --> ` line) when the message is about a file of the project,
//!   and quotes that very line of that file under it (not a line of a rewritten template);
//! - leaves the warehouse as it was (file names, sizes, and the `_delta_log` contents);
//! - never prints a `DBT_ENV_SECRET_*` value, nor writes it under `target/` or `logs/`.
//!
//! A check that weir does not pass yet is listed in [`KNOWN_GAPS`]; a listed gap that starts
//! passing fails the test, so the list stays true. A panic or a hang is never snapshotted.
//!
//! Regenerate with `INSTA_UPDATE=always cargo test --test it bad_input`, then read every changed
//! `.snap` before committing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A case that runs longer than this is a hang.
const TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Gap {
    /// A panic, an abort, a signal, or weir's own "internal error" (E000, exit code 3).
    Panic,
    /// More than [`TIMEOUT`].
    Timeout,
    /// Exit code 0 on input that dbt rejects.
    AcceptedSilently,
    /// The message is about a file of the project but has no ` --> file:line:col` line.
    NoLocation,
    /// A ` --> file:line:col` line whose quoted source line is not that line of that file.
    WrongLocation,
    /// The warehouse changed.
    WarehouseChanged,
    /// A `DBT_ENV_SECRET_*` value appears in the output or under `target/`/`logs/`.
    LeakedSecret,
}

/// Checks that weir fails today, by case (`group/case`), with what goes wrong.
const KNOWN_GAPS: &[(&str, Gap, &str)] = &[
    ("cli/event_time_end_alone", Gap::AcceptedSilently, "`run --event-time-end 2024-01-01` without --event-time-start runs every model; dbt requires both flags"),
    ("cli/threads_zero", Gap::AcceptedSilently, "`run --threads 0` runs; `threads: 0` in profiles.yml is E113"),
    ("csv/binary_png", Gap::NoLocation, "E505 on PNG bytes in seeds/bad.csv names the file but no ` --> seeds/bad.csv:1:1`"),
    ("csv/blank_lines_only", Gap::NoLocation, "E505 (Arrow's 'must either specify a row count or at least one column') with no location and no plain reason (no header)"),
    ("csv/column_types_cast_fails", Gap::NoLocation, "E505 cast error names neither the seeds.yml `column_types` line nor the CSV row/column of 'ann'"),
    ("csv/column_types_unknown_type", Gap::NoLocation, "E505 'Unsupported SQL type dollars' does not point at `amount: dollars` in seeds/seeds.yml"),
    ("csv/delimiter_two_chars", Gap::NoLocation, "`delimiter: \";;\"` is silently cut to ';' and then reported as 'column 2 has an empty name', no location"),
    ("csv/duplicate_header", Gap::NoLocation, "E505 duplicate column has no ` --> seeds/bad.csv:1:4`"),
    ("csv/empty_file", Gap::NoLocation, "E505 on an empty CSV: Arrow's 'must either specify a row count or at least one column', no location"),
    ("csv/empty_header_name", Gap::NoLocation, "E505 'column 2 has an empty name' has no ` --> seeds/bad.csv:1:4`"),
    ("csv/invalid_utf8", Gap::NoLocation, "E505 invalid UTF-8: line 2 only inside the csv crate's text, no ` --> ` line"),
    ("csv/ragged_row", Gap::NoLocation, "E505 ragged row: 'record 2 (line: 3, byte: 12)' in the text, no ` --> seeds/bad.csv:3:1`"),
    ("csv/ragged_row_after_5mb", Gap::NoLocation, "E505 ragged row after 5 MB: line 180002 only inside the csv crate's text"),
    ("csv/replace_seed_with_ragged", Gap::NoLocation, "E505 ragged row in seeds/raw_orders.csv, no ` --> ` line"),
    ("csv/short_row", Gap::NoLocation, "E505 short row, no ` --> seeds/bad.csv:3:1`"),
    ("csv/utf16_bom", Gap::NoLocation, "E505 on a UTF-16 CSV: 'invalid UTF-8 in field 0', no location and no hint about the encoding"),
    ("csv/wide_header_100000_duplicates", Gap::NoLocation, "E505 duplicate column `c` in a 100000-column header, no location"),
    ("files/binary_macro_file", Gap::NoLocation, "E001 'stream did not contain valid UTF-8' for macros/bad.sql, no line:col of the first bad byte"),
    ("files/binary_model", Gap::NoLocation, "E001 'stream did not contain valid UTF-8' for models/bad.sql, no line:col of the first bad byte"),
    ("files/non_utf8_model", Gap::NoLocation, "E001 for a Latin-1 byte on line 1 of models/bad.sql, no line:col"),
    ("files/schema_yml_binary", Gap::NoLocation, "E001 for binary models/bad.yml, no line:col"),
    ("files/seed_is_a_directory", Gap::NoLocation, "a folder seeds/bad.csv/ is walked as a seed folder; its ragged inner.csv gets E505 without location"),
    ("files/utf16_model", Gap::NoLocation, "E001 for a UTF-16 model, no line:col and no hint about the encoding"),
    ("graph/doc_missing", Gap::AcceptedSilently, "`description: \"{{ doc('orders') }}\"` with no such docs block compiles (E304 exists but is not raised)"),
    ("graph/relationships_to_missing", Gap::NoLocation, "E301 for `to: ref('no_such_model')` names models/schema.yml but not its line"),
    ("jinja/config_positional_string", Gap::AcceptedSilently, "`{{ config('table') }}` is ignored; dbt fails (config takes a dict or keywords)"),
    ("jinja/syntax_error_in_schema_test_arg", Gap::NoLocation, "E201 in a test argument says 'in <expression>:1' instead of models/schema.yml:line:col"),
    ("profiles/empty_file", Gap::NoLocation, "E110 for an empty profiles.yml, no location"),
    ("profiles/env_var_unset", Gap::NoLocation, "E204 from env_var() in profiles.yml names neither profiles.yml nor a line"),
    ("profiles/jinja_syntax_error", Gap::NoLocation, "E201 in profiles.yml says '(in <string>:6)', no ` --> profiles.yml:6:col`"),
    ("profiles/missing_profile", Gap::NoLocation, "E110 does not point at `profile: corpus` in dbt_project.yml"),
    ("profiles/outputs_list", Gap::NoLocation, "`outputs:` as a list gives E111 'outputs: ' (empty) instead of a shape error at its line"),
    ("profiles/outputs_missing", Gap::NoLocation, "no `outputs:` gives E111 with an empty list, no location"),
    ("profiles/profile_is_string", Gap::NoLocation, "`corpus: datafusion` gives E111 about target 'default', no shape error, no location"),
    ("profiles/profiles_dir_missing", Gap::AcceptedSilently, "`--profiles-dir <missing dir>` falls back to the embedded default; dbt: the path does not exist"),
    ("profiles/profiles_yml_directory", Gap::AcceptedSilently, "a directory named profiles.yml is skipped and the embedded default used, no error"),
    ("profiles/target_not_in_outputs", Gap::NoLocation, "E111 does not point at `target: prod` in profiles.yml"),
    ("profiles/type_duckdb", Gap::NoLocation, "E112 does not point at `type: duckdb` in profiles.yml (E113 does for its fields)"),
    ("profiles/type_list", Gap::NoLocation, "`type: [datafusion]` gives E112 \"has type ''\" instead of E113 (docs/errors.md: type must be a string), no location"),
    ("profiles/type_missing", Gap::NoLocation, "no `type:` gives E112 \"has type ''\", no location"),
    ("secrets/in_profile_target", Gap::NoLocation, "E111 without a location in profiles.yml"),
    ("secrets/in_profile_type", Gap::NoLocation, "E112 without a location in profiles.yml"),
    ("secrets/in_project_vars", Gap::AcceptedSilently, "a secret env var in dbt_project.yml vars is accepted; dbt refuses it"),
    ("secrets/in_schema_description", Gap::AcceptedSilently, "a secret env var in a schema.yml description is accepted; dbt refuses it"),
    ("selectors/at_and_plus", Gap::AcceptedSilently, "`--select '@+stg_orders'` exits 0 with no warning; dbt: '@' and '+' prefixes are not compatible"),
    ("selectors/selectors_yml_recursive", Gap::NoLocation, "E401 'Existing selector definition for b not found' (two selectors that include each other) has no location in selectors.yml"),
    ("selectors/selectors_yml_self", Gap::NoLocation, "E401 for a selector that includes itself, no location in selectors.yml"),
    ("sql/ambiguous_column", Gap::NoLocation, "the E5xx run-time error names target/compiled/... but no line:col in the model file"),
    ("sql/build_failing_model", Gap::NoLocation, "the E5xx run-time error names target/compiled/... but no line:col in the model file"),
    ("sql/cast_error", Gap::NoLocation, "the E5xx run-time error names target/compiled/... but no line:col in the model file"),
    ("sql/contract_type_mismatch", Gap::NoLocation, "the E5xx run-time error names target/compiled/... but no line:col in the model file"),
    ("sql/division_by_zero", Gap::AcceptedSilently, "`select id / 0` builds a table; PostgreSQL (dbt's reference) raises 'division by zero'"),
    ("sql/duplicate_output_column", Gap::NoLocation, "the E5xx run-time error names target/compiled/... but no line:col in the model file"),
    ("sql/empty_model", Gap::NoLocation, "the E5xx run-time error names target/compiled/... but no line:col in the model file"),
    ("sql/not_in_group_by", Gap::NoLocation, "the E5xx run-time error names target/compiled/... but no line:col in the model file"),
    ("sql/not_null_constraint_violated", Gap::NoLocation, "the E5xx run-time error names target/compiled/... but no line:col in the model file"),
    ("sql/two_statements", Gap::NoLocation, "the E5xx run-time error names target/compiled/... but no line:col in the model file"),
    ("sql/type_error", Gap::NoLocation, "the E5xx run-time error names target/compiled/... but no line:col in the model file"),
    ("sql/unknown_materialization", Gap::NoLocation, "the E5xx run-time error names target/compiled/... but no line:col in the model file"),
    ("vars/wrong_type_string_in_sql", Gap::NoLocation, "E501 from the engine, no location in models/customers.sql"),
    ("yaml/project_hook_jinja_error", Gap::WrongLocation, "E201 in on-run-start points at dbt_project.yml:1:19 and quotes the hook, not line 9 of the file"),
    ("yaml/project_materialized_list", Gap::AcceptedSilently, "`+materialized: [table, view]` in dbt_project.yml compiles"),
    ("yaml/project_non_utf8", Gap::NoLocation, "E001 for a non-UTF-8 dbt_project.yml, no line:col"),
    ("yaml/schema_accepted_values_without_values", Gap::AcceptedSilently, "accepted_values without `values` compiles; dbt fails rendering the test"),
    ("yaml/schema_materialized_list", Gap::AcceptedSilently, "`materialized: [table]` in a schema.yml config compiles"),
    ("yaml/schema_nested_100000", Gap::Timeout, "a flow mapping nested 100000 deep in models/deep.yml takes about 60 s (debug) before E103, whose caret line is 600 KB"),
    ("yaml/schema_non_utf8", Gap::NoLocation, "E001 for a Latin-1 byte in models/schema.yml, no line:col"),
    ("yaml/schema_two_documents", Gap::NoLocation, "E102 for two YAML documents says '= note: in models/schema.yml', no line of the `---`"),
    ("yaml/schema_unknown_generic_test", Gap::WrongLocation, "E203 for `data_tests: [uniq]` points at models/schema.yml:1:9 and quotes the generated `{{ test_uniq(**_dbt_generic_test_kwargs) }}`"),
    ("yaml/seed_config_column_types_list", Gap::AcceptedSilently, "`column_types: [id, bigint]` (a list) compiles"),
    ("yaml/selectors_mapping", Gap::NoLocation, "E401 for `selectors:` as a mapping, no location in selectors.yml"),
    ("yaml/selectors_syntax_error", Gap::NoLocation, "E401 for invalid YAML in selectors.yml: line 3 column 17 only in the text, no ` --> `"),
    ("yaml/selectors_two_defaults", Gap::AcceptedSilently, "two selectors with `default: true` are accepted; dbt: only one default selector"),
    ("yaml/selectors_unknown_method", Gap::NoLocation, "E401 for `method: colour` in selectors.yml, no location"),
    ("yaml/selectors_without_definition", Gap::NoLocation, "E401 for a selector without `definition`, no location"),
    ("yaml/sources_without_name", Gap::AcceptedSilently, "a source without `name` compiles"),
];

struct Case {
    /// `group/case`.
    id: String,
    args: Vec<String>,
    expect_exit: Option<i32>,
    env: Vec<(String, String)>,
    /// Paths relative to the project, with what to do there.
    files: Vec<(String, FileOp)>,
    /// `location: none`: the problem has no position in a file (a missing file, a directory);
    /// `location: required`: the message must have one even if it names no file.
    location: Option<bool>,
}

enum FileOp {
    Write(Vec<u8>),
    Delete,
    Mkdir,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_input")
}

/// Split a command line as a POSIX shell would for plain words and '' / "" quotes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    cur.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => cur.extend(chars.next()),
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// A string literal of a `generate:` expression, from after its opening quote; returns the
/// bytes and the rest after the closing quote. Escapes: `\n`, `\t`, `\"`, `\\`, `\xNN`.
fn string_literal(s: &str) -> (Vec<u8>, &str) {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return (out, &s[i + 1..]),
            b'\\' => {
                i += 1;
                match bytes[i] {
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'x' => {
                        out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("\\xNN"));
                        i += 2;
                    }
                    c => out.push(c),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    panic!("unterminated string in generate: {s}");
}

/// `"text" + repeat("text", N) + ...`
fn generate(expr: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = expr.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('"') {
            let (lit, r) = string_literal(r);
            out.extend(lit);
            rest = r.trim_start();
        } else if let Some(r) = rest.strip_prefix("repeat(\"") {
            let (lit, r) = string_literal(r);
            let r = r.trim_start().strip_prefix(',').expect("repeat(\"s\", N)");
            let close = r.find(')').expect("repeat(\"s\", N)");
            let n: usize = r[..close].trim().parse().expect("repeat count");
            out.extend(lit.repeat(n));
            rest = r[close + 1..].trim_start();
        } else {
            panic!("bad generate expression at: {rest}");
        }
        rest = rest.strip_prefix('+').unwrap_or(rest).trim_start();
    }
    out
}

fn parse_case(id: String, text: &str) -> Case {
    let mut case = Case {
        id,
        args: Vec::new(),
        expect_exit: None,
        env: Vec::new(),
        files: Vec::new(),
        location: None,
    };
    let mut section: Option<(String, Vec<&str>)> = None;
    let flush = |section: &mut Option<(String, Vec<&str>)>, files: &mut Vec<(String, FileOp)>| {
        if let Some((path, lines)) = section.take() {
            let mut content = String::new();
            for line in lines {
                content.push_str(line);
                content.push('\n');
            }
            files.push((path, FileOp::Write(content.into_bytes())));
        }
    };
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("-- ").and_then(|l| l.strip_suffix(" --")) {
            flush(&mut section, &mut case.files);
            if let Some(path) = name.strip_prefix('!') {
                case.files.push((path.to_string(), FileOp::Delete));
            } else if let Some(path) = name.strip_suffix('/') {
                case.files.push((path.to_string(), FileOp::Mkdir));
            } else {
                section = Some((name.to_string(), Vec::new()));
            }
            continue;
        }
        if let Some((_, lines)) = &mut section {
            lines.push(line);
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("{}: bad header line {line:?}", case.id));
        let value = value.trim();
        match key {
            "args" => case.args = shell_words(value),
            "location" => {
                case.location = Some(match value {
                    "required" => true,
                    "none" => false,
                    _ => panic!("{}: location: required|none", case.id),
                })
            }
            "expect_exit" => case.expect_exit = Some(value.parse().expect("expect_exit: N")),
            "env" => {
                let (k, v) = value.split_once('=').expect("env: NAME=value");
                case.env.push((k.to_string(), v.to_string()));
            }
            "generate" => {
                let (path, expr) = value.split_once(" = ").expect("generate: path = expr");
                case.files
                    .push((path.trim().to_string(), FileOp::Write(generate(expr))));
            }
            "bytes" => {
                let (path, hex) = value.split_once(" = ").expect("bytes: path = hex");
                let bytes = hex
                    .split_whitespace()
                    .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
                    .collect();
                case.files
                    .push((path.trim().to_string(), FileOp::Write(bytes)));
            }
            _ => panic!("{}: unknown header key {key:?}", case.id),
        }
    }
    flush(&mut section, &mut case.files);
    assert!(!case.args.is_empty(), "{}: no args:", case.id);
    case
}

fn load_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut groups: Vec<_> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p.file_name().unwrap() != "base")
        .collect();
    groups.sort();
    for group in groups {
        let mut files: Vec<_> = std::fs::read_dir(&group)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "txt"))
            .collect();
        files.sort();
        for file in files {
            let id = format!(
                "{}/{}",
                group.file_name().unwrap().to_str().unwrap(),
                file.file_stem().unwrap().to_str().unwrap()
            );
            let text = std::fs::read_to_string(&file).unwrap();
            cases.push(parse_case(id, &text));
        }
    }
    cases
}

/// Every file of a tree, relative path -> (size, contents if under `_delta_log`).
fn tree(root: &Path) -> Warehouse {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u64, Option<Vec<u8>>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                let size = std::fs::metadata(&path).map_or(0, |m| m.len());
                let log = rel
                    .contains("_delta_log")
                    .then(|| std::fs::read(&path).unwrap_or_default());
                out.insert(rel, (size, log));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

struct Run {
    /// None: killed by a signal, or timed out.
    code: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

fn run_weir(args: &[String], cwd: &Path, env: &[(String, String)]) -> Run {
    let out_path = cwd.join("stdout.txt");
    let err_path = cwd.join("stderr.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .current_dir(cwd)
        .env("HOME", cwd)
        .env_remove("DBT_PROFILES_DIR")
        .env_remove("DBT_PROJECT_DIR")
        .env_remove("DBT_STATE")
        .env_remove("WEIR_TIMINGS")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("run weir");
    let start = Instant::now();
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (Some(status), false);
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    Run {
        code: status.and_then(|s| s.code()),
        timed_out,
        stdout: read(&out_path),
        stderr: read(&err_path),
    }
}

fn secret_leaked(case: &Case, run: &Run, project: &Path) -> bool {
    let secrets: Vec<&str> = case
        .env
        .iter()
        .filter(|(k, _)| k.starts_with("DBT_ENV_SECRET"))
        .map(|(_, v)| v.as_str())
        .collect();
    if secrets.is_empty() {
        return false;
    }
    let mut texts = vec![run.stdout.clone(), run.stderr.clone()];
    for dir in ["target", "logs"] {
        for rel in tree(&project.join(dir)).keys() {
            let bytes = std::fs::read(project.join(dir).join(rel)).unwrap_or_default();
            texts.push(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    texts.iter().any(|t| secrets.iter().any(|s| t.contains(s)))
}

/// Whether stderr speaks of a file of the project: its absolute path, or the relative path of
/// one of its files (base and overlay), not counting `target/` and `warehouse/`.
fn mentions_project_file(stderr: &str, files: &BTreeSet<String>) -> bool {
    stderr.contains("[PROJECT]") || files.iter().any(|f| stderr.contains(f.as_str()))
}

fn has_location(stderr: &str) -> bool {
    let re = regex::Regex::new(r"(?m)^ *--> .+:\d+:\d+$").unwrap();
    re.is_match(stderr)
}

/// Whether every ` --> path:line:col` of stderr quotes that line of that file underneath
/// (`line | text`), so that the location is in the user's file and not in a rewritten template.
fn locations_match(stderr: &str, project: &Path) -> bool {
    let arrow = regex::Regex::new(r"^ *--> (.+):(\d+):(\d+)$").unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(cap) = arrow.captures(line) else {
            continue;
        };
        let path = cap[1].trim_start_matches("[PROJECT]/");
        let n: usize = cap[2].parse().unwrap();
        let Ok(bytes) = std::fs::read(project.join(path)) else {
            return false;
        };
        let text = String::from_utf8_lossy(&bytes).replace('\0', "\\0");
        let want = text.lines().nth(n.wrapping_sub(1)).unwrap_or("");
        let prefix = format!("{n} |");
        let quoted = lines[i + 1..]
            .iter()
            .take(3)
            .find_map(|l| l.trim_start().strip_prefix(&prefix));
        match quoted {
            Some(q) if q.strip_prefix(' ').unwrap_or(q) == want.trim_end_matches('\r') => {}
            _ => return false,
        }
    }
    true
}

/// What one case did: the gaps found, and failures that no gap list may excuse.
struct Outcome {
    gaps: BTreeSet<Gap>,
    failures: Vec<String>,
}

fn run_case(case: &Case, dir: &Path, built: &Path, warehouse_before: &Warehouse) -> Outcome {
    let project = dir.join("project");
    crate::common::copy_tree(built, &project);
    for (path, op) in &case.files {
        let p = project.join(path);
        match op {
            FileOp::Write(bytes) => {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, bytes).unwrap();
            }
            FileOp::Delete => std::fs::remove_file(&p)
                .unwrap_or_else(|e| panic!("{}: delete {path}: {e}", case.id)),
            FileOp::Mkdir => std::fs::create_dir_all(&p).unwrap(),
        }
    }
    let files: BTreeSet<String> = tree(&project)
        .into_keys()
        .filter(|f| !f.starts_with("warehouse/") && !f.starts_with("target/"))
        .collect();

    let mut args: Vec<String> = Vec::new();
    let mut placed = false;
    for a in &case.args {
        placed |= a.contains("{project}");
        args.push(a.replace("{project}", &project.display().to_string()));
    }
    if !placed {
        args.push("--project-dir".into());
        args.push(project.display().to_string());
    }
    let run = run_weir(&args, dir, &case.env);

    // The project path as passed and as weir may canonicalize it; NUL bytes made visible.
    let mut stderr = run.stderr.replace('\0', "\\0");
    for (p, to) in [
        (project.canonicalize().unwrap(), "[PROJECT]"),
        (project.clone(), "[PROJECT]"),
        (dir.canonicalize().unwrap(), "[TMP]"),
        (dir.to_path_buf(), "[TMP]"),
    ] {
        stderr = stderr.replace(&p.display().to_string(), to);
    }

    let mut out = Outcome {
        gaps: BTreeSet::new(),
        failures: Vec::new(),
    };
    let failed = run.code != Some(0);
    let panicked = matches!(run.code, Some(101 | 134 | 3))
        || (run.code.is_none() && !run.timed_out)
        || stderr.contains("panicked at")
        || stderr.contains("internal error")
        || stderr.contains("error[E000]");
    if panicked {
        out.gaps.insert(Gap::Panic);
    }
    if run.timed_out {
        out.gaps.insert(Gap::Timeout);
    }
    let expected = case.expect_exit.unwrap_or(2);
    if !failed && expected != 0 {
        out.gaps.insert(Gap::AcceptedSilently);
    }
    if failed && expected == 0 {
        out.failures.push(format!(
            "{}: expected exit 0, got {:?}\n{stderr}",
            case.id, run.code
        ));
    }
    if failed && !run.timed_out {
        let wants_location = case
            .location
            .unwrap_or_else(|| mentions_project_file(&stderr, &files));
        if wants_location && !has_location(&stderr) {
            out.gaps.insert(Gap::NoLocation);
        }
    }
    if !locations_match(&stderr, &project) {
        out.gaps.insert(Gap::WrongLocation);
    }
    // A failing command must leave the warehouse as it was.
    if failed && tree(&project.join("warehouse")) != *warehouse_before {
        out.gaps.insert(Gap::WarehouseChanged);
    }
    if secret_leaked(case, &run, &project) {
        out.gaps.insert(Gap::LeakedSecret);
    }

    // Never record a panic or a hang as a golden message.
    if !panicked && !run.timed_out {
        let code = run
            .code
            .map_or("killed by a signal".to_string(), |c| c.to_string());
        let report = format!("exit code: {code}\n--- stderr ---\n{stderr}");
        let name = format!("bad_input__{}", case.id.replace('/', "__"));
        let description = format!("{}: weir {}", case.id, case.args.join(" "));
        let result = std::panic::catch_unwind(|| {
            insta::with_settings!({
                snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"),
                prepend_module_to_snapshot => false,
                omit_expression => true,
                description => description,
            }, {
                insta::assert_snapshot!(name, report);
            });
        });
        if result.is_err() {
            out.failures
                .push(format!("{}: stderr differs from its snapshot", case.id));
        }
    }
    let _ = std::fs::remove_dir_all(dir);
    out
}

type Warehouse = BTreeMap<String, (u64, Option<Vec<u8>>)>;

#[test]
fn bad_input_corpus() {
    let cases = load_cases();
    assert!(cases.len() >= 150, "only {} cases", cases.len());

    let root = tempfile::Builder::new()
        .prefix("weir-bad-input-")
        .tempdir()
        .expect("tempdir");
    // The base, built once: every case starts from a warehouse with the seed and both models.
    let built = root.path().join("built");
    crate::common::copy_tree(&corpus_dir().join("base"), &built);
    for cmd in ["seed", "run"] {
        let args = [
            cmd.to_string(),
            "--project-dir".into(),
            built.display().to_string(),
        ];
        let run = run_weir(&args, root.path(), &[]);
        assert_eq!(
            run.code,
            Some(0),
            "base {cmd}: {}{}",
            run.stdout,
            run.stderr
        );
    }
    let _ = std::fs::remove_dir_all(built.join("target"));
    let warehouse_before = tree(&built.join("warehouse"));
    assert!(!warehouse_before.is_empty());

    // Two workers: most of a case's time is process start-up and file copies.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let dir = root.path().join(format!("case{i}"));
                let outcome = run_case(case, &dir, &built, &warehouse_before);
                results.lock().unwrap().push((case.id.clone(), outcome));
            });
        }
    });

    let mut failures: Vec<String> = Vec::new();
    let mut found: BTreeSet<(String, Gap)> = BTreeSet::new();
    for (id, outcome) in results.into_inner().unwrap() {
        failures.extend(outcome.failures);
        found.extend(outcome.gaps.into_iter().map(|g| (id.clone(), g)));
    }
    let known: BTreeSet<(String, Gap)> = KNOWN_GAPS
        .iter()
        .map(|(id, gap, _)| (id.to_string(), *gap))
        .collect();
    for (id, gap) in found.difference(&known) {
        failures.push(format!("{id}: {gap:?} (not in KNOWN_GAPS)"));
    }
    for (id, gap) in known.difference(&found) {
        failures.push(format!(
            "{id}: {gap:?} is listed in KNOWN_GAPS but no longer happens; remove it"
        ));
    }
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} of {} bad-input checks failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
