//! Project loading: `dbt_project.yml`, `profiles.yml`, packages in `dbt_packages/`, and every
//! file weir reads (models, seeds, snapshots, tests, analyses, macros, schema YAML, docs).
//!
//! This stage only finds and reads files and typed YAML; it renders no model Jinja and touches
//! no data. Its output is a [`Project`].

pub mod config;
pub mod dbt_project;
pub mod memory;
pub mod profiles;
pub mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde_json::{Map, Value as Json};
use walkdir::WalkDir;

use crate::diagnostics::{io_error, Code, Diagnostic, Location, Result};
pub use dbt_project::ProjectFile;
pub use profiles::Target;

/// What a command passes in from the CLI.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub project_dir: PathBuf,
    pub profiles_dir: Option<PathBuf>,
    pub target: Option<String>,
    /// `--vars` as YAML or JSON text.
    pub vars: Option<String>,
    pub threads: Option<usize>,
    /// `--memory-limit`, over the profile's `memory_limit`.
    pub memory_limit: Option<memory::MemoryLimit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    Model,
    Seed,
    Snapshot,
    SingularTest,
    Analysis,
    Macro,
    Schema,
    Docs,
}

/// One file of a package, read once.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub kind: FileKind,
    /// Path shown to users and stored as `original_file_path` (relative to the package root,
    /// prefixed with `dbt_packages/<pkg>/` in `display` for package files).
    pub original_file_path: String,
    /// Relative to the project root, for messages.
    pub display: String,
    /// Relative to the resource folder (`staging/stg_orders.sql` under `models/`): dbt's `path`.
    pub resource_path: String,
    pub text: Arc<str>,
}

#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub root: PathBuf,
    /// Prefix of this package's files relative to the project root (`""` for the root project).
    pub prefix: String,
    pub is_root: bool,
    pub file: ProjectFile,
    pub files: Vec<SourceFile>,
}

#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub name: String,
    pub file: ProjectFile,
    pub file_text: Arc<str>,
    pub target: Target,
    pub cli_vars: Map<String, Json>,
    /// Root package first, then installed packages by name.
    pub packages: Vec<Package>,
    pub warnings: Vec<Diagnostic>,
    /// Content hash of everything read, for the compile cache.
    pub fingerprint: u64,
}

impl Project {
    pub fn root_package(&self) -> &Package {
        &self.packages[0]
    }
    pub fn target_dir(&self) -> PathBuf {
        self.root.join(self.file.target_path())
    }

    /// Where queries spill: the output's `temp_directory`, else `<target-path>/tmp`.
    pub fn temp_dir(&self) -> PathBuf {
        match &self.target.temp_directory {
            Some(dir) => dir.clone(),
            None => self.target_dir().join("tmp"),
        }
    }
}

/// `env_var()` as dbt has it: the value, the default, or an error naming the variable.
/// Secret variables (`DBT_ENV_SECRET...`) are refused: only profiles.yml may read them
/// ([`secret_env_var`]), as in dbt, so a secret cannot reach compiled SQL or the warehouse.
pub fn env_var(name: &str, default: Option<&str>) -> Result<String> {
    if name.starts_with(crate::diagnostics::SECRET_ENV_PREFIX) {
        return Err(Diagnostic::error(
            Code::E212,
            format!(
                "secret environment variable '{name}' used outside profiles.yml: variables named {}* may only be used in profiles.yml (and packages.yml)",
                crate::diagnostics::SECRET_ENV_PREFIX
            ),
        )
        .help("read the secret in profiles.yml (for example as a field of the output); models, macros, hooks and dbt_project.yml cannot read it")
        .into());
    }
    secret_env_var(name, default)
}

/// `env_var()` in profiles.yml, where secrets may be read. Their values are scrubbed from
/// every message and file weir writes ([`crate::diagnostics::scrub`]).
pub fn secret_env_var(name: &str, default: Option<&str>) -> Result<String> {
    match std::env::var(name) {
        Ok(v) => Ok(v),
        Err(_) => match default {
            Some(d) => Ok(d.to_string()),
            None => Err(Diagnostic::error(
                Code::E204,
                format!("environment variable '{name}' is not set and has no default"),
            )
            .help(format!(
                "set it (`export {name}=...`) or give a default: env_var('{name}', 'value')"
            ))
            .into()),
        },
    }
}

fn read(path: &Path) -> Result<Arc<str>> {
    std::fs::read_to_string(path)
        .map(Arc::from)
        .map_err(|e| io_error("read", path, e))
}

