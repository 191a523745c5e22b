"""Realistic test pictures made from held-out digits: what people actually hand run-mnist.

Each MNIST digit is thinned to its skeleton (Zhang-Suen, at 4x) and redrawn with a round pen of a chosen
width (widened where the digit's ink is wider than its own typical stroke, so a filled-in loop stays solid
and an 8 does not become a 9; narrowed where it would draw one of the digit's loops shut), then put on a
page: a marker on white, a grey blurred JPEG photo, uneven lighting with the dark edge
of the page in view, black or white ink on a transparent layer, a thin pen small on a big page, coloured
pens on tinted paper, and a phone photo (portrait, rotated a little, digit in the middle third). Everything
is seeded by the set's name and the digit's index, so the same digits always give the same files. Only
held-out digits are ever rendered for evaluation (evaluate.py); bench/tune_regimen.py renders validation
digits carved from the training split. Only PIL and numpy.
"""
import io
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .pages import framed_photo, lit_page, paper, transparent

SCALE = 4  # the skeleton is found on a 112x112 upsampling of the 28x28 digit
SOLID = 1.3  # ink over this many times the digit's typical stroke width is a filled part, kept solid
SMALLEST_HOLE = 10  # px of the 112x112 mask: a loop's hole smaller than this (under 1 px at 28x28) is noise
KEEP_OPEN = 0.6  # a pen's half width is at most this share of a hole's clearance, so no loop is drawn shut
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


def draw(digit, size, pen, supersample=2):
    """The digit redrawn with a round pen `pen` px wide in a size x size field: ink coverage 0..1 (float32).

    Where the digit's ink is over SOLID times its typical stroke (a filled loop, a blot), the pen is widened by the
    difference, so the shape keeps its solid parts at any pen width; elsewhere every stroke is `pen` wide.
    A pen too fat for a loop of the digit is narrowed until the loop stays open (KEEP_OPEN of its clearance).
    """
    points, pairs, excess, clearance = skeleton(digit)
    side = size * supersample
    canvas = Image.new("L", (side, side), 0)
    pen_ss = max(1.0, min(pen, 2 * KEEP_OPEN * clearance * size) * supersample)
    xy = points * side
    drawing = ImageDraw.Draw(canvas)
    for a, b in pairs:
        drawing.line([tuple(xy[a]), tuple(xy[b])], fill=255, width=int(round(pen_ss)))
    for (x, y), extra in zip(xy, excess * side):
        r = pen_ss / 2 + extra
        drawing.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return np.asarray(canvas.reduce(supersample), np.float32) / 255


def _rng(name, index):
    return np.random.default_rng([zlib.crc32(name.encode()), index])


def _encoded(image, fmt, **options):
    """The picture as a file would hold it: encoded and decoded again (JPEG's artefacts included)."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    buffer.seek(0)
    decoded = Image.open(buffer)
    decoded.load()
    decoded.format_written = fmt
    return decoded


def marker(digit, rng):
    ink = draw(digit, 300, rng.uniform(20, 28))
    return _encoded(paper(ink, (300, 300), (0, 0), 255, 0, rng), "PNG")


def grey_photo(digit, rng):
    size = int(rng.integers(280, 360))
    ink = draw(digit, size, rng.uniform(7, 12))
    page = paper(ink, (size, size), (0, 0), int(rng.integers(165, 205)), int(rng.integers(50, 85)), rng, noise=4)
    page = page.filter(ImageFilter.GaussianBlur(rng.uniform(1.2, 2.2)))
    return _encoded(page, "JPEG", quality=int(rng.integers(55, 80)))


def uneven_lighting(digit, rng):
    return _encoded(lit_page(draw(digit, 300, rng.uniform(8, 12)), rng, (420, 420)), "JPEG", quality=80)


def black_on_transparent(digit, rng):
    return _encoded(transparent(draw(digit, 256, rng.uniform(12, 20)), (0, 0, 0), rng), "PNG")


def white_on_transparent(digit, rng):
    return _encoded(transparent(draw(digit, 256, rng.uniform(12, 20)), (255, 255, 255), rng), "PNG")


def thin_pen(digit, rng):
    size = int(rng.integers(160, 260))
    ink = draw(digit, size, rng.uniform(3, 5))
    at = (int(rng.integers(0, 1000 - size)), int(rng.integers(0, 600 - size)))
    return _encoded(paper(ink, (1000, 600), at, 255, 20, rng), "PNG")  # a drawing app's page: no noise


PENS = [(20, 40, 160), (170, 20, 30), (20, 110, 50), (100, 30, 130), (0, 90, 140)]
PAPERS = [(245, 235, 180), (250, 215, 220), (210, 230, 245), (220, 240, 210), (215, 190, 150)]


def coloured(digit, rng):
    size = int(rng.integers(260, 340))
    ink = draw(digit, size, rng.uniform(6, 12))
    pen, tint = PENS[rng.integers(len(PENS))], PAPERS[rng.integers(len(PAPERS))]
    return _encoded(paper(ink, (size, size), (0, 0), tint, pen, rng, noise=3), "JPEG", quality=85)


def phone(digit, rng):
    return _encoded(framed_photo(draw(digit, 200, rng.uniform(6, 9)), rng), "JPEG", quality=int(rng.integers(70, 88)))


SETS = {
    "marker": marker,  # black pen on white, 300x300, strokes 20-28 px (narrower for ~1 digit in 10 with a small loop)
    "photo": grey_photo,  # grey, blurred, JPEG
    "lighting": uneven_lighting,  # illumination gradient, vignette, the dark page edge in view
    "rgba_black": black_on_transparent,
    "rgba_white": white_on_transparent,  # dark-mode drawing apps
    "thin_pen": thin_pen,  # 3-5 px pen, digit 160-260 px on a 1000x600 page
    "coloured": coloured,  # coloured pens on tinted paper
    "phone": phone,  # portrait phone photo, rotated a little, digit in the middle third
}


def render(name, images, indices=None):
    """The set `name` for uint8 [N, 28, 28] white-on-black digits: a list of decoded PIL images.

    `indices` (default 0..N-1) seed each picture, so a digit looks the same whichever subset is rendered.
    """
    build = SETS[name]
    indices = range(len(images)) if indices is None else indices
    return [build(np.asarray(image, np.uint8), _rng(name, int(i))) for image, i in zip(images, indices)]
