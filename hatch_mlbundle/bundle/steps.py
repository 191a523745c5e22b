"""Carry out the plan: train or verify, gate, record, and write what goes into the wheel.

One evaluation per build at most, owned here: training only saves weights (and says what it did); the
metrics of `evaluate` are gated once and become the lock's one record, from which the card is written.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from . import exported, launch
from . import reference as by_reference
from . import fingerprint as fp
from ..files import move_atomic, sha256_file, write_json_atomic, write_text_atomic
from .card import model_card
from .config import BundleConfig
from .errors import BundleError
from .gates import GateResult, check_all, enforce, table
from .lock import make_lock
from .plan import EVALUATE, TRAIN, Plan, record_checks, relative, verification_key
from .project import call_project, evaluate, require_build_requires

STAGING_PREFIX = "mlbundle-train-"
LEGACY_STAGING = ".mlbundle-train-*"  # where hatch-mlbundle 0.1 staged, beside the weights


def gate(config: BundleConfig, metrics: dict[str, Any], weights: Path, display: Any,
         checks: tuple[GateResult, ...] | list[GateResult] = ()) -> None:
    """The identity checks (sha256, records), then the configured gates, as one table; then enforced."""
    results = [*checks, *check_all(config.gates, metrics, weights, config.evaluate)]
    display.display_info(table(results))
    enforce(results)


def clean_legacy_staging(config: BundleConfig) -> None:
    """Staging beside the weights, left by a killed build of an older version, would ship in the wheel."""
    for stale in config.weights.parent.glob(LEGACY_STAGING):
        shutil.rmtree(stale, ignore_errors=True)


def clean_orphaned_staging() -> None:
    """Staging directories of killed builds (their process is gone) in the system temp directory."""
    for stale in Path(tempfile.gettempdir()).glob(f"{STAGING_PREFIX}*-*"):
        pid = stale.name[len(STAGING_PREFIX):].partition("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether the process runs; a zombie (killed, not yet reaped: a container's init may never reap) is gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc: trust kill()
        return True


def train(config: BundleConfig, plan: Plan, display: Any) -> dict[str, Any]:
    """Train into a temp directory, evaluate and gate, then move the files in and write the lock last.

    The temp directory is the system's, outside the project: a build killed mid-training leaves nothing
    that a later wheel or sdist could pick up.
    """
    config.weights.parent.mkdir(parents=True, exist_ok=True)
    clean_orphaned_staging()
    with tempfile.TemporaryDirectory(prefix=f"{STAGING_PREFIX}{os.getpid()}-") as tmp:
        staged = Path(tmp) / config.weights.name
        summary = launch.train(config, staged, display.display_info, fp.fingerprint(plan.inputs))
        if not staged.is_file():
            raise BundleError(f"{config.train} returned without writing weights to the path it was given")
        details = exported.export(config, staged)
        metrics = evaluate(config, staged, **exported.evaluate_kwargs(config, Path(tmp)))
        gate(config, metrics, staged, display, record_checks(config, staged=Path(tmp)))
        for produced in sorted(Path(tmp).iterdir()):  # the weights and whatever the project writes beside them
            move_atomic(produced, config.weights.parent / produced.name)
    sha = sha256_file(config.weights)
    inputs = dict(plan.inputs, torch=fp.installed_version("torch"))
    key = verification_key(config, sha, inputs, None)
    lock = make_lock(fp.fingerprint(inputs), inputs, sha, metrics, key, training=summary,
                     exported=exported.lock_entry(config, details))
    write_json_atomic(config.lock, lock)
    return lock


def verify(config: BundleConfig, plan: Plan, display: Any) -> dict[str, Any]:
    """Gate the locked weights, on a fresh evaluation or on the one recorded for these exact inputs.

    In auto mode a fresh verification that passes is recorded in the lock, so the
    next build (and CI's verify build) can reuse it; verify mode never writes.
    """
    assert plan.lock is not None
    fresh = plan.action == EVALUATE
    metrics = evaluate(config, config.weights, **exported.evaluate_kwargs(config)) if fresh else plan.lock["verification"]["metrics"]
    gate(config, metrics, config.weights, display, plan.checks)
    if fresh and config.mode == "auto":
        lock = dict(plan.lock, verification={"key": plan.verification_key, "metrics": metrics})
        write_json_atomic(config.lock, lock)
        display.display_info(f"mlbundle: recorded this verification in {relative(config, config.lock)}")
        return lock
    return plan.lock  # verify mode never writes, and the card keeps to the record: no fresh timing in a wheel


def write_generated(config: BundleConfig) -> list[Path]:
    """Files rendered by the project (e.g. a stand-alone runner) for the wheel; returns their paths."""
    written = []
    for path, reference in sorted(config.generated.items()):
        text = call_project(config, reference, "generated")
        if not isinstance(text, str):
            raise BundleError(f"Option `generated`: {reference} returned {type(text).__name__}, not the file's text")
        write_text_atomic(path, text)
        written.append(path)
    return written


def run(config: BundleConfig, plan: Plan, display: Any, name: str, version: str) -> list[str]:
    """Carry out the plan; returns the generated files' paths relative to the root (the build artifacts)."""
    display.display_info(f"mlbundle: {plan.action}: {plan.reason}")
    clean_legacy_staging(config)
    if plan.needs_build_requires:
        require_build_requires(config, plan.action, plan.reason)
    lock = train(config, plan, display) if plan.action == TRAIN else verify(config, plan, display)
    write_json_atomic(config.card, model_card(name, version, config, lock))
    artifacts = [config.card] + write_generated(config)
    if config.bundle == "reference":
        artifacts += by_reference.write(config, lock)
    names = [relative(config, path) for path in artifacts]
    display.display_success(f"mlbundle: {relative(config, config.weights)} passed the gates; wrote {', '.join(names)}")
    return names
