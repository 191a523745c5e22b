"""Every benchmark of the project in one run; writes bench/README.md.

    .venv/bin/python bench/run_all.py            # ~15 minutes on 2 cores; run it on an idle machine
    .venv/bin/python bench/run_all.py --quick    # fewer repetitions, a 256 MiB upload

Each figure stands next to its reference, measured in the same run: the tutorial pipeline
(bench/reference_tutorial.py), the same build with hooks disabled, curl against the same server.
The reliability counts come from the test suite's matrix (tests/test_reliability.py and the
bad-image corpus in tests/test_runner.py), run here too.
"""
import argparse
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from common import PYTHON, ROOT, machine_line, progress

BENCH = ROOT / "bench"
RELIABILITY_TESTS = ["tests/test_reliability.py", "tests/test_runner.py", "tests/test_hook_plan.py"]
# Adversarial scenarios, each a row: what was done to us -> the tests (node ids, substring) that do it.
SCENARIOS = [
    ("a byte flipped in transit, PyPI and generic (upload answered OK)", "-flip]"),
    ("an answer whose body never ends, PyPI and generic", "-endless]"),
    ("an answer dripping a byte every 0.3 s, PyPI and generic", "-drip]"),
    ("a 400 with a 50 MB message, PyPI and generic", "-huge-error]"),
    ("training killed (kill -9) once weights are staged, then a normal build",
     "test_reliability.py::test_kill_9_during_training"),
    ("weights swapped and the lock made to agree; model.json disagrees",
     "test_hook_plan.py::test_a_record_the_runtime_trusts_must_describe_the_weights"),
    ("a FIFO named or globbed as an image", "test_runner.py::test_a_fifo_is_skipped_on_one_line_not_waited_on"),
    ("a 24 MP photo and scan (reduced right after decoding)",
     "test_runner.py::test_a_huge_photo_is_reduced_right_after_decoding"),
]


def run_script(name, *args):
    """One benchmark script; its markdown report (it prints progress on stderr)."""
    progress(f"bench/{name} {' '.join(map(str, args))}")
    result = subprocess.run([PYTHON, BENCH / name, *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if result.returncode:
        raise SystemExit(f"bench/{name} exited {result.returncode}")
    return result.stdout.strip()


def built_dist(tmp):
    """A wheel + sdist of this repository, as the build job of a tag v1.0.0 makes them (verify mode)."""
    progress("building dist/ for the publish benchmark")
    subprocess.run([PYTHON, "-m", "build", "--outdir", tmp / "dist", ROOT], check=True, capture_output=True,
                   env={**os.environ, "MLBUNDLE_MODE": "verify", "SETUPTOOLS_SCM_PRETEND_VERSION": "1.0.0"})
    return tmp / "dist"


def reliability_counts():
    """Passed/failed per test module of the reliability matrix, from a real pytest run."""
    progress("pytest " + " ".join(RELIABILITY_TESTS))
    result = subprocess.run([PYTHON, "-m", "pytest", "-rN", "--no-header", "-p", "no:cacheprovider", "-v",
                             *RELIABILITY_TESTS], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    rows = {}
    # a parametrized id may hold spaces: the outcome is the last word before the progress column
    outcomes = re.findall(r"^(tests/(\S+?\.py)::.*) (PASSED|FAILED|ERROR|SKIPPED|XFAIL)(?: +\[ *\d+%\])?$",
                          result.stdout, re.M)
    for _, module, outcome in outcomes:
        counts = rows.setdefault(f"tests/{module}", {"PASSED": 0, "FAILED": 0, "ERROR": 0, "SKIPPED": 0, "XFAIL": 0})
        counts[outcome] += 1
    table = ["| test module | passed | failed | skipped/xfail |", "| --- | --- | --- | --- |"]
    table += [f"| {m} | {c['PASSED']} | {c['FAILED'] + c['ERROR']} | {c['SKIPPED'] + c['XFAIL']} |"
              for m, c in sorted(rows.items())]
    scenarios = ["| scenario | tests | passed |", "| --- | --- | --- |"]
    for label, node in SCENARIOS:
        found = [outcome for test, _, outcome in outcomes if node in test]
        scenarios.append(f"| {label} | {len(found)} | {found.count('PASSED')} |")
    return ("## Reliability matrix (test counts)\n\n" + "\n".join(table)
            + "\n\nAdversarial scenarios (each a test that failed on the code before the fix):\n\n"
            + "\n".join(scenarios))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and a 256 MiB upload")
    parser.add_argument("--out", type=Path, default=BENCH / "README.md", help="report file (default: %(default)s)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    machine = machine_line()
    sections = [run_script("bench_model.py", *(["--quick"] if args.quick else []))]
    sections.append(run_script("bench_realistic.py"))
    sections.append(run_script("bench_runtime.py"))
    sections.append(run_script("bench_build.py"))
    with tempfile.TemporaryDirectory(prefix="bench-all-") as tmp:
        dist = built_dist(Path(tmp))
        size = ["--size-mib", "256", "--repeat", "1"] if args.quick else []
        sections.append("## Publisher vs curl, local GitLab registry\n\n"
                        + run_script("bench_publish.py", "--dist", dist, *size))
    sections.append("## Weights by reference: fetch vs curl, no-op build with a warm cache\n\n"
                    + run_script("bench_fetch.py", *(["--size-mib", "256", "--repeat", "1"] if args.quick else [])))
    sections.append("## Distributed training: 2 processes (torchrun) vs 1\n\n" + run_script("bench_ddp.py"))
    sections.append(reliability_counts())
    header = (f"# Benchmarks\n\nWritten by `bench/run_all.py`{' --quick' if args.quick else ''} "
              f"in {time.perf_counter() - started:.0f} s. Started: {machine}.\n")
    text = "\n\n".join([header, *sections]) + "\n"
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
