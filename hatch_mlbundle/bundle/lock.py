"""The committed lock beside the weights: what they were trained from, their sha256, and the one record of
their metrics.

`verification` holds the last passing evaluation (its key: weights, code, data, torch; and its metrics), so a
build where nothing changed reuses it instead of importing torch, and the model card is written from it.
`training` is what the project's train function reported it did (hyper-parameters, time), when it says;
`exported` the exported model's file, sha256 and what the exporter reported (exported.py), when there is one.
`references` the files kept out of git, by their path: where to fetch each (url, sha256, size; remote.py).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import BundleError

LOCK_VERSION = 2
REQUIRED = {"version": int, "fingerprint": str, "inputs": dict, "weights_sha256": str, "verification": dict}


def read_lock(path: Path) -> dict[str, Any] | None:
    """The lock as a dict, None when there is none; a damaged lock is an error, never ignored."""
    path = Path(path)
    if not path.exists():
        return None
    restore = f"restore it (`git checkout -- {path.name}`) or delete it and rebuild with MLBUNDLE_MODE=train"
    try:
        lock = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BundleError(f"lock {path} is corrupted ({exc}); {restore}") from None
    if not isinstance(lock, dict):
        raise BundleError(f"lock {path} is corrupted (not a JSON object); {restore}")
    if lock.get("version") == 1:  # version 1 also kept the training-time metrics beside the verification's
        lock = dict(lock, version=LOCK_VERSION)
        lock.pop("metrics", None)
    for key, kind in REQUIRED.items():
        if not isinstance(lock.get(key), kind):
            raise BundleError(f"lock {path} is corrupted (`{key}` missing or not a {kind.__name__}); {restore}")
    if lock["version"] != LOCK_VERSION:
        raise BundleError(f"lock {path} has version {lock['version']}, this hook reads {LOCK_VERSION}; {restore}")
    if not isinstance(lock["verification"].get("metrics"), dict):
        raise BundleError(f"lock {path} is corrupted (`verification.metrics` missing); {restore}")
    for name, ref in lock.get("references", {}).items():
        if not (isinstance(ref, dict) and isinstance(ref.get("url"), str) and isinstance(ref.get("size"), int)
                and isinstance(ref.get("sha256"), str) and len(ref["sha256"]) == 64):
            raise BundleError(f"lock {path} is corrupted (`references.{name}` needs url, sha256 and size); {restore}")
    return lock


def make_lock(fingerprint: str, inputs: dict[str, Any], weights_sha256: str, metrics: dict[str, Any],
              verification_key: str, training: Any = None, exported: dict[str, Any] | None = None) -> dict[str, Any]:
    lock = {
        "version": LOCK_VERSION,
        "fingerprint": fingerprint,
        "inputs": inputs,
        "weights_sha256": weights_sha256,
        "verification": {"key": verification_key, "metrics": metrics},
    }
    if isinstance(training, dict):
        lock["training"] = training
    if exported:
        lock["exported"] = exported
    return lock
