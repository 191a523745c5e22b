"""Pages for realistic.py's digits: paper and pen colours, lighting, transparency, a phone's framing.

`ink` is a float32 coverage map (0..1) of the redrawn digit; each function returns a PIL image.
"""
import numpy as np
from PIL import Image, ImageFilter


def paper(ink, size, at, paper_rgb, pen_rgb, rng, noise=0.0):
    """A page `size` (w, h) of `paper_rgb` with the ink in `pen_rgb` at `at` (x, y), plus sensor noise: RGB, or
    L when both colours are one number."""
    width, height = size
    grey = np.ndim(paper_rgb) == 0
    page = np.empty((height, width, 1 if grey else 3), np.float32)
    page[:] = paper_rgb
    x, y = at
    h, w = ink.shape
    area = page[y : y + h, x : x + w]
    area[:] = area * (1 - ink[..., None]) + np.asarray(pen_rgb, np.float32) * ink[..., None]
    if noise:
        page += noise * rng.standard_normal(page.shape, dtype=np.float32)
    page = page.clip(0, 255).astype(np.uint8)
    return Image.fromarray(page[..., 0], "L") if grey else Image.fromarray(page, "RGB")


def illumination(height, width, rng, darkest=0.45):
    """A light falling off across the page (a linear gradient in a random direction) times a vignette."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ys, xs = ys / height - 0.5, xs / width - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xs + np.sin(angle) * ys) + 0.5  # 0..1 across the page
    vignette = 1 - 0.5 * (xs ** 2 + ys ** 2)
    return (1 - (1 - darkest) * ramp) * vignette


def lit_page(ink, rng, size):
    """Dark ink on a page lit from one side, with the dark edge of the page (the table) along one border."""
    width, height = size
    h, w = ink.shape
    at = ((width - w) // 2 + int(rng.integers(-20, 21)), (height - h) // 2 + int(rng.integers(-20, 21)))
    page = np.asarray(paper(ink, size, at, 235, 25, rng, noise=3), np.float32)
    page = page * illumination(height, width, rng, rng.uniform(0.35, 0.6))
    edge = int(rng.integers(20, 45))  # the table beyond the page, on one side
    side = int(rng.integers(4))
    table = np.float32(rng.uniform(30, 70))
    if side == 0:
        page[:edge] = table
    elif side == 1:
        page[-edge:] = table
    elif side == 2:
        page[:, :edge] = table
    else:
        page[:, -edge:] = table
    image = Image.fromarray(page.clip(0, 255).astype(np.uint8), "L")
    return image.filter(ImageFilter.GaussianBlur(0.8)).convert("RGB")


def transparent(ink, colour, rng):
    """RGBA: the ink's coverage is its alpha; the transparent background's own colour is black or white."""
    alpha = Image.fromarray((ink * 255).round().astype(np.uint8), "L")
    background = (0, 0, 0) if rng.random() < 0.5 else (255, 255, 255)
    rgb = np.empty(ink.shape + (3,), np.float32)
    rgb[:] = background
    rgb[ink > 0] = colour  # drawing apps keep the pen's colour wherever there is any coverage
    image = Image.fromarray(rgb.astype(np.uint8), "RGB")
    image.putalpha(alpha)
    return image


def framed_photo(ink, rng):
    """A portrait phone photo: the page fills the frame, rotated a little (the table shows in the corners),
    the digit in the middle third, light falling off, a little camera blur and noise."""
    width, height = 480, 640
    h, w = ink.shape
    at = ((width - w) // 2 + int(rng.integers(-25, 26)), (height - h) // 2 + int(rng.integers(-30, 31)))
    tint = tuple(int(v) for v in rng.integers(215, 245, 3))
    page = paper(ink, (width, height), at, tint, (int(rng.integers(15, 60)),) * 3, rng)
    table = tuple(int(v) for v in rng.integers(40, 110, 3))
    page = page.rotate(rng.uniform(-8, 8), resample=Image.Resampling.BILINEAR, expand=False, fillcolor=table)
    lit = np.asarray(page, np.float32) * illumination(height, width, rng, rng.uniform(0.55, 0.8))[..., None]
    lit += 3 * rng.standard_normal(lit.shape, dtype=np.float32)
    image = Image.fromarray(lit.clip(0, 255).astype(np.uint8), "RGB")
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 1.4)))
