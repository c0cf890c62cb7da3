"""The networks: the seed's 8,546-parameter Net and the presets, one registry by name."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


def conv_relu_bn(c_in: int, c_out: int, k: int) -> nn.Sequential:
    """Conv (no bias) -> ReLU -> BatchNorm, the order most of the seed's blocks use."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=0, bias=False), nn.ReLU(), nn.BatchNorm2d(c_out))


def conv_bn_relu(c_in: int, c_out: int, k: int) -> nn.Sequential:
    """Conv (no bias) -> BatchNorm -> ReLU, the order of the seed's 16->10 and 10->32 1x1 blocks."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=0, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class Net(nn.Module):
    """The EVA4 session-5 final Net, layer for layer: 8,546 parameters, receptive field 28 at the GAP."""

    def __init__(self) -> None:
        super().__init__()
        self.convblock1 = conv_relu_bn(1, 10, 3)    # 26x26, RF 3
        self.convblock2 = conv_relu_bn(10, 16, 3)   # 24x24, RF 5
        self.pool1 = nn.MaxPool2d(2, 2)             # 12x12, RF 6
        self.convblock3 = conv_bn_relu(16, 10, 1)   # applied before pool1, as the seed's forward does
        self.convblock4 = conv_relu_bn(10, 10, 3)   # 10x10, RF 10
        self.convblock5 = conv_bn_relu(10, 32, 1)
        self.convblock6 = conv_relu_bn(32, 10, 1)
        self.convblock7 = conv_relu_bn(10, 10, 3)   # 8x8, RF 14
        self.convblock8 = conv_bn_relu(10, 32, 1)
        self.convblock9 = conv_relu_bn(32, 10, 1)
        self.convblock10 = conv_relu_bn(10, 14, 3)  # 6x6, RF 18
        self.convblock11 = conv_relu_bn(14, 16, 3)  # 4x4, RF 22
        self.gap = nn.Sequential(nn.AvgPool2d(kernel_size=4))  # 1x1, RF 28
        self.convblock12 = nn.Sequential(nn.Conv2d(16, 10, 1, padding=0, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convblock1(x)
        x = self.convblock2(x)
        x = self.convblock3(x)
        x = self.pool1(x)
        x = self.convblock4(x)
        x = self.convblock5(x)
        x = self.convblock6(x)
        x = self.convblock7(x)
        x = self.convblock8(x)
        x = self.convblock9(x)
        x = self.convblock10(x)
        x = self.convblock11(x)
        x = self.gap(x)
        x = self.convblock12(x)
        return F.log_softmax(x.view(-1, 10), dim=-1)


# name -> (constructor, one-line description). Later presets join here.
MODELS: dict[str, tuple[Callable[[], nn.Module], str]] = {
    "net": (Net, "The seed's final Net: 8,546 parameters, BN, 1x1 transitions, GAP (EVA4 S5)"),
}
DEFAULT_MODEL = "net"


def build_model(name: str = DEFAULT_MODEL) -> nn.Module:
    """A fresh, untrained model from the registry."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name][0]()


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
