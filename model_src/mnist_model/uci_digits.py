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
BLOCK = 4


def shown(blocks):
    """8x8 block counts (0..16, ink high) -> the 32x32 L picture run-mnist is handed: x255/16, bicubic."""
    pixels = np.round(np.asarray(blocks) * (255 / 16)).astype(np.uint8)
    return Image.fromarray(pixels, "L").resize((SIDE, SIDE), Image.Resampling.BICUBIC)


def uci_style(digit):
    """A 28x28 MNIST digit (uint8, ink high) reduced the way UCI reduced its scans, for choosing on validation
    digits what the UCI figure will measure: the digit scaled to fit a 32x32 bitmap (aspect kept, centred),
    the 4x4 blocks' pixels counted, and shown as uci_digits() shows UCI's own."""
    img = Image.fromarray(np.asarray(digit, np.uint8), "L")
    crop = img.crop(img.getbbox())
    scale = SIDE / max(crop.size)
    size = (max(1, round(crop.width * scale)), max(1, round(crop.height * scale)))
    crop = crop.resize(size, Image.Resampling.BILINEAR)
    bitmap = Image.new("L", (SIDE, SIDE), 0)
    bitmap.paste(crop, ((SIDE - crop.width) // 2, (SIDE - crop.height) // 2))
    on = np.asarray(bitmap) > 127
    return shown(on.reshape(SIDE // BLOCK, BLOCK, SIDE // BLOCK, BLOCK).sum(axis=(1, 3)))


def uci_digits():
    """(list of 32x32 L PIL images, white on black; labels int64 [1797])."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("the UCI digits come with scikit-learn: pip install 'mnist-model[data]'") from None
    digits = load_digits()
    return [shown(blocks) for blocks in digits.images], digits.target.astype(np.int64)
