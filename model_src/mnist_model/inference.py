"""The PyTorch backend: load weights safely and classify batches of prepared digits.

Only `--backend torch`, `predict(..., backend="torch")`, training and evaluation come here: the default
path runs the exported model on onnxruntime (onnx_backend.py) and never imports torch.
Also pasted into the stand-alone run_mnist.py: only torch, the stdlib and checksums/network/preprocess.
"""
import pickle
import warnings
from pathlib import Path

import torch

from .checksums import WeightsError, check_file, sha256_file  # noqa: F401 (sha256_file: train.py's import)
from .network import Net, normalise
from .preprocess import field_of

BATCH_SIZE = 256


def load_model(weights_path, check_sha256=True):
    """A Net in eval mode with these weights; refuses tampered files and pickles that would run code."""
    weights_path = Path(weights_path)
    check_file(weights_path, check_sha256)
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


def normalise_fields(fields):
    """784-byte fields -> the network's input [N, 1, 28, 28], in one go for the whole batch."""
    return normalise(torch.frombuffer(bytearray(b"".join(fields)), dtype=torch.uint8))


def prepare(image):
    """A path, PIL image or array-like -> normalised [1, 28, 28], ready for the network."""
    return normalise_fields([field_of(image)])[0]


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


def classify_fields(model, fields, top_k=3):
    """784-byte fields (preprocess.field_of) -> classify's results: the backends' common interface."""
    return classify(model, normalise_fields(fields), top_k) if fields else []