/// `dir/dbt_project.yml`, typed; `display_prefix` is how messages name `dir`
/// (`dbt_packages/utils/`, `""` for the root project).
pub fn read_project_file(dir: &Path, display_prefix: &str) -> Result<(ProjectFile, Arc<str>)> {
    let path = dir.join("dbt_project.yml");
    if !path.is_file() {
        return Err(Diagnostic::error(
            Code::E101,
            format!("no dbt_project.yml in {}", dir.display()),
        )
        .help("run weir from a dbt project directory, or pass --project-dir")
        .into());
    }
    let text = read(&path)?;
    let shown = format!("{display_prefix}dbt_project.yml");
    let parsed: ProjectFile =
        serde_yaml::from_str(&text).map_err(|e| profiles::yaml_error(&shown, &text, &e))?;
    if parsed.name.is_empty() {
        return Err(
            Diagnostic::error(Code::E103, "dbt_project.yml has no `name`")
                .at(Location::new(shown, text.clone(), 0, 0))
                .help("add `name: my_project` at the top")
                .into(),
        );
    }
    Ok((parsed, text))
}

pub fn parse_vars(text: &str) -> Result<Map<String, Json>> {
    let v: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| {
        Diagnostic::error(Code::E104, format!("--vars is not valid YAML or JSON: {e}"))
            .help("example: --vars '{\"start_date\": \"2024-01-01\"}'")
    })?;
    match serde_json::to_value(v) {
        Ok(Json::Object(m)) => Ok(m),
        // As dbt: `--vars ''` is not a mapping either.
        _ => Err(
            Diagnostic::error(Code::E104, "--vars must be a mapping of names to values")
                .help("example: --vars '{start_date: 2024-01-01}'")
                .into(),
        ),
    }
}

/// Load the project at `opts.project_dir`: the root project, its target, and every package.
pub fn load(opts: &LoadOptions) -> Result<Project> {
    let root = opts
        .project_dir
        .canonicalize()
        .map_err(|e| io_error("open project directory", &opts.project_dir, e))?;
    let (file, file_text) = read_project_file(&root, "")?;
    let mut warnings = Vec::new();
    let profile_name = file.profile.clone().unwrap_or_else(|| file.name.clone());
    let target = profiles::resolve(
        &profiles::ProfileRequest {
            project_dir: &root,
            profile_name: &profile_name,
            profiles_dir: opts.profiles_dir.as_deref(),
            target: opts.target.as_deref(),
            threads: opts.threads,
            memory_limit: opts.memory_limit,
        },
        secret_env_var,
    )?;
    // Files are read in parallel below: size the thread pool for the target first (a pool
    // that already exists keeps its size).
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(target.threads.max(1))
        .build_global();
    let cli_vars = match &opts.vars {
        Some(v) => parse_vars(v)?,
        None => Map::new(),
    };

    let mut packages = vec![load_package(&root, "", file.clone(), true)?];
    // Installed packages: directories, or symlinks to them (`deps` links `local:` packages).
    let install_path = file.packages_install_path();
    let pkg_dir = root.join(&install_path);
    let mut dirs: Vec<PathBuf> = Vec::new();
    if pkg_dir.is_dir() {
        dirs = std::fs::read_dir(&pkg_dir)
            .map_err(|e| io_error("list", &pkg_dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("dbt_project.yml").is_file())
            .collect();
        dirs.sort();
    }
    check_installed(&root, dirs.len(), &install_path)?;
    for dir in dirs {
        let dir_name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let prefix = format!("{}/{dir_name}/", install_path.trim_end_matches('/'));
        let (pfile, _) = read_project_file(&dir, &prefix)?;
        if packages.iter().any(|p: &Package| p.name == pfile.name) {
            warnings.push(Diagnostic::warning(
                Code::W105,
                format!(
                    "package '{}' is installed twice; using the first",
                    pfile.name
                ),
            ));
            continue;
        }
        packages.push(load_package(&dir, &prefix, pfile, false)?);
    }

    let mut hasher = Fingerprint::default();
    hasher.add(&file_text);
    hasher.add(&format!("{:?}{:?}", target.fields, cli_vars));
    for p in &packages {
        // Each file hashed on its own, on every core; then the hashes in file order.
        let hashes: Vec<u64> = p
            .files
            .par_iter()
            .map(|f| {
                let mut h = Fingerprint::default();
                h.add(&f.display);
                h.add(&f.text);
                h.finish()
            })
            .collect();
        for h in hashes {
            hasher.add(&format!("{h:016x}"));
        }
    }

    Ok(Project {
        name: file.name.clone(),
        root,
        file,
        file_text,
        target,
        cli_vars,
        packages,
        warnings,
        fingerprint: hasher.finish(),
    })
}

/// dbt's check before it reads the packages: `packages.yml` (or the `dependencies.yml` that
/// lists the packages) asks for more packages than are installed, so `weir deps` has not run
/// since it changed. Like dbt, it counts the project's own entries against every installed
/// package, so a package missing beside its installed dependencies can go unnoticed.
fn check_installed(root: &Path, installed: usize, install_path: &str) -> Result<()> {
    for name in ["dependencies.yml", "packages.yml"] {
        let path = root.join(name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let text: Arc<str> = Arc::from(text);
        let doc: serde_yaml::Value =
            serde_yaml::from_str(&text).map_err(|e| profiles::yaml_error(name, &text, &e))?;
        let specified = match doc.get("packages") {
            None | Some(serde_yaml::Value::Null) => continue,
            Some(serde_yaml::Value::Sequence(s)) => s.len(),
            Some(_) => {
                return Err(Diagnostic::error(
                    Code::E103,
                    format!("`packages:` in {name} must be a list"),
                )
                .at_opt(profiles::key_location(name, &text, "packages"))
                .help("write each package as a list item: `- package: dbt-labs/dbt_utils`")
                .into())
            }
        };
        if specified > installed {
            return Err(Diagnostic::error(
                Code::E108,
                format!(
                    "{name} lists {specified} package(s), but only {installed} package(s) are installed in {install_path}/"
                ),
            )
            .at_opt(profiles::key_location(name, &text, "packages"))
            .help("run `weir deps` to install them")
            .into());
        }
        return Ok(());
    }
    Ok(())
}

/// FNV-1a over everything read: cheap, deterministic across runs and machines (unlike
/// `DefaultHasher`). Also the hash behind SQL's `hash(...)`.
pub struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint(0xcbf2_9ce4_8422_2325)
    }
}

