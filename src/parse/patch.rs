//! Schema YAML patches and the helpers that make nodes from files: columns, config trees,
//! `{% snapshot %}` blocks, and the note that names the node being parsed.

#[allow(unused_imports)]
use super::*;
use crate::diagnostics::Code;
pub(super) fn with_node(d: Diagnostic, n: &Node) -> Diagnostic {
    let label = format!(
        "while parsing {} '{}' ({})",
        n.resource_type.as_str(),
        n.name,
        n.display_path
    );
    if d.location
        .as_ref()
        .is_some_and(|l| l.path == n.display_path)
    {
        d
    } else {
        d.note(label)
    }
}

/// A location for a name inside a text, for errors whose position minijinja cannot know.
pub fn find_in(display: &str, text: &Arc<str>, needle: &str) -> Location {
    let start = text.find(needle).unwrap_or(0);
    let end = if text.find(needle).is_some() {
        start + needle.len()
    } else {
        0
    };
    Location::new(display, text.clone(), start, end)
}

pub(super) fn yml_dirs(resource_path: &str) -> Vec<String> {
    let mut parts: Vec<String> = resource_path.split('/').map(str::to_string).collect();
    parts.pop();
    parts
}

pub(super) fn columns(defs: &[ColumnDef]) -> IndexMap<String, ColumnInfo> {
    defs.iter()
        .map(|c| {
            (
                c.name.clone(),
                ColumnInfo {
                    name: c.name.clone(),
                    description: c.description.clone().unwrap_or_default(),
                    meta: c.meta.clone(),
                    data_type: c.data_type.clone(),
                    constraints: c.constraints.clone(),
                    quote: c.quote,
                    tags: c.tags.clone(),
                    granularity: c.granularity.clone(),
                },
            )
        })
        .collect()
}

pub(super) fn tree_for(file: &crate::project::ProjectFile, rt: ResourceType) -> &Json {
    match rt {
        ResourceType::Seed => &file.seeds,
        ResourceType::Snapshot => &file.snapshots,
        ResourceType::Test => &file.tests,
        ResourceType::Analysis => &file.analyses,
        _ => &file.models,
    }
}

pub(super) fn new_node(
    project: &Project,
    p: &Package,
    root: &Package,
    f: &SourceFile,
    rt: ResourceType,
    name: &str,
    raw: Arc<str>,
) -> Node {
    let mut fqn = vec![p.name.clone()];
    fqn.extend(yml_dirs(&f.resource_path));
    fqn.push(name.to_string());
    let mut config = Config::new();
    cfg::from_tree(tree_for(&p.file, rt), &fqn, &mut config);
    if !p.is_root {
        cfg::from_tree(tree_for(&root.file, rt), &fqn, &mut config);
    }
    let checksum = {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(f.text.as_bytes()))
    };
    let _ = project;
    Node {
        unique_id: format!("{}.{}.{}", rt.as_str(), p.name, name),
        resource_type: rt,
        package_name: p.name.clone(),
        name: name.to_string(),
        path: f.resource_path.clone(),
        original_file_path: f.original_file_path.clone(),
        display_path: f.display.clone(),
        fqn,
        raw_code: raw,
        config,
        database: String::new(),
        schema: String::new(),
        alias: String::new(),
        description: String::new(),
        columns: IndexMap::new(),
        patch_path: None,
        refs: Vec::new(),
        sources: Vec::new(),
        depends_on_nodes: Vec::new(),
        depends_on_macros: Vec::new(),
        test_metadata: None,
        column_name: None,
        attached_node: None,
        file_key_name: None,
        checksum,
        version: None,
        contract_enforced: false,
        constraints: Vec::new(),
        compiled_code: None,
        pre_hooks: Vec::new(),
        post_hooks: Vec::new(),
    }
}

pub(super) fn probe_node(package: &str, name: &str, f: &SourceFile) -> Node {
    let p = Package {
        name: package.to_string(),
        root: Default::default(),
        prefix: String::new(),
        is_root: true,
        file: Default::default(),
        files: Vec::new(),
    };
    let mut n = new_node(
        &dummy_project(),
        &p,
        &p,
        f,
        ResourceType::Exposure,
        name,
        Arc::from(""),
    );
    n.config.clear();
    n
}

