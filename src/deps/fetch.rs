//! Getting a package's files into the staging area: `git` (the `git` binary), `.tar.gz`
//! archives, and reading a fetched package's name.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::diagnostics::{io_error, Code, Diagnostic, Error, Result};

fn is_commit(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

fn git(dir: Option<&Path>, args: &[&str]) -> std::result::Result<String, String> {
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd
        .args(["-c", "advice.detachedHead=false"])
        .args(args)
        .env("LC_ALL", "C")
        // Never wait for a password on the terminal: a private repository fails instead.
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                "the `git` program was not found".to_string()
            } else {
                format!("cannot run git: {e}")
            }
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("warning: --depth is ignored"))
            .collect();
        Err(lines.join("; "))
    }
}

/// Clone `url` at `revision` (a branch, a tag, a full commit sha; the default branch when
/// `None`) into `dest`, shallowly where git allows it. Returns the checked-out commit's sha.
pub(crate) fn git_checkout(url: &str, revision: Option<&str>, dest: &Path) -> Result<String> {
    let shown = super::hub::display_url(url);
    let rev = revision.unwrap_or("HEAD");
    let fail = |why: String| -> Error {
        let unreachable = [
            "Could not resolve host",
            "Failed to connect",
            "Connection refused",
            "Connection timed out",
            "Network is unreachable",
        ]
        .iter()
        .any(|m| why.contains(m));
        let (message, help) = if why.contains("`git` program") {
            (
                format!("cannot fetch git package {shown}: the `git` program was not found"),
                "install git (weir runs it to fetch `git:` packages); packages already installed are untouched".to_string(),
            )
        } else if unreachable {
            let host = url::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| shown.clone());
            (
                format!("cannot reach {host} to clone git package {shown}: you seem to be offline, or {host} is down"),
                "packages already installed are untouched; check the network (or the URL), then run `weir deps` again".to_string(),
            )
        } else {
            (
                format!("cannot check out revision '{rev}' of git package {shown}"),
                format!("check the URL and that revision '{rev}' exists there (a branch, a tag or a full 40-character commit sha); packages already installed are untouched"),
            )
        };
        Diagnostic::error(Code::E702, message)
            .note(why)
            .help(help)
            .into()
    };
    let dest_str = dest.to_string_lossy().to_string();
    if is_commit(rev) {
        // A commit: fetch just it where the server allows that, else everything.
        std::fs::create_dir_all(dest).map_err(|e| io_error("create", dest, e))?;
        git(Some(dest), &["init", "--quiet"]).map_err(&fail)?;
        git(Some(dest), &["remote", "add", "origin", url]).map_err(&fail)?;
        if git(
            Some(dest),
            &["fetch", "--quiet", "--depth", "1", "origin", rev],
        )
        .is_err()
        {
            git(Some(dest), &["fetch", "--quiet", "--tags", "origin"]).map_err(&fail)?;
        }
        git(Some(dest), &["checkout", "--quiet", rev]).map_err(&fail)?;
    } else {
        let mut args = vec!["clone", "--quiet", "--depth", "1"];
        if rev != "HEAD" {
            args.extend(["--branch", rev]);
        }
        args.extend([url, dest_str.as_str()]);
        git(None, &args).map_err(&fail)?;
    }
    git(Some(dest), &["rev-parse", "HEAD"]).map_err(fail)
}

/// Unpack a `.tar.gz` into `dest` and return the single top-level directory in it (the
/// package), as dbt requires of tarball and hub packages.
pub(crate) fn untar(bytes: &[u8], dest: &Path, what: &str) -> Result<PathBuf> {
    let bad = |why: String| -> Error {
        Diagnostic::error(Code::E704, format!("{what} is not a valid .tar.gz archive: {why}"))
            .help("check the URL points at a .tar.gz of a dbt package; packages already installed are untouched")
            .into()
    };
    std::fs::create_dir_all(dest).map_err(|e| io_error("create", dest, e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    archive.set_preserve_permissions(false);
    archive.unpack(dest).map_err(|e| bad(e.to_string()))?;
    let entries: Vec<PathBuf> = std::fs::read_dir(dest)
        .map_err(|e| io_error("list", dest, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    match entries.as_slice() {
        [one] if one.is_dir() => Ok(one.clone()),
        _ => Err(Diagnostic::error(
            Code::E704,
            format!(
                "{what} does not hold one top-level directory (it holds {} entries)",
                entries.len()
            ),
        )
        .help("a package archive holds one directory, the package, with dbt_project.yml in it")
        .into()),
    }
}

/// The project name (`name:` of `dbt_project.yml`) of the package in `dir`.
pub(crate) fn project_name(dir: &Path, what: &str) -> Result<String> {
    if !dir.join("dbt_project.yml").is_file() {
        return Err(Diagnostic::error(
            Code::E704,
            format!("{what} has no dbt_project.yml"),
        )
        .note(format!("looked in {}", dir.display()))
        .help("every package must be a dbt project; check the path, `subdirectory:` or archive")
        .into());
    }
    let (file, _) = crate::project::read_project_file(dir, &format!("{what}: "))?;
    Ok(file.name)
}

/// Copy a directory tree (symlinks copied as links), where a symlink cannot be made.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| io_error("create", to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| io_error("list", from, e))? {
        let entry = entry.map_err(|e| io_error("list", from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let ft = entry.file_type().map_err(|e| io_error("read", &src, e))?;
        if ft.is_dir() {
            copy_tree(&src, &dst)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&src).map_err(|e| io_error("read", &src, e))?;
            std::os::unix::fs::symlink(target, &dst).map_err(|e| io_error("create", &dst, e))?;
        } else {
            std::fs::copy(&src, &dst).map_err(|e| io_error("copy", &src, e))?;
        }
    }
    Ok(())
}
