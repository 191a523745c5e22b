"""`mnist_model.predict(...)`: the Python API beside `run-mnist`, on the same backends (onnxruntime by default)."""
import dataclasses
from functools import lru_cache
from pathlib import Path

from .backends import choose, load
from .preprocess import field_of
from .remote import bundled

WEIGHTS_DIR = Path(__file__).with_name("weights")
DEFAULT_MODEL = WEIGHTS_DIR / "model.onnx"  # what runs by default (onnxruntime)
DEFAULT_WEIGHTS = WEIGHTS_DIR / "model.pth"  # the PyTorch state_dict it was exported from
BUNDLED = {"onnx": DEFAULT_MODEL, "torch": DEFAULT_WEIGHTS}  # preferred first


@dataclasses.dataclass(frozen=True)
class Prediction:
    digit: int
    confidence: float
    top_k: tuple  # ((digit, probability), ...), most likely first


@lru_cache(maxsize=4)
def _model(weights, backend):
    return load(weights, backend)


def predict(images, weights=None, top_k=3, backend=None):
    """Classify one image or a list of them.

    An image is a path, a PIL image or an array of shape [H, W] or [H, W, 3|4] (0..255, or floats in
    0..1). Any size, either polarity: it is inverted, cropped and centred like MNIST first. One image gives
    one Prediction, a list gives a list. `backend` is "onnx" (default; onnxruntime) or "torch" (needs
    `mnist-model[torch]`); `weights` another .onnx file or state_dict. Unreadable images raise
    `ImageError`; bad weights or a missing backend library `WeightsError`.
    """
    single = not isinstance(images, (list, tuple))
    fields = [field_of(image) for image in ([images] if single else images)]
    path, backend = choose(weights and str(weights), backend, BUNDLED if weights else bundled(BUNDLED, backend))
    module, model = _model(str(path), backend)
    results = [Prediction(d, c, tuple(top)) for d, c, top in module.classify_fields(model, fields, top_k=top_k)]
    return results[0] if single else results
