"""MNIST digit classifier: the tutorial's network, trained well, with a runner that works on real images.

`predict` is imported lazily so that `import mnist_model` does not pay for torch.
"""
__all__ = ["predict", "Prediction", "ImageError", "WeightsError"]


def __getattr__(name):
    if name in ("predict", "Prediction"):
        from . import api

        return getattr(api, name)
    if name == "ImageError":
        from .preprocess import ImageError

        return ImageError
    if name == "WeightsError":
        from .checksums import WeightsError

        return WeightsError
    raise AttributeError(f"module 'mnist_model' has no attribute {name!r}")
