"""The training engine: a config, and a run that yields events (start, batch, epoch, done)."""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import secrets
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoints import save_checkpoint
from .data import Batches, load_mnist
from .models import MODELS, build_model, count_parameters
from .runs import prune_runs

SCHEDULERS = ("step", "onecycle", "none")
OPTIMIZERS = ("sgd", "adamw")


class ConfigError(ValueError):
    """A TrainConfig field outside its range."""


@dataclass
class TrainConfig:
    """Everything that defines a run. Defaults are the seed's recipe (EVA4 S5 final notebook)."""

    model: str = "net"
    epochs: int = 15
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.01                 # the peak learning rate for onecycle
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    scheduler: str = "step"          # step: StepLR(step_size, gamma) per epoch; onecycle: per batch
    step_size: int = 6
    gamma: float = 0.5
    pct_start: float = 0.25          # onecycle warm-up fraction
    rotate: float = 7.0              # degrees, ± (0 = off)
    shift: float = 0.0               # fraction of the side, ±
    scale: float = 0.0               # 1 ± scale
    seed: int = 1
    device: str = "auto"             # auto | cpu | cuda | cuda:N | mps
    subset: int | None = None        # train on this many images (a seeded random subset) for quick runs
    test_subset: int | None = None   # evaluate on the first N test images (quick runs only)
    data: str | None = None          # MNIST root; default $MNISTNET_DATA or ./data
    runs_dir: str = "runs"           # each run gets a folder here
    keep_runs: int = 20              # run folders kept in runs_dir; the oldest beyond this are removed
    out: str | None = None           # checkpoint path; default <run folder>/model.pt

    def validate(self) -> "TrainConfig":
        """Raise ConfigError naming the first field outside its range; return self."""
        def check(name: str, ok: bool, expected: str) -> None:
            if not ok:
                raise ConfigError(f"{name} must be {expected}, got {getattr(self, name)!r}")

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        check("model", self.model in MODELS, f"one of {', '.join(MODELS)}")
        check("epochs", is_int(self.epochs) and 1 <= self.epochs <= 100, "an integer in [1, 100]")
        check("batch_size", is_int(self.batch_size) and 1 <= self.batch_size <= 8192, "an integer in [1, 8192]")
        check("optimizer", self.optimizer in OPTIMIZERS, f"one of {', '.join(OPTIMIZERS)}")
        check("lr", is_num(self.lr) and 0 < self.lr <= 10, "a number in (0, 10]")
        check("momentum", is_num(self.momentum) and 0 <= self.momentum < 1, "a number in [0, 1)")
        check("weight_decay", is_num(self.weight_decay) and 0 <= self.weight_decay < 1, "a number in [0, 1)")
        check("label_smoothing", is_num(self.label_smoothing) and 0 <= self.label_smoothing < 1,
              "a number in [0, 1)")
        check("scheduler", self.scheduler in SCHEDULERS, f"one of {', '.join(SCHEDULERS)}")
        check("step_size", is_int(self.step_size) and self.step_size >= 1, "an integer >= 1")
        check("gamma", is_num(self.gamma) and 0 < self.gamma <= 1, "a number in (0, 1]")
        check("pct_start", is_num(self.pct_start) and 0 < self.pct_start < 1, "a number in (0, 1)")
        check("rotate", is_num(self.rotate) and 0 <= self.rotate <= 180, "a number of degrees in [0, 180]")
        check("shift", is_num(self.shift) and 0 <= self.shift <= 0.5, "a fraction in [0, 0.5]")
        check("scale", is_num(self.scale) and 0 <= self.scale <= 0.5, "a fraction in [0, 0.5]")
        check("seed", is_int(self.seed) and 0 <= self.seed < 2**63, "a non-negative integer")
        check("device", self.device in ("auto", "cpu", "cuda", "mps") or str(self.device).startswith("cuda:"),
              "auto, cpu, cuda, cuda:N or mps")
        check("subset", self.subset is None or (is_int(self.subset) and 1 <= self.subset <= 60000),
              "empty or an integer in [1, 60000]")
        check("keep_runs", is_int(self.keep_runs) and self.keep_runs >= 1, "an integer >= 1")
        check("test_subset", self.test_subset is None or (is_int(self.test_subset) and 1 <= self.test_subset <= 10000),
              "empty or an integer in [1, 10000]")
        return self


# Named recipes: field overrides on TrainConfig. "seed" is the notebook's, unchanged. The others are
# measured in the README (bench/time_to_accuracy.py and the runs listed there).
RECIPES: dict[str, dict[str, Any]] = {
    # for a visitor who won't wait: one epoch of the shallow preset, no augmentation (README: 99.07% in one epoch)
    "quick": {"model": "shallow", "epochs": 1, "batch_size": 128, "scheduler": "onecycle", "lr": 0.2, "nesterov": True,
              "pct_start": 0.2, "rotate": 0.0},
    "seed": {},
    # the shipped checkpoint's, and the fastest found to reach 99.40% (README, bench/time_to_accuracy.py):
    # OneCycle to a 20x higher peak, Nesterov, batch 256, label smoothing, a little weight decay
    "fast": {"batch_size": 256, "scheduler": "onecycle", "lr": 0.2, "nesterov": True, "weight_decay": 5e-5,
             "label_smoothing": 0.1},
}
# the lean preset's (checkpoints/lean.pt): fast's settings with batch 128 and a little shift and scale
RECIPES["lean"] = dict(RECIPES["fast"], model="lean", batch_size=128, shift=0.05, scale=0.05)
DEFAULT_RECIPE = "fast"


