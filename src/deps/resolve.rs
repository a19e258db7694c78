//! From what packages ask for to exactly what gets installed, as dbt's resolver does.
//!
//! Rounds: the root's packages are merged (hub ranges of one package collected, git
//! revisions of one repository collected), each is pinned (a hub version chosen, a repository
//! checked out, an archive downloaded, a local path read), and the packages *those* ask for
//! are the next round. A package asked for again with nothing new is not pinned again, so a
//! cycle of packages ends. The final pins are made with every range seen.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::fetch;
use super::hub::{display_url, Hub};
use super::spec::{self, Entry, Kind, Render, SpecFile};
use super::versions::{self, Requirement, Version};
use crate::diagnostics::{io_error, Code, Diagnostic, Location, Result};

/// Who asked for a package, for messages.
#[derive(Debug, Clone)]
pub(crate) struct Asked {
    by: String,
    at: Option<Location>,
}

impl Asked {
    fn note(&self) -> String {
        match &self.at {
            Some(at) => {
                let (line, col) = at.line_col();
                format!("{} ({}:{line}:{col})", self.by, at.path)
            }
            None => self.by.clone(),
        }
    }
}

/// A package with everything asked of it so far.
#[derive(Debug, Clone)]
enum Unpinned {
    Hub {
        package: String,
        reqs: Vec<(Requirement, Asked)>,
        prerelease: bool,
    },
    Git {
        url: String,
        url_unrendered: String,
        revisions: Vec<(String, Asked)>,
        warn_unpinned: bool,
        subdirectory: Option<String>,
    },
    Local {
        path: String,
        asked: Asked,
    },
    Tarball {
        url: String,
        url_unrendered: String,
        name: String,
    },
}

impl Unpinned {
    fn from_entry(e: &Entry, asked: Asked) -> (String, Unpinned) {
        match &e.kind {
            Kind::Hub {
                package,
                versions,
                install_prerelease,
            } => (
                package.clone(),
                Unpinned::Hub {
                    package: package.clone(),
                    reqs: versions
                        .iter()
                        .map(|r| (r.clone(), asked.clone()))
                        .collect(),
                    prerelease: *install_prerelease,
                },
            ),
            Kind::Git {
                url,
                url_unrendered,
                revision,
                warn_unpinned,
                subdirectory,
            } => {
                // dbt: `x.git` and `x` are one repository.
                let mut key = url.trim_end_matches(".git").to_string();
                if let Some(s) = subdirectory {
                    key = format!("{key}/{s}");
                }
                (
                    key,
                    Unpinned::Git {
                        url: url.clone(),
                        url_unrendered: url_unrendered.clone(),
                        revisions: revision
                            .iter()
                            .map(|r| (r.clone(), asked.clone()))
                            .collect(),
                        warn_unpinned: *warn_unpinned,
                        subdirectory: subdirectory.clone(),
                    },
                )
            }
            Kind::Local { path } => (
                path.clone(),
                Unpinned::Local {
                    path: path.clone(),
                    asked,
                },
            ),
            Kind::Tarball {
                url,
                url_unrendered,
                name,
            } => (
                url.clone(),
                Unpinned::Tarball {
                    url: url.clone(),
                    url_unrendered: url_unrendered.clone(),
                    name: name.clone(),
                },
            ),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Unpinned::Hub { .. } => "hub",
            Unpinned::Git { .. } => "git",
            Unpinned::Local { .. } => "local",
            Unpinned::Tarball { .. } => "tarball",
        }
    }

    /// Merge `other` (the same package) in; false when it adds nothing. As in dbt, the
    /// first entry's `install_prerelease` stays.
    fn incorporate(&mut self, other: Unpinned) -> bool {
        match (self, other) {
            (Unpinned::Hub { reqs, .. }, Unpinned::Hub { reqs: more, .. }) => {
                let mut changed = false;
                for (r, a) in more {
                    if !reqs.iter().any(|(x, _)| x.to_string() == r.to_string()) {
                        reqs.push((r, a));
                        changed = true;
                    }
                }
                changed
            }
            (
                Unpinned::Git {
                    revisions,
                    warn_unpinned,
                    ..
                },
                Unpinned::Git {
                    revisions: more,
                    warn_unpinned: w,
                    ..
                },
            ) => {
                *warn_unpinned &= w;
                let mut changed = false;
                for (r, a) in more {
                    if !revisions.iter().any(|(x, _)| *x == r) {
                        revisions.push((r, a));
                        changed = true;
                    }
                }
                changed
            }
            _ => false,
        }
    }
}

