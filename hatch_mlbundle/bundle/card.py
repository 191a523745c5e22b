"""The model card shipped in the wheel: what the model is, how good, and where it came from.

Everything in it comes from the lock (the one record of metrics), the configured gates and the commit (or
SOURCE_DATE_EPOCH), never from the clock or a fresh timing, so two builds of the same commit give byte-identical
wheels.
"""
from __future__ import annotations

import datetime
import os
import subprocess
from pathlib import Path
from typing import Any, Mapping

from .config import BundleConfig
from .exported import card_entry


def _git(root: Path, *args: str) -> str | None:
    if not (root / ".git").exists():
        return None
    try:
        result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10,
                                check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def git_commit(root: Path, environ: Mapping[str, str] = os.environ) -> str | None:
    """HEAD's commit in a git checkout; from an sdist (no .git), GitLab CI's CI_COMMIT_SHA; else None."""
    return _git(root, "rev-parse", "HEAD") or environ.get("CI_COMMIT_SHA") or None


def _iso(epoch: int) -> str:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def build_time(root: Path, environ: Mapping[str, str] = os.environ) -> str | None:
    """When the built sources were made, as UTC ISO 8601, never the clock (the wheel stays reproducible):
    SOURCE_DATE_EPOCH, else the commit's time (git, or GitLab CI's CI_COMMIT_TIMESTAMP from an sdist)."""
    epoch = environ.get("SOURCE_DATE_EPOCH", "").strip() or _git(root, "log", "-1", "--format=%ct") or ""
    if epoch.isdigit():
        return _iso(int(epoch))
    stamp = environ.get("CI_COMMIT_TIMESTAMP", "").strip()
    try:
        return _iso(int(datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())) if stamp else None
    except ValueError:
        return None


def model_card(name: str, version: str, config: BundleConfig, lock: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "weights": {"file": config.weights.name, "sha256": lock["weights_sha256"]},
        **({"exported": card_entry(lock)} if card_entry(lock) else {}),
        "metrics": lock["verification"]["metrics"],
        "gates": {gate.metric: gate.rule for gate in config.gates},
        "fingerprint": lock["fingerprint"],
        "data_sha256": lock["inputs"]["data"],
        "source_sha256": lock["inputs"]["sources"],
        "hyperparameters": lock.get("training", {}).get("hyperparameters", lock["inputs"]["hyperparameters"]),
        "torch_version": lock["inputs"]["torch"],
        "git_commit": git_commit(config.root),
        "built": build_time(config.root),
    }
