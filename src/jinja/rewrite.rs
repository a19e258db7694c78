//! Source rewrites that adapt dbt's Jinja dialect to minijinja, with an offset map back to the
//! user's text so every error still points at the original file, line and column.
//!
//! - `{% macro name(` becomes `{% macro __weir_m_name(`: macros are reached only through the
//!   global wrapper, so `return()` and dbt's resolution order apply to every call.
//! - `{% test name(...) %}` / `{% endtest %}` become `test_name` macros (dbt's generic tests).
//! - `{% materialization name, adapter='x' %}` becomes macro `materialization_name_x`.
//! - `{% set x = [] %}` / `{% set x = {} %}` build mutable containers so `.append()` and
//!   `.update()` work as in Python.
//! - In a template that touches dates (`datetime`, `timedelta`, `run_started_at`, `pytz`), each
//!   `a + b` / `a - b` becomes `__weir_arith(a, '+', b)`: minijinja has no operators for
//!   objects, and Python's date arithmetic needs them.

use std::sync::OnceLock;

use regex::Regex;

pub const MACRO_PREFIX: &str = "__weir_m_";

/// One replaced range: `orig` in the user's text became `new` in the rewritten text.
#[derive(Debug, Clone, Copy)]
struct Edit {
    orig_start: usize,
    orig_end: usize,
    new_start: usize,
    new_end: usize,
}

#[derive(Debug, Clone, Default)]
pub struct OffsetMap {
    edits: Vec<Edit>,
}

impl OffsetMap {
    /// Map an offset in the rewritten text back to the user's text.
    pub fn to_original(&self, n: usize) -> usize {
        let idx = self.edits.partition_point(|e| e.new_start <= n);
        if idx == 0 {
            return n;
        }
        let e = self.edits[idx - 1];
        if n < e.new_end {
            e.orig_start
        } else {
            e.orig_end + (n - e.new_end)
        }
    }
}

/// A macro (or test) defined in a file.
#[derive(Debug, Clone)]
pub struct FoundMacro {
    /// The name dbt knows it by (`test_unique`, `materialization_table_default`).
    pub name: String,
    /// The name in the rewritten template.
    pub internal: String,
    /// Byte range of the whole block in the original text.
    pub start: usize,
    pub end: usize,
}

pub struct Rewritten {
    pub text: String,
    pub map: OffsetMap,
    pub macros: Vec<FoundMacro>,
}

fn apply(text: &str, mut repl: Vec<(usize, usize, String)>) -> (String, OffsetMap) {
    repl.sort_by_key(|r| r.0);
    let mut out = String::with_capacity(text.len() + repl.len() * 16);
    let mut edits = Vec::with_capacity(repl.len());
    let mut pos = 0;
    for (start, end, with) in repl {
        if start < pos {
            continue; // overlapping rewrite: keep the first
        }
        out.push_str(&text[pos..start]);
        let new_start = out.len();
        out.push_str(&with);
        edits.push(Edit {
            orig_start: start,
            orig_end: end,
            new_start,
            new_end: out.len(),
        });
        pos = end;
    }
    out.push_str(&text[pos..]);
    (out, OffsetMap { edits })
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("static regex"))
}

