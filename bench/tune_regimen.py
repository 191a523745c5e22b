"""Choose the default regimen's hyper-parameters on validation folds carved from the 4,000 training digits.

    .venv/bin/python bench/tune_regimen.py "epochs=30;batch_size=256;lr=0.01" "epochs=40;distortions=width,blur"
    .venv/bin/python bench/tune_regimen.py --folds 2 --realistic --uci-style "seed=1" "seed=1;distortions=elastic"

Each candidate (overrides of the default regimen) is trained on 3,200 training digits and scored on the
other 800 (80 per digit, stratified with data.split_indices and seeds 1, 2, ...: a fold per seed): plain
MNIST-style accuracy and, with --realistic, accuracy on realistic.py's sets made from 200 of those 800
validation digits, through run-mnist's preprocessing; with --black-on-white, all 800 inverted at 200x200 (as the
bench writes the held-out digits); with --uci-style, all 800 reduced as UCI reduced its scans
(uci_digits.uci_style), the stand-in for the UCI figure. The held-out 1,000 are never loaded. Prints one line per
candidate and fold, with the wall time of fit().
"""
import argparse
import sys
import time

import numpy as np
import torch

from common import ROOT

sys.path.insert(0, str(ROOT / "model_src"))

from mnist_model.data import load_split, split_indices  # noqa: E402
from mnist_model.network import normalise  # noqa: E402
from mnist_model.train import fit, regimen_from  # noqa: E402

VALIDATION_PER_CLASS = 80
REALISTIC_EVERY = 4  # realistic sets of every 4th validation digit: 200 pictures a set


def parse(candidate):
    overrides = {}
    for item in filter(None, candidate.split(";")):
        key, value = item.split("=")
        if value in ("True", "False"):
            overrides[key] = value == "True"
            continue
        for kind in (int, float):
            try:
                value = kind(value)
                break
            except ValueError:
                continue
        overrides[key] = value
    return overrides


def fields_of(pictures, labels):
    """(uint8 fields, labels) of `pictures` through run-mnist's preprocessing; a picture it cannot read (run-mnist
    would say "blank image") gets an empty field and the label -1, so it counts as wrong."""
    from mnist_model.preprocess import ImageError, field_of

    fields, truth = [], labels.clone()
    for row, picture in enumerate(pictures):
        try:
            fields.append(field_of(picture))
        except ImageError:
            fields.append(bytes(784))
            truth[row] = -1
    return torch.frombuffer(bytearray(b"".join(fields)), dtype=torch.uint8), truth


def realistic_fields(images, labels):
    """{set: (fields, labels)} of every REALISTIC_EVERY-th validation digit: made once per fold."""
    from mnist_model.realistic import SETS, render

    some = slice(None, None, REALISTIC_EVERY)
    return {name: fields_of(render(name, images[some].numpy(), range(0, len(images), REALISTIC_EVERY)), labels[some])
            for name in SETS}


def black_on_white_fields(images, labels):
    """{"black_on_white": (fields, labels)}: every validation digit inverted and enlarged to 200x200 (bicubic), as
    bench_realistic.py writes the held-out digits for run-mnist."""
    from mnist_model.samples import picture

    return {"black_on_white": fields_of((picture(digit, "black-on-white", 200) for digit in images.numpy()), labels)}


def uci_style_fields(images, labels):
    """{"uci_style": (fields, labels)}: every validation digit reduced as UCI reduced its scans (8x8 blocks): the
    UCI figure's stand-in, made from the fold's own digits."""
    from mnist_model.uci_digits import uci_style

    return {"uci_style": fields_of((uci_style(digit) for digit in images.numpy()), labels)}


def score(model, images, labels, realistic):
    model.eval()
    with torch.inference_mode():
        scores = {"mnist": (model(normalise(images)).argmax(1) == labels).float().mean().item()}
        for name, (pixels, truth) in realistic.items():
            scores[name] = (model(normalise(pixels)).argmax(1) == truth).float().mean().item()
    return scores


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", nargs="+", help="key=value;key=value overrides of the default regimen")
    parser.add_argument("--folds", type=int, default=1)
    parser.add_argument("--realistic", action="store_true", help="also score realistic sets of the validation digits")
    parser.add_argument("--black-on-white", action="store_true",
                        help="also score the validation digits black on white, 200x200, through preprocessing")
    parser.add_argument("--uci-style", action="store_true",
                        help="also score the validation digits reduced as UCI reduced its scans (8x8 blocks)")
    args = parser.parse_args(argv)
    images, labels = load_split(ROOT / "data", train=True)
    folds = [split_indices(labels.numpy(), seed=fold, held_out_per_class=VALIDATION_PER_CLASS)
             for fold in range(1, args.folds + 1)]
    realistic = [{**(realistic_fields(images[valid], labels[valid]) if args.realistic else {}),
                  **(black_on_white_fields(images[valid], labels[valid]) if args.black_on_white else {}),
                  **(uci_style_fields(images[valid], labels[valid]) if args.uci_style else {})} for _, valid in folds]
    for candidate in args.candidates:
        regimen = regimen_from("default", **parse(candidate))
        for fold, (train_rows, valid_rows) in enumerate(folds, 1):
            started = time.perf_counter()
            model = fit(images[train_rows], labels[train_rows], regimen)
            seconds = time.perf_counter() - started
            scores = score(model, images[valid_rows], labels[valid_rows], realistic[fold - 1])
            shown = "  ".join(f"{k} {v * 100:.1f}%" for k, v in scores.items())
            print(f"{candidate or 'default'}  fold {fold}  fit {seconds:.1f} s  {shown}  "
                  f"(worst {min(scores.values()) * 100:.1f}%, mean {np.mean(list(scores.values())) * 100:.2f}%)",
                  flush=True)


if __name__ == "__main__":
    main()
