"""The networks: the seed's 8,546-parameter Net and the presets, one registry by name."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


def conv_relu_bn(c_in: int, c_out: int, k: int, padding: int = 0) -> nn.Sequential:
    """Conv (no bias) -> ReLU -> BatchNorm, the order most of the seed's blocks use."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=padding, bias=False), nn.ReLU(), nn.BatchNorm2d(c_out))


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


def shallow() -> nn.Module:
    """The parameters of the 1x1 expansions moved into wider 3x3 convolutions: 6 convolutions, the fastest learner."""
    return Stack(conv_relu_bn(1, 10, 3), conv_relu_bn(10, 16, 3), nn.MaxPool2d(2, 2), conv_bn_relu(16, 8, 1),
                 conv_relu_bn(8, 14, 3), conv_relu_bn(14, 16, 3), conv_relu_bn(16, 18, 3),
                 nn.AvgPool2d(6), nn.Conv2d(18, 10, 1, bias=False))


def lean() -> nn.Module:
    """Beyond the seed, under 8,000 parameters: two max-pools, and padded 3x3 convolutions at 12x12 and 6x6, so
    that each parameter is applied at more positions (more computation per parameter, not more parameters)."""
    return Stack(conv_relu_bn(1, 8, 3), conv_relu_bn(8, 16, 3),                      # 26, 24; RF 3, 5
                 nn.MaxPool2d(2, 2), conv_bn_relu(16, 8, 1),                           # 12; RF 6
                 conv_relu_bn(8, 12, 3, padding=1), conv_relu_bn(12, 12, 3, padding=1),  # 12; RF 10, 14
                 nn.MaxPool2d(2, 2),                                                   # 6; RF 16
                 conv_relu_bn(12, 16, 3, padding=1), conv_relu_bn(16, 16, 3),          # 6, 4; RF 24, 32
                 nn.AvgPool2d(4), nn.Conv2d(16, 10, 1, bias=False))


# name -> (constructor, one-line description), in the order of the seed's experiments.
MODELS: dict[str, tuple[Callable[[], nn.Module], str]] = {
    "plain": (plain, "Step 1: conv + ReLU only, no batch norm, a 6x6 kernel at the end"),
    "batchnorm": (batchnorm, "Step 2: the same skeleton with batch norm"),
    "gap": (gap, "Step 3: GAP + 1x1 instead of the big last kernel"),
    "net": (Net, "The seed's final Net: 8,546 parameters, BN, 1x1 transitions, GAP (EVA4 S5)"),
    "shallow": (shallow, "No 1x1 expansions: 6 convolutions, wider after the pool; learns fastest (quick)"),
    "lean": (lean, "Beyond the seed: under 8,000 parameters, two pools, padded 3x3s at 12x12 and 6x6"),
}
DEFAULT_MODEL = "net"

