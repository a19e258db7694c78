//! SQL-level work on compiled text through sqlparser (the version DataFusion uses): injecting
//! ephemeral models as CTEs while keeping the user's formatting.

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, Tokenizer};

/// Insert `ctes` (name, sql) at the head of `sql`'s WITH clause, creating one if needed, as dbt
/// does: `with __dbt__cte__a as (\n...\n), <the rest>`. The query's own text is kept verbatim;
/// the tokenizer finds where the statement and its WITH keyword begin, skipping comments.
pub fn inject_ctes(sql: &str, ctes: &[(String, String)]) -> String {
    if ctes.is_empty() {
        return sql.to_string();
    }
    let defs = ctes
        .iter()
        .map(|(name, body)| format!("{name} as (\n{body}\n)"))
        .collect::<Vec<_>>()
        .join(", ");
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .with_unescape(false)
        .tokenize_with_location()
        .unwrap_or_default();
    let mut significant = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)));
    let first = significant.next();
    match first {
        Some(t) if matches!(&t.token, Token::Word(w) if w.keyword == Keyword::WITH) => {
            let mut after = t;
            if let Some(next) = significant.next() {
                if matches!(&next.token, Token::Word(w) if w.keyword == Keyword::RECURSIVE) {
                    after = next;
                }
            }
            let end = offset(
                sql,
                after.span.end.line as usize,
                after.span.end.column as usize,
            );
            format!("{} {defs}, {}", &sql[..end], sql[end..].trim_start())
        }
        Some(t) => {
            let start = offset(
                sql,
                t.span.start.line as usize,
                t.span.start.column as usize,
            );
            format!("{}with {defs}\n{}", &sql[..start], &sql[start..])
        }
        None => format!("with {defs}\n{sql}"),
    }
}

fn offset(text: &str, line: usize, col: usize) -> usize {
    crate::diagnostics::offset_of(text, line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepends_a_with_clause() {
        let out = inject_ctes(
            "-- note\nselect * from __dbt__cte__a",
            &[("__dbt__cte__a".into(), "select 1 as x".into())],
        );
        assert_eq!(
            out,
            "-- note\nwith __dbt__cte__a as (\nselect 1 as x\n)\nselect * from __dbt__cte__a"
        );
    }

    #[test]
    fn joins_an_existing_with_clause() {
        let out = inject_ctes(
            "with b as (select 2)\nselect * from b, __dbt__cte__a",
            &[("__dbt__cte__a".into(), "select 1".into())],
        );
        assert_eq!(
            out,
            "with __dbt__cte__a as (\nselect 1\n), b as (select 2)\nselect * from b, __dbt__cte__a"
        );
        let parsed = sqlparser::parser::Parser::parse_sql(&PostgreSqlDialect {}, &out);
        assert!(parsed.is_ok(), "{parsed:?}");
    }
}
