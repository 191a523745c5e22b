"""Turn any image of a digit into the 28x28 input the network was trained on.

MNIST digits are white on black, fitted into a 20x20 box keeping their aspect
ratio and centred by centre of mass in a 28x28 field.  Photos and drawings are
mostly dark on light, any size and any mode, so we redo those steps.
Only PIL (and numpy, for arrays) is used here, no torch: both backends share this, and it is also
pasted into the stand-alone run_mnist.py.
"""
import functools
import math
import os
import warnings

from PIL import Image, ImageChops, ImageFile

MAX_PIXELS = 40_000_000  # larger is refused: a decompression bomb costs GBs to decode
# A digit ends up 20x20: anything larger is reduced to about this many pixels right after decoding (box
# filter: thin strokes stay, as gray), and a JPEG is decoded at that scale directly, so a 40 MP photo
# never costs more than one decoded copy of itself.
WORKING_PIXELS = 4_000_000
# mode -> what it becomes before reduce(): a palette keeps its transparency, 16-bit keeps its range
REDUCE_FIRST = {"1": lambda img: "L", "P": lambda img: "RGBA" if "transparency" in img.info else "RGB",
                "I;16": lambda img: "I", "I;16L": lambda img: "I", "I;16B": lambda img: "I", "I;16N": lambda img: "I"}
INK_FRACTION = 0.1  # pixels fainter than this share of the ink range are background


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


def to_gray(img):
    """An 8-bit gray PIL image for any mode; transparency is composited on white, 16-bit is stretched."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        img = img.convert("I").convert("F") if img.mode.startswith("I;16") else img.convert("F")
        low, high = img.getextrema()
        if high <= low:
            return Image.new("L", img.size, 0)
        return img.point(lambda v: (v - low) * (255.0 / (high - low))).convert("L")
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return img if img.mode == "L" else img.convert("L")


def _centre_of_mass(profile):
    return sum(i * v for i, v in enumerate(profile)) / sum(profile)


@functools.lru_cache(maxsize=4096)
def _stretch(background, peak):
    """Lookup table: background -> 0, peak -> 255; faint pixels (under INK_FRACTION of the range) -> 0."""
    span = peak - background
    floor = background + INK_FRACTION * span
    return [0 if v <= floor else min(255, round((v - background) * 255 / span)) for v in range(256)]


def to_field(gray):
    """8-bit gray PIL image -> 784 bytes: white digit on black, fitted in 20x20, centred by mass in 28x28.

    All in PIL's C code but a few sums over at most 20 numbers: this runs once per image.
    """
    width, height = gray.size
    edges = (0, 0, width, 1), (0, height - 1, width, height), (0, 0, 1, height), (width - 1, 0, width, height)
    border = b"".join(gray.crop(box).tobytes() for box in edges)
    background = sorted(border)[len(border) // 2]  # the median: robust to a digit touching the edge
    if background > 127:  # dark ink on a light page
        gray, background = ImageChops.invert(gray), 255 - background
    peak = gray.getextrema()[1]
    if peak <= background:
        raise ImageError("blank image: no digit found")
    ink = gray.point(_stretch(background, peak))
    digit = ink.crop(ink.getbbox())
    fit = 20.0 / max(digit.size)
    size = (max(1, round(digit.width * fit)), max(1, round(digit.height * fit)))
    digit = digit.resize(size, Image.Resampling.BILINEAR)  # PIL antialiases when it shrinks
    columns = digit.resize((size[0], 1), Image.Resampling.BOX).tobytes()
    rows = digit.resize((1, size[1]), Image.Resampling.BOX).tobytes()
    if not any(columns):
        raise ImageError("blank image: no digit found")
    left = min(max(round(13.5 - _centre_of_mass(columns)), 0), 28 - size[0])
    top = min(max(round(13.5 - _centre_of_mass(rows)), 0), 28 - size[1])
    field = Image.new("L", (28, 28), 0)
    field.paste(digit, (left, top))
    return field.tobytes()


def array_to_gray(image):
    """An array-like [H, W] or [H, W, 3|4] (0..255, or floats in 0..1) -> 8-bit gray PIL image."""
    import numpy as np  # only arrays need it: numpy stays out of a file's path

    # A copy: arrays may be read-only, and the caller's data must stay untouched.
    gray = np.array(image.detach().cpu() if hasattr(image, "detach") else image, dtype=np.float32)
    full = 1.0 if gray.size and gray.max() <= 1.0 else 255.0
    if gray.ndim == 3 and gray.shape[-1] in (3, 4):  # H, W, RGB(A)
        if gray.shape[-1] == 4:  # transparent means paper: composite on white, as for PIL images
            alpha = gray[..., 3:] / full
            gray = gray[..., :3] * alpha + full * (1 - alpha)
        gray = gray[..., :3].mean(axis=-1)
    if gray.ndim != 2 or not gray.size:
        raise ImageError(f"array of shape {tuple(gray.shape)} is not a 2-D image")
    pixels = np.clip(np.round(gray * np.float32(255.0 / full)), 0, 255).astype(np.uint8)
    return Image.frombytes("L", (pixels.shape[1], pixels.shape[0]), pixels.tobytes())


def field_of(image):
    """A path, PIL image or array-like -> the 784-byte field (see to_field)."""
    if isinstance(image, Image.Image):
        image.load()
        return to_field(to_gray(image))
    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        return to_field(to_gray(open_image(image)))
    return to_field(array_to_gray(image))
