"""Check a model file against the sha256 recorded beside it, before anything reads it.

Both backends use it (model.pth for torch, model.onnx for onnxruntime), and so does the stand-alone
run_mnist.py, which is why it needs nothing but the standard library.
"""
import hashlib
import json
from pathlib import Path

# Which manifest key records which file: model.json's "sha256" is the weights' (train writes it), its
# "onnx_sha256" the exported model's (export writes it).
MANIFEST_KEYS = {".onnx": "onnx_sha256"}


class WeightsError(Exception):
    """Weights that cannot be used; the message says which file and what to do."""


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _from_manifest(manifest, suffix):
    try:
        return json.loads(manifest.read_text()).get(MANIFEST_KEYS.get(suffix, "sha256"))
    except (ValueError, AttributeError):
        raise WeightsError(f"{manifest}: not a weights manifest; restore it or remove it") from None


def expected_sha256(weights_path):
    """(sha256, where it was recorded): `<name>.json` manifest, else a SHA256SUMS beside; (None, None)."""
    weights_path = Path(weights_path)
    manifest = weights_path.with_suffix(".json")
    if manifest.is_file():
        digest = _from_manifest(manifest, weights_path.suffix)
        if digest is None and weights_path.suffix not in MANIFEST_KEYS:
            raise WeightsError(f"{manifest}: not a weights manifest with a 'sha256' key; restore it or remove it")
        if digest:
            return digest, manifest
    sums = weights_path.with_name("SHA256SUMS")
    if sums.is_file():
        for line in sums.read_text().splitlines():
            digest, _, name = line.partition("  ")
            if name.lstrip("*") == weights_path.name:
                return digest.strip(), sums
    return None, None


def check_file(weights_path, check_sha256=True):
    """Refuse a missing file, or one whose sha256 differs from the recorded one."""
    weights_path = Path(weights_path)
    if not weights_path.is_file():
        raise WeightsError(f"{weights_path}: weights file not found; pass --weights PATH")
    if check_sha256:
        expected, source = expected_sha256(weights_path)
        actual = sha256_file(weights_path)
        if expected is not None and actual != expected:
            raise WeightsError(
                f"{weights_path}: sha256 {actual[:12]}… does not match {expected[:12]}… recorded in {source}; "
                "the file was changed or corrupted: reinstall the package or download the weights again"
            )
