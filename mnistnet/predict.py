"""A drawing or photo of a digit -> the 28x28 image MNIST would have had -> class probabilities."""
from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import normalize

INK_THRESHOLD = 0.15   # fraction of full ink below which a pixel counts as paper when cropping
MIN_INK = 0.2          # an image whose strongest ink is fainter than this is empty
MIN_CONTRAST = 0.08    # ink darker (or brighter) than the paper by less than this is no ink at all
MAX_SIDE = 1024        # bigger images are area-averaged down first: faster, and thin strokes survive as grey
PHOTO_CUT = 0.25       # in photos, ink fainter than this (after flattening the paper) is grain or shadow


def _from_pil(image: Any) -> np.ndarray:
    """A PIL image in any mode, upright per its EXIF tag -> array of L, RGB or RGBA values."""
    from PIL import ImageOps  # pillow comes with torchvision; imported here to keep `import` light

    image = ImageOps.exif_transpose(image) or image
    if image.mode in ("P", "PA", "LA", "La", "RGBa") or "transparency" in image.info:
        image = image.convert("RGBA")
    elif image.mode not in ("1", "L", "RGB", "RGBA", "I", "I;16", "I;16L", "I;16B", "F"):
        image = image.convert("RGB")   # CMYK, YCbCr, LAB, HSV: colours, not channels to read as-is
    return np.asarray(image)


def _as_array(image: Any) -> np.ndarray | None:
    """PIL image, array, file path or Gradio ImageEditor dict -> float array in [0, 1], at most MAX_SIDE long."""
    if isinstance(image, dict):  # gr.Sketchpad / gr.ImageEditor value, read without importing gradio
        composite = image.get("composite")
        if composite is None:
            layers = [layer for layer in (image.get("layers") or []) if layer is not None]
            composite = layers[-1] if layers else image.get("background")
        image = composite
    if image is None:
        return None
    if isinstance(image, (str, os.PathLike)):
        from PIL import Image
        with Image.open(image) as im:
            im.load()
            image = im.copy() if im.mode != "P" else im.convert("RGBA")
    if hasattr(image, "mode") and hasattr(image, "getbands"):
        image = _from_pil(image)
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or min(arr.shape[:2]) < 1:
        raise ValueError(f"expected a grayscale, RGB or RGBA image, got an array of shape {arr.shape}")
    if arr.dtype == np.uint8:  # the common case (sketchpad, PNG): already in range, no NaN; the fast path
        arr = arr.astype(np.float32) * np.float32(1 / 255)
    elif arr.dtype == bool:
        arr = arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.integer):
        arr = np.clip(arr.astype(np.float32) / (65535.0 if arr.max(initial=0) > 255 else 255.0), 0.0, 1.0)
    else:
        arr = arr.astype(np.float32)
        top = float(np.nanmax(arr, initial=0))
        if top > 1.0:  # float images in 0..255 (or PIL mode F)
            arr = arr / (255.0 if top <= 255 else top)
        arr = np.clip(np.nan_to_num(arr), 0.0, 1.0)
    h, w = arr.shape[:2]
    if max(h, w) > MAX_SIDE:
        s = MAX_SIDE / max(h, w)
        t = torch.from_numpy(np.ascontiguousarray(arr.reshape(h, w, -1).transpose(2, 0, 1)))[None]
        t = F.interpolate(t, size=(max(1, round(h * s)), max(1, round(w * s))), mode="area")[0]
        arr = t.numpy().transpose(1, 2, 0).squeeze(-1) if arr.ndim == 2 else t.numpy().transpose(1, 2, 0)
    return arr


def _paper_level(ink: np.ndarray) -> np.ndarray:
    """The paper's own ink level at each pixel of a photo (shading, tint), without the strokes."""
    # Morphological opening on a coarse grid: the lowest level per block, opened over 5x5 blocks, drops
    # anything narrower than about a sixth of the image, which every pen stroke is.
    h, w = ink.shape
    block = max(1, round(max(h, w) / 32))
    t = torch.from_numpy(np.ascontiguousarray(ink))[None, None]
    t = F.avg_pool2d(t, 5, stride=1, padding=2, count_include_pad=False)   # grain out before taking minima
    low = -F.max_pool2d(-t, block, stride=block, ceil_mode=True)
    low = -F.max_pool2d(-low, 5, stride=1, padding=2)                        # erode
    low = F.max_pool2d(low, 5, stride=1, padding=2)                          # dilate: opening
    low = F.avg_pool2d(low, 3, stride=1, padding=1, count_include_pad=False)
    return F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()


