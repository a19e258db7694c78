#!/usr/bin/env python3
"""Validate a target/manifest.json against dbt's published manifest v12 JSON schema.

Usage: scripts/check_manifest_schema.py MANIFEST_PATH [--limit N]

The schema is not vendored in this repo: it is loaded from the installed PyPI
package `dbt-artifacts-parser` (dbt_artifacts_parser/resources/manifest/
manifest_v12.json; versions 0.8-0.12 ship it in the wheel, 0.13+ dropped the
JSON files). Install with:

    pip install 'dbt-artifacts-parser==0.12.0' 'jsonschema>=4.18'

Prints every violation grouped by kind (schema keyword + schema location),
with the JSON path of each offending value (first N per group, default 20).
Exit status: 0 valid, 1 violations, 2 usage/setup error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from importlib import resources

SCHEMA_PACKAGE = "dbt_artifacts_parser"
SCHEMA_PARTS = ("resources", "manifest", "manifest_v12.json")


def load_schema() -> tuple[dict, str]:
    try:
        from importlib.metadata import version

        pkg_version = version("dbt-artifacts-parser")
        res = resources.files(SCHEMA_PACKAGE)
    except Exception as exc:  # ModuleNotFoundError, PackageNotFoundError
        sys.exit(
            f"error: cannot import {SCHEMA_PACKAGE} ({exc}); "
            "pip install 'dbt-artifacts-parser==0.12.0' 'jsonschema>=4.18'"
        )
    for part in SCHEMA_PARTS:
        res = res / part
    if not res.is_file():
        sys.exit(
            f"error: dbt-artifacts-parser {pkg_version} has no "
            f"{'/'.join(SCHEMA_PARTS)} (0.13+ dropped the JSON schemas); "
            "pip install 'dbt-artifacts-parser==0.12.0'"
        )
    return json.loads(res.read_text(encoding="utf-8")), f"{SCHEMA_PACKAGE} {pkg_version}: {'/'.join(SCHEMA_PARTS)}"


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


def leaf_errors(err):
    """For anyOf/oneOf failures, descend to the branch that got furthest
    (jsonschema.exceptions.best_match heuristic) so the message is useful."""
    from jsonschema.exceptions import best_match

    while err.context:
        err = best_match(err.context)
    return err


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("manifest")
    ap.add_argument("--limit", type=int, default=20, help="paths shown per group")
    args = ap.parse_args()

    try:
        import jsonschema
    except ModuleNotFoundError:
        sys.exit("error: pip install 'jsonschema>=4.18'")

    schema, origin = load_schema()
    with open(args.manifest, encoding="utf-8") as f:
        manifest = json.load(f)

    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)

    groups: dict[tuple[str, str], list] = defaultdict(list)
    total = 0
    for err in validator.iter_errors(manifest):
        total += 1
        leaf = leaf_errors(err)
        # Group by the leaf keyword and the schema location, with node-specific
        # keys (e.g. nodes/<unique_id>) collapsed so identical problems merge.
        schema_loc = "/".join(str(p) for p in leaf.relative_schema_path)
        key = (leaf.validator, schema_loc)
        groups[key].append((json_path(leaf.absolute_path), leaf.message, leaf.instance))

    print(f"schema: {origin} ({schema.get('$id', '?')})")
    print(f"manifest: {args.manifest}")
    if not total:
        print("OK: manifest validates against dbt manifest v12 schema")
        return 0

    print(f"FAIL: {total} violation(s) in {len(groups)} group(s)\n")
    for (kind, loc), items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        print(f"== [{kind}] x{len(items)}  (schema: {loc})")
        print(f"   {items[0][1][:300]}")
        for path, _msg, inst in items[: args.limit]:
            print(f"   - {path} = {short(inst)}")
        if len(items) > args.limit:
            print(f"   ... and {len(items) - args.limit} more")
        print()
    return 1


if __name__ == "__main__":
    sys.exit(main())
