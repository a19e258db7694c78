//! `weir ls` against `dbt ls`: the fixtures under tests/fixtures/dbt_ls hold what dbt-core 1.12
//! printed for each selector on the same projects (see their README).

use crate::common::*;

fn check(project_src: &str, fixture: &str) {
    let project = copy_project(&repo().join(project_src));
    let dir = project.path().to_str().unwrap().to_string();
    let text = std::fs::read_to_string(repo().join("tests/fixtures/dbt_ls").join(fixture)).unwrap();
    let mut failures = Vec::new();
    let mut cases = 0;
    for case in text.split("### ").skip(1) {
        let mut lines = case.lines();
        let header = lines.next().unwrap();
        let expected: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
        let args: Vec<String> = shell_words(header).into_iter().skip(1).collect();
        let raw = args.iter().any(|a| a == "--output");
        let mut argv: Vec<String> = vec![
            "ls".into(),
            "--project-dir".into(),
            dir.clone(),
            "-q".into(),
        ];
        argv.extend(args.iter().cloned());
        if !raw {
            argv.extend(["--output", "json", "--output-keys", "unique_id"].map(String::from));
        }
        let argv_ref: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = weir(&argv_ref, project.path());
        let mut got: Vec<String> = if raw {
            out.stdout
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(str::to_string)
                .collect()
        } else {
            out.stdout
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["unique_id"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect()
        };
        if !raw {
            got.sort();
        }
        cases += 1;
        if got != expected {
            failures.push(format!(
                "{header}\n  expected {expected:?}\n  got      {got:?}\n  stderr {}",
                out.stderr
            ));
        }
    }
    assert!(cases >= 25, "only {cases} cases in {fixture}");
    assert!(
        failures.is_empty(),
        "{} of {cases} selectors differ from dbt ls:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Split a header line the way a shell would (single and double quotes).
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() || any {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if !cur.is_empty() || any {
        out.push(cur);
    }
    out
}

#[test]
fn ls_matches_dbt_on_jaffle_like() {
    check("tests/fixtures/jaffle_like", "jaffle_like.txt");
}

#[test]
fn ls_matches_dbt_on_example_project() {
    check("example_project", "example_project.txt");
}