def ink_map(image: Any) -> np.ndarray | None:
    """How much ink each pixel holds, in [0, 1], whatever the colours: white-on-black, dark-on-light,
    ink on a transparent layer, or a photo of paper."""
    arr = _as_array(image)
    if arr is None:
        return None
    if arr.ndim == 3 and arr.shape[2] == 4:
        alpha = arr[..., 3]
        if alpha.min() < 0.5 <= alpha.max():
            # transparent paper: the ink lives in the alpha channel, whatever its colour
            return alpha
        arr = arr[..., :3]
    gray = arr if arr.ndim == 2 else arr[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    ink = 1.0 - gray if float(np.median(border)) >= 0.5 else gray   # ink is whatever departs from the paper
    ink_border = np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]])
    lo, hi = np.percentile(ink_border, [5, 95])
    photo = hi - lo > 0.03   # drawings and clean scans have flat paper; photos have grain and shading
    ink = ink - (_paper_level(ink) if photo else float(np.median(ink_border)))
    span = float(ink.max())
    if span < MIN_CONTRAST:
        return np.zeros_like(gray)
    ink = np.clip(ink / span, 0.0, 1.0)
    return np.clip((ink - PHOTO_CUT) / (1 - PHOTO_CUT), 0.0, 1.0) if photo else ink


def to_mnist(image: Any) -> np.ndarray | None:
    """The 28x28 float image in [0, 1] (white digit on black) that MNIST would have had, or None if empty.

    As in MNIST's own making: crop to the ink, scale the longer side to 20 px keeping the aspect ratio
    (anti-aliased), then place in 28x28 so that the centre of mass sits at the centre.
    """
    ink = ink_map(image)
    if ink is None or float(ink.max(initial=0)) < MIN_INK:
        return None
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    t = torch.from_numpy(np.ascontiguousarray(crop))[None, None]
    small = F.interpolate(t, size=(nh, nw), mode="bilinear", antialias=scale < 1, align_corners=False)[0, 0]
    small = (small / small.max().clamp_min(1e-6)).clamp_(0, 1).numpy()
    # centre of mass -> pixel (14, 14), where MNIST's own digits have it (mean 13.99, 14.00 over the test set)
    total = small.sum()
    cy = (small.sum(axis=1) * np.arange(nh)).sum() / total
    cx = (small.sum(axis=0) * np.arange(nw)).sum() / total
    top, left = int(round(14 - cy)), int(round(14 - cx))
    top, left = min(max(top, 0), 28 - nh), min(max(left, 0), 28 - nw)
    out = np.zeros((28, 28), dtype=np.float32)
    out[top:top + nh, left:left + nw] = small
    return out


def model_input(img28: np.ndarray) -> torch.Tensor:
    """A 28x28 [0, 1] image -> the normalised [1, 1, 28, 28] tensor the Net takes."""
    return normalize(torch.from_numpy(img28).float())[None, None]


@torch.inference_mode()
def probabilities(model: nn.Module, img28: np.ndarray) -> np.ndarray:
    """Class probabilities (10,) for one 28x28 image."""
    model.eval()
    device = next(model.parameters()).device
    return model(model_input(img28).to(device)).exp()[0].cpu().numpy()


def classify(model: nn.Module, image: Any) -> tuple[dict[str, float] | None, np.ndarray | None]:
    """({'0': p0, ..., '9': p9}, the 28x28 image the model saw), or (None, None) for an empty image."""
    img28 = to_mnist(image)
    if img28 is None:
        return None, None
    probs = probabilities(model, img28)
    return {str(d): float(p) for d, p in enumerate(probs)}, img28
