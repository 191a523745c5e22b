"""Where training runs: in the build's own process (the default), or in torchrun's workers.

Either way the project's `train` gets the same arguments and writes into the same staging directory, and the
hook gates what the first worker wrote exactly as it gates an in-process run. torchrun's bookkeeping (spec,
error files, its logs) lives in a directory inside staging that is gone before anything moves out of it. A
failed or killed worker is one line (failures.py); nothing left staging, so weights, manifest and lock stay as
they were. torchrun dies with the build: its own session, stopped on the way out, and told when we die.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable

from .config import BundleConfig
from .errors import BundleError
from .failures import explain
from .project import DEBUG_ENV, call_project


def call_train(config: BundleConfig, weights: str, say: Callable[[str], None]) -> Any:
    """The project's `train`, with the arguments every launcher gives it."""
    return call_project(config, config.train, "train", data_dir=str(config.data_dir), weights_path=weights,
                        log=say, **config.hyperparameters)


def train(config: BundleConfig, staged: Path, say: Callable[[str], None], fingerprint: str) -> Any:
    """Run the project's `train` into `staged`; returns what it returned (the first worker's, with torchrun)."""
    if config.launcher is None:
        return call_train(config, str(staged), say)
    return run_workers(config, staged, say, fingerprint, joining=False)


def run_workers(config: BundleConfig, staged: Path, say: Callable[[str], None], fingerprint: str,
                joining: bool) -> Any:
    """torchrun on this node; `fingerprint` joins the rendezvous id, so nodes with other code or data never meet."""
    launcher = config.launcher
    assert launcher is not None
    run_id = f"{launcher.rdzv_id}-{fingerprint[:16]}"
    with tempfile.TemporaryDirectory(prefix=".torchrun-", dir=staged.parent) as tmp:
        spec, result, errors = Path(tmp, "spec.json"), Path(tmp, "result.json"), Path(tmp, "errors")
        errors.mkdir()
        spec.write_text(json.dumps({"root": str(config.root), "hook": config.hook_name, "table": config.options,
                                    "weights": str(staged), "result": str(result), "errors": str(errors)}))
        nodes = f"{launcher.nnodes} nodes" if launcher.nnodes > 1 else "one node"
        say(f"mlbundle: torchrun: {launcher.world_size} processes on {nodes}")
        if launcher.nnodes > 1:
            where = f"{launcher.rdzv_endpoint} (rendezvous {run_id}, up to {launcher.rdzv_timeout} s)"
            say(f"mlbundle: joining the build at {where}" if joining else f"mlbundle: waiting at {where} for the "
                "other nodes: run `python -m hatch_mlbundle join` on each, in a checkout of this commit")
        with open(Path(tmp, "torchrun.log"), "w+", encoding="utf-8", errors="replace") as stderr:
            status = _run(launcher.command(str(spec), run_id, str(Path(tmp, "logs"))), config.root, stderr, say)
            if status != 0:
                stderr.seek(0)
                report = stderr.read()
                if os.environ.get(DEBUG_ENV):
                    say(report)
                raise BundleError(explain(errors, report, status, launcher, run_id))
        return json.loads(result.read_text(encoding="utf-8")) if result.is_file() else None


def _run(command: list[str], cwd: Path, stderr: Any, say: Callable[[str], None]) -> int:
    """torchrun in a session of its own, its stdout (the first workers' progress) forwarded line by line."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=stderr, text=True, errors="replace",
                               start_new_session=True, preexec_fn=_die_with_parent)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            say(line.rstrip("\n"))
        return process.wait()
    finally:
        if process.poll() is None:  # interrupted (Ctrl-C, an exception): torchrun stops its workers on SIGTERM
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _die_with_parent() -> None:
    """In the child, before torchrun starts (Linux): SIGTERM when the build's process dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
