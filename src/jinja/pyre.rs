//! `modules.re`: Python's `re` as dbt hands it to templates, on `fancy-regex` (lookahead,
//! lookbehind and backreferences, which packages use, e.g. dbt-codegen's `(?=\s|$)`).
//! Functions take a pattern string or a compiled pattern, and `flags` (`re.I`, `re.M`, `re.S`,
//! `re.X`, combined with `|`, as numbers) positionally or by name; `findall` returns groups as
//! Python does; match objects have `group`, `groups`, `groupdict`, `start`, `end`, `span`.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Kwargs, Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind, State};

const IGNORECASE: i64 = 2;
const MULTILINE: i64 = 8;
const DOTALL: i64 = 16;
const VERBOSE: i64 = 64;

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// Python's escapes of punctuation that the regex syntax does not allow escaped (`\'`, `\"`,
/// `` \` ``, `\ `, `\/`, ...) become the character itself; everything else is kept.
fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(n) if n.is_ascii_punctuation() && !"\\.+*?()|[]{}^$#&-~".contains(n) => {
                out.push(n)
            }
            // Python's `\Z` is the end of the text (`\z` in Rust).
            Some('Z') => out.push_str("\\z"),
            Some(n) => {
                out.push('\\');
                out.push(n);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A compiled pattern (`re.compile(...)`), or one compiled for a call.
#[derive(Debug)]
pub struct Pattern {
    source: String,
    flags: i64,
    re: fancy_regex::Regex,
}

impl Pattern {
    fn new(source: &str, flags: i64) -> Result<Pattern, Error> {
        let mut prefix = String::new();
        for (bit, f) in [
            (IGNORECASE, 'i'),
            (MULTILINE, 'm'),
            (DOTALL, 's'),
            (VERBOSE, 'x'),
        ] {
            if flags & bit != 0 {
                prefix.push(f);
            }
        }
        let text = if prefix.is_empty() {
            translate(source)
        } else {
            format!("(?{prefix}){}", translate(source))
        };
        let re = fancy_regex::RegexBuilder::new(&text)
            .backtrack_limit(1_000_000)
            .build()
            .map_err(|e| invalid(format!("bad regular expression '{source}': {e}")))?;
        Ok(Pattern {
            source: source.to_string(),
            flags,
            re,
        })
    }

    fn captures<'t>(
        &self,
        text: &'t str,
        at: usize,
    ) -> Result<Option<fancy_regex::Captures<'t, str>>, Error> {
        self.re
            .captures_from_pos(text, at)
            .map_err(|e| invalid(format!("regular expression '{}': {e}", self.source)))
    }

    fn match_object(&self, c: &fancy_regex::Captures<'_, str>, text: &str) -> Value {
        let groups = (0..c.len())
            .map(|i| c.get(i).map(|m| (m.start(), m.end())))
            .collect();
        let names = self
            .re
            .capture_names()
            .enumerate()
            .filter_map(|(i, n)| n.map(|n| (n.to_string(), i)))
            .collect();
        Value::from_object(Match {
            text: text.to_string(),
            groups,
            names,
        })
    }

    /// `search`, `match` (at the start), `fullmatch` (the whole text).
    fn find(&self, how: &str, text: &str) -> Result<Value, Error> {
        let Some(c) = self.captures(text, 0)? else {
            return Ok(Value::from(()));
        };
        let whole = c.get(0).expect("group 0 is the whole match");
        let ok = match how {
            "match" => whole.start() == 0,
            "fullmatch" => whole.start() == 0 && whole.end() == text.len(),
            _ => true,
        };
        if ok {
            return Ok(self.match_object(&c, text));
        }
        if how == "fullmatch" {
            // The first match may be shorter than the text: try the anchored pattern.
            let anchored = Pattern::new(&format!("(?:{})\\z", self.source), self.flags)?;
            if let Some(c) = anchored.captures(text, 0)? {
                if c.get(0).is_some_and(|m| m.start() == 0) {
                    return Ok(self.match_object(&c, text));
                }
            }
        }
        if how == "match" {
            let anchored = Pattern::new(&format!("\\A(?:{})", self.source), self.flags)?;
            if let Some(c) = anchored.captures(text, 0)? {
                return Ok(self.match_object(&c, text));
            }
        }
        Ok(Value::from(()))
    }

    /// Every non-overlapping match: the whole match, the one group, or a tuple of groups.
    fn findall(&self, text: &str) -> Result<Value, Error> {
        let mut out = Vec::new();
        let mut at = 0;
        while at <= text.len() {
            let Some(c) = self.captures(text, at)? else {
                break;
            };
            let whole = c.get(0).expect("group 0 is the whole match");
            let part = |i: usize| Value::from(c.get(i).map_or("", |m| m.as_str()));
            out.push(match c.len() {
                1 => part(0),
                2 => part(1),
                n => Value::from((1..n).map(part).collect::<Vec<_>>()),
            });
            at = if whole.end() == whole.start() {
                next_char(text, whole.end())
            } else {
                whole.end()
            };
        }
        Ok(Value::from(out))
    }

    fn sub(&self, repl: &str, text: &str, count: usize) -> Result<Value, Error> {
        let mut out = String::with_capacity(text.len());
        let (mut at, mut last, mut n) = (0, 0, 0);
        while at <= text.len() && (count == 0 || n < count) {
            let Some(c) = self.captures(text, at)? else {
                break;
            };
            let whole = c.get(0).expect("group 0 is the whole match");
            out.push_str(&text[last..whole.start()]);
            out.push_str(&expand(repl, &c, &self.re)?);
            last = whole.end();
            n += 1;
            at = if whole.end() == whole.start() {
                next_char(text, whole.end())
            } else {
                whole.end()
            };
        }
        out.push_str(&text[last.min(text.len())..]);
        Ok(Value::from(out))
    }

    fn split(&self, text: &str, maxsplit: usize) -> Result<Value, Error> {
        let mut out = Vec::new();
        let (mut at, mut last, mut n) = (0, 0, 0);
        while at <= text.len() && (maxsplit == 0 || n < maxsplit) {
            let Some(c) = self.captures(text, at)? else {
                break;
            };
            let whole = c.get(0).expect("group 0 is the whole match");
            if whole.end() == whole.start() && whole.start() == last && whole.start() == 0 {
                at = next_char(text, whole.end());
                continue;
            }
            out.push(Value::from(&text[last..whole.start()]));
            for i in 1..c.len() {
                out.push(
                    c.get(i)
                        .map_or(Value::from(()), |m| Value::from(m.as_str())),
                );
            }
            last = whole.end();
            n += 1;
            at = if whole.end() == whole.start() {
                next_char(text, whole.end())
            } else {
                whole.end()
            };
        }
        out.push(Value::from(&text[last.min(text.len())..]));
        Ok(Value::from(out))
    }

    /// The pattern methods (`p.search(text)`), and the module's functions after the pattern.
    fn apply(&self, method: &str, args: &[Value], kwargs: &Kwargs) -> Result<Value, Error> {
        let text = |i: usize, name: &str| -> Result<String, Error> {
            match args.get(i) {
                Some(v) => Ok(v.as_str().map_or_else(|| v.to_string(), str::to_string)),
                None => kwargs
                    .get::<Option<String>>(name)?
                    .ok_or_else(|| invalid(format!("re.{method}: missing the text argument"))),
            }
        };
        let number = |i: usize, name: &str| -> Result<usize, Error> {
            let v = match args.get(i) {
                Some(v) => Some(v.clone()),
                None => kwargs.get::<Option<Value>>(name)?,
            };
            match v {
                None => Ok(0),
                Some(v) => v
                    .as_i64()
                    .filter(|n| *n >= 0)
                    .map(|n| n as usize)
                    .ok_or_else(|| invalid(format!("re.{method}: {name} must be a whole number"))),
            }
        };
        match method {
            "search" | "match" | "fullmatch" => self.find(method, &text(0, "string")?),
            "findall" => self.findall(&text(0, "string")?),
            "sub" => self.sub(&text(0, "repl")?, &text(1, "string")?, number(2, "count")?),
            "split" => self.split(&text(0, "string")?, number(1, "maxsplit")?),
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("re has no function '{method}'"),
            )),
        }
    }
}