impl Fingerprint {
    /// Feed raw bytes.
    pub fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    /// Feed a string, ended by a byte no UTF-8 text holds.
    pub fn add(&mut self, s: &str) {
        self.bytes(s.as_bytes());
        self.bytes(&[0xff]);
    }
    pub fn finish(&self) -> u64 {
        self.0
    }
}

fn load_package(root: &Path, prefix: &str, file: ProjectFile, is_root: bool) -> Result<Package> {
    // (folder list, kind for .sql, whether .yml here are schema files)
    let mut wanted: BTreeMap<(String, FileKind), ()> = BTreeMap::new();
    for p in file.model_paths() {
        wanted.insert((p, FileKind::Model), ());
    }
    for p in file.seed_paths() {
        wanted.insert((p, FileKind::Seed), ());
    }
    for p in file.snapshot_paths() {
        wanted.insert((p, FileKind::Snapshot), ());
    }
    for p in file.test_paths() {
        wanted.insert((p, FileKind::SingularTest), ());
    }
    for p in file.analysis_paths() {
        wanted.insert((p, FileKind::Analysis), ());
    }
    for p in file.macro_paths() {
        wanted.insert((p, FileKind::Macro), ());
    }
    let docs_paths = file.docs_paths();
    let mut found: Vec<(PathBuf, String, String, FileKind)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (dir_name, kind) in wanted.keys() {
        let dir = root.join(dir_name);
        if !dir.is_dir() {
            continue;
        }
        // Each folder's entries sorted by name, depth first: paths come out in `Path` order.
        let entries: Vec<PathBuf> = WalkDir::new(&dir)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_file())
            .map(|e| e.into_path())
            .collect();
        for path in entries {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let resource_path = path
                .strip_prefix(&dir)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            let file_kind = match (ext, kind) {
                ("yml" | "yaml", _) => FileKind::Schema,
                ("md", _) if docs_paths.iter().any(|d| rel.starts_with(&format!("{d}/"))) => {
                    FileKind::Docs
                }
                ("sql", FileKind::SingularTest) if resource_path.starts_with("generic/") => {
                    FileKind::Macro
                }
                ("sql", k) if *k != FileKind::Seed => *k,
                ("csv", FileKind::Seed) => FileKind::Seed,
                _ => continue,
            };
            if !seen.insert((rel.clone(), file_kind)) {
                continue;
            }
            found.push((path, rel, resource_path, file_kind));
        }
    }
    // Read on every core: a large project is thousands of small files.
    let mut files: Vec<SourceFile> = found
        .into_par_iter()
        .map(|(path, rel, resource_path, kind)| {
            Ok(SourceFile {
                kind,
                display: format!("{prefix}{rel}"),
                original_file_path: rel,
                resource_path,
                text: if kind == FileKind::Seed {
                    Arc::from("")
                } else {
                    read(&path)?
                },
            })
        })
        .collect::<Result<_>>()?;
    // Docs blocks can also live in .md files outside resource paths when docs-paths is set.
    if file.docs_paths.is_some() {
        for d in &docs_paths {
            let dir = root.join(d);
            if !dir.is_dir() {
                continue;
            }
            for entry in WalkDir::new(&dir)
                .sort_by_file_name()
                .into_iter()
                .filter_map(|e| e.ok())
            {
                let path = entry.path();
                if entry.file_type().is_file() && path.extension().is_some_and(|e| e == "md") {
                    let rel = path
                        .strip_prefix(root)
                        .unwrap_or(path)
                        .to_string_lossy()
                        .replace('\\', "/");
                    if seen.insert((rel.clone(), FileKind::Docs)) {
                        files.push(SourceFile {
                            kind: FileKind::Docs,
                            display: format!("{prefix}{rel}"),
                            resource_path: rel.clone(),
                            original_file_path: rel,
                            text: read(path)?,
                        });
                    }
                }
            }
        }
    }
    Ok(Package {
        name: file.name.clone(),
        root: root.to_path_buf(),
        prefix: prefix.to_string(),
        is_root,
        file,
        files,
    })
}
