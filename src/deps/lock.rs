//! `package-lock.yml` as dbt 1.7+ writes it: every installed package pinned (hub version,
//! git commit sha), each with its `name:`, keys sorted, and the `sha1_hash` of the
//! specification it was resolved from. Git and tarball URLs are written as they are in
//! `packages.yml`, before `env_var()`, so a token read from the environment stays out of it.

use std::fmt::Write as _;

use super::resolve::{Pinned, Source};

/// A YAML scalar for `s`, quoted where YAML would read something else (`'1.0'`, `'0123'`).
fn scalar(s: &str) -> String {
    serde_yaml::to_string(s)
        .map(|y| y.trim_end().to_string())
        .unwrap_or_else(|_| format!("{s:?}"))
}

/// The lock file's text.
pub(crate) fn render(pinned: &[Pinned], sha1_hash: &str) -> String {
    let mut out = String::from("packages:\n");
    for p in pinned {
        let mut fields: Vec<(&str, String)> = vec![("name", p.name.clone())];
        match &p.source {
            Source::Hub {
                package, version, ..
            } => {
                fields.push(("package", package.clone()));
                fields.push(("version", version.to_string()));
            }
            Source::Git {
                url_unrendered,
                sha,
                subdirectory,
                ..
            } => {
                fields.push((
                    "git",
                    crate::diagnostics::scrub(url_unrendered).into_owned(),
                ));
                fields.push(("revision", sha.clone()));
                if let Some(s) = subdirectory {
                    fields.push(("subdirectory", s.clone()));
                }
            }
            Source::Local { path, .. } => fields.push(("local", path.clone())),
            Source::Tarball { url_unrendered, .. } => fields.push((
                "tarball",
                crate::diagnostics::scrub(url_unrendered).into_owned(),
            )),
        }
        fields.sort_by(|a, b| a.0.cmp(b.0));
        for (i, (k, v)) in fields.iter().enumerate() {
            let lead = if i == 0 { "  - " } else { "    " };
            let _ = writeln!(out, "{lead}{k}: {}", scalar(v));
        }
    }
    let _ = writeln!(out, "sha1_hash: {sha1_hash}");
    out
}