fn next_char(text: &str, at: usize) -> usize {
    text[at..]
        .chars()
        .next()
        .map_or(at + 1, |c| at + c.len_utf8())
}

/// Python's replacement template: `\1`, `\g<1>`, `\g<name>`, and `\n`-style escapes.
fn expand(
    repl: &str,
    c: &fancy_regex::Captures<'_, str>,
    re: &fancy_regex::Regex,
) -> Result<String, Error> {
    let group = |i: usize| c.get(i).map_or("", |m| m.as_str()).to_string();
    let mut out = String::new();
    let mut chars = repl.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some(d) if d.is_ascii_digit() => {
                let mut n = d.to_digit(10).unwrap_or(0) as usize;
                if let Some(d2) = chars.peek().and_then(|c| c.to_digit(10)) {
                    chars.next();
                    n = n * 10 + d2 as usize;
                }
                if n >= c.len() {
                    return Err(invalid(format!("invalid group reference {n}")));
                }
                out.push_str(&group(n));
            }
            Some('g') if chars.peek() == Some(&'<') => {
                chars.next();
                let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                let i = match name.parse::<usize>() {
                    Ok(i) => i,
                    Err(_) => re
                        .capture_names()
                        .position(|n| n == Some(name.as_str()))
                        .ok_or_else(|| invalid(format!("unknown group name '{name}'")))?,
                };
                if i >= c.len() {
                    return Err(invalid(format!("invalid group reference {i}")));
                }
                out.push_str(&group(i));
            }
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    Ok(out)
}

