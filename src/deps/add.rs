//! `weir deps --add-package name@version`: one entry added to `packages.yml` (or to the
//! `dependencies.yml` that holds the packages), as dbt adds it: entries that already name the
//! package are removed first, matched as dbt matches them (`dbt_utils`, `dbt-utils`,
//! `dbt-labs/dbt_utils` and a git URL ending in `/dbt-utils.git` are one package). The file is
//! edited in place, so its comments and the other entries stay as written.

use std::path::{Path, PathBuf};

use serde_yaml::Value as Yaml;

use super::spec::item_spans;
use crate::diagnostics::{io_error, Code, Diagnostic, Result};

/// Where a package added with `--add-package` comes from (`--source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddSource {
    Hub,
    Git,
    Local,
}

/// The package to add: `dbt-labs/dbt_utils@1.1.1`, `https://host/repo.git@v1.0`, `../path`.
#[derive(Debug, Clone)]
pub struct AddPackage {
    pub name: String,
    pub version: Option<String>,
    pub source: AddSource,
}

impl AddPackage {
    /// Split `name@version` at its last `@` (so `git@host:org/repo.git@v1` keeps its user).
    pub fn parse(text: &str, source: AddSource) -> AddPackage {
        let (name, version) = match text.rsplit_once('@') {
            Some((n, v)) if !n.is_empty() && !v.is_empty() && !v.contains(':') => {
                (n.to_string(), Some(v.to_string()))
            }
            _ => (text.to_string(), None),
        };
        AddPackage {
            name,
            version,
            source,
        }
    }
}

/// What the edit did, for the output.
pub(crate) struct Added {
    pub(crate) file: PathBuf,
    pub(crate) removed: Vec<String>,
    /// The file as it was (`None`: it did not exist), to put back if the install fails.
    pub(crate) before: Option<String>,
}

fn scalar(s: &str) -> String {
    serde_yaml::to_string(s)
        .map(|y| y.trim_end().to_string())
        .unwrap_or_else(|_| format!("{s:?}"))
}

/// The new entry's lines, each after `indent`.
fn entry_lines(add: &AddPackage) -> Vec<String> {
    let key = match add.source {
        AddSource::Hub => "package",
        AddSource::Git => "git",
        AddSource::Local => "local",
    };
    let mut lines = vec![format!("- {key}: {}", scalar(&add.name))];
    if let Some(v) = &add.version {
        let vkey = if add.source == AddSource::Git {
            "revision"
        } else {
            "version"
        };
        // Bounds double-quoted, as dbt's documentation writes them: `[">=1.0.0", "<2.0.0"]`.
        let bound = |p: &str| {
            if p.starts_with(['<', '>', '=']) {
                serde_json::Value::from(p).to_string()
            } else {
                scalar(p)
            }
        };
        let value = if v.contains(',') {
            let parts: Vec<String> = v.split(',').map(|p| bound(p.trim())).collect();
            format!("[{}]", parts.join(", "))
        } else {
            bound(v)
        };
        lines.push(format!("  {vkey}: {value}"));
    }
    lines
}

/// dbt's duplicate test: a spelling of the package's name (or its last part), `-` and `_`
/// alike, found in the entry's source between boundaries (`/`, `.`, or an end).
fn names_package(identifier: &str, name: &str) -> bool {
    let mut variants = vec![
        name.to_string(),
        name.replace('_', "-"),
        name.replace('-', "_"),
    ];
    if let Some((_, short)) = name.rsplit_once('/') {
        variants.extend([
            short.to_string(),
            short.replace('_', "-"),
            short.replace('-', "_"),
        ]);
    }
    variants.iter().any(|v| {
        identifier.find(v.as_str()).is_some_and(|i| {
            let end = i + v.len();
            (i == 0 || identifier[..i].ends_with(['/', '.']))
                && (end == identifier.len() || identifier[end..].starts_with(['/', '.']))
        })
    })
}

