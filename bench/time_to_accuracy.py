"""Time to 99.40% test accuracy: the seed's recipe and pipeline against mnistnet's fast recipe, same seeds.

    python bench/time_to_accuracy.py [--seeds 1 2 3] [--target 99.4] [--epochs 15] [--recipe fast]

Each run stops at the first epoch whose test accuracy reaches the target (or at the epoch budget);
wall time counts from the first batch and includes each epoch's test pass. Takes up to an hour on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from mnistnet.train import BatchEvent, EpochEvent, recipe, train  # noqa: E402
import seed_pipeline  # noqa: E402


def run_engine(name: str, seed: int, target: float, tmp: str, full: bool, subset: int | None) -> dict:
    config = recipe(name, seed=seed, runs_dir=tmp, device="cpu", subset=subset)
    history, reached, t0 = [], None, None
    run = train(config)
    for ev in run:
        if isinstance(ev, BatchEvent) and t0 is None:
            t0 = time.perf_counter()
        if isinstance(ev, EpochEvent):
            history.append((ev.epoch, ev.test_acc, time.perf_counter() - t0))
            if reached is None and ev.test_acc >= target:
                reached = history[-1]
                if not full:
                    run.close()
                    break
    return summarise(f"mnistnet {name}", seed, history, reached)


def run_seed(seed: int, epochs: int, target: float, full: bool, workers: int) -> dict:
    history, reached = [], None
    for ep in seed_pipeline.run_seed_recipe(epochs=epochs, seed=seed, workers=workers):
        history.append((ep["epoch"], ep["test_acc"], ep["elapsed"]))
        if reached is None and ep["test_acc"] >= target:
            reached = history[-1]
            if not full:
                break
    return summarise("seed pipeline", seed, history, reached)


def summarise(who: str, seed: int, history: list, reached: tuple | None) -> dict:
    return {"who": who, "seed": seed, "reached_epoch": reached[0] if reached else None,
            "reached_seconds": reached[2] if reached else None, "best": max(h[1] for h in history),
            "final": history[-1][1], "epochs_run": len(history), "seconds": history[-1][2],
            "history": history}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--target", type=float, default=99.4)
    ap.add_argument("--epochs", type=int, default=15, help="epoch budget of the seed recipe")
    ap.add_argument("--recipe", default="fast", help="mnistnet recipe to race (its own epoch count)")
    ap.add_argument("--full", action="store_true", help="run every epoch even after the target is reached")
    ap.add_argument("--skip-seed", action="store_true", help="race only the mnistnet recipe")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the seed pipeline")
    ap.add_argument("--subset", type=int, help="(smoke test only) train mnistnet on this many images")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="mnistnet-tta-")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; target {args.target}%", flush=True)
    results = []
    for seed in args.seeds:
        if not args.skip_seed:
            results.append(run_seed(seed, args.epochs, args.target, args.full, args.workers))
            print(json.dumps({k: v for k, v in results[-1].items() if k != "history"}), flush=True)
        results.append(run_engine(args.recipe, seed, args.target, tmp, args.full, args.subset))
        print(json.dumps({k: v for k, v in results[-1].items() if k != "history"}), flush=True)

    print(f"\n| run | seed | first epoch ≥ {args.target}% | time to it (s) | best % | final % | epochs run | "
          f"wall (s) |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        hit = r["reached_epoch"] is not None
        when = f"{r['reached_epoch']} | {r['reached_seconds']:.0f}" if hit else "never | -"
        print(f"| {r['who']} | {r['seed']} | {when} | {r['best']:.2f} | {r['final']:.2f} | {r['epochs_run']} | "
              f"{r['seconds']:.0f} |")
    fast = [r for r in results if r["who"] != "seed pipeline"]
    seed_runs = [r for r in results if r["who"] == "seed pipeline"]
    hits = [r["reached_seconds"] for r in fast if r["reached_seconds"] is not None]
    print(f"\nmnistnet {args.recipe}: reached {args.target}% in {len(hits)} of {len(fast)} seeds"
          + (f", median {statistics.median(hits):.0f} s" if hits else ""))
    if seed_runs and hits:
        # the seed's time: to the target where it got there, else its whole budget
        seed_times = [r["reached_seconds"] if r["reached_seconds"] is not None else r["seconds"] for r in seed_runs]
        never = sum(r["reached_seconds"] is None for r in seed_runs)
        print(f"seed recipe: reached it in {len(seed_runs) - never} of {len(seed_runs)} seeds; its time "
              f"(to the target, or all {args.epochs} epochs where it never got there): median "
              f"{statistics.median(seed_times):.0f} s")
        print(f"ratio (seed / mnistnet, medians): {statistics.median(seed_times) / statistics.median(hits):.2f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
