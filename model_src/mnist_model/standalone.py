"""Render run_mnist.py: the runner as one file needing only torch and pillow.

The file is generated from this package's own modules, so the package and the
stand-alone script cannot drift apart: one source of truth.
"""
import re
from importlib import resources

# In dependency order; each imports only torch, PIL, the stdlib and the ones before it.
MODULES = ("network", "preprocess", "inference", "runner")
RELATIVE_IMPORT = re.compile(r"^from \.\w* import .*\n", re.MULTILINE)

HEADER = '''#!/usr/bin/env python3
"""run_mnist.py: classify handwritten digits with the MNIST network; needs only torch and pillow.

    pip install -r requirements.txt
    python run_mnist.py --image 'digits/*.png'

Loads model.pth from beside this file (or --weights) with weights_only=True, and
checks its sha256 against SHA256SUMS or model.json beside it when present.
Generated from the mnist_model package ({modules}); do not edit by hand.
"""
'''

FOOTER = '''

if __name__ == "__main__":
    exit_now(main(default_weights=Path(__file__).resolve().with_name("model.pth"), prog="run_mnist.py"))
'''


def render():
    """The text of run_mnist.py."""
    parts = [HEADER.format(modules=", ".join(f"{m}.py" for m in MODULES))]
    for name in MODULES:
        source = resources.files(__package__).joinpath(f"{name}.py").read_text(encoding="utf-8")
        parts.append(f"\n# ---- {name}.py " + "-" * (60 - len(name)) + "\n")
        parts.append(RELATIVE_IMPORT.sub("", source))
    parts.append(FOOTER)
    return "".join(parts)