pub(super) fn dummy_project() -> Project {
    Project {
        root: Default::default(),
        name: String::new(),
        file: Default::default(),
        file_text: Arc::from(""),
        target: crate::project::profiles::default_target(
            &crate::project::profiles::ProfileRequest {
                project_dir: std::path::Path::new("."),
                profile_name: "",
                profiles_dir: None,
                target: None,
                threads: Some(1),
                memory_limit: None,
            },
        ),
        cli_vars: Map::new(),
        packages: Vec::new(),
        warnings: Vec::new(),
        fingerprint: 0,
    }
}

/// YAML properties: description, columns, docs, meta, tags, and `config:` (which sits between
/// the project tree and the file's own `config()`).
pub(super) fn apply_patch(
    n: &mut Node,
    p: &Patched,
    jinja: &Jinja,
    warnings: &mut Vec<Diagnostic>,
) {
    let patch = p.patch;
    n.description = patch.description.clone().unwrap_or_default();
    n.columns = columns(&patch.columns);
    n.constraints = patch.constraints.clone();
    n.patch_path = Some(format!("{}://{}", n.package_name, p.file));
    let mut yaml_config = patch.config.clone();
    if !patch.meta.is_empty() {
        let mut meta = Config::new();
        meta.insert("meta".into(), Json::Object(patch.meta.clone()));
        cfg::merge(&mut yaml_config, &meta);
    }
    if let Some(tags) = &patch.tags {
        let mut t = Config::new();
        t.insert("tags".into(), tags.clone());
        cfg::merge(&mut yaml_config, &t);
    }
    if let Some(docs) = &patch.docs {
        yaml_config.insert("docs".into(), docs.clone());
    }
    for key in yaml_config.keys() {
        if !cfg::KNOWN_KEYS.contains(&key.as_str()) {
            warnings.push(
                Diagnostic::warning(
                    Code::W101,
                    format!(
                        "unknown config key '{key}' for {} '{}'",
                        n.resource_type.as_str(),
                        n.name
                    ),
                )
                .at(find_in(p.display, p.text, &format!("{key}:")))
                .help("check the spelling; custom keys belong under `meta:`"),
            );
        }
    }
    cfg::merge(&mut n.config, &yaml_config);
    n.contract_enforced = n
        .config
        .get("contract")
        .and_then(|c| c.get("enforced"))
        .and_then(Json::as_bool)
        .unwrap_or(false);
    let _ = jinja;
}

/// Snapshot files hold `{% snapshot name %}...{% endsnapshot %}` blocks. Each block becomes a
/// text of the file's length where everything outside the block is blanked (newlines kept), so
/// offsets and lines in errors stay those of the file.
pub(super) fn snapshot_blocks(f: &SourceFile) -> Result<Vec<(String, Arc<str>)>> {
    static OPEN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    static CLOSE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let open = OPEN.get_or_init(|| {
        regex::Regex::new(r"\{%-?\s*snapshot\s+([A-Za-z_][A-Za-z0-9_]*)\s*-?%\}")
            .expect("a valid regex")
    });
    let close = CLOSE
        .get_or_init(|| regex::Regex::new(r"\{%-?\s*endsnapshot\s*-?%\}").expect("a valid regex"));
    let text = &f.text;
    let mut out = Vec::new();
    for cap in open.captures_iter(text) {
        let whole = cap.get(0).expect("group 0 is the whole match");
        let Some(end) = close.find_at(text, whole.end()) else {
            return Err(Diagnostic::error(
                Code::E202,
                format!("snapshot block '{}' is never closed", &cap[1]),
            )
            .at(Location::new(
                f.display.clone(),
                text.clone(),
                whole.start(),
                whole.end(),
            ))
            .help("end it with {% endsnapshot %}")
            .into());
        };
        let blank = |s: &str| -> String {
            s.chars()
                .map(|c| if c == '\n' { '\n' } else { ' ' })
                .collect()
        };
        let mut body = String::with_capacity(text.len());
        body.push_str(&blank(&text[..whole.end()]));
        body.push_str(&text[whole.end()..end.start()]);
        body.push_str(&blank(&text[end.start()..]));
        out.push((
            cap[1].to_string(),
            Arc::from(body.trim_end().to_string() + "\n"),
        ));
    }
    Ok(out)
}
