#!/usr/bin/env python3
"""`weir build --full-refresh` killed with SIGKILL at random points leaves every table whole.

  check_crash.py WEIR_BINARY [--kills 20] [--seed N]

On a built copy of example_project, a full refresh is killed at a random moment within its
running time, `--kills` times (each on a fresh copy of the built warehouse). After each kill:
  - every table of schema `main` opens with the deltalake reader, and its rows equal those it
    had before the full refresh or those a complete full refresh gives it;
  - a following plain `weir build` succeeds, and every table then holds the rows a plain build
    gives after a complete full refresh or after none (microbatch included).
"""
import argparse, os, random, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_concurrency import build, tables  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(weir, project, *extra):
    r = build(weir, project, *extra)
    if r.returncode != 0:
        sys.exit(f"weir build {' '.join(extra)} failed in {project}:\n{r.stdout}{r.stderr}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weir")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    weir = os.path.abspath(a.weir)
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"seed {seed} (rerun with --seed {seed})")
    failures = []
    with tempfile.TemporaryDirectory(prefix="weir-crash-") as work:
        built = os.path.join(work, "built")
        shutil.copytree(os.path.join(ROOT, "example_project"), built,
                        ignore=shutil.ignore_patterns("target", "warehouse"))
        run(weir, built)
        before = tables(built)

        ref = os.path.join(work, "ref")
        shutil.copytree(built, ref)
        t0 = time.monotonic()
        run(weir, ref, "--full-refresh")
        span = time.monotonic() - t0
        after = tables(ref)
        run(weir, ref)
        plain_after_refresh = tables(ref)
        ref2 = os.path.join(work, "ref2")
        shutil.copytree(built, ref2)
        run(weir, ref2)
        plain_without_refresh = tables(ref2)
        print(f"a full refresh takes {span:.2f} s; killing within it")

        for k in range(a.kills):
            p = os.path.join(work, f"kill{k}")
            shutil.copytree(built, p)
            at = rng.uniform(0, span)
            proc = subprocess.Popen([weir, "build", "-q", "--full-refresh", "--project-dir", p],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(at)
            finished = proc.poll() is not None
            if not finished:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
            got = tables(p)
            torn = []
            for name in sorted(set(before) | set(after) | set(got)):
                if name not in got:
                    # A table that did not exist before the refresh may not exist yet.
                    if name in before:
                        torn.append(f"{name}: gone")
                elif got[name] != before.get(name) and got[name] != after.get(name):
                    torn.append(f"{name}: {len(got[name][1])} rows, neither the old "
                                f"{len(before.get(name, ([], []))[1])} nor the new "
                                f"{len(after.get(name, ([], []))[1])}")
            run(weir, p)
            restored = tables(p)
            unrestored = [f"{name}: not restored by a plain build"
                          for name in sorted(set(plain_after_refresh) | set(restored))
                          if restored.get(name) not in (plain_after_refresh.get(name),
                                                        plain_without_refresh.get(name))]
            state = "finished before the kill" if finished else f"killed at {at:.2f} s"
            print(f"kill {k}: {state}: {'OK' if not torn and not unrestored else 'FAIL'}")
            failures += [f"kill {k} at {at:.2f} s: {x}" for x in torn + unrestored]

    for f in failures:
        print("FAIL", f)
    print("crash safety: " + ("OK" if not failures else f"{len(failures)} failure(s)"))
    sys.stdout.flush()
    os._exit(1 if failures else 0)


if __name__ == "__main__":
    main()
