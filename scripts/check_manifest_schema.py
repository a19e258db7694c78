#!/usr/bin/env python3
"""Validate a dbt manifest.json against dbt's published manifest v12 JSON schema.

Usage: scripts/check_manifest_schema.py MANIFEST_PATH [--limit N] [--schema-package NAME]

The schema is not kept in this repo: it is read from an installed PyPI package.
  - dbt-artifacts-parser 0.8-0.12 ships it in its wheel as
    dbt_artifacts_parser/resources/manifest/manifest_v12.json (0.12.0: dbt 1.11.0a1's
    schema; 0.13 and later dropped the JSON files, keeping only pydantic models).
  - artifact-parser 1.0.1 ships dbt 1.11.6's as
    artifact_parser/dbt/resources/manifest/manifest_v12.json (differs only in `functions`).
Install:  pip install 'dbt-artifacts-parser==0.12.0' 'jsonschema>=4.18'

Prints every violation grouped by kind (JSON Schema keyword + path pattern such as
$.nodes[*].config.enabled, plus the node kind), with the JSON path of each offending value
(first N per group, default 20). Exit status: 0 valid, 1 violations, 2 usage or setup error.

Note: no published v12 schema knows dbt 1.12's additions yet: dbt 1.12's own manifest fails
it on `macros[*].config` (and `supported_languages: [..., "javascript"]`), so weir leaves
those out.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from importlib import metadata, resources

INSTALL_HINT = "pip install 'dbt-artifacts-parser==0.12.0' 'jsonschema>=4.18'"

# (import name, distribution name, path of the schema inside the package)
SCHEMA_SOURCES = {
    "dbt-artifacts-parser": (
        "dbt_artifacts_parser",
        "dbt-artifacts-parser",
        ("resources", "manifest", "manifest_v12.json"),
    ),
    "artifact-parser": (
        "artifact_parser",
        "artifact-parser",
        ("dbt", "resources", "manifest", "manifest_v12.json"),
    ),
}


def fail_setup(msg: str):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def load_schema(source: str) -> tuple[dict, str]:
    module, dist, parts = SCHEMA_SOURCES[source]
    try:
        version = metadata.version(dist)
        res = resources.files(module)
    except (ModuleNotFoundError, metadata.PackageNotFoundError) as exc:
        fail_setup(f"{dist} is not installed ({exc}); {INSTALL_HINT}")
    for part in parts:
        res = res / part
    where = f"{dist} {version}: {module}/{'/'.join(parts)}"
    if not res.is_file():
        fail_setup(
            f"{where} does not exist (dbt-artifacts-parser 0.13+ ships no JSON schemas); "
            + INSTALL_HINT
        )
    return json.loads(res.read_text(encoding="utf-8")), where


def json_path(parts) -> str:
    out = "$"
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif p.isidentifier():
            out += f".{p}"
        else:
            out += "[" + json.dumps(p) + "]"
    return out


def short(value, n: int = 160) -> str:
    s = json.dumps(value, default=str)
    return s if len(s) <= n else s[: n - 3] + "..."


MAP_KEYS = {
    "nodes", "sources", "macros", "docs", "exposures", "metrics", "groups", "selectors",
    "disabled", "parent_map", "child_map", "group_map", "saved_queries", "semantic_models",
    "unit_tests", "functions", "columns",
}


def path_pattern(parts) -> str:
    """The JSON path with ids under the manifest's maps and list indexes wildcarded, so that
    the same problem on many nodes groups together: $.nodes[*].config.enabled."""
    out, prev = "$", None
    for p in parts:
        if isinstance(p, int):
            out += "[]"
        elif prev in MAP_KEYS and not out.endswith("]"):
            out += "[*]"
        else:
            out += f".{p}"
        prev = p
    return out


def branch_candidates(err):
    """The anyOf/oneOf branches meant for this instance: those whose `resource_type` const
    matches the instance's (nodes are an anyOf of Seed, Model, SingularTest, ...)."""
    rt = err.instance.get("resource_type") if isinstance(err.instance, dict) else None
    if rt is None:
        return []
    return [
        i
        for i, sub in enumerate(err.validator_value)
        if isinstance(sub, dict)
        and sub.get("properties", {}).get("resource_type", {}).get("const") == rt
    ]


