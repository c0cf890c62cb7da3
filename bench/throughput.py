"""Training and evaluation images/s: the seed's pipeline against mnistnet's engine, same Net, same batch size.

    python bench/throughput.py [--batch-size 128] [--images 20480] [--workers 2]

Both sides are measured in this one process, alternately, so that their ratio holds on a noisy machine.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from mnistnet.data import load_mnist  # noqa: E402
from mnistnet.models import build_model  # noqa: E402
from mnistnet.train import BatchEvent, TrainConfig, evaluate, train  # noqa: E402
import seed_pipeline  # noqa: E402

WARMUP_BATCHES = 5


def seed_train_rate(batch_size: int, images: int, workers: int) -> float:
    torch.manual_seed(0)
    model = build_model("net")
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loader, _ = seed_pipeline.loaders(batch_size, workers, train_subset=images)
    n, t0 = 0, None
    for i, size in enumerate(seed_pipeline.train_epoch(model, loader, opt)):
        if i == WARMUP_BATCHES:
            n, t0 = 0, time.perf_counter()
        n += size
    return n / (time.perf_counter() - t0)


def seed_eval_rate(workers: int) -> float:
    model = build_model("net")
    _, loader = seed_pipeline.loaders(128, workers)
    seed_pipeline.test_epoch(model, loader)  # warm-up: workers, page cache
    t0 = time.perf_counter()
    seed_pipeline.test_epoch(model, loader)
    return len(loader.dataset) / (time.perf_counter() - t0)


def engine_train_rate(batch_size: int, images: int, tmp: Path, **overrides) -> float:
    config = TrainConfig(epochs=1, batch_size=batch_size, subset=images, test_subset=100, runs_dir=str(tmp),
                         device="cpu", **overrides)
    n, t0, t1 = 0, None, None
    for ev in train(config):
        if isinstance(ev, BatchEvent):
            if ev.batch == WARMUP_BATCHES:
                n, t0 = 0, time.perf_counter()
            elif t0 is not None:
                n += min(batch_size, images - (ev.batch - 1) * batch_size)
                t1 = time.perf_counter()
    return n / (t1 - t0)


def engine_eval_rate() -> float:
    model = build_model("net")
    x, y = load_mnist(False)
    evaluate(model, x, y)
    t0 = time.perf_counter()
    evaluate(model, x, y)
    return len(y) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--images", type=int, default=20480, help="training images per measurement")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the seed pipeline")
    ap.add_argument("--repeat", type=int, default=2, help="alternating rounds; the best of each is kept")
    args = ap.parse_args()
    import tempfile
    tmp = Path(tempfile.mkdtemp(prefix="mnistnet-bench-"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
          f"{args.images} images per measurement, seed pipeline with {args.workers} workers")
    rates: dict[str, list[float]] = {k: [] for k in ("seed_train", "engine_train", "seed_eval", "engine_eval")}
    for r in range(args.repeat):
        rates["seed_train"].append(seed_train_rate(args.batch_size, args.images, args.workers))
        rates["engine_train"].append(engine_train_rate(args.batch_size, args.images, tmp))
        rates["seed_eval"].append(seed_eval_rate(args.workers))
        rates["engine_eval"].append(engine_eval_rate())
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in rates.items()), flush=True)
    best = {k: max(v) for k, v in rates.items()}
    print(f"\n| images/s (best of {args.repeat}) | seed pipeline | mnistnet | ratio |\n|---|---:|---:|---:|")
    print(f"| training, batch {args.batch_size} | {best['seed_train']:,.0f} | {best['engine_train']:,.0f} | "
          f"{best['engine_train'] / best['seed_train']:.2f}x |")
    print(f"| evaluation | {best['seed_eval']:,.0f} | {best['engine_eval']:,.0f} | "
          f"{best['engine_eval'] / best['seed_eval']:.2f}x |")


if __name__ == "__main__":
    main()
