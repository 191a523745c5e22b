"""Keep the digit, drop the rest: the digit's connected pieces of ink.

Thresholded ink is split into connected pieces (8-connected runs, on a grid of at most PIECES_GRID cells
a side so a pen's small gaps do not split a stroke): pieces touching the picture's border (the table past
a page's edge, a shadow) and specks are dropped when a real digit stands free of them; pieces near the
digit (the bar of a 5) stay. Runs, not pixels, are joined, and what numpy can do on all runs at once it
does: a picture has a few hundred runs, and each Python step costs as much as decoding a row of pixels.
PIL and numpy only; pasted into run_mnist.py.
"""
import functools

import numpy as np

from .strokes import spread

PIECES_GRID = 64
BORDER_HANDICAP = 10


def _runs(mask):
    """Horizontal runs of a boolean mask: rows, starts, ends (exclusive), in row order."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
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

    # Runs touch when they are on consecutive rows and overlap (diagonally too: ends are exclusive). With
    # runs keyed by row * stride + column (sorted), the runs above run i that touch it are one range.
    stride = mask.shape[1] + 2
    start_keys, end_keys = rows * stride + starts, rows * stride + ends
    low = np.searchsorted(end_keys, start_keys - stride, "left")
    high = np.searchsorted(start_keys, end_keys - stride, "right")
    counts = np.maximum(high - low, 0)
    here = np.repeat(np.arange(len(rows)), counts)
    above = np.repeat(low - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    for i, j in zip(here.tolist(), above.tolist()):
        parent[root(i)] = root(j)
    labels = np.array(parent, np.int64)
    while True:  # every run to its root: pointer jumping on all runs at once (the chains left are short)
        jumped = labels[labels]
        if np.array_equal(jumped, labels):
            return labels, rows, starts, ends
        labels = jumped


def digit_mask(strong):
    """Boolean mask (same shape as `strong`) of the cells that belong to the digit."""
    factor = max(1, int(np.ceil(max(strong.shape) / PIECES_GRID)))
    small = strong
    if factor > 1:  # a cell is ink if any of its pixels is
        height, width = -(-strong.shape[0] // factor), -(-strong.shape[1] // factor)
        padded = np.zeros((height * factor, width * factor), bool)
        padded[: strong.shape[0], : strong.shape[1]] = strong
        small = functools.reduce(np.logical_or, (padded[i::factor, j::factor] for i in range(factor) for j in range(factor)))
    height, width = small.shape
    labels, rows, starts, ends = components(small)
    if not len(labels):
        return np.zeros(strong.shape, bool)
    # per piece (indexed by its root run; other runs' entries stay empty): area, top, bottom, left, right
    at, count = labels, len(labels)
    area = np.bincount(at, ends - starts, minlength=count)
    top, left = np.full(count, height), np.full(count, width)
    bottom, right = np.full(count, -1), np.zeros(count, np.int64)
    np.minimum.at(top, at, rows)
    np.maximum.at(bottom, at, rows)
    np.minimum.at(left, at, starts)
    np.maximum.at(right, at, ends)
    border = (top == 0) | (left == 0) | (bottom == height - 1) | (right == width)
    # The digit is the largest piece, but one touching the border must be BORDER_HANDICAP times larger than
    # the largest free one to count (a page's edge or the table is large; a digit touching the edge is not).
    main = int(np.argmax(area * np.where(border, 1 / BORDER_HANDICAP, 1)))
    margin = 0.35 * max(bottom[main] - top[main] + 1, right[main] - left[main])
    keep = ((area >= 0.02 * area[main]) & (~border | border[main])
            & (top <= bottom[main] + margin) & (bottom >= top[main] - margin)
            & (left <= right[main] + margin) & (right >= left[main] - margin))
    keep[main] = True
    kept_runs = keep[at]
    # the kept runs drawn back: +1 where a run starts, -1 where it ends, summed along the row
    edges = np.zeros((height, width + 1), np.int16)
    np.add.at(edges, (rows[kept_runs], starts[kept_runs]), 1)
    np.add.at(edges, (rows[kept_runs], ends[kept_runs]), -1)
    kept = np.cumsum(edges[:, :width], axis=1) > 0
    # a cell more all round: the digit's soft edges (and a stroke's faint end) are the digit's too
    grown = spread(kept)
    if factor > 1:
        grown = grown.repeat(factor, axis=0).repeat(factor, axis=1)
    return grown[: strong.shape[0], : strong.shape[1]]
