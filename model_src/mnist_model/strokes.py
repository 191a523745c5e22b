"""Keep the digit, drop the rest, and give its strokes MNIST's width.

Thresholded ink is split into connected pieces (8-connected runs, on a grid of at most PIECES_GRID cells
a side so a pen's small gaps do not split a stroke): pieces touching the picture's border (the table past
a page's edge, a shadow) and specks are dropped when a real digit stands free of them; pieces near the
digit (the bar of a 5) stay. Then the width of the strokes is measured (2 x area / outline) and brought
to MNIST's, about 2.3 pixels in the 20x20 box, by growing or shrinking them: a 4 px pen on a 1000 px page
and a 24 px marker both end up looking like MNIST. PIL and numpy only; pasted into run_mnist.py.
"""
import numpy as np
from PIL import Image, ImageFilter

PIECES_GRID = 64
MNIST_WIDTH = 2.3  # median stroke width of MNIST's training digits in the 20x20 box (2 x area / outline)
THICK, THICK_TO = 1.8, 1.3  # strokes wider than THICK x MNIST's are thinned to THICK_TO x
WIDTH_SIDE = 80
BORDER_HANDICAP = 10
TINY = 16  # digits smaller than this are enlarged first  # strokes are measured and changed with the digit at most this size


def _runs(mask):
    """Horizontal runs of a boolean mask: rows, starts, ends (exclusive), in row order."""
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    return rows, starts, ends


def components(mask):
    """(label per run, rows, starts, ends) of 8-connected pieces of `mask`, found by union-find over runs."""
    rows, starts, ends = _runs(mask)
    parent = list(range(len(rows)))

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first = np.searchsorted(rows, np.arange(mask.shape[0] + 1))
    for row in range(1, mask.shape[0]):
        above, here = range(first[row - 1], first[row]), range(first[row], first[row + 1])
        for i in here:
            for j in above:  # a few runs a row: the quadratic loop is cheaper than anything clever
                if starts[i] <= ends[j] and starts[j] <= ends[i]:
                    parent[root(i)] = root(j)
    return np.array([root(i) for i in range(len(rows))], np.int64), rows, starts, ends


def digit_mask(strong):
    """Boolean mask (same shape as `strong`) of the cells that belong to the digit."""
    factor = max(1, int(np.ceil(max(strong.shape) / PIECES_GRID)))
    small = np.asarray(Image.fromarray(strong.astype(np.uint8) * 255).reduce(factor)) > 0
    labels, rows, starts, ends = components(small)
    pieces = {}
    for label, row, start, end in zip(labels.tolist(), rows.tolist(), starts.tolist(), ends.tolist()):
        area, top, bottom, left, right = pieces.get(label, (0, row, row, start, end))
        pieces[label] = (area + end - start, min(top, row), max(bottom, row), min(left, start), max(right, end))
    height, width = small.shape
    if not pieces:
        return np.zeros(strong.shape, bool)
    border = {k for k, (_, t, b, l, r) in pieces.items() if t == 0 or l == 0 or b == height - 1 or r == width}
    # The digit is the largest piece, but one touching the border must be BORDER_HANDICAP times larger than
    # the largest free one to count (a page's edge or the table is large; a digit touching the edge is not).
    main = max(pieces, key=lambda k: pieces[k][0] * (1 / BORDER_HANDICAP if k in border else 1))
    area, top, bottom, left, right = pieces[main]
    margin = 0.35 * max(bottom - top + 1, right - left)
    keep = {k for k, (a, t, b, l, r) in pieces.items() if k == main or (
        a >= 0.02 * area and (k not in border or main in border)
        and t <= bottom + margin and b >= top - margin and l <= right + margin and r >= left - margin)}
    kept = np.zeros_like(small)
    for label, row, start, end in zip(labels.tolist(), rows.tolist(), starts.tolist(), ends.tolist()):
        if label in keep:
            kept[row, start:end] = True
    # a cell more all round: the digit's soft edges (and a stroke's faint end) are the digit's too
    grown = Image.fromarray(kept.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(3))
    if factor > 1:
        grown = grown.resize((width * factor, height * factor), Image.Resampling.NEAREST)
    return np.asarray(grown)[: strong.shape[0], : strong.shape[1]] > 0


def stroke_width(mask):
    """Mean stroke width of a boolean mask in pixels: 2 x area / outline (a stroke's outline is both its sides)."""
    image = Image.fromarray(np.pad(mask, 1).astype(np.uint8) * 255)  # the pad: the crop's edge is an outline
    inner = np.asarray(image.filter(ImageFilter.MinFilter(3)))[1:-1, 1:-1] > 0
    outline = int(mask.sum() - (inner & mask).sum())
    return 2 * mask.sum() / max(outline, 1)


def normalise_width(digit):
    """L image of a cropped digit (ink white) -> the same at most WIDTH_SIDE a side, strokes at MNIST's width."""
    scale = WIDTH_SIDE / max(digit.size)
    if max(digit.size) < TINY:  # a thumbnail: a few pixels a stroke are too coarse to measure or change
        scale = 2 * TINY / max(digit.size)
        digit = digit.resize((max(1, round(digit.width * scale)), max(1, round(digit.height * scale))),
                             Image.Resampling.BICUBIC)
    elif scale < 1:
        digit = digit.resize((max(1, round(digit.width * scale)), max(1, round(digit.height * scale))),
                             Image.Resampling.BOX)
    # A thin stroke shrunk to a fraction of a pixel, or drawn with a faint pen, is faint: bring the ink back to
    # full strength (MNIST's strokes are saturated).
    pixels = np.asarray(digit, np.float32)
    strong = pixels[pixels > 0.1 * pixels.max()]
    pixels = np.minimum(pixels * (255 / max(np.percentile(strong, 75), 1)), 255).astype(np.uint8)
    digit = Image.fromarray(pixels)
    target = MNIST_WIDTH * max(digit.size) / 20
    measured = stroke_width(pixels > 127)
    if measured < target:  # thicken toward MNIST's width
        steps = int(round((target - measured) / 2))
    elif measured > THICK * target:  # a bold marker: thin it, to no less than THICK_TO x MNIST's width
        steps = -int(round((measured - THICK_TO * target) / 2))
    else:  # within MNIST's own range (augmentation trains for it), and blur is not thickness
        steps = 0
    if steps:  # on a margin of black, so the strokes grow (or shrink) at the crop's edge as anywhere else
        digit = Image.fromarray(np.pad(pixels, abs(steps)))
        for _ in range(abs(steps)):
            digit = digit.filter(ImageFilter.MaxFilter(3) if steps > 0 else ImageFilter.MinFilter(3))
        digit = digit.crop(digit.getbbox())
    return digit
