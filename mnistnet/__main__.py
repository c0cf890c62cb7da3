"""The command line: python -m mnistnet train | summary | evaluate | predict."""
from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from .models import DEFAULT_MODEL, MODELS

_NONE_DEFAULT_TYPES = {"subset": int, "test_subset": int, "data": str, "out": str}
_HELP = {
    "lr": "learning rate (the peak for onecycle)", "rotate": "random rotation, ± degrees (0 = off)",
    "shift": "random shift, ± fraction of the side", "scale": "random scale, 1 ± this",
    "subset": "train on a seeded random subset of this many images", "test_subset": "test on the first N images",
    "data": "MNIST root (default $MNISTNET_DATA or ./data)", "out": "checkpoint path (default <run folder>/model.pt)",
    "device": "auto | cpu | cuda | cuda:N | mps",
}


def _add_train_args(p: argparse.ArgumentParser) -> None:
    from .train import DEFAULT_RECIPE, RECIPES, TrainConfig
    p.add_argument("--recipe", default=DEFAULT_RECIPE, choices=list(RECIPES),
                   help=f"named recipe to start from (default {DEFAULT_RECIPE}); flags below override it")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = _NONE_DEFAULT_TYPES.get(f.name) or type(f.default)
        if kind is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=_HELP.get(f.name))
        else:
            p.add_argument(flag, type=kind, default=None, help=_HELP.get(f.name, f"(default: the recipe's; the seed's is {f.default})"))


def cmd_train(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from .train import BatchEvent, DoneEvent, EpochEvent, StartEvent, TrainConfig, recipe, train

    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None}
    config = recipe(args.recipe, **overrides)
    bar, total_test = None, 0
    for ev in train(config):
        if isinstance(ev, StartEvent):
            total_test = ev.test_images
            print(f"{ev.config.model}: {ev.parameters:,} parameters on {ev.device}; {ev.train_images:,} train / "
                  f"{ev.test_images:,} test images; run folder {ev.run_dir}")
        elif isinstance(ev, BatchEvent):
            if bar is None:
                print(f"EPOCH: {ev.epoch}")
                bar = tqdm(total=ev.batches, dynamic_ncols=True, file=sys.stdout)
            bar.update(1)
            bar.set_description(f"Loss={ev.loss:.4f} Batch_id={ev.batch} Accuracy={ev.train_acc:.2f}", refresh=False)
        elif isinstance(ev, EpochEvent):
            if bar is not None:
                bar.close()
                bar = None
            correct = round(ev.test_acc * total_test / 100)
            print(f"Test set: Average loss: {ev.test_loss:.4f}, Accuracy: {correct}/{total_test} "
                  f"({ev.test_acc:.2f}%)  lr {ev.lr:.4g}  {ev.seconds:.1f}s{'  best' if ev.best else ''}"
                  f"{'  (partial epoch)' if ev.partial else ''}\n")
        elif isinstance(ev, DoneEvent):
            print(f"{ev.status}: {ev.message}; {ev.seconds:.0f}s in all")
            if ev.checkpoint:
                print(f"checkpoint: {ev.checkpoint}")
            return 0 if ev.status != "diverged" else 1
    return 1


def cmd_summary(args: argparse.Namespace) -> int:
    from .models import build_model
    from .summary import summary_text
    print(summary_text(build_model(args.model)))
    return 0


def _default_checkpoint() -> Path:
    from .checkpoints import CheckpointError, shipped_checkpoints
    shipped = shipped_checkpoints()
    if not shipped:
        raise CheckpointError("no checkpoint given and none shipped under checkpoints/")
    return shipped[0]


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .checkpoints import load_checkpoint
    from .data import load_mnist
    from .train import evaluate

    ckpt = load_checkpoint(args.checkpoint or _default_checkpoint())
    print(f"{ckpt.path}: model {ckpt.meta.get('model')}, {ckpt.meta.get('parameters'):,} parameters")
    if args.history:
        print_history(ckpt.meta)
    x, y = load_mnist(False, args.data)
    res = evaluate(ckpt.model, x, y)
    print(f"Test set: Average loss: {res['loss']:.4f}, Accuracy: {res['correct']}/{res['total']} ({res['acc']:.2f}%)")
    print("per class:")
    for d in range(10):
        mask = y == d
        acc = 100.0 * float((res["preds"][mask] == d).float().mean())
        print(f"  {d}: {acc:6.2f}%  ({int(mask.sum())} images)")
    return 0


def print_history(meta: dict) -> None:
    """The training history stored in a checkpoint, as a Markdown table."""
    history = meta.get("history") or []
    print("\n| epoch | train loss | train acc % | test loss | test acc % | lr | seconds |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for h in history:
        print(f"| {h['epoch']}{'*' if h.get('partial') else ''} | {h['train_loss']:.4f} | {h['train_acc']:.2f} | "
              f"{h['test_loss']:.4f} | {h['test_acc']:.2f} | {h['lr']:.4g} | {h['seconds']:.1f} |")
    total = meta.get("seconds")
    print(f"\nbest {meta.get('best_test_acc')}% at epoch {meta.get('best_epoch')}; final {meta.get('final_test_acc')}%"
          + (f"; {total:.0f} s in all" if total else "") + "\n")


def cmd_predict(args: argparse.Namespace) -> int:
    from PIL import Image, UnidentifiedImageError

    from .checkpoints import load_checkpoint
    from .predict import classify

    ckpt = load_checkpoint(args.checkpoint or _default_checkpoint())
    status = 0
    for path in args.images:
        try:
            with Image.open(path) as im:
                probs, _ = classify(ckpt.model, im.convert("RGBA") if im.mode in ("P", "LA") else im.copy())
        except (OSError, UnidentifiedImageError) as exc:
            print(f"{path}: cannot read image: {exc}", file=sys.stderr)
            status = 2
            continue
        if probs is None:
            print(f"{path}: no digit found (the image is empty)")
            continue
        top = sorted(probs.items(), key=lambda kv: -kv[1])
        print(f"{path}: {top[0][0]}  (" + ", ".join(f"{d}: {p:.3f}" for d, p in top[:3]) + ")")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnistnet", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train a model; a tqdm bar per epoch, then the test result")
    _add_train_args(p)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("summary", help="the layer table with receptive fields")
    p.add_argument("--model", default=DEFAULT_MODEL, choices=list(MODELS))
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("evaluate", help="test loss, accuracy and per-class accuracy of a checkpoint")
    p.add_argument("checkpoint", nargs="?", help="checkpoint file (default: the shipped one)")
    p.add_argument("--data", help="MNIST root (default $MNISTNET_DATA or ./data)")
    p.add_argument("--history", action="store_true", help="also print the training history stored in it")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("predict", help="classify images of digits (PNG, JPG, ...)")
    p.add_argument("images", nargs="+")
    p.add_argument("--checkpoint", help="checkpoint file (default: the shipped one)")
    p.set_defaults(func=cmd_predict)
    args = parser.parse_args(argv)

    from .checkpoints import CheckpointError
    from .data import MNISTNotFoundError
    from .train import ConfigError
    try:
        return args.func(args)
    except (ConfigError, CheckpointError, MNISTNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
