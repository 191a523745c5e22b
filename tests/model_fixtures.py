"""Fixtures shared by the model package's tests (data, training, run-mnist, stand-alone, API).

Expensive things are made once per session and only ever in tmp directories: a copy
of the committed dataset, held-out digits as PNGs, a corpus of images in every mode,
a corpus of bad inputs, and one run of `run-mnist` over both corpora, which several
tests read from different angles. The repo's data/ and weights are only read.

Test modules load this file with `pytest_plugins = ["model_fixtures"]`, so each
session fixture exists once however many modules use it.
"""
import hashlib
import importlib.util
import io
import json
import os
import random
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps

from helpers import PYTHON, ROOT, run

MODEL_SRC = ROOT / "model_src"
PACKAGE = MODEL_SRC / "mnist_model"
WEIGHTS = PACKAGE / "weights" / "model.pth"
MANIFEST = PACKAGE / "weights" / "model.json"
LOCK = PACKAGE / "weights" / "mlbundle.lock"


def _reference_tutorial():
    spec = importlib.util.spec_from_file_location("reference_tutorial", ROOT / "bench" / "reference_tutorial.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DATA = ROOT / "data"
SPLIT_JSON = DATA / "MNIST" / "split.json"
PACKAGE_ENV = {"PYTHONPATH": str(MODEL_SRC)}
PER_DIGIT = 30  # held-out PNGs per digit for the accuracy runs: 300 of each style
JSON_TOLERANCE = 1e-6  # run-mnist rounds probabilities to 6 places


# The tutorial's Net as bench/reference_tutorial.py keeps it: one copy of the reference, independent of ours.
TutorialNet = _reference_tutorial().Net


def tutorial_normalise(images):
    """The tutorial's transforms (ToTensor, Normalize((0.1307,), (0.3081,))) on a uint8 [N, 28, 28] batch."""
    return ((images.float() / 255.0 - 0.1307) / 0.3081).unsqueeze(1)


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_mnist(*args, cwd):
    """`python -m mnist_model.cli ARGS` from the repo's model_src, as a user runs run-mnist."""
    return run([PYTHON, "-m", "mnist_model.cli", *args], cwd=cwd, env=PACKAGE_ENV, timeout=600)


def run_module(*args, cwd):
    """`python -m mnist_model ARGS` (prepare-data, train, evaluate, standalone)."""
    return run([PYTHON, "-m", "mnist_model", *args], cwd=cwd, env=PACKAGE_ENV, timeout=600)


def run_clean(args, cwd):
    """A command with no PYTHONPATH at all: what a user without the package has."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def assert_no_traceback(result):
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def one_error_line(result, prog="run-mnist"):
    """The single stderr line of a failed run (asserting there is exactly one, and no traceback)."""
    assert_no_traceback(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{result.stderr}"
    assert lines[0].startswith(f"{prog}: "), lines[0]
    return lines[0]


def json_lines(stdout):
    """run-mnist --json output as {file: record}; every line must be one JSON object."""
    records = [json.loads(line) for line in stdout.splitlines()]
    assert all(isinstance(r, dict) for r in records)
    return {r["file"]: r for r in records}


def label_of(path):
    """Digit recorded in a file name ending `_<digit>.<ext>` (write_pngs and the corpora name them so)."""
    return int(re.search(r"_(\d)\.\w+$", str(path)).group(1))


def flip_byte(path, offset=None):
    data = bytearray(Path(path).read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0xFF
    Path(path).write_bytes(bytes(data))


# ---- the committed dataset and weights ---------------------------------------------------------


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """A copy of the committed dataset: tests read and train from it, never from the repo's data/."""
    root = tmp_path_factory.mktemp("data")
    shutil.copytree(DATA, root, dirs_exist_ok=True)
    return root


@pytest.fixture(scope="session")
def heldout(data_dir):
    """The 1,000 held-out digits: (uint8 [1000, 28, 28], int64 [1000]), sorted by label."""
    from mnist_model.data import load_split

    return load_split(data_dir, train=False)


@pytest.fixture(scope="session")
def committed_model():
    from mnist_model.inference import load_model

    return load_model(WEIGHTS)


@pytest.fixture(scope="session")
def committed_metrics(data_dir):
    """evaluate() of the committed weights on the held-out set (one run for every test that needs it)."""
    from mnist_model.evaluate import evaluate

    return evaluate(WEIGHTS, data_dir)


@pytest.fixture(scope="session")
def clear_digits(heldout, committed_model):
    """{digit: 28x28 uint8 white-on-black}: per digit, the first held-out image classified right with p > 0.99.

    The image corpora transform these; a clear digit must stay recognisable in any mode or size.
    """
    from mnist_model.inference import classify, prepare

    images, labels = heldout
    chosen = {}
    for image, label in zip(images, labels.tolist()):
        if label not in chosen:
            [(digit, confidence, _)] = classify(committed_model, prepare(image.numpy())[None])
            if digit == label and confidence > 0.99:
                chosen[label] = image.numpy()
    assert sorted(chosen) == list(range(10))
    return chosen


@pytest.fixture(scope="session")
def heldout_pngs(data_dir, tmp_path_factory):
    """{style: directory} of PER_DIGIT held-out digits per class written by samples.write_pngs:
    white-on-black 28x28 (as MNIST) and black-on-white 200x200 (as on paper)."""
    from mnist_model.samples import write_pngs

    dirs = {}
    for style, size in (("white-on-black", 28), ("black-on-white", 200)):
        everything = tmp_path_factory.mktemp(f"all-{style}")
        subset = tmp_path_factory.mktemp(style)
        # write_pngs writes in held-out order (sorted by label, 100 a digit): keep PER_DIGIT of each.
        for path, _ in write_pngs(data_dir, everything, style=style, size=size):
            if int(path.name[:4]) % 100 < PER_DIGIT:
                shutil.move(path, subset / path.name)
        dirs[style] = subset
    return dirs


@pytest.fixture(scope="session")
def heldout_runs(heldout_pngs, tmp_path_factory):
    """run-mnist --json over each style's PNGs: {style: CompletedProcess}; the white-on-black run by
    directory argument, the black-on-white one by --image glob (the tutorial's way)."""
    cwd = tmp_path_factory.mktemp("cwd")
    return {
        "white-on-black": run_mnist("--json", heldout_pngs["white-on-black"], cwd=cwd),
        "black-on-white": run_mnist("--json", "--image", str(heldout_pngs["black-on-white"] / "*.png"), cwd=cwd),
    }


# ---- a clear digit in every mode and size ------------------------------------------------------


def _paper(a):
    """Black ink on white, 28x28, mode L."""
    return ImageOps.invert(Image.fromarray(a, "L"))


def _big(a, size):
    return _paper(a).resize((size, size), Image.Resampling.BICUBIC)


def _on_transparent(a, mode):
    """A black digit whose background is fully transparent *black*: flattening alpha away shows nothing."""
    image = Image.new(mode, (28, 28), (0, 0) if mode == "LA" else (0, 0, 0, 0))
    image.putalpha(Image.fromarray(a, "L"))
    return image.resize((140, 140), Image.Resampling.BICUBIC)


def _palette_transparent(a):
    """Palette image: index 0 black and transparent (background), index 1 black and opaque (ink)."""
    ink = (np.asarray(_big(a, 112)) < 128).astype(np.uint8)
    image = Image.frombytes("P", (112, 112), ink.tobytes())
    image.putpalette([0, 0, 0, 0, 0, 0])
    image.info["transparency"] = 0
    return image


def _rgb_paper(a):
    """Dark blue ink on beige paper with a little sensor noise, not square."""
    ink = np.asarray(Image.fromarray(a, "L").resize((240, 240), Image.Resampling.BICUBIC)).astype(np.float32) / 255
    page = np.zeros((260, 320, 3), np.float32) + np.array([236, 228, 210], np.float32)
    page[10:250, 60:300] = page[10:250, 60:300] * (1 - ink[..., None]) + np.array([25, 30, 90]) * ink[..., None]
    page += np.random.default_rng(0).normal(0, 2.0, page.shape)
    return Image.fromarray(page.clip(0, 255).astype(np.uint8), "RGB")


def _blue_ink(a):
    ink = _big(a, 200)
    return Image.merge("RGB", [ink, ink, Image.new("L", ink.size, 255)])


def _adaptive_palette(a):
    return _big(a, 100).convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=16)


