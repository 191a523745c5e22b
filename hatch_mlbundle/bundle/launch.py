"""Where training runs: in the build's own process (the default), or in torchrun's workers.

Either way the project's `train` gets the same arguments and writes into the same staging directory, and the
hook gates what the first worker wrote exactly as it gates an in-process run. torchrun's bookkeeping (spec,
error files, its log) lives in a directory of its own, so none of it can reach the wheel. A failed or killed
worker is one line; nothing was moved out of staging, so weights, manifest and lock stay as they were.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable

from .config import BundleConfig
from .errors import BundleError
from .project import DEBUG_ENV, call_project


def train(config: BundleConfig, staged: Path, say: Callable[[str], None], fingerprint: str) -> Any:
    """Run the project's `train` into `staged`; returns what it returned (the first worker's, with torchrun)."""
    if config.launcher is None:
        return call_project(config, config.train, "train", data_dir=str(config.data_dir), weights_path=str(staged),
                            log=say, **config.hyperparameters)
    return run_workers(config, staged, say, fingerprint)


def run_workers(config: BundleConfig, staged: Path, say: Callable[[str], None], fingerprint: str) -> Any:
    """torchrun on this node; `fingerprint` joins the rendezvous id, so nodes with other code or data never meet."""
    launcher = config.launcher
    assert launcher is not None
    with tempfile.TemporaryDirectory(prefix="mlbundle-torchrun-") as tmp:
        spec, result, errors, log = (Path(tmp, name) for name in ("spec.json", "result.json", "errors", "torchrun.log"))
        errors.mkdir()
        spec.write_text(json.dumps({"root": str(config.root), "hook": config.hook_name, "table": config.options,
                                    "weights": str(staged), "result": str(result), "errors": str(errors)}))
        nodes = f"{launcher.nnodes} nodes" if launcher.nnodes > 1 else "one node"
        say(f"mlbundle: torchrun: {launcher.world_size} processes on {nodes}")
        if launcher.nnodes > 1:
            say(f"mlbundle: waiting at {launcher.rdzv_endpoint} for the other nodes: run `python -m hatch_mlbundle "
                "join` on each, in a checkout of this commit")
        with open(log, "w+", encoding="utf-8", errors="replace") as stderr:
            process = subprocess.Popen(launcher.command(str(spec), f"{launcher.rdzv_id}-{fingerprint[:16]}"),
                                       cwd=config.root, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                       errors="replace")
            assert process.stdout is not None
            for line in process.stdout:
                say(line.rstrip("\n"))
            status = process.wait()
            if status != 0:
                stderr.seek(0)
                report = stderr.read()
                if os.environ.get(DEBUG_ENV):
                    say(report)
                raise BundleError(failure(errors, report, status))
        return json.loads(result.read_text(encoding="utf-8")) if result.is_file() else None


def failure(errors: Path, report: str, status: int) -> str:
    """One line for a failed torchrun: a killed worker (its peers' broken connections are only the echo), else
    the project's own error, else torchrun's last error."""
    unchanged = "nothing was written (weights, manifest and lock unchanged)"
    advice = f"(set {DEBUG_ENV}=1 for torchrun's report)"
    # torchrun's failure report: a block per failed worker ("rank: N (local_rank: M)", then "exitcode: C"), the
    # first observed failure last; the others were stopped by torchrun (SIGTERM) or lost their peer.
    root_cause = report.rpartition("Root Cause")[2]
    for rank, code in re.findall(r"\brank\s*:\s*(\d+)[^\n]*\n\s*exitcode\s*:\s*(-?\d+)", root_cause):
        if int(code) < 0:
            try:
                how = f"was killed by {signal.Signals(-int(code)).name}"
            except ValueError:
                how = f"died of signal {-int(code)}"
            return f"torchrun: worker rank {rank} {how}; {unchanged} {advice}"
    written = sorted(errors.iterdir(), key=lambda p: int(p.name.partition("-")[2] or 0))
    if written:
        return f"{written[0].read_text(encoding='utf-8')} (torchrun worker {written[0].name}); {unchanged}"
    errors_seen = re.findall(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception|Timeout)\w*): (.+)$", report, re.MULTILINE)
    last = f": {errors_seen[-1][0]}: {errors_seen[-1][1].strip()}" if errors_seen else ""
    return f"torchrun exited with status {status}{last}; {unchanged} {advice}"