# Per preset: target / result / analysis, in Markdown, from measured runs (the README names the command).
NOTES: dict[str, str] = {
    "plain": "**Target:** a working skeleton: the receptive field reaches 28 px and the image becomes 10 logits, "
             "with no normalisation. 9,070 parameters, 3,600 of them in the last 6x6 kernel.\n\n"
             "**Result:** with the `fast` recipe (15 epochs, seed 1, 1 thread): best 99.22% (epoch 14), final "
             "99.20%; it never reaches 99.4%. The first epoch stalls at 20.6% test accuracy while OneCycle warms up "
             "to its peak of 0.2, and training only recovers in epochs 2-3 (94.7%, 97.2%).\n\n"
             "**Analysis:** without normalisation the high learning rate the `fast` recipe relies on nearly stalls "
             "the network at the start, and it ends 0.2 points below the batch-norm preset; the big last kernel "
             "holds 40% of the parameters.",
    "batchnorm": "**Target:** the same skeleton trains faster and more stably with batch norm after each "
                 "convolution (+144 parameters).\n\n"
                 "**Result:** with the `fast` recipe (15 epochs, seed 1, 1 thread): 98.21% after the first epoch "
                 "(plain: 20.6%), 99.40% first at epoch 13, best 99.41%, final 99.39%.\n\n"
                 "**Analysis:** batch norm lets the high learning rate work from the first epoch and adds 0.2 "
                 "points at the end. Train accuracy climbs to 99.63% while test stays at 99.4%: the 6x6 kernel's "
                 "3,600 parameters start to memorise.",
    "gap": "**Target:** global average pooling and a 1x1 convolution replace the 6x6 kernel: 2,564 parameters "
           "fewer at the same receptive field.\n\n"
           "**Result:** with the `fast` recipe (15 epochs, seed 1, 1 thread): best 99.34% (epoch 13), final "
           "99.34%; it never reaches 99.4%, 0.07 points under the batch-norm preset with 28% fewer parameters.\n\n"
           "**Analysis:** train accuracy ends at 99.49% (the batch-norm preset's: 99.63%), so the gap to the test "
           "set narrows: the big kernel's parameters were partly memorising. What is left is too little capacity "
           "at 6,650 parameters; the seed's Net spends the difference on 1x1 expansions and more 3x3 layers.",
    "net": "**Target:** 99.4% within 15 epochs under 10,000 parameters (the seed notebook).\n\n"
           "**Result:** the seed's own recipe peaks at 99.37% (the issue's rerun, seed 1), and at 99.25, 99.31 and "
           "99.41% for seeds 1-3 in `bench/time_to_accuracy.py`, where `fast` reached 99.40% in all three "
           "(epochs 12, 12, 10). The `fast` recipe "
           "reached 99.45% at epoch 14 and 99.44% final (the shipped `checkpoints/net.pt`, "
           "`python -m mnistnet train --recipe fast --seed 1`), and 99.48% at epoch 13 in an earlier run.\n\n"
           "**Analysis:** the 1x1 expansions (10->32->10, twice) hold 1,280 parameters but add no receptive field; "
           "the recipe, not the architecture, was what kept the seed under 99.4%.",
    "shallow": "**Target:** learn as fast as possible in one epoch, for the `quick` recipe, under 8,000 "
               "parameters.\n\n"
               "**Result:** one epoch (`quick`): 99.10, 99.08 and 98.97% for seeds 1-3, against 98.95% for the "
               "Net's best one-epoch setting. Over 15 epochs (1 thread, seed 1 unless said): `fast` best 99.35% "
               "(seed 2: 99.44%); `fast` with batch 128: 99.46%; batch 64 and peak 0.1: 99.48%.\n\n"
               "**Analysis:** it drops the Net's two 1x1 expansions and spends their parameters on wider 3x3 "
               "convolutions after the pool (8->14->16->18 channels), where the receptive field grows. Six "
               "convolutions learn quickly but plateau below 99.5%: train accuracy ends near 99.5% too, so it "
               "runs out of capacity rather than overfitting.",
    "lean": "**Target:** at most 8,000 parameters, no fully connected layer, 99.5% within 15 epochs (best epoch) "
            "and at least 99.4% in each of the last 3 epochs, in 2 of 3 seeds.\n\n"
            "**Result:** met in 2 of 3 seeds, with the `lean` recipe (15 epochs, 1 thread): seed 1 best 99.50% "
            "(epoch 13), last 3 epochs 99.50/99.50/99.49% (the shipped `checkpoints/lean.pt`, "
            "`python -m mnistnet train --recipe lean --seed 1 --threads 1`); seed 2 best 99.50% (epoch 15), "
            "last 3 at least 99.45%; seed 3 best 99.45%, last 3 at least 99.42%: short of 99.5%.\n\n"
            "**Analysis:** a second max-pool and padding let the 3x3 convolutions run at 12x12 and 6x6 instead "
            "of shrinking the map by 2 pixels each: every weight is applied at more positions, which buys "
            "capacity without parameters. The `lean` recipe trains it with batch 128 (twice the steps of "
            "`fast`) and ±5% shift and scale on top of ±7° rotation; with batch 128 but without the shift and scale it "
            "reached 99.45% (seed 2), its train accuracy 0.2 points above the test's.",
}


def build_model(name: str = DEFAULT_MODEL) -> nn.Module:
    """A fresh, untrained model from the registry."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name][0]()


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
