"""The layer table, made by forward hooks on a dummy input: shapes, parameters, receptive field and jump."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .models import count_parameters

# Layers that move the receptive field: RF_out = RF_in + (k - 1) * jump_in; jump_out = jump_in * stride.
_SPATIAL = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def _pair(v: Any) -> int:
    """The first of an int-or-pair (our layers are square)."""
    return int(v[0] if isinstance(v, (tuple, list)) else v)


def layer_table(model: nn.Module, input_size: tuple[int, int, int] = (1, 28, 28)) -> list[dict[str, Any]]:
    """One dict per executed leaf layer, in execution order: index, layer, type, output shape, params,
    kernel, stride, padding (None where they do not apply), receptive field and jump after the layer."""
    rows: list[dict[str, Any]] = []
    state = {"rf": 1, "jump": 1}
    names = {m: n for n, m in model.named_modules()}

    def hook(module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        kind = type(module).__name__
        row: dict[str, Any] = {
            "index": len(rows) + 1, "layer": f"{kind}-{len(rows) + 1}", "name": names.get(module, ""),
            "type": kind, "output_shape": [-1, *output.shape[1:]],
            "params": sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad),
            "kernel": None, "stride": None, "padding": None,
        }
        if isinstance(module, _SPATIAL):
            k, s, p = _pair(module.kernel_size), _pair(module.stride), _pair(module.padding)
            state["rf"] += (k - 1) * state["jump"]
            state["jump"] *= s
            row.update(kernel=k, stride=s, padding=p)
        row.update(rf=state["rf"], jump=state["jump"])
        rows.append(row)

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = model.training
    try:
        model.eval()
        device = next(model.parameters()).device
        with torch.no_grad():
            model(torch.zeros(1, *input_size, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return rows


def totals(model: nn.Module) -> dict[str, int]:
    """Total, trainable and non-trainable parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = count_parameters(model)
    return {"total": total, "trainable": trainable, "non_trainable": total - trainable}


def _shape(shape: list[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def summary_text(model: nn.Module, input_size: tuple[int, int, int] = (1, 28, 28)) -> str:
    """A torchsummary-style table with kernel/stride/padding, receptive field and jump columns."""
    rows, tot = layer_table(model, input_size), totals(model)
    head = f"{'Layer (type)':>20} {'Output Shape':>20} {'Param #':>10} {'k/s/p':>8} {'RF':>4} {'Jump':>5}"
    line = "-" * len(head)
    out = [line, head, "=" * len(head)]
    for r in rows:
        ksp = f"{r['kernel']}/{r['stride']}/{r['padding']}" if r["kernel"] is not None else ""
        out.append(f"{r['layer']:>20} {_shape(r['output_shape']):>20} {r['params']:>10,} {ksp:>8} "
                   f"{r['rf']:>4} {r['jump']:>5}")
    out += ["=" * len(head), f"Total params: {tot['total']:,}", f"Trainable params: {tot['trainable']:,}",
            f"Non-trainable params: {tot['non_trainable']:,}",
            f"Receptive field at the output: {rows[-1]['rf']} px (input {input_size[-1]} px)", line]
    return "\n".join(out)