def recipe(name: str, **overrides: Any) -> TrainConfig:
    """A TrainConfig from a named recipe, with field overrides."""
    if name not in RECIPES:
        raise ConfigError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}")
    known = {f.name for f in fields(TrainConfig)}
    bad = set(overrides) - known
    if bad:
        raise ConfigError(f"unknown config field(s): {', '.join(sorted(bad))}")
    return replace(TrainConfig(**RECIPES[name]), **overrides)


@dataclass
class StartEvent:
    config: TrainConfig
    device: str
    parameters: int
    train_images: int
    test_images: int
    batches_per_epoch: int
    run_dir: Path


@dataclass
class BatchEvent:
    epoch: int          # 1-based
    batch: int          # 1-based within the epoch
    batches: int        # per epoch
    step: int           # 1-based over the run
    loss: float
    train_acc: float    # running accuracy over this epoch so far, percent
    lr: float


@dataclass
class EpochEvent:
    epoch: int
    epochs: int
    train_loss: float
    train_acc: float
    test_loss: float
    test_acc: float
    lr: float
    seconds: float
    best: bool          # this epoch set a new best test accuracy (and was saved)
    partial: bool = False  # stopped before the epoch's end

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DoneEvent:
    status: str                 # completed | stopped | diverged
    message: str
    best_epoch: int | None
    best_test_acc: float | None
    final_test_acc: float | None
    checkpoint: Path | None
    run_dir: Path
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)


Event = StartEvent | BatchEvent | EpochEvent | DoneEvent