impl Object for Pattern {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "pattern" => Some(Value::from(self.source.clone())),
            "flags" => Some(Value::from(self.flags)),
            _ => None,
        }
    }
    fn call_method(
        self: &Arc<Self>,
        _state: &State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let (pos, kwargs): (&[Value], Kwargs) = minijinja::value::from_args(args)?;
        self.apply(method, pos, &kwargs)
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "re.compile({:?})", self.source)
    }
}

/// `modules.re`.
#[derive(Debug)]
pub struct ReModule;

impl Object for ReModule {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(Value::from(match key.as_str()? {
            "I" | "IGNORECASE" => IGNORECASE,
            "M" | "MULTILINE" => MULTILINE,
            "S" | "DOTALL" => DOTALL,
            "X" | "VERBOSE" => VERBOSE,
            "A" | "ASCII" => 256,
            "U" | "UNICODE" => 32,
            _ => return None,
        }))
    }
    fn call_method(
        self: &Arc<Self>,
        _state: &State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let (pos, kwargs): (&[Value], Kwargs) = minijinja::value::from_args(args)?;
        let Some((first, rest)) = pos.split_first() else {
            return Err(invalid(format!("re.{method}() needs a pattern")));
        };
        if method == "escape" {
            let s = first.as_str().unwrap_or_default();
            let mut out = String::with_capacity(s.len());
            for c in s.chars() {
                if !(c.is_alphanumeric() || c == '_') {
                    out.push('\\');
                }
                out.push(c);
            }
            return Ok(Value::from(out));
        }
        // The flags come after the arguments each function takes.
        let fixed = match method {
            "sub" => 4,
            "split" => 3,
            "compile" => 0,
            _ => 1,
        };
        let flags = match rest.get(fixed) {
            Some(v) => v.as_i64(),
            None => kwargs.get::<Option<i64>>("flags")?,
        }
        .unwrap_or(0);
        let rest = &rest[..rest.len().min(fixed)];
        let pattern = match first.downcast_object::<Pattern>() {
            Some(p) => p,
            None => {
                let source = first.as_str().ok_or_else(|| {
                    invalid(format!(
                        "re.{method}: the pattern must be a string, not '{first}'"
                    ))
                })?;
                Arc::new(Pattern::new(source, flags)?)
            }
        };
        if method == "compile" {
            kwargs.assert_all_used()?;
            return Ok(Value::from_dyn_object(pattern));
        }
        let out = pattern.apply(method, rest, &kwargs)?;
        kwargs.assert_all_used()?;
        Ok(out)
    }
}