def _large(a):
    page = Image.new("L", (1000, 700), 255)
    page.paste(_big(a, 420), (450, 200))  # off-centre on a wide page
    return page


# name: (mode PIL reports when the file is opened again, file suffix, builder from 28x28 white-on-black)
MODE_CASES = {
    "L-white-on-black-28": ("L", "png", lambda a: Image.fromarray(a, "L")),
    "L-black-on-white-28": ("L", "png", _paper),
    "RGB-blue-ink-200": ("RGB", "png", _blue_ink),
    "RGB-paper-photo-320x260": ("RGB", "jpg", _rgb_paper),
    "RGBA-black-on-transparent": ("RGBA", "png", lambda a: _on_transparent(a, "RGBA")),
    "LA-black-on-transparent": ("LA", "png", lambda a: _on_transparent(a, "LA")),
    "P-adaptive-palette": ("P", "png", _adaptive_palette),
    "P-transparent-background": ("P", "png", _palette_transparent),
    "P-gif": ("P", "gif", lambda a: _big(a, 80).convert("P")),
    "I;16-white-on-black": ("I;16", "png", lambda a: Image.fromarray(a.astype(np.uint16) * 257)),
    "1-bilevel": ("1", "png", lambda a: _big(a, 112).convert("1", dither=Image.Dither.NONE)),
    "CMYK-jpeg": ("CMYK", "jpg", lambda a: _big(a, 150).convert("CMYK")),
    "RGB-bmp": ("RGB", "bmp", lambda a: _big(a, 64).convert("RGB")),
    "RGB-webp": ("RGB", "webp", lambda a: _big(a, 96).convert("RGB")),
    "tiny-12x12": ("L", "png", lambda a: _paper(a).resize((12, 12), Image.Resampling.LANCZOS)),
    "large-1000x700": ("L", "png", _large),
    "thick-strokes": ("L", "png", lambda a: _big(a, 200).filter(ImageFilter.MinFilter(9))),
    "thin-strokes": ("L", "png", lambda a: _big(a, 300).filter(ImageFilter.MaxFilter(7))),
}


