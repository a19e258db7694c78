//! HTTP for `deps`: the package hub's JSON API and tarball downloads.
//!
//! The hub is dbt's: `DBT_PACKAGE_HUB_URL` (default `https://hub.getdbt.com/`), with
//! `api/v1/index.json` (every `org/name`) and `api/v1/<org>/<name>.json` (each version's
//! tarball, dependencies and `require_dbt_version`). Each answer is read once per command.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value as Json;

use super::versions::{Requirement, Version};
use crate::diagnostics::{Code, Diagnostic, Error, Result};

const DEFAULT_HUB: &str = "https://hub.getdbt.com/";

/// The dbt version weir answers for when a hub package declares `require_dbt_version`.
pub(crate) const DBT_VERSION: &str = "1.12.0";

/// What went wrong with a request, for a message that says what to do.
pub(crate) enum Failure {
    /// No connection at all (DNS, refused, unreachable): offline, or the host is down.
    Unreachable(String),
    /// The server answered with an error status.
    Status(u16),
    /// Anything else (a timeout, a broken body).
    Other(String),
}

impl Failure {
    /// The diagnostic for fetching `what` from `url`.
    pub(crate) fn diagnostic(&self, what: &str, url: &str) -> Error {
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| url.to_string());
        let url = display_url(url);
        let d = match self {
            Failure::Unreachable(cause) => Diagnostic::error(
                Code::E702,
                format!("cannot reach {host} to fetch {what}: you seem to be offline, or {host} is down"),
            )
            .note(format!("GET {url}: {cause}")),
            Failure::Status(code) => Diagnostic::error(
                Code::E702,
                format!("{host} answered {code} for {what}"),
            )
            .note(format!("GET {url}")),
            Failure::Other(cause) => {
                Diagnostic::error(Code::E702, format!("cannot fetch {what} from {host}: {cause}"))
                    .note(format!("GET {url}"))
            }
        };
        d.help(
            "packages already installed are untouched; check the network (or the URL), then run `weir deps` again",
        )
        .into()
    }
}

/// `url` without any user or password in it, for messages.
pub(crate) fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// One HTTP client and the hub's answers, for the whole command.
pub(crate) struct Hub {
    base: String,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    index: Option<Vec<String>>,
    packages: HashMap<String, PackageInfo>,
}

/// One version of a hub package, as the API describes it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct VersionInfo {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) packages: Vec<serde_yaml::Value>,
    pub(crate) downloads: Downloads,
    #[serde(default)]
    require_dbt_version: Option<Json>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Downloads {
    pub(crate) tarball: String,
}

#[derive(Debug, Clone)]
pub(crate) struct PackageInfo {
    pub(crate) versions: BTreeMap<String, VersionInfo>,
}

#[derive(Deserialize)]
struct PackageJson {
    versions: BTreeMap<String, VersionInfo>,
}

impl VersionInfo {
    /// Whether dbt `DBT_VERSION` meets the version's `require_dbt_version`.
    fn works_with_dbt(&self) -> bool {
        let reqs: Vec<String> = match &self.require_dbt_version {
            None | Some(Json::Null) => return true,
            Some(Json::String(s)) => s.split(',').map(str::to_string).collect(),
            Some(Json::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect(),
            Some(_) => return true,
        };
        let Some(dbt) = Version::parse(DBT_VERSION) else {
            return true;
        };
        reqs.iter()
            .filter_map(|r| Requirement::parse(r.trim()))
            .all(|r| r.matches(&dbt))
    }
}

impl Hub {
    pub(crate) fn new() -> Result<Hub> {
        let mut base = std::env::var("DBT_PACKAGE_HUB_URL").unwrap_or_else(|_| DEFAULT_HUB.into());
        if !base.ends_with('/') {
            base.push('/');
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Diagnostic::internal(format!("cannot start the HTTP runtime: {e}")))?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("weir/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Diagnostic::internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(Hub {
            base,
            runtime,
            client,
            index: None,
            packages: HashMap::new(),
        })
    }

