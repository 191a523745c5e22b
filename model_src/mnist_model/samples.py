"""Held-out digits written as image files, to try `run-mnist` on real MNIST and to measure it."""
from pathlib import Path

import numpy as np

STYLES = ("white-on-black", "black-on-white")


def _check(style):
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; use {' or '.join(STYLES)}")


def picture(digit, style="white-on-black", size=28):
    """A 28x28 MNIST digit (uint8, ink high) as a PIL picture: black-on-white inverts it, as a person writes on
    paper; size != 28 enlarges it (bicubic). What the bench hands run-mnist, and tune_regimen.py scores."""
    from PIL import Image, ImageOps

    _check(style)
    image = Image.frombytes("L", (28, 28), np.ascontiguousarray(digit, np.uint8).tobytes())
    if style == "black-on-white":
        image = ImageOps.invert(image)
    return image.resize((size, size), Image.Resampling.BICUBIC) if size != 28 else image


def write_pngs(data_dir, out_dir, style="white-on-black", size=28, limit=None):
    """Write held-out digits as `<index>_<label>.png`; returns [(path, label), ...].

    Each is picture(digit, style, size).
    """
    from .data import load_split

    _check(style)
    images, labels = load_split(data_dir, train=False)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index in range(len(images) if limit is None else min(limit, len(images))):
        image = picture(images[index].numpy(), style, size)
        path = out_dir / f"{index:04d}_{int(labels[index])}.png"
        image.save(path)
        written.append((path, int(labels[index])))
    return written