def describe(sub) -> str:
    if not isinstance(sub, dict):
        return json.dumps(sub)
    if "const" in sub:
        return f"const {json.dumps(sub['const'])}"
    if "enum" in sub:
        return f"one of {json.dumps(sub['enum'])}"
    if sub.get("title"):
        return sub["title"]
    if "type" in sub:
        fmt = f" ({sub['format']})" if "format" in sub else ""
        return f"{sub['type']}{fmt}"
    return "{...}" if sub else "anything"


def leaves(err):
    """The errors that explain `err`. For a node (anyOf of resource kinds) descend into the
    branch for its resource_type (the one it fails least, if several: tests are singular or
    generic); for other anyOf/oneOf (nullable values, unions) report the alternatives."""
    if err.validator in ("anyOf", "oneOf") and err.context:
        cands = branch_candidates(err)
        if cands:
            by_branch = {
                i: [e for e in err.context if e.relative_schema_path[0] == i] for i in cands
            }
            best = min(cands, key=lambda i: len(by_branch[i]))
            title = err.validator_value[best].get("title")
            out = []
            for e in by_branch[best]:
                for x in leaves(e):
                    if not getattr(x, "branch_title", None):
                        x.branch_title = title
                    out.append(x)
            return out
        # A failure inside one alternative that matched the shape (an object that is the
        # right kind but has a bad field) is more useful than "not valid under any".
        deep = [e for e in err.context if e.absolute_path != err.absolute_path]
        if deep and len({e.relative_schema_path[0] for e in deep}) == 1:
            out = []
            for e in deep:
                out.extend(leaves(e))
            return out
        alts = " | ".join(describe(s) for s in err.validator_value)
        err.message = f"{short(err.instance, 80)} is none of: {alts}"
        return [err]
    return [err]


def shown(err):
    """What to print for the offending value: the unexpected or missing keys of an object
    rather than the whole node."""
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = set(err.schema.get("properties", {}))
        return {"unexpected": sorted(k for k in err.instance if k not in known)}
    if err.validator == "required" and isinstance(err.instance, dict):
        return {"missing": [k for k in err.validator_value if k not in err.instance]}
    return err.instance


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("manifest")
    ap.add_argument("--limit", type=int, default=20, help="paths shown per group")
    ap.add_argument(
        "--schema-package",
        choices=sorted(SCHEMA_SOURCES),
        default="dbt-artifacts-parser",
        help="installed package to read manifest_v12.json from",
    )
    args = ap.parse_args()

    try:
        import jsonschema
    except ModuleNotFoundError:
        fail_setup("jsonschema is not installed; " + INSTALL_HINT)

    schema, origin = load_schema(args.schema_package)
    try:
        with open(args.manifest, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as exc:
        fail_setup(f"cannot read {args.manifest}: {exc}")

    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)

    groups: dict[tuple[str, str], list] = defaultdict(list)
    total = 0
    for top in validator.iter_errors(manifest):
        for err in leaves(top):
            total += 1
            title = getattr(err, "branch_title", None)
            where = path_pattern(err.absolute_path) + (f"  ({title})" if title else "")
            key = (err.validator, where)
            groups[key].append((json_path(err.absolute_path), err.message, shown(err)))

    print(f"schema: {origin} ({schema.get('$id', '?')})")
    print(f"manifest: {args.manifest}")
    if not total:
        print("OK: manifest validates against the dbt manifest v12 schema")
        return 0

    print(f"FAIL: {total} violation(s) in {len(groups)} group(s)\n")
    for (kind, where), items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        print(f"== [{kind}] x{len(items)}  at {where}")
        print(f"   e.g. {items[0][1][:300]}")
        for path, _msg, inst in items[: args.limit]:
            print(f"   - {path} = {short(inst)}")
        if len(items) > args.limit:
            print(f"   ... and {len(items) - args.limit} more")
        print()
    return 1


if __name__ == "__main__":
    sys.exit(main())