/// Rewrite a macro file: rename macros, turn test and materialization blocks into macros.
pub fn macro_file(text: &str) -> Rewritten {
    static OPEN: OnceLock<Regex> = OnceLock::new();
    static END: OnceLock<Regex> = OnceLock::new();
    let open = re(
        &OPEN,
        r"\{%(-?)\s*(macro|test|materialization)\s+([A-Za-z_][A-Za-z0-9_]*)\s*(?:,\s*(?:adapter\s*=\s*)?['\x22]?([A-Za-z_][A-Za-z0-9_]*)['\x22]?\s*(?:,[^%]*)?)?(\(|-?%\})",
    );
    let end = re(&END, r"\{%(-?)\s*end(macro|test|materialization)\s*(-?)%\}");
    let mut repl = Vec::new();
    let mut macros = Vec::new();
    let ends: Vec<_> = end.captures_iter(text).collect();
    for cap in open.captures_iter(text) {
        let whole = cap.get(0).expect("group 0 is the whole match");
        let dash = &cap[1];
        let kind = &cap[2];
        let name = &cap[3];
        let tail = &cap[5];
        let (dbt_name, args_open) = match kind {
            "test" => (format!("test_{name}"), tail.to_string()),
            "materialization" => {
                let adapter = cap.get(4).map_or("default", |m| m.as_str());
                (
                    format!("materialization_{name}_{adapter}"),
                    "() %}".to_string(),
                )
            }
            _ => (name.to_string(), tail.to_string()),
        };
        let internal = format!("{MACRO_PREFIX}{dbt_name}");
        let args_open = if args_open.starts_with('(') {
            "(".to_string()
        } else if args_open.starts_with('-') {
            "() -%}".into()
        } else {
            args_open
        };
        repl.push((
            whole.start(),
            whole.end(),
            format!("{{%{dash} macro {internal}{args_open}"),
        ));
        let block_end = ends
            .iter()
            .find(|e| e.get(0).expect("group 0 is the whole match").start() > whole.start())
            .map_or(text.len(), |e| {
                e.get(0).expect("group 0 is the whole match").end()
            });
        macros.push(FoundMacro {
            name: dbt_name,
            internal,
            start: whole.start(),
            end: block_end,
        });
    }
    for cap in &ends {
        let whole = cap.get(0).expect("group 0 is the whole match");
        if &cap[2] != "macro" {
            repl.push((
                whole.start(),
                whole.end(),
                format!("{{%{} endmacro {}%}}", &cap[1], &cap[3]),
            ));
        }
    }
    repl.extend(mutable_literals(text));
    let (new, map) = apply(text, repl.clone());
    // Date arithmetic is found on the rewritten text (dbt's block tags are not minijinja's),
    // then placed in the user's text; it never overlaps the edits above.
    let arith = arithmetic(&new);
    if arith.is_empty() {
        return Rewritten {
            text: new,
            map,
            macros,
        };
    }
    repl.extend(
        arith
            .into_iter()
            .map(|(s, e, t)| (map.to_original(s), map.to_original(e), t)),
    );
    let (text, map) = apply(text, repl);
    Rewritten { text, map, macros }
}

/// One macro of a file as its own template: the block rewritten, placed after enough newlines
/// and spaces that its lines and columns are those of the file. Evaluating it defines just this
/// macro, which keeps every macro call cheap.
pub fn macro_block(text: &str, m: &FoundMacro) -> (String, OffsetMap) {
    let block = &text[m.start..m.end];
    let rw = macro_file(block);
    let before = &text[..m.start];
    let lines = before.matches('\n').count();
    let col = before.len() - before.rfind('\n').map_or(0, |p| p + 1);
    let mut out = String::with_capacity(lines + col + rw.text.len());
    out.extend(std::iter::repeat_n('\n', lines));
    out.extend(std::iter::repeat_n(' ', col));
    let prefix = out.len();
    out.push_str(&rw.text);
    let mut edits = vec![Edit {
        orig_start: 0,
        orig_end: m.start,
        new_start: 0,
        new_end: prefix,
    }];
    edits.extend(rw.map.edits.iter().map(|e| Edit {
        orig_start: e.orig_start + m.start,
        orig_end: e.orig_end + m.start,
        new_start: e.new_start + prefix,
        new_end: e.new_end + prefix,
    }));
    (out, OffsetMap { edits })
}

/// Rewrite a model, test, analysis or hook template.
pub fn node_template(text: &str) -> Option<(String, OffsetMap)> {
    let mut repl = mutable_literals(text);
    repl.extend(arithmetic(text));
    if repl.is_empty() {
        None
    } else {
        Some(apply(text, repl))
    }
}

/// Rewrite a standalone expression (a test argument, a config value): date arithmetic only.
pub fn expression(expr: &str) -> Option<String> {
    const OPEN: &str = "{{ ";
    let wrapped = format!("{OPEN}{expr} }}}}");
    let repl = arithmetic(&wrapped);
    if repl.is_empty() {
        return None;
    }
    let (text, _) = apply(&wrapped, repl);
    Some(text[OPEN.len()..text.len() - 3].to_string())
}

