"""Held-out digits written as image files, to try `run-mnist` on real MNIST and to measure it."""
from pathlib import Path

STYLES = ("white-on-black", "black-on-white")


def write_pngs(data_dir, out_dir, style="white-on-black", size=28, limit=None):
    """Write held-out digits as `<index>_<label>.png`; returns [(path, label), ...].

    black-on-white inverts them, as a person writes on paper; size != 28 resizes.
    """
    from PIL import Image, ImageOps

    from .data import load_split

    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; use {' or '.join(STYLES)}")
    images, labels = load_split(data_dir, train=False)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index in range(len(images) if limit is None else min(limit, len(images))):
        image = Image.frombytes("L", (28, 28), images[index].numpy().tobytes())
        if style == "black-on-white":
            image = ImageOps.invert(image)
        if size != 28:
            image = image.resize((size, size), Image.Resampling.BICUBIC)
        path = out_dir / f"{index:04d}_{int(labels[index])}.png"
        image.save(path)
        written.append((path, int(labels[index])))
    return written
