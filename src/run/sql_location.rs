//! SQL errors point home: an engine error in a node's compiled SQL is shown at the line and
//! column of the node's own `.sql` file, with the compiled line as a note.
//!
//! The engine reports a position for parse errors (`at Line: 4, Column: 15`); for planning
//! errors that name an identifier (`No field named x`, `table 'x' not found`) the position is
//! the identifier's first whole-word occurrence in the compiled SQL. The compiled line is then
//! found in the source file: the same text (ignoring indentation) nearest to the same line
//! number, since Jinja mostly leaves SQL lines as they are; failing that, the identifier itself
//! in the source. When neither is found the error keeps no location and says where the
//! compiled code is.

use std::sync::Arc;

use crate::diagnostics::{Code, Diagnostic, Location};
use crate::parse::Node;

/// `d` with a location in the node's file, when the engine's message gives a way to find one.
pub(super) fn locate(n: &Node, d: Diagnostic) -> Diagnostic {
    if d.code != Code::E501 || d.location.is_some() || n.test_metadata.is_some() {
        return d;
    }
    let Some(compiled) = n.compiled_code.as_deref() else {
        return d;
    };
    let Some((line, col, word)) = compiled_position(&d.message, compiled) else {
        return d;
    };
    let source: Arc<str> = std::fs::read_to_string(&n.display_path)
        .map(Arc::from)
        .unwrap_or_else(|_| n.raw_code.clone());
    let compiled_line = compiled.lines().nth(line - 1).unwrap_or("");
    let same_shape = source.lines().count() == compiled.lines().count();
    let Some((start, len)) = source_position(
        &source,
        line,
        col,
        compiled_line,
        word.as_deref(),
        same_shape,
    ) else {
        return d;
    };
    d.at(Location::new(
        n.display_path.clone(),
        source.clone(),
        start,
        start + len.max(1),
    ))
    .note(format!("compiled line {line}: {}", compiled_line.trim()))
}

/// (line, column, identifier) in the compiled SQL, 1-based, from the engine's message.
fn compiled_position(message: &str, compiled: &str) -> Option<(usize, usize, Option<String>)> {
    if let Some(i) = message.find("at Line: ") {
        let rest = &message[i + "at Line: ".len()..];
        let line: usize = rest.split(',').next()?.trim().parse().ok()?;
        let col: usize = rest
            .split("Column: ")
            .nth(1)?
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()?;
        return Some((line.max(1), col.max(1), None));
    }
    let word = named_identifier(message)?;
    let (line, col) = find_word(compiled, &word)?;
    Some((line, col, Some(word)))
}

/// The identifier a planning error is about.
fn named_identifier(message: &str) -> Option<String> {
    let after = |marker: &str| -> Option<String> {
        let rest = &message[message.find(marker)? + marker.len()..];
        let word: String = rest
            .trim_start_matches(['\'', '"', '`'])
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        // `schema.table.column`: the last part is what the SQL most likely spells.
        let word = word.trim_end_matches('.');
        let last = word.rsplit('.').next().unwrap_or(word).to_string();
        (!last.is_empty()).then_some(last)
    };
    after("No field named ")
        .or_else(|| after("table '"))
        .or_else(|| after("Invalid function '"))
        .or_else(|| after("Invalid function "))
}

/// 1-based line and column of the first whole-word, case-insensitive `word` in `text`.
fn find_word(text: &str, word: &str) -> Option<(usize, usize)> {
    let lower = text.to_lowercase();
    let w = word.to_lowercase();
    let bytes = lower.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut from = 0;
    while let Some(i) = lower[from..].find(&w) {
        let at = from + i;
        let end = at + w.len();
        let before_ok = at == 0 || !is_ident(bytes[at - 1]);
        let after_ok = end >= bytes.len() || !is_ident(bytes[end]);
        if before_ok && after_ok {
            let line = lower[..at].matches('\n').count() + 1;
            let col = at - lower[..at].rfind('\n').map_or(0, |p| p + 1) + 1;
            return Some((line, col));
        }
        from = at + 1;
    }
    None
}

/// Byte offset and length in the source of the compiled position.
fn source_position(
    source: &str,
    line: usize,
    col: usize,
    compiled_line: &str,
    word: Option<&str>,
    same_shape: bool,
) -> Option<(usize, usize)> {
    let wanted = compiled_line.trim();
    let indent = compiled_line.len() - compiled_line.trim_start().len();
    let mut offset = 0;
    let mut best: Option<(usize, usize, usize)> = None; // (distance, line start, line indent)
    if !wanted.is_empty() {
        for (i, l) in source.split_inclusive('\n').enumerate() {
            let text = l.trim_end_matches(['\n', '\r']);
            if text.trim() == wanted {
                let distance = (i + 1).abs_diff(line);
                if best.is_none_or(|b| distance < b.0) {
                    best = Some((distance, offset, text.len() - text.trim_start().len()));
                }
            }
            offset += l.len();
        }
    }
    let len = word.map_or(1, str::len);
    if let Some((_, start, src_indent)) = best {
        let within = (col - 1).saturating_sub(indent) + src_indent;
        let line_len = source[start..].find('\n').unwrap_or(source.len() - start);
        return Some((start + within.min(line_len), len));
    }
    let Some(word) = word else {
        // A line Jinja rewrote (a `ref()`, a macro call). When the render kept the number of
        // lines, the line number still holds: point at the whole line.
        if !same_shape {
            return None;
        }
        let start: usize = source
            .split_inclusive('\n')
            .take(line - 1)
            .map(str::len)
            .sum();
        let text = source[start..].lines().next().unwrap_or("");
        let lead = text.len() - text.trim_start().len();
        return Some((start + lead, text.trim().len()));
    };
    let (l, c) = find_word(source, word)?;
    let start: usize = source
        .split_inclusive('\n')
        .take(l - 1)
        .map(str::len)
        .sum::<usize>()
        + c
        - 1;
    Some((start, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_position_maps_through_jinja() {
        let source =
            "{{ config(materialized='table') }}\nselect\n  id,\n  1 +\nfrom {{ ref('a') }} where\n";
        let compiled = "\nselect\n  id,\n  1 +\nfrom \"warehouse\".\"main\".\"a\" where\n";
        let (line, col, _) = compiled_position(
            "ParserError(\"Expected: x at Line: 4, Column: 5\")",
            compiled,
        )
        .unwrap();
        assert_eq!((line, col), (4, 5));
        let cl = compiled.lines().nth(line - 1).unwrap();
        let (start, _) = source_position(source, line, col, cl, None, true).unwrap();
        let loc = Location::new("m.sql", Arc::from(source), start, start + 1);
        assert_eq!(loc.line_col(), (4, 5));
    }

    #[test]
    fn unknown_column_is_found_in_the_source() {
        let source = "select\n    customer_id,\n    no_such_col as x\nfrom {{ ref('c') }}\n";
        let compiled = "select\n  customer_id,\n  no_such_col as x\nfrom warehouse.main.c\n";
        let msg = "Schema error: No field named no_such_col. Valid fields are c.customer_id.";
        let (line, col, word) = compiled_position(msg, compiled).unwrap();
        assert_eq!((line, col, word.as_deref()), (3, 3, Some("no_such_col")));
        let cl = compiled.lines().nth(line - 1).unwrap();
        let (start, len) = source_position(source, line, col, cl, word.as_deref(), true).unwrap();
        let loc = Location::new("m.sql", Arc::from(source), start, start + len);
        assert_eq!(loc.line_col(), (3, 5));
        assert_eq!(&source[start..start + len], "no_such_col");
    }
}
