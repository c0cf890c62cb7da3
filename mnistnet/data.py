"""MNIST held in memory as uint8 tensors, shuffled per epoch and augmented a whole batch at a time."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
RAW_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class MNISTNotFoundError(FileNotFoundError):
    """MNIST is neither on disk nor downloadable."""


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """Where MNIST lives: the explicit path, else $MNISTNET_DATA, else ./data."""
    return Path(explicit or os.environ.get("MNISTNET_DATA") or "data")


def _present(root: Path) -> bool:
    raw = root / "MNIST" / "raw"
    return all((raw / f).is_file() for pair in RAW_FILES.values() for f in pair)


def load_mnist(train: bool, root: str | os.PathLike | None = None,
               download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The train or test split as (images uint8 [N, 28, 28], labels int64 [N])."""
    from torchvision.datasets import MNIST  # imported here so that `import mnistnet` stays light

    root = data_root(root)
    if not _present(root):
        reason = "download disabled"
        if download:
            try:
                MNIST(str(root), train=train, download=True)
            except Exception as exc:  # no network, proxy, disk full: all end the same way
                reason = f"download failed: {type(exc).__name__}: {exc}"
        if not _present(root):
            raise MNISTNotFoundError(
                f"MNIST not found under {root.resolve()} ({reason}).\n"
                f"Expected torchvision's layout: {root}/MNIST/raw/ with "
                f"{', '.join(RAW_FILES[True] + RAW_FILES[False])} (uncompressed IDX).\n"
                "Fix: set MNISTNET_DATA (or pass --data) to a folder with that layout, "
                "or connect to the internet so torchvision can download it."
            )
    try:
        ds = MNIST(str(root), train=train, download=False)
    except Exception as exc:
        raise MNISTNotFoundError(f"MNIST under {root.resolve()} could not be read: {exc}") from exc
    return ds.data.contiguous(), ds.targets.long().contiguous()


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] -> MNIST-standardised inputs."""
    return (x - MNIST_MEAN) / MNIST_STD


def augment_batch(x: torch.Tensor, generator: torch.Generator, rotate: float = 0.0,
                  shift: float = 0.0, scale: float = 0.0) -> torch.Tensor:
    """Random rotation (±rotate degrees), shift (± fraction of the side) and scale (1 ± scale) per image.

    One affine_grid + grid_sample for the whole batch; x is float [B, 1, H, W] in [0, 1] with a black
    background, so the zero padding fills with background as the seed's RandomRotation(fill=1/255≈0) did.
    """
    if not (rotate or shift or scale):
        return x
    b = x.shape[0]

    def uniform(lo_hi: float) -> torch.Tensor:
        return (torch.rand(b, generator=generator) * 2 - 1) * lo_hi

    angle = uniform(math.radians(rotate))
    s = 1 + uniform(scale)
    # affine_grid maps output coords to input coords, so the inverse scale samples a zoomed image
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([
        torch.stack([cos, -sin, uniform(2 * shift)], dim=1),
        torch.stack([sin, cos, uniform(2 * shift)], dim=1),
    ], dim=1).to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


@dataclass
class Batches:
    """A split in memory: iterate for (inputs, labels) batches, reshuffled and re-augmented each epoch."""

    images: torch.Tensor          # uint8 [N, 28, 28], on the training device
    labels: torch.Tensor          # int64 [N]
    batch_size: int
    shuffle: bool = False
    rotate: float = 0.0
    shift: float = 0.0
    scale: float = 0.0
    seed: int = 0
    drop_last: bool = False

    def __post_init__(self) -> None:
        self.generator = torch.Generator().manual_seed(self.seed)

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.images.device)
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            x = self.images[idx].unsqueeze(1).float().div_(255)
            x = augment_batch(x, self.generator, self.rotate, self.shift, self.scale)
            yield normalize(x), self.labels[idx]
