"""Shared fixtures: the real MNIST (fails loudly under CI when missing) and synthetic IDX files."""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parent.parent


def write_idx(root: Path, images: np.ndarray, labels: np.ndarray, train: bool) -> None:
    """Write uint8 images [N, 28, 28] and labels [N] as uncompressed IDX files in torchvision's layout."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    prefix = "train" if train else "t10k"
    n = len(labels)
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28)
                                                      + images.astype(np.uint8).tobytes())
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.astype(np.uint8).tobytes())


def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable fake digits: class c is a bright bar at a class-specific place and angle, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.float32)
    for i, c in enumerate(labels):
        r = 4 + 2 * c + rng.integers(-1, 2)
        if c % 2:
            images[i, r:r + 3, 6:22] = 255
        else:
            images[i, 6:22, r:r + 3] = 255
    return images.clip(0, 255).astype(np.uint8), labels.astype(np.uint8)


@pytest.fixture(scope="session")
def synthetic_mnist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with small synthetic train (1,000) and test (200) splits."""
    root = tmp_path_factory.mktemp("synthetic_mnist")
    write_idx(root, *synthetic_digits(1000, seed=0), train=True)
    write_idx(root, *synthetic_digits(200, seed=1), train=False)
    return root


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """The real MNIST from $MNISTNET_DATA. Under CI a missing folder fails the test; elsewhere it skips."""
    env = os.environ.get("MNISTNET_DATA")
    root = Path(env) if env else None
    if root is None or not (root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        msg = f"real MNIST not found (MNISTNET_DATA={env!r}); set MNISTNET_DATA=../shared/data"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return root
