"""Render run_mnist.py: the runner as one file, for people who download the raw files instead of pip.

It runs model.onnx with onnxruntime + numpy + pillow, or model.pth with torch + pillow (the tutorial's
way), whichever is beside it and installed. The file is generated from this package's own modules, so
the package and the stand-alone script cannot drift apart: one source of truth. The torch modules are
pasted inside a function, defined on first use, so the ONNX path runs where torch is not installed.
"""
import re
from importlib import resources

# In dependency order; each imports only the stdlib, PIL (numpy, onnxruntime lazily) and the ones before it.
MODULES = ("checksums", "ink", "strokes", "pieces", "preprocess", "onnx_backend", "backends", "runner")
TORCH_MODULES = ("network", "inference")  # pasted into _torch_backend()
RELATIVE_IMPORT = re.compile(r"^from \.\w* import .*\n", re.MULTILINE)

HEADER = '''#!/usr/bin/env python3
"""run_mnist.py: classify handwritten digits with the MNIST network.

    pip install onnxruntime numpy pillow    # for model.onnx (or: pip install -r requirements.txt)
    pip install torch numpy pillow          # for model.pth, the tutorial's way
    python run_mnist.py --image 'digits/*.png'

Runs model.onnx (onnxruntime) or model.pth (torch, loaded with weights_only=True) from beside this file,
whichever is there and installed (--backend, --weights choose), after checking its sha256 against
SHA256SUMS or model.json beside it when present.
Generated from the mnist_model package ({modules}); do not edit by hand.
"""
import functools
import types
'''

TORCH_HEADER = '''

@functools.lru_cache(maxsize=None)
def _torch_backend():
    """network.py and inference.py, defined on first use: the ONNX path needs no torch."""
'''

GLUE = '''

# ---- this file holds every module: the backends are here, not imported --------
INSTALL_HINTS = {"onnx": "pip install onnxruntime numpy pillow", "torch": "pip install torch numpy pillow"}


def backend_module(backend):
    if backend == "torch":
        return _torch_backend()
    return types.SimpleNamespace(load_session=load_session, classify_fields=classify_fields)


if __name__ == "__main__":
    HERE = Path(__file__).resolve().parent
    exit_now(main(default_weights={"onnx": HERE / "model.onnx", "torch": HERE / "model.pth"}, prog="run_mnist.py"))
'''


def _source(name):
    source = resources.files(__package__).joinpath(f"{name}.py").read_text(encoding="utf-8")
    return f"\n# ---- {name}.py " + "-" * (60 - len(name)) + "\n" + RELATIVE_IMPORT.sub("", source)


def render():
    """The text of run_mnist.py."""
    split = MODULES.index("backends")  # the torch modules need preprocess; backends needs them defined
    names = MODULES[:split] + TORCH_MODULES + MODULES[split:]
    parts = [HEADER.format(modules=", ".join(f"{m}.py" for m in names))]
    parts += [_source(name) for name in MODULES[:split]]
    torch_part = "".join(_source(name) for name in TORCH_MODULES) + "\nreturn types.SimpleNamespace(**locals())\n"
    parts.append(TORCH_HEADER + "".join(f"    {line}" if line.strip() else "\n" for line in torch_part.splitlines(True)))
    parts += [_source(name) for name in MODULES[split:]]
    parts.append(GLUE)
    return "".join(parts)
