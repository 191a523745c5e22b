"""Load weights safely and classify batches of prepared digits.

Also pasted into the stand-alone run_mnist.py: only torch and the stdlib here.
"""
import hashlib
import json
import pickle
import warnings
from pathlib import Path

import torch

from .network import Net

BATCH_SIZE = 256


class WeightsError(Exception):
    """Weights that cannot be used; the message says which file and what to do."""


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def expected_sha256(weights_path):
    """The sha256 recorded for these weights: `<name>.json` manifest, else a SHA256SUMS beside them."""
    weights_path = Path(weights_path)
    manifest = weights_path.with_suffix(".json")
    if manifest.is_file():
        try:
            return json.loads(manifest.read_text())["sha256"], manifest
        except (ValueError, KeyError, TypeError):
            raise WeightsError(f"{manifest}: not a weights manifest with a 'sha256' key; restore it or remove it") from None
    sums = weights_path.with_name("SHA256SUMS")
    if sums.is_file():
        for line in sums.read_text().splitlines():
            digest, _, name = line.partition("  ")
            if name.lstrip("*") == weights_path.name:
                return digest.strip(), sums
    return None, None


def load_model(weights_path, check_sha256=True):
    """A Net in eval mode with these weights; refuses tampered files and pickles that would run code."""
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
    try:
        with warnings.catch_warnings():  # torch warns on stderr about pickle protocols; our one line says it all
            warnings.simplefilter("ignore")
            state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        # torch's first line is advice about its weights_only default; the line naming the blocked
        # global or opcode is the one that says what the file tried to do.
        detail = next((line for line in lines if "GLOBAL" in line or "Unsupported" in line), "unsafe pickle")
        raise WeightsError(
            f"{weights_path}: refused to load: not a plain state_dict ({detail[:160]}); "
            "weights are loaded without running code"
        ) from None
    except Exception as exc:  # zip/pickle corruption surfaces as many exception types
        raise WeightsError(f"{weights_path}: not a readable torch weights file ({type(exc).__name__})") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{weights_path}: holds a {type(state).__name__}, not a state_dict")
    model = Net()
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:200]
        raise WeightsError(f"{weights_path}: weights do not fit this network ({detail})") from None
    return model.eval()


def classify(model, batch, top_k=3):
    """[N, 1, 28, 28] -> list of (digit, confidence, [(digit, probability), ...])."""
    results = []
    with torch.inference_mode():
        for start in range(0, len(batch), BATCH_SIZE):
            probs = model(batch[start : start + BATCH_SIZE]).exp()
            top_p, top_d = probs.topk(min(top_k, 10), dim=1)
            for digits, ps in zip(top_d.tolist(), top_p.tolist()):
                results.append((digits[0], ps[0], list(zip(digits, ps))))
    return results