/// Add `add` to the project's package file in `root`.
pub(crate) fn add(root: &Path, add: &AddPackage) -> Result<Added> {
    if add.version.is_none() && add.source != AddSource::Local {
        return Err(Diagnostic::error(
            Code::E701,
            format!(
                "--add-package {}: a version is required for a {} package",
                add.name,
                if add.source == AddSource::Git {
                    "git"
                } else {
                    "hub"
                }
            ),
        )
        .help(format!("--add-package {}@<version>", add.name))
        .into());
    }
    let deps_file = root.join("dependencies.yml");
    let deps_has_packages = std::fs::read_to_string(&deps_file)
        .ok()
        .and_then(|t| serde_yaml::from_str::<Yaml>(&t).ok())
        .is_some_and(|v| v.get("packages").is_some());
    let file = if deps_has_packages {
        deps_file
    } else {
        root.join("packages.yml")
    };
    let before = match std::fs::read_to_string(&file) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_error("read", &file, e)),
    };
    let mut text = before.clone().unwrap_or_default();
    let shown = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let doc: Yaml = serde_yaml::from_str(&text).map_err(|e| {
        crate::project::profiles::yaml_error(&shown, &std::sync::Arc::from(text.as_str()), &e)
    })?;
    let items: Vec<Yaml> = match doc.get("packages") {
        Some(Yaml::Sequence(s)) => s.clone(),
        _ => Vec::new(),
    };
    let spans = item_spans(&text);
    let mut removed = Vec::new();
    let mut remove_spans = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let identifier = ["package", "git", "local", "tarball", "private"]
            .iter()
            .find_map(|k| item.get(*k).and_then(Yaml::as_str));
        if identifier.is_some_and(|id| names_package(id, &add.name)) {
            let Some(span) = spans.get(i).copied().filter(|_| spans.len() == items.len()) else {
                return Err(Diagnostic::error(
                    Code::E701,
                    format!("{shown} lists its packages in a form weir cannot edit in place"),
                )
                .help("write `packages:` as a block list (one `- ` item per package), or edit the file by hand")
                .into());
            };
            removed.push(identifier.unwrap_or_default().to_string());
            remove_spans.push(span);
        }
    }
    // Each item from the start of its line; later ones first, so offsets stay true.
    for (start, end) in remove_spans.into_iter().rev() {
        let line_start = text[..start].rfind('\n').map_or(0, |p| p + 1);
        text.replace_range(line_start..end, "");
    }
    let spans = item_spans(&text);
    let indent = spans
        .first()
        .map(|(s, _)| s - text[..*s].rfind('\n').map_or(0, |p| p + 1))
        .unwrap_or(2);
    let mut block = String::new();
    for line in entry_lines(add) {
        block.push_str(&" ".repeat(indent));
        block.push_str(&line);
        block.push('\n');
    }
    if let Some((_, end)) = spans.last() {
        // Right after the last item's last line.
        let mut at = *end;
        if !text[..at].ends_with('\n') {
            text.insert(at, '\n');
            at += 1;
        }
        text.insert_str(at, &block);
    } else if let Some(line_start) = packages_line(&text) {
        // `packages:` with no block items (`packages:`, `packages: []`): the new list.
        let line_end = text[line_start..]
            .find('\n')
            .map_or(text.len(), |p| line_start + p + 1);
        text.replace_range(line_start..line_end, &format!("packages:\n{block}"));
    } else {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("packages:\n");
        text.push_str(&block);
    }
    std::fs::write(&file, &text).map_err(|e| io_error("write", &file, e))?;
    Ok(Added {
        file,
        removed,
        before,
    })
}

fn packages_line(text: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with("packages") && line["packages".len()..].trim_start().starts_with(':') {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

/// Put the package file back as it was before [`add`].
pub(crate) fn undo(added: &Added) {
    let _ = match &added.before {
        Some(text) => std::fs::write(&added.file, text),
        None => std::fs::remove_file(&added.file),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_matched_as_dbt_matches_them() {
        assert!(names_package("dbt-labs/dbt_utils", "dbt-labs/dbt_utils"));
        assert!(names_package(
            "https://github.com/dbt-labs/dbt-utils.git",
            "dbt-labs/dbt_utils"
        ));
        assert!(!names_package(
            "dbt-labs/dbt_utils_extra",
            "dbt-labs/dbt_utils"
        ));
        assert!(!names_package("dbt-labs/dbt-core-utils", "dbt-core"));
    }

    #[test]
    fn adds_in_place_and_replaces_the_old_entry() {
        let dir = tempfile::tempdir().unwrap();
        let text = "# mine\npackages:\n  - package: dbt-labs/dbt_utils\n    version: 1.0.0\n  - local: ../x # keep\n\n# end\n";
        std::fs::write(dir.path().join("packages.yml"), text).unwrap();
        let add_pkg = AddPackage::parse("dbt-labs/dbt_utils@>=1.1.0,<2.0.0", AddSource::Hub);
        let added = add(dir.path(), &add_pkg).unwrap();
        assert_eq!(added.removed, ["dbt-labs/dbt_utils"]);
        let now = std::fs::read_to_string(dir.path().join("packages.yml")).unwrap();
        assert_eq!(
            now,
            "# mine\npackages:\n  - local: ../x # keep\n  - package: dbt-labs/dbt_utils\n    version: [\">=1.1.0\", \"<2.0.0\"]\n\n# end\n"
        );
        undo(&added);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("packages.yml")).unwrap(),
            text
        );
    }

    #[test]
    fn creates_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let add_pkg = AddPackage::parse("../shared", AddSource::Local);
        add(dir.path(), &add_pkg).unwrap();
        let now = std::fs::read_to_string(dir.path().join("packages.yml")).unwrap();
        assert_eq!(now, "packages:\n  - local: ../shared\n");
        std::fs::write(dir.path().join("packages.yml"), "packages: []\n").unwrap();
        add(
            dir.path(),
            &AddPackage::parse("org/p@1.0.0", AddSource::Hub),
        )
        .unwrap();
        let now = std::fs::read_to_string(dir.path().join("packages.yml")).unwrap();
        assert_eq!(now, "packages:\n  - package: org/p\n    version: 1.0.0\n");
    }
}
