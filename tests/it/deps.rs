//! `weir deps` end to end: local, git, tarball and hub packages installed by the real binary,
//! against a git repository made here and a package hub served from 127.0.0.1 by this test
//! (nothing leaves the machine). A failed install must leave `dbt_packages/` as it was.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use crate::common::{weir_env, Output};

fn write(dir: &Path, path: &str, text: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("weir-deps-")
        .tempdir()
        .unwrap()
}

/// A root project named `proj` in `dir/proj`, with one model that calls `macro_call`.
fn root_project(dir: &Path, packages_yml: &str, macro_call: &str) -> PathBuf {
    let root = dir.join("proj");
    write(&root, "dbt_project.yml", "name: proj\nversion: '1.0'\n");
    write(&root, "packages.yml", packages_yml);
    write(
        &root,
        "models/m.sql",
        &format!("select {macro_call} as v from (select 100 as amount) t\n"),
    );
    root
}

fn deps(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = vec!["deps", "--project-dir", root.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut env = env.to_vec();
    // The hub is on 127.0.0.1: no proxy in between.
    env.push(("NO_PROXY", "127.0.0.1,localhost"));
    env.push(("no_proxy", "127.0.0.1,localhost"));
    weir_env(&all, root, &env)
}

fn ok(out: &Output) {
    assert_eq!(
        out.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
}

/// Every path below `dir` (symlinks not followed) with its kind and contents, sorted: what
/// "left as it was" is checked against.
fn snapshot(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                out.push((
                    rel,
                    format!("-> {}", std::fs::read_link(&p).unwrap().display()),
                ));
            } else if ft.is_dir() {
                out.push((rel, "dir".into()));
                stack.push(p);
            } else {
                out.push((
                    rel,
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned(),
                ));
            }
        }
    }
    out.sort();
    out
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn local_package_is_linked_and_its_macros_compile() {
    let tmp = tempdir();
    write(
        &tmp.path().join("shared"),
        "dbt_project.yml",
        "name: shared_macros\nversion: '1.0'\n",
    );
    write(
        &tmp.path().join("shared"),
        "macros/cents.sql",
        "{% macro cents(col) %}round({{ col }} / 100, 2){% endmacro %}\n",
    );
    let root = root_project(
        tmp.path(),
        // The path from `--vars`: dbt renders `var()` and `env_var()` in packages.yml.
        "packages:\n  - local: \"{{ var('shared_path') }}\"\n",
        "{{ shared_macros.cents('amount') }}",
    );
    // Installed where dbt_project.yml says, and read from there by the project loader.
    write(
        &root,
        "dbt_project.yml",
        "name: proj\nversion: '1.0'\npackages-install-path: vendor\n",
    );
    // Before `weir deps`, other commands say to run it, as dbt does.
    let out = weir_env(
        &["compile", "--project-dir", root.to_str().unwrap()],
        &root,
        &[],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("error[E108]: packages.yml lists 1 package(s), but only 0 package(s) are installed in vendor/"),
        "{}",
        out.stderr
    );
    let out = deps(&root, &["--vars", "{shared_path: ../shared}"], &[]);
    ok(&out);
    assert!(
        out.stdout
            .contains("Installing ../shared\nInstalled from <local @ ../shared>\n"),
        "{}",
        out.stdout
    );
    let installed = root.join("vendor/shared_macros");
    assert!(!root.join("dbt_packages").exists());
    assert!(std::fs::symlink_metadata(&installed)
        .unwrap()
        .file_type()
        .is_symlink());
    let lock = std::fs::read_to_string(root.join("package-lock.yml")).unwrap();
    assert!(
        lock.starts_with("packages:\n  - local: ../shared\n    name: shared_macros\nsha1_hash: "),
        "{lock}"
    );

    let out = weir_env(
        &["compile", "--project-dir", root.to_str().unwrap()],
        &root,
        &[],
    );
    ok(&out);
    let compiled = std::fs::read_to_string(root.join("target/compiled/proj/models/m.sql")).unwrap();
    assert!(compiled.contains("round(amount / 100, 2)"), "{compiled}");
}