    /// The body at `url`. Timeouts, dropped connections and 5xx answers are tried again
    /// (three tries in all, as the hub sometimes stumbles); a host that cannot be reached at
    /// all fails at once.
    pub(crate) fn get(&self, url: &str) -> std::result::Result<Vec<u8>, Failure> {
        let mut last = Failure::Other("no attempt".into());
        for attempt in 0..3u32 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(300 * u64::from(attempt)));
            }
            let result = self.runtime.block_on(async {
                let resp = self.client.get(url).send().await?;
                let status = resp.status();
                let body = resp.bytes().await?;
                Ok::<_, reqwest::Error>((status, body))
            });
            match result {
                Ok((status, body)) if status.is_success() => return Ok(body.to_vec()),
                Ok((status, _)) if status.is_server_error() => {
                    last = Failure::Status(status.as_u16())
                }
                Ok((status, _)) => return Err(Failure::Status(status.as_u16())),
                Err(e) if e.is_connect() => return Err(Failure::Unreachable(cause_chain(&e))),
                Err(e) if e.is_builder() => return Err(Failure::Other(cause_chain(&e))),
                Err(e) => last = Failure::Other(cause_chain(&e)),
            }
        }
        Err(last)
    }

    fn get_json(&self, path: &str, what: &str) -> Result<Json> {
        let url = format!("{}api/v1/{path}.json", self.base);
        let body = self.get(&url).map_err(|f| f.diagnostic(what, &url))?;
        serde_json::from_slice(&body).map_err(|e| {
            Diagnostic::error(
                Code::E702,
                format!("the package hub's answer for {what} is not the JSON it should be: {e}"),
            )
            .note(format!("GET {}", display_url(&url)))
            .help("check DBT_PACKAGE_HUB_URL; packages already installed are untouched")
            .into()
        })
    }

    /// Fails (E703) when the hub's index does not list `package`.
    pub(crate) fn check_listed(&mut self, package: &str) -> Result<()> {
        if self.index.is_none() {
            let v = self.get_json("index", "the package index")?;
            let names: Vec<String> = serde_json::from_value(v).map_err(|e| {
                Diagnostic::error(
                    Code::E702,
                    format!("the package hub's index is not a list of names: {e}"),
                )
            })?;
            self.index = Some(names);
        }
        let index = self.index.as_deref().unwrap_or_default();
        if index.iter().any(|n| n == package) {
            return Ok(());
        }
        let mut d = Diagnostic::error(
            Code::E703,
            format!("package {package} was not found in the package index"),
        );
        if let Some(c) = crate::diagnostics::closest(package, index.iter().map(String::as_str)) {
            d = d.help(format!("did you mean {c}?"));
        } else {
            d = d.help("check the name on the package hub: packages are named `org/name`");
        }
        Err(d.into())
    }

    /// Every version of `package`.
    pub(crate) fn package(&mut self, package: &str) -> Result<&PackageInfo> {
        if !self.packages.contains_key(package) {
            let v = self.get_json(package, &format!("package {package}"))?;
            let parsed: PackageJson = serde_json::from_value(v).map_err(|e| {
                Diagnostic::error(
                    Code::E702,
                    format!("the package hub's answer for {package} does not have the expected shape: {e}"),
                )
                .help("check DBT_PACKAGE_HUB_URL; packages already installed are untouched")
            })?;
            self.packages.insert(
                package.to_string(),
                PackageInfo {
                    versions: parsed.versions,
                },
            );
        }
        self.packages
            .get(package)
            .ok_or_else(|| Diagnostic::internal("hub package vanished from the cache").into())
    }

    /// The versions of `package` that could be installed: valid, working with
    /// [`DBT_VERSION`] (unless `version_check` is off), ascending.
    pub(crate) fn installable(
        &mut self,
        package: &str,
        version_check: bool,
    ) -> Result<Vec<Version>> {
        let info = self.package(package)?;
        let mut out: Vec<Version> = info
            .versions
            .iter()
            .filter(|(_, v)| !version_check || v.works_with_dbt())
            .filter_map(|(k, _)| Version::parse(k))
            .collect();
        out.sort();
        Ok(out)
    }
}

/// The causes under reqwest's "error sending request for url (...)" wrapper: `tcp connect
/// error: Connection refused (os error 111)`.
fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.starts_with("client error") && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}
