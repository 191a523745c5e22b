"""Find the ink in a picture the way a person would: against its local background, whatever the colours.

A page photographed under a lamp is bright on one side and dark on the other, and the table shows past
its edge; a pen may be red on pink paper, or white on a dark screen. So: the paper is what most of the
picture is (its local background is estimated on a coarse grid with a rank filter and blown up again,
which removes gradients and vignettes), ink is whatever differs from it (the ratio to the background, per
channel, so it does not matter whether the page is lit or shaded), and Otsu's threshold on that contrast
separates the two. A transparent picture's ink is its alpha channel, whatever colour the ink is.
PIL and numpy only (their C code); pasted into the stand-alone run_mnist.py.
"""
import numpy as np
from PIL import Image

WORK_SIDE = 128  # pictures are reduced (by a whole factor) to at most this side first: a digit ends up 20 px
BACKGROUND_GRID = 24  # the background is estimated on a grid of about this many cells a side
FLAT_SIDE = 48  # smaller pictures (MNIST's 28x28) have one background: the median of their border
MIN_CONTRAST = 0.12  # a picture whose strongest ink differs less than this from its paper is blank


def working_copy(img):
    """(8-bit L or RGB image at most WORK_SIDE a side, or None, alpha as ink or None) for any PIL mode."""
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        alpha = img.getchannel("A") if img.mode in ("RGBA", "LA") else img.convert("RGBA").getchannel("A")
        if alpha.getextrema()[0] < 128:  # really transparent somewhere: the alpha channel is the ink
            return None, _reduced(alpha)
        img = img.convert("RGB")
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        img = img.convert("I").convert("F") if img.mode.startswith("I;16") else img.convert("F")
        low, high = img.getextrema()
        img = img.point(lambda v: (v - low) * (255.0 / max(high - low, 1e-9))).convert("L")
    elif img.mode not in ("L", "RGB"):
        img = img.convert("L" if img.mode == "1" else "RGB")
    work = _reduced(img)
    if work.mode == "RGB":  # a grey picture saved as RGB: one channel gives the same contrast, a third the work
        pixels = np.asarray(work)
        if np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2]):
            work = work.getchannel("R")
    return work, None


def _reduced(img):
    factor = -(-max(img.size) // WORK_SIDE)
    return img.reduce(factor) if factor > 1 else img  # a box filter: a thin stroke stays, as gray


def _background(img, dark_ink):
    """Per-pixel paper colour (uint8 [H, W, C], or [1, 1, C] when flat): a rank filter on a coarse grid
    (the paper's side of the middle), blown up."""
    width, height = img.size
    if max(width, height) <= FLAT_SIDE:
        pixels = np.asarray(img).reshape(height, width, -1)
        border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
        return np.median(border, axis=0).round().astype(np.uint8).reshape(1, 1, -1)
    cell = max(width, height) / BACKGROUND_GRID
    grid = img.resize((max(3, round(width / cell)), max(3, round(height / cell))), Image.Resampling.BOX)
    grid = Image.fromarray(_paper_side(np.asarray(grid), np.maximum if dark_ink else np.minimum))
    return np.asarray(grid.resize((width, height), Image.Resampling.BILINEAR)).reshape(height, width, -1)


def _paper_side(grid, towards):
    """Each cell's 5x5 neighbourhood, the second lightest of 5 along rows then along columns (`towards`
    np.maximum; np.minimum: darkest): the paper even where strokes cover half the window. A separable
    rank filter in a dozen numpy calls on the whole grid (PIL's RankFilter sorts 25 values a pixel, a
    band at a time)."""
    away = np.minimum if towards is np.maximum else np.maximum
    for axis in (1, 0):
        lines = grid.swapaxes(axis, 0)  # rows, then columns, first: the edge cells repeated twice
        size = len(lines)
        padded = np.concatenate([lines[:1], lines[:1], lines, lines[-1:], lines[-1:]])
        a, b, c, d, e = (padded[shift : shift + size] for shift in range(5))
        near, far = towards(a, b), away(a, b)
        near2, far2 = towards(c, d), away(c, d)
        second = towards(away(near, near2), towards(far, far2))  # the second of the first four
        grid = towards(second, away(towards(near, near2), e)).swapaxes(0, axis)
    return grid


def _share_table(dark_ink):
    """[paper * 256 + ink] -> ink strength 0..1 for 8-bit values: the contrast formula, computed once."""
    under, ink = np.mgrid[0:256, 0:256].astype(np.float32)
    if dark_ink:  # how much of the way from the paper to black (shading cancels out); +4: sensor noise
        share = (under - ink) / (under + 4)
    else:  # how much of the way from the paper to white
        share = (ink - under) / (259 - under)
    return share.clip(0, 1).ravel()


SHARE = {True: _share_table(True), False: _share_table(False)}


def _percentiles(histogram, fractions):
    """Values (bin indices) below which these fractions of a histogram's counts lie."""
    cumulative = np.cumsum(histogram)
    return np.searchsorted(cumulative, np.asarray(fractions) * cumulative[-1])


def _dark_ink(img):
    """Is the ink darker than the paper? The paper is most of the picture: the ink is the far tail."""
    low, middle, high = _percentiles((img if img.mode == "L" else img.convert("L")).histogram(), (0.01, 0.5, 0.99))
    return middle - low >= high - middle


def contrast(img):
    """Ink strength 0..1 per pixel of `img` (L or RGB): its difference from the paper, per channel, as a
    share of the most there could be (to black for dark ink, to white for light ink); the largest channel.
    One table lookup (8-bit paper and ink: 65,536 possible pairs) instead of float arithmetic per channel."""
    dark_ink = _dark_ink(img)
    paper = _background(img, dark_ink)
    pixels = np.asarray(img).reshape(img.height, img.width, -1)
    strength = SHARE[dark_ink].take((paper.astype(np.uint16) << 8) | pixels)
    for channel in range(1, strength.shape[-1]):
        np.maximum(strength[..., 0], strength[..., channel], out=strength[..., 0])
    return strength[..., 0]


def otsu(histogram):
    """Otsu's threshold (a bin index) of a histogram: the split with the largest between-class variance."""
    counts = np.asarray(histogram, np.float64)
    centres = np.arange(len(counts))
    below = np.cumsum(counts)[:-1]
    above = counts.sum() - below
    mass = np.cumsum(counts * centres)
    valid = (below > 0) & (above > 0)
    mean_below = mass[:-1] / np.maximum(below, 1)
    mean_above = (mass[-1] - mass[:-1]) / np.maximum(above, 1)
    between = np.where(valid, below * above * (mean_below - mean_above) ** 2, -1)
    return int(np.argmax(between)) + 1


def ink_of(img):
    """(ink strength 0..1 [H, W] float32, threshold), or None when no ink stands out: see the module doc."""
    work, alpha = working_copy(img)
    strength = np.asarray(alpha, np.float32) / 255 if work is None else contrast(work)
    histogram = np.bincount((strength * 255).astype(np.uint8).ravel(), minlength=256)
    split = otsu(histogram)
    # The ink's own strength: the 99th percentile of what lies above Otsu's split (a percentile of the whole
    # picture would be paper when a thin pen covers under 1% of a big page).
    peak = (split + int(_percentiles(histogram[split:], 0.99))) / 255 if histogram[split:].any() else 0.0
    if peak < MIN_CONTRAST:
        return None
    threshold = min(max(split / 255, 0.25 * peak, MIN_CONTRAST / 2), peak)
    return np.minimum(strength / peak, 1), threshold / peak
