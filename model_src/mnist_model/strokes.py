"""Give a digit's strokes MNIST's width.

The width of the strokes is measured (2 x area / outline) and brought to MNIST's, about 2.3 pixels in the
20x20 box, by growing or shrinking them: a 4 px pen on a 1000 px page and a 24 px marker both end up
looking like MNIST. Growing and shrinking are 3x3 max/min filters done with numpy slices (PIL's rank
filters sort nine values a pixel: they cost more than decoding the picture). PIL and numpy only; pasted
into run_mnist.py.
"""
import numpy as np
from PIL import Image

MNIST_WIDTH = 2.3  # median stroke width of MNIST's training digits in the 20x20 box (2 x area / outline)
THICK, THICK_TO = 1.8, 1.3  # strokes wider than THICK x MNIST's are thinned to THICK_TO x
WIDTH_SIDE = 80  # strokes are measured and changed with the digit this size


def spread(pixels, combine=np.maximum):
    """3x3 max (or min) of a uint8 or bool array, outside it counted as 0: PIL's MaxFilter(3) on a margin
    of black, in a handful of numpy calls instead of a per-pixel rank filter."""
    padded = np.zeros((pixels.shape[0] + 2, pixels.shape[1] + 2), pixels.dtype)
    padded[1:-1, 1:-1] = pixels
    rows = combine(combine(padded[:-2], padded[1:-1]), padded[2:])
    return combine(combine(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])


def stroke_width(mask):
    """Mean stroke width of a boolean mask in pixels: 2 x area / outline (a stroke's outline is both its sides)."""
    inner = spread(mask, np.minimum)  # outside the crop counts as paper: the crop's edge is an outline
    area = int(np.count_nonzero(mask))
    return 2 * area / max(area - int(np.count_nonzero(inner)), 1)


def _percentile(counts, fraction):
    """np.percentile (linear) of the values a histogram counts, without sorting them."""
    position = fraction * (counts.sum() - 1)
    below = int(position)
    cumulative = np.cumsum(counts)
    low, high = np.searchsorted(cumulative, [below, min(below + 1, cumulative[-1] - 1)], "right")
    return low + (high - low) * (position - below)


def saturated(pixels):
    """uint8 ink (white) brought to full strength: a thin stroke shrunk to a fraction of a pixel, or drawn with
    a faint pen, is faint, and MNIST's strokes are saturated."""
    counts = np.bincount(pixels.ravel(), minlength=256)
    counts[: int(np.float32(pixels.max()) * 0.1) + 1] = 0  # the strokes: over a tenth of the brightest
    gain = np.float32(255 / max(_percentile(counts, 0.75), 1))
    return np.minimum(np.arange(256, dtype=np.float32) * gain, 255).astype(np.uint8).take(pixels)


def width_steps(pixels):
    """How many pixels to grow (> 0) or shrink (< 0) the strokes of saturated ink by to reach MNIST's width."""
    target = MNIST_WIDTH * max(pixels.shape) / 20
    measured = stroke_width(pixels > 127)
    if measured < target:  # thicken toward MNIST's width
        return int(round((target - measured) / 2))
    if measured > THICK * target:  # a bold marker: thin it, to no less than THICK_TO x MNIST's width
        return -int(round((measured - THICK_TO * target) / 2))
    return 0  # within MNIST's own range (augmentation trains for it), and blur is not thickness


def normalise_width(digit):
    """L image of a cropped digit (ink white) -> the same WIDTH_SIDE a side, strokes at MNIST's width."""
    # A small crop (a thin pen far away, a phone photo: 20-40 px at ink.py's working size) is enlarged first:
    # at 20 px a step of the filters is a whole MNIST pixel and the strokes come out thin and grey.
    scale = WIDTH_SIDE / max(digit.size)
    if scale != 1:
        digit = digit.resize((max(1, round(digit.width * scale)), max(1, round(digit.height * scale))),
                             Image.Resampling.BICUBIC if scale > 1 else Image.Resampling.BOX)
    pixels = saturated(np.asarray(digit))
    steps = width_steps(pixels)
    if not steps:
        return Image.fromarray(pixels)
    # on a margin of black, so the strokes grow (or shrink) at the crop's edge as anywhere else (np.pad would
    # make the margin in pure Python, 8x slower)
    margin = abs(steps)
    changed = np.zeros((pixels.shape[0] + 2 * margin, pixels.shape[1] + 2 * margin), np.uint8)
    changed[margin:-margin, margin:-margin] = pixels
    for _ in range(margin):
        changed = spread(changed, np.maximum if steps > 0 else np.minimum)
    digit = Image.fromarray(changed)
    return digit.crop(digit.getbbox())
