//! `dbt_project.yml`: the typed fields weir reads, and the raw config trees.

use serde::Deserialize;
use serde_json::Value as Json;

/// `dbt_project.yml` as dbt reads it. Config trees stay JSON: they are walked by fqn later.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ProjectFile {
    pub name: String,
    pub version: Option<serde_yaml::Value>,
    #[serde(rename = "config-version")]
    pub config_version: Option<u32>,
    pub profile: Option<String>,
    #[serde(rename = "model-paths", alias = "source-paths")]
    pub model_paths: Option<Vec<String>>,
    #[serde(rename = "seed-paths", alias = "data-paths")]
    pub seed_paths: Option<Vec<String>>,
    #[serde(rename = "test-paths")]
    pub test_paths: Option<Vec<String>>,
    #[serde(rename = "analysis-paths")]
    pub analysis_paths: Option<Vec<String>>,
    #[serde(rename = "macro-paths")]
    pub macro_paths: Option<Vec<String>>,
    #[serde(rename = "snapshot-paths")]
    pub snapshot_paths: Option<Vec<String>>,
    #[serde(rename = "docs-paths")]
    pub docs_paths: Option<Vec<String>>,
    #[serde(rename = "target-path")]
    pub target_path: Option<String>,
    #[serde(rename = "packages-install-path")]
    pub packages_install_path: Option<String>,
    #[serde(rename = "clean-targets")]
    pub clean_targets: Option<Vec<String>>,
    #[serde(rename = "require-dbt-version")]
    pub require_dbt_version: Option<serde_yaml::Value>,
    pub vars: Json,
    pub models: Json,
    pub seeds: Json,
    pub snapshots: Json,
    #[serde(alias = "data_tests")]
    pub tests: Json,
    pub sources: Json,
    pub analyses: Json,
    pub exposures: Json,
    #[serde(rename = "unit_tests")]
    pub unit_tests: Json,
    #[serde(rename = "on-run-start")]
    pub on_run_start: Option<StringOrList>,
    #[serde(rename = "on-run-end")]
    pub on_run_end: Option<StringOrList>,
    pub dispatch: Vec<DispatchConfig>,
    pub quoting: Json,
    pub flags: Json,
    #[serde(rename = "query-comment")]
    pub query_comment: Option<serde_yaml::Value>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct DispatchConfig {
    pub macro_namespace: String,
    pub search_order: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            StringOrList::One(s) => vec![s.clone()],
            StringOrList::Many(v) => v.clone(),
        }
    }
}

fn or(v: &Option<Vec<String>>, default: &[&str]) -> Vec<String> {
    v.clone()
        .unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect())
}

impl ProjectFile {
    pub fn model_paths(&self) -> Vec<String> {
        or(&self.model_paths, &["models"])
    }
    pub fn seed_paths(&self) -> Vec<String> {
        or(&self.seed_paths, &["seeds"])
    }
    pub fn test_paths(&self) -> Vec<String> {
        or(&self.test_paths, &["tests"])
    }
    pub fn analysis_paths(&self) -> Vec<String> {
        or(&self.analysis_paths, &["analyses"])
    }
    pub fn macro_paths(&self) -> Vec<String> {
        or(&self.macro_paths, &["macros"])
    }
    pub fn snapshot_paths(&self) -> Vec<String> {
        or(&self.snapshot_paths, &["snapshots"])
    }
    /// dbt: docs blocks are read from every resource path unless `docs-paths` is set.
    pub fn docs_paths(&self) -> Vec<String> {
        match &self.docs_paths {
            Some(p) => p.clone(),
            None => {
                let mut all = self.model_paths();
                all.extend(self.seed_paths());
                all.extend(self.test_paths());
                all.extend(self.analysis_paths());
                all.extend(self.macro_paths());
                all.extend(self.snapshot_paths());
                all
            }
        }
    }
    /// Where `deps` installs packages and the loader reads them (`dbt_packages` by default).
    pub fn packages_install_path(&self) -> String {
        self.packages_install_path
            .clone()
            .unwrap_or_else(|| "dbt_packages".into())
    }
    pub fn target_path(&self) -> String {
        self.target_path.clone().unwrap_or_else(|| "target".into())
    }
}
