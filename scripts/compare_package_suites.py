#!/usr/bin/env python3
"""Build the integration-test projects that dbt packages publish, with dbt-duckdb and with weir,
and compare per-node verdicts and the rows of every relation.

  compare_package_suites.py WEIR_BIN [--dbt /opt/dbtenv/bin/dbt] [--mirrors /work/.mirror]
                            [--suites dbt-date,dbt-utils,...] [--work DIR] [--json OUT]

Each suite is a git repository (a package) with an `integration_tests/` project that installs
the package with `local: ../`. Repositories come from a directory of mirrors laid out as the
search tool's `fetch` leaves them (`<owner>+<name>/repo`, bare git). Packages the suites take
from the dbt hub (dbt_utils, dbt_date) are served by a hub on 127.0.0.1 started here, built
from the same mirrors (one version per release tag), so `dbt deps` and `weir deps` both run
offline and install the same code.

For each suite, in fresh copies: `dbt deps && dbt build` (dbt-duckdb, a duckdb file) and
`weir deps && weir build` (a `datafusion` profile: DataFusion and a local Delta warehouse in the
project; the only change to the suite, as with dbt-duckdb's own profile). Then:
  - verdicts: each node's status in run_results.json (success/pass/fail/error/warn/skipped);
  - rows: every table dbt-duckdb wrote, read with duckdb, against the Delta table weir wrote,
    read with the deltalake package, normalized as scripts/expected_rows.py does (views are
    compared through the tables they feed).
Prints a table per suite and a summary line; writes the details as JSON with --json.
Nothing here is committed from the packages: they are cloned into the work directory.
"""
import argparse
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from expected_rows import rows_of  # noqa: E402

# suite name -> mirror of the package repository
SUITES = {
    "dbt-date": "calogica+dbt-date",
    "dbt-expectations": "calogica+dbt-expectations",
    "dbt-utils": "dbt-labs+dbt-utils",
    "dbt-audit-helper": "dbt-labs+dbt-audit-helper",
    "dbt-codegen": "dbt-labs+dbt-codegen",
}
# hub package -> (mirror, project name)
HUB = {
    "dbt-labs/dbt_utils": ("dbt-labs+dbt-utils", "dbt_utils"),
    "calogica/dbt_date": ("calogica+dbt-date", "dbt_date"),
}
WEIR_PROFILE = """integration_tests:
  target: weir
  outputs:
    weir:
      type: datafusion
      schema: main
      threads: 2
"""
PROFILE = """integration_tests:
  target: duckdb
  outputs:
    duckdb:
      type: duckdb
      path: "{path}"
      threads: 2
"""


def git(repo, *args, **kw):
    return subprocess.run(["git", "--git-dir", repo, *args], check=True, capture_output=True, **kw).stdout


def release_tags(repo):
    tags = git(repo, "tag", "--list").decode().split()
    return [t for t in tags if re.fullmatch(r"v?\d+\.\d+\.\d+", t)]


class Hub(http.server.BaseHTTPRequestHandler):
    """The dbt hub's JSON API (`api/v1/index.json`, `api/v1/<org>/<name>.json`) and tarballs."""

    mirrors = ""
    base = ""

    def log_message(self, *a):
        pass

    def send(self, body, ctype):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?")[0].lstrip("/")
        if path == "api/v1/index.json":
            return self.send(json.dumps(sorted(HUB)).encode(), "application/json")
        m = re.fullmatch(r"api/v1/([^/]+/[^/]+)\.json", path)
        if m and m.group(1) in HUB:
            mirror, name = HUB[m.group(1)]
            repo = os.path.join(self.mirrors, mirror, "repo")
            versions = {}
            for tag in release_tags(repo):
                v = tag.lstrip("v")
                versions[v] = {
                    "name": name,
                    "packages": [],
                    "downloads": {"tarball": f"{self.base}tarballs/{m.group(1)}/{tag}.tar.gz"},
                }
            body = {"name": name, "namespace": m.group(1).split("/")[0], "versions": versions}
            return self.send(json.dumps(body).encode(), "application/json")
        m = re.fullmatch(r"tarballs/([^/]+/[^/]+)/(.+)\.tar\.gz", path)
        if m and m.group(1) in HUB:
            mirror, name = HUB[m.group(1)]
            repo = os.path.join(self.mirrors, mirror, "repo")
            data = git(repo, "archive", "--format=tar.gz", f"--prefix={name}-{m.group(2)}/", m.group(2))
            return self.send(data, "application/gzip")
        self.send_response(404)
        self.end_headers()


def run(cmd, cwd, env, log):
    with open(log, "w") as f:
        return subprocess.run(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT).returncode