def resolve_device(name: str) -> torch.device:
    """auto -> cuda if available, else mps, else cpu."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was asked for, but CUDA is not available here; use auto or cpu")
    return torch.device(name)


@torch.inference_mode()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
             batch_size: int = 256) -> dict[str, Any]:
    """Test loss (mean NLL), accuracy in percent, and the predictions (batches of 256 ran 2x faster than 2000)."""
    model.eval()
    loss_sum, preds = 0.0, []
    for x, y in Batches(images, labels, batch_size):
        out = model(x)
        loss_sum += F.nll_loss(out, y, reduction="sum").item()
        preds.append(out.argmax(1))
    pred = torch.cat(preds)
    correct = int((pred == labels).sum())
    return {"loss": loss_sum / len(labels), "acc": 100.0 * correct / len(labels),
            "correct": correct, "total": len(labels), "preds": pred.cpu()}


def smoothed_nll(log_probs: torch.Tensor, target: torch.Tensor, smoothing: float) -> torch.Tensor:
    """NLL on log-probabilities with label smoothing (what cross_entropy(label_smoothing=) does on logits)."""
    nll = F.nll_loss(log_probs, target)
    if not smoothing:
        return nll
    return (1 - smoothing) * nll - smoothing * log_probs.mean(dim=1).mean()


def _new_run_dir(config: TrainConfig) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(config.runs_dir) / f"{stamp}-{config.model}-s{config.seed}-{secrets.token_hex(2)}"
    path.mkdir(parents=True, exist_ok=False)
    return path


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)


def _optimizer(config: TrainConfig, model: nn.Module, steps_per_epoch: int) -> tuple[Any, Any, Any]:
    """The optimizer, and its scheduler stepped per batch (onecycle) or per epoch (step); the other is None."""
    if config.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                              nesterov=config.nesterov and config.momentum > 0, weight_decay=config.weight_decay)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                betas=(config.momentum, 0.999))
    if config.scheduler == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=config.lr, epochs=config.epochs, steps_per_epoch=steps_per_epoch,
            pct_start=config.pct_start, cycle_momentum=config.optimizer == "sgd" and config.momentum > 0,
            base_momentum=min(0.85, config.momentum), max_momentum=config.momentum)
        return opt, sched, None
    if config.scheduler == "step":
        return opt, None, torch.optim.lr_scheduler.StepLR(opt, config.step_size, config.gamma)
    return opt, None, None


def train(config: TrainConfig, stop: Callable[[], bool] | None = None) -> Iterator[Event]:
    """Train config.model on MNIST, yielding events; `stop()` returning True ends the run after the batch."""
    config.validate()
    stop = stop or (lambda: False)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)

    train_x, train_y = load_mnist(True, config.data)
    test_x, test_y = load_mnist(False, config.data)
    if config.subset and config.subset < len(train_y):
        keep = torch.randperm(len(train_y), generator=torch.Generator().manual_seed(config.seed))[:config.subset]
        train_x, train_y = train_x[keep], train_y[keep]
    if config.test_subset:
        test_x, test_y = test_x[:config.test_subset], test_y[:config.test_subset]
    train_x, train_y, test_x, test_y = (t.to(device) for t in (train_x, train_y, test_x, test_y))

    batches = Batches(train_x, train_y, config.batch_size, shuffle=True, rotate=config.rotate,
                      shift=config.shift, scale=config.scale, seed=config.seed)
    model = build_model(config.model).to(device)
    opt, per_batch_sched, per_epoch_sched = _optimizer(config, model, len(batches))

    run_dir = _new_run_dir(config)
    parameters = count_parameters(model)
    ckpt_path = Path(config.out) if config.out else run_dir / "model.pt"
    _write_json(run_dir / "run.json", _summary(config, parameters, [], "running", None, None, None, 0.0))
    prune_runs(config.runs_dir, keep=config.keep_runs)  # after our own run.json, so that this run counts
    yield StartEvent(config, str(device), parameters, len(train_y), len(test_y), len(batches), run_dir)

    t_start = time.perf_counter()
    history: list[dict[str, Any]] = []
    best_acc, best_epoch, saved, best_state = -1.0, None, False, {}
    status, message, step = "completed", "", 0

    def record(epoch: int, train_loss: float, train_acc: float, lr: float, t0: float, partial: bool) -> EpochEvent:
        nonlocal best_acc, best_epoch, saved, best_state
        ev = evaluate(model, test_x, test_y)
        best = ev["acc"] > best_acc
        if best:
            best_acc, best_epoch = ev["acc"], epoch
        ep = EpochEvent(epoch, config.epochs, train_loss, train_acc, ev["loss"], ev["acc"], lr,
                        time.perf_counter() - t0, best, partial)
        history.append(ep.as_dict())
        if best:
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            save_checkpoint(ckpt_path, model, config.model, config=asdict(config), history=history,
                            best_epoch=best_epoch, best_test_acc=best_acc, status="running")
            saved = True
        _write_json(run_dir / "run.json", _summary(config, parameters, history, "running", best_epoch, best_acc,
                                                    ckpt_path, time.perf_counter() - t_start))
        return ep

    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        loss_sum, correct, seen, batch = 0.0, 0, 0, 0
        for batch, (x, y) in enumerate(batches, start=1):
            out = model(x)
            loss = smoothed_nll(out, y, config.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                status = "diverged"
                message = (f"training diverged: the loss became {loss_value} at epoch {epoch}, batch {batch} "
                           f"(lr {opt.param_groups[0]['lr']:.4g}); lower the learning rate and try again")
                break
            lr = opt.param_groups[0]["lr"]
            opt.step()
            if per_batch_sched:
                per_batch_sched.step()
            step += 1
            loss_sum += loss_value * len(y)
            correct += int((out.argmax(1) == y).sum())
            seen += len(y)
            yield BatchEvent(epoch, batch, len(batches), step, loss_value, 100.0 * correct / seen, lr)
            if stop():
                status, message = "stopped", f"stopped at epoch {epoch}, batch {batch} of {len(batches)}"
                break
        if status == "diverged":
            break
        partial = batch < len(batches)
        if seen:
            lr_now = opt.param_groups[0]["lr"]
            yield record(epoch, loss_sum / seen, 100.0 * correct / seen, lr_now, t0, partial)
        if per_epoch_sched and not partial:
            per_epoch_sched.step()
        if status == "stopped":
            break

    seconds = time.perf_counter() - t_start
    final_acc = history[-1]["test_acc"] if history else None
    if saved:
        # rewrite the best checkpoint with the whole history and the final outcome
        model.load_state_dict(best_state)
        save_checkpoint(ckpt_path, model, config.model, config=asdict(config), history=history,
                        best_epoch=best_epoch, best_test_acc=best_acc, final_test_acc=final_acc,
                        status=status, seconds=seconds)
    if not message:
        message = (f"best test accuracy {best_acc:.2f}% at epoch {best_epoch}" if saved
                   else "no epoch finished, nothing saved")
    _write_json(run_dir / "run.json", _summary(config, parameters, history, status, best_epoch,
                                                best_acc if saved else None, ckpt_path if saved else None,
                                                seconds, message))
    yield DoneEvent(status, message, best_epoch, best_acc if saved else None, final_acc,
                    ckpt_path if saved else None, run_dir, seconds, history)


def _summary(config: TrainConfig, parameters: int, history: list[dict[str, Any]], status: str,
             best_epoch: int | None, best_acc: float | None, checkpoint: Path | None, seconds: float,
             message: str = "") -> dict[str, Any]:
    return {"config": asdict(config), "model": config.model, "parameters": parameters, "status": status, "message": message, "best_epoch": best_epoch,
            "best_test_acc": best_acc, "final_test_acc": history[-1]["test_acc"] if history else None,
            "checkpoint": str(checkpoint) if checkpoint else None, "seconds": seconds, "history": history}