@pytest.fixture(scope="session")
def mode_corpus(clear_digits, tmp_path_factory):
    """A directory with every MODE_CASES case of every digit (`<case>_<digit>.<suffix>`) and a
    README.txt that run-mnist must skip; returns (directory, {case: [(path, digit), ...]})."""
    directory = tmp_path_factory.mktemp("modes")
    cases = {}
    for case, (_, suffix, build) in MODE_CASES.items():
        for digit, image in clear_digits.items():
            path = directory / f"{case}_{digit}.{suffix}"
            build(image).save(path)
            cases.setdefault(case, []).append((path, digit))
    (directory / "README.txt").write_text("not an image: run-mnist lists only image files of a directory\n")
    return directory, cases


# ---- inputs that must each fail on one line ----------------------------------------------------


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png():
    """A 74-byte PNG whose header claims 20000x20000 8-bit gray: 400 megapixels if decoded."""
    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + _png_chunk(b"IEND", b""))


def _encoded(image, fmt):
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def bad_corpus(clear_digits, tmp_path_factory):
    """{kind: (argv words, name run-mnist reports, word the message must contain or None)} and one good
    image with spaces and non-ASCII letters in its name: returns (bad, good_path, good_digit)."""
    d = tmp_path_factory.mktemp("bad inputs")  # a space in every path, too
    garbage = random.Random(2026)
    digit = _big(clear_digits[3], 100)
    files = {
        "text-named-png": ("text.png", b"hello, I am not an image\n", "not an image"),
        "truncated-png": ("truncated.png", _encoded(digit, "PNG")[:-300], "truncated"),
        "truncated-jpeg": ("truncated.jpg", _encoded(digit, "JPEG")[:600], "truncated"),
        "truncated-tiff": ("truncated.tif", _encoded(digit, "TIFF")[:100], None),
        "empty-png": ("empty.png", b"", "not an image"),
        "zero-byte-jpg": ("zero.jpg", b"", "not an image"),
        "decompression-bomb": ("bomb.png", _bomb_png(), "megapixel"),
        "garbage-gif": ("garbage.gif", b"GIF89a" + garbage.randbytes(300), None),
        "garbage-bmp": ("garbage.bmp", b"BM" + garbage.randbytes(300), None),
        "garbage-webp": ("garbage.webp", b"RIFF" + struct.pack("<I", 304) + b"WEBP" + garbage.randbytes(300), None),
    }
    bad = {}
    for kind, (name, data, word) in files.items():
        (d / name).write_bytes(data)
        bad[kind] = ([str(d / name)], str(d / name), word)
    Image.new("L", (200, 200), 255).save(d / "blank.png")
    bad["blank-image"] = ([str(d / "blank.png")], str(d / "blank.png"), "blank")
    bad["missing-file"] = ([str(d / "missing.png")], str(d / "missing.png"), "no such file")
    bad["glob-without-match"] = (["--image", str(d / "nothing-*.png")], str(d / "nothing-*.png"), "no file matches")
    (d / "no images").mkdir()
    (d / "no images" / "notes.txt").write_text("a directory with no image in it\n")
    bad["directory-without-images"] = ([str(d / "no images")], str(d / "no images"), "no images")
    (d / "empty dir").mkdir()
    bad["empty-directory-as---image"] = (["--image", str(d / "empty dir")], str(d / "empty dir"), "no images")
    unreadable = d / "unreadable.png"
    if os.geteuid() == 0:  # root reads a chmod 000 file anyway: a dangling symlink is unreadable for root too
        unreadable.symlink_to(d / "deleted-target.png")
        bad["unreadable"] = ([str(unreadable)], str(unreadable), "no such file")
    else:
        unreadable.write_bytes(_encoded(digit, "PNG"))
        unreadable.chmod(0)
        bad["unreadable"] = ([str(unreadable)], str(unreadable), "permission denied")
    good = d / "mon chiffre – ünïcødé 数字 3.png"
    digit.save(good)
    return bad, good, 3


@pytest.fixture(scope="session")
def corpus_args(mode_corpus, bad_corpus):
    """One run-mnist command line: the mode corpus directory, every bad input and the good unicode file."""
    directory, _ = mode_corpus
    bad, good, _ = bad_corpus
    words = [word for words, _, _ in bad.values() for word in words]
    options = [w for pair in zip(words, words[1:]) if pair[0] == "--image" for w in pair]
    paths = [w for i, w in enumerate(words) if w != "--image" and (i == 0 or words[i - 1] != "--image")]
    # Options first: argparse stops reading positionals after an option (see test_runner's mixing test).
    return ["--json", *options, str(directory), *paths, str(good)]


@pytest.fixture(scope="session")
def corpus_run(corpus_args, tmp_path_factory):
    """run-mnist --json over corpus_args, once for the session."""
    return run_mnist(*corpus_args, cwd=tmp_path_factory.mktemp("cwd"))
