#!/usr/bin/env python3
"""store_failures tables open in another Delta reader.

Builds a small temporary project whose `unique` and `accepted_values` tests fail with
`store_failures: true`, then reads the audit tables weir wrote with the Python `deltalake`
package (not weir) and checks that they hold exactly the failing rows.

Usage: scripts/check_store_failures.py [path/to/weir]   (default: target/debug/weir)
"""

import os
import shutil
import subprocess
import sys
import tempfile

from deltalake import DeltaTable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "debug", "weir")

FILES = {
    "dbt_project.yml": (
        "name: 'audit'\nconfig-version: 2\nversion: '1.0'\nprofile: 'audit'\n"
        "data_tests:\n  audit:\n    +store_failures: true\n"
    ),
    # id 2 twice, id 5 three times; one status nobody accepts.
    "seeds/raw_orders.csv": (
        "id,status\n1,placed\n2,placed\n2,shipped\n3,lost\n4,shipped\n5,placed\n5,placed\n5,shipped\n"
    ),
    "models/orders.sql": "select id, status from {{ ref('raw_orders') }}\n",
    "models/schema.yml": (
        "version: 2\nmodels:\n  - name: orders\n    columns:\n"
        "      - name: id\n        data_tests: [unique]\n"
        "      - name: status\n        data_tests:\n          - accepted_values:\n"
        "              values: ['placed', 'shipped']\n"
    ),
}


def fail(msg):
    print(f"check_store_failures: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    work = tempfile.mkdtemp(prefix="weir-store-failures-")
    try:
        for name, text in FILES.items():
            path = os.path.join(work, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        run = subprocess.run(
            [WEIR, "build", "--no-progress", "--project-dir", work],
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("DBT_")},
        )
        if run.returncode != 1:
            fail(f"weir build exited {run.returncode}, expected 1 (failing tests)\n{run.stdout}\n{run.stderr}")
        audit = os.path.join(work, "warehouse", "main_dbt_test__audit")

        unique = DeltaTable(os.path.join(audit, "unique_orders_id")).to_pyarrow_table().to_pylist()
        got = sorted((r["unique_field"], r["n_records"]) for r in unique)
        if got != [(2, 2), (5, 3)]:
            fail(f"unique_orders_id holds {unique}, expected ids 2 (2 rows) and 5 (3 rows)")

        name = next(
            (n for n in os.listdir(audit) if n.startswith("accepted_values_orders_status")), None
        )
        if name is None:
            fail(f"no accepted_values table in {sorted(os.listdir(audit))}")
        values = DeltaTable(os.path.join(audit, name)).to_pyarrow_table().to_pylist()
        if [r["value_field"] for r in values] != ["lost"] or values[0]["n_records"] != 1:
            fail(f"{name} holds {values}, expected one row for 'lost'")
        print(f"check_store_failures: OK ({len(unique)} + {len(values)} failing rows read back with deltalake)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
    # Leave without interpreter teardown, where deltalake's native threads can abort the
    # process after the work is done (see expected_rows.py).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