#[test]
fn git_package_at_a_tag_in_a_subdirectory() {
    let tmp = tempdir();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "--quiet"]);
    write(
        &repo,
        "sub/pkg/dbt_project.yml",
        "name: gitpkg\nversion: '1.0'\n",
    );
    write(
        &repo,
        "sub/pkg/macros/m.sql",
        "{% macro gitmacro() %}'tagged'{% endmacro %}\n",
    );
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "--quiet", "-m", "one"]);
    git(&repo, &["tag", "v1.0"]);
    let tagged = git(&repo, &["rev-parse", "v1.0^{commit}"]);
    write(
        &repo,
        "sub/pkg/macros/m.sql",
        "{% macro gitmacro() %}'later'{% endmacro %}\n",
    );
    git(&repo, &["commit", "--quiet", "-am", "two"]);

    // The repository's path comes from a secret: it must be read, and never printed or locked.
    let repo_dir = repo.to_str().unwrap();
    let env = [("DBT_ENV_SECRET_REPO", repo_dir)];
    let spec = "packages:\n  - git: \"file://{{ env_var('DBT_ENV_SECRET_REPO') }}\"\n    revision: v1.0\n    subdirectory: sub/pkg\n";
    let root = root_project(tmp.path(), spec, "{{ gitpkg.gitmacro() }}");
    let out = deps(&root, &[], &env);
    ok(&out);
    assert!(
        out.stdout.contains(&format!(
            "Installed from revision {tagged}\nand subdirectory sub/pkg\n"
        )),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains(repo_dir) && !out.stderr.contains(repo_dir),
        "{}{}",
        out.stdout,
        out.stderr
    );
    let lock = std::fs::read_to_string(root.join("package-lock.yml")).unwrap();
    assert!(
        lock.contains("  - git: file://{{ env_var('DBT_ENV_SECRET_REPO') }}\n"),
        "{lock}"
    );
    assert!(
        lock.contains(&format!(
            "    name: gitpkg\n    revision: {tagged}\n    subdirectory: sub/pkg\n"
        )),
        "{lock}"
    );
    assert!(!lock.contains(repo_dir));
    let installed = root.join("dbt_packages/gitpkg");
    assert!(std::fs::read_to_string(installed.join("macros/m.sql"))
        .unwrap()
        .contains("'tagged'"));

    // Again, from the lock: the commit sha is fetched, the same files come back.
    let out = deps(&root, &[], &env);
    ok(&out);
    assert!(!out.stdout.contains("Updating lock file"), "{}", out.stdout);
    assert_eq!(
        std::fs::read_to_string(root.join("package-lock.yml")).unwrap(),
        lock
    );
    let out = weir_env(
        &["compile", "--project-dir", root.to_str().unwrap()],
        &root,
        &env,
    );
    ok(&out);
    let compiled = std::fs::read_to_string(root.join("target/compiled/proj/models/m.sql")).unwrap();
    assert!(compiled.contains("'tagged'"), "{compiled}");

    // An unknown revision fails, naming the package, and leaves the install as it was.
    let before = snapshot(&root.join("dbt_packages"));
    write(&root, "packages.yml", &spec.replace("v1.0", "v9.9"));
    let out = deps(&root, &[], &env);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("error[E702]: cannot check out revision 'v9.9' of git package file://*****"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("untouched"), "{}", out.stderr);
    assert_eq!(snapshot(&root.join("dbt_packages")), before);
    assert_eq!(
        std::fs::read_to_string(root.join("package-lock.yml")).unwrap(),
        lock
    );
}

