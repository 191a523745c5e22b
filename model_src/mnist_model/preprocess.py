"""Turn any image of a digit into the 28x28 tensor the network was trained on.

MNIST digits are white on black, fitted into a 20x20 box keeping their aspect
ratio and centred by centre of mass in a 28x28 field.  Photos and drawings are
mostly dark on light, any size and any mode, so we redo those steps.
Only PIL and torch are used here: this module is also pasted into the
stand-alone run_mnist.py.
"""
import warnings

import torch
from torch.nn import functional as F
from PIL import Image, ImageFile

from .network import MNIST_MEAN, MNIST_STD

MAX_PIXELS = 40_000_000  # larger is refused: a decompression bomb costs GBs to decode
INK_FRACTION = 0.1  # pixels darker than this share of the peak are background


class ImageError(Exception):
    """An input that cannot be read as a digit; the message names the problem."""


def open_image(path):
    """Open and fully decode `path`, turning PIL's many failures into ImageError."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False
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
                img.load()
                return img
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
    """Float tensor [H, W] in 0..255 for any PIL mode; transparency is composited on white."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        gray = torch.frombuffer(bytearray(img.convert("F").tobytes()), dtype=torch.float32)
        low, high = gray.min(), gray.max()
        gray = (gray - low) * (255.0 / (high - low)) if high > low else torch.zeros_like(gray)
        return gray.reshape(img.height, img.width)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info) or (
        img.mode in ("RGB", "L") and "transparency" in img.info
    ):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    gray = img.convert("L")
    return torch.frombuffer(bytearray(gray.tobytes()), dtype=torch.uint8).reshape(gray.height, gray.width).float()


def to_mnist(gray):
    """[H, W] 0..255 gray -> normalised [1, 28, 28], white digit on black, centred like MNIST."""
    border = torch.cat([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = border.median()
    if background > 127:  # dark ink on a light page
        gray, background = 255.0 - gray, 255.0 - background
    ink = (gray - background).clamp(min=0)
    peak = ink.max()
    if peak <= 0:
        raise ImageError("blank image: no digit found")
    ink = ink / peak
    rows = (ink > INK_FRACTION).any(dim=1).nonzero()
    cols = (ink > INK_FRACTION).any(dim=0).nonzero()
    ink = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = ink.shape
    scale = 20.0 / max(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    digit = F.interpolate(ink[None, None], size=size, mode="bilinear", antialias=True, align_corners=False)[0, 0]
    digit = digit.clamp(0, 1)
    # Shift so the centre of mass lands on the centre of the 28x28 field.
    total = digit.sum()
    ys = torch.arange(size[0], dtype=torch.float32)
    xs = torch.arange(size[1], dtype=torch.float32)
    com_y = float((digit.sum(dim=1) * ys).sum() / total)
    com_x = float((digit.sum(dim=0) * xs).sum() / total)
    top = min(max(round(13.5 - com_y), 0), 28 - size[0])
    left = min(max(round(13.5 - com_x), 0), 28 - size[1])
    field = torch.zeros(28, 28)
    field[top : top + size[0], left : left + size[1]] = digit
    return ((field - MNIST_MEAN) / MNIST_STD)[None]


def prepare(image):
    """A path, PIL image or array-like of shape [H, W] (0..255) -> normalised [1, 28, 28]."""
    if isinstance(image, Image.Image):
        image.load()
        gray = to_gray(image)
    elif isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        gray = to_gray(open_image(image))
    else:
        # A copy: arrays may be read-only, and the caller's data must stay untouched.
        gray = image.float().clone() if isinstance(image, torch.Tensor) else torch.tensor(image, dtype=torch.float32)
        if gray.ndim == 3 and gray.shape[-1] in (3, 4):  # H, W, RGB(A)
            full = 1.0 if gray.max() <= 1.0 else 255.0
            if gray.shape[-1] == 4:  # transparent means paper: composite on white, as for PIL images
                alpha = gray[..., 3:] / full
                gray = gray[..., :3] * alpha + full * (1 - alpha)
            gray = gray[..., :3].mean(dim=-1)
        if gray.ndim != 2:
            raise ImageError(f"array of shape {tuple(gray.shape)} is not a 2-D image")
        if gray.max() <= 1.0:  # floats in 0..1
            gray = gray * 255.0
    return to_mnist(gray)