/// One package, pinned: what to install and under which name.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Hub {
        package: String,
        version: Version,
        /// The highest version that could be installed, for "Updated version available".
        latest: Option<Version>,
        tarball: String,
    },
    Git {
        url: String,
        url_unrendered: String,
        sha: String,
        subdirectory: Option<String>,
    },
    Local {
        path: String,
        abs: PathBuf,
    },
    Tarball {
        url: String,
        url_unrendered: String,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Pinned {
    pub(crate) source: Source,
    /// The project name: the installed directory's name.
    pub(crate) name: String,
    /// The fetched files (git and tarball packages), ready to be moved into place.
    pub(crate) dir: Option<PathBuf>,
    /// What this package asks for in turn.
    deps: Vec<Entry>,
    deps_shown: String,
}

impl Pinned {
    /// How dbt names the package in its output (`Installing ...`).
    pub(crate) fn shown(&self) -> String {
        match &self.source {
            Source::Hub { package, .. } => package.clone(),
            Source::Git {
                url, subdirectory, ..
            } => match subdirectory {
                Some(s) => format!("{}/{s}", display_url(url)),
                None => display_url(url),
            },
            Source::Local { path, .. } => path.clone(),
            Source::Tarball { .. } => self.name.clone(),
        }
    }
}

pub(crate) struct Resolver<'a> {
    root: &'a Path,
    work: &'a Path,
    hub: Option<Hub>,
    version_check: bool,
    /// The lock pins exact versions: no index check, no dbt-version filter.
    locked: bool,
    render: &'a Render,
    checkouts: HashMap<(String, String, Option<String>), (PathBuf, String)>,
    downloads: HashMap<String, PathBuf>,
    pins: HashMap<String, Pinned>,
    counter: usize,
    pub(crate) warnings: Vec<Diagnostic>,
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(
        root: &'a Path,
        work: &'a Path,
        version_check: bool,
        render: &'a Render,
    ) -> Self {
        Resolver {
            root,
            work,
            hub: None,
            version_check,
            locked: false,
            render,
            checkouts: HashMap::new(),
            downloads: HashMap::new(),
            pins: HashMap::new(),
            counter: 0,
            warnings: Vec::new(),
        }
    }

    pub(crate) fn hub(&mut self) -> Result<&mut Hub> {
        if self.hub.is_none() {
            self.hub = Some(Hub::new()?);
        }
        self.hub
            .as_mut()
            .ok_or_else(|| Diagnostic::internal("the HTTP client was not built").into())
    }

    fn scratch(&mut self, prefix: &str) -> PathBuf {
        self.counter += 1;
        self.work.join(format!("{prefix}{}", self.counter))
    }

    /// Everything `spec` needs, transitively.
    pub(crate) fn resolve(&mut self, spec: &SpecFile) -> Result<Vec<Pinned>> {
        let mut fin: IndexMap<String, Unpinned> = IndexMap::new();
        let mut pending: Vec<(String, Unpinned)> = spec
            .entries
            .iter()
            .map(|e| {
                Unpinned::from_entry(
                    e,
                    Asked {
                        by: spec.shown.clone(),
                        at: e.at.clone(),
                    },
                )
            })
            .collect();
        while !pending.is_empty() {
            let mut next = Vec::new();
            for (key, u) in pending {
                let changed = match fin.get_mut(&key) {
                    Some(existing) if existing.kind() != u.kind() => {
                        return Err(Diagnostic::error(
                            Code::E703,
                            format!(
                                "{key} is asked for both as a {} package and as a {} package",
                                existing.kind(),
                                u.kind()
                            ),
                        )
                        .help("ask for it one way everywhere")
                        .into())
                    }
                    Some(existing) => existing.incorporate(u),
                    None => {
                        fin.insert(key.clone(), u);
                        true
                    }
                };
                if !changed {
                    continue;
                }
                let Some(u) = fin.get(&key).cloned() else {
                    continue;
                };
                let pinned = match self.pin(&u) {
                    Ok(p) => p,
                    // A hub range nothing meets yet may only lack what later rounds bring;
                    // the final pin below reports it with every range and who asked for it.
                    Err(e)
                        if matches!(u, Unpinned::Hub { .. })
                            && e.diagnostic().code == Code::E703 =>
                    {
                        continue
                    }
                    Err(e) => return Err(e),
                };
                let by = format!("package {} ({})", pinned.name, pinned.deps_shown);
                for e in &pinned.deps {
                    let asked = Asked {
                        by: by.clone(),
                        at: e.at.clone(),
                    };
                    next.push(Unpinned::from_entry(e, asked));
                }
            }
            pending = next;
        }
        let mut out = Vec::new();
        for u in fin.values() {
            out.push(self.pin(u)?);
        }
        Ok(out)
    }

    /// Exactly what `lock` pins (no transitive resolution: the lock lists every package).
    pub(crate) fn locked(&mut self, lock: &SpecFile) -> Result<Vec<Pinned>> {
        self.locked = true;
        let mut out = Vec::new();
        for e in &lock.entries {
            let asked = Asked {
                by: lock.shown.clone(),
                at: e.at.clone(),
            };
            let (_, u) = Unpinned::from_entry(e, asked);
            out.push(self.pin(&u)?);
        }
        Ok(out)
    }

    fn pin(&mut self, u: &Unpinned) -> Result<Pinned> {
        match u {
            Unpinned::Hub {
                package,
                reqs,
                prerelease,
            } => self.pin_hub(package, reqs, *prerelease),
            Unpinned::Git {
                url,
                url_unrendered,
                revisions,
                warn_unpinned,
                subdirectory,
            } => {
                let revision = match revisions.as_slice() {
                    [] => "HEAD".to_string(),
                    [(r, _)] => r.clone(),
                    [(a, asked_a), (b, asked_b), ..] => {
                        return Err(Diagnostic::error(
                            Code::E703,
                            format!(
                                "git package {} is asked for at two revisions, '{a}' and '{b}'",
                                display_url(url)
                            ),
                        )
                        .note(format!("'{a}' by {}", asked_a.note()))
                        .note(format!("'{b}' by {}", asked_b.note()))
                        .help("git dependencies should contain exactly one version: ask for the same revision everywhere")
                        .into())
                    }
                };
                if *warn_unpinned && matches!(revision.as_str(), "HEAD" | "main" | "master") {
                    let what = if revision == "HEAD" {
                        "is not pinned, using HEAD (the default branch)".to_string()
                    } else {
                        format!("is pinned to the \"{revision}\" branch")
                    };
                    let w = Diagnostic::warning(
                        Code::W701,
                        format!("the git package {} {what}: this can bring breaking changes into your project without warning", display_url(url)),
                    )
                    .help("pin a tag or a commit with `revision:`, or set `warn-unpinned: false`");
                    if !self.warnings.iter().any(|x| x.message == w.message) {
                        self.warnings.push(w);
                    }
                }
                self.pin_git(url, url_unrendered, &revision, subdirectory.as_deref())
            }
            Unpinned::Local { path, asked } => self.pin_local(path, asked),
            Unpinned::Tarball {
                url,
                url_unrendered,
                name,
            } => self.pin_tarball(url, url_unrendered, name),
        }
    }

    fn pin_hub(
        &mut self,
        package: &str,
        reqs: &[(Requirement, Asked)],
        prerelease: bool,
    ) -> Result<Pinned> {
        let key = format!(
            "hub:{package}:{}",
            reqs.iter()
                .map(|(r, _)| r.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        if let Some(p) = self.pins.get(&key) {
            return Ok(p.clone());
        }
        for (i, (a, asked_a)) in reqs.iter().enumerate() {
            for (b, asked_b) in &reqs[i + 1..] {
                if !a.compatible(b) {
                    return Err(Diagnostic::error(
                        Code::E703,
                        format!("no version of {package} can meet both `{a}` and `{b}`"),
                    )
                    .note(format!("`{a}` asked by {}", asked_a.note()))
                    .note(format!("`{b}` asked by {}", asked_b.note()))
                    .help("widen one of the two ranges so that they overlap")
                    .into());
                }
            }
        }
        let locked = self.locked;
        let version_check = self.version_check;
        let hub = self.hub()?;
        if !locked {
            hub.check_listed(package)?;
        }
        let requirements: Vec<Requirement> = reqs.iter().map(|(r, _)| r.clone()).collect();
        // dbt: pre-releases only with `install_prerelease` or a range that names one.
        let pre = prerelease || requirements.iter().any(Requirement::names_prerelease);
        let installable: Vec<Version> = hub
            .installable(package, version_check)?
            .into_iter()
            .filter(|v| pre || !v.is_prerelease())
            .collect();
        // A lock pins an exact version: whatever the hub has under that number.
        let candidates = if locked {
            hub.installable(package, false)?
        } else {
            installable.clone()
        };
        let Some(version) = versions::pick(&candidates, &requirements, true).cloned() else {
            let listed: Vec<String> = installable.iter().map(ToString::to_string).collect();
            let mut d = Diagnostic::error(
                Code::E703,
                format!(
                    "no version of {package} matches {}",
                    requirements
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            for (r, asked) in reqs {
                d = d.note(format!("`{r}` asked by {}", asked.note()));
            }
            d = d.note(format!(
                "versions available{}: {}",
                if version_check {
                    format!(" for dbt {}", super::hub::DBT_VERSION)
                } else {
                    String::new()
                },
                if listed.is_empty() {
                    "none".into()
                } else {
                    listed.join(", ")
                }
            ));
            let help = if locked {
                "package-lock.yml pins a version the hub no longer has: run `weir deps --upgrade`"
            } else {
                "change the version range; `install_prerelease: true` lets pre-releases in, and `--no-version-check` lets in versions that ask for another dbt version"
            };
            return Err(d.help(help).into());
        };
        let latest = installable.last().cloned();
        let info = hub
            .package(package)?
            .versions
            .get(&version.to_string())
            .cloned()
            .ok_or_else(|| Diagnostic::internal("a chosen hub version has no entry"))?;
        let name = info
            .name
            .clone()
            .unwrap_or_else(|| package.rsplit('/').next().unwrap_or(package).to_string());
        let deps_shown = format!("{package} {version} on the package hub");
        let deps = spec::parse_items(&info.packages, &deps_shown, self.render)?;
        let pinned = Pinned {
            source: Source::Hub {
                package: package.to_string(),
                version,
                latest,
                tarball: info.downloads.tarball.clone(),
            },
            name,
            dir: None,
            deps,
            deps_shown,
        };
        self.pins.insert(key, pinned.clone());
        Ok(pinned)
    }

    fn pin_git(
        &mut self,
        url: &str,
        url_unrendered: &str,
        revision: &str,
        subdirectory: Option<&str>,
    ) -> Result<Pinned> {
        let key = (
            url.to_string(),
            revision.to_string(),
            subdirectory.map(str::to_string),
        );
        let (clone, sha) = match self.checkouts.get(&key) {
            Some(found) => found.clone(),
            None => {
                let dest = self.scratch("git");
                let sha = fetch::git_checkout(url, Some(revision), &dest)?;
                self.checkouts.insert(key, (dest.clone(), sha.clone()));
                (dest, sha)
            }
        };
        let shown = match subdirectory {
            Some(s) => format!("git package {} (subdirectory {s})", display_url(url)),
            None => format!("git package {}", display_url(url)),
        };
        let dir = match subdirectory {
            Some(s) => clone.join(s),
            None => clone,
        };
        let name = fetch::project_name(&dir, &shown)?;
        let prefix = format!("{}/", shown);
        let deps = spec::read_dir_spec(&dir, &prefix, self.render)?;
        Ok(Pinned {
            source: Source::Git {
                url: url.to_string(),
                url_unrendered: url_unrendered.to_string(),
                sha,
                subdirectory: subdirectory.map(str::to_string),
            },
            name,
            dir: Some(dir),
            deps_shown: deps.shown.clone(),
            deps: deps.entries,
        })
    }

    fn pin_local(&mut self, path: &str, asked: &Asked) -> Result<Pinned> {
        // dbt: relative to the root project, whoever asks.
        let abs = normalize(&self.root.join(path));
        if !abs.is_dir() {
            return Err(Diagnostic::error(
                Code::E704,
                format!("local package '{path}' is not a directory"),
            )
            .at_opt(asked.at.clone())
            .note(format!("looked for {}", abs.display()))
            .help("`local:` paths are relative to the project directory (the one with dbt_project.yml)")
            .into());
        }
        let shown = format!("local package '{path}'");
        let name = fetch::project_name(&abs, &shown).map_err(|e| {
            crate::diagnostics::Error::from(e.diagnostic().clone().at_opt(asked.at.clone()))
        })?;
        let deps = spec::read_dir_spec(&abs, &format!("{path}/"), self.render)?;
        Ok(Pinned {
            source: Source::Local {
                path: path.to_string(),
                abs,
            },
            name,
            dir: None,
            deps_shown: deps.shown.clone(),
            deps: deps.entries,
        })
    }

    fn pin_tarball(&mut self, url: &str, url_unrendered: &str, name: &str) -> Result<Pinned> {
        let dir = match self.downloads.get(url) {
            Some(d) => d.clone(),
            None => {
                let what = format!("tarball package {name} ({})", display_url(url));
                let bytes = self.hub()?.get(url).map_err(|f| f.diagnostic(&what, url))?;
                let dest = self.scratch("tarball");
                let dir = fetch::untar(&bytes, &dest, &what)?;
                self.downloads.insert(url.to_string(), dir.clone());
                dir
            }
        };
        let shown = format!("tarball package {name}");
        fetch::project_name(&dir, &shown)?;
        let deps = spec::read_dir_spec(&dir, &format!("{shown}/"), self.render)?;
        Ok(Pinned {
            source: Source::Tarball {
                url: url.to_string(),
                url_unrendered: url_unrendered.to_string(),
            },
            // dbt installs a tarball under the `name:` it was given.
            name: name.to_string(),
            dir: Some(dir),
            deps_shown: deps.shown.clone(),
            deps: deps.entries,
        })
    }

    /// Download and unpack a pinned hub package; returns its directory.
    pub(crate) fn download_hub(
        &mut self,
        package: &str,
        version: &Version,
        tarball: &str,
    ) -> Result<PathBuf> {
        let what = format!("{package} {version}");
        let bytes = self
            .hub()?
            .get(tarball)
            .map_err(|f| f.diagnostic(&what, tarball))?;
        let dest = self.scratch("hub");
        fetch::untar(&bytes, &dest, &what)
    }
}

/// `a/./b/../c` as `a/c`, without touching the file system (dbt's `abspath`).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Two packages that would be installed under one name, or one under the root project's.
pub(crate) fn check_names(pinned: &[Pinned], root_name: &str) -> Result<()> {
    let mut seen: HashMap<&str, &Pinned> = HashMap::new();
    for p in pinned {
        if p.name == root_name {
            return Err(Diagnostic::error(
                Code::E703,
                format!(
                    "package {} has the same name as the root project, '{root_name}'",
                    p.shown()
                ),
            )
            .help("package names must be unique in a project: rename one of them")
            .into());
        }
        if let Some(other) = seen.insert(&p.name, p) {
            return Err(Diagnostic::error(
                Code::E703,
                format!(
                    "two packages are both named '{}': {} and {}",
                    p.name,
                    other.shown(),
                    p.shown()
                ),
            )
            .help("a dependency has the same project name as another dependency: keep one of them")
            .into());
        }
    }
    Ok(())
}

/// Put a pinned package's files at `dest`.
pub(crate) fn place(from: &Path, dest: &Path) -> Result<()> {
    std::fs::rename(from, dest).map_err(|e| io_error("move", from, e))
}

/// A symlink to a local package (a copy where links cannot be made), as dbt installs one.
pub(crate) fn link(abs: &Path, dest: &Path) -> Result<()> {
    if std::os::unix::fs::symlink(abs, dest).is_ok() {
        return Ok(());
    }
    fetch::copy_tree(abs, dest)
}
