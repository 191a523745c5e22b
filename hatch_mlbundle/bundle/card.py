"""The model card shipped in the wheel: what the model is, how good, and where it came from.

Everything in it comes from the lock (the one record of metrics), the configured gates and the environment's
SOURCE_DATE_EPOCH, never from the clock or a fresh timing, so two builds of the same inputs give
byte-identical wheels.
"""
from __future__ import annotations

import datetime
import os
import subprocess
from pathlib import Path
from typing import Any, Mapping

from .config import BundleConfig
from .exported import card_entry


def git_commit(root: Path) -> str | None:
    """HEAD's commit when building from a git checkout, else None (an sdist has no .git)."""
    if not (root / ".git").exists():
        return None
    try:
        result = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def build_time(environ: Mapping[str, str] = os.environ) -> str | None:
    """SOURCE_DATE_EPOCH as UTC ISO 8601 (reproducible builds set it), else None."""
    epoch = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not epoch.isdigit():
        return None
    return datetime.datetime.fromtimestamp(int(epoch), tz=datetime.timezone.utc).isoformat().replace("+00:00", "Z")


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
        "built": build_time(),
    }
