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


def conv_relu(c_in: int, c_out: int, k: int) -> nn.Sequential:
    """Conv (no bias) -> ReLU: the first experiments had no batch norm."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=0, bias=False), nn.ReLU())


class Stack(nn.Module):
    """A plain stack of blocks ending in 10 channels at 1x1, then log-softmax."""

    def __init__(self, *blocks: nn.Module) -> None:
        super().__init__()
        self.layers = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.layers(x).flatten(1), dim=-1)


def plain() -> nn.Module:
    """Step 1, the skeleton: convolutions and ReLU only, a max-pool, and a big 6x6 kernel to reach 1x1."""
    return Stack(conv_relu(1, 10, 3), conv_relu(10, 16, 3), nn.MaxPool2d(2, 2), conv_relu(16, 10, 1),
                 conv_relu(10, 10, 3), conv_relu(10, 16, 3), conv_relu(16, 10, 3),
                 nn.Conv2d(10, 10, 6, bias=False))


def batchnorm() -> nn.Module:
    """Step 2: the skeleton with batch norm after every convolution but the last."""
    return Stack(conv_relu_bn(1, 10, 3), conv_relu_bn(10, 16, 3), nn.MaxPool2d(2, 2), conv_relu_bn(16, 10, 1),
                 conv_relu_bn(10, 10, 3), conv_relu_bn(10, 16, 3), conv_relu_bn(16, 10, 3),
                 nn.Conv2d(10, 10, 6, bias=False))


def gap() -> nn.Module:
    """Step 3: global average pooling and a 1x1 convolution replace the 6x6 kernel (3,600 parameters fewer)."""
    return Stack(conv_relu_bn(1, 10, 3), conv_relu_bn(10, 16, 3), nn.MaxPool2d(2, 2), conv_relu_bn(16, 10, 1),
                 conv_relu_bn(10, 10, 3), conv_relu_bn(10, 16, 3), conv_relu_bn(16, 16, 3),
                 nn.AvgPool2d(6), nn.Conv2d(16, 10, 1, bias=False))


def lean() -> nn.Module:
    """Beyond the seed: the parameters of the 1x1 expansions moved into wider 3x3 convolutions late in the net."""
    return Stack(conv_relu_bn(1, 10, 3), conv_relu_bn(10, 16, 3), nn.MaxPool2d(2, 2), conv_bn_relu(16, 8, 1),
                 conv_relu_bn(8, 14, 3), conv_relu_bn(14, 16, 3), conv_relu_bn(16, 18, 3),
                 nn.AvgPool2d(6), nn.Conv2d(18, 10, 1, bias=False))


# name -> (constructor, one-line description), in the order of the seed's experiments.
MODELS: dict[str, tuple[Callable[[], nn.Module], str]] = {
    "plain": (plain, "Step 1: conv + ReLU only, no batch norm, a 6x6 kernel at the end"),
    "batchnorm": (batchnorm, "Step 2: the same skeleton with batch norm"),
    "gap": (gap, "Step 3: GAP + 1x1 instead of the big last kernel"),
    "net": (Net, "The seed's final Net: 8,546 parameters, BN, 1x1 transitions, GAP (EVA4 S5)"),
    "lean": (lean, "Beyond the seed: under 8,000 parameters, capacity moved to late 3x3 convolutions"),
}
DEFAULT_MODEL = "net"

# Per preset: target / result / analysis, in Markdown, from measured runs (the README names the command).
_NOT_YET = ("**Result:** not measured yet: `python bench/presets.py --models {name}` trains it with the `fast` "
            "recipe and prints the figures that belong here.")
NOTES: dict[str, str] = {
    "plain": "**Target:** a working skeleton: the receptive field reaches 28 px and the image becomes 10 logits, "
             "with no normalisation. 9,070 parameters, 3,600 of them in the last 6x6 kernel.\n\n"
             + _NOT_YET.format(name="plain"),
    "batchnorm": "**Target:** the same skeleton trains faster and more stably with batch norm after each "
                 "convolution (+144 parameters).\n\n" + _NOT_YET.format(name="batchnorm"),
    "gap": "**Target:** global average pooling and a 1x1 convolution replace the 6x6 kernel: 2,564 parameters "
           "fewer at the same receptive field.\n\n" + _NOT_YET.format(name="gap"),
    "net": "**Target:** 99.4% within 15 epochs under 10,000 parameters (the seed notebook).\n\n"
           "**Result:** the seed's own recipe peaks at 99.37% (the issue's rerun, seed 1); the `fast` recipe "
           "reached 99.45% at epoch 14 and 99.44% final (the shipped `checkpoints/net.pt`, "
           "`python -m mnistnet train --recipe fast --seed 1`), and 99.48% at epoch 13 in an earlier run.\n\n"
           "**Analysis:** the 1x1 expansions (10->32->10, twice) hold 1,280 parameters but add no receptive field; "
           "the recipe, not the architecture, was what kept the seed under 99.4%.",
    "lean": "**Target:** at most 8,000 parameters, no fully connected layer, 99.5% within 15 epochs.\n\n"
            "**Result so far:** not there yet. With the `fast` recipe over 15 epochs (through `train()`, "
            "1 thread): seed 1 best 99.35% (epoch 14), final 99.33%; seed 2 best 99.44% "
            "(epoch 13), final 99.40%. After a single epoch (the `quick` recipe) it leads the Net: 99.10, 99.08 and "
            "98.97% for seeds 1-3, against 98.95% for the Net's best one-epoch setting.\n\n"
            "**Analysis:** it drops the two 1x1 expansions and spends the parameters on wider 3x3 convolutions "
            "after the pool (8->14->16->18 channels), where the receptive field grows. That learns fast but "
            "generalises worse late in training (train 99.5% against test 99.3-99.4%): the next step is more "
            "augmentation or a different split of the 8,000 parameters, measured on 3 seeds.",
}


def build_model(name: str = DEFAULT_MODEL) -> nn.Module:
    """A fresh, untrained model from the registry."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name][0]()


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