/// `{% set x = [] %}` and `{% set x = {} %}` (also with initial items) become mutable.
fn mutable_literals(text: &str) -> Vec<(usize, usize, String)> {
    static SET: OnceLock<Regex> = OnceLock::new();
    let set = re(&SET, r"\{%-?\s*set\s+[A-Za-z_][A-Za-z0-9_]*\s*=\s*([\[{])");
    let mut repl = Vec::new();
    if !text.contains("set") {
        empty_literals(text, &mut repl);
        return repl;
    }
    for cap in set.captures_iter(text) {
        let open = cap.get(1).expect("the pattern has this group");
        let Some(close) = matching_bracket(text, open.start()) else {
            continue;
        };
        // Only when the literal is the whole right-hand side.
        let after = text[close + 1..].trim_start();
        if !(after.starts_with("%}") || after.starts_with("-%}")) {
            continue;
        }
        let func = if open.as_str() == "[" {
            "__weir_list("
        } else {
            "__weir_dict("
        };
        repl.push((open.start(), open.start(), func.to_string()));
        repl.push((close + 1, close + 1, ")".to_string()));
    }
    empty_literals(text, &mut repl);
    repl
}

/// Empty `[]` and `{}` literals anywhere in a tag or an expression (`{% do d.update({k: []}) %}`
/// then `d[k].append(x)`) become mutable too; those a `set` rewrite above already wraps are
/// left to it.
fn empty_literals(text: &str, repl: &mut Vec<(usize, usize, String)>) {
    if !(text.contains("[]") || text.contains("{}")) {
        return;
    }
    let wrapped: std::collections::HashSet<usize> = repl.iter().map(|r| r.0).collect();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        // Inside `{{ ... }}` or `{% ... %}` only; comments and plain text are left alone.
        let close = match (bytes[i], bytes[i + 1]) {
            (b'{', b'{') => b'}',
            (b'{', b'%') => b'%',
            _ => {
                i += 1;
                continue;
            }
        };
        i += 2;
        let mut quote: Option<u8> = None;
        let mut depth = 0i32;
        while i + 1 < bytes.len() {
            let b = bytes[i];
            if let Some(q) = quote {
                if b == b'\\' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
                i += 1;
                continue;
            }
            if depth == 0 && b == close && bytes[i + 1] == b'}' {
                i += 2;
                break;
            }
            match b {
                b'\'' | b'"' => quote = Some(b),
                b'[' | b'{' => {
                    let end = if b == b'[' { b']' } else { b'}' };
                    let mut j = i + 1;
                    while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    if j < bytes.len() && bytes[j] == end && !wrapped.contains(&i) {
                        let func = if b == b'[' {
                            "__weir_list([])"
                        } else {
                            "__weir_dict({})"
                        };
                        repl.push((i, j + 1, func.to_string()));
                        i = j + 1;
                        continue;
                    }
                    depth += 1;
                }
                b']' | b'}' => depth -= 1,
                _ => {}
            }
            i += 1;
        }
    }
}

/// Words that mark a template as one that may do date arithmetic.
const DATE_WORDS: [&str; 4] = ["datetime", "timedelta", "run_started_at", "pytz"];

/// `a + b` and `a - b` as `__weir_arith(a, '+', b)`, in templates that use dates. A template
/// minijinja cannot parse is left alone (its own error is reported when it is compiled).
fn arithmetic(text: &str) -> Vec<(usize, usize, String)> {
    use minijinja::machinery::{parse, WhitespaceConfig};
    if !DATE_WORDS.iter().any(|w| text.contains(w)) {
        return Vec::new();
    }
    let Ok(tree) = parse(
        text,
        "<rewrite>",
        Default::default(),
        WhitespaceConfig::default(),
    ) else {
        return Vec::new();
    };
    let mut edits = Vec::new();
    let mut walker = ArithWalker {
        text,
        edits: &mut edits,
    };
    walker.stmt(&tree);
    edits
}

struct ArithWalker<'t, 'e> {
    text: &'t str,
    edits: &'e mut Vec<(usize, usize, String)>,
}

