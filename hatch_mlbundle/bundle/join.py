"""``python -m hatch_mlbundle join``: this machine trains beside a build as one more torchrun node.

With `launcher = "torchrun"` and `nnodes` above 1, the build waits at `rdzv-endpoint` until every node has
joined. Each other node runs this command in its own checkout of the same commit: it reads the same hook
table, and its inputs' fingerprint is part of the rendezvous id, so a node with other code, data or torch
never trains with the build (the rendezvous times out instead). The weights stay with the build: what this
node's first worker writes goes to a temporary directory and is dropped. Exit 0 trained, 1 failed, 2 usage.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from . import fingerprint as fp
from .config import load_config
from .errors import BundleError
from .launch import run_workers
from .table import build_hook_table


def main(argv: Sequence[str] | None = None, prog: str = "join") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="the project's checkout (default: here)")
    parser.add_argument("--hook", help="the build hook's name under [tool.hatch.build.targets.wheel.hooks]")
    try:
        options = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        root = options.root.resolve()
        if not (root / "pyproject.toml").is_file():
            raise BundleError(f"{root} has no pyproject.toml; run this in the project's checkout or pass --root")
        name, table = build_hook_table(root, options.hook)
        config = load_config(root, table, name, environ={})
        if config.launcher is None or config.launcher.nnodes < 2:
            raise BundleError(f"the build hook `{name}` trains on one machine (set `launcher = \"torchrun\"` and "
                              "`nnodes` above 1 to train on several); there is nothing to join")
        if fp.installed_version("torch") is None:
            raise BundleError("torch is not installed in this environment; install the build's `build-requires` "
                              f"({', '.join(config.build_requires)}) first")
        with tempfile.TemporaryDirectory(prefix="mlbundle-join-") as tmp:
            run_workers(config, Path(tmp) / config.weights.name, print, fp.fingerprint(fp.collect_inputs(config)),
                        joining=True)
    except BundleError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    print(f"{prog}: this node's share of training is done; the build's node keeps the weights")
    return 0