/// A match: byte ranges of each group in the text.
#[derive(Debug)]
struct Match {
    text: String,
    groups: Vec<Option<(usize, usize)>>,
    names: Vec<(String, usize)>,
}

impl Match {
    fn index(&self, v: &Value) -> Result<usize, Error> {
        let i = match v.as_str() {
            Some(name) => self
                .names
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, i)| *i)
                .ok_or_else(|| invalid(format!("no such group: '{name}'")))?,
            None => {
                v.as_i64()
                    .filter(|i| *i >= 0)
                    .ok_or_else(|| invalid(format!("no such group: {v}")))? as usize
            }
        };
        if i >= self.groups.len() {
            return Err(invalid(format!("no such group: {i}")));
        }
        Ok(i)
    }
    fn group(&self, i: usize) -> Value {
        self.groups[i].map_or(Value::from(()), |(s, e)| Value::from(&self.text[s..e]))
    }
    fn chars_before(&self, byte: usize) -> i64 {
        self.text[..byte].chars().count() as i64
    }
}

impl Object for Match {
    fn call_method(
        self: &Arc<Self>,
        _state: &State,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let which = || -> Result<usize, Error> {
            match args.first() {
                Some(v) => self.index(v),
                None => Ok(0),
            }
        };
        match method {
            "group" => {
                if args.len() > 1 {
                    let parts: Result<Vec<Value>, Error> = args
                        .iter()
                        .map(|a| Ok(self.group(self.index(a)?)))
                        .collect();
                    return Ok(Value::from(parts?));
                }
                Ok(self.group(which()?))
            }
            "groups" => Ok(Value::from(
                (1..self.groups.len())
                    .map(|i| self.group(i))
                    .collect::<Vec<_>>(),
            )),
            "groupdict" => Ok(Value::from_iter(
                self.names.iter().map(|(n, i)| (n.clone(), self.group(*i))),
            )),
            "start" | "end" | "span" => {
                let i = which()?;
                let (s, e) = self.groups[i].map_or((-1, -1), |(s, e)| {
                    (self.chars_before(s), self.chars_before(e))
                });
                Ok(match method {
                    "start" => Value::from(s),
                    "end" => Value::from(e),
                    _ => Value::from(vec![s, e]),
                })
            }
            _ => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("match has no method '{method}'"),
            )),
        }
    }
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<re.Match object; match={:?}>",
            self.group(0).to_string()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str) -> Result<String, Error> {
        let mut env = minijinja::Environment::new();
        env.add_global("re", Value::from_object(ReModule));
        env.render_str(src, ())
    }

    #[test]
    fn python_re_semantics() {
        let r = |s: &str| render(s).unwrap();
        assert_eq!(
            r("{{ re.findall('(a)(b)?', 'ab a') }}"),
            r#"[["a", "b"], ["a", ""]]"#
        );
        assert_eq!(r("{{ re.findall('a(b)', 'ab ab') }}"), r#"["b", "b"]"#);
        assert_eq!(r("{{ re.findall('x(?=y)', 'xy xz') }}"), r#"["x"]"#);
        assert_eq!(
            r(r#"{{ re.findall('[\'"](\w+)', "'ab \"cd") }}"#),
            r#"["ab", "cd"]"#
        );
        assert_eq!(r(r"{{ re.sub('(\w+)@', '\\1 at ', 'me@x') }}"), "me at x");
        assert_eq!(r("{{ re.search('B', 'abc', re.I).group(0) }}"), "b");
        assert_eq!(r("{{ re.match('b', 'abc') is none }}"), "True");
        assert_eq!(
            r("{{ re.compile('(?P<n>\\\\d+)').search('a12').groupdict() }}"),
            r#"{"n": "12"}"#
        );
        assert_eq!(
            r("{{ re.split(',\\\\s*', 'a, b,c') }}"),
            r#"["a", "b", "c"]"#
        );
        assert!(render("{{ re.search('(', 'x') }}").is_err());
    }
}