/// A package hub on 127.0.0.1: files by path, and the paths asked for.
struct Hub {
    base: String,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Hub {
    fn start() -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let (f, r) = (files.clone(), requests.clone());
        // Serves this test's weir processes one request at a time until the test ends.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    continue;
                }
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
                r.lock().unwrap().push(path.clone());
                let body = f.lock().unwrap().get(&path).cloned();
                let (status, body) = match body {
                    Some(b) => ("200 OK", b),
                    None => ("404 Not Found", b"not found".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        Hub {
            base,
            files,
            requests,
        }
    }

    fn put(&self, path: &str, body: Vec<u8>) {
        self.files.lock().unwrap().insert(path.to_string(), body);
    }

    fn requests(&self) -> Vec<String> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }

    /// A package version: its archive, and its entry in the package's JSON.
    fn version(
        &self,
        name: &str,
        version: &str,
        deps: serde_json::Value,
        require_dbt: Option<&str>,
    ) -> (String, serde_json::Value) {
        let path = format!("/dl/{name}-{version}.tar.gz");
        self.put(
            &path,
            targz(
                &format!("org-{name}-{version}-0f1e2d"),
                &[
                    (
                        "dbt_project.yml",
                        format!("name: {name}\nversion: '{version}'\n"),
                    ),
                    (
                        "macros/m.sql",
                        format!("{{% macro {name}_version() %}}'{version}'{{% endmacro %}}\n"),
                    ),
                ],
            ),
        );
        let mut v = serde_json::json!({
            "id": format!("org/{name}/{version}"),
            "name": name,
            "version": version,
            "packages": deps,
            "downloads": {"tarball": format!("{}{}", self.base.trim_end_matches('/'), path)},
        });
        if let Some(r) = require_dbt {
            v["require_dbt_version"] = serde_json::json!([r]);
        }
        (version.to_string(), v)
    }

    fn package(&self, name: &str, versions: Vec<(String, serde_json::Value)>) {
        let json = serde_json::json!({
            "name": name,
            "namespace": "org",
            "versions": versions.into_iter().collect::<serde_json::Map<_, _>>(),
        });
        self.put(
            &format!("/api/v1/org/{name}.json"),
            json.to_string().into_bytes(),
        );
    }
}

