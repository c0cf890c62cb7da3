"""A drawing or photo of a digit -> the 28x28 image MNIST would have had -> class probabilities."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import normalize

INK_THRESHOLD = 0.15   # fraction of full ink below which a pixel counts as paper when cropping
MIN_INK = 0.2          # an image whose strongest ink is fainter than this is empty


def _as_array(image: Any) -> np.ndarray | None:
    """PIL image, array, or a Gradio ImageEditor value (dict with composite/layers) -> float array in [0, 1]."""
    if isinstance(image, dict):  # gr.Sketchpad / gr.ImageEditor value, read without importing gradio
        composite = image.get("composite")
        if composite is None:
            layers = [layer for layer in (image.get("layers") or []) if layer is not None]
            composite = layers[-1] if layers else image.get("background")
        image = composite
    if image is None:
        return None
    arr = np.asarray(image)
    if arr.dtype == bool:
        arr = arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float32) / (65535.0 if arr.max(initial=0) > 255 else 255.0)
    else:
        arr = arr.astype(np.float32)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or min(arr.shape[:2]) < 1:
        raise ValueError(f"expected a grayscale, RGB or RGBA image, got an array of shape {arr.shape}")
    return np.clip(arr, 0.0, 1.0)


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
    paper = float(np.median(border))
    ink = paper - gray if paper >= 0.5 else gray - paper   # ink is whatever departs from the paper
    span = float(ink.max())
    if span <= 0:
        return np.zeros_like(gray)
    ink = np.clip(ink / span, 0.0, 1.0)
    # remove paper texture and shadows in photos; drawings are unaffected (their paper is flat zero)
    return np.clip((ink - 0.25) / 0.75, 0.0, 1.0) if span < 0.9 or _is_noisy(ink) else ink


def _is_noisy(ink: np.ndarray) -> bool:
    """Paper that is not flat: many faintly inked pixels, as in a photo."""
    return float(((ink > 0.05) & (ink < 0.3)).mean()) > 0.1


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
    # centre of mass -> (14, 14)
    total = small.sum()
    cy = (small.sum(axis=1) * np.arange(nh)).sum() / total
    cx = (small.sum(axis=0) * np.arange(nw)).sum() / total
    top, left = int(round(13.5 - cy)), int(round(13.5 - cx))
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