impl ArithWalker<'_, '_> {
    fn stmts(&mut self, list: &[minijinja::machinery::ast::Stmt]) {
        for s in list {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &minijinja::machinery::ast::Stmt) {
        use minijinja::machinery::ast::Stmt;
        match s {
            Stmt::Template(t) => self.stmts(&t.children),
            Stmt::EmitExpr(e) => self.expr(&e.expr),
            Stmt::EmitRaw(_) | Stmt::Continue(_) | Stmt::Break(_) => {}
            Stmt::ForLoop(f) => {
                self.expr(&f.iter);
                if let Some(e) = &f.filter_expr {
                    self.expr(e);
                }
                self.stmts(&f.body);
                self.stmts(&f.else_body);
            }
            Stmt::IfCond(c) => {
                self.expr(&c.expr);
                self.stmts(&c.true_body);
                self.stmts(&c.false_body);
            }
            Stmt::WithBlock(w) => {
                for (_, e) in &w.assignments {
                    self.expr(e);
                }
                self.stmts(&w.body);
            }
            Stmt::Set(x) => self.expr(&x.expr),
            Stmt::SetBlock(x) => {
                if let Some(e) = &x.filter {
                    self.expr(e);
                }
                self.stmts(&x.body);
            }
            Stmt::AutoEscape(x) => self.stmts(&x.body),
            Stmt::FilterBlock(x) => {
                self.expr(&x.filter);
                self.stmts(&x.body);
            }
            Stmt::Block(x) => self.stmts(&x.body),
            Stmt::Import(_) | Stmt::FromImport(_) | Stmt::Extends(_) | Stmt::Include(_) => {}
            Stmt::Macro(m) => {
                for d in &m.defaults {
                    self.expr(d);
                }
                self.stmts(&m.body);
            }
            Stmt::CallBlock(c) => {
                self.call(&c.call);
                self.stmts(&c.macro_decl.body);
            }
            Stmt::Do(d) => self.call(&d.call),
        }
    }

    fn call(&mut self, c: &minijinja::machinery::ast::Call) {
        self.expr(&c.expr);
        self.args(&c.args);
    }

    fn args(&mut self, args: &[minijinja::machinery::ast::CallArg]) {
        use minijinja::machinery::ast::CallArg;
        for a in args {
            match a {
                CallArg::Pos(e)
                | CallArg::Kwarg(_, e)
                | CallArg::PosSplat(e)
                | CallArg::KwargSplat(e) => self.expr(e),
            }
        }
    }

    fn expr(&mut self, e: &minijinja::machinery::ast::Expr) {
        use minijinja::machinery::ast::{BinOpKind, Expr};
        match e {
            Expr::Var(_) | Expr::Const(_) => {}
            Expr::Slice(s) => {
                self.expr(&s.expr);
                for x in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                    self.expr(x);
                }
            }
            Expr::UnaryOp(u) => self.expr(&u.expr),
            Expr::BinOp(b) => {
                if matches!(b.op, BinOpKind::Add | BinOpKind::Sub) {
                    self.wrap(b.span(), b.left.span().end_offset as usize, &b.right);
                }
                self.expr(&b.left);
                self.expr(&b.right);
            }
            Expr::Compare(c) => {
                self.expr(&c.expr);
                for op in &c.ops {
                    self.expr(&op.expr);
                }
            }
            Expr::IfExpr(i) => {
                self.expr(&i.test_expr);
                self.expr(&i.true_expr);
                if let Some(f) = &i.false_expr {
                    self.expr(f);
                }
            }
            Expr::Filter(f) => {
                if let Some(x) = &f.expr {
                    self.expr(x);
                }
                self.args(&f.args);
            }
            Expr::Test(t) => {
                self.expr(&t.expr);
                self.args(&t.args);
            }
            Expr::GetAttr(g) => self.expr(&g.expr),
            Expr::GetItem(g) => {
                self.expr(&g.expr);
                self.expr(&g.subscript_expr);
            }
            Expr::Call(c) => self.call(c),
            Expr::List(l) => {
                for x in &l.items {
                    self.expr(x);
                }
            }
            Expr::Map(m) => {
                for x in m.keys.iter().chain(&m.values) {
                    self.expr(x);
                }
            }
        }
    }

