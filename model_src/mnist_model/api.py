"""`mnist_model.predict(...)`: the Python API beside `run-mnist`."""
import dataclasses
from functools import lru_cache
from pathlib import Path

from .inference import classify, load_model
from .preprocess import field_of, normalise_fields

DEFAULT_WEIGHTS = Path(__file__).with_name("weights") / "model.pth"


@dataclasses.dataclass(frozen=True)
class Prediction:
    digit: int
    confidence: float
    top_k: tuple  # ((digit, probability), ...), most likely first


@lru_cache(maxsize=4)
def _model(weights):
    return load_model(weights)


def predict(images, weights=None, top_k=3):
    """Classify one image or a list of them.

    An image is a path, a PIL image, or an array of shape [H, W] or [H, W, 3|4]
    (0..255, or floats in 0..1). Any size, either polarity: it is inverted,
    cropped and centred like MNIST first. One image gives one Prediction, a list
    gives a list. Unreadable images raise `ImageError`; bad weights `WeightsError`.
    """
    single = not isinstance(images, (list, tuple))
    batch = normalise_fields([field_of(image) for image in ([images] if single else images)])
    model = _model(str(weights or DEFAULT_WEIGHTS))
    results = [Prediction(d, c, tuple(top)) for d, c, top in classify(model, batch, top_k=top_k)]
    return results[0] if single else results
