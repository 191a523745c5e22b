"""Distributed training: the default regimen on 2 gloo processes (torchrun, as `launcher = "torchrun"` runs it)
beside the same regimen in one process (as the build trains by default). Prints a markdown table.

    .venv/bin/python bench/bench_ddp.py

Each run is a child process started the way the build starts it: train() in a fresh interpreter, and the
plugin's launcher (launch.run_workers: torchrun, 2 workers of one thread each). "fit" is train()'s own
training time (the manifest's train_seconds); "wall" adds interpreter start, torch import, torchrun's
rendezvous and saving. Both weights are scored by evaluate() on the held-out digits, the figure the build's
accuracy gate (98%) checks; that is the only use of the held-out set here.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from common import HEADERS, PYTHON, ROOT, machine_line, markdown_table, progress, run_child, verdict

GATE = 0.98
ONE = ("import json, sys; from mnist_model.train import train; "
       "print(json.dumps(train(sys.argv[1], sys.argv[2], log=lambda line: None)))")
TWO = ("import json, sys; from pathlib import Path; from hatch_mlbundle.bundle import launch; "
       "from hatch_mlbundle.bundle.config import load_config; from hatch_mlbundle.bundle.table import build_hook_table; "
       "name, table = build_hook_table(Path('.'), None); "
       "config = load_config('.', dict(table, launcher='torchrun', **{'nproc-per-node': 2}), name, environ={}); "
       "print(json.dumps(launch.run_workers(config, Path(sys.argv[2]), lambda line: None, 'bench' * 13, joining=False)))")


def trained(code: str, weights: Path) -> tuple[float, dict]:
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "model_src")])}
    child = run_child([PYTHON, "-c", code, str(ROOT / "data"), str(weights)], env=env)
    return child.wall, json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    sys.path[:0] = [str(ROOT / "model_src")]
    from mnist_model.evaluate import evaluate

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ddp-") as tmp:
        runs = {}
        for name, code in (("1 process", ONE), ("2 processes (torchrun, gloo)", TWO)):
            progress(f"training the default regimen: {name}")
            weights = Path(tmp, name.split()[0], "model.pth")
            weights.parent.mkdir()
            wall, manifest = trained(code, weights)
            accuracy = evaluate(str(weights), str(ROOT / "data"))["accuracy"]
            runs[name] = (wall, manifest["train_seconds"], accuracy)
        (one_wall, one_fit, one_acc), (two_wall, two_fit, two_acc) = runs.values()
    rows.append(["default regimen, fit (s)", f"{two_fit:.1f}", f"{one_fit:.1f}", f"{two_fit / one_fit:.2f}x the time",
                 "reported", "-"])
    rows.append(["default regimen, wall incl. start-up (s)", f"{two_wall:.1f}", f"{one_wall:.1f}",
                 f"{two_wall / one_wall:.2f}x the time", "reported", "-"])
    rows.append(["held-out accuracy (the build's gate)", f"{two_acc:.1%}", f"{one_acc:.1%}",
                 f"{(two_acc - one_acc) * 100:+.1f} points", f">= {GATE:.0%}", verdict(two_acc >= GATE)])
    print(f"{machine_line()}\n\nours: 2 processes (torchrun, gloo, one thread each); reference: 1 process (the "
          "build's default)\n")
    print(markdown_table(HEADERS, rows))


if __name__ == "__main__":
    main()
