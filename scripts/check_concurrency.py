#!/usr/bin/env python3
"""Two `weir build`s at once on one warehouse: no duplicated or lost rows.

  check_concurrency.py WEIR_BINARY [--trials 5]

On copies of example_project:
  - fresh warehouse, both builds without --lock-timeout: the loser must fail at once with the
    lock error (E530, naming the holder); the tables hold exactly the rows of one build;
  - built warehouse, both builds with --lock-timeout: the second waits for the first; the tables
    hold exactly the rows of three builds in a row.
The references are the same builds run one after another. Every table of schema `main` is read
back with the deltalake reader and compared as a multiset of normalized rows.
"""
import argparse, os, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from expected_rows import rows_of  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fresh_copy(work, name):
    dst = os.path.join(work, name)
    shutil.copytree(os.path.join(ROOT, "example_project"), dst,
                    ignore=shutil.ignore_patterns("target", "warehouse"))
    return dst


def tables(project):
    from deltalake import DeltaTable
    base = os.path.join(project, "warehouse", "main")
    out = {}
    for name in sorted(os.listdir(base)):
        path = os.path.join(base, name)
        if not os.path.isdir(os.path.join(path, "_delta_log")):
            continue
        dt = DeltaTable(path)
        t = dt.to_pyarrow_table().select([f.name for f in dt.schema().fields])
        out[name] = rows_of(t.column_names, zip(*[c.to_pylist() for c in t.columns]) if t.num_rows else [])
    return out


def build(weir, project, *extra):
    return subprocess.run([weir, "build", "-q", "--project-dir", project, *extra],
                          capture_output=True, text=True)


def together(weir, project, *extra):
    procs = [subprocess.Popen([weir, "build", "-q", "--project-dir", project, *extra],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    return [(p.wait(), p.stdout.read() + p.stderr.read()) for p in procs]


def diff(got, want):
    bad = []
    for name in sorted(set(got) | set(want)):
        if name not in got:
            bad.append(f"{name}: missing")
        elif name not in want:
            bad.append(f"{name}: unexpected table")
        elif got[name] != want[name]:
            bad.append(f"{name}: {len(got[name][1])} rows, expected {len(want[name][1])}")
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weir")
    ap.add_argument("--trials", type=int, default=5)
    a = ap.parse_args()
    weir = os.path.abspath(a.weir)
    failures = []
    with tempfile.TemporaryDirectory(prefix="weir-concurrency-") as work:
        ref = fresh_copy(work, "reference")
        refs = {}
        for k in (1, 2, 3):
            r = build(weir, ref)
            if r.returncode != 0:
                sys.exit(f"reference build {k} failed:\n{r.stdout}{r.stderr}")
            refs[k] = tables(ref)

        for t in range(a.trials):
            p = fresh_copy(work, f"fresh{t}")
            results = together(weir, p)
            ok = [c for c, _ in results if c == 0]
            for code, out in results:
                if code != 0 and not (code == 2 and "E530" in out and "is in use by `weir build`" in out):
                    failures.append(f"fresh trial {t}: exit {code} without the lock message:\n{out}")
            if not ok:
                failures.append(f"fresh trial {t}: no build succeeded")
                continue
            bad = diff(tables(p), refs[len(ok)])
            failures += [f"fresh trial {t} ({len(ok)} build(s) succeeded): {b}" for b in bad]
            print(f"fresh trial {t}: {len(ok)} succeeded, {2 - len(ok)} refused with E530, "
                  f"{'rows OK' if not bad else 'ROWS DIFFER'}")

        for t in range(a.trials):
            p = fresh_copy(work, f"built{t}")
            r = build(weir, p)
            if r.returncode != 0:
                sys.exit(f"first build of trial {t} failed:\n{r.stdout}{r.stderr}")
            results = together(weir, p, "--lock-timeout", "5m")
            for code, out in results:
                if code != 0:
                    failures.append(f"built trial {t}: a waiting build exited {code}:\n{out}")
            waited = sum("waiting up to" in out for _, out in results)
            bad = diff(tables(p), refs[3])
            failures += [f"built trial {t}: {b}" for b in bad]
            print(f"built trial {t}: both succeeded ({waited} waited for the lock), "
                  f"{'rows OK' if not bad else 'ROWS DIFFER'}")

    for f in failures:
        print("FAIL", f)
    print("concurrency: " + ("OK" if not failures else f"{len(failures)} failure(s)"))
    sys.stdout.flush()
    os._exit(1 if failures else 0)


if __name__ == "__main__":
    main()
