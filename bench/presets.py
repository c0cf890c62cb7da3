"""Train each architecture preset with one recipe and print parameters, best/final accuracy and wall time.

    python bench/presets.py [--models plain batchnorm gap net lean] [--recipe fast] [--epochs 15] [--seeds 1]

The figures in models.NOTES and the README come from this script.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mnistnet.models import MODELS  # noqa: E402
from mnistnet.train import DoneEvent, StartEvent, recipe, train  # noqa: E402
from mnistnet.runs import TARGET_ACC  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--recipe", default="fast")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--subset", type=int, help="(smoke test only) train on this many images")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="mnistnet-presets-")
    rows = []
    for name in args.models:
        for seed in args.seeds:
            extra = {"epochs": args.epochs} if args.epochs else {}
            config = recipe(args.recipe, model=name, seed=seed, runs_dir=tmp, subset=args.subset, **extra)
            for ev in train(config):
                if isinstance(ev, StartEvent):
                    params = ev.parameters
                elif isinstance(ev, DoneEvent):
                    h = ev.history
                    first = next((e["epoch"] for e in h if e["test_acc"] >= TARGET_ACC), None)
                    last3 = min(e["test_acc"] for e in h[-3:])
                    rows.append((name, params, seed, ev.best_test_acc, ev.best_epoch, ev.final_test_acc, last3,
                                 first, ev.seconds))
                    print(rows[-1], flush=True)
    print(f"\nrecipe {args.recipe}{f', {args.epochs} epochs' if args.epochs else ''}\n")
    print(f"| preset | params | seed | best % (epoch) | final % | min of last 3 % | first ≥ {TARGET_ACC}% | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, params, seed, best, best_ep, final, last3, first, secs in rows:
        print(f"| {name} | {params:,} | {seed} | {best:.2f} ({best_ep}) | {final:.2f} | {last3:.2f} | "
              f"{first or 'never'} | {secs:.0f} |")


if __name__ == "__main__":
    main()
