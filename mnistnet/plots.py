"""Matplotlib figures and images for the app: training curves, confusion matrix, misclassified digits, receptive
field, runs compared, and what the network sees (feature maps, saliency)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter, NullLocator

# Figure() objects, never pyplot: no global state, so several sessions can draw at once in threads.
TRAIN_COLOR, TEST_COLOR = "#1f77b4", "#d62728"


def _figure(width: float = 5.2, height: float = 3.2) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), dpi=90, layout="constrained")
    return fig, fig.add_subplot()


def loss_figure(batch_x: Sequence[float], batch_loss: Sequence[float], epochs: Sequence[int],
                test_loss: Sequence[float], total_epochs: int) -> Figure:
    """Train loss every few batches and test loss per epoch, against epochs (fractional for batches)."""
    fig, ax = _figure()
    if batch_x:
        ax.plot(batch_x, batch_loss, color=TRAIN_COLOR, lw=1.2, label="train (every few batches)")
    if epochs:
        ax.plot(epochs, test_loss, "o-", color=TEST_COLOR, lw=1.8, ms=5, label="test (per epoch)")
    ax.set(title="Loss", xlabel="epoch", ylabel="NLL loss", xlim=(0, max(1, total_epochs)))
    if batch_x or epochs:
        # log scale: the loss falls by orders of magnitude; plain numbers read better than 2x10^0
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def accuracy_figure(epochs: Sequence[int], train_acc: Sequence[float], test_acc: Sequence[float],
                    total_epochs: int) -> Figure:
    """Train and test accuracy per epoch."""
    fig, ax = _figure()
    if epochs:
        ax.plot(epochs, train_acc, "o-", color=TRAIN_COLOR, ms=5, label="train")
        ax.plot(epochs, test_acc, "o-", color=TEST_COLOR, ms=5, label="test")
        for e, a in zip(epochs[-1:], test_acc[-1:]):
            ax.annotate(f"{a:.2f}%", (e, a), textcoords="offset points", xytext=(0, 7), ha="center",
                        fontsize=8, color=TEST_COLOR)
        low = min(min(train_acc), min(test_acc))
        ax.set_ylim(max(0.0, low - 2), 100.5)
        ax.legend(loc="lower right", fontsize=8)
    else:
        ax.set_ylim(0, 100.5)
    ax.set(title="Accuracy", xlabel="epoch", ylabel="%", xlim=(0.5, max(1, total_epochs) + 0.5))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    return fig


def confusion_figure(labels: np.ndarray, preds: np.ndarray) -> Figure:
    """The 10x10 confusion matrix, counts in the cells, errors highlighted off the diagonal."""
    cm = np.zeros((10, 10), dtype=np.int64)
    np.add.at(cm, (np.asarray(labels), np.asarray(preds)), 1)
    fig, ax = _figure(4.6, 4.2)
    # colour by the row's share so that mistakes show up even when they are a handful among thousands
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    ax.imshow(np.sqrt(share), cmap="Blues", vmin=0, vmax=1)
    for t in range(10):
        for p in range(10):
            if cm[t, p]:
                ax.text(p, t, str(cm[t, p]), ha="center", va="center", fontsize=7,
                        color="white" if share[t, p] > 0.5 else ("#b00" if t != p else "black"))
    acc = 100.0 * np.trace(cm) / max(cm.sum(), 1)
    ax.set(title=f"Confusion matrix ({cm.sum():,} test images, {acc:.2f}%)", xlabel="predicted", ylabel="true",
           xticks=range(10), yticks=range(10))
    ax.title.set_fontsize(10)
    return fig


def misclassified_figure(images: np.ndarray, labels: np.ndarray, preds: np.ndarray, limit: int = 24,
                         cols: int = 8) -> Figure:
    """A grid of misclassified test digits, each titled true -> predicted."""
    wrong = np.flatnonzero(np.asarray(labels) != np.asarray(preds))[:limit]
    rows = max(1, int(np.ceil(len(wrong) / cols)))
    fig = Figure(figsize=(cols * 0.7, rows * 0.85 + 0.35), dpi=90, layout="constrained")
    total = int((np.asarray(labels) != np.asarray(preds)).sum())
    shown = f" (first {len(wrong)})" if total > len(wrong) else ""
    fig.suptitle(f"Misclassified: {total:,} of {len(labels):,}{shown}", fontsize=10)
    if not len(wrong):
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "none: every test digit is right", ha="center", va="center")
        ax.axis("off")
        return fig
    for k, i in enumerate(wrong):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(images[i], cmap="gray", vmin=0, vmax=255 if images.dtype == np.uint8 else 1)
        ax.set_title(f"{labels[i]}→{preds[i]}", fontsize=8, color="#b00", pad=2)
        ax.axis("off")
    return fig


def receptive_field_figure(rows: list[dict[str, Any]], image_size: int = 28) -> Figure:
    """Receptive field after each spatial layer (conv and pooling), against the image size."""
    spatial = [r for r in rows if r.get("kernel") is not None]
    fig, ax = _figure(10, 3.6)
    x = np.arange(1, len(spatial) + 1)
    rfs = [r["rf"] for r in spatial]
    colors = ["#1f77b4" if r["type"] == "Conv2d" else "#ff7f0e" for r in spatial]
    ax.bar(x, rfs, color=colors, width=0.7)
    for xi, r in zip(x, spatial):
        ax.text(xi, r["rf"] + 0.4, f"{r['rf']}", ha="center", va="bottom", fontsize=7)
    ax.axhline(image_size, color="#d62728", ls="--", lw=1.2)
    ax.text(0.55, image_size + 0.5, f"image: {image_size} px", color="#d62728", fontsize=8, va="bottom")
    ax.set_xticks(x, [f"{r['name'] or r['layer']}\n{r['kernel']}x{r['kernel']}/s{r['stride']}" for r in spatial],
                  rotation=60, ha="right", fontsize=7)
    ax.set(title="Receptive field after each conv (blue) and pooling (orange) layer", ylabel="receptive field, px",
           ylim=(0, max(max(rfs, default=0), image_size) * 1.15))
    ax.title.set_fontsize(10)
    ax.grid(axis="y", alpha=0.3)
    return fig


# ---------------------------------------------------------------- runs compared

RUN_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
              "#bcbd22"]


def _error_scale(acc: Any) -> Any:
    """Accuracy % -> -log10(error %): equal steps for 90 -> 99 -> 99.9, so that a poor run and the best fit on one
    chart and the differences near 100% still show."""
    return -np.log10(np.clip(100.0 - np.asarray(acc, dtype=float), 1e-3, None))


def _error_unscale(y: Any) -> Any:
    return 100.0 - 10.0 ** (-np.asarray(y, dtype=float))


ACC_TICKS = (0, 50, 80, 90, 95, 97, 98, 98.5, 99, 99.2, 99.4, 99.5, 99.6, 99.7, 99.8, 99.9, 99.95)


def runs_figure(curves: Sequence[tuple[str, Sequence[int], Sequence[float]]], target: float = 99.4) -> Figure:
    """Test accuracy per epoch, one line per run (label, epochs, accuracies), with the target line; the y axis is
    stretched near 100% (log of the error), so that every run shows and the best ones can still be told apart."""
    fig, ax = _figure(10, 3.9)
    values = [a for _, _, accs in curves for a in accs]
    ax.set_yscale("function", functions=(_error_scale, _error_unscale))
    for k, (label, epochs, accs) in enumerate(curves):
        color = RUN_COLORS[k % len(RUN_COLORS)]
        ax.plot(epochs, accs, "o-", color=color, ms=3.5, lw=1.5, label=label)
        if accs:
            best = int(np.argmax(accs))
            ax.plot(epochs[best], accs[best], "*", color=color, ms=11)
    ax.axhline(target, color="#555", ls="--", lw=1)
    ax.text(0.005, target, f" {target:.2f}%", transform=ax.get_yaxis_transform(), color="#555", fontsize=8,
            va="bottom")
    lo, hi = _error_scale([min(values or [97.0]), max(values + [target, 99.7 if not values else target])])
    pad = max(0.06, 0.05 * (hi - lo))
    bottom, top = _error_unscale(lo - pad), _error_unscale(hi + pad)
    ticks: list[float] = []
    for t in sorted((t for t in ACC_TICKS if bottom <= t <= top), key=lambda t: t != target):
        # the target's tick first, then those at least 1/20 of the axis away from every tick kept
        if all(abs(_error_scale(t) - _error_scale(k)) >= (hi - lo + 2 * pad) / 20 for k in ticks):
            ticks.append(t)
    ticks.sort()
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set(title="Test accuracy per epoch (best marked *; the scale stretches near 100%)", xlabel="epoch",
           ylabel="test accuracy %", ylim=(bottom, top))
    ax.title.set_fontsize(10)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    if curves:
        ax.legend(loc="lower right", fontsize=7.5)
    else:
        ax.text(0.5, 0.3, "no runs selected", ha="center", va="center", transform=ax.transAxes, color="#777")
    ax.set_xlim(0.5, max((e for _, epochs, _ in curves for e in epochs), default=15) + 0.5)
    ax.grid(alpha=0.3)
    return fig


# ---------------------------------------------------------------- what the network sees (images, not figures:
# these follow the pen, and a few numpy operations cost far less than a Matplotlib figure)

def _rgb(cmap: str, values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] through a Matplotlib colormap to uint8 RGB."""
    return (colormaps[cmap](np.clip(values, 0.0, 1.0))[..., :3] * 255).round().astype(np.uint8)


