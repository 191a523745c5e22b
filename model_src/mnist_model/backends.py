"""Which backend runs a model file: onnxruntime for .onnx (the default), PyTorch for a state_dict.

Each backend module offers `load(path)` and `classify_fields(model, fields, top_k)`; a backend is
imported only when chosen, so the default path never imports torch, and a missing library is one
line that names what to install instead of an ImportError.
Also pasted into the stand-alone run_mnist.py, which replaces `backend_module` and `INSTALL_HINTS`.
"""
import importlib
import importlib.util
from pathlib import Path

from .checksums import WeightsError

BACKENDS = ("onnx", "torch")
MODULES = {"onnx": ("onnx_backend", "load_session"), "torch": ("inference", "load_model")}
LIBRARIES = {"onnx": ("onnxruntime", "numpy"), "torch": ("torch",)}
# How to get each backend's libraries; the stand-alone script names plain packages instead.
INSTALL_HINTS = {"onnx": "pip install 'mnist-model'", "torch": "pip install 'mnist-model[torch]'"}


class BackendMissing(WeightsError):
    """The library a backend needs is not installed; the message says what to install."""


def backend_for(weights, backend=None):
    """The backend named, else the one the weights' suffix implies (.onnx: onnx, anything else: torch)."""
    if backend is None:
        return "onnx" if Path(weights).suffix == ".onnx" else "torch"
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use {' or '.join(BACKENDS)}")
    if backend == "onnx" and Path(weights).suffix != ".onnx":
        raise WeightsError(f"{weights}: the onnx backend runs .onnx files; use --backend torch for a state_dict")
    return backend


def import_backend(backend):
    """The backend's module; BackendMissing (one line, what to install) when its libraries are not there."""
    missing = [library for library in LIBRARIES[backend] if importlib.util.find_spec(library) is None]
    if missing:
        raise BackendMissing(f"the {backend} backend needs {' and '.join(missing)}, not installed here: "
                             f"{INSTALL_HINTS[backend]}")
    return backend_module(backend)


def backend_module(backend):
    return importlib.import_module(f"{__package__}.{MODULES[backend][0]}")


def load(weights, backend=None):
    """(backend module, loaded model) for this weights file."""
    backend = backend_for(weights, backend)
    module = import_backend(backend)
    return module, getattr(module, MODULES[backend][1])(weights)


def available(backend):
    return all(importlib.util.find_spec(library) is not None for library in LIBRARIES[backend])


def choose(weights=None, backend=None, defaults=None):
    """(file, backend) from --weights/--backend and the bundled files ({backend: path}, preferred first).

    With neither option: the first bundled file that is there and whose libraries are installed, else the
    first that is there (its error then says what to install).
    """
    if weights:
        return weights, backend_for(weights, backend)
    defaults = dict(defaults or {})
    if backend:
        if backend not in defaults:
            raise WeightsError(f"no bundled model for the {backend} backend; pass --weights PATH")
        return defaults[backend], backend
    present = [name for name, path in defaults.items() if Path(path).is_file()]
    if not present:
        raise WeightsError(f"{next(iter(defaults.values()), 'model')}: weights file not found; pass --weights PATH")
    name = next((name for name in present if available(name)), present[0])
    return defaults[name], name
