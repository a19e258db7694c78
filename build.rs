//! Generates the error-code enum from `docs/errors.md`, so that every code weir uses is
//! documented exactly once: a code that is not in the tables does not exist.

use std::fmt::Write;

fn main() {
    let path = "docs/errors.md";
    println!("cargo:rerun-if-changed={path}");
    let text = std::fs::read_to_string(path).expect("docs/errors.md is readable");
    let mut codes: Vec<(String, String)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some(row) = line.strip_prefix('|') else {
            continue;
        };
        let mut cells = row.split(" | ");
        let first = cells.next().unwrap_or("").trim().trim_matches('`');
        let looks_like_code = first.len() >= 4
            && (first.starts_with('E') || first.starts_with('W'))
            && first[1..].chars().take(3).all(|c| c.is_ascii_digit());
        if !looks_like_code {
            continue;
        }
        let valid = first.len() == 4;
        assert!(
            valid,
            "{path}:{}: `{first}`: one row per code (E123 or W123), no ranges",
            n + 1
        );
        let meaning = cells.next().unwrap_or("").trim().to_string();
        assert!(
            !meaning.is_empty(),
            "{path}:{}: {first} has no meaning",
            n + 1
        );
        if let Some((_, _)) = codes.iter().find(|(c, _)| c == first) {
            panic!("{path}:{}: {first} is documented twice", n + 1);
        }
        codes.push((first.to_string(), meaning));
    }
    codes.sort();
    let mut out = String::new();
    out.push_str("/// A stable error or warning code, generated from docs/errors.md (one variant per row).\n");
    out.push_str(
        "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\npub enum Code {\n",
    );
    for (code, meaning) in &codes {
        let doc = meaning.replace('\\', "\\\\").replace('"', "\\\"");
        writeln!(out, "    #[doc = \"{doc}\"]\n    {code},").expect("writing to a String");
    }
    out.push_str(
        "}\n\nimpl Code {\n    /// Every code, in order.\n    pub const ALL: &'static [Code] = &[",
    );
    for (code, _) in &codes {
        write!(out, "Code::{code}, ").expect("writing to a String");
    }
    out.push_str("];\n\n    /// The code as printed: `E501`.\n    pub const fn as_str(self) -> &'static str {\n        match self {\n");
    for (code, _) in &codes {
        writeln!(out, "            Code::{code} => \"{code}\",").expect("writing to a String");
    }
    out.push_str("        }\n    }\n\n    /// The meaning docs/errors.md gives the code.\n    pub const fn meaning(self) -> &'static str {\n        match self {\n");
    for (code, meaning) in &codes {
        let m = meaning.replace('\\', "\\\\").replace('"', "\\\"");
        writeln!(out, "            Code::{code} => \"{m}\",").expect("writing to a String");
    }
    out.push_str("        }\n    }\n}\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("codes.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
