"""A second source of real handwriting that no training step ever sees: the UCI optical digits.

scikit-learn ships them in its wheel (`sklearn.datasets.load_digits`): 1,797 digits written by 43 people
(a different group from MNIST's writers), scanned as 32x32 bitmaps and reduced by UCI to 8x8 blocks of 16
grey levels (0..16, ink high). We scale them to 0..255 and upsample them to their original 32x32 (bicubic)
before run-mnist's preprocessing, so the figure says how well the model reads another people's hand at a
very low resolution. Needs scikit-learn (the `data` extra); only the benchmarks and tests use it.
"""
import numpy as np
from PIL import Image

SIDE = 32  # the bitmaps UCI reduced to 8x8


def uci_digits():
    """(list of 32x32 L PIL images, white on black; labels int64 [1797])."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("the UCI digits come with scikit-learn: pip install 'mnist-model[data]'") from None
    digits = load_digits()
    pixels = np.round(digits.images * (255 / 16)).astype(np.uint8)
    pictures = [Image.fromarray(p, "L").resize((SIDE, SIDE), Image.Resampling.BICUBIC) for p in pixels]
    return pictures, digits.target.astype(np.int64)
