//! Hub version requirements as dbt reads them (`dbt_common.semver`), not Cargo's: a bare
//! `1.1.1` is that exact version (not `^1.1.1`), matchers are `=`, `>`, `>=`, `<`, `<=`, and
//! `<2.0.0` also shuts out `2.0.0-rc1`, whose base version is not below 2.0.0.

use std::cmp::Ordering;
use std::fmt;

/// A version: `major.minor.patch`, an optional pre-release and build (ignored in comparisons).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    core: [u64; 3],
    pre: Option<String>,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Exact,
    Gt,
    Ge,
    Lt,
    Le,
}

/// One requirement (`>=1.0.0`), as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requirement {
    op: Op,
    version: Version,
    text: String,
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn number(s: &str) -> Option<u64> {
    // No leading zeros, as semver (and dbt's pattern) says.
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

fn identifiers_ok(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl Version {
    /// `1.2.3`, `1.2.3-rc.1`, `1.2.3rc1` (dbt accepts a pre-release without the dash),
    /// `1.2.3+build`.
    pub(crate) fn parse(text: &str) -> Option<Version> {
        let (rest, build) = match text.split_once('+') {
            Some((r, b)) => (r, Some(b)),
            None => (text, None),
        };
        if build.is_some_and(|b| !identifiers_ok(b)) {
            return None;
        }
        let mut parts = rest.splitn(3, '.');
        let major = number(parts.next()?)?;
        let minor = number(parts.next()?)?;
        let last = parts.next()?;
        let digits = last.bytes().take_while(u8::is_ascii_digit).count();
        let patch = number(&last[..digits])?;
        let pre = &last[digits..];
        let pre = pre.strip_prefix('-').unwrap_or(pre);
        let pre = if pre.is_empty() && last.len() == digits {
            None
        } else if identifiers_ok(pre) {
            Some(pre.to_string())
        } else {
            return None;
        };
        Some(Version {
            core: [major, minor, patch],
            pre,
            text: text.to_string(),
        })
    }

    pub(crate) fn is_prerelease(&self) -> bool {
        self.pre.is_some()
    }

    /// Precedence: the numbers, then a release above its pre-releases, then the pre-release
    /// identifiers (numbers below words, numbers by value), then the longer pre-release.
    fn cmp_precedence(&self, other: &Version) -> Ordering {
        self.core
            .cmp(&other.core)
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => {
                    for (x, y) in a.split('.').zip(b.split('.')) {
                        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                            (Ok(x), Ok(y)) => x.cmp(&y),
                            (Ok(_), Err(_)) => Ordering::Less,
                            (Err(_), Ok(_)) => Ordering::Greater,
                            (Err(_), Err(_)) => x.cmp(y),
                        };
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    a.len().cmp(&b.len())
                }
            })
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.cmp_precedence(other)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Requirement {
    pub(crate) fn parse(text: &str) -> Option<Requirement> {
        let t = text.trim();
        let (op, rest) = if let Some(r) = t.strip_prefix(">=") {
            (Op::Ge, r)
        } else if let Some(r) = t.strip_prefix("<=") {
            (Op::Le, r)
        } else if let Some(r) = t.strip_prefix('>') {
            (Op::Gt, r)
        } else if let Some(r) = t.strip_prefix('<') {
            (Op::Lt, r)
        } else if let Some(r) = t.strip_prefix('=') {
            (Op::Exact, r)
        } else {
            (Op::Exact, t)
        };
        Some(Requirement {
            op,
            version: Version::parse(rest)?,
            text: t.to_string(),
        })
    }

    pub(crate) fn names_prerelease(&self) -> bool {
        self.version.is_prerelease()
    }

    pub(crate) fn matches(&self, v: &Version) -> bool {
        let o = v.cmp(&self.version);
        match self.op {
            Op::Exact => o == Ordering::Equal,
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
            Op::Le => o != Ordering::Greater,
            // dbt: `<2.0.0` does not let `2.0.0-rc1` in.
            Op::Lt => {
                o == Ordering::Less
                    && !(self.version.pre.is_none()
                        && v.pre.is_some()
                        && v.core == self.version.core)
            }
        }
    }

    /// Whether some version could meet both (dbt's "versions not compatible" otherwise).
    /// Ranges on a line that meet pairwise all meet together, so pairs are enough.
    pub(crate) fn compatible(&self, other: &Requirement) -> bool {
        let lower = |r: &Requirement| matches!(r.op, Op::Gt | Op::Ge);
        match (self.op, other.op) {
            (Op::Exact, _) => other.matches(&self.version),
            (_, Op::Exact) => self.matches(&other.version),
            // Two lower bounds, or two upper bounds, always meet.
            _ if lower(self) == lower(other) => true,
            _ => {
                let (lo, hi) = if lower(self) {
                    (self, other)
                } else {
                    (other, self)
                };
                match lo.version.cmp(&hi.version) {
                    Ordering::Less => true,
                    Ordering::Greater => false,
                    Ordering::Equal => lo.op == Op::Ge && hi.op == Op::Le,
                }
            }
        }
    }
}

/// The highest of `available` that every requirement accepts, skipping pre-releases unless
/// `prerelease` (dbt: `install_prerelease`, or a requirement that names a pre-release).
pub(crate) fn pick<'a>(
    available: impl IntoIterator<Item = &'a Version>,
    requirements: &[Requirement],
    prerelease: bool,
) -> Option<&'a Version> {
    available
        .into_iter()
        .filter(|v| prerelease || !v.is_prerelease())
        .filter(|v| requirements.iter().all(|r| r.matches(v)))
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }
    fn r(s: &str) -> Requirement {
        Requirement::parse(s).unwrap()
    }

    #[test]
    fn parses_as_dbt_does() {
        assert!(Version::parse("1.2.3").is_some());
        assert!(Version::parse("1.2.3-rc.1").unwrap().is_prerelease());
        assert!(Version::parse("1.2.3b1").unwrap().is_prerelease());
        assert!(Version::parse("1.2").is_none());
        assert!(Version::parse("01.2.3").is_none());
        assert!(Requirement::parse(">=1.0.0, <2.0.0").is_none());
        assert!(Requirement::parse("^1.0.0").is_none());
    }

    #[test]
    fn orders_pre_releases_below_releases() {
        assert!(v("1.0.0-rc1") < v("1.0.0"));
        assert!(v("1.0.0-alpha.2") < v("1.0.0-alpha.10"));
        assert!(v("1.0.0-1") < v("1.0.0-a"));
        assert!(v("1.10.0") > v("1.9.9"));
    }

    #[test]
    fn bare_versions_are_exact_and_lt_shuts_out_its_pre_releases() {
        assert!(r("1.1.1").matches(&v("1.1.1")));
        assert!(!r("1.1.1").matches(&v("1.1.2")));
        assert!(!r("<2.0.0").matches(&v("2.0.0-rc1")));
        assert!(r("<2.0.0").matches(&v("1.9.0-rc1")));
        assert!(r("<=2.0.0").matches(&v("2.0.0")));
    }

    #[test]
    fn picks_the_highest_matching_release() {
        let all: Vec<Version> = ["0.9.0", "1.0.0", "1.2.0", "1.3.0-rc1", "2.0.0"]
            .iter()
            .map(|s| v(s))
            .collect();
        let reqs = [r(">=1.0.0"), r("<2.0.0")];
        assert_eq!(pick(&all, &reqs, false).unwrap().to_string(), "1.2.0");
        assert_eq!(pick(&all, &reqs, true).unwrap().to_string(), "1.3.0-rc1");
        assert!(pick(&all, &[r(">2.0.0")], false).is_none());
    }

    #[test]
    fn compatibility_of_pairs() {
        assert!(r(">=1.0.0").compatible(&r("<2.0.0")));
        assert!(!r(">=2.0.0").compatible(&r("<2.0.0")));
        assert!(r(">=2.0.0").compatible(&r("<=2.0.0")));
        assert!(!r(">2.0.0").compatible(&r("<=2.0.0")));
        assert!(!r("1.0.0").compatible(&r("1.1.0")));
        assert!(r("1.1.0").compatible(&r(">=1.0.0")));
        assert!(!r("0.9.0").compatible(&r(">=1.0.0")));
        assert!(r("<1.0.0").compatible(&r("<2.0.0")));
    }
}
