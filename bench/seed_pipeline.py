"""The seed notebook's pipeline, as the baseline: torchvision transforms on PIL images through a DataLoader."""
from __future__ import annotations

import time
from typing import Iterator

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from mnistnet.data import data_root
from mnistnet.models import build_model


def loaders(batch_size: int = 128, workers: int = 2, train_subset: int | None = None,
            root: str | None = None) -> tuple[DataLoader, DataLoader]:
    """The seed's train loader (RandomRotation ±7°, fill 1) and test loader, as the notebook built them."""
    root = str(data_root(root))
    train_tf = transforms.Compose([transforms.RandomRotation((-7.0, 7.0), fill=(1,)), transforms.ToTensor(),
                                   transforms.Normalize((0.1307,), (0.3081,))])
    test_tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train = datasets.MNIST(root, train=True, download=False, transform=train_tf)
    test = datasets.MNIST(root, train=False, download=False, transform=test_tf)
    if train_subset:
        train = Subset(train, range(train_subset))
    args = dict(batch_size=batch_size, num_workers=workers, persistent_workers=workers > 0)
    return DataLoader(train, shuffle=True, **args), DataLoader(test, shuffle=False, **args)


def train_epoch(model, loader, optimizer) -> Iterator[int]:
    """The notebook's train loop; yields the batch size after each step (for timing)."""
    model.train()
    for data, target in loader:
        optimizer.zero_grad()
        loss = F.nll_loss(model(data), target)
        loss.backward()
        optimizer.step()
        yield len(target)


def test_epoch(model, loader) -> tuple[float, float]:
    """The notebook's test loop: (average loss, accuracy %)."""
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in loader:
            out = model(data)
            loss += F.nll_loss(out, target, reduction="sum").item()
            correct += out.argmax(dim=1).eq(target).sum().item()
    n = len(loader.dataset)
    return loss / n, 100.0 * correct / n


def run_seed_recipe(epochs: int = 15, seed: int = 1, workers: int = 2, root: str | None = None) -> Iterator[dict]:
    """The whole seed recipe (SGD 0.01/0.9, StepLR 6/0.5, batch 128); yields a dict per epoch."""
    torch.manual_seed(seed)
    model = build_model("net")
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=6, gamma=0.5)
    train_loader, test_loader = loaders(128, workers, root=root)
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        for _ in train_epoch(model, train_loader, opt):
            pass
        sched.step()
        loss, acc = test_epoch(model, test_loader)
        yield {"epoch": epoch, "test_loss": loss, "test_acc": acc, "elapsed": time.perf_counter() - t0}
