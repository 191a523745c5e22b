"""Realistic test pictures made from held-out digits: what people actually hand run-mnist.

Each MNIST digit is thinned to its skeleton (shapes.py: Zhang-Suen, at 4x) and redrawn with a round pen of a chosen
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
from .shapes import skeleton

KEEP_OPEN = 0.6  # a pen's half width is at most this share of a hole's clearance, so no loop is drawn shut


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
    "marker": marker,  # black pen on white, 300x300, strokes 20-28 px (less for the 2-8% with a small loop)
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
