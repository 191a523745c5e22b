"""The committed lock beside the weights: what they were trained from, their sha256, their metrics.

It also records the last successful verification, so a build where nothing
changed can reuse it instead of importing torch.
"""
import json
import os
from pathlib import Path

from .errors import BundleError

LOCK_VERSION = 1
REQUIRED = {"version": int, "fingerprint": str, "inputs": dict, "weights_sha256": str, "metrics": dict, "verification": dict}


def read_lock(path):
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
    for key, kind in REQUIRED.items():
        if not isinstance(lock.get(key), kind):
            raise BundleError(f"lock {path} is corrupted (`{key}` missing or not a {kind.__name__}); {restore}")
    if lock["version"] != LOCK_VERSION:
        raise BundleError(f"lock {path} has version {lock['version']}, this hook reads {LOCK_VERSION}; {restore}")
    return lock


def write_text_atomic(path, text):
    """Temp file + fsync + rename: a build killed midway never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path, data):
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def make_lock(fingerprint, inputs, weights_sha256, metrics, verification_key):
    return {
        "version": LOCK_VERSION,
        "fingerprint": fingerprint,
        "inputs": inputs,
        "weights_sha256": weights_sha256,
        "metrics": metrics,
        "verification": {"key": verification_key, "metrics": metrics},
    }