    /// `left OP right` spanning `whole` becomes `__weir_arith(left, 'OP', right)`: an opening at
    /// the start, the operator (the first `+`/`-` after the left operand and its closing
    /// parentheses) replaced, a closing at the end.
    fn wrap(
        &mut self,
        whole: minijinja::machinery::Span,
        left_end: usize,
        right: &minijinja::machinery::ast::Expr,
    ) {
        let bytes = self.text.as_bytes();
        let (start, end) = (whole.start_offset as usize, whole.end_offset as usize);
        let right_start = right.span().start_offset as usize;
        let Some(op) =
            (left_end..right_start.min(bytes.len())).find(|&i| matches!(bytes[i], b'+' | b'-'))
        else {
            return;
        };
        let sign = bytes[op] as char;
        self.edits.push((start, start, "__weir_arith(".into()));
        self.edits.push((op, op + 1, format!(", '{sign}',")));
        self.edits.push((end, end, ")".into()));
    }
}

fn matching_bracket(text: &str, open: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0i32;
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        if let Some(q) = quote {
            if b == q {
                quote = None;
            }
            continue;
        }
        match b {
            b'\'' | b'"' => quote = Some(b),
            b'[' | b'{' | b'(' => depth += 1,
            b']' | b'}' | b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            b'%' if bytes.get(i + 1) == Some(&b'}') => return None,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_macros_and_maps_offsets_back() {
        let src = "{% macro a(x) %}{{ x }}{% endmacro %}\n{% test t(model) %}select 1{% endtest %}";
        let r = macro_file(src);
        assert!(r.text.contains("macro __weir_m_a(x)"), "{}", r.text);
        assert!(
            r.text.contains("macro __weir_m_test_t(model)"),
            "{}",
            r.text
        );
        assert_eq!(
            r.macros.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            ["a", "test_t"]
        );
        let pos = r.text.find("select 1").unwrap();
        assert_eq!(r.map.to_original(pos), src.find("select 1").unwrap());
    }

    #[test]
    fn macro_blocks_keep_file_positions() {
        let src = "{% macro a() %}x{% endmacro %}\n\n  {% macro b(y) %}{{ y }}{% endmacro %}";
        let r = macro_file(src);
        let (text, map) = macro_block(src, &r.macros[1]);
        assert!(!text.contains("__weir_m_a"));
        let pos = text.find("{{ y }}").unwrap();
        assert_eq!(map.to_original(pos), src.find("{{ y }}").unwrap());
        assert_eq!(text[..pos].matches('\n').count(), 2);
    }

    #[test]
    fn set_literals_become_mutable() {
        let src = "{% set cols = [] %}{% set m = {'a': [1]} %}{{ cols }}";
        let (out, map) = node_template(src).unwrap();
        assert_eq!(
            out,
            "{% set cols = __weir_list([]) %}{% set m = __weir_dict({'a': [1]}) %}{{ cols }}"
        );
        assert_eq!(
            map.to_original(out.find("{{ cols").unwrap()),
            src.find("{{ cols").unwrap()
        );
    }

    #[test]
    fn composed_maps_point_at_original() {
        let src = "{% macro a() %}{% set l = [] %}{{ oops( }}{% endmacro %}";
        let r = macro_file(src);
        let pos = r.text.find("oops").unwrap();
        assert_eq!(r.map.to_original(pos), src.find("oops").unwrap());
    }

    #[test]
    fn date_arithmetic_becomes_calls() {
        let src = "{% macro d(x) %}{{ (run_started_at - modules.datetime.timedelta(1)) - x + 1 }}{{ marker }}{% endmacro %}";
        let r = macro_file(src);
        assert!(
            r.text.contains("__weir_arith(__weir_arith((__weir_arith(run_started_at , '-', modules.datetime.timedelta(1))) , '-', x) , '+', 1)"),
            "{}",
            r.text
        );
        let pos = r.text.find("marker").unwrap();
        assert_eq!(r.map.to_original(pos), src.find("marker").unwrap());
        // Templates without dates keep minijinja's own operators.
        assert!(node_template("{{ 1 + 2 }}").is_none());
        assert_eq!(
            expression("modules.datetime.date.today() - modules.datetime.timedelta(2)").unwrap(),
            "__weir_arith(modules.datetime.date.today() , '-', modules.datetime.timedelta(2))"
        );
    }
}