/// A `.tar.gz` with one top-level directory `top` holding `files`.
fn targz(top: &str, files: &[(&str, String)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (path, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, format!("{top}/{path}"), text.as_bytes())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn installed_version(root: &Path, name: &str) -> String {
    let text =
        std::fs::read_to_string(root.join(format!("dbt_packages/{name}/dbt_project.yml"))).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("version: "))
        .unwrap()
        .trim_matches('\'')
        .to_string()
}

#[test]
fn hub_and_tarball_packages_with_a_lock_and_an_atomic_failure() {
    let hub = Hub::start();
    hub.put(
        "/api/v1/index.json",
        br#"["org/alpha", "org/beta"]"#.to_vec(),
    );
    let needs_beta = serde_json::json!([{"package": "org/beta", "version": [">=0.1.0"]}]);
    hub.package(
        "alpha",
        vec![
            hub.version("alpha", "1.0.0", needs_beta.clone(), None),
            hub.version("alpha", "1.2.0", needs_beta.clone(), None),
            hub.version("alpha", "2.0.0", needs_beta.clone(), None),
        ],
    );
    // beta 0.2.0 asks for a dbt weir does not answer for: 0.1.0 is the one to install.
    hub.package(
        "beta",
        vec![
            hub.version("beta", "0.1.0", serde_json::json!([]), Some(">=1.5.0")),
            hub.version("beta", "0.2.0", serde_json::json!([]), Some(">=99.0.0")),
        ],
    );
    hub.put(
        "/dl/gamma.tar.gz",
        targz(
            "gamma-main",
            &[(
                "dbt_project.yml",
                "name: gamma_project\nversion: '1.0'\n".into(),
            )],
        ),
    );
    let tmp = tempdir();
    let spec = format!(
        "packages:\n  - package: org/alpha\n    version: [\">=1.0.0\", \"<2.0.0\"]\n  - tarball: {}dl/gamma.tar.gz\n    name: gamma\n",
        hub.base
    );
    let root = root_project(tmp.path(), &spec, "{{ alpha.alpha_version() }}");
    let env = [("DBT_PACKAGE_HUB_URL", hub.base.as_str())];

    // 1. Resolved: the highest alpha in range, its dependency beta, the tarball.
    let out = deps(&root, &[], &env);
    ok(&out);
    let stdout = &out.stdout;
    assert!(stdout.contains("Installing org/alpha\nInstalled from version 1.2.0\nUpdated version available: 2.0.0\n"), "{stdout}");
    assert!(
        stdout.contains("Installing gamma\nInstalled from tarball (url: "),
        "{stdout}"
    );
    assert!(
        stdout.contains("Installing org/beta\nInstalled from version 0.1.0\nUp to date!\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Updates available for packages: org/alpha"),
        "{stdout}"
    );
    assert_eq!(installed_version(&root, "alpha"), "1.2.0");
    assert_eq!(installed_version(&root, "beta"), "0.1.0");
    assert!(root.join("dbt_packages/gamma/dbt_project.yml").is_file());
    let lock = std::fs::read_to_string(root.join("package-lock.yml")).unwrap();
    let expected = format!(
        "packages:\n  - name: alpha\n    package: org/alpha\n    version: 1.2.0\n  - name: gamma\n    tarball: {}dl/gamma.tar.gz\n  - name: beta\n    package: org/beta\n    version: 0.1.0\nsha1_hash: ",
        hub.base
    );
    assert!(lock.starts_with(&expected), "{lock}");
    let first = hub.requests();
    assert!(
        first.contains(&"/api/v1/index.json".to_string()),
        "{first:?}"
    );

    // 2. A package that cannot be fetched: the error names it, nothing installed changes.
    let before = snapshot(&root.join("dbt_packages"));
    let port = closed_port();
    write(
        &root,
        "packages.yml",
        &format!("{spec}  - tarball: http://127.0.0.1:{port}/broken.tar.gz\n    name: broken\n"),
    );
    let out = deps(&root, &[], &env);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains(&format!("error[E702]: cannot reach 127.0.0.1 to fetch tarball package broken (http://127.0.0.1:{port}/broken.tar.gz): you seem to be offline")), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("packages already installed are untouched"),
        "{}",
        out.stderr
    );
    assert_eq!(snapshot(&root.join("dbt_packages")), before);
    assert_eq!(
        std::fs::read_to_string(root.join("package-lock.yml")).unwrap(),
        lock
    );
    let leftovers: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".weir-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // 3. A range nothing meets: both askers are named.
    write(
        &root,
        "packages.yml",
        &format!("{spec}  - package: org/beta\n    version: \">=0.5.0\"\n"),
    );
    let out = deps(&root, &[], &env);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("error[E703]: no version of org/beta matches >=0.5.0, >=0.1.0"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("asked by package alpha (org/alpha 1.2.0 on the package hub)"),
        "{}",
        out.stderr
    );
    assert_eq!(snapshot(&root.join("dbt_packages")), before);

    // 4. Back to the spec, and a newer alpha in range on the hub: the lock still wins, and
    //    the hub's index is not even read.
    write(&root, "packages.yml", &spec);
    hub.package(
        "alpha",
        vec![
            hub.version("alpha", "1.0.0", needs_beta.clone(), None),
            hub.version("alpha", "1.2.0", needs_beta.clone(), None),
            hub.version("alpha", "1.3.0", needs_beta.clone(), None),
            hub.version("alpha", "2.0.0", needs_beta, None),
        ],
    );
    hub.requests();
    let out = deps(&root, &[], &env);
    ok(&out);
    assert!(
        out.stdout.contains("Installed from version 1.2.0"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("Updating lock file"), "{}", out.stdout);
    assert_eq!(installed_version(&root, "alpha"), "1.2.0");
    assert!(!hub.requests().contains(&"/api/v1/index.json".to_string()));
    assert_eq!(
        std::fs::read_to_string(root.join("package-lock.yml")).unwrap(),
        lock
    );

    // 5. --upgrade resolves again: 1.3.0.
    let out = deps(&root, &["--upgrade"], &env);
    ok(&out);
    assert!(
        out.stdout.contains("Installed from version 1.3.0"),
        "{}",
        out.stdout
    );
    assert_eq!(installed_version(&root, "alpha"), "1.3.0");
    let upgraded = std::fs::read_to_string(root.join("package-lock.yml")).unwrap();
    assert!(upgraded.contains("    version: 1.3.0\n"), "{upgraded}");

    // 6. The installed macros are the project's: compile uses alpha 1.3.0's.
    let out = weir_env(
        &["compile", "--project-dir", root.to_str().unwrap()],
        &root,
        &[],
    );
    ok(&out);
    let compiled = std::fs::read_to_string(root.join("target/compiled/proj/models/m.sql")).unwrap();
    assert!(compiled.contains("'1.3.0'"), "{compiled}");

    // 7. --lock only pins: the lock changes, dbt_packages does not.
    let installed = snapshot(&root.join("dbt_packages"));
    write(
        &root,
        "packages.yml",
        "packages:\n  - package: org/alpha\n    version: 1.0.0\n",
    );
    let out = deps(&root, &["--lock"], &env);
    ok(&out);
    assert!(std::fs::read_to_string(root.join("package-lock.yml"))
        .unwrap()
        .contains("    version: 1.0.0\n"));
    assert_eq!(snapshot(&root.join("dbt_packages")), installed);

    // 8. --add-package edits packages.yml in place, then installs; if the install fails, the
    //    file is put back too.
    let out = deps(&root, &["--add-package", "org/beta@0.1.0"], &env);
    ok(&out);
    assert_eq!(
        std::fs::read_to_string(root.join("packages.yml")).unwrap(),
        "packages:\n  - package: org/alpha\n    version: 1.0.0\n  - package: org/beta\n    version: 0.1.0\n"
    );
    assert_eq!(installed_version(&root, "alpha"), "1.0.0");
    let spec_now = std::fs::read_to_string(root.join("packages.yml")).unwrap();
    let installed = snapshot(&root.join("dbt_packages"));
    let out = deps(&root, &["--add-package", "org/beta@9.9.9"], &env);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("no version of org/beta matches 9.9.9, >=0.1.0"),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(root.join("packages.yml")).unwrap(),
        spec_now
    );
    assert_eq!(snapshot(&root.join("dbt_packages")), installed);
}

#[test]
fn bad_entries_point_at_their_line() {
    let tmp = tempdir();
    let root = root_project(
        tmp.path(),
        "packages:\n  - local: ../x\n  - package: dbt_utils\n    version: 1.0.0\n",
        "1",
    );
    let out = deps(&root, &[], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(
            "error[E701]: hub package `dbt_utils` has no namespace\n --> packages.yml:3:14\n"
        ),
        "{}",
        out.stderr
    );

    write(
        &root,
        "packages.yml",
        "packages:\n  - package: dbt-labs/dbt_utils\n    version: \">=1.0.0, <2.0.0\"\n",
    );
    let out = deps(&root, &[], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("--> packages.yml:3:14"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("write a range as a list"),
        "{}",
        out.stderr
    );

    write(
        &root,
        "packages.yml",
        "packages:\n  - git: https://example.com/x.git\n    revison: v1\n",
    );
    let out = deps(&root, &[], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("error[E701]: unexpected key `revison` in a `git` entry"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("did you mean `revision`?"),
        "{}",
        out.stderr
    );
}