def verdicts(project):
    path = os.path.join(project, "target", "run_results.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return {r["unique_id"]: r["status"] for r in json.load(f)["results"]}


def duckdb_tables(db):
    import duckdb
    con = duckdb.connect(db, read_only=True)
    out = {}
    for schema, name, kind in con.execute(
        "select table_schema, table_name, table_type from information_schema.tables"
    ).fetchall():
        if kind != "BASE TABLE":
            continue
        cur = con.execute(f'select * from "{schema}"."{name}"')
        out[(schema, name)] = rows_of([d[0] for d in cur.description], cur.fetchall())
    return out


def delta_rows(warehouse, schema, name):
    from deltalake import DeltaTable
    path = os.path.join(warehouse, schema, name)
    if not os.path.isdir(os.path.join(path, "_delta_log")):
        return None
    dt = DeltaTable(path)
    t = dt.to_pyarrow_table().select([f.name for f in dt.schema().fields])
    return rows_of(t.column_names, zip(*[c.to_pylist() for c in t.columns]) if t.num_rows else [])


def suite(name, args, env, work):
    repo = os.path.join(args.mirrors, SUITES[name], "repo")
    out = {"suite": name}
    for side in ("dbt", "weir"):
        d = os.path.join(work, name, side)
        shutil.rmtree(d, ignore_errors=True)
        subprocess.run(["git", "clone", "-q", repo, d], check=True)
    dproj = os.path.join(work, name, "dbt", "integration_tests")
    wproj = os.path.join(work, name, "weir", "integration_tests")
    db = os.path.join(work, name, "dbt.duckdb")
    with open(os.path.join(work, name, "profiles.yml"), "w") as f:
        f.write(PROFILE.format(path=db))
    dbt_args = ["--profiles-dir", os.path.join(work, name)]
    os.makedirs(os.path.join(work, name, "weir-profile"), exist_ok=True)
    with open(os.path.join(work, name, "weir-profile", "profiles.yml"), "w") as f:
        f.write(WEIR_PROFILE)
    weir_args = ["--profiles-dir", os.path.join(work, name, "weir-profile")]
    logs = os.path.join(work, name)
    run([args.dbt, "deps", *dbt_args], dproj, env, f"{logs}/dbt-deps.log")
    out["dbt_exit"] = run([args.dbt, "build", *dbt_args], dproj, env, f"{logs}/dbt-build.log")
    deps = run([args.weir, "deps", *weir_args], wproj, env, f"{logs}/weir-deps.log")
    out["weir_deps"] = "weir deps"
    if deps != 0:
        # A weir without `deps` (or one that failed): use what `dbt deps` installed, and say so.
        out["weir_deps"] = "a copy of dbt deps' dbt_packages (weir deps failed)"
        dst = os.path.join(wproj, "dbt_packages")
        shutil.rmtree(dst, ignore_errors=True)
        os.makedirs(dst)
        src = os.path.join(dproj, "dbt_packages")
        dclone, wclone = os.path.join(work, name, "dbt"), os.path.join(work, name, "weir")
        for entry in os.listdir(src):
            path = os.path.join(src, entry)
            if os.path.islink(path):  # `local:` packages: the same place in weir's clone
                target = os.path.realpath(path)
                if target.startswith(dclone):
                    target = wclone + target[len(dclone):]
                os.symlink(target, os.path.join(dst, entry))
            else:
                shutil.copytree(path, os.path.join(dst, entry), symlinks=True)
    out["weir_exit"] = run([args.weir, "build", *weir_args], wproj, env, f"{logs}/weir-build.log")

    dv, wv = verdicts(dproj), verdicts(wproj)
    out["dbt"] = dict(Counter(dv.values()))
    out["weir"] = dict(Counter(wv.values()))
    out["verdict_differences"] = {
        uid: [dv.get(uid), wv.get(uid)]
        for uid in sorted(set(dv) | set(wv))
        if dv.get(uid) != wv.get(uid)
    }
    equal, differ = 0, {}
    expected = duckdb_tables(db) if os.path.exists(db) else {}
    for (schema, rel), (cols, rows) in sorted(expected.items()):
        got = delta_rows(os.path.join(wproj, "warehouse"), schema, rel)
        if got is None:
            differ[f"{schema}.{rel}"] = "missing in weir's warehouse"
        elif got[0] != cols:
            differ[f"{schema}.{rel}"] = f"columns {got[0]} != {cols}"
        elif got[1] != rows:
            differ[f"{schema}.{rel}"] = f"{len(got[1])} rows vs {len(rows)}; " + (
                f"first differing: {next((r for r in got[1] if r not in rows), None)}")
        else:
            equal += 1
    out["tables"] = len(expected)
    out["tables_equal"] = equal
    out["table_differences"] = differ
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("weir")
    p.add_argument("--dbt", default="/opt/dbtenv/bin/dbt")
    p.add_argument("--mirrors", default="/work/.mirror")
    p.add_argument("--suites", default=",".join(SUITES))
    p.add_argument("--work", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    args.weir = os.path.abspath(args.weir)
    work = args.work or tempfile.mkdtemp(prefix="weir-suites-")
    os.makedirs(work, exist_ok=True)

    Hub.mirrors = args.mirrors
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    Hub.base = f"http://127.0.0.1:{server.server_port}/"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ, DBT_PACKAGE_HUB_URL=Hub.base, DBT_SEND_ANONYMOUS_USAGE_STATS="false",
               DBT_VERSION_CHECK="false", NO_COLOR="1")

    results = []
    for name in args.suites.split(","):
        r = suite(name, args, env, work)
        results.append(r)
        print(f"\n## {name}")
        print(f"dbt-duckdb: {r['dbt']} (exit {r['dbt_exit']})")
        print(f"weir:       {r['weir']} (exit {r['weir_exit']}, packages by {r['weir_deps']})")
        print(f"nodes whose verdicts differ: {len(r['verdict_differences'])}")
        for uid, (a, b) in list(r["verdict_differences"].items())[:40]:
            print(f"  {uid}: dbt {a}, weir {b}")
        print(f"tables equal: {r['tables_equal']} of {r['tables']}")
        for rel, why in r["table_differences"].items():
            print(f"  {rel}: {why}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    print(f"\nwork directory (logs, both projects): {work}")
    server.shutdown()
    sys.stdout.flush()
    os._exit(0 if all(not r["verdict_differences"] and not r["table_differences"] for r in results) else 1)


if __name__ == "__main__":
    main()
