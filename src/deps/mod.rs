//! `weir deps`: install the packages a project asks for, as dbt-core 1.12's `dbt deps` does.
//!
//! `packages.yml` (or `dependencies.yml`) lists hub, git, local and tarball packages
//! ([`spec`]); the resolver pins each one and what it asks for in turn ([`resolve`]), with
//! hub ranges intersected ([`versions`], [`hub`]); `package-lock.yml` records the pins
//! ([`lock`]) and is reused while the specification's `sha1_hash` is unchanged. Packages are
//! fetched into a staging area and swapped in only once all of them are there ([`install`]),
//! so a failure leaves the install directory as it was.
//!
//! This module reads YAML and files and runs `git`; it renders no Jinja but `env_var()` and
//! `var()` in the package files, and knows nothing of nodes. It reports progress as [`Event`]s; the CLI
//! prints them.

mod add;
mod fetch;
mod hub;
mod install;
mod lock;
mod resolve;
mod spec;
mod versions;

use std::path::PathBuf;

use crate::diagnostics::{io_error, Diagnostic, Result};
pub use add::{AddPackage, AddSource};
use resolve::{Resolver, Source};

/// dbt's lock file name, in the project directory.
pub const LOCK_FILE: &str = "package-lock.yml";

/// What `weir deps` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub project_dir: PathBuf,
    /// Resolve again, ignoring `package-lock.yml`.
    pub upgrade: bool,
    /// Only (re)write `package-lock.yml`; install nothing.
    pub lock_only: bool,
    /// Leave out hub versions whose `require_dbt_version` excludes dbt
    /// [`hub::DBT_VERSION`].
    pub version_check: bool,
    /// `--vars`, for `var()` in the package files.
    pub vars: Option<String>,
    /// `--add-package`: first add this package to the package file.
    pub add_package: Option<AddPackage>,
}

/// Progress, in the order dbt prints it.
#[derive(Debug, Clone)]
pub enum Event {
    /// `Installing dbt-labs/dbt_utils`.
    Installing(String),
    /// `Installed from version 1.1.1`.
    Installed(String),
    /// `and subdirectory sub`.
    Subdirectory(String),
    UpToDate,
    UpdateAvailable(String),
    /// The hub packages that have a newer version.
    UpdatesAvailable(Vec<String>),
    /// `package-lock.yml` was written.
    LockUpdated(PathBuf),
    /// The specification lists no package (the file it looked for).
    NoPackages(String),
    Warning(Diagnostic),
    /// `--add-package`: an entry that named the same package was removed.
    RemovedDuplicate(String),
    /// `--add-package`: the package (`name@version`) was added to the file.
    Added(String, PathBuf),
}

/// Install (or, with `lock_only`, only pin) the project's packages.
pub fn run(opts: &Options, report: &mut dyn FnMut(Event)) -> Result<()> {
    let root = opts
        .project_dir
        .canonicalize()
        .map_err(|e| io_error("open project directory", &opts.project_dir, e))?;
    let (file, _) = crate::project::read_project_file(&root, "")?;
    let Some(pkg) = &opts.add_package else {
        return install(opts, &root, &file, report);
    };
    let added = add::add(&root, pkg)?;
    for r in &added.removed {
        report(Event::RemovedDuplicate(r.clone()));
    }
    let shown = match &pkg.version {
        Some(v) => format!("{}@{v}", pkg.name),
        None => pkg.name.clone(),
    };
    report(Event::Added(shown, added.file.clone()));
    // All or nothing here too: a package that cannot be installed is not left in the file.
    let result = install(opts, &root, &file, report);
    if result.is_err() {
        add::undo(&added);
    }
    result
}

fn install(
    opts: &Options,
    root: &std::path::Path,
    file: &crate::project::ProjectFile,
    report: &mut dyn FnMut(Event),
) -> Result<()> {
    let render = spec::Render {
        env_var: crate::project::secret_env_var,
        vars: match &opts.vars {
            Some(v) => crate::project::parse_vars(v)?,
            None => Default::default(),
        },
    };
    let root = root.to_path_buf();
    let install_dir = root.join(file.packages_install_path());
    let spec = spec::read_dir_spec(&root, "", &render)?;
    for w in &spec.warnings {
        report(Event::Warning(w.clone()));
    }
    let hash = spec::sha1_hash(&spec.entries);
    if spec.entries.is_empty() {
        report(Event::NoPackages(spec.shown.clone()));
        if !opts.lock_only {
            // As dbt: no packages, an empty install directory.
            install::Staging::new(&install_dir)?.swap()?;
        }
        return Ok(());
    }
    let lock = if opts.upgrade {
        None
    } else {
        spec::read_lock(&root, &render)?.filter(|l| l.sha1_hash.as_deref() == Some(hash.as_str()))
    };
    if opts.lock_only && lock.is_some() {
        return Ok(());
    }
    let staging = install::Staging::new(&install_dir)?;
    let mut resolver = Resolver::new(&root, &staging.work, opts.version_check, &render);
    let fresh = lock.is_none();
    let pinned = match &lock {
        Some(l) => resolver.locked(l)?,
        None => resolver.resolve(&spec)?,
    };
    for w in std::mem::take(&mut resolver.warnings) {
        report(Event::Warning(w));
    }
    resolve::check_names(&pinned, &file.name)?;
    let lock_path = root.join(LOCK_FILE);
    let lock_text = lock::render(&pinned, &hash);
    if opts.lock_only {
        write_lock(&lock_path, &lock_text)?;
        report(Event::LockUpdated(lock_path));
        return Ok(());
    }
    let mut updates = Vec::new();
    for p in &pinned {
        report(Event::Installing(p.shown()));
        let dest = staging.new.join(&p.name);
        match &p.source {
            Source::Hub {
                package,
                version,
                latest,
                tarball,
            } => {
                let dir = resolver.download_hub(package, version, tarball)?;
                resolve::place(&dir, &dest)?;
                report(Event::Installed(format!("version {version}")));
                match latest {
                    Some(l) if l != version => {
                        updates.push(package.clone());
                        report(Event::UpdateAvailable(l.to_string()));
                    }
                    _ => report(Event::UpToDate),
                }
            }
            Source::Git {
                sha, subdirectory, ..
            } => {
                let dir = p
                    .dir
                    .as_ref()
                    .ok_or_else(|| Diagnostic::internal("a pinned git package has no checkout"))?;
                resolve::place(dir, &dest)?;
                report(Event::Installed(format!("revision {sha}")));
                if let Some(s) = subdirectory {
                    report(Event::Subdirectory(s.clone()));
                }
            }
            Source::Local { path, abs } => {
                resolve::link(abs, &dest)?;
                report(Event::Installed(format!("<local @ {path}>")));
            }
            Source::Tarball { url, .. } => {
                let dir = p.dir.as_ref().ok_or_else(|| {
                    Diagnostic::internal("a pinned tarball package has no download")
                })?;
                resolve::place(dir, &dest)?;
                report(Event::Installed(format!(
                    "tarball (url: {})",
                    hub::display_url(url)
                )));
            }
        }
    }
    staging.swap()?;
    if fresh {
        write_lock(&lock_path, &lock_text)?;
        report(Event::LockUpdated(lock_path));
    }
    if !updates.is_empty() {
        report(Event::UpdatesAvailable(updates));
    }
    Ok(())
}

fn write_lock(path: &std::path::Path, text: &str) -> Result<()> {
    crate::fsio::write_atomic(path, text.as_bytes()).map_err(|e| io_error("write", path, e))
}
