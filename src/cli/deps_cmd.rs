//! `weir deps`: prints the installer's progress as dbt words it.

use std::process::ExitCode;

use super::DepsArgs;
use crate::deps::{self, Event};
use crate::diagnostics::{scrub, Result};

pub(super) fn cmd_deps(args: &DepsArgs) -> Result<ExitCode> {
    let quiet = args.project.quiet;
    let mut print = |e: Event| {
        let line = match e {
            Event::Warning(w) => {
                if !quiet {
                    eprint!("{}", w.render());
                }
                return;
            }
            _ if quiet => return,
            Event::Installing(name) => format!("Installing {name}"),
            Event::Installed(from) => format!("Installed from {from}"),
            Event::Subdirectory(s) => format!("and subdirectory {s}"),
            Event::UpToDate => "Up to date!".into(),
            Event::UpdateAvailable(v) => format!("Updated version available: {v}"),
            Event::UpdatesAvailable(names) => format!(
                "\nUpdates available for packages: {}\nUpdate your versions in packages.yml, then run weir deps",
                names.join(", ")
            ),
            Event::LockUpdated(path) => {
                format!("Updating lock file in file path: {}", path.display())
            }
            Event::NoPackages(file) => format!("No packages were found in {file}"),
            Event::RemovedDuplicate(p) => {
                format!("Found duplicate package in the package file, removing: {p}")
            }
            Event::Added(p, file) => {
                format!("Added new package {p} to {}", file.display())
            }
        };
        println!("{}", scrub(&line));
    };
    deps::run(
        &deps::Options {
            project_dir: args.project.project_dir.clone(),
            upgrade: args.upgrade,
            lock_only: args.lock,
            version_check: !args.no_version_check,
            vars: args.project.vars.clone(),
            add_package: args.add_package.as_deref().map(|p| {
                let source = match args.source {
                    super::PackageSource::Hub => deps::AddSource::Hub,
                    super::PackageSource::Git => deps::AddSource::Git,
                    super::PackageSource::Local => deps::AddSource::Local,
                };
                deps::AddPackage::parse(p, source)
            }),
        },
        &mut print,
    )?;
    Ok(ExitCode::SUCCESS)
}
