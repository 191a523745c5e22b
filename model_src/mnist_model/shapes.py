"""A digit's shape as a pen would retrace it: its skeleton, how wide its ink is along it, and its holes.

realistic.py redraws held-out digits with other pens from this. A skeleton alone loses what the writer filled
in (the small lower loop of many 8s thins to a line and redraws as a 9), and a fat pen can draw a loop shut;
the widths and holes found here let the redraw keep both. Only PIL and numpy.
"""
import numpy as np
from PIL import Image

SCALE = 4  # the skeleton is found on a 112x112 upsampling of the 28x28 digit
SOLID = 1.3  # ink over this many times the digit's typical stroke width is a filled part, kept solid
SMALLEST_HOLE = 10  # px of the 112x112 mask: a loop's hole smaller than this (under 1 px at 28x28) is noise
NEIGHBOURS = ((0, 1), (1, 0), (1, 1), (1, -1))


def thin(mask):
    """Zhang-Suen thinning of a boolean mask: one-pixel-wide centre lines, topology kept."""
    m = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = [m[:-2, 1:-1], m[:-2, 2:], m[1:-1, 2:], m[2:, 2:], m[2:, 1:-1], m[2:, :-2], m[1:-1, :-2], m[:-2, :-2]]
            count = sum(q.astype(np.int32) for q in p)
            transitions = sum(((p[i] == 0) & (p[(i + 1) % 8] == 1)).astype(np.int32) for i in range(8))
            if step == 0:
                side = (p[0] * p[2] * p[4] == 0) & (p[2] * p[4] * p[6] == 0)
            else:
                side = (p[0] * p[2] * p[6] == 0) & (p[0] * p[4] * p[6] == 0)
            remove = (m[1:-1, 1:-1] == 1) & (count >= 2) & (count <= 6) & (transitions == 1) & side
            if remove.any():
                m[1:-1, 1:-1][remove] = 0
                changed = True
        if not changed:
            return m[1:-1, 1:-1].astype(bool)


def depth(mask, ys, xs):
    """The distance (px) from each pixel (ys, xs) of the boolean mask to the nearest pixel outside it: exact."""
    m = np.pad(mask, 1)
    edge = ~m & (np.roll(m, 1, 0) | np.roll(m, -1, 0) | np.roll(m, 1, 1) | np.roll(m, -1, 1))
    ey, ex = np.nonzero(edge)
    if not len(ey) or not len(ys):
        return np.zeros(len(ys), np.float32)
    return np.sqrt(((ys[:, None] + 1 - ey) ** 2 + (xs[:, None] + 1 - ex) ** 2).min(1)).astype(np.float32)


def spread(seed, free):
    """The pixels of boolean `free` 4-connected within it to those of `seed`: whole runs along rows, then
    columns, until nothing changes (a few passes for a digit's shapes)."""
    reach = seed & free
    while True:
        before = reach.sum()
        for turn in (False, True):
            f, r = (free.T, reach.T) if turn else (free, reach)
            f = np.pad(f, ((0, 0), (0, 1)))  # a gap after each line: runs never wrap onto the next
            run = np.cumsum(f & ~np.roll(f, 1)).reshape(f.shape) * f
            hit = np.bincount(run.ravel(), np.pad(r, ((0, 0), (0, 1))).ravel(), run.max() + 1) > 0
            hit[0] = False
            reach = hit[run][:, :-1]
            reach = reach.T if turn else reach
        if reach.sum() == before:
            return reach


def holes(mask):
    """The holes of a boolean mask (background not 4-connected to the border), each [n, 2] (y, x), SMALLEST_HOLE
    px and over."""
    border = np.zeros(mask.shape, bool)
    border[[0, -1], :] = border[:, [0, -1]] = True
    inside = ~mask & ~spread(border, ~mask)
    found = []
    while inside.any():
        seed = np.zeros(mask.shape, bool)
        seed[tuple(np.argwhere(inside)[0])] = True
        hole = spread(seed, inside)
        inside &= ~hole
        if hole.sum() >= SMALLEST_HOLE:
            found.append(np.argwhere(hole))
    return found


def skeleton(digit):
    """28x28 white-on-black uint8 -> (points [K, 2] as (x, y) in 0..1 of the field, neighbour pairs [J, 2],
    excess [K]: how much wider than the digit's typical stroke the ink is around each point, 0..1 of the field,
    clearance: the widest pen half width that leaves every hole of the digit (a 0's, 6's, 8's loops) at least
    a point of paper, 0..1 of the field, inf without holes).

    The excess keeps what a skeleton alone loses: a loop the writer filled in (the small lower loop of many
    8s, the loop of a 6 or 9 written with a blunt pen) thins to a line, and redrawn as a line the 8 reads 9.
    """
    big = np.asarray(Image.fromarray(digit, "L").resize((28 * SCALE, 28 * SCALE), Image.Resampling.BICUBIC))
    mask = big > 110
    lines = thin(mask)
    ys, xs = np.nonzero(lines)
    index = -np.ones(lines.shape, np.int64)
    index[ys, xs] = np.arange(len(ys))
    pairs = []
    for dy, dx in NEIGHBOURS:
        ty, tx = ys + dy, xs + dx
        inside = (ty < lines.shape[0]) & (tx >= 0) & (tx < lines.shape[1])
        found = index[ty[inside], tx[inside]]
        pairs.append(np.stack([np.flatnonzero(inside)[found >= 0], found[found >= 0]], 1))
    points = (np.stack([xs, ys], 1) + 0.5) / lines.shape[0]
    radius = depth(mask, ys, xs)  # half the ink's width across each skeleton point
    typical = np.median(radius) if len(radius) else 0.0
    excess = np.where(radius > SOLID * typical, radius - typical, 0)  # not where it is only a little wider
    clearance = np.inf
    for hole in holes(mask):  # the hole's point farthest from the ink drawn around the skeleton (pen aside)
        gap = np.sqrt(((hole[:, None, :] - np.stack([ys, xs], 1)) ** 2).sum(2)) - excess
        clearance = min(clearance, gap.min(1).max())
    return points, np.concatenate(pairs), excess / lines.shape[0], clearance / lines.shape[0]
