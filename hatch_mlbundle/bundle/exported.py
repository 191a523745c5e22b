"""The exported model (`export` / `exported`): a copy of the weights in a format another runtime runs,
e.g. ONNX for onnxruntime, so the people who install the wheel need no training framework.

Made only when training makes the weights (the project's `export` callable writes it beside the staged
weights and both move in together), then committed with them: a no-op build needs neither the framework
nor the exporter. The lock records its sha256 and what the exporter said (format, opset...); the plan
checks the file against it like the weights, without importing anything, and the evaluation is handed
the file (`evaluate(weights, data_dir, exported=path)`) so parity and latency gates measure what ships.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..files import sha256_file
from .config import BundleConfig
from .errors import BundleError
from .gates import GateResult, sha256_gate
from .project import call_project


def _name(config: BundleConfig) -> str:
    assert config.exported is not None
    return config.exported.relative_to(config.root).as_posix()


def lock_gap(config: BundleConfig, lock: dict[str, Any]) -> str | None:
    """Why the lock cannot vouch for the exported file (None when it can, or when nothing is exported)."""
    if config.exported is None:
        return None
    if not isinstance(lock.get("exported"), dict) or lock["exported"].get("file") != _name(config):
        return f"the lock records no {config.exported.name} yet"
    return None


def checks(config: BundleConfig, lock: dict[str, Any]) -> list[GateResult]:
    """The exported file's sha256 against the lock's, as a gate row (none when nothing is exported)."""
    if config.exported is None:
        return []
    return [sha256_gate(sha256_file(config.exported), lock["exported"]["sha256"], _name(config),
                        label=f"sha256 {config.exported.name}")]


def evaluate_kwargs(config: BundleConfig, directory: Path | None = None) -> dict[str, str]:
    """What `evaluate` is also given: the exported file (in `directory` while it is staged)."""
    if config.exported is None:
        return {}
    return {"exported": str((directory / config.exported.name) if directory else config.exported)}


def export(config: BundleConfig, staged_weights: Path) -> dict[str, Any]:
    """Call the project's exporter on the staged weights; returns what it reports (recorded in the lock)."""
    if config.export is None or config.exported is None:
        return {}
    target = staged_weights.with_name(config.exported.name)
    details = call_project(config, config.export, "export", str(staged_weights), str(target))
    if not target.is_file():
        raise BundleError(f"{config.export} returned without writing {config.exported.name} to the path it was given")
    return details if isinstance(details, dict) else {}


def lock_entry(config: BundleConfig, details: dict[str, Any]) -> dict[str, Any] | None:
    """The lock's record of the exported file, once it has moved in."""
    if config.exported is None:
        return None
    return {"file": _name(config), "sha256": sha256_file(config.exported), "details": details}


def card_entry(lock: dict[str, Any]) -> dict[str, Any] | None:
    """The model card's `exported`: file name, sha256 and what the exporter said."""
    record = lock.get("exported")
    if not isinstance(record, dict):
        return None
    return {"file": Path(record["file"]).name, "sha256": record["sha256"], **record.get("details", {})}
