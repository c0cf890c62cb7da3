"""What the network sees: feature maps of a layer, and the saliency of the input for a class."""
from __future__ import annotations

import torch
from torch import nn

from .summary import layer_table


def feature_layers(model: nn.Module) -> list[str]:
    """Names ("Conv2d-4", ...) of the layers whose output has spatial feature maps worth showing."""
    return [r["layer"] for r in layer_table(model) if len(r["output_shape"]) == 4 and r["output_shape"][2] > 1]


def feature_maps(model: nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    """The output [C, H, W] of the layer named as in the layer table (e.g. "Conv2d-4") for one input [1, 1, 28, 28]."""
    leaves = [m for m in model.modules() if not list(m.children())]
    captured: list[torch.Tensor] = []
    calls = {"n": 0}
    wanted = int(layer.rsplit("-", 1)[1]) if "-" in layer and layer.rsplit("-", 1)[1].isdigit() else -1

    def hook(_m: nn.Module, _i: object, out: torch.Tensor) -> None:
        calls["n"] += 1
        if calls["n"] == wanted:
            captured.append(out.detach())

    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        model.eval()
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
    if not captured:
        raise ValueError(f"no layer {layer!r} in this model; choose one of: {', '.join(feature_layers(model))}")
    return captured[0][0].cpu()


def saliency(model: nn.Module, x: torch.Tensor, target: int | None = None) -> tuple[torch.Tensor, int]:
    """|d log p(target) / d input| as [H, W], scaled to [0, 1], and the target class (default: the prediction)."""
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = model(x)
        target = int(out.argmax(1)) if target is None else int(target)
        out[0, target].backward()
    grad = x.grad[0, 0].abs()
    return grad / grad.max().clamp_min(1e-12), target
