"""Turn any image of a digit into the 28x28 input the network was trained on.

MNIST digits are white on black, fitted into a 20x20 box keeping their aspect
ratio and centred by centre of mass in a 28x28 field.  Photos and drawings are
mostly dark on light, any size and any mode, so we redo those steps.
Only PIL (and numpy, for arrays) is used here, no torch: both backends share this, and it is also
pasted into the stand-alone run_mnist.py.
"""
import math
import os
import warnings

import numpy as np
from PIL import Image, ImageFile

from .ink import ink_of
from .pieces import digit_mask
from .strokes import normalise_width, saturated, width_steps

FAINTEST = 0.2  # around the digit, ink fainter than this share of the threshold is noise (edges stay)
# MNIST put each digit's centre of mass on pixel 14 (0-based), not on the field's middle (13.5): its training
# digits' centres lie in 13.50-14.50 on both axes (a whole-pixel shift to 14). On 13.5, every field was half a
# pixel up and left of MNIST's.
CENTRE = 14
MAX_PIXELS = 40_000_000  # larger is refused: a decompression bomb costs GBs to decode
# A digit ends up 20x20: anything larger is reduced to about this many pixels right after decoding (box
# filter: thin strokes stay, as gray), and a JPEG is decoded at that scale directly, so a 40 MP photo
# never costs more than one decoded copy of itself.
WORKING_PIXELS = 4_000_000
# mode -> what it becomes before reduce(): a palette keeps its transparency, 16-bit keeps its range
REDUCE_FIRST = {"1": lambda img: "L", "P": lambda img: "RGBA" if "transparency" in img.info else "RGB",
                "I;16": lambda img: "I", "I;16L": lambda img: "I", "I;16B": lambda img: "I", "I;16N": lambda img: "I"}


class ImageError(Exception):
    """An input that cannot be read as a digit; the message names the problem."""


def open_image(path):
    """Open and fully decode `path`, turning PIL's many failures into ImageError."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    if os.path.exists(path) and not (os.path.isfile(path) or os.path.isdir(path)):
        raise ImageError("not a regular file (a pipe, socket or device); only image files are read")
    try:
        with warnings.catch_warnings():
            # PIL warns about corrupt metadata on stderr; the one line we print says what is wrong.
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise ImageError(
                        f"image is {width}x{height} pixels, over the {MAX_PIXELS // 1_000_000} megapixel limit; "
                        "scale it down"
                    )
                if width * height > WORKING_PIXELS and img.format == "JPEG":
                    scale = math.sqrt(WORKING_PIXELS / (width * height))
                    img.draft(img.mode, (int(width * scale), int(height * scale)))
                img.load()
                factor = math.ceil(math.sqrt(img.width * img.height / WORKING_PIXELS))
                if factor > 1 and img.mode in REDUCE_FIRST:  # reduce() refuses these modes
                    img = img.convert(REDUCE_FIRST[img.mode](img))
                return img.reduce(factor) if factor > 1 else img
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError(f"image is over the {MAX_PIXELS // 1_000_000} megapixel limit; scale it down") from None
    except FileNotFoundError:
        raise ImageError("no such file") from None
    except IsADirectoryError:
        raise ImageError("is a directory") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except Image.UnidentifiedImageError:
        raise ImageError("not an image PIL can read (empty or unknown format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"cannot decode image ({exc}); the file may be truncated or corrupt") from None


def _already_a_field(img):
    """Is `img` what to_field makes (as MNIST stores a digit)? 28x28 grey, the digit alone on pure black, 20
    px its longer side, its centre of mass within a pixel of pixel 14 (CENTRE), strokes in MNIST's width range at
    that size. Redoing the steps costs more than decoding it, and cost the validation folds accuracy."""
    if img.mode != "L" or img.size != (28, 28):
        return False
    box = img.getbbox()
    if not box or max(box[2] - box[0], box[3] - box[1]) != 20:
        return False
    pixels, middle = np.asarray(img, np.float32), np.arange(28, dtype=np.float32) - CENTRE
    if abs(pixels.sum(axis=1) @ middle) > pixels.sum() or abs(pixels.sum(axis=0) @ middle) > pixels.sum():
        return False
    return width_steps(saturated(np.asarray(img.crop(box)))) == 0


def to_field(img):
    """Any PIL image -> 784 bytes: white digit on black, fitted in 20x20, centred by mass in 28x28.

    ink.py finds the ink against the local paper, strokes.py keeps the digit's pieces and gives its strokes
    MNIST's width; then MNIST's own steps: the 20x20 fit and the shift of the centre of mass to pixel 14.
    A picture already in that form is returned as it is.
    """
    if _already_a_field(img):
        return img.tobytes()
    found = ink_of(img)
    if found is None:
        raise ImageError("blank image: no digit found")
    strength, threshold = found
    strong = strength >= threshold
    keep = digit_mask(strong)
    strong &= keep
    rows, columns = np.flatnonzero(strong.any(axis=1)), np.flatnonzero(strong.any(axis=0))
    if not len(rows):
        raise ImageError("blank image: no digit found")
    top, bottom, left, right = rows[0], rows[-1] + 1, columns[0], columns[-1] + 1
    crop = strength[top:bottom, left:right]
    crop = crop * ((crop > FAINTEST * threshold) & keep[top:bottom, left:right])
    digit = normalise_width(Image.fromarray((crop * 255).round().astype(np.uint8)))
    fit = 20.0 / max(digit.size)
    size = (max(1, round(digit.width * fit)), max(1, round(digit.height * fit)))
    digit = digit.resize(size, Image.Resampling.BILINEAR)  # PIL antialiases when it shrinks
    pixels = np.asarray(digit)
    mass = int(pixels.sum(dtype=np.int64))
    if not mass:
        raise ImageError("blank image: no digit found")
    centre_x = pixels.sum(axis=0, dtype=np.int64) @ np.arange(size[0]) / mass
    centre_y = pixels.sum(axis=1, dtype=np.int64) @ np.arange(size[1]) / mass
    left = min(max(int(round(CENTRE - centre_x)), 0), 28 - size[0])
    top = min(max(int(round(CENTRE - centre_y)), 0), 28 - size[1])
    field = np.zeros((28, 28), np.uint8)
    field[top : top + size[1], left : left + size[0]] = pixels
    return field.tobytes()


def array_to_image(image):
    """An array-like [H, W] or [H, W, 3|4] (0..255, or floats in 0..1) -> an L, RGB or RGBA PIL image."""
    # A copy: arrays may be read-only, and the caller's data must stay untouched.
    pixels = np.array(image.detach().cpu() if hasattr(image, "detach") else image, dtype=np.float32)
    full = 1.0 if pixels.size and pixels.max() <= 1.0 else 255.0
    mode = {2: "L", 3: "RGB", 4: "RGBA"}.get(pixels.shape[-1] if pixels.ndim == 3 else pixels.ndim)
    if pixels.ndim not in (2, 3) or mode is None or not pixels.size:
        raise ImageError(f"array of shape {tuple(pixels.shape)} is not a 2-D image")
    pixels = np.clip(np.round(pixels * np.float32(255.0 / full)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode)


def field_of(image):
    """A path, PIL image or array-like -> the 784-byte field (see to_field)."""
    if isinstance(image, Image.Image):
        image.load()
        return to_field(image)
    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        return to_field(open_image(image))
    return to_field(array_to_image(image))
