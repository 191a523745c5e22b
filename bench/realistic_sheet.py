"""A contact sheet of realistic.py's sets, to look at before trusting them: one row per set, one column per digit.

    .venv/bin/python bench/realistic_sheet.py --out /tmp/realistic.png [--offset 0]

Each cell is the picture as run-mnist would be handed it (composited on grey where transparent, so white
ink shows), scaled to 160 px high, and beside it the 28x28 field preprocessing makes of it.
"""
import argparse
import sys

import numpy as np
from PIL import Image

from common import ROOT

sys.path.insert(0, str(ROOT / "model_src"))

from mnist_model.data import load_split  # noqa: E402
from mnist_model.preprocess import field_of  # noqa: E402
from mnist_model.realistic import SETS, render  # noqa: E402

CELL = 160


def cell(picture):
    shown = picture.convert("RGBA")
    backdrop = Image.new("RGBA", shown.size, (128, 128, 128, 255))
    shown = Image.alpha_composite(backdrop, shown).convert("RGB")
    shown.thumbnail((CELL, CELL))
    try:
        field = Image.frombytes("L", (28, 28), field_of(picture)).resize((56, 56), Image.Resampling.NEAREST)
    except Exception as exc:  # a cell that preprocessing refuses shows as red
        print(f"preprocessing failed: {exc}", file=sys.stderr)
        field = Image.new("L", (56, 56), 0)
    out = Image.new("RGB", (CELL + 60, CELL), (255, 0, 0) if field.getbbox() is None else (255, 255, 255))
    out.paste(shown, (0, 0))
    out.paste(field.convert("RGB"), (CELL + 2, 0))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--offset", type=int, default=0, help="which held-out digit of each class to show")
    parser.add_argument("--sets", nargs="*", default=list(SETS))
    args = parser.parse_args(argv)
    images, labels = load_split(ROOT / "data", train=False)
    rows = [int(np.flatnonzero(labels.numpy() == d)[args.offset]) for d in range(10)]
    sheet = Image.new("RGB", (10 * (CELL + 64), len(args.sets) * (CELL + 4)), (0, 0, 0))
    for r, name in enumerate(args.sets):
        for c, picture in enumerate(render(name, images.numpy()[rows], rows)):
            sheet.paste(cell(picture), (c * (CELL + 64), r * (CELL + 4)))
    sheet.save(args.out)


if __name__ == "__main__":
    main()