def feature_grid(maps: np.ndarray, tile: int = 64, gap: int = 3, cols: int = 8) -> tuple[np.ndarray, str]:
    """Channels [C, H, W] as one RGB grid image, each channel enlarged with hard pixel edges, and its colour key.

    One colour scale for all channels, so that strong and silent channels show as such: 0..max (viridis) for
    non-negative maps (after ReLU), -m..m (blue-white-red) for signed ones.
    """
    maps = np.asarray(maps, dtype=np.float32)
    c, h, w = maps.shape
    rows = int(np.ceil(c / cols))
    cols = int(np.ceil(c / rows))             # balanced rows: 10 channels make 2 rows of 5, not 8 + 2
    scale = max(1, round(tile / max(h, w)))
    if maps.min() >= 0:
        top = float(maps.max()) or 1.0
        tiles, key = _rgb("viridis", maps / top), f"colour: 0 (dark) to {top:.3g} (yellow), one scale for all"
    else:
        top = float(np.abs(maps).max()) or 1.0
        tiles, key = _rgb("RdBu_r", 0.5 + 0.5 * maps / top), f"colour: -{top:.3g} (blue), 0 (white), +{top:.3g} (red)"
    th, tw = h * scale, w * scale
    grid = np.full((rows * th + (rows + 1) * gap, cols * tw + (cols + 1) * gap, 3), 128, dtype=np.uint8)
    for k in range(c):
        r, q = divmod(k, cols)
        y, x = gap + r * (th + gap), gap + q * (tw + gap)
        grid[y:y + th, x:x + tw] = np.kron(tiles[k], np.ones((scale, scale, 1), dtype=np.uint8))
    return grid, key


def saliency_overlay(img28: np.ndarray, sal: np.ndarray, scale: int = 8) -> np.ndarray:
    """The saliency [28, 28] in [0, 1] as a heatmap over the dimmed 28x28 input, enlarged with hard pixel edges."""
    base = np.repeat(np.asarray(img28, dtype=np.float32)[..., None], 3, axis=2) * 0.45
    heat = colormaps["inferno"](np.clip(sal, 0.0, 1.0))[..., :3]
    alpha = np.sqrt(np.clip(sal, 0.0, 1.0))[..., None]
    rgb = ((base * (1 - alpha) + heat * alpha) * 255).round().astype(np.uint8)
    return np.kron(rgb, np.ones((scale, scale, 1), dtype=np.uint8))
