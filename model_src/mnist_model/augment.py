"""Training-time distortions: what real pictures look like once preprocess.py has made them 28x28.

Preprocessing fits any picture into MNIST's frame, but what it leaves still differs from MNIST: strokes a
little thicker or thinner than the width it aims for, blur from a camera or from thickening, blocky or
soft edges from a low-resolution source, uneven ink, a slanted or wobbly hand. Each distortion here is
applied to a random part of every batch, on top of the affine jitter, all driven by one seeded generator
so training stays bit-reproducible. They work on ink in 0..1 (0 = background), batch [N, 1, 28, 28].
The regimen names which ones run (`distortions`); on the validation folds the elastic wobble and low
resolution paid for themselves, so the default runs those and the others stay available for tuning.
"""
import functools
import math

import torch
from torch.nn import functional as F

BLUR = torch.tensor([0.25, 0.5, 0.25])
BLUR_KERNEL = (BLUR[:, None] * BLUR[None, :]).view(1, 1, 3, 3)
# [28, 4]: linear interpolation of 4 control points to 28 pixels (an upsampled displacement field as a product)
SMOOTH = F.interpolate(torch.eye(4).view(4, 1, 4), size=28, mode="linear", align_corners=True).view(4, 28).T.contiguous()


def _uniform(n, low, high, generator):
    return low + (high - low) * torch.rand(n, generator=generator)


def _some(n, fraction, generator):
    """A [N, 1, 1, 1] mask choosing about `fraction` of the batch."""
    return (torch.rand(n, generator=generator) < fraction).view(-1, 1, 1, 1)


@functools.lru_cache(maxsize=4)
def _pixel_centres(height, width, dtype):
    """x and y of every pixel centre in -1..1 (row by row), as F.affine_grid computes them (align_corners=False)."""
    across = torch.linspace(-1, 1, width, dtype=dtype) * (width - 1) / width
    down = torch.linspace(-1, 1, height, dtype=dtype) * (height - 1) / height
    return across.repeat(height), down.repeat_interleave(width)


def _affine_grid(theta, height, width):
    """F.affine_grid(theta, [N, C, height, width], align_corners=False), bit for bit, in a tenth of its time (a
    quarter of the default regimen's augmentation): it multiplies by theta in a batched matmul with an inner size
    of 3, CPU's slow path; the same two products and sum per coordinate take three broadcast operations."""
    x, y = _pixel_centres(height, width, theta.dtype)
    grid = theta[:, :, 0:1] * x + theta[:, :, 1:2] * y + theta[:, :, 2:3]  # [N, 2, height * width]
    return grid.transpose(1, 2).reshape(-1, height, width, 2)


def warp(ink, generator, elastic=True):
    """Random rotation, scale, shear and shift (as handwriting varies), plus a smooth elastic wobble."""
    n = ink.shape[0]
    angle = _uniform(n, -12, 12, generator) * math.pi / 180
    scale = _uniform(n, 0.9, 1.1, generator)
    shear = _uniform(n, -0.15, 0.15, generator)
    shift_x, shift_y = _uniform(n, -0.15, 0.15, generator), _uniform(n, -0.15, 0.15, generator)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin + shear, shift_x], 1), torch.stack([sin, cos, shift_y], 1)], 1)
    grid = _affine_grid(theta, *ink.shape[-2:])
    if elastic:  # a coarse 4x4 random displacement, smoothly upsampled: about a pixel of wobble
        coarse = (torch.rand(n, 2, 4, 4, generator=generator) - 0.5) * 0.16
        grid = grid + torch.einsum("yi,ncij,xj->nyxc", SMOOTH, coarse, SMOOTH)
    return F.grid_sample(ink, grid, align_corners=False, padding_mode="zeros")


def _neighbourhood(ink, combine):
    """Max or min over each pixel's 3x3 neighbourhood (shifted slices: far cheaper than a stride-1 max_pool on CPU)."""
    padded = F.pad(ink, (1, 1, 1, 1))
    height, width = ink.shape[-2:]
    rows = combine(combine(padded[..., :-2, :], padded[..., 1:-1, :]), padded[..., 2:, :])
    return combine(combine(rows[..., :width], rows[..., 1 : width + 1]), rows[..., 2:])


def stroke_width(ink, generator, thicker=0.25, thinner=0.2):
    """A pixel more or less of stroke (grey-level dilation or erosion) on part of the batch."""
    choice = torch.rand(ink.shape[0], generator=generator).view(-1, 1, 1, 1)
    dilated, eroded = _neighbourhood(ink, torch.maximum), _neighbourhood(ink, torch.minimum)
    # half a pixel of erosion: thin, but a 1-pixel stroke does not vanish
    eroded = torch.maximum(eroded, 0.5 * ink)
    return torch.where(choice < thicker, dilated, torch.where(choice > 1 - thinner, eroded, ink))


def blur(ink, generator, fraction=0.3):
    blurred = F.conv2d(ink, BLUR_KERNEL, padding=1)
    return torch.where(_some(ink.shape[0], fraction, generator), blurred, ink)


def low_resolution(ink, generator, fraction=0.2):
    """Down to 10-16 pixels and back up, as an image that was small (or 8x8) to begin with."""
    size = int(torch.randint(10, 17, (1,), generator=generator))
    chosen = _some(ink.shape[0], fraction, generator).view(-1)
    # only the chosen part of the batch is resampled (each picture on its own: the same bits as resampling all)
    changed = ink.clone()
    changed[chosen] = F.interpolate(F.interpolate(ink[chosen], size=(size, size), mode="area"),
                                    size=ink.shape[-2:], mode="bilinear", align_corners=False)
    return changed


def uneven_ink(ink, generator, fraction=0.3):
    """Fainter ink overall, and a little noise on the strokes, as a pen or a camera leaves."""
    n = ink.shape[0]
    gain = _uniform(n, 0.6, 1.0, generator).view(-1, 1, 1, 1)
    noise = 1 + 0.15 * torch.randn(ink.shape, generator=generator)
    changed = (ink * gain * noise).clamp(0, 1)
    return torch.where(_some(n, fraction, generator), changed, ink)


DISTORTIONS = {"width": stroke_width, "blur": blur, "lowres": low_resolution, "ink": uneven_ink}


def distort(ink, generator, names="elastic,width,blur,lowres,ink"):
    """The affine jitter (with the elastic wobble if named), then each distortion named, in a fixed order."""
    chosen = set(filter(None, names.split(",")))
    unknown = chosen - set(DISTORTIONS) - {"elastic"}
    if unknown:
        raise ValueError(f"unknown distortion(s) {', '.join(sorted(unknown))}; known: elastic, {', '.join(DISTORTIONS)}")
    ink = warp(ink, generator, elastic="elastic" in chosen)
    for name, function in DISTORTIONS.items():
        if name in chosen:
            ink = function(ink, generator)
    return ink
