"""What determines the weights, hashed by content (never by mtime).

The inputs are kept per file in the lock, so a stale fingerprint can say which
file, hyper-parameter or torch version changed.
"""
from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any

from ..files import sha256_file
from .config import BundleConfig
from .errors import BundleError

SKIPPED_PARTS = {"__pycache__", ".git"}


def sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def expand(root: Path, pattern: str, option: str, hint: str = "") -> list[Path]:
    """Files named by a path, directory (recursively) or glob, relative to the project root."""
    path = root / pattern
    if path.is_file():
        return [path]
    if path.is_dir():
        found = [p for p in path.rglob("*") if p.is_file()]
    else:
        found = [p for p in root.glob(pattern) if p.is_file()]
    found = [p for p in found if not SKIPPED_PARTS & set(p.parts) and not p.name.endswith((".pyc", ".tmp"))]
    if not found:
        raise BundleError(f"Option `{option}` names {pattern!r}, which matches no file under {root}" + (f"; {hint}" if hint else ""))
    return sorted(found)


def digests(root: Path, patterns: tuple[str, ...], option: str, hint: str = "") -> dict[str, str]:
    """{relative path: sha256} for every file the patterns name."""
    files = {}
    for pattern in patterns:
        for path in expand(root, pattern, option, hint):
            files[Path(os.path.relpath(path, root)).as_posix()] = sha256_file(path)
    return dict(sorted(files.items()))


def installed_version(distribution: str) -> str | None:
    """The installed version, read from metadata: importing torch costs seconds."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def collect_inputs(config: BundleConfig) -> dict[str, Any]:
    """Everything that determines the weights, as plain JSON-able data."""
    return {
        "sources": digests(config.root, config.sources, "sources"),
        "data": digests(config.root, config.data, "data", config.data_hint),
        "hyperparameters": config.hyperparameters,
        "torch": installed_version("torch"),
        # with the seed, the number of processes sharing each batch determines the weights (one is in-process's)
        **({"world_size": config.launcher.world_size} if config.launcher and config.launcher.world_size > 1 else {}),
    }


def fingerprint(inputs: dict[str, Any]) -> str:
    return sha256_json(inputs)


def changes(recorded: dict[str, Any], current: dict[str, Any], compare_torch: bool) -> list[str]:
    """Human-readable differences between recorded and current inputs ([] when fresh)."""
    found = []
    for kind in ("sources", "data"):
        old, new = recorded.get(kind, {}), current[kind]
        found += [f"{path} changed" for path in sorted(old.keys() & new.keys()) if old[path] != new[path]]
        found += [f"{path} is new" for path in sorted(new.keys() - old.keys())]
        found += [f"{path} was removed" for path in sorted(old.keys() - new.keys())]
    if recorded.get("hyperparameters") != current["hyperparameters"]:
        old, new = recorded.get("hyperparameters", {}), current["hyperparameters"]
        keys = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        found += [f"hyper-parameter {k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys]
    if recorded.get("world_size", 1) != current.get("world_size", 1):
        found.append(f"world size {recorded.get('world_size', 1)} -> {current.get('world_size', 1)} (launcher)")
    if compare_torch and recorded.get("torch") != current["torch"]:
        found.append(f"torch {recorded.get('torch')} -> {current['torch']}")
    return found
