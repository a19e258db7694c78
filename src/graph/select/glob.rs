//! Glob matching as Python's `fnmatch` and `pathlib.Path.glob` do it (dbt uses both), and the
//! fqn selector.

use super::*;

#[derive(Debug, Clone)]
pub(super) enum GlobToken {
    Literal(char),
    AnyChar,
    AnyRun,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled `fnmatch` pattern: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`; `*` crosses `/` and `.`.
#[derive(Debug, Clone)]
pub struct Glob {
    pub(super) tokens: Vec<GlobToken>,
    pub(super) literal: Option<String>,
}

impl Glob {
    pub fn new(pattern: &str) -> Self {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' => {
                    if !matches!(tokens.last(), Some(GlobToken::AnyRun)) {
                        tokens.push(GlobToken::AnyRun);
                    }
                }
                '?' => tokens.push(GlobToken::AnyChar),
                '[' => {
                    // Same scan as fnmatch.translate: a `]` right after `[` or `[!` is a member;
                    // an unclosed `[` is a literal.
                    let mut j = i;
                    if chars.get(j) == Some(&'!') {
                        j += 1;
                    }
                    if chars.get(j) == Some(&']') {
                        j += 1;
                    }
                    while j < chars.len() && chars[j] != ']' {
                        j += 1;
                    }
                    if j >= chars.len() {
                        tokens.push(GlobToken::Literal('['));
                        continue;
                    }
                    let mut body = &chars[i..j];
                    i = j + 1;
                    let negated = body.first() == Some(&'!');
                    if negated {
                        body = &body[1..];
                    }
                    let mut ranges = Vec::new();
                    let mut k = 0;
                    while k < body.len() {
                        if k + 2 < body.len() && body[k + 1] == '-' {
                            ranges.push((body[k], body[k + 2]));
                            k += 3;
                        } else {
                            ranges.push((body[k], body[k]));
                            k += 1;
                        }
                    }
                    tokens.push(GlobToken::Class { negated, ranges });
                }
                c => tokens.push(GlobToken::Literal(c)),
            }
        }
        let literal = tokens
            .iter()
            .all(|t| matches!(t, GlobToken::Literal(_)))
            .then(|| pattern.to_string());
        Glob { tokens, literal }
    }

    pub fn is_match(&self, name: &str) -> bool {
        if let Some(lit) = &self.literal {
            return lit == name;
        }
        let text: Vec<char> = name.chars().collect();
        let single = |tok: &GlobToken, c: char| match tok {
            GlobToken::Literal(l) => *l == c,
            GlobToken::AnyChar => true,
            GlobToken::Class { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negated
            }
            GlobToken::AnyRun => false,
        };
        // Classic wildcard matching with single-star backtracking.
        let (mut t, mut i) = (0, 0);
        let mut backtrack: Option<(usize, usize)> = None;
        while i < text.len() {
            match self.tokens.get(t) {
                Some(GlobToken::AnyRun) => {
                    backtrack = Some((t, i));
                    t += 1;
                    continue;
                }
                Some(tok) if single(tok, text[i]) => {
                    t += 1;
                    i += 1;
                    continue;
                }
                _ => {}
            }
            match backtrack {
                Some((bt, bi)) => {
                    t = bt + 1;
                    i = bi + 1;
                    backtrack = Some((bt, bi + 1));
                }
                None => return false,
            }
        }
        self.tokens[t..]
            .iter()
            .all(|tok| matches!(tok, GlobToken::AnyRun))
    }
}

/// Python's `fnmatch.fnmatch(name, pattern)` on POSIX (case-sensitive).
pub fn fnmatch(name: &str, pattern: &str) -> bool {
    Glob::new(pattern).is_match(name)
}

pub(super) fn path_components(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect()
}

/// `path:` — dbt globs the pattern under the project root and selects nodes whose file,
/// or any parent directory of it, is among the results. Without touching the filesystem
/// that is: the pathlib-style glob matches the file path or one of its directory prefixes.
pub(super) struct PathPattern(Vec<Glob>, Vec<bool>);

impl PathPattern {
    pub(super) fn parse(pattern: &str) -> Result<Self, SelectError> {
        if pattern.starts_with('/') {
            return Err(SelectError::new(format!(
                "Invalid path selector \"{pattern}\": non-relative patterns are unsupported"
            ))
            .with_hint("paths are relative to the project root"));
        }
        let segs = path_components(pattern);
        // pathlib refuses an empty pattern (`path:` or `path:.`), and so does dbt.
        if segs.is_empty() {
            return Err(SelectError::new(format!(
                "Invalid path selector \"{pattern}\": Unacceptable pattern"
            )));
        }
        Ok(PathPattern(
            segs.iter().map(|s| Glob::new(s)).collect(),
            segs.iter().map(|s| *s == "**").collect(),
        ))
    }

    pub(super) fn glob(&self, p: usize, path: &[&str]) -> bool {
        match self.0.get(p) {
            None => path.is_empty(),
            // `**` spans zero or more directories.
            Some(_) if self.1[p] => (0..=path.len()).any(|skip| self.glob(p + 1, &path[skip..])),
            Some(g) => path.first().is_some_and(|c| g.is_match(c)) && self.glob(p + 1, &path[1..]),
        }
    }

    pub(super) fn matches_file_or_parent(&self, file: &str) -> bool {
        let comps = path_components(file);
        (0..=comps.len()).any(|k| self.glob(0, &comps[..k]))
    }
}

/// dbt's `is_selected_node`, with the selector pre-split once rather than per node.
pub(super) struct FqnSelector {
    pub(super) whole: String,
    pub(super) parts: Vec<String>,
    /// Index of the first part holding a wildcard, and a glob of the remainder.
    pub(super) slurp: Option<(usize, Glob)>,
}

impl FqnSelector {
    pub(super) fn new(selector: &str) -> Self {
        let parts: Vec<String> = selector.split('.').map(str::to_string).collect();
        let slurp = parts
            .iter()
            .position(|p| p.contains(['*', '?', '[', ']']))
            .map(|ix| (ix, Glob::new(&parts[ix..].join("."))));
        FqnSelector {
            whole: selector.to_string(),
            parts,
            slurp,
        }
    }

    pub(super) fn matches_exact(&self, fqn: &[String]) -> bool {
        // The leaf (model name) matches outright, even when it contains dots.
        if fqn.last() == Some(&self.whole) {
            return true;
        }
        // dbt 1.12 also globs a one-part selector against the leaf (`stg_*`).
        if let (1, Some((_, glob)), Some(leaf)) = (self.parts.len(), &self.slurp, fqn.last()) {
            if glob.is_match(leaf) {
                return true;
            }
        }
        // Dots in fqn segments act as namespace separators.
        let flat: Vec<&str> = fqn.iter().flat_map(|s| s.split('.')).collect();
        if flat.len() < self.parts.len() {
            return false;
        }
        let literal_len = self.slurp.as_ref().map_or(self.parts.len(), |(ix, _)| *ix);
        if (0..literal_len).any(|i| flat[i] != self.parts[i]) {
            return false;
        }
        match &self.slurp {
            // A selector prefix matches everything below it, so `staging` selects a folder.
            None => true,
            Some((ix, glob)) => glob.is_match(&flat[*ix..].join(".")),
        }
    }

    /// dbt tries the fqn with and without its package prefix.
    pub(super) fn matches(&self, fqn: &[String]) -> bool {
        self.matches_exact(fqn) || (fqn.len() > 1 && self.matches_exact(&fqn[1..]))
    }
}
