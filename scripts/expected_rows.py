#!/usr/bin/env python3
"""Dump every table and view of a dbt-duckdb database as normalized, sorted CSV rows, or compare
such a dump with weir's Delta warehouse.

  expected_rows.py dump DUCKDB_FILE OUT_DIR [--schema main]   # once, from `dbt build` on duckdb
  expected_rows.py compare EXPECTED_DIR WAREHOUSE_DIR [--schema main]

Normalization (so two engines agree on what "the same rows" means): NULL -> empty, floats and
decimals rounded to 6 places with trailing zeros removed, dates as YYYY-MM-DD, timestamps as
YYYY-MM-DD HH:MM:SS[.ffffff], booleans as true/false; rows sorted; column names lowercased.
"""
import argparse, csv, datetime, decimal, os, sys


def norm(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (float, decimal.Decimal)):
        s = f"{float(v):.6f}".rstrip("0").rstrip(".")
        return "0" if s in ("-0", "") else s
    if isinstance(v, datetime.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0").rstrip(".")
    if isinstance(v, datetime.date):
        return v.strftime("%Y-%m-%d")
    return str(v)


def rows_of(columns, records):
    return [c.lower() for c in columns], sorted([norm(v) for v in r] for r in records)


def dump(args):
    import duckdb
    con = duckdb.connect(args.source, read_only=True)
    names = [r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_schema = ? order by 1", [args.schema]).fetchall()]
    os.makedirs(args.target, exist_ok=True)
    for name in names:
        cur = con.execute(f'select * from "{args.schema}"."{name}"')
        cols, rows = rows_of([d[0] for d in cur.description], cur.fetchall())
        with open(os.path.join(args.target, f"{name}.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols)
            w.writerows(rows)
    print(f"wrote {len(names)} relations to {args.target}")


def compare(args):
    from deltalake import DeltaTable
    import json
    bad = 0
    files = sorted(f for f in os.listdir(args.source) if f.endswith(".csv"))
    for f in files:
        name = f[:-4]
        with open(os.path.join(args.source, f), newline="") as fh:
            r = list(csv.reader(fh))
        exp_cols, exp_rows = r[0], sorted(r[1:])
        path = os.path.join(args.target, args.schema, name)
        if os.path.exists(os.path.join(path, "_weir_view.json")):
            print(f"SKIP {name}: a view (compared through its tables)")
            continue
        if not os.path.isdir(os.path.join(path, "_delta_log")):
            print(f"MISSING {name}")
            bad += 1
            continue
        dt = DeltaTable(path)
        # Columns in the table's schema order (a reader may put partition columns last).
        t = dt.to_pyarrow_table().select([f.name for f in dt.schema().fields])
        cols, rows = rows_of(t.column_names, zip(*[c.to_pylist() for c in t.columns]) if t.num_rows else [])
        if cols != exp_cols:
            print(f"COLUMNS {name}: {cols} != {exp_cols}")
            bad += 1
        elif rows != exp_rows:
            missing = [x for x in exp_rows if x not in rows][:3]
            extra = [x for x in rows if x not in exp_rows][:3]
            print(f"ROWS {name}: {len(rows)} vs {len(exp_rows)} expected; missing {missing}; unexpected {extra}")
            bad += 1
        else:
            print(f"OK {name} ({len(rows)} rows)")
    print(f"{len(files) - bad} of {len(files)} relations match")
    return 1 if bad else 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["dump", "compare"])
    p.add_argument("source")
    p.add_argument("target")
    p.add_argument("--schema", default="main")
    a = p.parse_args()
    code = dump(a) if a.mode == "dump" else compare(a)
    # Leave without interpreter teardown: deltalake's native threads can abort the process
    # while Python shuts down ("terminate called without an active exception"), after the
    # work is done, which would turn a pass into a crash.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
