"""The default backend: the exported model (model.onnx) on onnxruntime, with numpy; no torch.

A 90 KB network does not need a 5 GB framework to run: onnxruntime + numpy + pillow is ~200 MB
installed, starts in a fraction of the time and memory, and gives the same answers (the build's parity
gate holds it to the PyTorch model on every held-out digit). The model's interface, fixed by export.py:
input `pixels`, uint8 [batch, 28, 28] (white digit on black, as preprocess.field_of makes it); output
`log_probs`, float32 [batch, 10]. The file's sha256 is checked before onnxruntime reads it.
Also pasted into the stand-alone run_mnist.py: only numpy, onnxruntime, the stdlib and checksums here.
"""
from pathlib import Path

from .checksums import WeightsError, check_file

INPUT_NAME, OUTPUT_NAME = "pixels", "log_probs"
BATCH_SIZE = 1024  # images per onnxruntime call; a field is 784 bytes, a batch under 1 MB


def load_session(model_path, check_sha256=True, threads=None):
    """An onnxruntime session for this file; refuses tampered or unreadable files on one line."""
    model_path = Path(model_path)
    check_file(model_path, check_sha256)
    import onnxruntime  # a second's import: only once a model is really needed

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: its warnings would be noise on the runner's stderr
    if threads:
        options.intra_op_num_threads = threads
    try:
        session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        detail = " ".join(str(exc).split())[:160]
        raise WeightsError(f"{model_path}: not a readable ONNX model ({detail})") from None
    names = ([i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()])
    if names != ([INPUT_NAME], [OUTPUT_NAME]):
        raise WeightsError(f"{model_path}: expects inputs/outputs {names}, not [{INPUT_NAME!r}]/[{OUTPUT_NAME!r}]; "
                           "export it with `mnist-model export`")
    return session


def log_probs(session, pixels):
    """uint8 [N, 28, 28] -> float32 [N, 10], one onnxruntime call per BATCH_SIZE images."""
    import numpy as np

    parts = [session.run([OUTPUT_NAME], {INPUT_NAME: pixels[i : i + BATCH_SIZE]})[0]
             for i in range(0, len(pixels), BATCH_SIZE)]
    return np.concatenate(parts) if parts else np.zeros((0, 10), np.float32)


def classify_fields(session, fields, top_k=3):
    """784-byte fields -> list of (digit, confidence, [(digit, probability), ...]), most likely first."""
    import numpy as np

    if not fields:
        return []
    pixels = np.frombuffer(b"".join(fields), dtype=np.uint8).reshape(-1, 28, 28)
    probs = np.exp(log_probs(session, pixels))  # float32, as the torch backend computes them
    order = np.argsort(-probs, axis=1, kind="stable")[:, : min(top_k, 10)]
    top_p = np.take_along_axis(probs, order, axis=1)
    return [(digits[0], ps[0], list(zip(digits, ps))) for digits, ps in zip(order.tolist(), top_p.tolist())]
